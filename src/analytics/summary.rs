//! Per strategy × parameter set: captured bonus, gas spent, net profit, captures and misses.

use alloy_primitives::{I256, U256};
use serde::Serialize;

use crate::engine::opportunities::Opportunity;
use crate::engine::runner::{Action, Miss};
use crate::math::profit::{i256_to_f64_lossy, to_f64_lossy};
use crate::strategy::Instance;

/// One summary row (exact values in base-currency units alongside report floats).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SummaryRow {
    /// Strategy kind.
    pub strategy: String,
    /// Parameters, `key=value;...`.
    pub params: String,
    /// Captured bonus, USD.
    pub captured_bonus_usd: f64,
    /// Gas spent, ETH.
    pub gas_spent_eth: f64,
    /// Gas spent, USD.
    pub gas_spent_usd: f64,
    /// Funding costs, USD.
    pub funding_cost_usd: f64,
    /// Slippage selling seized collateral, USD.
    pub slippage_usd: f64,
    /// Net profit, USD.
    pub net_profit_usd: f64,
    /// Net profit, exact base-currency units (8 decimals), as text.
    pub net_profit_base: String,
    /// Liquidation transactions (a two-step capture counts its calls).
    pub liquidations: u64,
    /// Opportunities in the window.
    pub opportunities: u64,
    /// Opportunities captured.
    pub captured: u64,
    /// Opportunities missed.
    pub missed: u64,
    /// Best bonus value of the missed ones, USD.
    pub missed_value_usd: f64,
    /// captured / opportunities.
    pub capture_rate: f64,
}

/// Summarises one instance.
pub fn summarise(
    instance: &Instance,
    actions: &[Action],
    misses: &[Miss],
    opportunities: &[Opportunity],
) -> SummaryRow {
    let sum_u = |f: fn(&Action) -> U256| actions.iter().map(f).fold(U256::ZERO, |a, b| a + b);
    let sum_i = |f: fn(&Action) -> I256| actions.iter().map(f).fold(I256::ZERO, |a, b| a + b);
    let bonus = sum_i(|a| a.bonus_base);
    let net = sum_i(|a| a.net_profit_base);
    let missed_value: I256 = misses
        .iter()
        .filter_map(|m| opportunities.get(m.opportunity_id as usize))
        .map(|o| o.best_bonus_value_base.max(I256::ZERO))
        .fold(I256::ZERO, |a, b| a + b);
    let captured = actions
        .iter()
        .map(|a| a.opportunity_id)
        .collect::<std::collections::BTreeSet<_>>()
        .len() as u64;
    let total = opportunities.len() as u64;
    SummaryRow {
        strategy: instance.kind.clone(),
        params: instance.params_text(),
        captured_bonus_usd: i256_to_f64_lossy(bonus, 8),
        gas_spent_eth: to_f64_lossy(sum_u(|a| a.gas_cost_wei), 18),
        gas_spent_usd: to_f64_lossy(sum_u(|a| a.gas_cost_base), 8),
        funding_cost_usd: to_f64_lossy(sum_u(|a| a.funding_cost_base), 8),
        slippage_usd: to_f64_lossy(sum_u(|a| a.slippage_base), 8),
        net_profit_usd: i256_to_f64_lossy(net, 8),
        net_profit_base: net.to_string(),
        liquidations: actions.iter().map(|a| a.calls as u64).sum(),
        opportunities: total,
        captured,
        missed: total - captured,
        missed_value_usd: i256_to_f64_lossy(missed_value, 8),
        capture_rate: if total == 0 {
            0.0
        } else {
            captured as f64 / total as f64
        },
    }
}

/// A fixed-width terminal table of summary rows (columns as wide as their content).
pub fn table(rows: &[SummaryRow]) -> String {
    let kind = rows
        .iter()
        .map(|r| r.strategy.len())
        .max()
        .unwrap_or(0)
        .max(8);
    let params = rows
        .iter()
        .map(|r| r.params.len())
        .max()
        .unwrap_or(0)
        .max(6);
    let mut out = format!(
        "{:<kind$} {:<params$} {:>12} {:>10} {:>10} {:>12} {:>6} {:>9} {:>8}\n",
        "strategy",
        "params",
        "bonus USD",
        "gas USD",
        "slip USD",
        "net USD",
        "liqs",
        "captured",
        "rate"
    );
    for r in rows {
        out.push_str(&format!(
            "{:<kind$} {:<params$} {:>12.2} {:>10.2} {:>10.2} {:>12.2} {:>6} {:>4}/{:<4} {:>7.1}%\n",
            r.strategy,
            r.params,
            r.captured_bonus_usd,
            r.gas_spent_usd,
            r.slippage_usd,
            r.net_profit_usd,
            r.liquidations,
            r.captured,
            r.opportunities,
            r.capture_rate * 100.0
        ));
    }
    out
}
