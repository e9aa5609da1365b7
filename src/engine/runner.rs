//! Strategy evaluation over one replay: at every hook point each strategy × parameter set decides
//! on the open opportunities, in parallel (rayon); every decision to act is executed for real by
//! the what-if executor, then judged against the recorded competitors.

use std::collections::{BTreeMap, BTreeSet};

use alloy_primitives::{Address, I256, U256};
use rayon::prelude::*;
use revm::context::BlockEnv;
use revm::state::EvmState;
use serde::{Deserialize, Serialize};

use crate::data::records::{BlockRecord, Window};
use crate::engine::opportunities::{Deferral, Deferred, OpportunityTracker, Settled};
use crate::engine::replay::{replay, Fidelity, ReplayHooks};
use crate::engine::whatif::{
    what_if_bundle, what_if_contract_bundle, what_if_liquidator, BundlePlan, SaleRequest, WhatIfAt,
};
use crate::error::Result;
use crate::evm::executor::Evm;
use crate::evm::replayed::ReplayedTx;
use crate::evm::tx::SignedTx;
use crate::math::aave as aave_math;
use crate::protocol::market::best_liquidation;
use crate::protocol::market::LiquidationRequest;
use crate::protocol::{AnyMarket, LendingMarket, PositionBook};
use crate::strategy::{
    Candidate, Decision, Execution, Funding, HookView, Instance, Intent, MissReason, Strategy,
};

use crate::evm::state::{PrestateDb, ReplayDb};

/// A recorded liquidation as competition: where it landed and the tip it paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Competition {
    /// Block.
    pub block: u64,
    /// Position in the block.
    pub tx_index: u32,
    /// Priority fee per gas, wei.
    pub priority_fee_wei: u128,
}

/// Recorded liquidations of each user (the market's `LiquidationCall` / `LiquidateBorrow`
/// logs), from the window's logs and transactions.
pub fn competition(
    window: &Window,
    market: &AnyMarket,
) -> Result<BTreeMap<Address, Vec<Competition>>> {
    let mut tips: BTreeMap<(u64, u32), u128> = BTreeMap::new();
    let mut out: BTreeMap<Address, Vec<Competition>> = BTreeMap::new();
    for log in &window.logs {
        let Some((user, _)) = market.liquidation_log(log.address, &log.topics, &log.data) else {
            continue;
        };
        let key = (log.block, log.tx_index);
        let tip = match tips.get(&key) {
            Some(tip) => *tip,
            None => {
                let tx = window
                    .transactions
                    .iter()
                    .find(|t| t.block == log.block && t.index == log.tx_index);
                let tip = match tx {
                    Some(t) => SignedTx::decode(&t.raw)?.priority_fee(),
                    None => 0,
                };
                tips.insert(key, tip);
                tip
            }
        };
        out.entry(user).or_default().push(Competition {
            block: log.block,
            tx_index: log.tx_index,
            priority_fee_wei: tip,
        });
    }
    Ok(out)
}

/// One executed (what-if) liquidation of a strategy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Action {
    /// Instance index in the sweep.
    pub instance: usize,
    /// Opportunity id.
    pub opportunity_id: u64,
    /// Block the strategy decided in.
    pub decided_block: u64,
    /// Block it lands in (decided + latency).
    pub block: u64,
    /// Borrower.
    pub user: Address,
    /// Collateral reserve index.
    pub collateral: usize,
    /// Debt reserve index.
    pub debt: usize,
    /// `liquidationCall`s sent.
    pub calls: usize,
    /// Debt repaid (all calls), debt-asset units.
    pub debt_repaid: U256,
    /// Collateral received (all calls), collateral-asset units.
    pub collateral_received: U256,
    /// Collateral value − debt value at the oracle, base currency (8 decimals).
    pub bonus_base: I256,
    /// EVM gas used (all calls).
    pub gas_used: u64,
    /// Effective gas price, wei.
    pub gas_price_wei: U256,
    /// Gas cost, wei.
    pub gas_cost_wei: U256,
    /// Gas cost, base currency.
    pub gas_cost_base: U256,
    /// Funding cost (flash-loan premium), base currency.
    pub funding_cost_base: U256,
    /// Slippage selling collateral, base currency (0 when kept).
    pub slippage_base: U256,
    /// Net profit, base currency.
    pub net_profit_base: I256,
    /// Funding source.
    pub funding: Funding,
    /// The real pool the collateral was sold through (`None`: kept, or the formula model).
    pub route: Option<crate::protocol::dex::Route>,
    /// What the sale through the real pool brought, debt-asset units (0 without one).
    pub amount_out: U256,
    /// Gas of the liquidation call(s) alone (`gas_used` is everything sent: with the liquidator
    /// contract, the whole bundle's receipt).
    pub liquidation_gas: u64,
    /// Flash-loan premium the lending pool charged in the EVM, debt-asset units (0 without a
    /// contract flash loan).
    pub flash_premium: U256,
    /// The real sale's shortfall against the oracle value of what it sold (fee and price
    /// impact), bps, rounded down (0 without a real sale).
    pub price_impact_bps: u64,
}

/// An opportunity a strategy did not capture, with the reason.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Miss {
    /// Instance index.
    pub instance: usize,
    /// Opportunity id.
    pub opportunity_id: u64,
    /// Borrower.
    pub user: Address,
    /// Why.
    pub reason: MissReason,
    /// Block of the last decision about it (None when never seen at a hook point).
    pub block: Option<u64>,
}

struct InstanceState {
    strategy: Box<dyn Strategy>,
    liquidator: Address,
    done: BTreeSet<u64>,
    last_reason: BTreeMap<u64, (MissReason, u64)>,
    actions: Vec<Action>,
}

