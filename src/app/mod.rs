//! The commands: the command-line interface, the main job's pipeline, benchmarks and the anvil
//! harness (used by the RPC benchmark and the tests). Nothing below imports from here.

pub mod anvil;
pub mod bench;
pub mod bench_rpc;
pub mod cli;
pub mod explore;
pub mod run;
pub mod study;
