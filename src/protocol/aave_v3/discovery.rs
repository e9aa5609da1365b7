//! Protocol discovery: the description of an Aave V3 market (and any fork: HopeLend, Bend, HypurrFi)
//! read from its Pool or PoolAddressesProvider by executing the contracts' own view functions in
//! revm over whatever state the EVM reads (a lazy RPC state at the fork block, or a local state),
//! plus the Pool events that name users holding positions.
//!
//! Nothing here uses `eth_call`: every value comes through revm's `Database`, so it is cached and
//! recorded like any other state the run reads.

use std::collections::BTreeSet;

use alloy_primitives::{Address, B256, U256};
use alloy_sol_types::{sol, SolCall, SolEvent};
use revm::database_interface::DBErrorMarker;
use revm::DatabaseRef;

use crate::error::{Error, Result};
use crate::evm::executor::Evm;
use crate::math::aave::ReserveConfig;
use crate::protocol::aave_v3::abi::{IAaveOracle, IPool, IScaledBalanceToken};
use crate::protocol::aave_v3::config::{AssetConfig, MarketConfig, RateStrategyConfig};
use crate::protocol::aave_v3::{AaveV3Market, Reserve};
use crate::protocol::price_feed::FEED_DECIMALS;
use crate::units::{format_units, DecimalText};

sol! {
    /// The view functions discovery reads (Aave V3 1.x and 3.x agree on these).
    interface IDiscoveryProvider {
        function getMarketId() external view returns (string memory);
        function getPool() external view returns (address);
        function getPoolConfigurator() external view returns (address);
        function getPriceOracle() external view returns (address);
        function getACLManager() external view returns (address);
        function getACLAdmin() external view returns (address);
        function getPoolDataProvider() external view returns (address);
    }

    interface IDiscoveryPool {
        function ADDRESSES_PROVIDER() external view returns (address);
    }

    interface IDiscoveryToken {
        function symbol() external view returns (string memory);
        function decimals() external view returns (uint8);
    }

    interface IDiscoveryTokenBytes32 {
        function symbol() external view returns (bytes32);
    }

    /// `DefaultReserveInterestRateStrategy` (one contract per reserve, Aave V3 1.x).
    interface IRateStrategyV1 {
        function OPTIMAL_USAGE_RATIO() external view returns (uint256);
        function getBaseVariableBorrowRate() external view returns (uint256);
        function getVariableRateSlope1() external view returns (uint256);
        function getVariableRateSlope2() external view returns (uint256);
    }

    /// `DefaultReserveInterestRateStrategyV2` (one contract for all reserves, Aave V3.1+).
    interface IRateStrategyV2 {
        function getOptimalUsageRatio(address reserve) external view returns (uint256);
        function getBaseVariableBorrowRate(address reserve) external view returns (uint256);
        function getVariableRateSlope1(address reserve) external view returns (uint256);
        function getVariableRateSlope2(address reserve) external view returns (uint256);
    }
}

/// Symbol of the wrapped native asset on chains liqsim knows.
pub fn default_native_asset(chain_id: u64) -> Option<&'static str> {
    Some(match chain_id {
        1 | 10 | 8453 | 42161 | 59144 | 534352 | 324 | 31337 | 11155111 => "WETH",
        999 => "WHYPE",
        80094 => "WBERA",
        56 => "WBNB",
        137 => "WPOL",
        43114 => "WAVAX",
        100 => "WXDAI",
        146 => "wS",
        _ => return None,
    })
}

fn view<DB, C>(evm: &mut Evm<DB>, to: Address, call: &C, what: &str) -> Result<C::Return>
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
    C: SolCall,
{
    evm.view(to, call, what)
}

