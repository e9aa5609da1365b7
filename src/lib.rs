//! liqsim: historical backtesting of DeFi liquidations on real protocol bytecode in revm.
//!
//! Data flows one way: source → replay → opportunities → strategies → what-if → analytics → outputs.

pub mod bench;
pub mod cli;
pub mod engine;
pub mod error;
pub mod math;
pub mod protocol;
pub mod run;
pub mod scenario;
pub mod source;
pub mod units;

pub use error::{Error, Result};
