//! The EVM layer: the revm wrapper, funding by storage (`deal`), block environments, the in-memory state and pre-state
//! snapshots, transaction decoding and signing, deterministic keys, and replayed transactions.

pub mod deal;
pub mod erc20;
pub mod executor;
pub mod keys;
pub mod replayed;
pub mod state;
pub mod tx;
pub mod watch;

pub use executor::{decode_revert_reason, Evm, TxOutcome};
