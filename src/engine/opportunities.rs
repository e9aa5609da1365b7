//! Opportunity ledger: one row per stretch of time a position is liquidatable (health factor < 1),
//! from the first block it was seen below 1 to how it ended.

use std::collections::{BTreeMap, BTreeSet};

use alloy_primitives::{Address, B256, I256, U256};
use serde::{Deserialize, Serialize};

use revm::database_interface::DBErrorMarker;
use revm::DatabaseRef;

use crate::data::records::BlockRecord;
use crate::engine::replay::ReplayHooks;
use crate::error::Result;
use crate::evm::executor::Evm;
use crate::evm::replayed::ReplayedTx;
use crate::protocol::market::{best_liquidation, BestLiquidation, BookUpdates};
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
        let liquidatable = health_factor < crate::math::aave::HEALTH_FACTOR_LIQUIDATION_THRESHOLD;
        match (self.open.get(&user).copied(), liquidatable) {
            (None, true) => {
                let id = self.all.len() as u64;
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
                let o = &mut self.all[i];
                o.last_block = block;
                o.min_health_factor = o.min_health_factor.min(health_factor);
                if let Some(b) = best {
                    if b.bonus_value_base > o.best_bonus_value_base {
                        o.best_bonus_value_base = b.bonus_value_base;
                        o.best_collateral = b.collateral;
                        o.best_debt = b.debt;
                    }
                }
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

/// What a user's last health check saw: its health factor and the prices then, as floats (for the
/// sweep's skip filter only; decisions use the exact values).
#[derive(Debug, Clone)]
struct LastCheck {
    health_factor: f64,
    prices: std::sync::Arc<[f64]>,
}

/// One user's health check, before it is recorded.
struct Assessed {
    health_factor: U256,
    best: Option<BestLiquidation>,
}

/// A price as a float for ratios (scale-free: only ratios of prices are taken).
fn price_f64(price: U256) -> f64 {
    price.saturating_to::<u128>() as f64
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
    /// Per user: health factor and prices when it was last computed.
    last_check: BTreeMap<Address, LastCheck>,
    /// Users whose health-factor bound was at most [`MARGIN`] when last evaluated (by a check or
    /// a scan): while prices stay those of the last full scan, exactly these are due.
    near: BTreeSet<Address>,
    /// Prices and user count at the last full scan of [`Self::observe_all`].
    scan: Option<(Vec<f64>, usize)>,
    /// Whether checks and skip-filter bounds are computed in parallel on the rayon pool (off
    /// while another worker evaluates strategies alongside the replay: waiting for a parallel
    /// part, this thread would take up the evaluation's work and hold up the replay).
    pub parallel: bool,
}

/// Health checks per parallel task (fewer run on the calling thread: waking another costs more).
const PARALLEL_CHECKS: usize = 32;

/// Skip-filter bounds per parallel task.
const PARALLEL_BOUNDS: usize = 4096;

/// The skip filter's margin for interest accrued between checks.
const MARGIN: f64 = 1.002;

/// True when a health-factor bound does not clear the margin (the user must be checked).
fn within_margin(bound: f64) -> bool {
    bound.partial_cmp(&MARGIN) != Some(std::cmp::Ordering::Greater)
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
            last_check: BTreeMap::new(),
            near: BTreeSet::new(),
            scan: None,
            parallel: true,
        })
    }

    fn observe(&mut self, user: Address, block: u64, tx_index: Option<u32>) -> Result<()> {
        let prices = self.prices_now();
        let assessed = self.assess(user)?;
        self.record(user, assessed, block, tx_index, &prices);
        Ok(())
    }

    /// Checks `users` in this order: their health factors and best liquidations computed in
    /// parallel (reads only), then recorded one after another (the ledger's order is theirs).
    fn observe_many(&mut self, users: &[Address], block: u64, tx_index: Option<u32>) -> Result<()> {
        use rayon::prelude::*;
        let prices = self.prices_now();
        let this = &*self;
        let assessed: Vec<Result<Assessed>> = users
            .par_iter()
            .with_min_len(if self.parallel {
                PARALLEL_CHECKS
            } else {
                usize::MAX
            })
            .map(|u| this.assess(*u))
            .collect();
        for (user, assessed) in users.iter().zip(assessed) {
            self.record(*user, assessed?, block, tx_index, &prices);
        }
        Ok(())
    }

    /// The oracle prices now, as floats for the skip filter.
    fn prices_now(&self) -> std::sync::Arc<[f64]> {
        self.book
            .oracle_prices()
            .into_iter()
            .map(price_f64)
            .collect()
    }

    /// A user's health factor (MAX without a position) and, when liquidatable, its best
    /// liquidation, from the exact shared math.
    fn assess(&self, user: Address) -> Result<Assessed> {
        let position = self.book.position(&user)?;
        let health_factor = match &position {
            Some(p) => p.health_factor()?,
            None => U256::MAX,
        };
        let best = match &position {
            Some(p) if crate::math::aave::is_liquidatable(health_factor) => best_liquidation(&**p)?,
            _ => None,
        };
        Ok(Assessed {
            health_factor,
            best,
        })
    }

    /// Records a check in the ledger and the skip filter.
    fn record(
        &mut self,
        user: Address,
        assessed: Assessed,
        block: u64,
        tx_index: Option<u32>,
        prices: &std::sync::Arc<[f64]>,
    ) {
        let Assessed {
            health_factor,
            best,
        } = assessed;
        self.ledger
            .observe(user, block, tx_index, health_factor, best);
        let hf = health_factor.saturating_to::<u128>() as f64 / 1e18;
        if within_margin(hf) {
            self.near.insert(user);
        } else {
            self.near.remove(&user);
        }
        self.last_check.insert(
            user,
            LastCheck {
                health_factor: hf,
                prices: prices.clone(),
            },
        );
    }

    /// Checks every user whose health factor could have crossed 1 since it was last computed.
    ///
    /// A user is skipped when a lower bound of its health factor stays above 1: the last health
    /// factor scaled by the worst collateral price ratio and the worst debt price ratio since
    /// then, with a margin for interest accrued between checks. This is only a filter; every
    /// health factor that is recorded comes from the exact shared math.
    ///
    /// While prices are those of the last full scan (no update since: the top of most blocks),
    /// the users due are exactly those whose bound did not clear the margin when last evaluated
    /// (every check since then was at these prices), so only they are checked; any price move, or
    /// a user count that changed, makes a full scan.
    fn observe_all(&mut self, block: u64, tx_index: Option<u32>) -> Result<()> {
        let now: Vec<f64> = self
            .book
            .oracle_prices()
            .into_iter()
            .map(price_f64)
            .collect();
        let users = self.book.user_count();
        if self
            .scan
            .as_ref()
            .is_some_and(|(prices, count)| *prices == now && *count == users)
        {
            let due: Vec<Address> = self.near.iter().copied().collect();
            return self.observe_many(&due, block, tx_index);
        }
        self.near.clear();
        let everyone = self.book.users();
        let this = &*self;
        let due: Vec<Address> = {
            use rayon::prelude::*;
            everyone
                .par_iter()
                .with_min_len(if this.parallel {
                    PARALLEL_BOUNDS
                } else {
                    usize::MAX
                })
                .filter(|user| this.may_have_crossed(user, &now))
                .copied()
                .collect()
        };
        self.observe_many(&due, block, tx_index)?;
        self.scan = Some((now, users));
        Ok(())
    }

    /// True unless a lower bound of `user`'s health factor at prices `now` clears the margin
    /// (see [`Self::observe_all`]); true for a user never checked.
    fn may_have_crossed(&self, user: &Address, now: &[f64]) -> bool {
        let Some(last) = self.last_check.get(user) else {
            return true;
        };
        let (collateral, debt) = self.book.exposure(user).unwrap_or((u64::MAX, u64::MAX));
        let mut bound = last.health_factor;
        for (i, (p_now, p_then)) in now.iter().zip(last.prices.iter()).enumerate() {
            if p_now == p_then || *p_then == 0.0 {
                continue;
            }
            let ratio = p_now / p_then;
            let bit = 1u64.checked_shl(i as u32).unwrap_or(0);
            if collateral & bit != 0 && ratio < 1.0 {
                bound *= ratio;
            }
            if debt & bit != 0 && ratio > 1.0 {
                bound /= ratio;
            }
        }
        within_margin(bound)
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
}
