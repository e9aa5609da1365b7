//! Where windows come from: recorded datasets on disk, the devnet window builder, keys, and
//! nodes over RPC (with the persistent cache, the recorder and a local anvil for tests).

pub mod anvil;
pub mod cache;
pub mod dataset;
pub mod devnet;
pub mod discovery;
pub mod keys;
pub mod record;
pub mod records;
pub mod rpc;
pub mod rpc_bench;
