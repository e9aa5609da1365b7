//! Analytics: what a run produced, and its aggregation into per-strategy summaries.

pub mod result;
pub mod seeds;
pub mod study;
pub mod summary;