/// A capital-limited strategy's capital at a block (`capital.parquet`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CapitalRow {
    /// Instance index.
    pub instance: usize,
    /// Block (after the strategy's executions landing in it).
    pub block: u64,
    /// Capital, base currency (USD, 8 decimals).
    pub capital_base: U256,
}

/// Per-block figures for `blocks.parquet`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlockRow {
    /// Block number.
    pub number: u64,
    /// Timestamp.
    pub timestamp: u64,
    /// Base fee, wei.
    pub base_fee: u64,
    /// Native asset price (8 decimals).
    pub native_price: U256,
    /// Open opportunities at the top of the block.
    pub open_opportunities: u64,
}

/// Replay hooks running a whole sweep of strategies: the replay side (borrower index, ledger,
/// per-block figures, hook points) and the strategy side ([`Evaluator`]). On one thread each hook
/// point is evaluated where the replay stands; on more ([`StrategyRunner::replay`]) the replay
/// hands each hook point with the state changes before it to the evaluator on another thread and
/// moves on, so the replay and the evaluation overlap. Results are identical either way.
pub struct StrategyRunner {
    /// Borrower index and ledger.
    pub tracker: OpportunityTracker,
    native: usize,
    /// The strategy side: instances, their decisions and executions, and its figures.
    pub evaluator: Evaluator,
    /// Per-block figures.
    pub blocks: Vec<BlockRow>,
    /// `(block, health factors of every borrower with debt)`, every 100 blocks and at the end.
    pub health_snapshots: Vec<(u64, Vec<f64>)>,
    /// Where hook points go when the evaluator runs on another thread.
    feed: Option<Feed>,
}

/// The strategy side of a sweep: every strategy × parameter set, what it decided and executed.
pub struct Evaluator {
    market: AnyMarket,
    native: usize,
    symbols: Vec<String>,
    dex: crate::math::cost::DexModel,
    real_dex: Vec<std::sync::Arc<crate::protocol::dex::RealDex>>,
    max_slippage_bps: u16,
    competition: BTreeMap<Address, Vec<Competition>>,
    instances: Vec<InstanceState>,
    /// Capital of capital-limited strategies over time.
    pub capital: Vec<CapitalRow>,
    /// Hook points at which strategies were consulted.
    pub hooks_evaluated: u64,
    /// What-if executions.
    pub what_ifs: u64,
    /// Seconds spent evaluating strategies at hook points (candidates, decisions, what-ifs).
    pub evaluation_seconds: f64,
    /// The window's last block: an action that would land after it is a `latency` miss.
    pub last_block: Option<u64>,
    /// Figures of the tracker's deferred checks, for its ledger (`Deferral::Handoff`).
    settled: Vec<Settled>,
}

/// One hook point as the evaluators need it, taken from the replay: owned, so that it can be
/// handed to another thread while the replay moves on.
pub struct HookPoint {
    block: u64,
    timestamp: u64,
    base_fee: u64,
    env: BlockEnv,
    chain_id: u64,
    next_tx_index: u32,
    usd_prices: Vec<U256>,
    open: Vec<OpenPosition>,
}

/// An open opportunity's position at a hook point: built, or a check the tracker deferred (the
/// evaluator builds it and hands the tracker's ledger its figures).
enum OpenPosition {
    Built {
        opportunity_id: u64,
        user: Address,
        position: Box<dyn crate::protocol::market::Position>,
    },
    Deferred(Deferred),
}

/// The open positions still liquidatable, in their order, with their best liquidations
/// (computed in parallel), and the figures of the deferred checks among them.
fn candidates(open: Vec<OpenPosition>) -> Result<(Vec<Candidate>, Vec<Settled>)> {
    let found: Vec<Result<(Option<Candidate>, Option<Settled>)>> = open
        .into_par_iter()
        .map(|o| {
            let (opportunity_id, user, position, health_factor, best, settled) = match o {
                OpenPosition::Built {
                    opportunity_id,
                    user,
                    position,
                } => {
                    let health_factor = position.health_factor()?;
                    if !aave_math::is_liquidatable(health_factor) {
                        return Ok((None, None));
                    }
                    let best = best_liquidation(&*position)?;
                    (opportunity_id, user, position, health_factor, best, None)
                }
                OpenPosition::Deferred(d) => {
                    let (opportunity_id, user) = (d.opportunity_id, d.user);
                    let (settled, position) = d.run()?;
                    if !aave_math::is_liquidatable(settled.health_factor) {
                        // The ledger refuses it with the reason.
                        return Ok((None, Some(settled)));
                    }
                    let (health_factor, best) = (settled.health_factor, settled.best);
                    (
                        opportunity_id,
                        user,
                        position,
                        health_factor,
                        best,
                        Some(settled),
                    )
                }
            };
            Ok((
                Some(Candidate {
                    opportunity_id,
                    user,
                    health_factor,
                    best,
                    position: std::sync::Arc::from(position),
                }),
                settled,
            ))
        })
        .collect();
    let mut candidates = Vec::new();
    let mut settled = Vec::new();
    for f in found {
        let (c, s) = f?;
        candidates.extend(c);
        settled.extend(s);
    }
    Ok((candidates, settled))
}

/// What the replay hands the evaluator: the state changes committed since the last batch, in
/// order, then (when it has candidates) a hook point on the state they lead to.
struct Batch {
    commits: Vec<EvmState>,
    point: Option<HookPoint>,
}

/// The replay's end of the pipeline.
struct Feed {
    sender: std::sync::mpsc::SyncSender<Batch>,
    /// Commits not sent yet (hook points without candidates send nothing).
    pending: Vec<EvmState>,
    /// Hook points sent and not yet evaluated.
    queued: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    /// State changes sent and not yet applied by the evaluator.
    commits_queued: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    /// Figures of deferred checks coming back from the evaluator (taken into the ledger at each
    /// hook point, so that they never pile up).
    settled: std::sync::mpsc::Receiver<Vec<Settled>>,
}

