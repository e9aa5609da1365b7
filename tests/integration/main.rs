//! liqsim's integration tests: one binary (each extra one re-links the heavy dependencies).

mod aave_v2;
mod aave_v3;
mod address_book;
mod chain_pools;
mod common;
mod compound;
mod dataset;
mod dex;
mod explore;
mod flows;
mod funding;
mod independent;
mod layers;
mod notebook;
mod oracle_mechanisms;
mod oracles;
mod protocols;
mod referee;
mod reliability;
mod reports;
mod rpc;
mod strategies;
mod strict;
mod study;
mod traffic;
