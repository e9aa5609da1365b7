//! Persistent RPC cache: everything fetched from a node, on disk under
//! `<cache>/rpc/<chain id>/`, keyed by chain id and block, and the state at a block also by that
//! block's hash (`state-<block>-<hash>.json`), so two nodes with the same chain id but different
//! histories (two forks, a fork and mainnet) never share state; blocks are stored as
//! `blocks/<number>-<hash>.json` and found from the node's hash of a window's last block down
//! through parent hashes ([`crate::node::rpc::RpcSource::blocks`]).
//! Files are written whole to a temporary name and renamed into place, so a killed run never
//! leaves a file that later runs trust but is wrong; an unreadable file is ignored and fetched
//! again.

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::path::{Path, PathBuf};

use alloy_primitives::{Address, Bytes, B256, U256};
use alloy_rpc_types_eth::{Block, TransactionReceipt};
use serde::{de::DeserializeOwned, Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};

/// An account as fetched at a block (`None` in the maps means "does not exist").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CachedAccount {
    /// Balance, wei.
    pub balance: U256,
    /// Nonce.
    pub nonce: u64,
    /// keccak256 of the code.
    pub code_hash: B256,
}

/// The state fetched at one fork block.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateEntries {
    /// Accounts (`None`: empty account).
    pub accounts: BTreeMap<Address, Option<CachedAccount>>,
    /// Storage slots, as `(address, slot, value)`.
    pub storage: Vec<(Address, U256, U256)>,
    /// Code by hash.
    pub code: BTreeMap<B256, Bytes>,
    /// Block hashes, as `(number, hash)`.
    pub block_hashes: Vec<(u64, B256)>,
}

/// A block with its full transactions and receipts, as the node returned them.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CachedBlock {
    /// Header and full transactions.
    pub block: Block,
    /// Receipts in transaction order.
    pub receipts: Vec<TransactionReceipt>,
}

/// The cache of one chain.
#[derive(Debug, Clone)]
pub struct RpcCache {
    dir: PathBuf,
    chain_id: u64,
}

impl RpcCache {
    /// The cache of `chain_id` under `root` (`<root>/rpc/<chain id>`).
    pub fn open(root: &Path, chain_id: u64) -> Result<Self> {
        let dir = root.join("rpc").join(chain_id.to_string());
        fs::create_dir_all(dir.join("blocks")).map_err(|e| Error::io("creating", &dir, e))?;
        Ok(Self { dir, chain_id })
    }

    /// Chain id this cache belongs to.
    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// Folder of this chain's cache.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn state_path(&self, block: u64, hash: B256) -> PathBuf {
        self.dir.join(format!("state-{block}-{hash}.json"))
    }

    /// Hashes of `block` other than `hash` for which state is cached (another node's history).
    pub fn other_state_hashes(&self, block: u64, hash: B256) -> Vec<String> {
        let prefix = format!("state-{block}-");
        let ours = format!("{hash}");
        let Ok(entries) = fs::read_dir(&self.dir) else {
            return Vec::new();
        };
        let mut out: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter_map(|e| e.file_name().into_string().ok())
            .filter_map(|n| {
                n.strip_prefix(&prefix)?
                    .strip_suffix(".json")
                    .map(str::to_string)
            })
            .filter(|h| h.starts_with("0x") && h.len() == 66 && *h != ours)
            .collect();
        out.sort();
        out
    }

    fn block_path(&self, block: u64, hash: B256) -> PathBuf {
        self.dir.join("blocks").join(format!("{block}-{hash}.json"))
    }

    /// The state fetched so far at `block` whose hash is `hash` (empty when none).
    pub fn load_state(&self, block: u64, hash: B256) -> StateEntries {
        read_json(&self.state_path(block, hash)).unwrap_or_default()
    }

    /// Replaces the state file of `block` with hash `hash` (crash-safe).
    pub fn store_state(&self, block: u64, hash: B256, state: &StateEntries) -> Result<()> {
        write_json_atomic(&self.state_path(block, hash), state)
    }

    /// The cached block `block` whose hash is `hash`, if present, readable and carrying that hash.
    pub fn load_block(&self, block: u64, hash: B256) -> Option<CachedBlock> {
        read_json::<CachedBlock>(&self.block_path(block, hash))
            .filter(|b| b.block.header.hash == hash && b.block.header.number == block)
    }

    /// Stores a block under its number and hash (crash-safe).
    pub fn store_block(&self, cached: &CachedBlock) -> Result<()> {
        let h = &cached.block.header;
        write_json_atomic(&self.block_path(h.number, h.hash), cached)
    }
}

