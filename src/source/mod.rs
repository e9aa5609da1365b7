//! Where windows come from: the devnet window builder, and a node over RPC (window discovery and
//! the recorder).

pub mod devnet;
pub mod discovery;
pub mod record;
