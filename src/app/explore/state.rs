//! The explorer's state at any point of a window: one full replay when it opens (receipt checks,
//! opportunity ledger, a checkpoint of the state and the book every K blocks, the timeline), then
//! any point (block, transaction index) from the nearest checkpoint before it plus a short replay.

use std::collections::BTreeMap;
use std::time::Instant;

use alloy_primitives::{Address, B256};
use serde::Serialize;

use crate::data::records::{BlockRecord, Window};
use crate::engine::opportunities::{Opportunity, OpportunityTracker};
use crate::engine::replay::{replay, replay_until, Fidelity, ReplayHooks, ReplayStart};
use crate::error::{Error, Result};
use crate::evm::executor::Evm;
use crate::evm::replayed::ReplayedTx;
use crate::evm::state::{PrestateDb, ReplayDb};
use crate::evm::tx::SignedTx;
use crate::protocol::market::BookUpdates;
use crate::protocol::{AnyBook, AnyMarket, LendingMarket, PositionBook};

/// Default distance between checkpoints, in blocks.
pub const DEFAULT_CHECKPOINT_EVERY: usize = 50;

/// A point of the window: a block, and the state after one of its transactions (`tx`) or at its
/// top, before its first transaction (`tx = None`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Point {
    /// Block number.
    pub block: u64,
    /// Index of the transaction after which the state is taken; `None`: the top of the block.
    pub tx: Option<u32>,
}

/// Why a point or a request cannot be answered: the caller's mistake (shown as is).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadInput {
    /// Malformed or out-of-range input (HTTP 400).
    Invalid(String),
    /// Something named that does not exist at this point (HTTP 404).
    NotFound(String),
}

impl BadInput {
    /// The message.
    pub fn message(&self) -> &str {
        match self {
            BadInput::Invalid(m) | BadInput::NotFound(m) => m,
        }
    }
}

/// The explorer's own errors: bad input, or a failure of liqsim itself.
#[derive(Debug)]
pub enum ExploreError {
    /// The caller's mistake.
    Bad(BadInput),
    /// A failure inside liqsim (HTTP 500).
    Internal(Error),
}

impl From<Error> for ExploreError {
    fn from(e: Error) -> Self {
        ExploreError::Internal(e)
    }
}

impl std::fmt::Display for ExploreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ExploreError::Bad(b) => f.write_str(b.message()),
            ExploreError::Internal(e) => write!(f, "{e}"),
        }
    }
}

/// Result of an explorer call.
pub type ExploreResult<T> = std::result::Result<T, ExploreError>;

/// `Err(Invalid(message))`.
pub fn invalid<T>(message: impl Into<String>) -> ExploreResult<T> {
    Err(ExploreError::Bad(BadInput::Invalid(message.into())))
}

/// `Err(NotFound(message))`.
pub fn not_found<T>(message: impl Into<String>) -> ExploreResult<T> {
    Err(ExploreError::Bad(BadInput::NotFound(message.into())))
}

/// One block of the timeline.
#[derive(Debug, Clone, Serialize)]
pub struct BlockRow {
    /// Block number.
    pub number: u64,
    /// Unix timestamp.
    pub timestamp: u64,
    /// Base fee, gwei.
    pub base_fee_gwei: f64,
    /// Transactions in the block.
    pub transactions: u32,
    /// Oracle prices (USD) at the end of the block, in market order.
    pub prices_usd: Vec<f64>,
}

/// One historical liquidation of the window (from the recorded logs).
#[derive(Debug, Clone, Serialize)]
pub struct LiquidationRow {
    /// Block.
    pub block: u64,
    /// Transaction index in the block.
    pub tx_index: u32,
    /// Transaction hash.
    pub tx_hash: B256,
    /// The borrower.
    pub user: Address,
    /// Who liquidated.
    pub liquidator: Address,
    /// The liquidator's name (devnet competitors), else its address.
    pub liquidator_name: String,
    /// Priority fee per gas paid, gwei.
    pub tip_gwei: f64,
}

/// A saved state: the EVM's write layer and the book at the top of a block.
struct Checkpoint {
    start: ReplayStart,
    db: ReplayDb,
    book: AnyBook,
}

/// Hooks of the opening replay: the opportunity tracker, plus checkpoints and the timeline.
struct Opening<'a> {
    tracker: OpportunityTracker,
    every: usize,
    checkpoints: Vec<Checkpoint>,
    rows: Vec<BlockRow>,
    block_pos: usize,
    tx_cursor: usize,
    symbols: usize,
    window: &'a Window,
}

impl Opening<'_> {
    fn prices(&self) -> Vec<f64> {
        (0..self.symbols)
            .map(|i| crate::math::profit::to_f64_lossy(self.tracker.book.usd_price(i), 8))
            .collect()
    }
}

