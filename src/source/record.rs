//! `liqsim record`: turns a block range of a node into a dataset. Headers, transactions and
//! receipts come from the node; the pre-state is exactly what replaying the window (with the
//! opportunity tracker, as `liqsim run` does), the protocol's health view of each borrower (as
//! `liqsim check-window` reads it) and probing its what-if liquidations ([`crate::engine::probe`])
//! read, at the block before the window.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use alloy_eips::eip2718::Encodable2718;
use alloy_primitives::Address;
use alloy_rpc_types_eth::BlockTransactions;

use crate::data::records::{
    BlockRecord, LogRecord, Manifest, ProtocolInfo, Provenance, ReceiptRecord, TransactionRecord,
    Window, FORMAT_VERSION,
};
use crate::engine::opportunities::OpportunityTracker;
use crate::engine::probe::Prober;
use crate::engine::replay::{replay, Fidelity};
use crate::error::{Error, Result};
use crate::evm::executor::Evm;
use crate::evm::state::block_env;
use crate::node::cache::CachedBlock;
use crate::node::rpc::{RpcDb, RpcSource};
use crate::protocol::window::WindowDetails;
use crate::source::discovery::{discover_window, DiscoveryOptions};

/// What to record.
#[derive(Debug, Clone)]
pub struct RecordOptions {
    /// Most blocks a window may span (`to - from + 1`); [`DEFAULT_MAX_BLOCKS`] by default.
    pub max_blocks: u64,
    /// Dataset name.
    pub name: String,
    /// First block of the window.
    pub from: u64,
    /// Last block (inclusive).
    pub to: u64,
    /// The Aave V3 Pool (`None`: the Pool of `discovery.provider`).
    pub pool: Option<Address>,
    /// The protocol description (`protocol` of a manifest whose details are a [`WindowDetails`]);
    /// `None`: discovered from the Pool at `from - 1` (see [`crate::source::discovery`]).
    pub protocol: Option<ProtocolInfo>,
    /// How to discover the market and the users when `protocol` is `None`.
    pub discovery: DiscoveryOptions,
    /// Probe while recording (the default): at every hook point with an open opportunity, run
    /// the what-if liquidations strategies could send, so that the pre-state holds what they read
    /// ([`crate::engine::probe`]). False (`liqsim record --no-probe`, for tests and measurements):
    /// the pre-state holds only what the replay reads, and what-ifs on it fail by name.
    pub probe: bool,
}

/// A recorded window and what recording it cost.
#[derive(Debug, Clone)]
pub struct RecordReport {
    /// The window (write it with `write_dataset`).
    pub window: Window,
    /// How the replay over the node matched the node's receipts.
    pub fidelity: Fidelity,
    /// HTTP requests made.
    pub requests: u64,
    /// Of which retries.
    pub retries: u64,
    /// Seconds spent.
    pub seconds: f64,
    /// Hook points at which the recorder probed what-if liquidations.
    pub probe_hook_points: u64,
    /// Probe what-ifs executed (each one or two liquidation calls).
    pub probe_what_ifs: u64,
}

/// Most blocks `record` (and an RPC scenario) records unless told otherwise (`--max-blocks`).
pub const DEFAULT_MAX_BLOCKS: u64 = 100_000;

/// Checks a window's block range: `1 <= from <= to`, at most `max_blocks` blocks.
pub fn check_range(from: u64, to: u64, max_blocks: u64) -> Result<()> {
    if from == 0 || to < from {
        return Err(Error::config(
            "from/to",
            format!("{}..={}", from, to),
            "1 <= from <= to",
        ));
    }
    let span = (to - from).saturating_add(1);
    if span > max_blocks {
        return Err(Error::config(
            "from/to",
            format!("{}..={} ({span} blocks)", from, to),
            format!(
                "at most {} blocks per window (`liqsim record --max-blocks` raises the cap)",
                max_blocks
            ),
        ));
    }
    Ok(())
}