const PENDING: u8 = 0;
const CLAIMED: u8 = 1;
const ABANDONED: u8 = 2;

/// How long the replay waits for the evaluator's job to start on another worker.
const EVALUATOR_START: std::time::Duration = std::time::Duration::from_millis(20);

/// Waits (without stealing work) until the evaluator's job claimed `claim`; true when it did,
/// false when it had not within [`EVALUATOR_START`] (the job is then told to end at once).
fn evaluator_started(claim: &std::sync::atomic::AtomicU8) -> bool {
    use std::sync::atomic::Ordering;
    let deadline = std::time::Instant::now() + EVALUATOR_START;
    while std::time::Instant::now() < deadline {
        if claim.load(Ordering::Acquire) == CLAIMED {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_micros(20));
    }
    claim
        .compare_exchange(PENDING, ABANDONED, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
}

/// Hook points waiting for the evaluator above which the replay helps with its work before it
/// goes on (the evaluation, not the replay, is then what the run waits for).
const HELP_ABOVE: usize = 192;

/// Batches the replay may run ahead of the evaluator (each holds the commits up to one hook
/// point with candidates, or [`FLUSH_COMMITS`] of them).
pub const PIPELINE_DEPTH: usize = 256;

/// Commits gathered before they are sent without a hook point (bounds the batches' size).
const FLUSH_COMMITS: usize = 512;

/// State changes (one per transaction) the replay may have sent ahead of the evaluator: with
/// mainnet-sized blocks, hook points a few blocks apart carry hundreds of them each, and this
/// bounds the pipeline's memory (a few kB each) rather than the batch count alone.
const MAX_COMMITS_QUEUED: usize = 8_192;

impl StrategyRunner {
    /// A runner for `instances` over `market`.
    pub fn new(
        tracker: OpportunityTracker,
        competition: BTreeMap<Address, Vec<Competition>>,
        instances: &[Instance],
        dex: crate::math::cost::DexModel,
    ) -> Result<Self> {
        let market = tracker.market.clone();
        let native = market.native_asset()?;
        crate::strategy::check_market_support(
            instances,
            market.flash_loan_premium_bps(),
            market.kind().as_str(),
        )?;
        crate::strategy::check_symbols(instances, &market.symbols())?;
        let states = instances
            .iter()
            .map(|inst| {
                Ok(InstanceState {
                    strategy: inst.build()?,
                    liquidator: what_if_liquidator(),
                    done: BTreeSet::new(),
                    last_reason: BTreeMap::new(),
                    actions: Vec::new(),
                })
            })
            .collect::<Result<_>>()?;
        Ok(Self {
            tracker,
            native,
            evaluator: Evaluator {
                symbols: market.symbols(),
                market,
                native,
                dex,
                real_dex: Vec::new(),
                max_slippage_bps: MAX_SLIPPAGE_BPS,
                competition,
                instances: states,
                capital: Vec::new(),
                hooks_evaluated: 0,
                what_ifs: 0,
                evaluation_seconds: 0.0,
                last_block: None,
                settled: Vec::new(),
            },
            blocks: Vec::new(),
            health_snapshots: Vec::new(),
            feed: None,
        })
    }

    /// Sells seized collateral through real DEXes in the what-if EVM instead of the formula model:
    /// `dex[0]` unless an intent names another of their routes; `max_slippage_bps` unless an
    /// intent names its own.
    pub fn with_real_dex(
        mut self,
        dex: Vec<std::sync::Arc<crate::protocol::dex::RealDex>>,
        max_slippage_bps: u16,
    ) -> Self {
        self.evaluator.real_dex = dex;
        self.evaluator.max_slippage_bps = max_slippage_bps;
        self
    }

    /// Records the health factor of every borrower with debt (report only).
    pub fn snapshot_health(&mut self, block: u64) -> Result<()> {
        let mut values = Vec::new();
        for user in self.tracker.book.users() {
            let Some(position) = self.tracker.book.position(&user)? else {
                continue;
            };
            let mut debt = U256::ZERO;
            for h in position.holdings().iter().filter(|h| h.borrowing) {
                debt += aave_math::debt_value_base(h.debt, h.price, h.decimals)?;
            }
            if !debt.is_zero() {
                values.push(crate::math::profit::to_f64_lossy(
                    position.health_factor()?,
                    18,
                ));
            }
        }
        self.health_snapshots.push((block, values));
        Ok(())
    }

    /// Replays `window` on `evm` with this sweep. On a rayon pool of one thread every hook point
    /// is evaluated in place; on more, the replay runs on this thread and the evaluator on
    /// another worker of the pool, on a mirror of the replay's state kept equal to it by the
    /// replay's commits, the replay running at most [`PIPELINE_DEPTH`] batches ahead (and helping
    /// with the evaluation while it waits). It overlaps only when called on a worker of the pool
    /// (`app::run` moves there first, so that `--threads N` means N threads in all); elsewhere
    /// every hook point is evaluated in place.
    pub fn replay(
        mut self,
        evm: &mut Evm<PrestateDb>,
        window: &Window,
        strict: bool,
        progress: Option<&indicatif::ProgressBar>,
    ) -> Result<(Fidelity, Self)> {
        // The evaluator builds every open position anyway: the tracker hands it the checks that
        // surely stay open and takes their figures back at the end.
        self.tracker.deferral = Deferral::Handoff;
        if rayon::current_num_threads() < 2 || rayon::current_thread_index().is_none() {
            let fidelity = replay(evm, window, strict, &mut self, progress)?;
            self.settle()?;
            return Ok((fidelity, self));
        }
        let mirror = evm.db().clone();
        let (sender, receiver) = std::sync::mpsc::sync_channel::<Batch>(PIPELINE_DEPTH);
        // The evaluator's job claims it when it starts; a replay that finds no worker free to
        // start it soon (the pool busy with other runs) takes it back and evaluates in place.
        let claim = std::sync::atomic::AtomicU8::new(PENDING);
        let placeholder = self.evaluator.detached();
        let slot = std::sync::Mutex::new(Some(std::mem::replace(&mut self.evaluator, placeholder)));
        let queued = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let commits_queued = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (settled_back, settled) = std::sync::mpsc::channel::<Vec<Settled>>();
        self.feed = Some(Feed {
            sender,
            pending: Vec::new(),
            queued: queued.clone(),
            commits_queued: commits_queued.clone(),
            settled,
        });
        evm.record_commits(true);
        self.tracker.parallel = false;
        let mut evaluated = Ok(());
        let (replayed, feed) = rayon::in_place_scope(|scope| {
            scope.spawn(|_| {
                use std::sync::atomic::Ordering;
                if claim
                    .compare_exchange(PENDING, CLAIMED, Ordering::AcqRel, Ordering::Acquire)
                    .is_err()
                {
                    // The replay went on without it.
                    return;
                }
                let mut guard = slot
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                if let Some(evaluator) = guard.as_mut() {
                    evaluated =
                        evaluator.follow(mirror, receiver, &queued, &commits_queued, &settled_back);
                }
            });
            // The evaluator must be running on another worker before the replay may steal work
            // (else it could pick up the evaluator's job and wait for itself): wait for it to
            // start without stealing, and give up soon when no worker is free.
            if !evaluator_started(&claim) {
                let evaluator = slot
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .take();
                self.feed = None;
                evm.record_commits(false);
                self.tracker.parallel = true;
                if let Some(evaluator) = evaluator {
                    self.evaluator = evaluator;
                }
                tracing::debug!("no worker free for the evaluator: evaluating in place");
                return (replay(evm, window, strict, &mut self, progress), None);
            }
            let start = std::time::Instant::now();
            let replayed =
                crate::engine::replay::replay_streaming(evm, window, strict, &mut self, progress)
                    .and_then(|fidelity| self.flush(evm).map(|()| fidelity));
            tracing::debug!(
                seconds = start.elapsed().as_secs_f64(),
                "replay done; the evaluator follows"
            );
            // Closing the feed (its sender) ends the evaluator's loop; what the evaluator sends
            // back stays to be read.
            let settled = self.feed.take().map(|feed| feed.settled);
            (replayed, settled)
        });
        evm.record_commits(false);
        self.tracker.parallel = true;
        // The evaluator's error first: a replay stopped by it says only that it stopped.
        evaluated?;
        let fidelity = replayed?;
        if let Some(evaluator) = slot
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
        {
            self.evaluator = evaluator;
        }
        if let Some(settled_back) = feed {
            // The evaluator has ended: everything it sent is here.
            for settled in settled_back.try_iter() {
                self.evaluator.settled.extend(settled);
            }
        }
        self.settle()?;
        Ok((fidelity, self))
    }

    /// Takes the figures of the tracker's deferred checks into its ledger.
    fn settle(&mut self) -> Result<()> {
        for settled in std::mem::take(&mut self.evaluator.settled) {
            self.tracker.ledger.settle(settled)?;
        }
        self.tracker.settle()
    }

    /// Every open opportunity's position now, in ledger order (the evaluator judges which are
    /// still liquidatable: [`candidates`]).
    fn open_positions(&mut self) -> Result<Vec<OpenPosition>> {
        let mut deferred: BTreeMap<u64, Deferred> = self
            .tracker
            .take_deferred()
            .into_iter()
            .map(|d| (d.opportunity_id, d))
            .collect();
        let book = &self.tracker.book;
        let mut out = Vec::new();
        for o in self.tracker.ledger.open() {
            if let Some(d) = deferred.remove(&o.id) {
                out.push(OpenPosition::Deferred(d));
            } else if let Some(position) = book.position(&o.user)? {
                out.push(OpenPosition::Built {
                    opportunity_id: o.id,
                    user: o.user,
                    position,
                });
            }
        }
        if let Some(id) = deferred.keys().next() {
            return Err(crate::error::Error::Mismatch(format!(
                "a deferred check names opportunity {id}, which is not open"
            )));
        }
        Ok(out)
    }

    /// A hook point: its candidates are evaluated here, or handed to the evaluator with the
    /// state changes before it.
    fn hook_point(
        &mut self,
        evm: &mut Evm<PrestateDb>,
        block: &BlockRecord,
        next_tx_index: u32,
    ) -> Result<()> {
        let open = self.open_positions()?;
        let point = (!open.is_empty()).then(|| HookPoint {
            block: block.number,
            timestamp: block.timestamp,
            base_fee: block.base_fee,
            env: evm.block().clone(),
            chain_id: evm.chain_id(),
            next_tx_index,
            usd_prices: (0..self.evaluator.symbols.len())
                .map(|i| self.tracker.book.usd_price(i))
                .collect(),
            open,
        });
        match self.feed.as_mut() {
            None => match point {
                Some(point) => {
                    self.evaluator.evaluate(evm.db(), point)?;
                    for settled in std::mem::take(&mut self.evaluator.settled) {
                        self.tracker.ledger.settle(settled)?;
                    }
                    Ok(())
                }
                None => Ok(()),
            },
            Some(feed) => {
                for settled in feed.settled.try_iter().flatten() {
                    self.tracker.ledger.settle(settled)?;
                }
                feed.pending.extend(evm.take_commits());
                if point.is_none() && feed.pending.len() < FLUSH_COMMITS {
                    return Ok(());
                }
                let commits = std::mem::take(&mut feed.pending);
                feed.send(Batch { commits, point })
            }
        }
    }

    /// Sends the commits not sent yet (the end of the replay).
    fn flush(&mut self, evm: &mut Evm<PrestateDb>) -> Result<()> {
        match self.feed.as_mut() {
            Some(feed) => {
                feed.pending.extend(evm.take_commits());
                let commits = std::mem::take(&mut feed.pending);
                feed.send(Batch {
                    commits,
                    point: None,
                })
            }
            None => Ok(()),
        }
    }

    /// Records the capital of every capital-limited strategy at `block`.
    pub fn record_capital(&mut self, block: u64) {
        self.evaluator.record_capital(block);
    }

    /// Ends the run: actions and misses of every instance, in instance order.
    pub fn finish(
        self,
    ) -> (
        Vec<Vec<Action>>,
        Vec<Miss>,
        Vec<crate::engine::opportunities::Opportunity>,
    ) {
        let opportunities = self.tracker.ledger.finish();
        let mut misses = Vec::new();
        let mut actions = Vec::new();
        for (i, inst) in self.evaluator.instances.into_iter().enumerate() {
            let captured: BTreeSet<u64> = inst.actions.iter().map(|a| a.opportunity_id).collect();
            for o in &opportunities {
                if captured.contains(&o.id) {
                    continue;
                }
                let (reason, block) = match inst.last_reason.get(&o.id) {
                    Some((r, b)) => (r.clone(), Some(*b)),
                    None => (MissReason::Latency, None),
                };
                misses.push(Miss {
                    instance: i,
                    opportunity_id: o.id,
                    user: o.user,
                    reason,
                    block,
                });
            }
            actions.push(inst.actions);
        }
        (actions, misses, opportunities)
    }
}

impl Feed {
    /// Sends a batch; while the evaluator is [`PIPELINE_DEPTH`] batches behind, this thread helps
    /// with its work (rayon's pending jobs) instead of idling.
    fn send(&self, batch: Batch) -> Result<()> {
        use std::sync::atomic::Ordering;
        use std::sync::mpsc::TrySendError;
        if batch.point.is_some() {
            self.queued.fetch_add(1, Ordering::Relaxed);
        }
        // Too many state changes on their way: wait (helping) until the evaluator applied some.
        while self.commits_queued.load(Ordering::Relaxed) > MAX_COMMITS_QUEUED {
            if !matches!(rayon::yield_now(), Some(rayon::Yield::Executed)) {
                std::thread::sleep(std::time::Duration::from_micros(50));
            }
        }
        self.commits_queued
            .fetch_add(batch.commits.len(), Ordering::Relaxed);
        // With hook points waiting, the evaluation is what the run waits for: help with it.
        while self.queued.load(Ordering::Relaxed) > HELP_ABOVE
            && matches!(rayon::yield_now(), Some(rayon::Yield::Executed))
        {}
        let mut batch = batch;
        loop {
            match self.sender.try_send(batch) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Full(b)) => {
                    batch = b;
                    if !matches!(rayon::yield_now(), Some(rayon::Yield::Executed)) {
                        std::thread::sleep(std::time::Duration::from_micros(50));
                    }
                }
                Err(TrySendError::Disconnected(_)) => {
                    return Err(crate::error::Error::Mismatch(
                        "the strategy evaluation stopped before the replay ended".into(),
                    ))
                }
            }
        }
    }
}

