//! What a run produced: the replay's findings and every strategy instance's actions, misses and
//! summary, as the outputs read them.

use std::collections::BTreeMap;

use alloy_primitives::Address;

use crate::analytics::summary::SummaryRow;
use crate::engine::opportunities::Opportunity;
use crate::engine::replay::Fidelity;
use crate::engine::runner::{Action, BlockRow, CapitalRow, Miss};
use crate::protocol::AnyMarket;

/// What a replay of a dataset found.
#[derive(Debug, Clone)]
pub struct ReplayReport {
    /// Receipt fidelity.
    pub fidelity: Fidelity,
    /// Every opportunity of the window.
    pub opportunities: Vec<Opportunity>,
    /// Historical liquidations per liquidator.
    pub liquidations_by: BTreeMap<Address, u64>,
    /// Names of known liquidators.
    pub names: BTreeMap<Address, String>,
    /// Seconds spent replaying.
    pub seconds: f64,
    /// What the tracker did (checks by kind, deferred checks, skip-filter scans).
    pub stats: crate::engine::opportunities::TrackerStats,
}

/// Everything a strategy run produced.
pub struct StrategyRun {
    /// Receipt fidelity of the replay.
    pub fidelity: Fidelity,
    /// Opportunities of the window.
    pub opportunities: Vec<Opportunity>,
    /// Actions per instance.
    pub actions: Vec<Vec<Action>>,
    /// Misses of all instances.
    pub misses: Vec<Miss>,
    /// Summary rows, one per instance.
    pub summary: Vec<SummaryRow>,
    /// Per-block figures.
    pub blocks: Vec<BlockRow>,
    /// Capital of capital-limited strategies (backstop pools) over time.
    pub capital: Vec<CapitalRow>,
    /// Borrowers' health factors at snapshot blocks.
    pub health_snapshots: Vec<(u64, Vec<f64>)>,
    /// The market.
    pub market: AnyMarket,
    /// What-if executions.
    pub what_ifs: u64,
    /// Hook points at which strategies were consulted.
    pub hooks_evaluated: u64,
    /// Seconds replaying and evaluating.
    pub seconds: f64,
    /// Of which evaluating strategies at hook points.
    pub evaluation_seconds: f64,
    /// Reads of state a recorded window lacks that were fetched from the node (`liqsim run
    /// --rpc`); 0 otherwise.
    pub lazy_reads: u64,
}