/// Records `options` from `source`.
pub fn record_window(source: Arc<RpcSource>, options: &RecordOptions) -> Result<RecordReport> {
    let start = Instant::now();
    let requests_before = source.client().stats().requests();
    let retries_before = source.client().stats().retries();
    check_range(options.from, options.to, options.max_blocks)?;
    let blocks = source.blocks(options.from, options.to)?;
    let first_header = blocks
        .first()
        .map(header_record)
        .ok_or_else(|| Error::config("from/to", options.from, "a non-empty block range"))?;
    let protocol = match &options.protocol {
        Some(p) => p.clone(),
        None => discover_window(
            source.clone(),
            &blocks,
            &first_header,
            options.pool,
            &options.discovery,
        )?,
    };
    let details: WindowDetails =
        serde_json::from_value(protocol.details.clone()).map_err(|e| Error::Decode {
            what: "protocol details (an Aave V3 window description)".into(),
            message: e.to_string(),
        })?;
    let market_pool = details.market.as_aave_v3()?.pool;
    if let Some(pool) = options.pool.filter(|p| *p != market_pool) {
        return Err(Error::config(
            "pool",
            pool,
            format!("the pool of the given market description ({market_pool})"),
        ));
    }
    let mut window = Window {
        manifest: Manifest {
            format_version: FORMAT_VERSION,
            name: options.name.clone(),
            chain_id: source.chain_id(),
            first_block: options.from,
            last_block: options.to,
            protocol,
            provenance: Provenance {
                kind: "rpc".into(),
                liqsim_version: env!("CARGO_PKG_VERSION").into(),
                scenario: None,
                scenario_sha256: None,
                scenario_canonical: None,
            },
            files: BTreeMap::new(),
        },
        accounts: Vec::new(),
        code: Vec::new(),
        storage: Vec::new(),
        blocks: Vec::new(),
        transactions: Vec::new(),
        receipts: Vec::new(),
        logs: Vec::new(),
    };
    for cached in &blocks {
        append_block(&mut window, cached)?;
    }

    let db = RpcDb::new(source.clone(), options.from - 1)?;
    let mut evm = Evm::new(db, source.chain_id());
    if let Some(first) = window.blocks.first() {
        evm.set_block(block_env(first));
    }
    // The tracker, the protocol's own health view of each borrower when first tracked and after
    // every transaction naming it (so the dataset also holds what `liqsim check-window` reads),
    // and the probes of what-if liquidations (what `liqsim run` reads).
    let mut prober = None;
    let replayed = OpportunityTracker::new(&details.market, &mut evm, &details.users_at_start)
        .and_then(|tracker| {
            let hooks = prober.insert(Prober::new(tracker, options.probe));
            replay(&mut evm, &window, false, hooks, None)
        });
    let (probe_hook_points, probe_what_ifs) = prober
        .map(|p| (p.hook_points, p.what_ifs))
        .unwrap_or_default();
    let db = &evm.db().db;
    let fidelity = match replayed {
        Ok(f) => f,
        Err(e) => {
            let _ = db.flush();
            return Err(db.take_error().unwrap_or(e));
        }
    };
    db.flush()?;
    let (accounts, code, storage) = db.prestate();
    window.accounts = accounts;
    window.code = code;
    window.storage = storage;
    let stats = source.client().stats();
    let report = RecordReport {
        window,
        fidelity,
        requests: stats.requests() - requests_before,
        retries: stats.retries() - retries_before,
        seconds: start.elapsed().as_secs_f64(),
        probe_hook_points,
        probe_what_ifs,
    };
    tracing::info!(
        requests = report.requests,
        retries = report.retries,
        probe_hook_points,
        probe_what_ifs,
        accounts = report.window.accounts.len(),
        slots = report.window.storage.len(),
        "window recorded"
    );
    Ok(report)
}

/// The header fields the EVM reads.
fn header_record(cached: &CachedBlock) -> BlockRecord {
    let h = &cached.block.header;
    BlockRecord {
        number: h.number,
        timestamp: h.timestamp,
        base_fee: h.base_fee_per_gas.unwrap_or(0),
        gas_limit: h.gas_limit,
        beneficiary: h.beneficiary,
        prevrandao: h.mix_hash,
        difficulty: h.difficulty,
    }
}

