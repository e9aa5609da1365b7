//! The Compound-style devnet's oracle under each mechanism of `[market] oracle` but `settable`:
//! Venus' own `ResilientOracle` (`@venusprotocol/oracle` 2.16.0, the comptroller's
//! `getUnderlyingPrice`) whose main oracle is Venus' `ChainlinkOracle` over the mechanism's USD
//! feeds (`protocol::oracles`, 8 decimals); under `fallback`, a second `ChainlinkOracle` holding
//! direct prices is the pivot and fallback oracle, checked by Venus' `BoundValidator`.

use alloy_primitives::{Address, Bytes, U256};
use alloy_sol_types::{sol, SolCall, SolValue};
use revm::database_interface::DBErrorMarker;
use revm::DatabaseRef;

use super::abi::{IAccessControlManager, IComptroller};
use super::config::MarketConfig;
use super::CompoundMarket;
use crate::error::{Error, Result};
use crate::evm::executor::Evm;
use crate::protocol::artifacts::{ArtifactStore, VENUS_ORACLE};
use crate::protocol::market::Call;
use crate::protocol::oracles::{
    deploy_sources, price_move_call, OracleMechanism, OracleWiring, SourcePlan,
};

sol! {
    #![sol(all_derives)]
    /// Venus' `ChainlinkOracle` (`@venusprotocol/oracle`): feeds per asset, direct prices.
    interface IVenusChainlinkOracle {
        struct TokenConfig { address asset; address feed; uint256 maxStalePeriod; }
        function initialize(address accessControlManager_) external;
        function setTokenConfig(TokenConfig memory tokenConfig) external;
        function setDirectPrice(address asset, uint256 price) external;
        function tokenConfigs(address asset) external view returns (address asset_, address feed, uint256 maxStalePeriod);
        function prices(address asset) external view returns (uint256);
        function getPrice(address asset) external view returns (uint256);
        event TokenConfigAdded(address indexed asset, address feed, uint256 maxStalePeriod);
        event PricePosted(address indexed asset, uint256 previousPriceMantissa, uint256 newPriceMantissa);
    }

    /// Venus' `ResilientOracle`: main, pivot and fallback oracles per asset.
    interface IVenusResilientOracle {
        struct ResilientTokenConfig { address asset; address[3] oracles; bool[3] enableFlagsForOracles; bool cachingEnabled; }
        function initialize(address accessControlManager_) external;
        function setTokenConfig(ResilientTokenConfig memory tokenConfig) external;
        function getUnderlyingPrice(address vToken) external view returns (uint256);
        function getOracle(address asset, uint8 role) external view returns (address oracle, bool enabled);
    }

    /// Venus' `BoundValidator`: how far the fallback may sit from the pivot.
    interface IVenusBoundValidator {
        struct ValidateConfig { address asset; uint256 upperBoundRatio; uint256 lowerBoundRatio; }
        function initialize(address accessControlManager_) external;
        function setValidateConfig(ValidateConfig memory config) external;
    }
}

/// A Chainlink feed's stale period in the devnet's `ChainlinkOracle` (a window never outlives it).
pub const MAX_STALE_PERIOD: u64 = 100 * 365 * 86_400;

/// `BoundValidator` bounds of the fallback against the pivot: ±1% (1e18 = equal).
const BOUND_UPPER: u128 = 1_010_000_000_000_000_000;
const BOUND_LOWER: u128 = 990_000_000_000_000_000;

/// Functions the admin calls on the oracles (the `AccessControlManager` checks each).
const ORACLE_FUNCTIONS: [&str; 3] = [
    "setTokenConfig(TokenConfig)",
    "setDirectPrice(address,uint256)",
    "setValidateConfig(ValidateConfig)",
];

/// The deployed oracle stack, recorded in the market.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VenusOracles {
    /// `ChainlinkOracle` (the resilient oracle's main oracle).
    pub chainlink: Address,
    /// `ChainlinkOracle` holding direct prices: pivot and fallback (`fallback` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<Address>,
    /// `BoundValidator`.
    pub bound_validator: Address,
    /// The contract the keeper's price transactions call, per market.
    pub movers: Vec<Address>,
    /// Exchange-rate contract per market (`adapter`).
    pub rate_sources: Vec<Option<Address>>,
}

