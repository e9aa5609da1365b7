//! Opportunity ledger: one row per stretch of time a position is liquidatable (health factor < 1),
//! from the first block it was seen below 1 to how it ended.

use std::collections::{BTreeMap, BTreeSet};

use alloy_primitives::map::{AddressMap, AddressSet};
use std::sync::Arc;

use alloy_primitives::{Address, B256, I256, U256};
use serde::{Deserialize, Serialize};

use revm::database_interface::DBErrorMarker;
use revm::DatabaseRef;

use crate::data::records::BlockRecord;
use crate::engine::replay::ReplayHooks;
use crate::error::Result;
use crate::evm::executor::Evm;
use crate::evm::replayed::ReplayedTx;
use crate::protocol::market::{
    best_liquidation, BestLiquidation, BookUpdates, DeferredPosition, Position,
};
use crate::protocol::{AnyBook, AnyMarket, LendingMarket, MarketState, PositionBook};

/// How an opportunity ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ending {
    /// Liquidated (fully or until the health factor recovered).
    Liquidated,
    /// The health factor went back to ≥ 1 without a liquidation (prices, repay, top-up).
    Recovered,
    /// Still liquidatable when the window ended.
    OpenAtEnd,
}

impl Ending {
    /// Column value in outputs.
    pub fn as_str(&self) -> &'static str {
        match self {
            Ending::Liquidated => "liquidated",
            Ending::Recovered => "recovered",
            Ending::OpenAtEnd => "open_at_end",
        }
    }
}

/// One historical liquidation of the position.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoricalLiquidation {
    /// Block.
    pub block: u64,
    /// Position of the transaction in its block.
    pub tx_index: u32,
    /// Transaction hash.
    pub tx_hash: B256,
    /// Who liquidated.
    pub liquidator: Address,
    /// Collateral reserve index.
    pub collateral: usize,
    /// Debt reserve index.
    pub debt: usize,
    /// Debt repaid (`LiquidationCall.debtToCover`).
    pub debt_repaid: U256,
    /// Collateral received (`liquidatedCollateralAmount`).
    pub collateral_received: U256,
    /// Priority fee per gas the liquidator paid.
    pub priority_fee_per_gas: u128,
    /// Collateral value received minus debt value repaid at the oracle then (base currency).
    pub bonus_value_base: I256,
}

/// One liquidation opportunity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Opportunity {
    /// Sequence number in the window (order of opening).
    pub id: u64,
    /// The borrower.
    pub user: Address,
    /// First block in which the position was liquidatable (HF < 1).
    pub first_block: u64,
    /// The transaction of `first_block` after which it was first liquidatable (a price update,
    /// an accrual, a borrow); `None` when it already was at the top of the block.
    pub first_tx_index: Option<u32>,
    /// Last block in which it was liquidatable (the window's last block when it is open at the
    /// end).
    pub last_block: u64,
    /// Lowest health factor seen (WAD).
    pub min_health_factor: U256,
    /// Best bonus value available at any check (base currency, 8 decimals), with its pair.
    pub best_bonus_value_base: I256,
    /// Collateral reserve of the best pair.
    pub best_collateral: usize,
    /// Debt reserve of the best pair.
    pub best_debt: usize,
    /// How it ended.
    pub ending: Ending,
    /// Block it ended at (None while open at the end).
    pub end_block: Option<u64>,
    /// Historical liquidations of it, in order.
    pub liquidations: Vec<HistoricalLiquidation>,
}

/// The ledger: open opportunities by user, and every opportunity in opening order.
#[derive(Debug, Clone, Default)]
pub struct OpportunityLedger {
    open: BTreeMap<Address, usize>,
    all: Vec<Opportunity>,
    /// The latest block replayed so far.
    latest_block: u64,
    /// Checks so far (each check's sequence number: the earliest of equal best bonuses wins, in
    /// whatever order deferred checks are settled).
    checks: u64,
    /// Per opportunity, the sequence number of the check its best bonus comes from.
    best_check: Vec<u64>,
}

/// A check of an open opportunity whose figures were computed after the replay moved on
/// ([`OpportunityLedger::extend`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settled {
    /// Opportunity id.
    pub opportunity_id: u64,
    /// The check's sequence number.
    pub check: u64,
    /// Health factor then (WAD).
    pub health_factor: U256,
    /// Best liquidation then.
    pub best: Option<BestLiquidation>,
}

impl OpportunityLedger {
    /// An empty ledger.
    pub fn new() -> Self {
        Self::default()
    }

    /// Notes that the replay reached `block` (the window's last block closes what is open).
    pub fn at_block(&mut self, block: u64) {
        self.latest_block = self.latest_block.max(block);
    }

    /// Records a health check of `user` in `block`, after its transaction `tx_index` (`None`: at
    /// the top of the block): opens or extends an opportunity while HF < 1, closes an open one
    /// once HF ≥ 1 (or the debt is gone).
    pub fn observe(
        &mut self,
        user: Address,
        block: u64,
        tx_index: Option<u32>,
        health_factor: U256,
        best: Option<BestLiquidation>,
    ) {
        self.at_block(block);
        let check = self.next_check();
        let liquidatable = health_factor < crate::math::aave::HEALTH_FACTOR_LIQUIDATION_THRESHOLD;
        match (self.open.get(&user).copied(), liquidatable) {
            (None, true) => {
                let id = self.all.len() as u64;
                self.best_check.push(check);
                let (bonus, c, d) = best
                    .map(|b| (b.bonus_value_base, b.collateral, b.debt))
                    .unwrap_or((I256::ZERO, 0, 0));
                self.all.push(Opportunity {
                    id,
                    user,
                    first_block: block,
                    first_tx_index: tx_index,
                    last_block: block,
                    min_health_factor: health_factor,
                    best_bonus_value_base: bonus,
                    best_collateral: c,
                    best_debt: d,
                    ending: Ending::OpenAtEnd,
                    end_block: None,
                    liquidations: Vec::new(),
                });
                self.open.insert(user, id as usize);
            }
            (Some(i), true) => {
                self.all[i].last_block = block;
                self.merge(i, check, health_factor, best);
            }
            (Some(i), false) => {
                let o = &mut self.all[i];
                // Liquidatable until this transaction of `block`, or until the previous block
                // when it recovered between blocks.
                let until = if tx_index.is_some() {
                    block
                } else {
                    block.saturating_sub(1)
                };
                o.last_block = o.last_block.max(until);
                o.ending = if o.liquidations.is_empty() {
                    Ending::Recovered
                } else {
                    Ending::Liquidated
                };
                o.end_block = Some(block);
                self.open.remove(&user);
            }
            (None, false) => {}
        }
    }