/// The market behind `pool` (or behind `provider` when `pool` is `None`), as its contracts
/// describe it in the EVM's current state. `chain_id` is recorded in the config; `native_asset`
/// defaults by chain id.
pub fn discover_market<DB>(
    evm: &mut Evm<DB>,
    pool: Option<Address>,
    provider: Option<Address>,
    native_asset: Option<&str>,
) -> Result<AaveV3Market>
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    let chain_id = evm.chain_id();
    let (pool, provider) = match (pool, provider) {
        (Some(pool), Some(provider)) => {
            let listed = view(
                evm,
                provider,
                &IDiscoveryProvider::getPoolCall {},
                "PoolAddressesProvider.getPool",
            )?;
            if listed != pool {
                return Err(Error::config(
                    "pool",
                    pool,
                    format!("the Pool of the given PoolAddressesProvider {provider} ({listed})"),
                ));
            }
            (pool, provider)
        }
        (Some(pool), None) => {
            let provider = view(
                evm,
                pool,
                &IDiscoveryPool::ADDRESSES_PROVIDERCall {},
                "Pool.ADDRESSES_PROVIDER",
            )
            .map_err(|e| not_a_pool("pool", pool, e))?;
            let listed = view(
                evm,
                provider,
                &IDiscoveryProvider::getPoolCall {},
                "PoolAddressesProvider.getPool",
            )
            .map_err(|e| not_a_pool("pool", pool, e))?;
            if listed != pool {
                return Err(not_a_pool(
                    "pool",
                    pool,
                    Error::Mismatch(format!(
                        "its ADDRESSES_PROVIDER() {provider} lists the Pool {listed}"
                    )),
                ));
            }
            (pool, provider)
        }
        (None, Some(provider)) => {
            let pool = view(
                evm,
                provider,
                &IDiscoveryProvider::getPoolCall {},
                "PoolAddressesProvider.getPool",
            )
            .map_err(|e| not_a_pool("provider", provider, e))?;
            (pool, provider)
        }
        (None, None) => {
            return Err(Error::config(
                "pool/provider",
                "(none)",
                "the address of an Aave V3 Pool or PoolAddressesProvider",
            ))
        }
    };
    let market_id = view(
        evm,
        provider,
        &IDiscoveryProvider::getMarketIdCall {},
        "PoolAddressesProvider.getMarketId",
    )?;
    let pool_configurator = view(
        evm,
        provider,
        &IDiscoveryProvider::getPoolConfiguratorCall {},
        "PoolAddressesProvider.getPoolConfigurator",
    )?;
    let oracle = view(
        evm,
        provider,
        &IDiscoveryProvider::getPriceOracleCall {},
        "PoolAddressesProvider.getPriceOracle",
    )?;
    let acl_manager = view(
        evm,
        provider,
        &IDiscoveryProvider::getACLManagerCall {},
        "PoolAddressesProvider.getACLManager",
    )?;
    let admin = view(
        evm,
        provider,
        &IDiscoveryProvider::getACLAdminCall {},
        "PoolAddressesProvider.getACLAdmin",
    )?;
    let data_provider = view(
        evm,
        provider,
        &IDiscoveryProvider::getPoolDataProviderCall {},
        "PoolAddressesProvider.getPoolDataProvider",
    )?;
    let premium = view(
        evm,
        pool,
        &IPool::FLASHLOAN_PREMIUM_TOTALCall {},
        "Pool.FLASHLOAN_PREMIUM_TOTAL",
    )?;
    let listed = view(
        evm,
        pool,
        &IPool::getReservesListCall {},
        "Pool.getReservesList",
    )?;
    if listed.is_empty() {
        return Err(Error::config(
            "pool",
            pool,
            "a Pool with at least one listed reserve",
        ));
    }

    let mut assets = Vec::with_capacity(listed.len());
    let mut reserves = Vec::with_capacity(listed.len());
    let mut treasury = None;
    let mut used: BTreeSet<String> = BTreeSet::new();
    for underlying in listed {
        let data = view(
            evm,
            pool,
            &IPool::getReserveDataCall { asset: underlying },
            "Pool.getReserveData",
        )?;
        let bitmap = view(
            evm,
            pool,
            &IPool::getConfigurationCall { asset: underlying },
            "Pool.getConfiguration",
        )?
        .data;
        let c = ReserveConfig::decode(bitmap);
        let symbol = unique_symbol(token_symbol(evm, underlying)?, &mut used);
        if let Ok(decimals) = view(
            evm,
            underlying,
            &IDiscoveryToken::decimalsCall {},
            "ERC20.decimals",
        ) {
            if decimals != c.decimals {
                tracing::warn!(%underlying, erc20 = decimals, configured = c.decimals,
                    "token decimals differ from the reserve configuration; using the configuration");
            }
        }
        let price = view(
            evm,
            oracle,
            &IAaveOracle::getAssetPriceCall { asset: underlying },
            "AaveOracle.getAssetPrice",
        )?;
        let price_feed = view(
            evm,
            oracle,
            &IAaveOracle::getSourceOfAssetCall { asset: underlying },
            "AaveOracle.getSourceOfAsset",
        )?;
        if treasury.is_none() && data.aTokenAddress != Address::ZERO {
            treasury = view(
                evm,
                data.aTokenAddress,
                &IScaledBalanceToken::RESERVE_TREASURY_ADDRESSCall {},
                "AToken.RESERVE_TREASURY_ADDRESS",
            )
            .ok();
        }
        let rates = rate_strategy(evm, data.interestRateStrategyAddress, underlying);
        assets.push(AssetConfig {
            symbol: symbol.clone(),
            decimals: c.decimals,
            price_usd: DecimalText(format_units(price, FEED_DECIMALS)),
            ltv_bps: c.ltv,
            liquidation_threshold_bps: c.liquidation_threshold,
            liquidation_bonus_bps: c.liquidation_bonus,
            liquidation_protocol_fee_bps: c.liquidation_protocol_fee,
            reserve_factor_bps: c.reserve_factor,
            borrowing_enabled: c.borrowing_enabled,
            rates,
        });
        reserves.push(Reserve {
            symbol,
            decimals: c.decimals,
            underlying,
            price_feed,
            a_token: data.aTokenAddress,
            variable_debt_token: data.variableDebtTokenAddress,
            stable_debt_token: data.stableDebtTokenAddress,
            rate_source: None,
        });
    }
    let symbols: Vec<String> = assets.iter().map(|a| a.symbol.clone()).collect();
    let native_asset = match native_asset.or(default_native_asset(chain_id)) {
        Some(n) if symbols.iter().any(|s| s == n) => n.to_string(),
        other => {
            return Err(Error::config(
                "native_asset",
                other.unwrap_or("(none known for this chain)"),
                format!(
                    "the symbol of the reserve that prices gas on chain {chain_id}, one of {}",
                    symbols.join(", ")
                ),
            ))
        }
    };
    let market = AaveV3Market {
        config: MarketConfig {
            market_id,
            chain_id,
            native_asset,
            flash_loan_premium_bps: u16::try_from(premium).map_err(|_| {
                Error::config("FLASHLOAN_PREMIUM_TOTAL", premium, "at most 65535 bps")
            })?,
            // Describes deployment only (the discovered reserves' own flags decide).
            flash_loans_enabled: false,
            assets,
            // Describes deployment only; a discovered market is never deployed, and its what-if
            // liquidators are funded by storage whatever its tokens are.
            tokens: crate::protocol::tokens::TokenBytecode::Mintable,
            // Likewise: the discovered oracle is read through `getAssetPrice`, never moved.
            oracle: crate::protocol::oracles::OracleMechanism::Settable,
        },
        admin,
        treasury: treasury.unwrap_or_default(),
        addresses_provider: provider,
        acl_manager,
        pool,
        pool_configurator,
        oracle,
        data_provider,
        reserves,
    };
    tracing::info!(%pool, %provider, reserves = market.reserves.len(), symbols = %symbols.join(","), "market discovered");
    Ok(market)
}

