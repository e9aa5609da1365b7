//! Lending protocols on their real bytecode: published artifacts, deployments, typed APIs.

pub mod aave_v2;
pub mod aave_v3;
pub mod any;
pub mod artifacts;
pub mod compound;
pub mod market;
pub mod price_feed;

pub use any::{AnyBook, AnyMarket, AnyMarketConfig};
pub use market::{LendingMarket, MarketState, Position, PositionBook, ProtocolKind};

pub use crate::source::keys::actor;