    fn next_check(&mut self) -> u64 {
        self.checks += 1;
        self.checks
    }

    /// Takes a check's health factor and best liquidation into opportunity `i`: the lowest health
    /// factor, and the best bonus (of equal ones, the earliest check's).
    fn merge(&mut self, i: usize, check: u64, health_factor: U256, best: Option<BestLiquidation>) {
        let o = &mut self.all[i];
        o.min_health_factor = o.min_health_factor.min(health_factor);
        if let Some(b) = best {
            let earlier = check < self.best_check[i];
            if b.bonus_value_base > o.best_bonus_value_base
                || (b.bonus_value_base == o.best_bonus_value_base && earlier)
            {
                o.best_bonus_value_base = b.bonus_value_base;
                o.best_collateral = b.collateral;
                o.best_debt = b.debt;
                self.best_check[i] = check;
            }
        }
    }

    /// Notes a check of `user` in `block` that found it still liquidatable, its figures to follow
    /// ([`Self::settle`]); returns the opportunity's id and the check's sequence number (`None`
    /// when it has no open opportunity).
    pub fn extend(&mut self, user: &Address, block: u64) -> Option<(u64, u64)> {
        self.at_block(block);
        let i = *self.open.get(user)?;
        let check = self.next_check();
        self.all[i].last_block = block;
        Some((i as u64, check))
    }

    /// Takes in the figures of a check noted by [`Self::extend`].
    pub fn settle(&mut self, settled: Settled) -> Result<()> {
        let i = usize::try_from(settled.opportunity_id)
            .ok()
            .filter(|i| *i < self.all.len())
            .ok_or_else(|| {
                crate::error::Error::Mismatch(format!(
                    "a settled check names opportunity {} of {}",
                    settled.opportunity_id,
                    self.all.len()
                ))
            })?;
        if !crate::math::aave::is_liquidatable(settled.health_factor) {
            return Err(crate::error::Error::Mismatch(format!(
                "the skip filter kept opportunity {} open at check {} but its health factor was {} (not below 1): the filter's bound does not hold",
                settled.opportunity_id, settled.check, settled.health_factor
            )));
        }
        self.merge(i, settled.check, settled.health_factor, settled.best);
        Ok(())
    }

    /// Records a historical liquidation (call before observing the user's new health).
    pub fn on_liquidation(&mut self, user: Address, liquidation: HistoricalLiquidation) {
        if let Some(&i) = self.open.get(&user) {
            self.all[i].liquidations.push(liquidation);
        }
    }

    /// The open opportunity of `user`, if any.
    pub fn open_for(&self, user: &Address) -> Option<&Opportunity> {
        self.open.get(user).map(|&i| &self.all[i])
    }

    /// Open opportunities, by user.
    pub fn open(&self) -> impl Iterator<Item = &Opportunity> {
        self.open.values().map(|&i| &self.all[i])
    }

    /// Every opportunity so far, in opening order.
    pub fn all(&self) -> &[Opportunity] {
        &self.all
    }

    /// Ends the window: what is still open stays `OpenAtEnd`, liquidatable until the window's
    /// last block; returns every opportunity.
    pub fn finish(mut self) -> Vec<Opportunity> {
        for &i in self.open.values() {
            self.all[i].last_block = self.all[i].last_block.max(self.latest_block);
        }
        self.all
    }
}

/// The book's prices and value factors ([`PositionBook::value_factors`]) at one point of the
/// replay, the factors as floats (for the skip filter only; decisions use the exact values).
#[derive(Debug, Clone, PartialEq)]
struct Factors {
    prices: Vec<U256>,
    exact: Vec<(U256, U256)>,
    collateral: Vec<f64>,
    debt: Vec<f64>,
}

impl Factors {
    fn new(prices: Vec<U256>, exact: Vec<(U256, U256)>) -> Self {
        Self {
            collateral: exact.iter().map(|(c, _)| factor_f64(*c)).collect(),
            debt: exact.iter().map(|(_, d)| factor_f64(*d)).collect(),
            prices,
            exact,
        }
    }

    /// True when every collateral factor is at least `earlier`'s and every debt factor too, at
    /// the same prices (interest only: bounds against an earlier scan stay valid).
    fn grew_from(&self, earlier: &Factors) -> bool {
        self.prices == earlier.prices
            && self.exact.len() == earlier.exact.len()
            && self
                .exact
                .iter()
                .zip(&earlier.exact)
                .all(|(now, then)| now.0 >= then.0 && now.1 >= then.1)
    }

    /// The most any debt term has grown since `earlier` (≥ 1), every collateral term having grown
    /// too ([`Self::grew_from`]).
    fn debt_growth(&self, earlier: &Factors) -> f64 {
        self.debt
            .iter()
            .zip(&earlier.debt)
            .filter(|(_, then)| **then > 0.0)
            .map(|(now, then)| now / then)
            .fold(1.0, f64::max)
    }
}