/// Appends one block's header, transactions, receipts and logs to `window`.
fn append_block(window: &mut Window, cached: &CachedBlock) -> Result<()> {
    let number = cached.block.header.number;
    window.blocks.push(header_record(cached));
    let BlockTransactions::Full(txs) = &cached.block.transactions else {
        return Err(Error::Rpc {
            method: "eth_getBlockByNumber".into(),
            message: format!("block {number} came without full transactions"),
        });
    };
    if txs.len() != cached.receipts.len() {
        return Err(Error::Rpc {
            method: "eth_getBlockReceipts".into(),
            message: format!(
                "block {number} has {} transactions but {} receipts",
                txs.len(),
                cached.receipts.len()
            ),
        });
    }
    for (i, (tx, receipt)) in txs.iter().zip(&cached.receipts).enumerate() {
        let index = i as u32;
        if receipt.transaction_hash != *tx.inner.tx_hash() {
            return Err(Error::Rpc {
                method: "eth_getBlockReceipts".into(),
                message: format!("block {number}: receipt {i} is not for transaction {i}"),
            });
        }
        window.transactions.push(TransactionRecord {
            block: number,
            index,
            hash: *tx.inner.tx_hash(),
            raw: tx.inner.inner().encoded_2718().into(),
        });
        window.receipts.push(ReceiptRecord {
            block: number,
            index,
            success: receipt.inner.status(),
            gas_used: receipt.gas_used,
            cumulative_gas_used: receipt.inner.cumulative_gas_used(),
        });
        for (log_index, log) in receipt.inner.logs().iter().enumerate() {
            window.logs.push(LogRecord {
                block: number,
                tx_index: index,
                log_index: log_index as u32,
                address: log.address(),
                topics: log.topics().to_vec(),
                data: log.data().data.clone(),
            });
        }
    }
    Ok(())
}

/// The dataset of an RPC scenario under `datasets_root` (`<root>/<name>/`), recorded through the
/// persistent cache under `cache_root` when absent or recorded for another window. A current
/// dataset is used as it is: no URL is needed and no request is made.
pub fn ensure_recorded(
    scenario: &crate::scenario::RpcScenario,
    datasets_root: &std::path::Path,
    cache_root: &std::path::Path,
) -> Result<std::path::PathBuf> {
    use crate::node::rpc::RetryPolicy;
    let dir = datasets_root.join(&scenario.file.name);
    let _lock = crate::data::folder::lock_exclusive(&dir)?;
    let status = crate::data::dataset::dataset_status(&dir, |m| {
        m.provenance.kind == "rpc"
            && m.provenance.scenario_sha256.as_deref() == Some(scenario.window_sha256.as_str())
    })?;
    if status == crate::data::dataset::DatasetStatus::Current {
        return Ok(dir);
    }
    crate::data::folder::check_replaceable(&dir, crate::data::folder::FolderKind::Dataset)?;
    let s = &scenario.file.source;
    let url = scenario.rpc_url()?;
    eprintln!(
        "recording dataset {} from {} (blocks {}..={}, first use)",
        dir.display(),
        crate::node::rpc::redact_url(&url),
        s.from_block,
        s.to_block
    );
    let users = match scenario.users_file() {
        Some(path) => crate::source::discovery::read_users_file(&path)?,
        None => Vec::new(),
    };
    let (pool, provider, chain_id) = match &s.market {
        Some(name) => {
            let m = crate::source::address_book::resolve_aave_v3(name, s.chain_id)?;
            (Some(m.pool), Some(m.provider), Some(m.chain_id))
        }
        None => (s.pool, s.provider, s.chain_id),
    };
    let source = Arc::new(RpcSource::open(
        &url,
        cache_root,
        chain_id,
        RetryPolicy::default(),
    )?);
    let options = RecordOptions {
        max_blocks: DEFAULT_MAX_BLOCKS,
        name: scenario.file.name.clone(),
        from: s.from_block,
        to: s.to_block,
        pool,
        protocol: None,
        discovery: DiscoveryOptions {
            provider,
            native_asset: s.native_asset.clone(),
            users_from_block: s.users_from_block,
            users,
        },
        probe: true,
    };
    let mut report = record_window(source, &options)?;
    let provenance = &mut report.window.manifest.provenance;
    provenance.scenario = Some(scenario.source.clone());
    provenance.scenario_sha256 = Some(scenario.window_sha256.clone());
    crate::data::dataset::write_dataset_locked(&dir, &report.window)?;
    eprintln!(
        "recorded {}: {} RPC requests ({} retries) in {:.2} s; replay matched {}/{} receipts",
        dir.display(),
        report.requests,
        report.retries,
        report.seconds,
        report.fidelity.receipts_matched,
        report.fidelity.transactions
    );
    Ok(dir)
}
