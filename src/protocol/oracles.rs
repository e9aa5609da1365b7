//! The oracle mechanisms a devnet market can price its reserves with, as real chains do (a
//! Chainlink proxy over an aggregator, a source swap per move, the fallback oracle, a push oracle
//! with no Chainlink event, an exchange-rate adapter), and liqsim's own small contracts for them:
//! Solidity sources in `contracts/oracles/`, compiled at first use (`protocol::solc`).

use alloy_primitives::{keccak256, Address, Bytes, B256, U256};
use alloy_sol_types::sol;
use revm::database_interface::DBErrorMarker;
use revm::DatabaseRef;
use serde::{Deserialize, Serialize};

use crate::error::Result;
use crate::evm::executor::Evm;
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