impl Evaluator {
    /// An evaluator with this one's configuration and no instances (a placeholder while the real
    /// one runs on another thread).
    fn detached(&self) -> Self {
        Self {
            market: self.market.clone(),
            native: self.native,
            symbols: self.symbols.clone(),
            dex: self.dex.clone(),
            real_dex: Vec::new(),
            max_slippage_bps: self.max_slippage_bps,
            competition: BTreeMap::new(),
            instances: Vec::new(),
            capital: Vec::new(),
            hooks_evaluated: 0,
            what_ifs: 0,
            evaluation_seconds: 0.0,
            last_block: self.last_block,
            settled: Vec::new(),
        }
    }

    /// Records the capital of every capital-limited strategy at `block`.
    pub fn record_capital(&mut self, block: u64) {
        for (instance, inst) in self.instances.iter().enumerate() {
            if let Some(capital_base) = inst.strategy.capital_base() {
                self.capital.push(CapitalRow {
                    instance,
                    block,
                    capital_base,
                });
            }
        }
    }

    /// Follows the replay: applies each batch's commits to `mirror` (the replay's state when it
    /// started recording them), then evaluates the batch's hook point on it; ends when the
    /// replay closes the feed. While no batch is waiting it helps with rayon's pending jobs.
    fn follow(
        &mut self,
        mut mirror: ReplayDb,
        receiver: std::sync::mpsc::Receiver<Batch>,
        queued: &std::sync::atomic::AtomicUsize,
        commits_queued: &std::sync::atomic::AtomicUsize,
        settled_back: &std::sync::mpsc::Sender<Vec<Settled>>,
    ) -> Result<()> {
        use revm::DatabaseCommit;
        use std::sync::mpsc::{RecvTimeoutError, TryRecvError};
        loop {
            let batch = match receiver.try_recv() {
                Ok(batch) => batch,
                Err(TryRecvError::Disconnected) => return Ok(()),
                Err(TryRecvError::Empty) => {
                    if matches!(rayon::yield_now(), Some(rayon::Yield::Executed)) {
                        continue;
                    }
                    match receiver.recv_timeout(std::time::Duration::from_micros(100)) {
                        Ok(batch) => batch,
                        Err(RecvTimeoutError::Timeout) => continue,
                        Err(RecvTimeoutError::Disconnected) => return Ok(()),
                    }
                }
            };
            let applied = batch.commits.len();
            for changes in batch.commits {
                mirror.commit(changes);
            }
            commits_queued.fetch_sub(applied, std::sync::atomic::Ordering::Relaxed);
            if let Some(point) = batch.point {
                self.evaluate(&mirror, point)?;
                queued.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                if !self.settled.is_empty() {
                    // The replay side holds the receiver until the evaluator ends.
                    let _ = settled_back.send(std::mem::take(&mut self.settled));
                }
            }
        }
    }

