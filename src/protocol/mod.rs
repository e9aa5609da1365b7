//! Lending protocols on their real bytecode: published artifacts, deployments, typed APIs.

pub mod aave_v3;
pub mod artifacts;
pub mod price_feed;

use alloy_primitives::{keccak256, Address};

/// A deterministic devnet address for a named role (`"aave-v3-admin"`, `"borrower-17"`...).
pub fn actor(name: &str) -> Address {
    let hash = keccak256(format!("liqsim actor {name}").as_bytes());
    Address::from_slice(&hash[12..])
}
