//! Execution: the revm wrapper, transaction decoding, block replay, borrower index, opportunity
//! ledger and the what-if executor.

pub mod borrowers;
pub mod evm;
pub mod opportunities;
pub mod replay;
pub mod tx;
pub mod whatif;