    fn evaluate(&mut self, state: &ReplayDb, point: HookPoint) -> Result<()> {
        let start = std::time::Instant::now();
        let result = self.evaluate_now(state, point);
        self.evaluation_seconds += start.elapsed().as_secs_f64();
        result
    }

    fn evaluate_now(&mut self, state: &ReplayDb, point: HookPoint) -> Result<()> {
        let (candidates, settled) = candidates(point.open)?;
        self.settled.extend(settled);
        if candidates.is_empty() {
            return Ok(());
        }
        self.hooks_evaluated += 1;
        let view = HookView {
            block: point.block,
            timestamp: point.timestamp,
            base_fee: point.base_fee,
            native_price: point
                .usd_prices
                .get(self.native)
                .copied()
                .unwrap_or_default(),
            flash_loan_premium_bps: self.market.flash_loan_premium_bps().unwrap_or(0),
            symbols: &self.symbols,
            dex: &self.dex,
        };
        let hook = Hook {
            view: &view,
            state,
            env: point.env,
            chain_id: point.chain_id,
            market: &self.market,
            competition: &self.competition,
            next_tx_index: point.next_tx_index,
            last_block: self.last_block,
            real_dex: &self.real_dex,
            usd_prices: point.usd_prices,
            max_slippage_bps: self.max_slippage_bps,
        };
        // One parallel region per hook point: a task per instance. An instance whose decisions
        // are independent of its earlier executions judges every candidate, then runs all its
        // intents in the EVM as a nested parallel loop (the other thread steals from it) and
        // applies them in decision order; a capital-limited instance decides and executes
        // candidate by candidate.
        let results: Vec<Result<(u64, Vec<CapitalRow>)>> = self
            .instances
            .par_iter_mut()
            .enumerate()
            .map(|(i, inst)| {
                let (mut what_ifs, mut capital) = (0, Vec::new());
                if inst.strategy.independent_decisions() {
                    let mut planned = Vec::new();
                    for (c, candidate) in candidates.iter().enumerate() {
                        let judgement = judge(i, inst, &hook, c, candidate)?;
                        planned.extend(record(inst, &hook, candidate, judgement));
                    }
                    let liquidator = inst.liquidator;
                    let executed: Vec<Result<Done>> = planned
                        .par_iter()
                        .map(|p| execute(&hook, liquidator, &candidates[p.candidate], p))
                        .collect();
                    for (p, results) in planned.iter().zip(executed) {
                        what_ifs += 1;
                        capital.extend(apply(inst, &hook, &candidates[p.candidate], p, &results?)?);
                    }
                } else {
                    for (c, candidate) in candidates.iter().enumerate() {
                        let judgement = judge(i, inst, &hook, c, candidate)?;
                        if let Some(p) = record(inst, &hook, candidate, judgement) {
                            what_ifs += 1;
                            let results = execute(&hook, inst.liquidator, candidate, &p)?;
                            capital.extend(apply(inst, &hook, candidate, &p, &results)?);
                        }
                    }
                }
                Ok((what_ifs, capital))
            })
            .collect();
        for r in results {
            let (what_ifs, capital) = r?;
            self.what_ifs += what_ifs;
            self.capital.extend(capital);
        }
        Ok(())
    }
}

