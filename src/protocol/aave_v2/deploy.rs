//! Deploys a complete Aave V2 market from the published `@aave/protocol-v2` artifacts, in the
//! order the protocol requires.

use std::collections::HashMap;

use alloy_primitives::{Address, U256};
use alloy_sol_types::SolValue;
use revm::database_interface::DBErrorMarker;
use revm::DatabaseRef;

use super::abi::{
    IAaveOracleV2, ILendingPool, ILendingPoolAddressesProvider, ILendingPoolConfigurator,
    ILendingRateOracle, IPriceOracle,
};
use super::config::MarketConfig;
use super::{AaveV2Market, ReserveV2};
use crate::error::Result;
use crate::evm::executor::Evm;
use crate::evm::keys::actor;
use crate::protocol::artifacts::ArtifactStore;
use crate::protocol::oracles::{deploy_sources, OracleMechanism, OracleWiring, SourcePlan};
use crate::protocol::tokens::deploy_real_market_token;

fn ray(numerator: u64, denominator: u64) -> U256 {
    U256::from(10u64).pow(U256::from(27u64)) * U256::from(numerator) / U256::from(denominator)
}

fn deploy<DB>(
    evm: &mut Evm<DB>,
    artifacts: &ArtifactStore,
    libraries: &HashMap<String, Address>,
    from: Address,
    name: &str,
    args: Vec<u8>,
) -> Result<Address>
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    let mut code = artifacts
        .artifact(name)?
        .linked_bytecode(libraries)?
        .to_vec();
    code.extend_from_slice(&args);
    evm.deploy(from, code.into(), name)
}