impl RpcCache {
    fn logs_path(&self, key: &str) -> PathBuf {
        self.dir.join("logs").join(format!("{key}.json"))
    }

    /// Cached `eth_getLogs` answer (topics of each log) under `key`, if present and readable.
    pub fn load_logs(&self, key: &str) -> Option<Vec<Vec<B256>>> {
        read_json(&self.logs_path(key))
    }

    /// Stores an `eth_getLogs` answer (crash-safe).
    pub fn store_logs(&self, key: &str, topics: &[Vec<B256>]) -> Result<()> {
        write_json_atomic(&self.logs_path(key), &topics)
    }
}

/// Endpoint → chain id, remembered so a fully cached run needs no request at all. Endpoints are
/// stored as sha256 hashes only (never the URL, which may carry credentials).
pub fn remembered_chain_id(root: &Path, url: &str) -> Option<u64> {
    let map: HashMap<String, u64> = read_json(&root.join("rpc").join("endpoints.json"))?;
    map.get(&endpoint_key(url)).copied()
}

/// Remembers the chain id of an endpoint.
pub fn remember_chain_id(root: &Path, url: &str, chain_id: u64) -> Result<()> {
    let path = root.join("rpc").join("endpoints.json");
    let mut map: HashMap<String, u64> = read_json(&path).unwrap_or_default();
    map.insert(endpoint_key(url), chain_id);
    write_json_atomic(&path, &map)
}

fn endpoint_key(url: &str) -> String {
    hex::encode(Sha256::digest(url.as_bytes()))
}

fn read_json<T: DeserializeOwned>(path: &Path) -> Option<T> {
    let bytes = fs::read(path).ok()?;
    match serde_json::from_slice(&bytes) {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "ignoring unreadable cache file");
            None
        }
    }
}

/// Writes JSON to a temporary file in the same folder, syncs it, and renames it into place.
pub fn write_json_atomic<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let bytes = serde_json::to_vec(value).map_err(|e| Error::InvalidFile {
        path: path.to_path_buf(),
        message: format!("cannot serialize: {e}"),
    })?;
    crate::data::dataset::write_file_atomic(path, &bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_round_trips_and_garbage_is_ignored() {
        let root = std::env::temp_dir().join(format!("liqsim-cache-unit-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let cache = RpcCache::open(&root, 5).unwrap();
        let mut state = StateEntries::default();
        state.accounts.insert(
            Address::repeat_byte(1),
            Some(CachedAccount {
                balance: U256::from(7u64),
                nonce: 3,
                code_hash: B256::repeat_byte(9),
            }),
        );
        state
            .storage
            .push((Address::repeat_byte(1), U256::from(1u64), U256::MAX));
        let (h1, h2) = (B256::repeat_byte(0xa1), B256::repeat_byte(0xb2));
        cache.store_state(10, h1, &state).unwrap();
        assert_eq!(cache.load_state(10, h1), state);
        // the same block of another history (another hash) shares nothing
        assert_eq!(cache.load_state(10, h2), StateEntries::default());
        assert_eq!(cache.other_state_hashes(10, h2), vec![format!("{h1}")]);
        assert!(cache.other_state_hashes(10, h1).is_empty());
        fs::write(
            cache.dir().join(format!("state-11-{h1}.json")),
            b"{\"accounts\": {",
        )
        .unwrap();
        assert_eq!(cache.load_state(11, h1), StateEntries::default());
        remember_chain_id(&root, "http://user:pw@x/", 5).unwrap();
        assert_eq!(remembered_chain_id(&root, "http://user:pw@x/"), Some(5));
        let text = fs::read_to_string(root.join("rpc/endpoints.json")).unwrap();
        assert!(!text.contains("pw"));
    }
}