/// Everything shared by the decisions and executions at one hook point.
struct Hook<'a> {
    view: &'a HookView<'a>,
    state: &'a ReplayDb,
    env: BlockEnv,
    chain_id: u64,
    market: &'a AnyMarket,
    competition: &'a BTreeMap<Address, Vec<Competition>>,
    next_tx_index: u32,
    last_block: Option<u64>,
    real_dex: &'a [std::sync::Arc<crate::protocol::dex::RealDex>],
    usd_prices: Vec<U256>,
    max_slippage_bps: u16,
}

/// An intent a strategy decided on, to execute at this hook point.
struct Planned {
    instance: usize,
    candidate: usize,
    intent: Intent,
    landing: u64,
}

/// What an instance makes of one candidate at a hook point.
enum Judgement {
    /// It dealt with this opportunity before.
    AlreadyDone,
    /// It skips it now, for this reason.
    Skip(MissReason),
    /// It acts, but a recorded competitor lands first.
    Lost,
    /// It acts.
    Act(Planned),
}

/// One instance's decision on one candidate (reads only: safe to run for many pairs at once).
fn judge(
    instance: usize,
    inst: &InstanceState,
    hook: &Hook<'_>,
    candidate: usize,
    c: &Candidate,
) -> Result<Judgement> {
    let view = hook.view;
    if inst.done.contains(&c.opportunity_id) {
        return Ok(Judgement::AlreadyDone);
    }
    let intent = match inst.strategy.decide(view, c)? {
        Decision::Skip(reason) => return Ok(Judgement::Skip(reason)),
        Decision::Act(intent) => intent,
    };
    // Checked: a latency past the window (or past u64) lands nowhere: a `latency` miss.
    let landing = match view.block.checked_add(inst.strategy.latency_blocks()) {
        Some(landing) if hook.last_block.is_none_or(|last| landing <= last) => landing,
        _ => return Ok(Judgement::Skip(MissReason::Latency)),
    };
    let beaten = hook.competition.get(&c.user).is_some_and(|list| {
        list.iter().any(|h| {
            let after_hook =
                h.block > view.block || (h.block == view.block && h.tx_index >= hook.next_tx_index);
            after_hook
                && (h.block < landing
                    || (h.block == landing && h.priority_fee_wei >= intent.priority_fee_wei))
        })
    });
    Ok(if beaten {
        Judgement::Lost
    } else {
        Judgement::Act(Planned {
            instance,
            candidate,
            intent,
            landing,
        })
    })
}

