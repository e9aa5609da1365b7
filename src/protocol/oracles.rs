//! The oracle mechanisms a devnet market can price its reserves with, as real chains do (a
//! Chainlink proxy over an aggregator, a source swap per move, the fallback oracle, a push oracle
//! with no Chainlink event, an exchange-rate adapter), and liqsim's own small contracts for them:
//! Solidity sources in `contracts/oracles/`, compiled at first use (`protocol::solc`).

use alloy_primitives::{keccak256, Address, Bytes, B256, I256, U256};
use alloy_sol_types::{sol, SolCall, SolValue};
use revm::database_interface::DBErrorMarker;
use revm::DatabaseRef;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::evm::executor::Evm;
use crate::protocol::artifacts::ArtifactStore;
use crate::protocol::market::Call;
use crate::protocol::price_feed;
use crate::protocol::solc::{compile_sources, Compiled};

/// How a devnet market's oracle gets its prices, and how the keeper's transactions move them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum OracleMechanism {
    /// liqsim's settable feed (`protocol::price_feed`) is the oracle's source; `setAnswer` on it
    /// emits `AnswerUpdated` from the address the oracle reads.
    #[default]
    Settable,
    /// The source is a Chainlink `EACAggregatorProxy`-style proxy forwarding to an aggregator it
    /// stores; price moves are transactions on the aggregator, which emits `AnswerUpdated` (the
    /// proxy emits nothing).
    ChainlinkProxy,
    /// Every price move deploys a new fixed-answer aggregator (its answer an immutable, in code)
    /// and points the oracle at it (`setAssetSources`: `AssetSourceUpdated`, no `AnswerUpdated`).
    SourceSwap,
    /// The oracle has no usable source (`address(0)`, or one answering 0) and asks its fallback
    /// oracle: the protocol's own `PriceOracle` mock, moved by `setAssetPrice`.
    Fallback,
    /// A Pyth-style push oracle: the keeper writes prices into it (`updatePrice`, emitting Pyth's
    /// `PriceFeedUpdate`, no Chainlink event); the source is an adapter reading its storage.
    Push,
    /// An exchange-rate adapter: `latestAnswer = base.latestAnswer() × rate / 1e18`, the base an
    /// aggregator following the price path, the rate in another contract, growing by its own
    /// transactions every [`RATE_ACCRUAL_BLOCKS`] blocks.
    Adapter,
}

impl OracleMechanism {
    /// True for the default (serde skips it, so existing scenarios hash as before).
    pub fn is_settable(&self) -> bool {
        matches!(self, OracleMechanism::Settable)
    }

    /// Every mechanism, in documentation order.
    pub const ALL: [OracleMechanism; 6] = [
        OracleMechanism::Settable,
        OracleMechanism::ChainlinkProxy,
        OracleMechanism::SourceSwap,
        OracleMechanism::Fallback,
        OracleMechanism::Push,
        OracleMechanism::Adapter,
    ];

    /// The scenario name (`[market] oracle = "…"`).
    pub fn as_str(&self) -> &'static str {
        match self {
            OracleMechanism::Settable => "settable",
            OracleMechanism::ChainlinkProxy => "chainlink-proxy",
            OracleMechanism::SourceSwap => "source-swap",
            OracleMechanism::Fallback => "fallback",
            OracleMechanism::Push => "push",
            OracleMechanism::Adapter => "adapter",
        }
    }

    /// Gas limit of the keeper's price transactions: `None` keeps the builder's default (the
    /// settable feed); a source swap deploys a contract, the others call through more code.
    pub fn price_call_gas(&self) -> Option<u64> {
        match self {
            OracleMechanism::Settable => None,
            _ => Some(MECHANISM_GAS),
        }
    }
}

/// Gas limit of a price transaction under any mechanism but the settable feed.
pub const MECHANISM_GAS: u64 = 600_000;

/// The adapter mechanism's exchange rate at deployment (1.05, 18 decimals).
pub const RATE_INITIAL: u128 = 1_050_000_000_000_000_000;
/// How much the rate grows per accrual (0.02%, 18 decimals of itself).
pub const RATE_STEP: u128 = 200_000_000_000_000;
/// Blocks between two accruals of every adapter's rate.
pub const RATE_ACCRUAL_BLOCKS: u64 = 10;