fn permit<DB>(evm: &mut Evm<DB>, admin: Address, acm: Address, who: Address) -> Result<()>
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    for sig in ORACLE_FUNCTIONS {
        let call = IAccessControlManager::giveCallPermissionCall {
            contractAddress: Address::ZERO,
            functionSig: sig.to_string(),
            accountToPermit: who,
        };
        evm.send_call(admin, acm, &call, "AccessControlManager.giveCallPermission")?;
    }
    Ok(())
}

/// Deploys `name` from the oracle package behind the pool package's beacon and a `BeaconProxy`
/// running `initialize(acm)` (the implementations disable their own initializers).
#[allow(clippy::too_many_arguments)]
fn behind_beacon<DB>(
    evm: &mut Evm<DB>,
    pools: &ArtifactStore,
    oracles: &ArtifactStore,
    admin: Address,
    name: &str,
    constructor_args: Vec<u8>,
    init: Bytes,
) -> Result<Address>
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    let mut code = oracles.artifact(name)?.unlinked_bytecode()?.to_vec();
    code.extend_from_slice(&constructor_args);
    let implementation = evm.deploy(admin, code.into(), name)?;
    let beacon = super::deploy::deploy(
        evm,
        pools,
        admin,
        "UpgradeableBeacon",
        implementation.abi_encode(),
    )?;
    super::deploy::deploy(
        evm,
        pools,
        admin,
        "BeaconProxy",
        (beacon, init).abi_encode_params(),
    )
}

