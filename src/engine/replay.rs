//! Block replay: executes every recorded transaction of every block in order from the pre-state,
//! with each header's block environment, checks each receipt against the recorded one, and calls
//! hooks at the top of each block, after each transaction and after each oracle price update.

use std::collections::{BTreeMap, BTreeSet};

use indicatif::ProgressBar;
use revm::database_interface::DBErrorMarker;
use revm::DatabaseRef;
use serde::{Deserialize, Serialize};

use crate::data::records::{BlockRecord, LogRecord, ReceiptRecord, Window};
use crate::error::{Error, Result};
use crate::evm::executor::{Evm, TxOutcome};
use crate::evm::replayed::ReplayedTx;
use crate::evm::state::block_env;
use crate::evm::tx::SignedTx;

/// Callbacks at the replay's hook points. All default to doing nothing.
pub trait ReplayHooks<DB>
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker,
{
    /// Top of a block, before its first transaction.
    fn on_block_start(&mut self, _evm: &mut Evm<DB>, _block: &BlockRecord) -> Result<()> {
        Ok(())
    }
    /// After every transaction.
    fn on_transaction(
        &mut self,
        _evm: &mut Evm<DB>,
        _block: &BlockRecord,
        _tx: &ReplayedTx<'_>,
    ) -> Result<()> {
        Ok(())
    }
    /// True when `tx` moved a price the hooks read (default: it emitted a Chainlink-style
    /// `AnswerUpdated`); `on_price_update` follows.
    fn moves_prices(&self, tx: &ReplayedTx<'_>) -> bool {
        !tx.price_updates.is_empty()
    }
    /// Right after a transaction that updated an oracle price (after `on_transaction`).
    fn on_price_update(
        &mut self,
        _evm: &mut Evm<DB>,
        _block: &BlockRecord,
        _tx: &ReplayedTx<'_>,
    ) -> Result<()> {
        Ok(())
    }
    /// After the block's last transaction.
    fn on_block_end(&mut self, _evm: &mut Evm<DB>, _block: &BlockRecord) -> Result<()> {
        Ok(())
    }
}

/// Hooks that do nothing (bare replay).
pub struct NoHooks;
impl<DB> ReplayHooks<DB> for NoHooks
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker,
{
}

/// How many divergences [`Fidelity::divergences`] keeps word for word (all are counted).
pub const DIVERGENCES_KEPT: usize = 100;

/// How faithfully the replay reproduced the recorded window.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fidelity {
    /// Blocks replayed.
    pub blocks: u64,
    /// Transactions replayed.
    pub transactions: u64,
    /// Receipts equal to the recorded ones (status, gas used, cumulative gas used, block, index,
    /// logs).
    pub receipts_matched: u64,
    /// Gas used by all replayed transactions.
    pub gas_used: u64,
    /// Oracle price updates seen.
    pub price_updates: u64,
    /// The first divergence, named.
    pub first_divergence: Option<String>,
    /// Divergences found: receipts that differ, and rows that are missing, extra or duplicated.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub divergence_count: u64,
    /// The first [`DIVERGENCES_KEPT`] divergences, each naming its block and transaction.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub divergences: Vec<String>,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Fidelity {
    /// Share of receipts matched, in percent. Never rounds a divergence up to 100: with any
    /// divergence the result is at most 99.9 (it is shown with one decimal).
    pub fn matched_percent(&self) -> f64 {
        let percent = if self.transactions == 0 {
            100.0
        } else {
            self.receipts_matched as f64 * 100.0 / self.transactions as f64
        };
        if self.diverged() {
            // Round down to the shown decimal so that 99.96 % is not printed as 100.0 %.
            ((percent * 10.0).floor() / 10.0).min(99.9)
        } else {
            percent
        }
    }

    /// True when anything differed from the recording.
    pub fn diverged(&self) -> bool {
        self.divergence_count > 0 || self.receipts_matched != self.transactions
    }

    fn diverge(&mut self, strict: bool, message: String) -> Result<()> {
        if strict {
            return Err(Error::Mismatch(format!("replay diverged at {message}")));
        }
        self.divergence_count += 1;
        if self.first_divergence.is_none() {
            self.first_divergence = Some(message.clone());
        }
        if self.divergences.len() < DIVERGENCES_KEPT {
            self.divergences.push(message);
        }
        Ok(())
    }
}

