//! The backtest engine: the replay driver with its hook points, the opportunity ledger, the
//! what-if executor, the sweep runner that evaluates strategies at every hook point, and the
//! protocol referee that checks the book and the ledger against the protocol's own views, and the
//! recorder's prober (the what-ifs strategies could send, executed while recording).

pub mod opportunities;
pub mod probe;
pub mod referee;
pub mod replay;
pub mod runner;
pub mod whatif;
