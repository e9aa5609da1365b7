//! The library's one error type: every failure says what failed and with which value.

use std::path::PathBuf;

use alloy_primitives::{Address, Bytes};

/// Result alias used throughout liqsim.
pub type Result<T, E = Error> = core::result::Result<T, E>;

/// Everything that can go wrong inside liqsim.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Fixed-point math overflowed or divided by zero (the operation Solidity would revert on).
    #[error("math error in {op}: {reason}")]
    Math {
        /// The operation that failed, e.g. `ray_mul`.
        op: &'static str,
        /// Why it failed, e.g. `overflow`.
        reason: &'static str,
    },

    /// A file could not be read or written.
    #[error("{action} {path}: {source}")]
    Io {
        /// What was being done, e.g. `reading`.
        action: &'static str,
        /// The file or folder concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },

    /// A file's content is not what was expected.
    #[error("{path}: {message}")]
    InvalidFile {
        /// The file concerned.
        path: PathBuf,
        /// What is wrong with it and what was expected.
        message: String,
    },

    /// A configuration value is invalid.
    #[error("invalid config: field `{field}` = {value}: {expected}")]
    InvalidConfig {
        /// Dotted path of the field, e.g. `assets[2].liquidation_threshold`.
        field: String,
        /// The offending value as written.
        value: String,
        /// What was expected instead.
        expected: String,
    },

    /// Protocol artifacts (published bytecode) are unavailable.
    #[error("protocol artifacts unavailable: {0}")]
    Artifacts(String),

    /// Linking library addresses into bytecode failed.
    #[error("cannot link {contract}: {message}")]
    Link {
        /// The contract being linked.
        contract: String,
        /// What went wrong.
        message: String,
    },

    /// The EVM rejected a transaction before executing it (nonce, balance, gas...).
    #[error("EVM rejected transaction to {to:?}: {message}")]
    EvmInvalid {
        /// Called contract (None for a creation).
        to: Option<Address>,
        /// revm's explanation.
        message: String,
    },

    /// A contract call reverted.
    #[error("{call} reverted: {reason}")]
    Reverted {
        /// Which call reverted, e.g. `Pool.liquidationCall`.
        call: String,
        /// Decoded reason (Aave error codes are explained, e.g. `45 (HEALTH_FACTOR_NOT_BELOW_THRESHOLD)`).
        reason: String,
        /// Raw revert data.
        data: Bytes,
        /// Gas used up to the revert.
        gas_used: u64,
    },

    /// Funding by storage (`deal`) found no balance slot for a token.
    #[error(
        "cannot fund {holder} with token {token}{symbol} by writing its balance in storage: {reason}. \
         liqsim funds what-if liquidators as foundry's `deal` does (it traces `balanceOf` and writes \
         the balance slot it reads); tokens whose balance is computed (rebasing, shares) have no such \
         slot: use another debt asset, or give the liquidator the token in the window's own state"
    )]
    Deal {
        /// The token contract.
        token: Address,
        /// ` (SYMBOL)` when the token answers `symbol()`, else empty.
        symbol: String,
        /// Who was being funded.
        holder: Address,
        /// What failed.
        reason: String,
    },

    /// A contract call halted (out of gas, invalid opcode...).
    #[error("{call} halted: {reason}")]
    Halted {
        /// Which call halted.
        call: String,
        /// revm's halt reason.
        reason: String,
    },

    /// ABI decoding of a return value or event failed.
    #[error("cannot decode {what}: {message}")]
    Decode {
        /// What was decoded.
        what: String,
        /// The decoder's message.
        message: String,
    },

    /// A recorded window's pre-state does not hold what the EVM read.
    #[error("the recorded window's pre-state does not hold account {address}{slot}, which {reading} reads: liqsim never reads unrecorded state as zero; re-record the window with this version of `liqsim record` (or delete the dataset of its `[source]` scenario), whose recorder stores every account and slot the replay and each opportunity's what-if liquidations read, empty and zero ones included; or give `liqsim run --rpc URL` (an archive node of the window's chain) to fetch what is missing at the window's state block")]
    MissingState {
        /// The account.
        address: Address,
        /// ` slot 0x…` when a storage slot is missing, else empty.
        slot: String,
        /// What read it, e.g. `block 12 tx 3 (0x…)` or `the what-if liquidation of 0x… at block
        /// 12` ([`Error::reading`] sets it).
        reading: String,
    },

    /// The state database failed.
    #[error("state database: {0}")]
    Database(String),

    /// A lookup by name failed.
    #[error("unknown {kind} `{name}`; known: {known}")]
    Unknown {
        /// The kind of thing looked up, e.g. `asset`.
        kind: &'static str,
        /// The name asked for.
        name: String,
        /// The valid names.
        known: String,
    },

    /// A JSON-RPC request failed (after retries, for transient failures).
    #[error("RPC {method} failed: {message}; re-running resumes from the cache")]
    Rpc {
        /// JSON-RPC method, e.g. `eth_getStorageAt`.
        method: String,
        /// What failed (the endpoint's URL is redacted).
        message: String,
    },

    /// The node has no state for a historical block.
    #[error("RPC {method} at block {block}: the node has no state for that block ({message}); an archive node is needed")]
    ArchiveNeeded {
        /// JSON-RPC method.
        method: String,
        /// Block asked for.
        block: u64,
        /// The node's message.
        message: String,
    },

    /// The node serves another chain than the one expected (or cached).
    #[error("chain id mismatch: expected {expected}, the node at {endpoint} reports {actual}; refusing to mix chains")]
    ChainMismatch {
        /// Chain id expected (from `--chain-id` or the cache).
        expected: u64,
        /// Chain id the node reports.
        actual: u64,
        /// The endpoint, redacted.
        endpoint: String,
    },

    /// A helper process (e.g. anvil) could not be started or failed.
    #[error("{program}: {message}")]
    Process {
        /// Program concerned.
        program: String,
        /// What went wrong.
        message: String,
    },

    /// The Solidity compiler could not be run, or rejected a source.
    #[error("compiling {what}: {message}")]
    Compile {
        /// What was being compiled (a contract, the sources, the compiler itself).
        what: String,
        /// What went wrong and what to do.
        message: String,
    },

    /// A differential check found the shared math and the EVM disagreeing.
    #[error("mismatch: {0}")]
    Mismatch(String),
}

impl revm::database_interface::DBErrorMarker for Error {}

impl Error {
    /// Shorthand for an [`Error::Io`].
    pub fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            action,
            path: path.into(),
            source,
        }
    }

    /// An [`Error::MissingState`] saying what read the missing state (`what`); any other error
    /// unchanged.
    pub fn reading(self, what: impl std::fmt::Display) -> Self {
        match self {
            Error::MissingState { address, slot, .. } => Error::MissingState {
                address,
                slot,
                reading: what.to_string(),
            },
            other => other,
        }
    }

    /// Shorthand for an [`Error::InvalidConfig`].
    pub fn config(
        field: impl Into<String>,
        value: impl std::fmt::Display,
        expected: impl Into<String>,
    ) -> Self {
        Self::InvalidConfig {
            field: field.into(),
            value: value.to_string(),
            expected: expected.into(),
        }
    }
}
