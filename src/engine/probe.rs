//! Probing while recording: at every hook point where an opportunity is open, the what-if
//! liquidations strategies could send (every collateral/debt pair of the borrower, the full or
//! close-factor size and a two-step split, from the one what-if liquidator) are executed on a
//! throwaway overlay, so that every account and slot they read is read through the recording
//! database and lands in the recorded pre-state.

use alloy_primitives::U256;
use rayon::prelude::*;
use revm::database_interface::DBErrorMarker;
use revm::DatabaseRef;

use crate::data::records::BlockRecord;
use crate::engine::opportunities::OpportunityTracker;
use crate::engine::replay::ReplayHooks;
use crate::engine::whatif::{what_if_liquidations, what_if_liquidator, WhatIfAt};
use crate::error::{Error, Result};
use crate::evm::executor::Evm;
use crate::evm::replayed::ReplayedTx;
use crate::math::aave::is_liquidatable;
use crate::protocol::market::LiquidationRequest;
use crate::protocol::{Position, PositionBook};

/// Priority fee per gas of the probes, wei (what a what-if reads does not depend on it; a
/// non-zero tip pays the block's beneficiary, as the strategies' tips do).
const PROBE_TIP_WEI: u128 = 1_000_000_000;

/// Replay hooks of a recording: the opportunity tracker (as `liqsim run` keeps it), and, when
/// `enabled`, the probes at each of the strategy runner's hook points (the top of every block,
/// after every price update).
pub struct Prober {
    /// The tracker (book and ledger), as the strategy runner keeps it.
    pub tracker: OpportunityTracker,
    /// False: only the tracker (a recording holds what the replay alone reads).
    pub enabled: bool,
    /// Hook points at which something was probed.
    pub hook_points: u64,
    /// What-if executions (each a sequence of one or two liquidation calls).
    pub what_ifs: u64,
}

impl Prober {
    /// Probes around `tracker` (or, when not `enabled`, only the tracker).
    pub fn new(tracker: OpportunityTracker, enabled: bool) -> Self {
        Self {
            tracker,
            enabled,
            hook_points: 0,
            what_ifs: 0,
        }
    }

    /// Runs every probe of this hook point on overlays of `evm`'s state.
    fn probe<DB>(&mut self, evm: &Evm<DB>) -> Result<()>
    where
        DB: DatabaseRef + Sync,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        if !self.enabled {
            return Ok(());
        }
        let plans = self.plans()?;
        if plans.is_empty() {
            return Ok(());
        }
        self.hook_points += 1;
        self.what_ifs += plans.len() as u64;
        let at = WhatIfAt {
            state: evm.db(),
            block: evm.block(),
            chain_id: evm.chain_id(),
            market: &self.tracker.market,
        };
        let liquidator = what_if_liquidator();
        let failures: Vec<Error> = plans
            .par_iter()
            .filter_map(|(user, position, steps)| {
                what_if_liquidations(&at, liquidator, *user, &**position, steps, PROBE_TIP_WEI)
                    .err()
            })
            .collect();
        // A read that failed (the node) ends the recording; any other failure (a pair the
        // protocol refuses, a token `deal` cannot fund) only means that probe read less: a run
        // that needs more fails on it by name.
        match failures.into_iter().find(is_state_error) {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// The what-ifs to probe now: for each open opportunity whose borrower is liquidatable, each
    /// pair of a collateral it holds (enabled) and a debt it owes, `debtToCover = max` alone and
    /// split in two (half the protocol's amount, then the rest), in ledger order.
    #[allow(clippy::type_complexity)]
    fn plans(
        &self,
    ) -> Result<
        Vec<(
            alloy_primitives::Address,
            std::sync::Arc<dyn Position>,
            Vec<LiquidationRequest>,
        )>,
    > {
        let mut plans = Vec::new();
        let book = &self.tracker.book;
        for o in self.tracker.ledger.open() {
            let Some(position) = book.position(&o.user)? else {
                continue;
            };
            if !is_liquidatable(position.health_factor()?) {
                continue;
            }
            let position: std::sync::Arc<dyn Position> = std::sync::Arc::from(position);
            let holdings = position.holdings();
            for c in 0..holdings.len() {
                if !holdings[c].collateral_enabled || holdings[c].collateral.is_zero() {
                    continue;
                }
                for d in 0..holdings.len() {
                    if holdings[d].debt.is_zero() {
                        continue;
                    }
                    let request = |debt_to_cover| LiquidationRequest {
                        collateral: c,
                        debt: d,
                        debt_to_cover,
                        receive_shares: false,
                    };
                    plans.push((o.user, position.clone(), vec![request(U256::MAX)]));
                    let half = position
                        .liquidation(c, d, U256::MAX)
                        .map(|full| full.debt_repaid / U256::from(2u64))
                        .unwrap_or_default();
                    if !half.is_zero() {
                        plans.push((
                            o.user,
                            position.clone(),
                            vec![request(half), request(U256::MAX)],
                        ));
                    }
                }
            }
        }
        Ok(plans)
    }
}

/// A failed state read (a node's error, a missing account or slot): not a what-if's own failure.
fn is_state_error(e: &Error) -> bool {
    matches!(
        e,
        Error::Database(_)
            | Error::MissingState { .. }
            | Error::Rpc { .. }
            | Error::ArchiveNeeded { .. }
            | Error::ChainMismatch { .. }
    )
}

impl<DB> ReplayHooks<DB> for Prober
where
    DB: DatabaseRef + Sync,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    fn on_block_start(&mut self, evm: &mut Evm<DB>, block: &BlockRecord) -> Result<()> {
        ReplayHooks::<DB>::on_block_start(&mut self.tracker, evm, block)?;
        self.probe(evm)
    }

    fn on_transaction(
        &mut self,
        evm: &mut Evm<DB>,
        block: &BlockRecord,
        tx: &ReplayedTx<'_>,
    ) -> Result<()> {
        self.tracker.on_transaction(evm, block, tx)
    }

    fn moves_prices(&self, tx: &ReplayedTx<'_>) -> bool {
        ReplayHooks::<DB>::moves_prices(&self.tracker, tx)
    }

    fn on_price_update(
        &mut self,
        evm: &mut Evm<DB>,
        block: &BlockRecord,
        tx: &ReplayedTx<'_>,
    ) -> Result<()> {
        self.tracker.on_price_update(evm, block, tx)?;
        self.probe(evm)
    }

    fn on_block_end(&mut self, evm: &mut Evm<DB>, block: &BlockRecord) -> Result<()> {
        self.tracker.on_block_end(evm, block)
    }
}
