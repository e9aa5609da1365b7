//! Plain records of a recorded window: what a dataset holds, independent of how it is stored.

use std::collections::BTreeMap;

use alloy_primitives::{Address, Bytes, B256, U256};
use serde::{Deserialize, Serialize};

/// Dataset format version this build writes and the newest it reads.
pub const FORMAT_VERSION: u32 = 1;

/// One account of the pre-state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRecord {
    /// Address.
    pub address: Address,
    /// Ether balance in wei.
    pub balance: U256,
    /// Nonce.
    pub nonce: u64,
    /// keccak256 of the code (`KECCAK_EMPTY` for none).
    pub code_hash: B256,
}

/// One contract code, by hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeRecord {
    /// keccak256 of `code`.
    pub code_hash: B256,
    /// Runtime bytecode.
    pub code: Bytes,
}

/// One storage slot of the pre-state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageRecord {
    /// Contract.
    pub address: Address,
    /// Slot.
    pub slot: U256,
    /// Value.
    pub value: U256,
}

/// One block header (the fields the EVM reads).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BlockRecord {
    /// Block number.
    pub number: u64,
    /// Unix timestamp.
    pub timestamp: u64,
    /// EIP-1559 base fee per gas, in wei.
    pub base_fee: u64,
    /// Block gas limit.
    pub gas_limit: u64,
    /// Fee recipient.
    pub beneficiary: Address,
    /// `prevrandao` (post-merge) / mix hash.
    pub prevrandao: B256,
    /// Pre-merge difficulty (zero after the merge).
    pub difficulty: U256,
}

/// One signed transaction, in block order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionRecord {
    /// Block number.
    pub block: u64,
    /// Position in the block.
    pub index: u32,
    /// Transaction hash.
    pub hash: B256,
    /// EIP-2718 encoding of the signed transaction (what `eth_sendRawTransaction` takes).
    pub raw: Bytes,
}

/// One log of a receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// Block number.
    pub block: u64,
    /// Transaction position in the block.
    pub tx_index: u32,
    /// Position of the log in the transaction.
    pub log_index: u32,
    /// Emitting contract.
    pub address: Address,
    /// Topics (0 to 4).
    pub topics: Vec<B256>,
    /// Data.
    pub data: Bytes,
}

/// One receipt (its logs are in [`LogRecord`]s with the same block and index).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptRecord {
    /// Block number.
    pub block: u64,
    /// Transaction position in the block.
    pub index: u32,
    /// True when the transaction succeeded.
    pub success: bool,
    /// Gas used by this transaction.
    pub gas_used: u64,
    /// Gas used by the block up to and including this transaction.
    pub cumulative_gas_used: u64,
}

/// How the window was produced.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provenance {
    /// `devnet` (built by `liqsim dataset build`) or `rpc` (recorded by `liqsim record`).
    pub kind: String,
    /// liqsim version that produced it.
    pub liqsim_version: String,
    /// Scenario file it was built from, when built.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario: Option<String>,
    /// sha256 of the scenario text, when built.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario_sha256: Option<String>,
    /// The scenario's canonical form as far as the dataset depends on it (devnet builds): what a
    /// later run compares against to name the first changed key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario_canonical: Option<serde_json::Value>,
}

/// The protocol a window is about, with its addresses (JSON object, protocol-specific keys).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProtocolInfo {
    /// Protocol kind, e.g. `aave-v3`.
    pub kind: String,
    /// Named addresses (`pool`, `oracle`, ... and per-reserve ones).
    pub addresses: BTreeMap<String, Address>,
    /// Protocol-specific description (e.g. the deployed market as JSON).
    #[serde(default)]
    pub details: serde_json::Value,
}

/// `manifest.json`: what the window is and the content hash of every file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Dataset format version.
    pub format_version: u32,
    /// Dataset name (the folder name).
    pub name: String,
    /// Chain id.
    pub chain_id: u64,
    /// First block of the window (the pre-state is the state before it).
    pub first_block: u64,
    /// Last block of the window (inclusive).
    pub last_block: u64,
    /// The protocol and its addresses.
    pub protocol: ProtocolInfo,
    /// How it was produced.
    pub provenance: Provenance,
    /// File name → sha256 (hex) of its bytes.
    pub files: BTreeMap<String, String>,
}

/// A whole recorded window in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// Manifest (its `files` map is filled in when written).
    pub manifest: Manifest,
    /// Pre-state accounts.
    pub accounts: Vec<AccountRecord>,
    /// Pre-state code.
    pub code: Vec<CodeRecord>,
    /// Pre-state storage.
    pub storage: Vec<StorageRecord>,
    /// Block headers in order.
    pub blocks: Vec<BlockRecord>,
    /// Transactions in block order.
    pub transactions: Vec<TransactionRecord>,
    /// Receipts, one per transaction, same order.
    pub receipts: Vec<ReceiptRecord>,
    /// Logs of all receipts, in order.
    pub logs: Vec<LogRecord>,
}