/// The window's receipts and logs by transaction (block, index); duplicated and orphan rows are
/// reported as divergences.
struct Recorded<'w> {
    receipts: BTreeMap<(u64, u32), &'w ReceiptRecord>,
    logs: BTreeMap<(u64, u32), Vec<&'w LogRecord>>,
}

fn index_rows<'w>(
    window: &'w Window,
    fidelity: &mut Fidelity,
    strict: bool,
) -> Result<Recorded<'w>> {
    let mut txs = BTreeSet::new();
    for t in &window.transactions {
        if !txs.insert((t.block, t.index)) {
            fidelity.diverge(
                strict,
                format!(
                    "block {} tx {} ({}): duplicate transaction row",
                    t.block, t.index, t.hash
                ),
            )?;
        }
    }
    let mut receipts = BTreeMap::new();
    for r in &window.receipts {
        if !txs.contains(&(r.block, r.index)) {
            fidelity.diverge(
                strict,
                format!(
                    "block {} tx {}: receipt row without a transaction",
                    r.block, r.index
                ),
            )?;
        } else if receipts.insert((r.block, r.index), r).is_some() {
            fidelity.diverge(
                strict,
                format!("block {} tx {}: duplicate receipt row", r.block, r.index),
            )?;
        }
    }
    let mut logs: BTreeMap<(u64, u32), Vec<&LogRecord>> = BTreeMap::new();
    for l in &window.logs {
        if txs.contains(&(l.block, l.tx_index)) {
            logs.entry((l.block, l.tx_index)).or_default().push(l);
        } else {
            fidelity.diverge(
                strict,
                format!(
                    "block {} tx {}: log row {} without a transaction",
                    l.block, l.tx_index, l.log_index
                ),
            )?;
        }
    }
    Ok(Recorded { receipts, logs })
}

/// Replays `window` on `evm` (which must hold the window's pre-state). Every receipt is checked
/// against the recorded one, and the row sets against each other (missing, extra, duplicated
/// rows); each divergence is recorded in the [`Fidelity`] with its block and transaction. With
/// `strict`, the first divergence stops the replay with an error naming it.
pub fn replay<DB, H>(
    evm: &mut Evm<DB>,
    window: &Window,
    strict: bool,
    hooks: &mut H,
    progress: Option<&ProgressBar>,
) -> Result<Fidelity>
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
    H: ReplayHooks<DB>,
{
    let decoding = std::time::Instant::now();
    let decoded = Decoded::All(decode_all(window));
    tracing::debug!(
        seconds = decoding.elapsed().as_secs_f64(),
        "senders recovered"
    );
    replay_decoded(evm, window, strict, hooks, progress, &decoded)
}

/// Transactions decoded per task of [`replay_streaming`].
const DECODE_CHUNK: usize = 256;

/// [`replay`], the senders recovered on the rayon pool in chunks, first chunk first, while the
/// replay runs (it waits only for a chunk not ready yet, helping with the pool's jobs meanwhile):
/// on a pool of several threads the recovery overlaps the replay instead of preceding it.
/// Results are the same as [`replay`]'s.
pub fn replay_streaming<DB, H>(
    evm: &mut Evm<DB>,
    window: &Window,
    strict: bool,
    hooks: &mut H,
    progress: Option<&ProgressBar>,
) -> Result<Fidelity>
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
    H: ReplayHooks<DB>,
{
    let slots: Vec<std::sync::OnceLock<Vec<Result<SignedTx>>>> = window
        .transactions
        .chunks(DECODE_CHUNK)
        .map(|_| std::sync::OnceLock::new())
        .collect();
    rayon::in_place_scope_fifo(|scope| {
        for (chunk, slot) in window.transactions.chunks(DECODE_CHUNK).zip(&slots) {
            scope.spawn_fifo(move |_| {
                // Each slot is set once, by its own task.
                let _ = slot.set(chunk.iter().map(|r| SignedTx::decode(&r.raw)).collect());
            });
        }
        replay_decoded(
            evm,
            window,
            strict,
            hooks,
            progress,
            &Decoded::Streamed(&slots),
        )
    })
}

