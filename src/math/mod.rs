//! Protocol math: Solidity-exact fixed-point arithmetic for Aave V3 and Compound V2 plus liquidation profit accounting.

pub mod aave;
pub mod compound;
pub mod fixed;
pub mod profit;