/// The push oracle's feed id of an asset: keccak256 of its symbol.
pub fn push_feed_id(symbol: &str) -> B256 {
    keccak256(symbol.as_bytes())
}

/// The base answer that prices an asset at `price` (8 decimals) through the adapter at the
/// initial rate.
pub fn adapter_base_answer(price: U256) -> U256 {
    price * U256::from(10u64).pow(U256::from(18u64)) / U256::from(RATE_INITIAL)
}

/// liqsim's oracle contracts: (source path, text), compiled together.
pub const SOURCES: [(&str, &str); 5] = [
    (
        "oracles/SettableAggregator.sol",
        include_str!("../../contracts/oracles/SettableAggregator.sol"),
    ),
    (
        "oracles/AggregatorProxy.sol",
        include_str!("../../contracts/oracles/AggregatorProxy.sol"),
    ),
    (
        "oracles/SourceSwapper.sol",
        include_str!("../../contracts/oracles/SourceSwapper.sol"),
    ),
    (
        "oracles/PushOracle.sol",
        include_str!("../../contracts/oracles/PushOracle.sol"),
    ),
    (
        "oracles/RateAdapter.sol",
        include_str!("../../contracts/oracles/RateAdapter.sol"),
    ),
];

/// The oracle contracts, compiled (once per compiler version and source text: cached).
pub fn oracle_contracts() -> Result<Compiled> {
    compile_sources(&SOURCES)
}

/// Deploys compiled contract `name` with ABI-encoded `constructor_args` from `from`.
pub fn deploy_compiled<DB>(
    evm: &mut Evm<DB>,
    compiled: &Compiled,
    from: Address,
    name: &str,
    constructor_args: &[u8],
) -> Result<Address>
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    let mut code = compiled.contract(name)?.bytecode.to_vec();
    code.extend_from_slice(constructor_args);
    evm.deploy(from, Bytes::from(code), name)
}

fn answer_of(field: String, price: U256) -> Result<I256> {
    I256::try_from(price).map_err(|_| Error::config(field, price, "a price below 2^255"))
}

/// The push oracle's int64 price (8 decimals) of `price` given with `decimals` decimals.
fn int64_of(field: String, price: U256, decimals: u8) -> Result<i64> {
    let scale = decimals.checked_sub(PUSH_DECIMALS).ok_or_else(|| {
        Error::config(
            field.clone(),
            decimals,
            "sources answering with at least 8 decimals under oracle = \"push\"",
        )
    })?;
    let scaled = price / U256::from(10u64).pow(U256::from(scale));
    u64::try_from(scaled)
        .ok()
        .and_then(|p| i64::try_from(p).ok())
        .ok_or_else(|| {
            Error::config(
                field,
                price,
                "a price below 9.2e10 (the push oracle stores int64 prices with 8 decimals)",
            )
        })
}

/// Decimals of the push oracle's prices (Pyth's exponent −8).
pub const PUSH_DECIMALS: u8 = 8;

/// What a protocol's oracle needs deployed under a mechanism: its reserves, their prices in the
/// unit its sources answer in, and who deploys.
#[derive(Debug, Clone, Copy)]
pub struct SourcePlan<'a> {
    /// The market's mechanism.
    pub mechanism: OracleMechanism,
    /// Deployer and owner of every oracle contract (the oracle keeper).
    pub admin: Address,
    /// Each reserve's underlying token.
    pub tokens: &'a [Address],
    /// Each reserve's symbol (the push oracle's feed ids).
    pub symbols: &'a [String],
    /// Each reserve's price in the sources' unit (`answer_decimals` decimals).
    pub prices: &'a [U256],
    /// The scenario field the prices come from (`price_usd`, `price_eth`), for errors.
    pub price_field: &'static str,
    /// Decimals of a source's answer: 8 for USD feeds (Aave V3, Venus), 18 for Aave V2's ETH
    /// feeds (the push adapter scales the push oracle's 8 decimals up to them).
    pub answer_decimals: u8,
    /// `fallback` only: the fallback oracle, already deployed and holding these prices; `None`
    /// deploys the package's `mocks/oracle/PriceOracle` and sets them.
    pub fallback: Option<Address>,
}

