//! `flash-loan`: the greedy decision, funded by an Aave flash loan of the debt asset, paying the
//! market's flash-loan premium (counted as the funding cost).
//!
//! Parameters: `latency_blocks` (1), `priority_fee_gwei` (2), `min_profit_usd` (0).

use alloy_primitives::I256;

use super::{
    liquidate_best_if_profitable, param_u64, param_wei, Candidate, Decision, Funding, HookView,
    Params, Strategy, StrategyKind,
};
use crate::error::Result;

/// Registry entry.
pub const KIND: StrategyKind = StrategyKind {
    name: "flash-loan",
    params: &[
        ("latency_blocks", "1"),
        super::SALE_PARAMS[0],
        ("min_profit_usd", "0"),
        ("priority_fee_gwei", "2"),
        super::SALE_PARAMS[1],
    ],
    build,
};

fn build(params: &Params) -> Result<Box<dyn Strategy>> {
    Ok(Box::new(FlashLoan {
        latency_blocks: param_u64(params, "latency_blocks")?,
        priority_fee_wei: param_wei(params, "priority_fee_gwei")?,
        min_profit_base: super::param_min_profit(params)?,
        sale: super::param_sale(params)?,
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
    /// The real pool and tolerance its sale uses (`route`, `max_slippage_bps`).
    pub sale: super::SaleChoice,
}

impl Strategy for FlashLoan {
    fn kind(&self) -> &'static str {
        "flash-loan"
    }
    fn latency_blocks(&self) -> u64 {
        self.latency_blocks
    }
    fn decide(&self, view: &HookView<'_>, candidate: &Candidate) -> Result<Decision> {
        liquidate_best_if_profitable(
            view,
            candidate,
            self.priority_fee_wei,
            Funding::FlashLoan,
            self.min_profit_base,
            self.sale,
        )
    }
}
