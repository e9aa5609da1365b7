//! Deploys a complete Aave V3 market from the published artifacts into an EVM, in the order the
//! protocol requires.

use std::collections::HashMap;

use alloy_primitives::{Address, Bytes, I256, U256};
use alloy_sol_types::{SolCall, SolValue};
use revm::database_interface::DBErrorMarker;
use revm::DatabaseRef;

use super::abi::{IACLManager, IPool, IPoolAddressesProvider, IPoolConfigurator, InitReserveInput};
use super::config::MarketConfig;
use super::oracle;
use super::{AaveV3Market, Reserve};
use crate::error::{Error, Result};
use crate::evm::executor::Evm;
use crate::evm::keys::actor;
use crate::protocol::artifacts::ArtifactStore;
use crate::protocol::oracles::OracleMechanism;
use crate::protocol::price_feed;
use crate::protocol::tokens::{deploy_real_token, RealToken, TokenBytecode};

/// Libraries the Pool links, in an order where each one's own links are already deployed.
const POOL_LIBRARIES: [&str; 7] = [
    "BorrowLogic",
    "BridgeLogic",
    "EModeLogic",
    "LiquidationLogic",
    "PoolLogic",
    "SupplyLogic",
    "FlashLoanLogic", // links BorrowLogic
];

/// How many reserves one `initReserves` transaction lists (four take about 9.1M gas).
const INIT_RESERVES_BATCH: usize = 4;

/// Ether given to the deployer and admin accounts.
fn admin_funding() -> U256 {
    U256::from(10u64).pow(U256::from(24u64))
}

struct Deployer<'a, DB>
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker,
{
    evm: &'a mut Evm<DB>,
    artifacts: &'a ArtifactStore,
    from: Address,
    libraries: HashMap<String, Address>,
}

impl<DB> Deployer<'_, DB>
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    fn deploy(&mut self, name: &str, constructor_args: Bytes) -> Result<Address> {
        let artifact = self.artifacts.artifact(name)?;
        let mut code = artifact.linked_bytecode(&self.libraries)?.to_vec();
        code.extend_from_slice(&constructor_args);
        let address = self.evm.deploy(self.from, code.into(), name)?;
        tracing::debug!(contract = name, %address, "deployed");
        Ok(address)
    }

    fn call<C: SolCall>(&mut self, to: Address, call: C, what: &str) -> Result<()> {
        self.evm.send_call(self.from, to, &call, what)?;
        Ok(())
    }
}

