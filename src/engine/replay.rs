//! Block replay: executes every recorded transaction of every block in order from the pre-state,
//! with each header's block environment, checks each receipt against the recorded one, and calls
//! hooks at the top of each block, after each transaction and after each oracle price update.

use indicatif::ProgressBar;
use revm::database_interface::DBErrorMarker;
use revm::DatabaseRef;
use serde::Serialize;

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
}

/// Hooks that do nothing (bare replay).
pub struct NoHooks;
impl<DB> ReplayHooks<DB> for NoHooks
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker,
{
}

/// How faithfully the replay reproduced the recorded window.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Fidelity {
    /// Blocks replayed.
    pub blocks: u64,
    /// Transactions replayed.
    pub transactions: u64,
    /// Receipts equal to the recorded ones (status, gas used, logs).
    pub receipts_matched: u64,
    /// Gas used by all replayed transactions.
    pub gas_used: u64,
    /// Oracle price updates seen.
    pub price_updates: u64,
    /// The first divergence, named.
    pub first_divergence: Option<String>,
}

impl Fidelity {
    /// Share of receipts matched, in percent.
    pub fn matched_percent(&self) -> f64 {
        if self.transactions == 0 {
            100.0
        } else {
            self.receipts_matched as f64 * 100.0 / self.transactions as f64
        }
    }
}

/// Replays `window` on `evm` (which must hold the window's pre-state). With `strict`, the first
/// receipt divergence stops the replay with an error naming it.
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
    let mut fidelity = Fidelity::default();
    let mut tx_cursor = 0usize;
    let mut log_cursor = 0usize;
    for block in &window.blocks {
        evm.set_block(block_env(block));
        hooks.on_block_start(evm, block)?;
        while tx_cursor < window.transactions.len()
            && window.transactions[tx_cursor].block == block.number
        {
            let record = &window.transactions[tx_cursor];
            let receipt = window.receipts.get(tx_cursor).ok_or_else(|| {
                Error::Database(format!("transaction {} has no receipt", record.hash))
            })?;
            let tx = SignedTx::decode(&record.raw)?;
            let outcome = evm.execute(tx.tx_env(), true)?;
            let log_start = log_cursor;
            while log_cursor < window.logs.len()
                && window.logs[log_cursor].block == block.number
                && window.logs[log_cursor].tx_index == record.index
            {
                log_cursor += 1;
            }
            let recorded_logs = &window.logs[log_start..log_cursor];
            fidelity.transactions += 1;
            fidelity.gas_used += outcome.gas_used;
            match compare_receipt(receipt, recorded_logs, &outcome) {
                None => fidelity.receipts_matched += 1,
                Some(difference) => {
                    let message = format!(
                        "block {} tx {} ({}): {difference}",
                        block.number, record.index, record.hash
                    );
                    if strict {
                        return Err(Error::Mismatch(format!("replay diverged at {message}")));
                    }
                    if fidelity.first_divergence.is_none() {
                        fidelity.first_divergence = Some(message);
                    }
                }
            }
            let replayed = ReplayedTx::new(record.index, &tx, &outcome);
            hooks.on_transaction(evm, block, &replayed)?;
            if hooks.moves_prices(&replayed) {
                fidelity.price_updates += 1;
                hooks.on_price_update(evm, block, &replayed)?;
            }
            tx_cursor += 1;
        }
        fidelity.blocks += 1;
        if let Some(p) = progress {
            p.inc(1);
        }
    }
    if tx_cursor != window.transactions.len() {
        return Err(Error::Database(format!(
            "{} transactions belong to no block of the window",
            window.transactions.len() - tx_cursor
        )));
    }
    Ok(fidelity)
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
    }
    Ok(ran)
}

/// What differs between a recorded receipt and a replayed outcome (None when equal).
fn compare_receipt(
    receipt: &ReceiptRecord,
    logs: &[LogRecord],
    outcome: &TxOutcome,
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
    if logs.len() != outcome.logs.len() {
        return Some(format!(
            "{} logs recorded, {} replayed",
            logs.len(),
            outcome.logs.len()
        ));
    }
    for (i, (r, l)) in logs.iter().zip(&outcome.logs).enumerate() {
        if r.address != l.address || r.topics.as_slice() != l.topics() || r.data != l.data.data {
            return Some(format!("log {i} differs"));
        }
    }
    None
}
