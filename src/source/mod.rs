//! Where windows come from: recorded datasets on disk, the devnet window builder, and keys.

pub mod dataset;
pub mod devnet;
pub mod keys;
pub mod records;
