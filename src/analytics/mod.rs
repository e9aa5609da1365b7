//! Analytics: strategy sweeps evaluated over one replay (in parallel) and their summaries.

pub mod runner;
pub mod summary;