fn not_a_pool(field: &str, address: Address, e: Error) -> Error {
    Error::config(
        field,
        address,
        format!(
            "the address of an Aave V3 {}: {e}",
            if field == "pool" {
                "Pool"
            } else {
                "PoolAddressesProvider"
            }
        ),
    )
}

/// `symbol()` as a string, or as `bytes32` (MKR-style tokens), else `TOKEN-<address prefix>`.
fn token_symbol<DB>(evm: &mut Evm<DB>, token: Address) -> Result<String>
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    let out = evm
        .call_raw(
            Address::ZERO,
            token,
            IDiscoveryToken::symbolCall {}.abi_encode().into(),
        )?
        .into_result("ERC20.symbol");
    let symbol = match out {
        Ok(out) => IDiscoveryToken::symbolCall::abi_decode_returns(&out.output)
            .ok()
            .or_else(|| {
                IDiscoveryTokenBytes32::symbolCall::abi_decode_returns(&out.output)
                    .ok()
                    .map(|b| {
                        String::from_utf8_lossy(b.as_slice())
                            .trim_end_matches('\0')
                            .to_string()
                    })
            }),
        Err(_) => None,
    };
    let symbol: String = symbol
        .unwrap_or_default()
        .chars()
        .filter(|c| !c.is_control())
        .take(16)
        .collect();
    Ok(if symbol.trim().is_empty() {
        format!("TOKEN-{}", &hex::encode(token.as_slice())[..6])
    } else {
        symbol.trim().to_string()
    })
}