/// Deploys the market described by `config` into `evm` and returns its addresses.
pub fn deploy_market<DB>(
    evm: &mut Evm<DB>,
    artifacts: &ArtifactStore,
    config: &MarketConfig,
) -> Result<AaveV3Market>
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    config.validate()?;
    let admin = actor("aave-v3-admin");
    let treasury = actor("aave-v3-treasury");
    evm.set_balance(admin, admin_funding())?;
    let mut d = Deployer {
        evm,
        artifacts,
        from: admin,
        libraries: HashMap::new(),
    };

    // Tokens and liqsim's settable price feeds (the default oracle mechanism; any other
    // mechanism deploys its sources after the tokens).
    let mut tokens = Vec::new();
    let mut feeds = Vec::new();
    for (i, asset) in config.assets.iter().enumerate() {
        // uint8 is ABI-encoded as a full word, like uint256
        let args = (
            asset.symbol.clone(),
            asset.symbol.clone(),
            U256::from(asset.decimals),
        )
            .abi_encode_params();
        tokens.push(match config.tokens {
            TokenBytecode::Mintable => d.deploy("mocks/tokens/MintableERC20", args.into())?,
            TokenBytecode::Real => deploy_real_token(
                d.evm,
                RealToken::for_asset(i, &asset.symbol),
                admin,
                &asset.symbol,
                asset.decimals,
                U256::ZERO,
                admin,
            )?,
        });
        if config.oracle == OracleMechanism::Settable {
            let price = config.price(i)?;
            let answer = I256::try_from(price).map_err(|_| {
                Error::config(
                    format!("assets[{i}].price_usd"),
                    price,
                    "a price below 2^255",
                )
            })?;
            let feed = d.evm.deploy(
                admin,
                price_feed::creation_code(answer),
                "SettablePriceFeed",
            )?;
            feeds.push(feed);
        }
    }
    let prices = (0..config.assets.len())
        .map(|i| config.price(i))
        .collect::<Result<Vec<U256>>>()?;
    let mut wiring = oracle::deploy_sources(
        d.evm,
        artifacts,
        config.oracle,
        admin,
        &tokens,
        &config.symbols(),
        &prices,
        feeds,
    )?;

    // Addresses provider and access control (the ACL admin must exist before ACLManager).
    let provider = d.deploy(
        "PoolAddressesProvider",
        (config.market_id.clone(), admin).abi_encode_params().into(),
    )?;
    d.call(
        provider,
        IPoolAddressesProvider::setACLAdminCall { newAclAdmin: admin },
        "setACLAdmin",
    )?;
    let acl = d.deploy("ACLManager", provider.abi_encode().into())?;
    d.call(
        provider,
        IPoolAddressesProvider::setACLManagerCall { newAclManager: acl },
        "setACLManager",
    )?;
    d.call(acl, IACLManager::addPoolAdminCall { admin }, "addPoolAdmin")?;
    d.call(acl, IACLManager::addRiskAdminCall { admin }, "addRiskAdmin")?;
    d.call(
        acl,
        IACLManager::addAssetListingAdminCall { admin },
        "addAssetListingAdmin",
    )?;
    d.call(
        acl,
        IACLManager::addEmergencyAdminCall { admin },
        "addEmergencyAdmin",
    )?;

    // Logic libraries, then the linked Pool behind its proxy.
    for lib in POOL_LIBRARIES {
        let address = d.deploy(lib, Bytes::new())?;
        d.libraries.insert(lib.to_string(), address);
    }
    let pool_impl = d.deploy("protocol/pool/Pool", provider.abi_encode().into())?;
    d.call(
        provider,
        IPoolAddressesProvider::setPoolImplCall {
            newPoolImpl: pool_impl,
        },
        "setPoolImpl",
    )?;
    let pool = d
        .evm
        .view(provider, &IPoolAddressesProvider::getPoolCall {}, "getPool")?;

    let configurator_logic = d.deploy("ConfiguratorLogic", Bytes::new())?;
    d.libraries
        .insert("ConfiguratorLogic".into(), configurator_logic);
    let configurator_impl = d.deploy("protocol/pool/PoolConfigurator", Bytes::new())?;
    d.call(
        provider,
        IPoolAddressesProvider::setPoolConfiguratorImplCall {
            newPoolConfiguratorImpl: configurator_impl,
        },
        "setPoolConfiguratorImpl",
    )?;
    let configurator = d.evm.view(
        provider,
        &IPoolAddressesProvider::getPoolConfiguratorCall {},
        "getPoolConfigurator",
    )?;

    // Oracle (USD base currency, 8 decimals) and the data provider.
    let oracle = d.deploy(
        "misc/AaveOracle",
        (
            provider,
            tokens.clone(),
            wiring.sources.clone(),
            wiring.fallback,
            Address::ZERO,
            U256::from(10u64.pow(price_feed::FEED_DECIMALS as u32)),
        )
            .abi_encode_params()
            .into(),
    )?;
    oracle::finish(&mut wiring, d.evm, config.oracle, admin, oracle, acl)?;
    d.call(
        provider,
        IPoolAddressesProvider::setPriceOracleCall {
            newPriceOracle: oracle,
        },
        "setPriceOracle",
    )?;
    let data_provider = d.deploy("AaveProtocolDataProvider", provider.abi_encode().into())?;
    d.call(
        provider,
        IPoolAddressesProvider::setPoolDataProviderCall {
            newDataProvider: data_provider,
        },
        "setPoolDataProvider",
    )?;

    // Token implementations are constructed with the Pool proxy's address.
    let a_token_impl = d.deploy("protocol/tokenization/AToken", pool.abi_encode().into())?;
    let stable_impl = d.deploy(
        "protocol/tokenization/StableDebtToken",
        pool.abi_encode().into(),
    )?;
    let variable_impl = d.deploy(
        "protocol/tokenization/VariableDebtToken",
        pool.abi_encode().into(),
    )?;

    let mut inputs = Vec::new();
    for (i, asset) in config.assets.iter().enumerate() {
        let ray = |name: &str, v: &crate::units::DecimalText| {
            v.to_units(27)
                .map_err(|e| Error::config(format!("assets[{i}].rates.{name}"), &v.0, e))
        };
        let r = &asset.rates;
        let strategy_args = (
            provider,
            ray("optimal_usage_ratio", &r.optimal_usage_ratio)?,
            ray("base_variable_borrow_rate", &r.base_variable_borrow_rate)?,
            ray("variable_rate_slope1", &r.variable_rate_slope1)?,
            ray("variable_rate_slope2", &r.variable_rate_slope2)?,
            U256::ZERO,
            U256::ZERO,
            U256::ZERO,
            U256::ZERO,
            U256::ZERO,
        )
            .abi_encode_params();
        let strategy = d.deploy("DefaultReserveInterestRateStrategy", strategy_args.into())?;
        let s = &asset.symbol;
        inputs.push(InitReserveInput {
            aTokenImpl: a_token_impl,
            stableDebtTokenImpl: stable_impl,
            variableDebtTokenImpl: variable_impl,
            underlyingAssetDecimals: asset.decimals,
            interestRateStrategyAddress: strategy,
            underlyingAsset: tokens[i],
            treasury,
            incentivesController: Address::ZERO,
            aTokenName: format!("Aave {s}"),
            aTokenSymbol: format!("a{s}"),
            variableDebtTokenName: format!("Aave Variable Debt {s}"),
            variableDebtTokenSymbol: format!("variableDebt{s}"),
            stableDebtTokenName: format!("Aave Stable Debt {s}"),
            stableDebtTokenSymbol: format!("stableDebt{s}"),
            params: Bytes::new(),
        });
    }
    for batch in inputs.chunks(INIT_RESERVES_BATCH) {
        d.call(
            configurator,
            IPoolConfigurator::initReservesCall {
                input: batch.to_vec(),
            },
            "initReserves",
        )?;
    }

    for (i, asset) in config.assets.iter().enumerate() {
        let token = tokens[i];
        if asset.liquidation_threshold_bps != 0 {
            d.call(
                configurator,
                IPoolConfigurator::configureReserveAsCollateralCall {
                    asset: token,
                    ltv: U256::from(asset.ltv_bps),
                    liquidationThreshold: U256::from(asset.liquidation_threshold_bps),
                    liquidationBonus: U256::from(asset.liquidation_bonus_bps),
                },
                "configureReserveAsCollateral",
            )?;
        }
        if asset.borrowing_enabled {
            d.call(
                configurator,
                IPoolConfigurator::setReserveBorrowingCall {
                    asset: token,
                    enabled: true,
                },
                "setReserveBorrowing",
            )?;
        }
        d.call(
            configurator,
            IPoolConfigurator::setReserveFactorCall {
                asset: token,
                newReserveFactor: U256::from(asset.reserve_factor_bps),
            },
            "setReserveFactor",
        )?;
        if asset.liquidation_protocol_fee_bps != 0 {
            d.call(
                configurator,
                IPoolConfigurator::setLiquidationProtocolFeeCall {
                    asset: token,
                    newFee: U256::from(asset.liquidation_protocol_fee_bps),
                },
                "setLiquidationProtocolFee",
            )?;
        }
    }
    d.call(
        configurator,
        IPoolConfigurator::updateFlashloanPremiumTotalCall {
            newFlashloanPremiumTotal: config.flash_loan_premium_bps as u128,
        },
        "updateFlashloanPremiumTotal",
    )?;
    if config.flash_loans_enabled {
        for token in &tokens {
            d.call(
                configurator,
                IPoolConfigurator::setReserveFlashLoaningCall {
                    asset: *token,
                    enabled: true,
                },
                "setReserveFlashLoaning",
            )?;
        }
    }

    let mut reserves = Vec::new();
    for (i, asset) in config.assets.iter().enumerate() {
        let data = d.evm.view(
            pool,
            &IPool::getReserveDataCall { asset: tokens[i] },
            "getReserveData",
        )?;
        reserves.push(Reserve {
            symbol: asset.symbol.clone(),
            decimals: asset.decimals,
            underlying: tokens[i],
            price_feed: wiring.movers[i],
            a_token: data.aTokenAddress,
            variable_debt_token: data.variableDebtTokenAddress,
            stable_debt_token: data.stableDebtTokenAddress,
            rate_source: wiring.rate_sources[i],
        });
    }

    Ok(AaveV3Market {
        config: config.clone(),
        admin,
        treasury,
        addresses_provider: provider,
        acl_manager: acl,
        pool,
        pool_configurator: configurator,
        oracle,
        data_provider,
        reserves,
    })
}
