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
    /// Parameter-set id (`P01`...), the key the output tables join on.
    pub param_set_id: String,
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
    /// Best bonus value of the missed ones, USD (before gas).
    pub missed_value_usd: f64,
    /// What the missed ones were worth after the gas this parameter set would have paid (the
    /// liquidation gas estimate at the base fee of its last decision and its own tip), USD; an
    /// opportunity worth less than its gas counts 0.
    pub missed_value_after_gas_usd: f64,
    /// captured / opportunities.
    pub capture_rate: f64,
}

/// `(base fee in wei, native price with 8 decimals)` per block.
pub type GasPrices = std::collections::BTreeMap<u64, (u64, U256)>;

/// What `miss` was worth to `instance` after gas (see [`SummaryRow::missed_value_after_gas_usd`]),
/// base currency, at least 0.
pub fn missed_value_after_gas(
    miss: &Miss,
    instance: &Instance,
    opportunities: &[Opportunity],
    prices: &GasPrices,
) -> I256 {
    let Some(o) = opportunities.get(miss.opportunity_id as usize) else {
        return I256::ZERO;
    };
    let block = miss.block.unwrap_or(o.first_block);
    let (base_fee, native) = prices
        .range(..=block)
        .next_back()
        .or_else(|| prices.iter().next())
        .map(|(_, v)| *v)
        .unwrap_or((0, U256::ZERO));
    let tip = crate::strategy::param_wei(&instance.params, "priority_fee_gwei").unwrap_or(0);
    let gas = crate::math::cost::gas_cost(
        crate::strategy::LIQUIDATION_GAS_ESTIMATE,
        base_fee,
        tip,
        native,
    );
    let gas = I256::try_from(gas.base).unwrap_or(I256::MAX);
    (o.best_bonus_value_base.saturating_sub(gas)).max(I256::ZERO)
}

/// Summarises one instance (`index` in the run's order).
pub fn summarise(
    index: usize,
    instance: &Instance,
    actions: &[Action],
    misses: &[Miss],
    opportunities: &[Opportunity],
    prices: &GasPrices,
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
    let missed_after_gas: I256 = misses
        .iter()
        .map(|m| missed_value_after_gas(m, instance, opportunities, prices))
        .fold(I256::ZERO, |a, b| a + b);
    let captured = actions
        .iter()
        .map(|a| a.opportunity_id)
        .collect::<std::collections::BTreeSet<_>>()
        .len() as u64;
    let total = opportunities.len() as u64;
    SummaryRow {
        param_set_id: crate::strategy::param_set_id(index),
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
        missed_value_after_gas_usd: i256_to_f64_lossy(missed_after_gas, 8),
        capture_rate: if total == 0 {
            0.0
        } else {
            captured as f64 / total as f64
        },
    }
}

/// Every instance's summary row, in instance order: `actions[i]` and the misses of instance `i`
/// against the run's opportunities, gas priced from `blocks`.
pub fn summarise_run(
    instances: &[Instance],
    actions: &[Vec<Action>],
    misses: &[Miss],
    opportunities: &[Opportunity],
    blocks: &[crate::engine::runner::BlockRow],
) -> Vec<SummaryRow> {
    let prices: GasPrices = blocks
        .iter()
        .map(|b| (b.number, (b.base_fee, b.native_price)))
        .collect();
    instances
        .iter()
        .enumerate()
        .map(|(i, inst)| {
            let mine: Vec<_> = misses.iter().filter(|m| m.instance == i).cloned().collect();
            summarise(
                i,
                inst,
                actions.get(i).map(Vec::as_slice).unwrap_or(&[]),
                &mine,
                opportunities,
                &prices,
            )
        })
        .collect()
}

/// Short names of parameters in the terminal table and chart legends.
pub fn short_param(key: &str) -> &str {
    match key {
        "latency_blocks" => "lat",
        "priority_fee_gwei" => "tip",
        "max_gas_price_gwei" => "cap",
        "min_profit_usd" => "min$",
        "capital_usd" => "cap$",
        "stablecoins" => "stables",
        other => other,
    }
}

/// The parameters of `instance` swept among the sets of its own kind (of `all`), short names:
/// `cap=60 min$=0`.
pub fn swept_text(instance: &Instance, all: &[Instance]) -> String {
    let same: Vec<Instance> = all
        .iter()
        .filter(|i| i.kind == instance.kind)
        .cloned()
        .collect();
    let swept = crate::strategy::swept_params(&same);
    instance
        .params
        .iter()
        .filter(|(k, _)| swept.contains(k))
        .map(|(k, v)| format!("{}={v}", short_param(k)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// The terminal table of summary rows: set id, strategy, swept parameters only, and USD columns
/// with thousands separators (net = bonus − gas − funding − slippage); under 100 columns for the
/// default scenario (tested).
pub fn table(rows: &[SummaryRow], instances: &[Instance]) -> String {
    use crate::units::thousands;
    let labels: Vec<String> = instances.iter().map(|i| swept_text(i, instances)).collect();
    let kind = rows
        .iter()
        .map(|r| r.strategy.len())
        .max()
        .unwrap_or(0)
        .max(8);
    let params = labels.iter().map(|l| l.len()).max().unwrap_or(0).max(5);
    let mut out = format!(
        "{:<3} {:<kind$} {:<params$} {:>11} {:>11} {:>9} {:>7} {:>7} {:>9}\n",
        "set", "strategy", "swept", "net USD", "bonus USD", "gas USD", "fund", "slip", "captured",
    );
    for (i, r) in rows.iter().enumerate() {
        out.push_str(&format!(
            "{:<3} {:<kind$} {:<params$} {:>11} {:>11} {:>9} {:>7} {:>7} {:>9}\n",
            r.param_set_id,
            r.strategy,
            labels.get(i).map(String::as_str).unwrap_or(""),
            thousands(r.net_profit_usd, 0),
            thousands(r.captured_bonus_usd, 0),
            thousands(r.gas_spent_usd, 0),
            thousands(r.funding_cost_usd, 0),
            thousands(r.slippage_usd, 0),
            format!("{}/{}", r.captured, r.opportunities),
        ));
    }
    out
}
