//! Protocol math: Solidity-exact fixed-point arithmetic for Aave V3, Aave V2 and Compound V2 (and forks) plus liquidation profit accounting.

pub mod aave;
pub mod aave_v2;
pub mod compound;
pub mod cost;
pub mod fixed;
pub mod profit;
