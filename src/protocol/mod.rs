//! Lending protocols on their real bytecode: the registry of protocols, the abstraction the
//! engine and the devnet builder use, published artifacts, real token bytecode, oracle mechanisms, the Solidity compiler for liqsim's own contracts, real AMMs
//! (Uniswap V2/V3 from npm, `dex/`), liqsim's liquidator contract (`liquidator.rs`), and one folder per protocol
//! (deployment, typed API, book, discovery, differential proof).

pub mod aave_v2;
pub mod aave_v3;
pub mod artifacts;
pub mod compound;
pub mod devnet;
pub mod dex;
pub mod liquidator;
pub mod market;
pub mod oracles;
pub mod price_feed;
pub mod registry;
pub mod solc;
pub mod spec;
pub mod tokens;
pub mod window;

pub use market::{LendingMarket, MarketState, Position, PositionBook};
pub use registry::{AnyBook, AnyMarket, AnyMarketConfig, ProtocolKind};