/// The symbol, made unique within the market (`-2`, `-3`... appended, at most 16 characters).
fn unique_symbol(symbol: String, used: &mut BTreeSet<String>) -> String {
    let mut candidate = symbol.clone();
    let mut n = 2;
    while used.contains(&candidate) {
        let suffix = format!("-{n}");
        let keep = 16usize.saturating_sub(suffix.len());
        candidate = format!("{}{suffix}", symbol.chars().take(keep).collect::<String>());
        n += 1;
    }
    used.insert(candidate.clone());
    candidate
}

/// The interest-rate strategy's parameters (V1 per-reserve contract, else V2 shared contract);
/// the defaults, with a warning, when neither answers (they only matter for deployments).
fn rate_strategy<DB>(evm: &mut Evm<DB>, strategy: Address, reserve: Address) -> RateStrategyConfig
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    let ray = |v: U256| DecimalText(format_units(v, 27));
    let v1 = (|| -> Result<RateStrategyConfig> {
        Ok(RateStrategyConfig {
            optimal_usage_ratio: ray(view(
                evm,
                strategy,
                &IRateStrategyV1::OPTIMAL_USAGE_RATIOCall {},
                "OPTIMAL_USAGE_RATIO",
            )?),
            base_variable_borrow_rate: ray(view(
                evm,
                strategy,
                &IRateStrategyV1::getBaseVariableBorrowRateCall {},
                "getBaseVariableBorrowRate",
            )?),
            variable_rate_slope1: ray(view(
                evm,
                strategy,
                &IRateStrategyV1::getVariableRateSlope1Call {},
                "getVariableRateSlope1",
            )?),
            variable_rate_slope2: ray(view(
                evm,
                strategy,
                &IRateStrategyV1::getVariableRateSlope2Call {},
                "getVariableRateSlope2",
            )?),
        })
    })();
    if let Ok(r) = v1 {
        return r;
    }
    let v2 = (|| -> Result<RateStrategyConfig> {
        Ok(RateStrategyConfig {
            optimal_usage_ratio: ray(view(
                evm,
                strategy,
                &IRateStrategyV2::getOptimalUsageRatioCall { reserve },
                "getOptimalUsageRatio",
            )?),
            base_variable_borrow_rate: ray(view(
                evm,
                strategy,
                &IRateStrategyV2::getBaseVariableBorrowRateCall { reserve },
                "getBaseVariableBorrowRate",
            )?),
            variable_rate_slope1: ray(view(
                evm,
                strategy,
                &IRateStrategyV2::getVariableRateSlope1Call { reserve },
                "getVariableRateSlope1",
            )?),
            variable_rate_slope2: ray(view(
                evm,
                strategy,
                &IRateStrategyV2::getVariableRateSlope2Call { reserve },
                "getVariableRateSlope2",
            )?),
        })
    })();
    v2.unwrap_or_else(|e| {
        tracing::warn!(%strategy, %reserve, error = %e, "interest-rate strategy not recognised; recording default parameters");
        RateStrategyConfig::default()
    })
}

/// Pool events that name a user holding (or opening) a position, with the topic holding it.
fn user_topic(topic0: &B256) -> Option<usize> {
    if *topic0 == IPool::Supply::SIGNATURE_HASH
        || *topic0 == IPool::Borrow::SIGNATURE_HASH
        || *topic0 == IPool::Withdraw::SIGNATURE_HASH
        || *topic0 == IPool::Repay::SIGNATURE_HASH
        || *topic0 == IPool::ReserveUsedAsCollateralEnabled::SIGNATURE_HASH
        || *topic0 == IPool::ReserveUsedAsCollateralDisabled::SIGNATURE_HASH
    {
        Some(2)
    } else if *topic0 == IPool::LiquidationCall::SIGNATURE_HASH {
        Some(3)
    } else {
        None
    }
}

/// Users named by the Pool's events among `logs` (`(emitter, topics)`), in first-seen order.
pub fn users_in_logs<'a>(
    pool: Address,
    logs: impl IntoIterator<Item = (Address, &'a [B256])>,
) -> Vec<Address> {
    let mut seen = BTreeSet::new();
    let mut out = Vec::new();
    for (address, topics) in logs {
        if address != pool {
            continue;
        }
        let Some(i) = topics.first().and_then(user_topic) else {
            continue;
        };
        if let Some(t) = topics.get(i) {
            let user = Address::from_word(*t);
            if seen.insert(user) {
                out.push(user);
            }
        }
    }
    out
}

/// The events whose users the lookback collects.
pub fn lookback_events() -> [B256; 2] {
    [IPool::Supply::SIGNATURE_HASH, IPool::Borrow::SIGNATURE_HASH]
}
