//! Opportunity ledger: one row per stretch of time a position is liquidatable (health factor < 1),
//! from the first block it was seen below 1 to how it ended.

use std::collections::BTreeMap;

use alloy_primitives::{Address, B256, I256, U256};
use serde::Serialize;

use revm::database_interface::DBErrorMarker;
use revm::DatabaseRef;

use crate::engine::borrowers::{BestLiquidation, BorrowerIndex};
use crate::engine::evm::Evm;
use crate::engine::replay::{ReplayHooks, ReplayedTx};
use crate::error::Result;
use crate::protocol::aave_v3::{decode_events, AaveV3Market, PoolEvent};
use crate::source::records::BlockRecord;

/// How an opportunity ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
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
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Opportunity {
    /// Sequence number in the window (order of opening).
    pub id: u64,
    /// The borrower.
    pub user: Address,
    /// First block the position was seen with HF < 1.
    pub first_block: u64,
    /// Last block it was seen with HF < 1.
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
}

impl OpportunityLedger {
    /// An empty ledger.
    pub fn new() -> Self {
        Self::default()
    }

    /// Records a health check of `user` at `block`: opens or extends an opportunity while HF < 1,
    /// closes an open one once HF ≥ 1 (or the debt is gone).
    pub fn observe(
        &mut self,
        user: Address,
        block: u64,
        health_factor: U256,
        best: Option<BestLiquidation>,
    ) {
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

    /// Ends the window: what is still open stays `OpenAtEnd`; returns every opportunity.
    pub fn finish(self) -> Vec<Opportunity> {
        self.all
    }
}

/// What a user's last health check saw: its health factor and the prices then, as floats (for the
/// sweep's skip filter only; decisions use the exact values).
#[derive(Debug, Clone)]
struct LastCheck {
    health_factor: f64,
    prices: Vec<f64>,
}

/// A price as a float for ratios (scale-free: only ratios of prices are taken).
fn price_f64(price: U256) -> f64 {
    price.saturating_to::<u128>() as f64
}

/// Replay hooks that keep the borrower index and the opportunity ledger up to date.
pub struct OpportunityTracker {
    /// Borrower index.
    pub index: BorrowerIndex,
    /// Opportunity ledger.
    pub ledger: OpportunityLedger,
    /// Historical liquidations by liquidator.
    pub liquidations_by: BTreeMap<Address, u64>,
    started: bool,
    /// Per user: health factor and prices when it was last computed.
    last_check: BTreeMap<Address, LastCheck>,
}

impl OpportunityTracker {
    /// A tracker over `market`, seeded with the users holding positions at the window's start.
    pub fn new<DB>(
        market: &AaveV3Market,
        evm: &mut Evm<DB>,
        users_at_start: &[Address],
    ) -> Result<Self>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        let mut index = BorrowerIndex::new(market, evm)?;
        for user in users_at_start {
            index.refresh_user(evm, *user)?;
        }
        Ok(Self {
            index,
            ledger: OpportunityLedger::new(),
            liquidations_by: BTreeMap::new(),
            started: false,
            last_check: BTreeMap::new(),
        })
    }

    fn observe(&mut self, user: Address, block: u64) -> Result<()> {
        let account = self.index.account_data(&user)?;
        let best = if crate::math::aave::is_liquidatable(account.health_factor) {
            self.index.best_liquidation(&user)?
        } else {
            None
        };
        self.ledger
            .observe(user, block, account.health_factor, best);
        let prices = self
            .index
            .reserves()
            .iter()
            .map(|r| price_f64(r.price))
            .collect();
        self.last_check.insert(
            user,
            LastCheck {
                health_factor: account.health_factor.saturating_to::<u128>() as f64 / 1e18,
                prices,
            },
        );
        Ok(())
    }

