//! Where windows come from: the devnet window builder, and a node over RPC (window discovery,
//! real deployments by name from the Aave address book, and the recorder).

pub mod address_book;
pub mod devnet;
pub mod discovery;
pub mod pools;
pub mod record;
pub mod traffic;
