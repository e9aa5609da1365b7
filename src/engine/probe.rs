//! Probing while recording: at every hook point where an opportunity is open, the what-if
//! liquidations strategies could send (every collateral/debt pair of the borrower, the full or
//! close-factor size and a two-step split, from the one what-if liquidator) are executed on a
//! throwaway overlay until they succeed, so that every account and slot they read is read
//! through the recording database and lands in the recorded pre-state.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use alloy_primitives::{Address, B256, U256};
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
use crate::protocol::{MarketState, Position, PositionBook};

/// Priority fee per gas of the probes, wei (what a what-if reads does not depend on it; a
/// non-zero tip pays the block's beneficiary, as the strategies' tips do).
const PROBE_TIP_WEI: u128 = 1_000_000_000;

/// Replay hooks of a recording: the opportunity tracker (as `liqsim run` keeps it); the protocol's
/// own health view (`MarketState::protocol_health`) of every borrower when it is first tracked and
/// after each transaction whose logs name it, so that the recording also holds what `liqsim
/// check-window` reads (e.g. stable-debt balances the book does not need) at a fraction of the
/// cost of refereeing every borrower at every point; and, when `enabled`, the probes at each of the strategy runner's hook points (the top of every block,
/// after every price update).
///
/// A probe that succeeded (every call of it) read the liquidation's whole path; it is not run again
/// for the same borrower, pair and size while the borrower's position keeps its shape (which
/// reserves it holds as collateral and owes), since the same path then reads the same accounts
/// and slots. A probe that reverted read only a prefix of the path and runs again at the next
/// hook point. What this misses (a what-if taking another branch later) is never read as zero:
/// the run stops on it by name, or fetches it with `--rpc`.
pub struct Prober {
    /// The tracker (book and ledger), as the strategy runner keeps it.
    pub tracker: OpportunityTracker,
    /// False: only the tracker (a recording holds what the replay alone reads).
    pub enabled: bool,
    /// Hook points at which something was probed.
    pub hook_points: u64,
    /// What-if executions (each a sequence of one or two liquidation calls).
    pub what_ifs: u64,
    /// Probes that succeeded, by (borrower, collateral, debt, calls), with the position's shape.
    succeeded: HashMap<ProbeKey, Vec<u8>>,
    /// Borrowers whose protocol view was read at least once.
    viewed: BTreeSet<Address>,
}

/// A probe: borrower, collateral, debt, number of calls.
type ProbeKey = (Address, usize, usize, usize);

/// One what-if to probe.
struct Plan {
    key: ProbeKey,
    shape: Vec<u8>,
    position: Arc<dyn Position>,
    steps: Vec<LiquidationRequest>,
}

impl Prober {
    /// Probes around `tracker` (or, when not `enabled`, only the tracker and the views).
    pub fn new(tracker: OpportunityTracker, enabled: bool) -> Self {
        Self {
            tracker,
            viewed: BTreeSet::new(),
            enabled,
            hook_points: 0,
            what_ifs: 0,
            succeeded: HashMap::new(),
        }
    }

    /// Executes the protocol's health view of every tracked borrower named in `words` (topics and
    /// data words of a transaction's logs) or never viewed yet.
    fn view<DB>(&mut self, evm: &mut Evm<DB>, words: &BTreeSet<B256>) -> Result<()>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        let users: Vec<Address> = self
            .tracker
            .book
            .users()
            .into_iter()
            .filter(|u| !self.viewed.contains(u) || words.contains(&u.into_word()))
            .collect();
        for user in users {
            self.tracker.market.protocol_health(evm, user)?;
            self.viewed.insert(user);
        }
        Ok(())
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
        let results: Vec<Result<bool>> = plans
            .par_iter()
            .map(|p| {
                what_if_liquidations(
                    &at,
                    liquidator,
                    p.key.0,
                    &*p.position,
                    &p.steps,
                    PROBE_TIP_WEI,
                )
                .map(|r| r.len() == p.steps.len() && r.iter().all(|s| s.success))
            })
            .collect();
        for (plan, result) in plans.into_iter().zip(results) {
            match result {
                Ok(true) => {
                    self.succeeded.insert(plan.key, plan.shape);
                }
                Ok(false) => {}
                // A read that failed (the node) ends the recording; any other failure (a pair
                // the protocol refuses, a token `deal` cannot fund) only means that probe read
                // less: a run that needs more fails on it by name.
                Err(e) if is_state_error(&e) => return Err(e),
                Err(_) => {}
            }
        }
        Ok(())
    }

    /// The what-ifs to probe now: for each open opportunity whose borrower is liquidatable, each
    /// pair of a collateral it holds (enabled) and a debt it owes, `debtToCover = max` alone and
    /// split in two (half the protocol's amount, then the rest), in ledger order; less those that
    /// succeeded on a position of the same shape.
    fn plans(&self) -> Result<Vec<Plan>> {
        let mut plans = Vec::new();
        let book = &self.tracker.book;
        for o in self.tracker.ledger.open() {
            let Some(position) = book.position(&o.user)? else {
                continue;
            };
            if !is_liquidatable(position.health_factor()?) {
                continue;
            }
            let position: Arc<dyn Position> = Arc::from(position);
            let holdings = position.holdings();
            let collateral =
                |c: usize| holdings[c].collateral_enabled && !holdings[c].collateral.is_zero();
            let shape: Vec<u8> = (0..holdings.len())
                .map(|i| u8::from(collateral(i)) | (u8::from(!holdings[i].debt.is_zero()) << 1))
                .collect();
            for c in (0..holdings.len()).filter(|&c| collateral(c)) {
                for d in (0..holdings.len()).filter(|&d| !holdings[d].debt.is_zero()) {
                    let request = |debt_to_cover| LiquidationRequest {
                        collateral: c,
                        debt: d,
                        debt_to_cover,
                        receive_shares: false,
                    };
                    let half = position
                        .liquidation(c, d, U256::MAX)
                        .map(|full| full.debt_repaid / U256::from(2u64))
                        .unwrap_or_default();
                    let mut sizes = vec![vec![request(U256::MAX)]];
                    if !half.is_zero() {
                        sizes.push(vec![request(half), request(U256::MAX)]);
                    }
                    for steps in sizes {
                        let key = (o.user, c, d, steps.len());
                        if self.succeeded.get(&key) == Some(&shape) {
                            continue;
                        }
                        plans.push(Plan {
                            key,
                            shape: shape.clone(),
                            position: position.clone(),
                            steps,
                        });
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
        self.view(evm, &BTreeSet::new())?;
        self.probe(evm)
    }

    fn on_transaction(
        &mut self,
        evm: &mut Evm<DB>,
        block: &BlockRecord,
        tx: &ReplayedTx<'_>,
    ) -> Result<()> {
        self.tracker.on_transaction(evm, block, tx)?;
        if !tx.outcome.success {
            return Ok(());
        }
        let mut words = BTreeSet::new();
        for log in &tx.outcome.logs {
            words.extend(log.topics().iter().copied());
            words.extend(log.data.data.chunks_exact(32).map(B256::from_slice));
        }
        self.view(evm, &words)
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