/// The sources a mechanism deployed, before the protocol's oracle exists.
pub struct OracleWiring {
    /// The oracle's source per reserve (`address(0)`: none, the fallback answers).
    pub sources: Vec<Address>,
    /// The contract the keeper's price transactions call, per reserve.
    pub movers: Vec<Address>,
    /// Exchange-rate contract per reserve (`adapter`).
    pub rate_sources: Vec<Option<Address>>,
    /// The fallback oracle (`fallback`; else zero).
    pub fallback: Address,
    compiled: Option<Compiled>,
}

/// Deploys the sources of `plan.mechanism` from `plan.admin`; under the default mechanism,
/// `feeds` are the settable feeds already deployed beside the tokens.
pub fn deploy_sources<DB>(
    evm: &mut Evm<DB>,
    artifacts: &ArtifactStore,
    plan: &SourcePlan<'_>,
    feeds: Vec<Address>,
) -> Result<OracleWiring>
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    let n = plan.tokens.len();
    let admin = plan.admin;
    let field = |i: usize| format!("assets[{i}].{}", plan.price_field);
    let mut wiring = OracleWiring {
        sources: Vec::with_capacity(n),
        movers: Vec::with_capacity(n),
        rate_sources: vec![None; n],
        fallback: Address::ZERO,
        compiled: None,
    };
    if plan.mechanism == OracleMechanism::Settable {
        wiring.sources = feeds.clone();
        wiring.movers = feeds;
        return Ok(wiring);
    }
    let compiled = oracle_contracts()?;
    if plan.mechanism == OracleMechanism::Fallback {
        let (fallback, set_prices) = match plan.fallback {
            Some(existing) => (existing, false),
            None => {
                let code = artifacts
                    .artifact("mocks/oracle/PriceOracle")?
                    .unlinked_bytecode()?;
                (evm.deploy(admin, code, "PriceOracle")?, true)
            }
        };
        for (i, (token, price)) in plan.tokens.iter().zip(plan.prices).enumerate() {
            if set_prices {
                evm.send_call(
                    admin,
                    fallback,
                    &IPriceOracleMock::setAssetPriceCall {
                        asset: *token,
                        price: *price,
                    },
                    "PriceOracle.setAssetPrice",
                )?;
            }
            // Even reserves have no source; odd ones a source answering 0: the oracle asks its
            // fallback either way.
            let source = if i % 2 == 0 {
                Address::ZERO
            } else {
                deploy_compiled(
                    evm,
                    &compiled,
                    admin,
                    "StaticAggregator",
                    &I256::ZERO.abi_encode(),
                )?
            };
            wiring.sources.push(source);
            wiring.movers.push(fallback);
        }
        wiring.fallback = fallback;
        wiring.compiled = Some(compiled);
        return Ok(wiring);
    }
    let push = match plan.mechanism {
        OracleMechanism::Push => Some(deploy_compiled(evm, &compiled, admin, "PushOracle", &[])?),
        _ => None,
    };
    for (i, price) in plan.prices.iter().enumerate() {
        let answer = answer_of(field(i), *price)?;
        let (source, mover) = match plan.mechanism {
            OracleMechanism::ChainlinkProxy => {
                let aggregator = deploy_compiled(
                    evm,
                    &compiled,
                    admin,
                    "SettableAggregator",
                    &answer.abi_encode(),
                )?;
                let proxy = deploy_compiled(
                    evm,
                    &compiled,
                    admin,
                    "AggregatorProxy",
                    &aggregator.abi_encode(),
                )?;
                (proxy, aggregator)
            }
            OracleMechanism::SourceSwap => {
                let source = deploy_compiled(
                    evm,
                    &compiled,
                    admin,
                    "StaticAggregator",
                    &answer.abi_encode(),
                )?;
                // the swapper is deployed once the oracle exists (`finish`)
                (source, Address::ZERO)
            }
            OracleMechanism::Push => {
                let push = push.unwrap_or_default();
                let symbol = plan.symbols.get(i).map(String::as_str).unwrap_or_default();
                let id = push_feed_id(symbol);
                evm.send_call(
                    admin,
                    push,
                    &IPushOracle::updatePriceCall {
                        id,
                        price: int64_of(field(i), *price, plan.answer_decimals)?,
                    },
                    "PushOracle.updatePrice",
                )?;
                let adapter = deploy_compiled(
                    evm,
                    &compiled,
                    admin,
                    "PushFeedAdapter",
                    &(push, id, U256::from(plan.answer_decimals)).abi_encode_params(),
                )?;
                (adapter, push)
            }
            OracleMechanism::Adapter => {
                let rate = deploy_compiled(
                    evm,
                    &compiled,
                    admin,
                    "ExchangeRate",
                    &(U256::from(RATE_INITIAL), U256::from(RATE_STEP)).abi_encode_params(),
                )?;
                let base_answer = answer_of(field(i), adapter_base_answer(*price))?;
                let base = deploy_compiled(
                    evm,
                    &compiled,
                    admin,
                    "SettableAggregator",
                    &base_answer.abi_encode(),
                )?;
                let adapter = deploy_compiled(
                    evm,
                    &compiled,
                    admin,
                    "RateAdapter",
                    &(base, rate).abi_encode_params(),
                )?;
                wiring.rate_sources[i] = Some(rate);
                (adapter, base)
            }
            OracleMechanism::Settable | OracleMechanism::Fallback => (Address::ZERO, Address::ZERO),
        };
        wiring.sources.push(source);
        wiring.movers.push(mover);
    }
    wiring.compiled = Some(compiled);
    Ok(wiring)
}