/// A health factor (WAD) as a float.
fn hf_f64(health_factor: U256) -> f64 {
    f64::from(health_factor) / 1e18
}

/// A factor as a float for ratios (scale-free: only ratios over time are taken).
fn factor_f64(value: U256) -> f64 {
    f64::from(value)
}

/// What a user's last health check saw: its health factor, the factors then, and what it held (for
/// the skip filter only; decisions use the exact values).
#[derive(Debug, Clone)]
struct LastCheck {
    health_factor: f64,
    factors: Arc<Factors>,
    /// Bitmasks of the assets held as collateral and borrowed.
    collateral: u64,
    debt: u64,
}

impl LastCheck {
    /// Lower and upper bounds of the health factor at factors `now`, the position unchanged: the
    /// checked health factor times the lowest (highest) ratio of its collateral's factors since
    /// the check, over the highest (lowest) ratio of its debt's. Each collateral term moves by its
    /// asset's ratio and each debt term by its own, so the weighted sums move by ratios between
    /// those extremes. A factor that cannot be compared (zero then, or not finite now) gives the
    /// widest bounds (0 and infinity).
    fn bounds(&self, now: &Factors) -> (f64, f64) {
        let then = &*self.factors;
        let ratio = |a: &[f64], b: &[f64], i: usize| match (a.get(i), b.get(i)) {
            (Some(now), Some(then)) if *then > 0.0 && now.is_finite() => Some(now / then),
            _ => None,
        };
        // The lowest and highest ratio over the collateral held and over the debt owed, 1
        // included (a conservative widening that also covers a side holding nothing).
        let (mut c_low, mut c_high, mut d_low, mut d_high) = (1.0f64, 1.0f64, 1.0f64, 1.0f64);
        for i in 0..now.debt.len().max(then.debt.len()) {
            // Assets past the masks' 64 bits count as held.
            let bit = 1u64.checked_shl(i as u32).unwrap_or(u64::MAX);
            if self.collateral & bit != 0 {
                let (low, high) = ratio(&now.collateral, &then.collateral, i)
                    .map_or((0.0, f64::INFINITY), |r| (r, r));
                c_low = c_low.min(low);
                c_high = c_high.max(high);
            }
            if self.debt & bit != 0 {
                let (low, high) =
                    ratio(&now.debt, &then.debt, i).map_or((0.0, f64::INFINITY), |r| (r, r));
                d_low = d_low.min(low);
                d_high = d_high.max(high);
            }
        }
        (
            self.health_factor * c_low / d_high,
            self.health_factor * c_high / d_low,
        )
    }
}

/// One user's health check, before it is recorded.
struct Assessed {
    health_factor: U256,
    best: Option<BestLiquidation>,
    /// True when the position's debt is small enough for fixed-point rounding to matter against
    /// the skip filter's margin (it is then checked at every hook point).
    dust: bool,
}

/// Where the checks of open opportunities that surely stay open at a hook point are computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Deferral {
    /// In place, as every other check (each figure in the ledger when the hook returns).
    Off,
    /// On the rayon pool beside the replay, taken into the ledger by
    /// [`OpportunityTracker::settle`].
    Background,
    /// Handed over after each hook point ([`OpportunityTracker::take_deferred`]) to whoever builds
    /// the same positions anyway (the strategy runner's evaluator), which settles them.
    Handoff,
}

/// A check of an open opportunity noted at a hook point (it surely stays open: the skip filter's
/// upper bound of its health factor is below 1) whose position and figures are computed later.
pub struct Deferred {
    /// Opportunity id.
    pub opportunity_id: u64,
    /// The check's sequence number in the ledger.
    pub check: u64,
    /// The borrower.
    pub user: Address,
    /// Its position at the hook point.
    pub position: DeferredPosition,
}

impl Deferred {
    /// Builds the position and computes its health factor and best liquidation (the exact shared
    /// math, as an in-place check would).
    pub fn run(self) -> Result<(Settled, Box<dyn Position>)> {
        let position = (self.position)()?;
        let (health_factor, best) = health_and_best(&*position)?;
        Ok((
            Settled {
                opportunity_id: self.opportunity_id,
                check: self.check,
                health_factor,
                best,
            },
            position,
        ))
    }
}

/// A position's health factor and, when it is liquidatable, its best liquidation (the exact
/// shared math of every check, in place or deferred).
fn health_and_best(position: &dyn Position) -> Result<(U256, Option<BestLiquidation>)> {
    let health_factor = position.health_factor()?;
    let best = if crate::math::aave::is_liquidatable(health_factor) {
        best_liquidation(position)?
    } else {
        None
    };
    Ok((health_factor, best))
}

/// Deferred checks per background task.
const BACKGROUND_BATCH: usize = 1024;

/// Deferred checks waiting beyond which the replay waits for the background task.
const BACKGROUND_BACKLOG: usize = 64 * BACKGROUND_BATCH;

/// Waits for the background task's figures, running the pool's pending jobs meanwhile (a thread of
/// the pool never blocks on a task that may be queued behind it).
fn wait_helping(
    receiver: &std::sync::mpsc::Receiver<Result<Vec<Settled>>>,
) -> Result<Result<Vec<Settled>>> {
    loop {
        match receiver.try_recv() {
            Ok(settled) => return Ok(settled),
            Err(std::sync::mpsc::TryRecvError::Disconnected) => return Err(stopped()),
            Err(std::sync::mpsc::TryRecvError::Empty) => {
                if !matches!(rayon::yield_now(), Some(rayon::Yield::Executed)) {
                    std::thread::sleep(std::time::Duration::from_micros(50));
                }
            }
        }
    }
}

