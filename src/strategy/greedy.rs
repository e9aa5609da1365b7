//! `greedy`: liquidate the most valuable collateral/debt pair up to the close factor whenever the
//! expected profit after gas is positive.
//!
//! Parameters: `latency_blocks` (default 0), `priority_fee_gwei` (default 2).

use alloy_primitives::{I256, U256};

use super::{
    expected_profit, param_u64, param_wei, Candidate, Decision, Funding, HookView, Intent,
    MissReason, Params, Strategy, StrategyKind,
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
        let Some(best) = candidate.best else {
            return Ok(Decision::Skip(MissReason::Unprofitable));
        };
        if expected_profit(view, candidate, &best, self.priority_fee_wei, Funding::Own)?
            <= I256::ZERO
        {
            return Ok(Decision::Skip(MissReason::Unprofitable));
        }
        Ok(Decision::Act(Intent {
            collateral: best.collateral,
            debt: best.debt,
            debt_to_cover: vec![U256::MAX],
            receive_shares: false,
            priority_fee_wei: self.priority_fee_wei,
            funding: Funding::Own,
            sell_collateral: false,
        }))
    }
}