/// Records a judgement in the instance (reasons, opportunities dealt with); the intent to
/// execute, if any.
fn record(
    inst: &mut InstanceState,
    hook: &Hook<'_>,
    c: &Candidate,
    judgement: Judgement,
) -> Option<Planned> {
    let block = hook.view.block;
    match judgement {
        Judgement::AlreadyDone => None,
        Judgement::Skip(reason) => {
            inst.last_reason.insert(c.opportunity_id, (reason, block));
            None
        }
        Judgement::Lost => {
            inst.done.insert(c.opportunity_id);
            inst.last_reason
                .insert(c.opportunity_id, (MissReason::LostToCompetitor, block));
            None
        }
        Judgement::Act(planned) => {
            inst.done.insert(c.opportunity_id);
            Some(planned)
        }
    }
}

/// What an executed intent did, however it was sent (the protocol's call(s) from the
/// liquidator's account, or one transaction through the liquidator contract).
#[derive(Debug, Clone)]
struct Done {
    /// The decoded reason when it reverted.
    failure: Option<String>,
    /// Liquidation calls made.
    calls: usize,
    /// Debt repaid, debt-asset units.
    debt_repaid: U256,
    /// Collateral received, collateral-asset units.
    collateral_received: U256,
    /// Gas of everything sent (the bundle's receipt, or the sum of the transactions).
    gas_used: u64,
    /// Gas of the liquidation call(s) alone.
    liquidation_gas: u64,
    /// The real pool the collateral was sold through and what it paid, debt-asset units.
    sale: Option<(crate::protocol::dex::Route, U256)>,
    /// The flash-loan premium the pool charged (from the EVM), debt-asset units.
    premium: Option<U256>,
}

/// Tolerance of a real sale below the pool's quote for the expected seizure, bps (the default
/// of `[dex] max_slippage_bps`).
pub const MAX_SLIPPAGE_BPS: u16 = 100;

/// Runs a planned intent on a throwaway overlay of the hook's state: with a real DEX, a
/// one-call intent on a market the liquidator contract supports goes through it as one
/// transaction (flash loan and sale included); otherwise the protocol's `liquidationCall`s are
/// sent from the liquidator's account (then, with a real DEX and an intent that sells, the sale).
fn execute(hook: &Hook<'_>, liquidator: Address, c: &Candidate, p: &Planned) -> Result<Done> {
    let intent = &p.intent;
    let steps: Vec<LiquidationRequest> = intent
        .debt_to_cover
        .iter()
        .map(|d| LiquidationRequest {
            collateral: intent.collateral,
            debt: intent.debt,
            debt_to_cover: *d,
            receive_shares: intent.receive_shares,
        })
        .collect();
    let price = |i: usize| hook.usd_prices.get(i).copied().unwrap_or_default();
    let at = WhatIfAt {
        state: hook.state,
        block: &hook.env,
        chain_id: hook.chain_id,
        market: hook.market,
    };
    let chosen = match intent.sale.route {
        Some(route) => Some(
            hook.real_dex
                .iter()
                .find(|d| d.route() == route)
                .ok_or_else(|| {
                    crate::error::Error::config(
                        "route",
                        route.name(),
                        "a route the run deployed (a strategy's `route` needs a real [dex] kind)",
                    )
                })?
                .as_ref(),
        ),
        None => hook.real_dex.first().map(|d| d.as_ref()),
    };
    if let (Some(dex), [request]) = (chosen, steps.as_slice()) {
        if crate::protocol::liquidator::supports(hook.market)
            && !request.receive_shares
            && request.collateral != request.debt
        {
            let plan = BundlePlan {
                dex,
                flash_loan: intent.funding == Funding::FlashLoan,
                sell: intent.sell_collateral,
                usd_sell: price(intent.collateral),
                usd_buy: price(intent.debt),
                max_slippage_bps: intent
                    .sale
                    .max_slippage_bps
                    .unwrap_or(hook.max_slippage_bps),
                min_out: None,
                funds: match intent.funds_base {
                    // The pool's balance in the debt asset, as the strategy values it.
                    Some(base) => {
                        let dr = c.holdings().get(intent.debt).ok_or_else(|| {
                            crate::error::Error::config("debt", intent.debt, "a market asset")
                        })?;
                        Some(match dr.price.is_zero() {
                            true => U256::ZERO,
                            false => base * crate::math::fixed::pow10(dr.decimals)? / dr.price,
                        })
                    }
                    None => None,
                },
            };
            let b = what_if_contract_bundle(
                &at,
                liquidator,
                c.user,
                &*c.position,
                request,
                intent.priority_fee_wei,
                &plan,
            )?;
            return Ok(Done {
                failure: (!b.success).then(|| b.revert_reason.clone().unwrap_or_default()),
                calls: 1,
                debt_repaid: b.debt_repaid,
                collateral_received: b.collateral_received,
                gas_used: b.gas_used,
                liquidation_gas: b.liquidation_gas,
                sale: b.route.map(|r| (r, b.amount_out)),
                premium: plan.flash_loan.then_some(b.premium),
            });
        }
    }
    let sale = match chosen {
        Some(dex) if intent.sell_collateral => Some(SaleRequest {
            dex,
            usd_sell: price(intent.collateral),
            usd_buy: price(intent.debt),
            min_out: U256::ZERO,
        }),
        _ => None,
    };
    let bundle = what_if_bundle(
        &at,
        liquidator,
        c.user,
        &*c.position,
        &steps,
        intent.priority_fee_wei,
        sale.as_ref(),
    )?;
    let results = &bundle.steps;
    let swap = bundle.sale.as_ref().map(|s| &s.swap);
    let failure = results
        .iter()
        .find(|r| !r.success)
        .map(|failed| failed.revert_reason.clone().unwrap_or_default())
        .or_else(|| {
            swap.filter(|s| !s.success)
                .map(|s| format!("swap: {}", s.revert_reason.clone().unwrap_or_default()))
        });
    let liquidation_gas: u64 = results.iter().map(|r| r.gas_used).sum();
    Ok(Done {
        failure,
        calls: results.len(),
        debt_repaid: results.iter().map(|r| r.debt_repaid).sum(),
        collateral_received: results.iter().map(|r| r.collateral_received).sum(),
        gas_used: liquidation_gas + swap.map(|s| s.gas_used).unwrap_or(0),
        liquidation_gas,
        sale: swap.map(|s| (s.route, s.amount_out)),
        premium: None,
    })
}

