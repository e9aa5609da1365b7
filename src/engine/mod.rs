//! Execution: the revm wrapper every protocol call and replayed transaction goes through.

pub mod evm;
