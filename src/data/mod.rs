//! The window data model (blocks, transactions, receipts, logs, pre-state, manifest) and its
//! on-disk form: deterministic Parquet files under a hash-checked manifest, written atomically.

pub mod dataset;
pub mod folder;
pub mod records;