/// Where the replay takes each transaction's decoding from.
enum Decoded<'a> {
    /// All decoded before the replay.
    All(Vec<Result<SignedTx>>),
    /// Decoded in chunks of [`DECODE_CHUNK`] by tasks on the pool.
    Streamed(&'a [std::sync::OnceLock<Vec<Result<SignedTx>>>]),
}

impl Decoded<'_> {
    /// Transaction `k`'s decoding (waiting for its chunk).
    fn get(&self, k: usize) -> Option<&Result<SignedTx>> {
        match self {
            Decoded::All(all) => all.get(k),
            Decoded::Streamed(slots) => {
                let slot = slots.get(k / DECODE_CHUNK)?;
                loop {
                    if let Some(chunk) = slot.get() {
                        return chunk.get(k % DECODE_CHUNK);
                    }
                    if !matches!(rayon::yield_now(), Some(rayon::Yield::Executed)) {
                        std::thread::yield_now();
                    }
                }
            }
        }
    }
}

fn replay_decoded<DB, H>(
    evm: &mut Evm<DB>,
    window: &Window,
    strict: bool,
    hooks: &mut H,
    progress: Option<&ProgressBar>,
    decoded: &Decoded<'_>,
) -> Result<Fidelity>
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
    H: ReplayHooks<DB>,
{
    let mut fidelity = Fidelity::default();
    let recorded = index_rows(window, &mut fidelity, strict)?;
    let mut tx_cursor = 0usize;
    for block in &window.blocks {
        evm.set_block(block_env(block));
        hooks.on_block_start(evm, block)?;
        let mut cumulative_gas = 0u64;
        let mut position = 0u32;
        while tx_cursor < window.transactions.len()
            && window.transactions[tx_cursor].block == block.number
        {
            let record = &window.transactions[tx_cursor];
            let tx = match decoded.get(tx_cursor) {
                Some(Ok(tx)) => tx,
                Some(Err(e)) => {
                    return Err(Error::Mismatch(format!(
                        "block {} tx {} ({}): cannot decode the recorded transaction: {e}",
                        block.number, record.index, record.hash
                    )))
                }
                None => {
                    return Err(Error::Mismatch(format!(
                        "block {} tx {} ({}): not decoded",
                        block.number, record.index, record.hash
                    )))
                }
            };
            let outcome = evm.execute(tx.tx_env(), true).map_err(|e| match e {
                Error::MissingState { .. } => e.reading(format_args!(
                    "the recorded transaction at block {} tx {} ({})",
                    block.number, record.index, record.hash
                )),
                e => Error::Mismatch(format!(
                    "block {} tx {} ({}): the EVM refused the recorded transaction (a damaged or tampered dataset?): {e}",
                    block.number, record.index, record.hash
                ))
            })?;
            cumulative_gas = cumulative_gas.saturating_add(outcome.gas_used);
            let key = (block.number, record.index);
            let no_logs = Vec::new();
            let recorded_logs = recorded.logs.get(&key).unwrap_or(&no_logs);
            fidelity.transactions += 1;
            fidelity.gas_used = fidelity.gas_used.saturating_add(outcome.gas_used);
            let difference = if record.index != position {
                Some(format!(
                    "transaction index {} recorded at position {position} of the block",
                    record.index
                ))
            } else {
                match recorded.receipts.get(&key) {
                    None => Some("no receipt recorded".to_string()),
                    Some(receipt) => {
                        compare_receipt(receipt, recorded_logs, &outcome, cumulative_gas)
                    }
                }
            };
            match difference {
                None => fidelity.receipts_matched += 1,
                Some(difference) => fidelity.diverge(
                    strict,
                    format!(
                        "block {} tx {} ({}): {difference}",
                        block.number, record.index, record.hash
                    ),
                )?,
            }
            let replayed = ReplayedTx::new(record.index, tx, &outcome);
            hooks.on_transaction(evm, block, &replayed)?;
            if hooks.moves_prices(&replayed) {
                fidelity.price_updates += 1;
                hooks.on_price_update(evm, block, &replayed)?;
            }
            tx_cursor += 1;
            position = position.saturating_add(1);
        }
        hooks.on_block_end(evm, block)?;
        fidelity.blocks += 1;
        if let Some(p) = progress {
            p.inc(1);
        }
    }
    if let Some(stray) = window.transactions.get(tx_cursor) {
        return Err(Error::Mismatch(format!(
            "{} transactions belong to no block of the window (in order), the first at block {} tx {} ({})",
            window.transactions.len() - tx_cursor,
            stray.block,
            stray.index,
            stray.hash
        )));
    }
    Ok(fidelity)
}

