//! `greedy`: liquidate the most valuable collateral/debt pair up to the close factor whenever the
//! expected profit after gas is positive.
//!
//! Parameters: `latency_blocks` (default 0), `priority_fee_gwei` (default 2).

use alloy_primitives::I256;

use super::{
    liquidate_best_if_profitable, param_u64, param_wei, Candidate, Decision, Funding, HookView,
    Params, Strategy, StrategyKind,
};
use crate::error::Result;

/// Registry entry.
pub const KIND: StrategyKind = StrategyKind {
    name: "greedy",
    params: &[("latency_blocks", "0"), ("priority_fee_gwei", "2")],
    build,
};

fn build(params: &Params) -> Result<Box<dyn Strategy>> {
    Ok(Box::new(Greedy {
        latency_blocks: param_u64(params, "latency_blocks")?,
        priority_fee_wei: param_wei(params, "priority_fee_gwei")?,
    }))
}

/// The greedy liquidator.
#[derive(Debug, Clone)]
pub struct Greedy {
    /// Reaction latency.
    pub latency_blocks: u64,
    /// Priority fee per gas, wei.
    pub priority_fee_wei: u128,
}

impl Strategy for Greedy {
    fn kind(&self) -> &'static str {
        "greedy"
    }
    fn latency_blocks(&self) -> u64 {
        self.latency_blocks
    }
    fn decide(&self, view: &HookView<'_>, candidate: &Candidate) -> Result<Decision> {
        liquidate_best_if_profitable(
            view,
            candidate,
            self.priority_fee_wei,
            Funding::Own,
            I256::ZERO,
            super::SaleChoice::default(),
        )
    }
}
