//! `two-step`: the strategy of Qin et al., "An Empirical Study of DeFi Liquidations" (IMC 2021):
//! split a liquidation in two so that the position stays liquidatable after the first, then
//! liquidate up to the close factor again — repaying more than one close-factor's worth.
//!
//! The first `debtToCover` is the largest amount that keeps the health factor below 1 (binary
//! search on the shared math, to within 1 ppm of the close-factor amount: the last ppm changes the
//! profit by less than a millionth); the second is `max`. It falls back to one `max` liquidation when
//! splitting earns less than the extra gas.
//!
//! Parameters: `latency_blocks` (1), `priority_fee_gwei` (2).

use alloy_primitives::{I256, U256};

use super::{
    expected_profit, param_u64, param_wei, Candidate, Decision, Funding, HookView, Intent,
    MissReason, Params, Strategy, StrategyKind,
};
use crate::error::Result;
use crate::math::aave as aave_math;
use crate::protocol::market::Position;

/// Registry entry.
pub const KIND: StrategyKind = StrategyKind {
    name: "two-step",
    params: &[("latency_blocks", "1"), ("priority_fee_gwei", "2")],
    build,
};

fn build(params: &Params) -> Result<Box<dyn Strategy>> {
    Ok(Box::new(TwoStep {
        latency_blocks: param_u64(params, "latency_blocks")?,
        priority_fee_wei: param_wei(params, "priority_fee_gwei")?,
    }))
}

/// The two-step liquidator.
#[derive(Debug, Clone)]
pub struct TwoStep {
    /// Reaction latency.
    pub latency_blocks: u64,
    /// Priority fee per gas, wei.
    pub priority_fee_wei: u128,
}

/// Collateral value received minus debt value repaid (USD, 8 decimals).
pub use crate::protocol::market::bonus_value;

/// The two-step plan for pair (c, d) with the protocol's own math: the first `debtToCover` and
/// the total bonus value of both steps, or `None` when no first step keeps the position
/// liquidatable.
pub fn plan(position: &dyn Position, c: usize, d: usize) -> Result<Option<(U256, I256)>> {
    let max = position.liquidation(c, d, U256::MAX)?.max_liquidatable_debt;
    let still_liquidatable = |x: U256| -> Result<bool> {
        let o = position.liquidation(c, d, x)?;
        Ok(aave_math::is_liquidatable(
            position.after(c, d, &o)?.health_factor()?,
        ))
    };
    if max.is_zero() || !still_liquidatable(U256::from(1u64))? {
        return Ok(None);
    }
    let (mut lo, mut hi) = (U256::from(1u64), max);
    let precision = max / U256::from(1_000_000u64);
    while lo < hi && hi - lo > precision {
        let mid = hi - (hi - lo) / U256::from(2u64);
        if still_liquidatable(mid)? {
            lo = mid;
        } else {
            hi = mid - U256::from(1u64);
        }
    }
    let first = position.liquidation(c, d, lo)?;
    let rest = position.after(c, d, &first)?;
    let second = rest.liquidation(c, d, U256::MAX)?;
    let total = bonus_value(position.holdings(), c, d, &first)?
        + bonus_value(rest.holdings(), c, d, &second)?;
    Ok(Some((lo, total)))
}

impl Strategy for TwoStep {
    fn kind(&self) -> &'static str {
        "two-step"
    }
    fn latency_blocks(&self) -> u64 {
        self.latency_blocks
    }
    fn decide(&self, view: &HookView<'_>, candidate: &Candidate) -> Result<Decision> {
        let Some(best) = candidate.best else {
            return Ok(Decision::Skip(MissReason::Unprofitable));
        };
        let single = expected_profit(view, candidate, &best, self.priority_fee_wei, Funding::Own)?;
        let extra_gas = crate::math::cost::gas_cost(
            super::LIQUIDATION_GAS_ESTIMATE,
            view.base_fee,
            self.priority_fee_wei,
            view.native_price,
        )
        .base;
        // Both steps together repay at most the whole debt, so they earn at most twice the
        // single liquidation's bonus and the split's profit is at most 2 × single (+ rounding,
        // covered by a dollar): when that cannot be positive, no split can change the answer.
        let one_usd = I256::try_from(100_000_000u64).unwrap_or(I256::ONE);
        if single <= I256::ZERO && single + single + one_usd <= I256::ZERO {
            return Ok(Decision::Skip(MissReason::Unprofitable));
        }
        let split = plan(&*candidate.position, best.collateral, best.debt)?;
        let debt_to_cover = match split {
            Some((first, total)) if total - I256::from_raw(extra_gas) > best.bonus_value_base => {
                if single + (total - best.bonus_value_base) - I256::from_raw(extra_gas)
                    <= I256::ZERO
                {
                    return Ok(Decision::Skip(MissReason::Unprofitable));
                }
                vec![first, U256::MAX]
            }
            _ => {
                if single <= I256::ZERO {
                    return Ok(Decision::Skip(MissReason::Unprofitable));
                }
                vec![U256::MAX]
            }
        };
        Ok(Decision::Act(Intent {
            collateral: best.collateral,
            debt: best.debt,
            debt_to_cover,
            receive_shares: false,
            priority_fee_wei: self.priority_fee_wei,
            funding: Funding::Own,
            sell_collateral: false,
            sale: super::SaleChoice::default(),
            funds_base: None,
        }))
    }
}