/// Deploys the market described by `config` into `evm` and returns its addresses:
/// MintableERC20 tokens (or real ones with `tokens = "real"`, `protocol::tokens`), LendingPoolAddressesProvider (pool and emergency admin), the
/// ReserveLogic / GenericLogic / ValidationLogic libraries, LendingPool and
/// LendingPoolConfigurator behind the provider's proxies, LendingPoolCollateralManager, the mock
/// PriceOracle (ETH prices in wei) and LendingRateOracle, then per reserve its AToken,
/// StableDebtToken and VariableDebtToken implementations, a DefaultReserveInterestRateStrategy,
/// `initReserve`, collateral parameters, borrowing and the reserve factor.
pub fn deploy_market<DB>(
    evm: &mut Evm<DB>,
    artifacts: &ArtifactStore,
    config: &MarketConfig,
) -> Result<AaveV2Market>
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    config.validate()?;
    let admin = actor("aave-v2-admin");
    let treasury = actor("aave-v2-treasury");
    evm.set_balance(admin, U256::from(10u64).pow(U256::from(24u64)))?;
    let mut libs = HashMap::new();

    let mut tokens = Vec::new();
    let native = config.native_symbol();
    for (i, a) in config.assets.iter().enumerate() {
        let real =
            deploy_real_market_token(evm, config.tokens, i, &a.symbol, a.decimals, &native, admin)?;
        tokens.push(match real {
            Some(token) => token,
            None => {
                let args = (a.symbol.clone(), a.symbol.clone(), U256::from(a.decimals))
                    .abi_encode_params();
                deploy(evm, artifacts, &libs, admin, "MintableERC20", args)?
            }
        });
    }

    let provider = deploy(
        evm,
        artifacts,
        &libs,
        admin,
        "LendingPoolAddressesProvider",
        (config.market_id.clone(),).abi_encode_params(),
    )?;
    evm.send_call(
        admin,
        provider,
        &ILendingPoolAddressesProvider::setPoolAdminCall { admin },
        "setPoolAdmin",
    )?;
    evm.send_call(
        admin,
        provider,
        &ILendingPoolAddressesProvider::setEmergencyAdminCall {
            emergencyAdmin: admin,
        },
        "setEmergencyAdmin",
    )?;

    for lib in ["ReserveLogic", "GenericLogic", "ValidationLogic"] {
        let address = deploy(evm, artifacts, &libs, admin, lib, Vec::new())?;
        libs.insert(lib.to_string(), address);
    }
    let pool_impl = deploy(evm, artifacts, &libs, admin, "LendingPool", Vec::new())?;
    evm.send_call(
        admin,
        provider,
        &ILendingPoolAddressesProvider::setLendingPoolImplCall { pool: pool_impl },
        "setLendingPoolImpl",
    )?;
    let pool = evm.view(
        provider,
        &ILendingPoolAddressesProvider::getLendingPoolCall {},
        "getLendingPool",
    )?;
    let configurator_impl = deploy(
        evm,
        artifacts,
        &libs,
        admin,
        "LendingPoolConfigurator",
        Vec::new(),
    )?;
    evm.send_call(
        admin,
        provider,
        &ILendingPoolAddressesProvider::setLendingPoolConfiguratorImplCall {
            configurator: configurator_impl,
        },
        "setLendingPoolConfiguratorImpl",
    )?;
    let configurator = evm.view(
        provider,
        &ILendingPoolAddressesProvider::getLendingPoolConfiguratorCall {},
        "getLendingPoolConfigurator",
    )?;
    let collateral_manager = deploy(
        evm,
        artifacts,
        &libs,
        admin,
        "LendingPoolCollateralManager",
        Vec::new(),
    )?;
    evm.send_call(
        admin,
        provider,
        &ILendingPoolAddressesProvider::setLendingPoolCollateralManagerCall {
            manager: collateral_manager,
        },
        "setLendingPoolCollateralManager",
    )?;
    let oracle = deploy(
        evm,
        artifacts,
        &libs,
        admin,
        "mocks/oracle/PriceOracle",
        Vec::new(),
    )?;
    if config.oracle.is_settable() {
        evm.send_call(
            admin,
            provider,
            &ILendingPoolAddressesProvider::setPriceOracleCall {
                priceOracle: oracle,
            },
            "setPriceOracle",
        )?;
    }
    let rate_oracle = deploy(
        evm,
        artifacts,
        &libs,
        admin,
        "LendingRateOracle",
        Vec::new(),
    )?;
    evm.send_call(
        admin,
        provider,
        &ILendingPoolAddressesProvider::setLendingRateOracleCall {
            lendingRateOracle: rate_oracle,
        },
        "setLendingRateOracle",
    )?;

    evm.send_call(
        admin,
        oracle,
        &IPriceOracle::setEthUsdPriceCall {
            price: config.eth_usd_price()?,
        },
        "PriceOracle.setEthUsdPrice",
    )?;
    let aave_oracle = aave_oracle(evm, artifacts, config, admin, provider, oracle, &tokens)?;
    let mut reserves = Vec::new();
    for (i, a) in config.assets.iter().enumerate() {
        let asset = tokens[i];
        evm.send_call(
            admin,
            oracle,
            &IPriceOracle::setAssetPriceCall {
                asset,
                price: config.price(i)?,
            },
            "PriceOracle.setAssetPrice",
        )?;
        evm.send_call(
            admin,
            rate_oracle,
            &ILendingRateOracle::setMarketBorrowRateCall {
                asset,
                rate: ray(3, 100),
            },
            "LendingRateOracle.setMarketBorrowRate",
        )?;
        let a_impl = deploy(
            evm,
            artifacts,
            &libs,
            admin,
            "protocol/tokenization/AToken",
            (
                pool,
                asset,
                treasury,
                format!("Aave {}", a.symbol),
                format!("a{}", a.symbol),
                Address::ZERO,
            )
                .abi_encode_params(),
        )?;
        let debt_args = |prefix: &str| {
            (
                pool,
                asset,
                format!("{prefix} debt {}", a.symbol),
                format!("{prefix}Debt{}", a.symbol),
                Address::ZERO,
            )
                .abi_encode_params()
        };
        let s_impl = deploy(
            evm,
            artifacts,
            &libs,
            admin,
            "protocol/tokenization/StableDebtToken",
            debt_args("Stable"),
        )?;
        let v_impl = deploy(
            evm,
            artifacts,
            &libs,
            admin,
            "protocol/tokenization/VariableDebtToken",
            debt_args("Variable"),
        )?;
        let strategy = deploy(
            evm,
            artifacts,
            &libs,
            admin,
            "DefaultReserveInterestRateStrategy",
            (
                provider,
                ray(80, 100),
                U256::ZERO,
                ray(4, 100),
                ray(75, 100),
                ray(2, 100),
                ray(60, 100),
            )
                .abi_encode_params(),
        )?;
        evm.send_call(
            admin,
            configurator,
            &ILendingPoolConfigurator::initReserveCall {
                aTokenImpl: a_impl,
                stableDebtTokenImpl: s_impl,
                variableDebtTokenImpl: v_impl,
                underlyingAssetDecimals: a.decimals,
                interestRateStrategyAddress: strategy,
            },
            "LendingPoolConfigurator.initReserve",
        )?;
        evm.send_call(
            admin,
            configurator,
            &ILendingPoolConfigurator::configureReserveAsCollateralCall {
                asset,
                ltv: U256::from(a.ltv_bps),
                liquidationThreshold: U256::from(a.liquidation_threshold_bps),
                liquidationBonus: U256::from(a.liquidation_bonus_bps),
            },
            "LendingPoolConfigurator.configureReserveAsCollateral",
        )?;
        evm.send_call(
            admin,
            configurator,
            &ILendingPoolConfigurator::enableBorrowingOnReserveCall {
                asset,
                stableBorrowRateEnabled: false,
            },
            "LendingPoolConfigurator.enableBorrowingOnReserve",
        )?;
        evm.send_call(
            admin,
            configurator,
            &ILendingPoolConfigurator::setReserveFactorCall {
                asset,
                reserveFactor: U256::from(a.reserve_factor_bps),
            },
            "LendingPoolConfigurator.setReserveFactor",
        )?;
        let data = evm.view(
            pool,
            &ILendingPool::getReserveDataCall { asset },
            "getReserveData",
        )?;
        reserves.push(ReserveV2 {
            symbol: a.symbol.clone(),
            decimals: a.decimals,
            underlying: asset,
            a_token: data.aTokenAddress,
            stable_debt_token: data.stableDebtTokenAddress,
            variable_debt_token: data.variableDebtTokenAddress,
            liquidation_threshold_bps: a.liquidation_threshold_bps,
            ltv_bps: a.ltv_bps,
            liquidation_bonus_bps: a.liquidation_bonus_bps,
            price_mover: aave_oracle.as_ref().map(|(_, w)| w.movers[i]),
            rate_source: aave_oracle.as_ref().and_then(|(_, w)| w.rate_sources[i]),
        });
    }
    let (oracle, price_oracle_mock) = match &aave_oracle {
        Some((aave_oracle, _)) => (*aave_oracle, Some(oracle)),
        None => (oracle, None),
    };
    Ok(AaveV2Market {
        native_asset: native,
        tokens: config.tokens,
        provider,
        pool,
        configurator,
        collateral_manager,
        oracle,
        price_oracle_mock,
        oracle_mechanism: config.oracle,
        admin,
        treasury,
        reserves,
    })
}

