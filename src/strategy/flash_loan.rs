//! `flash-loan`: the greedy decision, funded by an Aave flash loan of the debt asset, paying the
//! market's flash-loan premium (counted as the funding cost).
//!
//! Parameters: `latency_blocks` (1), `priority_fee_gwei` (2), `min_profit_usd` (0).

use alloy_primitives::{I256, U256};

use super::{
    expected_profit, param_u64, param_wei, Candidate, Decision, Funding, HookView, Intent,
    MissReason, Params, Strategy, StrategyKind,
};
use crate::error::Result;

/// Registry entry.
pub const KIND: StrategyKind = StrategyKind {
    name: "flash-loan",
    params: &[
        ("latency_blocks", "1"),
        ("min_profit_usd", "0"),
        ("priority_fee_gwei", "2"),
    ],
    build,
};

fn build(params: &Params) -> Result<Box<dyn Strategy>> {
    Ok(Box::new(FlashLoan {
        latency_blocks: param_u64(params, "latency_blocks")?,
        priority_fee_wei: param_wei(params, "priority_fee_gwei")?,
        min_profit_base: super::param_min_profit(params)?,
    }))
}

/// The flash-loan-funded liquidator.
#[derive(Debug, Clone)]
pub struct FlashLoan {
    /// Reaction latency.
    pub latency_blocks: u64,
    /// Priority fee per gas, wei.
    pub priority_fee_wei: u128,
    /// Minimum expected profit after gas and premium, base currency.
    pub min_profit_base: I256,
}

impl Strategy for FlashLoan {
    fn kind(&self) -> &'static str {
        "flash-loan"
    }
    fn latency_blocks(&self) -> u64 {
        self.latency_blocks
    }
    fn decide(&self, view: &HookView<'_>, candidate: &Candidate) -> Result<Decision> {
        let Some(best) = candidate.best else {
            return Ok(Decision::Skip(MissReason::Unprofitable));
        };
        let profit = expected_profit(
            view,
            candidate,
            &best,
            self.priority_fee_wei,
            Funding::FlashLoan,
        )?;
        if profit <= I256::ZERO || profit < self.min_profit_base {
            return Ok(Decision::Skip(MissReason::Unprofitable));
        }
        Ok(Decision::Act(Intent {
            collateral: best.collateral,
            debt: best.debt,
            debt_to_cover: vec![U256::MAX],
            receive_shares: false,
            priority_fee_wei: self.priority_fee_wei,
            funding: Funding::FlashLoan,
            sell_collateral: false,
        }))
    }
}
