//! Talking to a node: the JSON-RPC transport with retries, the client, the persistent cache, and
//! the state database (`DatabaseRef`) backed by both.

pub mod cache;
pub mod rpc;