/// Under any mechanism but `settable`: the sources of `config.oracle` (ETH prices, 18
/// decimals) and Aave V2's own `AaveOracle` over them (the native asset as its WETH, priced
/// 1 ether; the mock `PriceOracle`, `mock`, as its fallback oracle), installed in the provider.
/// Under `source-swap` the `SourceSwapper` owns `AaveOracle` (`setAssetSources` is
/// `onlyOwner`).
fn aave_oracle<DB>(
    evm: &mut Evm<DB>,
    artifacts: &ArtifactStore,
    config: &MarketConfig,
    admin: Address,
    provider: Address,
    mock: Address,
    tokens: &[Address],
) -> Result<Option<(Address, OracleWiring)>>
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    if config.oracle == OracleMechanism::Settable {
        return Ok(None);
    }
    let prices = (0..tokens.len())
        .map(|i| config.price(i))
        .collect::<Result<Vec<U256>>>()?;
    let symbols: Vec<String> = config.assets.iter().map(|a| a.symbol.clone()).collect();
    let plan = SourcePlan {
        mechanism: config.oracle,
        admin,
        tokens,
        symbols: &symbols,
        prices: &prices,
        price_field: "price_eth",
        answer_decimals: 18,
        fallback: Some(mock),
    };
    let mut wiring = deploy_sources(evm, artifacts, &plan, Vec::new())?;
    let native = config.native_symbol();
    let weth = config
        .assets
        .iter()
        .position(|a| a.symbol == native)
        .map(|i| tokens[i])
        .unwrap_or_default();
    let libs = HashMap::new();
    let aave_oracle = deploy(
        evm,
        artifacts,
        &libs,
        admin,
        "misc/AaveOracle",
        (tokens.to_vec(), wiring.sources.clone(), mock, weth).abi_encode_params(),
    )?;
    wiring.finish(
        evm,
        config.oracle,
        admin,
        "SourceSwapper",
        aave_oracle,
        |evm, swapper| {
            evm.send_call(
                admin,
                aave_oracle,
                &IAaveOracleV2::transferOwnershipCall { newOwner: swapper },
                "AaveOracle.transferOwnership(SourceSwapper)",
            )?;
            Ok(())
        },
    )?;
    evm.send_call(
        admin,
        provider,
        &ILendingPoolAddressesProvider::setPriceOracleCall {
            priceOracle: aave_oracle,
        },
        "setPriceOracle(AaveOracle)",
    )?;
    Ok(Some((aave_oracle, wiring)))
}
