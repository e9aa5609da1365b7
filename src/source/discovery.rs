//! Window discovery over RPC: the market at the block before a window (Aave V3 and its forks,
//! read through revm over the node's lazy state) and the users holding positions when the window
//! starts (the window's Pool events and, if asked, an `eth_getLogs` lookback).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use alloy_primitives::Address;

use crate::data::records::{BlockRecord, ProtocolInfo};
use crate::error::{Error, Result};
use crate::evm::executor::Evm;
use crate::evm::state::block_env;
use crate::node::cache::CachedBlock;
use crate::node::rpc::{RpcDb, RpcSource};
use crate::protocol::aave_v3::discovery::{discover_market, lookback_events, users_in_logs};
use crate::protocol::window::WindowDetails;

/// Where to start and what to add to what the chain says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiscoveryOptions {
    /// The PoolAddressesProvider (when the Pool is not given, it is `getPool()`).
    pub provider: Option<Address>,
    /// Symbol of the reserve that prices gas; default by chain id (WETH, WHYPE, WBERA...).
    pub native_asset: Option<String>,
    /// Also take the users of the Pool's `Supply`/`Borrow` events from this block up to the
    /// window (`eth_getLogs`, in chunks, cached).
    pub users_from_block: Option<u64>,
    /// Users known to hold positions (e.g. exported from a subgraph), taken first, in order.
    pub users: Vec<Address>,
}

/// Longest `eth_getLogs` lookback accepted, in blocks.
pub const MAX_LOOKBACK_BLOCKS: u64 = 2_000_000;

/// The manifest's `protocol` section for `details` (same address names as devnet windows).
pub fn protocol_info(details: &WindowDetails) -> Result<ProtocolInfo> {
    let m = details.market.as_aave_v3()?;
    let mut addresses = BTreeMap::new();
    addresses.insert("pool".to_string(), m.pool);
    addresses.insert("pool_addresses_provider".to_string(), m.addresses_provider);
    addresses.insert("oracle".to_string(), m.oracle);
    addresses.insert("pool_configurator".to_string(), m.pool_configurator);
    addresses.insert("data_provider".to_string(), m.data_provider);
    Ok(ProtocolInfo {
        kind: "aave-v3".into(),
        addresses,
        details: serde_json::to_value(details).map_err(|e| Error::Decode {
            what: "window details".into(),
            message: e.to_string(),
        })?,
    })
}

/// Discovers the market at `from - 1` through `source` (its own lazy state, cached like every
/// read) and the users at the window's start: `options.users` first, then the users of the
/// window's Pool events (from `blocks`), then those of the lookback.
pub fn discover_window(
    source: Arc<RpcSource>,
    blocks: &[CachedBlock],
    first: &BlockRecord,
    pool: Option<Address>,
    options: &DiscoveryOptions,
) -> Result<ProtocolInfo> {
    let from = first.number;
    let db = RpcDb::new(source.clone(), from - 1)?;
    let mut evm = Evm::new(db, source.chain_id());
    evm.set_block(block_env(first));
    let discovered = discover_market(
        &mut evm,
        pool,
        options.provider,
        options.native_asset.as_deref(),
    );
    let db = &evm.db().db;
    let market = match discovered {
        Ok(m) => m,
        Err(e) => {
            let _ = db.flush();
            return Err(db.take_error().unwrap_or(e));
        }
    };
    db.flush()?;

    let mut users = Vec::new();
    let mut seen = BTreeSet::new();
    let mut add = |u: Address, users: &mut Vec<Address>| {
        if seen.insert(u) {
            users.push(u);
        }
    };
    for u in &options.users {
        add(*u, &mut users);
    }
    let window_logs = blocks.iter().flat_map(|b| {
        b.receipts
            .iter()
            .flat_map(|r| r.inner.logs().iter().map(|l| (l.address(), l.topics())))
    });
    for u in users_in_logs(market.pool, window_logs) {
        add(u, &mut users);
    }
    if let Some(start) = options.users_from_block {
        if start >= from {
            return Err(Error::config(
                "users_from_block",
                start,
                format!("a block before the window's first block ({from})"),
            ));
        }
        if from - start > MAX_LOOKBACK_BLOCKS {
            return Err(Error::config(
                "users_from_block",
                start,
                format!("at most {MAX_LOOKBACK_BLOCKS} blocks before the window ({from})"),
            ));
        }
        let topics = source.pool_logs(market.pool, &lookback_events(), start, from - 1)?;
        let logs = topics.iter().map(|t| (market.pool, t.as_slice()));
        for u in users_in_logs(market.pool, logs) {
            add(u, &mut users);
        }
    }
    tracing::info!(users = users.len(), "users at the window's start");
    protocol_info(&WindowDetails {
        market: crate::protocol::AnyMarket::AaveV3(market),
        users_at_start: users,
        competitors: BTreeMap::new(),
        competitor_contracts: BTreeMap::new(),
        chain_dex: None,
    })
}

/// Reads a file of addresses, one per line (blank lines and `#` comments ignored); an invalid
/// line is an error naming the file and line.
pub fn read_users_file(path: &std::path::Path) -> Result<Vec<Address>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io("reading", path, e))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let user: Address = line.parse().map_err(|e| Error::InvalidFile {
            path: path.to_path_buf(),
            message: format!("line {}: `{line}` is not an address ({e})", i + 1),
        })?;
        out.push(user);
    }
    Ok(out)
}