fn stopped() -> crate::error::Error {
    crate::error::Error::Mismatch("a background health check stopped".into())
}

/// Deferred checks being computed on the pool, and where their figures come back.
struct Background {
    sender: std::sync::mpsc::Sender<Result<Vec<Settled>>>,
    receiver: std::sync::mpsc::Receiver<Result<Vec<Settled>>>,
    in_flight: bool,
}

/// Replay hooks that keep the market's book of borrowers and the opportunity ledger up to date.
pub struct OpportunityTracker {
    /// The market.
    pub market: AnyMarket,
    /// Every borrower's position.
    pub book: AnyBook,
    /// Opportunity ledger.
    pub ledger: OpportunityLedger,
    /// Historical liquidations by liquidator.
    pub liquidations_by: BTreeMap<Address, u64>,
    decimals: Vec<u8>,
    /// Per user: what its last health check saw.
    last_check: AddressMap<LastCheck>,
    /// Users whose health-factor bound is at most [`WATCH_CAP`], by that bound: the bound at the
    /// last full scan, or the health factor of a check since then (see [`Self::observe_all`]).
    watch: BTreeSet<(u64, Address)>,
    /// Each watched user's key in `watch`.
    watched: AddressMap<u64>,
    /// Users with dust debt: checked at every hook point.
    dust: AddressSet,
    /// Whether a full scan has checked every user of the book.
    scanned_once: bool,
    /// The book's factors now (after the last hook or transaction).
    factors: Option<Arc<Factors>>,
    /// The factors at the last full scan, while the bounds kept since then hold (cleared by a
    /// price move or any factor that went down).
    scan: Option<Arc<Factors>>,
    /// Whether checks and skip-filter bounds are computed in parallel on the rayon pool (off
    /// while another worker evaluates strategies alongside the replay: waiting for a parallel
    /// part, this thread would take up the evaluation's work and hold up the replay).
    pub parallel: bool,
    /// What the tracker did (checks by kind, skip-filter scans): debug logs and benchmarks.
    pub stats: TrackerStats,
    /// Where checks that surely stay open are computed.
    pub deferral: Deferral,
    /// Deferred checks not handed over or sent yet.
    deferred: Vec<Deferred>,
    /// (In a mutex only to keep the tracker `Sync`: it is reached through `&mut self`.)
    background: Option<std::sync::Mutex<Background>>,
}

/// Counts of the tracker's work over a replay.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrackerStats {
    /// Health checks at the top of blocks.
    pub checks_at_block_start: u64,
    /// Health checks after price updates.
    pub checks_at_price_updates: u64,
    /// Health checks of users a transaction touched.
    pub checks_after_transactions: u64,
    /// Full skip-filter scans (every user's bound).
    pub scans: u64,
    /// Skip-filter bounds computed.
    pub bounds: u64,
    /// Of the checks at hook points, those deferred ([`Deferral`]).
    pub deferred: u64,
}

/// Health checks per parallel task (fewer run on the calling thread: waking another costs more).
const PARALLEL_CHECKS: usize = 32;

/// Skip-filter bounds per parallel task.
const PARALLEL_BOUNDS: usize = 4096;

/// The skip filter's relative margin: a user is due while a lower bound of its health factor is at
/// most 1 + this. Health factors are computed in fixed point, each value term rounded by at most a
/// base unit or so: relative to a debt of at least [`DUST_DEBT_BASE`] that stays below 1e-8, so the
/// ratios of two computed health factors follow the ratios of the factors behind them to well
/// within this margin.
const MARGIN: f64 = 1e-6;

/// Debt value (USD, 8 decimals: $10) below which a position is checked at every hook point (its
/// rounding could exceed [`MARGIN`]).
const DUST_DEBT_BASE: u64 = 1_000_000_000;

/// Bounds above this are not watched: a debt growth since the last full scan that would bring one
/// of them within the margin makes a new full scan.
const WATCH_CAP: f64 = 1.05;

/// True when a health-factor bound does not clear the margin (the user must be checked).
fn within_margin(bound: f64) -> bool {
    bound.partial_cmp(&(1.0 + MARGIN)) != Some(std::cmp::Ordering::Greater)
}

/// A non-negative float as a key that sorts as the float does.
fn key_of(bound: f64) -> u64 {
    bound.max(0.0).to_bits()
}

