//! A study's runs in parts: what one shard found on its window for its parameter subset (exact,
//! serializable), a window's whole run assembled from the parts of its shards (checked: every
//! parameter set once, the same window findings in every part), and each parameter set's
//! figures per window and in total.

use alloy_primitives::{I256, U256};
use serde::{Deserialize, Serialize};

use crate::analytics::result::StrategyRun;
use crate::data::records::Manifest;
use crate::engine::opportunities::Opportunity;
use crate::engine::replay::Fidelity;
use crate::engine::runner::{Action, BlockRow, CapitalRow, Miss};
use crate::error::{Error, Result};
use crate::math::profit::{i256_to_f64_lossy, to_f64_lossy};
use crate::strategy::Instance;

/// What one shard found on its window for the parameter sets `first..end` of the study (instance
/// indices are the study's), exact: every figure of the outputs can be rebuilt from it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WindowPart {
    /// The window's label.
    pub window: String,
    /// First parameter set of the part.
    pub first: usize,
    /// One past its last.
    pub end: usize,
    /// The dataset's manifest (the market, the window's blocks).
    pub manifest: Manifest,
    /// Receipt fidelity of the replay.
    pub fidelity: Fidelity,
    /// The window's opportunities.
    pub opportunities: Vec<Opportunity>,
    /// Per-block figures.
    pub blocks: Vec<BlockRow>,
    /// Borrowers' health factors at snapshot blocks.
    pub health_snapshots: Vec<(u64, Vec<f64>)>,
    /// Hook points at which strategies were consulted.
    pub hooks_evaluated: u64,
    /// What-if executions of this part's parameter sets.
    pub what_ifs: u64,
    /// Actions of each parameter set of the part, in order.
    pub actions: Vec<Vec<Action>>,
    /// Misses of the part's parameter sets.
    pub misses: Vec<Miss>,
    /// Capital rows of the part's parameter sets.
    pub capital: Vec<CapitalRow>,
}

impl WindowPart {
    /// The part of a run over the study's parameter sets `first..` (the run's instance `i` is
    /// the study's `first + i`).
    pub fn from_run(window: &str, run: StrategyRun, first: usize, manifest: Manifest) -> Self {
        let end = first + run.actions.len();
        let actions = run
            .actions
            .into_iter()
            .map(|list| {
                list.into_iter()
                    .map(|mut a| {
                        a.instance += first;
                        a
                    })
                    .collect()
            })
            .collect();
        let misses = run
            .misses
            .into_iter()
            .map(|mut m| {
                m.instance += first;
                m
            })
            .collect();
        let capital = run
            .capital
            .into_iter()
            .map(|mut c| {
                c.instance += first;
                c
            })
            .collect();
        Self {
            window: window.to_string(),
            first,
            end,
            manifest,
            fidelity: run.fidelity,
            opportunities: run.opportunities,
            blocks: run.blocks,
            health_snapshots: run.health_snapshots,
            hooks_evaluated: run.hooks_evaluated,
            what_ifs: run.what_ifs,
            actions,
            misses,
            capital,
        }
    }

    /// The run over all of `instances` with only this part's parameter sets filled (the others
    /// have no action and no miss): the rows a single run has for this part's sets, in place.
    pub fn sparse_run(&self, instances: &[Instance]) -> Result<StrategyRun> {
        let mut actions = vec![Vec::new(); instances.len()];
        for (k, list) in self.actions.iter().enumerate() {
            if let Some(slot) = actions.get_mut(self.first + k) {
                *slot = list.clone();
            }
        }
        self.run_with(
            instances,
            actions,
            self.misses.clone(),
            self.capital.clone(),
            self.what_ifs,
        )
    }

    fn run_with(
        &self,
        instances: &[Instance],
        actions: Vec<Vec<Action>>,
        misses: Vec<Miss>,
        capital: Vec<CapitalRow>,
        what_ifs: u64,
    ) -> Result<StrategyRun> {
        let market = crate::protocol::window::WindowDetails::from_manifest(&self.manifest)?.market;
        let summary = crate::analytics::summary::summarise_run(
            instances,
            &actions,
            &misses,
            &self.opportunities,
            &self.blocks,
        );
        Ok(StrategyRun {
            fidelity: self.fidelity.clone(),
            opportunities: self.opportunities.clone(),
            actions,
            misses,
            summary,
            blocks: self.blocks.clone(),
            capital,
            health_snapshots: self.health_snapshots.clone(),
            market,
            what_ifs,
            hooks_evaluated: self.hooks_evaluated,
            seconds: 0.0,
            evaluation_seconds: 0.0,
            lazy_reads: 0,
        })
    }
}