impl OracleWiring {
    /// What needs the protocol's oracle deployed: under `source-swap`, deploys `swapper` (a
    /// contract of liqsim's oracle set, constructed with the oracle's address), lets `authorise`
    /// give it the right to replace sources, and makes it every reserve's price mover.
    pub fn finish<DB, F>(
        &mut self,
        evm: &mut Evm<DB>,
        mechanism: OracleMechanism,
        admin: Address,
        swapper: &str,
        oracle: Address,
        authorise: F,
    ) -> Result<()>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
        F: FnOnce(&mut Evm<DB>, Address) -> Result<()>,
    {
        if mechanism != OracleMechanism::SourceSwap {
            return Ok(());
        }
        let compiled = match self.compiled.take() {
            Some(c) => c,
            None => oracle_contracts()?,
        };
        let deployed = deploy_compiled(evm, &compiled, admin, swapper, &oracle.abi_encode())?;
        authorise(evm, deployed)?;
        for mover in &mut self.movers {
            *mover = deployed;
        }
        Ok(())
    }
}

/// The keeper's transaction moving a reserve (`asset`, `symbol`) to `price` (in the sources'
/// unit, `answer_decimals` decimals) under `mechanism`, sent to the reserve's `mover`; under
/// `source-swap`, `swap` is the swapper's call for the new answer.
pub fn price_move_call(
    mechanism: OracleMechanism,
    mover: Address,
    asset: Address,
    symbol: &str,
    price: U256,
    answer_decimals: u8,
) -> Result<Call> {
    let field = || format!("price of {symbol}");
    let input = match mechanism {
        OracleMechanism::Settable => price_feed::SettablePriceFeed::setAnswerCall {
            answer: answer_of(field(), price)?,
        }
        .abi_encode(),
        OracleMechanism::ChainlinkProxy => ISettableAggregator::setAnswerCall {
            answer: answer_of(field(), price)?,
        }
        .abi_encode(),
        OracleMechanism::Adapter => ISettableAggregator::setAnswerCall {
            answer: answer_of(field(), adapter_base_answer(price))?,
        }
        .abi_encode(),
        OracleMechanism::SourceSwap => ISourceSwapper::swapCall {
            asset,
            answer: answer_of(field(), price)?,
        }
        .abi_encode(),
        OracleMechanism::Fallback => {
            IPriceOracleMock::setAssetPriceCall { asset, price }.abi_encode()
        }
        OracleMechanism::Push => IPushOracle::updatePriceCall {
            id: push_feed_id(symbol),
            price: int64_of(field(), price, answer_decimals)?,
        }
        .abi_encode(),
    };
    Ok(Call {
        to: mover,
        input: input.into(),
    })
}