/// Records what an execution did (an action, or a `reverted` miss) and tells the strategy;
/// returns its capital afterwards when it is capital-limited.
fn apply(
    inst: &mut InstanceState,
    hook: &Hook<'_>,
    c: &Candidate,
    p: &Planned,
    done: &Done,
) -> Result<Option<CapitalRow>> {
    let view = hook.view;
    let intent = &p.intent;
    if let Some(reason) = &done.failure {
        inst.last_reason.insert(
            c.opportunity_id,
            (MissReason::Reverted(reason.clone()), view.block),
        );
        return Ok(None);
    }
    let (debt_repaid, collateral_received) = (done.debt_repaid, done.collateral_received);
    let real_sale = done.sale;
    let gas_used = done.gas_used;
    let cr = &c.holdings()[intent.collateral];
    let dr = &c.holdings()[intent.debt];
    let received = aave_math::collateral_value_base(collateral_received, cr.price, cr.decimals)?;
    let paid = aave_math::debt_value_base(debt_repaid, dr.price, dr.decimals)?;
    let bonus_base = I256::from_raw(received) - I256::from_raw(paid);
    let gas = crate::math::cost::gas_cost(
        gas_used,
        view.base_fee,
        intent.priority_fee_wei,
        view.native_price,
    );
    let funding_cost_base = match (intent.funding, done.premium) {
        (_, Some(premium)) => aave_math::debt_value_base(premium, dr.price, dr.decimals)?,
        (Funding::Own | Funding::BackstopPool, None) => U256::ZERO,
        (Funding::FlashLoan, None) => aave_math::debt_value_base(
            crate::math::cost::flash_loan_premium(debt_repaid, view.flash_loan_premium_bps)?,
            dr.price,
            dr.decimals,
        )?,
    };
    let sale = match real_sale {
        Some((_, amount_out)) => {
            let proceeds_base = aave_math::debt_value_base(amount_out, dr.price, dr.decimals)?;
            Some(crate::math::cost::SaleOutcome {
                proceeds_base,
                slippage_base: received.saturating_sub(proceeds_base),
            })
        }
        None if intent.sell_collateral => view.dex.sell(intent.collateral, received)?,
        None => None,
    };
    let slippage_base = sale.map(|s| s.slippage_base).unwrap_or_default();
    let net = bonus_base
        - I256::from_raw(gas.base)
        - I256::from_raw(funding_cost_base)
        - I256::from_raw(slippage_base);
    inst.strategy.on_executed(&Execution {
        block: p.landing,
        debt_paid_base: paid,
        collateral_value_base: received,
        sale_proceeds_base: sale.map(|s| s.proceeds_base).unwrap_or_default(),
        gas_cost_base: gas.base,
        funding_cost_base,
    });
    inst.actions.push(Action {
        instance: p.instance,
        opportunity_id: c.opportunity_id,
        decided_block: view.block,
        block: p.landing,
        user: c.user,
        collateral: intent.collateral,
        debt: intent.debt,
        calls: done.calls,
        debt_repaid,
        collateral_received,
        bonus_base,
        gas_used,
        gas_price_wei: gas.gas_price_wei,
        gas_cost_wei: gas.wei,
        gas_cost_base: gas.base,
        funding_cost_base,
        slippage_base,
        net_profit_base: net,
        funding: intent.funding,
        route: real_sale.map(|s| s.0),
        amount_out: real_sale.map(|s| s.1).unwrap_or_default(),
        liquidation_gas: done.liquidation_gas,
        flash_premium: done.premium.unwrap_or_default(),
        price_impact_bps: match (real_sale, sale) {
            (Some(_), Some(s)) if !received.is_zero() => {
                u64::try_from(s.slippage_base * U256::from(10_000u64) / received)
                    .unwrap_or(u64::MAX)
            }
            _ => 0,
        },
    });
    Ok(inst.strategy.capital_base().map(|capital_base| CapitalRow {
        instance: p.instance,
        block: p.landing,
        capital_base,
    }))
}

impl ReplayHooks<PrestateDb> for StrategyRunner {
    fn on_block_start(&mut self, evm: &mut Evm<PrestateDb>, block: &BlockRecord) -> Result<()> {
        self.tracker.on_block_start(evm, block)?;
        self.blocks.push(BlockRow {
            number: block.number,
            timestamp: block.timestamp,
            base_fee: block.base_fee,
            native_price: self.tracker.book.usd_price(self.native),
            open_opportunities: self.tracker.ledger.open().count() as u64,
        });
        if self.blocks.len() % 100 == 1 {
            self.snapshot_health(block.number)?;
        }
        self.hook_point(evm, block, 0)
    }

    fn on_transaction(
        &mut self,
        evm: &mut Evm<PrestateDb>,
        block: &BlockRecord,
        tx: &ReplayedTx<'_>,
    ) -> Result<()> {
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
        self.hook_point(evm, block, tx.index + 1)
    }
}