impl ReplayHooks<PrestateDb> for Opening<'_> {
    fn on_block_start(&mut self, evm: &mut Evm<PrestateDb>, block: &BlockRecord) -> Result<()> {
        if self.block_pos.is_multiple_of(self.every) {
            self.checkpoints.push(Checkpoint {
                start: ReplayStart {
                    block: self.block_pos,
                    tx: self.tx_cursor,
                },
                db: evm.db().clone(),
                book: self.tracker.book.clone(),
            });
        }
        self.tracker.on_block_start(evm, block)?;
        let transactions = self.window.transactions[self.tx_cursor..]
            .iter()
            .take_while(|t| t.block == block.number)
            .count() as u32;
        self.rows.push(BlockRow {
            number: block.number,
            timestamp: block.timestamp,
            base_fee_gwei: block.base_fee as f64 / 1e9,
            transactions,
            prices_usd: self.prices(),
        });
        self.block_pos += 1;
        Ok(())
    }

    fn on_transaction(
        &mut self,
        evm: &mut Evm<PrestateDb>,
        block: &BlockRecord,
        tx: &ReplayedTx<'_>,
    ) -> Result<()> {
        self.tx_cursor += 1;
        self.tracker.on_transaction(evm, block, tx)
    }

    fn moves_prices(&self, tx: &ReplayedTx<'_>) -> bool {
        ReplayHooks::<PrestateDb>::moves_prices(&self.tracker, tx)
    }

    fn on_price_update(
        &mut self,
        evm: &mut Evm<PrestateDb>,
        block: &BlockRecord,
        tx: &ReplayedTx<'_>,
    ) -> Result<()> {
        self.tracker.on_price_update(evm, block, tx)?;
        let prices = self.prices();
        if let Some(row) = self.rows.last_mut() {
            row.prices_usd = prices;
        }
        Ok(())
    }
}

/// Hooks of a short replay: only the book is kept current.
struct BookKeeper<'a> {
    book: &'a mut AnyBook,
}

impl ReplayHooks<PrestateDb> for BookKeeper<'_> {
    fn on_block_start(&mut self, _evm: &mut Evm<PrestateDb>, block: &BlockRecord) -> Result<()> {
        self.book.set_timestamp(block.timestamp)
    }

    fn on_transaction(
        &mut self,
        evm: &mut Evm<PrestateDb>,
        _block: &BlockRecord,
        tx: &ReplayedTx<'_>,
    ) -> Result<()> {
        if tx.outcome.success {
            self.book.apply_logs(evm, &tx.outcome.logs)?;
        }
        Ok(())
    }

    fn moves_prices(&self, tx: &ReplayedTx<'_>) -> bool {
        BookUpdates::<PrestateDb>::moves_prices(self.book, tx)
    }

    fn on_price_update(
        &mut self,
        evm: &mut Evm<PrestateDb>,
        _block: &BlockRecord,
        tx: &ReplayedTx<'_>,
    ) -> Result<()> {
        self.book.apply_price_update(evm, tx)
    }
}

/// The state at one point: the EVM (its block environment is the point's block) and the book.
pub struct StateAt {
    /// The point.
    pub point: Point,
    /// The replayed state, at the point's block.
    pub evm: Evm<PrestateDb>,
    /// Every tracked borrower, current at the point.
    pub book: AnyBook,
    /// Transactions replayed from the checkpoint.
    pub replayed_transactions: usize,
    /// Blocks replayed from the checkpoint (the point's block included).
    pub replayed_blocks: usize,
    /// Seconds the jump took (checkpoint clone + short replay).
    pub seconds: f64,
}

/// A window opened for exploring.
pub struct Explorer {
    /// The window.
    pub window: Window,
    /// Its market.
    pub market: AnyMarket,
    /// Competitor names by address.
    pub names: BTreeMap<Address, String>,
    /// How faithfully the opening replay reproduced the window.
    pub fidelity: Fidelity,
    /// The timeline, one row per block.
    pub blocks: Vec<BlockRow>,
    /// Historical liquidations, in order.
    pub liquidations: Vec<LiquidationRow>,
    /// Every opportunity of the window (the ledger), in opening order.
    pub opportunities: Vec<Opportunity>,
    /// Blocks between checkpoints.
    pub checkpoint_every: usize,
    /// Seconds the opening replay took.
    pub open_seconds: f64,
    checkpoints: Vec<Checkpoint>,
}