    /// Checks every user whose health factor could have crossed 1 since it was last computed.
    ///
    /// A user is skipped when a lower bound of its health factor stays above 1: the last health
    /// factor scaled by the worst collateral price ratio and the worst debt price ratio since
    /// then, with a margin for interest accrued between checks. This is only a filter; every
    /// health factor that is recorded comes from the exact shared math.
    fn observe_all(&mut self, block: u64) -> Result<()> {
        const MARGIN: f64 = 1.002;
        let now: Vec<f64> = self
            .index
            .reserves()
            .iter()
            .map(|r| price_f64(r.price))
            .collect();
        let mut due = Vec::new();
        for (user, position) in self.index.users() {
            let Some(last) = self.last_check.get(user) else {
                due.push(*user);
                continue;
            };
            let mut bound = last.health_factor;
            for (i, (p_now, p_then)) in now.iter().zip(&last.prices).enumerate() {
                if p_now == p_then || *p_then == 0.0 {
                    continue;
                }
                let ratio = p_now / p_then;
                if position.config.bit(2 * i + 1) && ratio < 1.0 {
                    bound *= ratio;
                }
                if position.config.bit(2 * i) && ratio > 1.0 {
                    bound /= ratio;
                }
            }
            if bound.partial_cmp(&MARGIN) != Some(std::cmp::Ordering::Greater) {
                due.push(*user);
            }
        }
        for user in due {
            self.observe(user, block)?;
        }
        Ok(())
    }
}

impl<DB> ReplayHooks<DB> for OpportunityTracker
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    fn on_block_start(&mut self, _evm: &mut Evm<DB>, block: &BlockRecord) -> Result<()> {
        self.index.set_timestamp(block.timestamp)?;
        // Interest drifts health factors slowly: a full sweep at the start and every 25 blocks.
        if !self.started || block.number % 25 == 0 {
            self.started = true;
            self.observe_all(block.number)?;
        }
        Ok(())
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
        let market = self.index.market();
        for event in decode_events(market.pool, &tx.outcome.logs) {
            let PoolEvent::LiquidationCall(e) = event else {
                continue;
            };
            *self.liquidations_by.entry(e.liquidator).or_default() += 1;
            let position = |asset: Address| {
                market
                    .reserves
                    .iter()
                    .position(|r| r.underlying == asset)
                    .unwrap_or(usize::MAX)
            };
            let (collateral, debt) = (position(e.collateralAsset), position(e.debtAsset));
            let states = self.index.reserves();
            let configs = self.index.configs();
            let bonus_value_base = match (states.get(collateral), states.get(debt)) {
                (Some(c), Some(d)) => {
                    let received = crate::math::aave::collateral_value_base(
                        e.liquidatedCollateralAmount,
                        c.price,
                        configs[collateral].decimals,
                    )?;
                    let paid = crate::math::aave::debt_value_base(
                        e.debtToCover,
                        d.price,
                        configs[debt].decimals,
                    )?;
                    I256::from_raw(received) - I256::from_raw(paid)
                }
                _ => I256::ZERO,
            };
            self.ledger.on_liquidation(
                e.user,
                HistoricalLiquidation {
                    block: block.number,
                    tx_index: tx.index,
                    tx_hash: tx.tx.hash,
                    liquidator: e.liquidator,
                    collateral,
                    debt,
                    debt_repaid: e.debtToCover,
                    collateral_received: e.liquidatedCollateralAmount,
                    priority_fee_per_gas: tx.tx.priority_fee(),
                    bonus_value_base,
                },
            );
        }
        let touched = self.index.apply_logs(evm, &tx.outcome.logs)?;
        for user in touched {
            self.observe(user, block.number)?;
        }
        Ok(())
    }

    fn on_price_update(
        &mut self,
        evm: &mut Evm<DB>,
        block: &BlockRecord,
        tx: &ReplayedTx<'_>,
    ) -> Result<()> {
        self.index.apply_price_updates(evm, &tx.price_updates)?;
        self.observe_all(block.number)
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
        l.observe(a, 10, hf(1100), None);
        assert!(l.all().is_empty());
        l.observe(a, 11, hf(990), None);
        l.observe(a, 12, hf(970), None);
        assert_eq!(l.open_for(&a).unwrap().first_block, 11);
        assert_eq!(l.open_for(&a).unwrap().min_health_factor, hf(970));
        l.observe(a, 13, hf(1001), None);
        assert_eq!(l.all()[0].ending, Ending::Recovered);
        assert_eq!(l.all()[0].end_block, Some(13));
        l.observe(a, 20, hf(900), None);
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
        l.observe(a, 21, hf(1050), None);
        let all = l.finish();
        assert_eq!(all.len(), 2);
        assert_eq!(all[1].ending, Ending::Liquidated);
        assert_eq!(all[1].liquidations[0].liquidator, Address::repeat_byte(9));
    }
}