/// Every transaction of `window` decoded and its sender recovered, in parallel on the rayon pool
/// (signature recovery is about half of executing a block; reth recovers senders the same way,
/// in a stage of their own), in window order.
pub fn decode_all(window: &Window) -> Vec<Result<SignedTx>> {
    use rayon::prelude::*;
    window
        .transactions
        .par_iter()
        .map(|record| SignedTx::decode(&record.raw))
        .collect()
}

/// Where a partial replay starts: a block's position in `window.blocks` and the position of that
/// block's first transaction in `window.transactions`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReplayStart {
    /// Position of the first block to replay in `window.blocks`.
    pub block: usize,
    /// Position of that block's first transaction in `window.transactions`.
    pub tx: usize,
}

/// Replays part of `window` on `evm` (which must hold the state at `start`): every block from
/// `start.block` up to the block at position `stop_block`, of which only the transactions with an
/// index ≤ `stop_tx` run (`None`: none, the state at the top of that block, after
/// `on_block_start`). Hooks are called as [`replay`] calls them; receipts are not compared (a full
/// [`replay`] does that). Returns how many transactions ran.
pub fn replay_until<DB, H>(
    evm: &mut Evm<DB>,
    window: &Window,
    start: ReplayStart,
    stop_block: usize,
    stop_tx: Option<u32>,
    hooks: &mut H,
) -> Result<usize>
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
    H: ReplayHooks<DB>,
{
    let blocks = window
        .blocks
        .get(start.block..=stop_block)
        .ok_or_else(|| Error::Database(format!("no blocks {}..={stop_block}", start.block)))?;
    let mut tx_cursor = start.tx;
    let mut ran = 0usize;
    for (k, block) in blocks.iter().enumerate() {
        let last = k + 1 == blocks.len();
        evm.set_block(block_env(block));
        hooks.on_block_start(evm, block)?;
        while let Some(record) = window.transactions.get(tx_cursor) {
            if record.block != block.number {
                break;
            }
            if last && stop_tx.is_none_or(|stop| record.index > stop) {
                break;
            }
            let tx = SignedTx::decode(&record.raw)?;
            let outcome = evm.execute(tx.tx_env(), true)?;
            let replayed = ReplayedTx::new(record.index, &tx, &outcome);
            hooks.on_transaction(evm, block, &replayed)?;
            if hooks.moves_prices(&replayed) {
                hooks.on_price_update(evm, block, &replayed)?;
            }
            tx_cursor += 1;
            ran += 1;
        }
        if !last {
            hooks.on_block_end(evm, block)?;
        }
    }
    Ok(ran)
}

/// What differs between a recorded receipt and a replayed outcome (None when equal).
fn compare_receipt(
    receipt: &ReceiptRecord,
    logs: &[&LogRecord],
    outcome: &TxOutcome,
    cumulative_gas: u64,
) -> Option<String> {
    if receipt.success != outcome.success {
        return Some(format!(
            "status recorded {} replayed {}",
            receipt.success, outcome.success
        ));
    }
    if receipt.gas_used != outcome.gas_used {
        return Some(format!(
            "gas used recorded {} replayed {}",
            receipt.gas_used, outcome.gas_used
        ));
    }
    if receipt.cumulative_gas_used != cumulative_gas {
        return Some(format!(
            "cumulative gas used recorded {} replayed {}",
            receipt.cumulative_gas_used, cumulative_gas
        ));
    }
    if logs.len() != outcome.logs.len() {
        return Some(format!(
            "{} logs recorded, {} replayed",
            logs.len(),
            outcome.logs.len()
        ));
    }
    for (i, (r, l)) in logs.iter().zip(&outcome.logs).enumerate() {
        if r.log_index as usize != i {
            return Some(format!("log {i} recorded with log index {}", r.log_index));
        }
        if r.address != l.address || r.topics.as_slice() != l.topics() || r.data != l.data.data {
            return Some(format!("log {i} differs"));
        }
    }
    None
}