impl Explorer {
    /// Opens `window`: replays it once (receipts checked), keeping a checkpoint every
    /// `checkpoint_every` blocks.
    pub fn open(window: Window, checkpoint_every: usize) -> Result<Self> {
        let start = Instant::now();
        let every = checkpoint_every.max(1);
        let (details, mut evm) = crate::app::run::open_replay(&window)?;
        let tracker = OpportunityTracker::new(&details.market, &mut evm, &details.users_at_start)?;
        let symbols = details.market.symbols().len();
        let mut opening = Opening {
            tracker,
            every,
            checkpoints: Vec::new(),
            rows: Vec::with_capacity(window.blocks.len()),
            block_pos: 0,
            tx_cursor: 0,
            symbols,
            window: &window,
        };
        let fidelity = replay(&mut evm, &window, false, &mut opening, None)?;
        let Opening {
            tracker,
            checkpoints,
            rows,
            ..
        } = opening;
        let names: BTreeMap<Address, String> = details
            .competitors
            .iter()
            .chain(&details.competitor_contracts)
            .map(|(n, a)| (*a, n.clone()))
            .collect();
        let liquidations = liquidation_rows(&window, &details.market, &names)?;
        let seconds = start.elapsed().as_secs_f64();
        tracing::info!(
            blocks = rows.len(),
            checkpoints = checkpoints.len(),
            seconds,
            "explorer opened the window"
        );
        Ok(Self {
            market: details.market,
            names,
            fidelity,
            blocks: rows,
            liquidations,
            opportunities: tracker.ledger.finish(),
            checkpoint_every: every,
            open_seconds: seconds,
            checkpoints,
            window,
        })
    }

    /// Position of `block` in the window, or why it is outside.
    pub fn block_position(&self, block: u64) -> ExploreResult<usize> {
        let first = self.window.manifest.first_block;
        let last = self.window.manifest.last_block;
        match self
            .window
            .blocks
            .binary_search_by_key(&block, |b| b.number)
        {
            Ok(i) => Ok(i),
            Err(_) => invalid(format!(
                "block {block} is outside the window (blocks {first}..={last})"
            )),
        }
    }

    /// Checks a point: the block inside the window, the transaction index inside the block.
    pub fn check_point(&self, point: Point) -> ExploreResult<usize> {
        let pos = self.block_position(point.block)?;
        if let Some(tx) = point.tx {
            let count = self.blocks.get(pos).map(|b| b.transactions).unwrap_or(0);
            if tx >= count {
                return invalid(if count == 0 {
                    format!(
                        "block {} has no transactions; transaction index {tx} is past its end (leave the index out for the top of the block)",
                        point.block
                    )
                } else {
                    format!(
                        "block {} has {count} transactions (indexes 0..={}); transaction index {tx} is past its end",
                        point.block,
                        count - 1
                    )
                });
            }
        }
        Ok(pos)
    }

    /// The state at `point`: the nearest checkpoint at or before its block, cloned, and a short
    /// replay up to the point.
    pub fn state_at(&self, point: Point) -> ExploreResult<StateAt> {
        let start = Instant::now();
        let pos = self.check_point(point)?;
        let checkpoint = self
            .checkpoints
            .iter()
            .rev()
            .find(|c| c.start.block <= pos)
            .ok_or_else(|| Error::Database("no checkpoint before the point".into()))?;
        let mut evm = Evm::from_cache_db(checkpoint.db.clone(), self.window.manifest.chain_id);
        let mut book = checkpoint.book.clone();
        let ran = replay_until(
            &mut evm,
            &self.window,
            checkpoint.start,
            pos,
            point.tx,
            &mut BookKeeper { book: &mut book },
        )?;
        Ok(StateAt {
            point,
            evm,
            book,
            replayed_transactions: ran,
            replayed_blocks: pos + 1 - checkpoint.start.block,
            seconds: start.elapsed().as_secs_f64(),
        })
    }

    /// A liquidator's display name: the competitor's name, else the address.
    pub fn name_of(&self, who: &Address) -> String {
        self.names
            .get(who)
            .cloned()
            .unwrap_or_else(|| who.to_string())
    }
}

/// Every liquidation log of the window, with the liquidator's tip.
fn liquidation_rows(
    window: &Window,
    market: &AnyMarket,
    names: &BTreeMap<Address, String>,
) -> Result<Vec<LiquidationRow>> {
    let mut rows = Vec::new();
    let mut tips: BTreeMap<(u64, u32), (u128, B256)> = BTreeMap::new();
    for log in &window.logs {
        let Some((user, liquidator)) = market.liquidation_log(log.address, &log.topics, &log.data)
        else {
            continue;
        };
        let key = (log.block, log.tx_index);
        let (tip, hash) = match tips.get(&key) {
            Some(v) => *v,
            None => {
                let found = window
                    .transactions
                    .iter()
                    .find(|t| t.block == log.block && t.index == log.tx_index);
                let v = match found {
                    Some(t) => (SignedTx::decode(&t.raw)?.priority_fee(), t.hash),
                    None => (0, B256::ZERO),
                };
                tips.insert(key, v);
                v
            }
        };
        rows.push(LiquidationRow {
            block: log.block,
            tx_index: log.tx_index,
            tx_hash: hash,
            user,
            liquidator,
            liquidator_name: names
                .get(&liquidator)
                .cloned()
                .unwrap_or_else(|| liquidator.to_string()),
            tip_gwei: tip as f64 / 1e9,
        });
    }
    Ok(rows)
}