impl OpportunityTracker {
    /// A tracker over `market`, seeded with the users holding positions at the window's start.
    pub fn new<DB>(
        market: &AnyMarket,
        evm: &mut Evm<DB>,
        users_at_start: &[Address],
    ) -> Result<Self>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        Ok(Self {
            book: market.book(evm, users_at_start)?,
            decimals: market.decimals(),
            market: market.clone(),
            ledger: OpportunityLedger::new(),
            liquidations_by: BTreeMap::new(),
            last_check: AddressMap::default(),
            watch: BTreeSet::new(),
            watched: AddressMap::default(),
            dust: AddressSet::default(),
            scanned_once: false,
            factors: None,
            scan: None,
            parallel: true,
            stats: TrackerStats::default(),
            deferral: Deferral::Off,
            deferred: Vec::new(),
            background: None,
        })
    }

    fn observe(&mut self, user: Address, block: u64, tx_index: Option<u32>) -> Result<()> {
        let factors = self.refresh_factors();
        let assessed = self.assess(user)?;
        self.record(user, assessed, block, tx_index, &factors);
        Ok(())
    }

    /// Checks `users` in this order: their health factors and best liquidations computed in
    /// parallel (reads only), then recorded one after another (the ledger's order is theirs).
    fn observe_many(&mut self, users: &[Address], block: u64, tx_index: Option<u32>) -> Result<()> {
        use rayon::prelude::*;
        let factors = self.refresh_factors();
        let this = &*self;
        // In place unless parallel (a parallel loop called off the pool waits for a worker).
        let assessed: Vec<Result<Assessed>> = if self.parallel {
            users
                .par_iter()
                .with_min_len(PARALLEL_CHECKS)
                .map(|u| this.assess(*u))
                .collect()
        } else {
            users.iter().map(|u| this.assess(*u)).collect()
        };
        for (user, assessed) in users.iter().zip(assessed) {
            self.record(*user, assessed?, block, tx_index, &factors);
        }
        Ok(())
    }

    /// The book's factors now, shared by every check until they change. A change that is not
    /// interest alone (a price, a factor that went down) ends what the last full scan's bounds
    /// say: the next hook point scans everyone.
    fn refresh_factors(&mut self) -> Arc<Factors> {
        let prices = self.book.oracle_prices();
        let exact = self.book.value_factors();
        if let Some(f) = &self.factors {
            if f.prices == prices && f.exact == exact {
                return f.clone();
            }
        }
        let now = Arc::new(Factors::new(prices, exact));
        if !self
            .factors
            .as_ref()
            .is_some_and(|earlier| now.grew_from(earlier))
        {
            self.scan = None;
        }
        self.factors = Some(now.clone());
        now
    }

    /// A user's health factor (MAX without a position) and, when liquidatable, its best
    /// liquidation, from the exact shared math.
    fn assess(&self, user: Address) -> Result<Assessed> {
        let position = self.book.position(&user)?;
        let (health_factor, best) = match &position {
            Some(p) => health_and_best(&**p)?,
            None => (U256::MAX, None),
        };
        // Only a position the filter would watch needs its debt's size.
        let dust = match &position {
            Some(p) if hf_f64(health_factor) <= WATCH_CAP => {
                let mut debt = U256::ZERO;
                for h in p.holdings().iter().filter(|h| h.borrowing) {
                    debt = debt.saturating_add(crate::math::aave::debt_value_base(
                        h.debt, h.price, h.decimals,
                    )?);
                }
                debt < U256::from(DUST_DEBT_BASE)
            }
            _ => false,
        };
        Ok(Assessed {
            health_factor,
            best,
            dust,
        })
    }

    /// Records a check in the ledger and the skip filter.
    fn record(
        &mut self,
        user: Address,
        assessed: Assessed,
        block: u64,
        tx_index: Option<u32>,
        factors: &Arc<Factors>,
    ) {
        let Assessed {
            health_factor,
            best,
            dust,
        } = assessed;
        self.ledger
            .observe(user, block, tx_index, health_factor, best);
        let hf = hf_f64(health_factor);
        // Checked at these factors: since the last full scan, under interest alone, its health
        // factor is at least this over the scan's debt growth (see `observe_all`).
        self.watch_at(user, (!dust && hf <= WATCH_CAP).then_some(hf));
        if dust {
            self.dust.insert(user);
        } else {
            self.dust.remove(&user);
        }
        let (collateral, debt) = self.book.exposure(&user).unwrap_or((u64::MAX, u64::MAX));
        self.last_check.insert(
            user,
            LastCheck {
                health_factor: hf,
                factors: factors.clone(),
                collateral,
                debt,
            },
        );
    }

    /// Puts `user` in the watch list under `bound`, or takes it out.
    fn watch_at(&mut self, user: Address, bound: Option<f64>) {
        if let Some(old) = self.watched.remove(&user) {
            self.watch.remove(&(old, user));
        }
        if let Some(bound) = bound {
            let key = key_of(bound);
            self.watch.insert((key, user));
            self.watched.insert(user, key);
        }
    }

    /// Checks every user whose health factor could have crossed 1 since it was last computed.
    ///
    /// A user is skipped while a lower bound of its health factor stays above 1 + [`MARGIN`]: the
    /// last health factor scaled by the lowest ratio of its collateral's value factors (price ×
    /// balance index, [`PositionBook::value_factors`]) since then and divided by the highest ratio
    /// of its debt's. This is only a filter; every health factor recorded comes from the exact
    /// shared math.
    ///
    /// A full scan evaluates that bound for everyone and keeps those up to [`WATCH_CAP`] in a
    /// list sorted by it. While the prices stay those of the scan and no factor goes down (only
    /// interest accrues: the top of most blocks), a watched bound is still a bound once divided by
    /// the highest debt growth of any asset since the scan, and a user checked since then is
    /// listed under its health factor then (the debt grew less since then). So the users due are
    /// a prefix of the list (plus the dust positions), and only they are checked; a price move or
    /// a factor that went down makes a full scan.
    fn observe_all(&mut self, block: u64, tx_index: Option<u32>) -> Result<()> {
        let now = self.refresh_factors();
        if let Some(scan) = &self.scan {
            let limit = (1.0 + MARGIN) * now.debt_growth(scan);
            if limit <= WATCH_CAP {
                let mut due: Vec<Address> = self
                    .watch
                    .range(..=(key_of(limit), Address::repeat_byte(0xff)))
                    .map(|(_, user)| *user)
                    .chain(self.dust.iter().copied())
                    .collect();
                due.sort_unstable();
                due.dedup();
                self.count_checks(due.len(), tx_index);
                return self.check_due(due, &now, block, tx_index);
            }
        }
        let this = &*self;
        // Everyone in the book has been checked once the first scan is done (a user joins the
        // book through a transaction that touches it, and is checked then): from then on, serial
        // scans walk the checks themselves (no lookups; users that left the book have no debt).
        let bounds: Vec<(Address, Option<f64>)> = if this.parallel || !this.scanned_once {
            let everyone = this.book.users();
            let bounds: Vec<Option<f64>> = if this.parallel {
                use rayon::prelude::*;
                everyone
                    .par_iter()
                    .with_min_len(PARALLEL_BOUNDS)
                    .map(|user| this.bound(user, &now))
                    .collect()
            } else {
                everyone.iter().map(|user| this.bound(user, &now)).collect()
            };
            everyone.into_iter().zip(bounds).collect()
        } else {
            this.last_check
                .iter()
                .map(|(user, last)| (*user, Some(last.bounds(&now).0)))
                .collect()
        };
        let scanned = bounds.len();
        let mut watched = Vec::new();
        let mut due = Vec::new();
        for (user, bound) in bounds {
            match bound {
                Some(b) if !self.dust.contains(&user) => {
                    if b <= WATCH_CAP {
                        watched.push((key_of(b), user));
                    }
                    if within_margin(b) {
                        due.push(user);
                    }
                }
                _ => due.push(user),
            }
        }
        due.sort_unstable();
        watched.sort_unstable();
        self.watched = watched.iter().map(|(key, user)| (*user, *key)).collect();
        self.watch = watched.into_iter().collect();
        self.stats.scans += 1;
        self.stats.bounds += scanned as u64;
        self.count_checks(due.len(), tx_index);
        self.scan = Some(now.clone());
        self.check_due(due, &now, block, tx_index)?;
        self.scanned_once = true;
        Ok(())
    }

    /// Checks the users due at a hook point, in place or (those surely still liquidatable, with
    /// deferral on) deferred.
    fn check_due(
        &mut self,
        due: Vec<Address>,
        now: &Factors,
        block: u64,
        tx_index: Option<u32>,
    ) -> Result<()> {
        if self.deferral == Deferral::Off {
            return self.observe_many(&due, block, tx_index);
        }
        let (sure, exact): (Vec<Address>, Vec<Address>) = due
            .into_iter()
            .partition(|user| self.surely_open(user, now));
        self.observe_many(&exact, block, tx_index)?;
        self.stats.deferred += sure.len() as u64;
        let positions = self.book.deferred_positions(&sure)?;
        for (user, position) in sure.iter().zip(positions) {
            let (Some(position), Some((opportunity_id, check))) =
                (position, self.ledger.extend(user, block))
            else {
                return Err(crate::error::Error::Mismatch(format!(
                    "{user} was deferred as an open opportunity without one or without a position"
                )));
            };
            self.deferred.push(Deferred {
                opportunity_id,
                check,
                user: *user,
                position,
            });
        }
        if self.deferral == Deferral::Background {
            self.pump_background()?;
        }
        Ok(())
    }

    /// True when `user` has an open opportunity that an upper bound of its health factor at
    /// factors `now` (its last in-place check scaled by the highest ratio of its collateral's
    /// factors and the lowest of its debt's) keeps below 1 with the margin to spare.
    fn surely_open(&self, user: &Address, now: &Factors) -> bool {
        if self.dust.contains(user) || self.ledger.open_for(user).is_none() {
            return false;
        }
        let Some(last) = self.last_check.get(user) else {
            return false;
        };
        last.bounds(now).1 * (1.0 + MARGIN) < 1.0
    }

    /// The deferred checks of the last hook point, for the caller to settle (`Deferral::Handoff`).
    pub fn take_deferred(&mut self) -> Vec<Deferred> {
        std::mem::take(&mut self.deferred)
    }

    /// `Deferral::Background`: takes in the figures of a finished background task, and starts
    /// the next once [`BACKGROUND_BATCH`] checks wait. One task runs at a time, so that the
    /// checks take at most one core beside the replay's; past [`BACKGROUND_BACKLOG`] waiting
    /// checks the replay waits for it (memory stays bounded).
    fn pump_background(&mut self) -> Result<()> {
        let waiting = self.deferred.len();
        let background = self
            .background
            .get_or_insert_with(|| {
                let (sender, receiver) = std::sync::mpsc::channel();
                std::sync::Mutex::new(Background {
                    sender,
                    receiver,
                    in_flight: false,
                })
            })
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let finished = if !background.in_flight {
            None
        } else if waiting >= BACKGROUND_BACKLOG {
            Some(wait_helping(&background.receiver)?)
        } else {
            background.receiver.try_recv().ok()
        };
        if finished.is_some() {
            background.in_flight = false;
        }
        if !background.in_flight && waiting >= BACKGROUND_BATCH {
            let batch = std::mem::take(&mut self.deferred);
            let sender = background.sender.clone();
            background.in_flight = true;
            rayon::spawn(move || {
                let settled = batch
                    .into_iter()
                    .map(|d| d.run().map(|(settled, _)| settled))
                    .collect();
                // The receiver lives as long as the tracker: a closed one means it was dropped.
                let _ = sender.send(settled);
            });
        }
        for settled in finished.transpose()?.unwrap_or_default() {
            self.ledger.settle(settled)?;
        }
        Ok(())
    }

    /// Takes every deferred check's figures into the ledger: waits for the background task, then
    /// computes the checks left (in parallel). Call before reading the ledger's figures.
    pub fn settle(&mut self) -> Result<()> {
        use rayon::prelude::*;
        if let Some(background) = self.background.as_mut() {
            let background = background
                .get_mut()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if background.in_flight {
                let settled = wait_helping(&background.receiver)??;
                background.in_flight = false;
                for s in settled {
                    self.ledger.settle(s)?;
                }
            }
        }
        let left: Vec<Result<Settled>> = std::mem::take(&mut self.deferred)
            .into_par_iter()
            .map(|d| d.run().map(|(settled, _)| settled))
            .collect();
        for settled in left {
            self.ledger.settle(settled?)?;
        }
        Ok(())
    }

    fn count_checks(&mut self, n: usize, tx_index: Option<u32>) {
        match tx_index {
            None => self.stats.checks_at_block_start += n as u64,
            Some(_) => self.stats.checks_at_price_updates += n as u64,
        }
    }

    /// A lower bound of `user`'s health factor at factors `now` (see [`Self::observe_all`]);
    /// `None` for a user never checked.
    fn bound(&self, user: &Address, now: &Factors) -> Option<f64> {
        self.last_check.get(user).map(|last| last.bounds(now).0)
    }

    /// The book of every tracked borrower.
    pub fn book(&self) -> &AnyBook {
        &self.book
    }

    /// Collateral value received minus debt value repaid by a historical liquidation, at the
    /// oracle now (USD, 8 decimals); 0 for an asset outside the market.
    fn bonus_value(
        &self,
        collateral: usize,
        debt: usize,
        received: U256,
        paid: U256,
    ) -> Result<I256> {
        let (Some(cd), Some(dd)) = (self.decimals.get(collateral), self.decimals.get(debt)) else {
            return Ok(I256::ZERO);
        };
        let received = crate::math::aave::collateral_value_base(
            received,
            self.book.usd_price(collateral),
            *cd,
        )?;
        let paid = crate::math::aave::debt_value_base(paid, self.book.usd_price(debt), *dd)?;
        Ok(I256::from_raw(received) - I256::from_raw(paid))
    }
}

