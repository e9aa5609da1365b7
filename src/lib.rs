//! liqsim: historical backtesting of DeFi liquidations on real protocol bytecode in revm.
//!
//! Data flows one way: source → replay → opportunities → strategies → what-if → analytics → outputs.

pub mod analytics;
pub mod bench;
pub mod cli;
pub mod cost;
pub mod engine;
pub mod error;
pub mod math;
pub mod output;
pub mod protocol;
pub mod run;
pub mod scenario;
pub mod source;
pub mod strategy;
pub mod units;

pub use error::{Error, Result};