/// The oracle's own scheduled transactions in the block `offset` blocks into a window: under
/// `adapter`, every exchange rate in `rate_sources` accrues every [`RATE_ACCRUAL_BLOCKS`] blocks.
pub fn scheduled_calls(
    mechanism: OracleMechanism,
    offset: u64,
    rate_sources: impl Iterator<Item = Address>,
) -> Vec<Call> {
    if mechanism != OracleMechanism::Adapter
        || offset == 0
        || !offset.is_multiple_of(RATE_ACCRUAL_BLOCKS)
    {
        return Vec::new();
    }
    rate_sources
        .map(|rate| Call {
            to: rate,
            input: IExchangeRate::accrueCall {}.abi_encode().into(),
        })
        .collect()
}

sol! {
    #![sol(all_derives)]
    /// `SettableAggregator` (contracts/oracles): a Chainlink-style aggregator the keeper reports to.
    interface ISettableAggregator {
        function latestAnswer() external view returns (int256);
        function latestRound() external view returns (uint256);
        function owner() external view returns (address);
        function setAnswer(int256 answer) external;
        event AnswerUpdated(int256 indexed current, uint256 indexed roundId, uint256 updatedAt);
        event NewRound(uint256 indexed roundId, address indexed startedBy, uint256 startedAt);
    }

    /// `AggregatorProxy` (contracts/oracles): forwards to the aggregator it stores.
    interface IAggregatorProxy {
        function aggregator() external view returns (address);
        function latestAnswer() external view returns (int256);
        function latestRound() external view returns (uint256);
        function phaseId() external view returns (uint16);
        function confirmAggregator(address next) external;
    }

    /// `SourceSwapper` (contracts/oracles): a new `StaticAggregator` per move, installed with
    /// `setAssetSources`.
    interface ISourceSwapper {
        function swap(address asset, int256 answer) external returns (address source);
    }

    /// `StaticAggregator` (contracts/oracles): a fixed answer.
    interface IStaticAggregator {
        function latestAnswer() external view returns (int256);
    }

    /// `PushOracle` (contracts/oracles): a Pyth-style push oracle.
    interface IPushOracle {
        function updatePrice(bytes32 id, int64 price) external;
        event PriceFeedUpdate(bytes32 indexed id, uint64 publishTime, int64 price, uint64 conf);
    }

    /// `ExchangeRate` (contracts/oracles): a rate growing by `accrue` transactions.
    interface IExchangeRate {
        function rate() external view returns (uint256);
        function accrue() external;
        event RateUpdated(uint256 rate);
    }

    /// `RateAdapter` (contracts/oracles): base answer × rate / 1e18.
    interface IRateAdapter {
        function latestAnswer() external view returns (int256);
        function base() external view returns (address);
        function rateSource() external view returns (address);
    }

    /// Aave's `PriceOracle` mock (the fallback oracle): prices set per asset.
    interface IPriceOracleMock {
        function getAssetPrice(address asset) external view returns (uint256);
        function setAssetPrice(address asset, uint256 price) external;
        event AssetPriceUpdated(address asset, uint256 price, uint256 timestamp);
    }

    /// The AaveOracle event a source swap emits.
    interface IAaveOracleEvents {
        event AssetSourceUpdated(address indexed asset, address indexed source);
        event FallbackOracleUpdated(address indexed fallbackOracle);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mechanism_names_round_trip_through_serde() {
        for m in OracleMechanism::ALL {
            let text = serde_json::to_string(&m).unwrap();
            assert_eq!(text, format!("\"{}\"", m.as_str()));
            assert_eq!(serde_json::from_str::<OracleMechanism>(&text).unwrap(), m);
        }
    }
}
