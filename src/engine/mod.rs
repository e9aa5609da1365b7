//! The backtest engine: the replay driver with its hook points, the opportunity ledger, the
//! what-if executor and the sweep runner that evaluates strategies at every hook point.

pub mod opportunities;
pub mod replay;
pub mod runner;
pub mod whatif;