impl<DB> ReplayHooks<DB> for OpportunityTracker
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    fn on_block_start(&mut self, _evm: &mut Evm<DB>, block: &BlockRecord) -> Result<()> {
        self.book.set_timestamp(block.timestamp)?;
        self.ledger.at_block(block.number);
        // Interest moves health factors between blocks: every block, each user whose health
        // factor could have crossed 1 since it was last computed is checked.
        self.observe_all(block.number, None)
    }

    fn on_transaction(
        &mut self,
        evm: &mut Evm<DB>,
        block: &BlockRecord,
        tx: &ReplayedTx<'_>,
    ) -> Result<()> {
        if !tx.outcome.success {
            return Ok(());
        }
        for e in self.market.liquidations(evm, &tx.outcome.logs)? {
            *self.liquidations_by.entry(e.liquidator).or_default() += 1;
            let bonus_value_base =
                self.bonus_value(e.collateral, e.debt, e.collateral_received, e.debt_repaid)?;
            self.ledger.on_liquidation(
                e.user,
                HistoricalLiquidation {
                    block: block.number,
                    tx_index: tx.index,
                    tx_hash: tx.tx.hash,
                    liquidator: e.liquidator,
                    collateral: e.collateral,
                    debt: e.debt,
                    debt_repaid: e.debt_repaid,
                    collateral_received: e.collateral_received,
                    priority_fee_per_gas: tx.tx.priority_fee(),
                    bonus_value_base,
                },
            );
        }
        let touched: Vec<Address> = self
            .book
            .apply_logs(evm, &tx.outcome.logs)?
            .into_iter()
            .collect();
        self.stats.checks_after_transactions += touched.len() as u64;
        match touched.as_slice() {
            [] => {}
            [user] => self.observe(*user, block.number, Some(tx.index))?,
            _ => self.observe_many(&touched, block.number, Some(tx.index))?,
        }
        Ok(())
    }

    fn moves_prices(&self, tx: &ReplayedTx<'_>) -> bool {
        BookUpdates::<DB>::moves_prices(&self.book, tx)
    }

    fn on_price_update(
        &mut self,
        evm: &mut Evm<DB>,
        block: &BlockRecord,
        tx: &ReplayedTx<'_>,
    ) -> Result<()> {
        self.book.apply_price_update(evm, tx)?;
        self.observe_all(block.number, Some(tx.index))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hf(milli: u64) -> U256 {
        U256::from(milli) * U256::from(10u64).pow(U256::from(15u64))
    }

    #[test]
    fn opens_extends_and_closes() {
        let mut l = OpportunityLedger::new();
        let a = Address::repeat_byte(1);
        l.observe(a, 10, None, hf(1100), None);
        assert!(l.all().is_empty());
        // Liquidatable after the price update at tx 3 of block 11.
        l.observe(a, 11, Some(3), hf(990), None);
        l.observe(a, 12, None, hf(970), None);
        let o = l.open_for(&a).unwrap();
        assert_eq!((o.first_block, o.first_tx_index), (11, Some(3)));
        assert_eq!(o.min_health_factor, hf(970));
        // Recovered between blocks 12 and 13: liquidatable until block 12.
        l.observe(a, 13, None, hf(1001), None);
        assert_eq!(l.all()[0].ending, Ending::Recovered);
        assert_eq!(l.all()[0].end_block, Some(13));
        assert_eq!(l.all()[0].last_block, 12);
        l.observe(a, 20, None, hf(900), None);
        l.on_liquidation(
            a,
            HistoricalLiquidation {
                block: 21,
                tx_index: 0,
                tx_hash: B256::ZERO,
                liquidator: Address::repeat_byte(9),
                collateral: 0,
                debt: 1,
                debt_repaid: U256::from(1u64),
                collateral_received: U256::from(1u64),
                priority_fee_per_gas: 1,
                bonus_value_base: I256::ZERO,
            },
        );
        // Liquidated by tx 0 of block 21: liquidatable in block 21 until then.
        l.observe(a, 21, Some(0), hf(1050), None);
        // A back-run window: liquidatable only between tx 2 and tx 4 of block 30.
        let b = Address::repeat_byte(2);
        l.observe(b, 30, Some(2), hf(950), None);
        l.observe(b, 30, Some(4), hf(1010), None);
        // Open at the end of a window that runs to block 40.
        let c = Address::repeat_byte(3);
        l.observe(c, 35, None, hf(800), None);
        l.at_block(40);
        let all = l.finish();
        assert_eq!(all.len(), 4);
        assert_eq!(all[1].ending, Ending::Liquidated);
        assert_eq!((all[1].first_block, all[1].last_block), (20, 21));
        assert_eq!(all[1].liquidations[0].liquidator, Address::repeat_byte(9));
        assert_eq!(
            (all[2].first_block, all[2].first_tx_index, all[2].last_block),
            (30, Some(2), 30)
        );
        assert_eq!((all[3].ending, all[3].last_block), (Ending::OpenAtEnd, 40));
    }

    fn best(collateral: usize, bonus: i64) -> BestLiquidation {
        BestLiquidation {
            collateral,
            debt: 1,
            outcome: Default::default(),
            bonus_value_base: I256::try_from(bonus).unwrap(),
        }
    }

    #[test]
    fn deferred_checks_settled_in_any_order_give_the_in_place_figures() {
        let a = Address::repeat_byte(1);
        // In place: opened at block 10, then two checks with equal best bonuses (the first wins).
        let mut in_place = OpportunityLedger::new();
        in_place.observe(a, 10, None, hf(990), Some(best(0, 5)));
        in_place.observe(a, 11, None, hf(980), Some(best(1, 7)));
        in_place.observe(a, 12, None, hf(970), Some(best(2, 7)));
        // Deferred: the same checks noted, their figures settled last one first.
        let mut deferred = OpportunityLedger::new();
        deferred.observe(a, 10, None, hf(990), Some(best(0, 5)));
        let (id, first) = deferred.extend(&a, 11).unwrap();
        let (_, second) = deferred.extend(&a, 12).unwrap();
        assert_eq!(deferred.open_for(&a).unwrap().last_block, 12);
        let settle = |check, milli, b| Settled {
            opportunity_id: id,
            check,
            health_factor: hf(milli),
            best: Some(b),
        };
        deferred.settle(settle(second, 970, best(2, 7))).unwrap();
        deferred.settle(settle(first, 980, best(1, 7))).unwrap();
        assert_eq!(deferred.all(), in_place.all());
        assert_eq!(deferred.all()[0].best_collateral, 1);
        // A settled check that is not liquidatable means the filter's bound failed: an error.
        let err = deferred
            .settle(settle(first, 1000, best(1, 1)))
            .unwrap_err();
        assert!(err.to_string().contains("bound does not hold"), "{err}");
        // Nothing to extend for a user without an open opportunity.
        assert!(deferred.extend(&Address::repeat_byte(2), 13).is_none());
    }

    fn factors(collateral: &[u64], debt: &[u64]) -> Arc<Factors> {
        let exact = collateral
            .iter()
            .zip(debt)
            .map(|(c, d)| (U256::from(*c), U256::from(*d)))
            .collect();
        Arc::new(Factors::new(
            vec![U256::from(1u64); collateral.len()],
            exact,
        ))
    }

    #[test]
    fn the_bounds_follow_interest_and_prices_of_what_is_held() {
        // Collateral in asset 0, debt in asset 1; asset 2 not held.
        let then = factors(
            &[1_000_000, 1_000_000, 1_000_000],
            &[1_000_000, 1_000_000, 1_000_000],
        );
        let last = LastCheck {
            health_factor: 1.003,
            factors: then,
            collateral: 0b001,
            debt: 0b010,
        };
        // Interest alone: the debt's factor grew 0.5 % (a long window): the lower bound falls
        // below 1, so the user is due (a fixed 1.002 margin would have skipped it).
        let interest = factors(
            &[1_000_000, 1_000_000, 1_000_000],
            &[1_000_000, 1_005_000, 1_000_000],
        );
        let (low, high) = last.bounds(&interest);
        assert!((low - 1.003 / 1.005).abs() < 1e-12 && within_margin(low));
        assert!((high - 1.003).abs() < 1e-12);
        // The collateral's price down 10 %, the unheld asset's down 50 %: only the first counts.
        let crash = factors(
            &[900_000, 1_000_000, 500_000],
            &[1_000_000, 1_000_000, 500_000],
        );
        let (low, high) = last.bounds(&crash);
        assert!((low - 1.003 * 0.9).abs() < 1e-12, "{low}");
        assert!((high - 1.003).abs() < 1e-12, "{high}");
        // The debt's price down 20 %: the upper bound rises by 1/0.8, the lower stays.
        let cheaper_debt = factors(
            &[1_000_000, 800_000, 1_000_000],
            &[1_000_000, 800_000, 1_000_000],
        );
        let (low, high) = last.bounds(&cheaper_debt);
        assert!((low - 1.003).abs() < 1e-12 && (high - 1.003 / 0.8).abs() < 1e-12);
        // A factor that cannot be compared (zero at the check): the widest bounds.
        let unknown = LastCheck {
            factors: factors(&[0, 1, 1], &[1, 1, 1]),
            ..last.clone()
        };
        assert_eq!(unknown.bounds(&crash), (0.0, f64::INFINITY));
        // Factors that only grew at the same prices keep the scan's bounds; a price move does not.
        assert!(interest.grew_from(&factors(&[1_000_000; 3], &[1_000_000; 3])));
        assert!(!crash.grew_from(&factors(&[1_000_000; 3], &[1_000_000; 3])));
        assert!(
            (interest.debt_growth(&factors(&[1_000_000; 3], &[1_000_000; 3])) - 1.005).abs()
                < 1e-12
        );
    }
}