/// Under any mechanism but `settable`: deploys the mechanism's feeds, Venus' oracles over them,
/// and makes the `ResilientOracle` the comptroller's oracle; returns it and the stack.
pub(super) fn install<DB>(
    evm: &mut Evm<DB>,
    pools: &ArtifactStore,
    config: &MarketConfig,
    market: &CompoundMarket,
) -> Result<Option<(Address, VenusOracles)>>
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    let mechanism = config.oracle;
    if mechanism == OracleMechanism::Settable {
        return Ok(None);
    }
    let oracles = ArtifactStore::open(&VENUS_ORACLE, None)?;
    let (admin, acm) = (market.admin, market.access_control_manager);
    permit(evm, admin, acm, admin)?;
    let init: Bytes = IVenusChainlinkOracle::initializeCall {
        accessControlManager_: acm,
    }
    .abi_encode()
    .into();
    let chainlink = behind_beacon(
        evm,
        pools,
        &oracles,
        admin,
        "ChainlinkOracle",
        Vec::new(),
        init.clone(),
    )?;
    let bound_validator = behind_beacon(
        evm,
        pools,
        &oracles,
        admin,
        "BoundValidator",
        Vec::new(),
        init.clone(),
    )?;
    let fallback = match mechanism {
        OracleMechanism::Fallback => Some(behind_beacon(
            evm,
            pools,
            &oracles,
            admin,
            "ChainlinkOracle",
            Vec::new(),
            init.clone(),
        )?),
        _ => None,
    };
    let tokens: Vec<Address> = market.markets.iter().map(|m| m.underlying).collect();
    let symbols: Vec<String> = market.markets.iter().map(|m| m.symbol.clone()).collect();
    let prices = (0..tokens.len())
        .map(|i| config.usd_answer(i))
        .collect::<Result<Vec<U256>>>()?;
    let plan = SourcePlan {
        mechanism,
        admin,
        tokens: &tokens,
        symbols: &symbols,
        prices: &prices,
        price_field: "price_usd",
        answer_decimals: 8,
        fallback,
    };
    let mut wiring: OracleWiring = deploy_sources(evm, pools, &plan, Vec::new())?;
    for (token, source) in tokens.iter().zip(&wiring.sources) {
        // `fallback`: a reserve without a source has no token config at all (the main oracle
        // reverts for it); the others have a feed answering 0 (it reverts too).
        if source.is_zero() {
            continue;
        }
        let call = IVenusChainlinkOracle::setTokenConfigCall {
            tokenConfig: IVenusChainlinkOracle::TokenConfig {
                asset: *token,
                feed: *source,
                maxStalePeriod: U256::from(MAX_STALE_PERIOD),
            },
        };
        evm.send_call(admin, chainlink, &call, "ChainlinkOracle.setTokenConfig")?;
    }
    if let Some(fallback) = fallback {
        for (i, token) in tokens.iter().enumerate() {
            evm.send_call(
                admin,
                fallback,
                &IVenusChainlinkOracle::setDirectPriceCall {
                    asset: *token,
                    price: direct_price(prices[i]),
                },
                "ChainlinkOracle.setDirectPrice",
            )?;
            evm.send_call(
                admin,
                bound_validator,
                &IVenusBoundValidator::setValidateConfigCall {
                    config: IVenusBoundValidator::ValidateConfig {
                        asset: *token,
                        upperBoundRatio: U256::from(BOUND_UPPER),
                        lowerBoundRatio: U256::from(BOUND_LOWER),
                    },
                },
                "BoundValidator.setValidateConfig",
            )?;
        }
    }
    let resilient = behind_beacon(
        evm,
        pools,
        &oracles,
        admin,
        "ResilientOracle",
        (Address::ZERO, Address::ZERO, bound_validator).abi_encode_params(),
        IVenusResilientOracle::initializeCall {
            accessControlManager_: acm,
        }
        .abi_encode()
        .into(),
    )?;
    for token in &tokens {
        let second = fallback.unwrap_or_default();
        let call = IVenusResilientOracle::setTokenConfigCall {
            tokenConfig: IVenusResilientOracle::ResilientTokenConfig {
                asset: *token,
                oracles: [chainlink, second, second],
                enableFlagsForOracles: [true, fallback.is_some(), fallback.is_some()],
                cachingEnabled: false,
            },
        };
        evm.send_call(admin, resilient, &call, "ResilientOracle.setTokenConfig")?;
    }
    wiring.finish(
        evm,
        mechanism,
        admin,
        "TokenConfigSwapper",
        chainlink,
        |evm, swapper| {
            let call = IAccessControlManager::giveCallPermissionCall {
                contractAddress: chainlink,
                functionSig: ORACLE_FUNCTIONS[0].to_string(),
                accountToPermit: swapper,
            };
            evm.send_call(
                admin,
                acm,
                &call,
                "AccessControlManager.giveCallPermission(TokenConfigSwapper)",
            )?;
            Ok(())
        },
    )?;
    evm.send_call(
        admin,
        market.comptroller,
        &IComptroller::setPriceOracleCall {
            newOracle: resilient,
        },
        "Comptroller.setPriceOracle(ResilientOracle)",
    )?;
    Ok(Some((
        resilient,
        VenusOracles {
            chainlink,
            fallback,
            bound_validator,
            movers: wiring.movers,
            rate_sources: wiring.rate_sources,
        },
    )))
}

/// `ChainlinkOracle.setDirectPrice`'s price (18 decimals) of a USD answer with 8.
fn direct_price(usd_answer: U256) -> U256 {
    usd_answer * U256::from(10_000_000_000u64)
}

impl CompoundMarket {
    /// The keeper's transaction moving market `i` to `usd` (8 decimals) under a mechanism
    /// behind the `ResilientOracle` (`None` under `settable`).
    pub(super) fn mechanism_price_call(&self, i: usize, usd: U256) -> Result<Option<Call>> {
        let Some(stack) = &self.venus_oracles else {
            return Ok(None);
        };
        let m = self.market(i)?;
        let mover = stack.movers.get(i).copied().ok_or_else(|| Error::Unknown {
            kind: "market index",
            name: i.to_string(),
            known: format!("0..{}", stack.movers.len()),
        })?;
        if self.oracle_mechanism == OracleMechanism::Fallback {
            return Ok(Some(Call {
                to: mover,
                input: IVenusChainlinkOracle::setDirectPriceCall {
                    asset: m.underlying,
                    price: direct_price(usd),
                }
                .abi_encode()
                .into(),
            }));
        }
        price_move_call(
            self.oracle_mechanism,
            mover,
            m.underlying,
            &m.symbol,
            usd,
            8,
        )
        .map(Some)
    }
}
