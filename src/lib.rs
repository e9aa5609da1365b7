//! liqsim: historical backtesting of DeFi liquidations on real protocol bytecode in revm.
//!
//! Data flows one way: source → replay → opportunities → strategies → what-if → analytics → outputs.
//! The modules are layers, each importing only from the layers listed before it (ARCHITECTURE.md,
//! checked by the `layers` test).

pub mod error;
pub mod units;

pub mod math;

pub mod data;

pub mod evm;

pub mod node;

pub mod protocol;

pub mod strategy;

pub mod engine;

pub mod scenario;

pub mod source;

pub mod analytics;

pub mod output;

pub mod app;

pub use error::{Error, Result};
