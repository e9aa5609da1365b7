//! What a protocol's folder gives the registry ([`Protocol`]): its market description, market and
//! book types, capabilities, artifact package, deployment, book and differential proof.

use alloy_primitives::{Address, U256};
use revm::database_interface::DBErrorMarker;
use revm::DatabaseRef;

use crate::error::Result;
use crate::evm::executor::Evm;
use crate::protocol::artifacts::{ArtifactStore, NpmPackage};

/// What a protocol offers beyond liquidation itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capabilities {
    /// The market lends flash loans (a `flash-loan` strategy can run on it).
    pub flash_loans: bool,
    /// A liquidator can take the protocol's shares (aTokens) instead of the underlying.
    pub receive_shares: bool,
}

/// What a protocol's differential proof found (`liqsim verify`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// The report's lines, ready to print.
    pub summary: String,
    /// Every mismatch, named so that it can be replayed.
    pub mismatches: Vec<String>,
}

/// A protocol's market description as a scenario's `[market]` gives it.
pub trait MarketDescription: Sized + serde::de::DeserializeOwned {
    /// Reads the description from the `[market]` table (its `protocol` key included).
    fn from_toml(value: toml::Value) -> std::result::Result<Self, toml::de::Error> {
        value.try_into()
    }
    /// Checks every field; the error names the first invalid one.
    fn validate(&self) -> Result<()>;
    /// Asset symbols in listing order.
    fn symbols(&self) -> Vec<String>;
    /// Chain id.
    fn chain_id(&self) -> u64;
    /// Symbol of the asset that prices gas.
    fn native_symbol(&self) -> String;
    /// Initial USD price (8 decimals) of asset `i`.
    fn usd_price(&self, i: usize) -> Result<U256>;
}

/// What a protocol's folder gives the registry.
pub trait Protocol {
    /// Its description in scenarios.
    type Config: MarketDescription;
    /// Its deployed market (the manifest's `protocol.details.market`).
    type Market;
    /// Its borrower book.
    type Book;
    /// What it offers beyond liquidation.
    const CAPABILITIES: Capabilities;
    /// The npm package whose published artifacts it is deployed from.
    const PACKAGE: &'static NpmPackage;
    /// The devnet actor that owns its oracle (and signs price updates).
    const ORACLE_KEEPER: &'static str;
    /// Deploys a described market into `evm` from `artifacts` (the store of [`Self::PACKAGE`]).
    fn deploy<DB>(
        evm: &mut Evm<DB>,
        artifacts: &ArtifactStore,
        config: &Self::Config,
    ) -> Result<Self::Market>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display;
    /// A book over `market`, seeded with `users` (read from `evm`'s state).
    fn book<DB>(market: &Self::Market, evm: &mut Evm<DB>, users: &[Address]) -> Result<Self::Book>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display;
    /// Runs the differential proof of the shared math against the bytecode.
    fn verify(
        artifacts: &ArtifactStore,
        seed: u64,
        cases: u64,
        markets: usize,
        only_position: Option<u64>,
    ) -> Result<Verification>;
}
