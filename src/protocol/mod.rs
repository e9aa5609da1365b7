//! Lending protocols on their real bytecode: published artifacts, deployments, typed APIs.

pub mod aave_v2;
pub mod aave_v3;
pub mod artifacts;
pub mod compound;
pub mod price_feed;

pub use crate::source::keys::actor;
