//! `gas-threshold`: act only when base fee + priority fee ≤ `max_gas_price_gwei` and the expected
//! profit after gas ≥ `min_profit_usd` — the strategy users tune.
//!
//! Parameters: `latency_blocks` (1), `priority_fee_gwei` (2), `max_gas_price_gwei` (100),
//! `min_profit_usd` (0).

use alloy_primitives::{I256, U256};

use super::{
    liquidate_best_if_profitable, param_u64, param_units, param_wei, Candidate, Decision, Funding,
    HookView, MissReason, Params, Strategy, StrategyKind,
};
use crate::error::Result;

/// Registry entry.
pub const KIND: StrategyKind = StrategyKind {
    name: "gas-threshold",
    params: &[
        ("latency_blocks", "1"),
        ("max_gas_price_gwei", "100"),
        ("min_profit_usd", "0"),
        ("priority_fee_gwei", "2"),
    ],
    build,
};

fn build(params: &Params) -> Result<Box<dyn Strategy>> {
    Ok(Box::new(GasThreshold {
        latency_blocks: param_u64(params, "latency_blocks")?,
        priority_fee_wei: param_wei(params, "priority_fee_gwei")?,
        max_gas_price_wei: param_units(params, "max_gas_price_gwei", 9)?,
        min_profit_base: super::param_min_profit(params)?,
    }))
}

/// The gas-threshold liquidator.
#[derive(Debug, Clone)]
pub struct GasThreshold {
    /// Reaction latency.
    pub latency_blocks: u64,
    /// Priority fee per gas, wei.
    pub priority_fee_wei: u128,
    /// Cap on base fee + priority fee, wei.
    pub max_gas_price_wei: U256,
    /// Minimum expected profit, base currency (8 decimals).
    pub min_profit_base: I256,
}

impl Strategy for GasThreshold {
    fn kind(&self) -> &'static str {
        "gas-threshold"
    }
    fn latency_blocks(&self) -> u64 {
        self.latency_blocks
    }
    fn decide(&self, view: &HookView<'_>, candidate: &Candidate) -> Result<Decision> {
        if U256::from(view.base_fee) + U256::from(self.priority_fee_wei) > self.max_gas_price_wei {
            return Ok(Decision::Skip(MissReason::OverGasCap));
        }
        liquidate_best_if_profitable(
            view,
            candidate,
            self.priority_fee_wei,
            Funding::Own,
            self.min_profit_base,
            super::SaleChoice::default(),
        )
    }
}