/// A window's whole run from the parts of its shards (`what` names them in errors, one per
/// part): the parts must cover the parameter sets of `instances` exactly once, and agree on
/// everything that belongs to the window (replay fidelity, opportunities, blocks, health
/// snapshots, hook points, dataset), else an error names the parameter sets or the parts.
pub fn assemble(parts: &[(String, WindowPart)], instances: &[Instance]) -> Result<StrategyRun> {
    let mut sorted: Vec<&(String, WindowPart)> = parts.iter().collect();
    sorted.sort_by_key(|(_, p)| (p.first, p.end));
    let Some((first_name, first)) = sorted.first().map(|(n, p)| (n, p)) else {
        return Err(Error::Mismatch(
            "no part to assemble a window from".to_string(),
        ));
    };
    let ids = |a: usize, b: usize| {
        (a..b)
            .map(crate::strategy::param_set_id)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut next = 0;
    for (name, p) in &sorted {
        if p.end <= p.first || p.end > instances.len() || p.actions.len() != p.end - p.first {
            return Err(Error::Mismatch(format!(
                "{name}: parameter sets {}..{} of window `{}` do not fit the study's {} sets",
                p.first,
                p.end,
                p.window,
                instances.len()
            )));
        }
        if p.first > next {
            return Err(Error::Mismatch(format!(
                "window `{}`: no part holds parameter sets {} (a missing shard)",
                p.window,
                ids(next, p.first)
            )));
        }
        if p.first < next {
            return Err(Error::Mismatch(format!(
                "window `{}`: parameter sets {} are in two parts ({name} and another): a duplicated shard",
                p.window,
                ids(p.first, next.min(p.end))
            )));
        }
        let same = p.window == first.window
            && p.manifest == first.manifest
            && p.fidelity == first.fidelity
            && p.opportunities == first.opportunities
            && p.blocks == first.blocks
            && p.health_snapshots == first.health_snapshots
            && p.hooks_evaluated == first.hooks_evaluated;
        if !same {
            return Err(Error::Mismatch(format!(
                "{name} and {first_name} found different windows for `{}` (dataset, replay, opportunities, blocks or hook points differ): their datasets or liqsim builds differ",
                first.window
            )));
        }
        next = p.end;
    }
    if next != instances.len() {
        return Err(Error::Mismatch(format!(
            "window `{}`: no part holds parameter sets {} (a missing shard)",
            first.window,
            ids(next, instances.len())
        )));
    }
    let mut actions = Vec::with_capacity(instances.len());
    let (mut misses, mut capital, mut what_ifs) = (Vec::new(), Vec::new(), 0);
    for (_, p) in &sorted {
        actions.extend(p.actions.iter().cloned());
        misses.extend(p.misses.iter().cloned());
        capital.extend(p.capital.iter().cloned());
        what_ifs += p.what_ifs;
    }
    first.run_with(instances, actions, misses, capital, what_ifs)
}

/// One parameter set on one window, or over all of them (`window` = `total`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StudyRow {
    /// The window's label, or `total`.
    pub window: String,
    /// Parameter-set id.
    pub param_set_id: String,
    /// Strategy kind.
    pub strategy: String,
    /// Parameters, `key=value;...`.
    pub params: String,
    /// Captured bonus, USD.
    pub captured_bonus_usd: f64,
    /// Gas spent, USD.
    pub gas_spent_usd: f64,
    /// Funding costs, USD.
    pub funding_cost_usd: f64,
    /// Slippage, USD.
    pub slippage_usd: f64,
    /// Net profit, USD.
    pub net_profit_usd: f64,
    /// Net profit, exact base units (8 decimals), as text.
    pub net_profit_base: String,
    /// Liquidation transactions.
    pub liquidations: u64,
    /// Opportunities.
    pub opportunities: u64,
    /// Captured.
    pub captured: u64,
    /// Missed value after gas, USD.
    pub missed_value_after_gas_usd: f64,
    /// captured / opportunities.
    pub capture_rate: f64,
}

/// The label of the rows over every window.
pub const TOTAL: &str = "total";

/// Each parameter set's row on every window (window order), then its total over all windows:
/// exact sums of the actions' values, counts summed, capture rate of the sums.
pub fn study_rows(windows: &[(String, &StrategyRun)], instances: &[Instance]) -> Vec<StudyRow> {
    let mut rows = Vec::new();
    for (i, inst) in instances.iter().enumerate() {
        let (mut bonus, mut net) = (I256::ZERO, I256::ZERO);
        let (mut gas, mut funding, mut slippage) = (U256::ZERO, U256::ZERO, U256::ZERO);
        let (mut liquidations, mut opportunities, mut captured) = (0u64, 0u64, 0u64);
        let mut missed_after_gas = 0.0;
        for (label, run) in windows {
            let Some(s) = run.summary.get(i) else {
                continue;
            };
            for a in run.actions.get(i).map(Vec::as_slice).unwrap_or(&[]) {
                bonus += a.bonus_base;
                net += a.net_profit_base;
                gas += a.gas_cost_base;
                funding += a.funding_cost_base;
                slippage += a.slippage_base;
            }
            liquidations += s.liquidations;
            opportunities += s.opportunities;
            captured += s.captured;
            missed_after_gas += s.missed_value_after_gas_usd;
            rows.push(StudyRow {
                window: label.clone(),
                param_set_id: s.param_set_id.clone(),
                strategy: s.strategy.clone(),
                params: s.params.clone(),
                captured_bonus_usd: s.captured_bonus_usd,
                gas_spent_usd: s.gas_spent_usd,
                funding_cost_usd: s.funding_cost_usd,
                slippage_usd: s.slippage_usd,
                net_profit_usd: s.net_profit_usd,
                net_profit_base: s.net_profit_base.clone(),
                liquidations: s.liquidations,
                opportunities: s.opportunities,
                captured: s.captured,
                missed_value_after_gas_usd: s.missed_value_after_gas_usd,
                capture_rate: s.capture_rate,
            });
        }
        rows.push(StudyRow {
            window: TOTAL.into(),
            param_set_id: crate::strategy::param_set_id(i),
            strategy: inst.kind.clone(),
            params: inst.params_text(),
            captured_bonus_usd: i256_to_f64_lossy(bonus, 8),
            gas_spent_usd: to_f64_lossy(gas, 8),
            funding_cost_usd: to_f64_lossy(funding, 8),
            slippage_usd: to_f64_lossy(slippage, 8),
            net_profit_usd: i256_to_f64_lossy(net, 8),
            net_profit_base: net.to_string(),
            liquidations,
            opportunities,
            captured,
            missed_value_after_gas_usd: missed_after_gas,
            capture_rate: if opportunities == 0 {
                0.0
            } else {
                captured as f64 / opportunities as f64
            },
        });
    }
    rows
}
