//! `backstop-pool`: B.Protocol's crowdsourced backstop. Depositors put stablecoins into a pool;
//! the pool repays liquidatable debt in those stablecoins, sells the seized collateral straight
//! away through the DEX model (its slippage is a cost), and the profit accrues to the depositors.
//! The pool is capital-limited: it repays at most what it holds (a partial liquidation when the
//! position offers more), and an opportunity it cannot afford at all is missed as
//! `out_of_capital`. Its balance over time is reported (`capital.parquet`, a chart). With a real
//! DEX each decision is one transaction through liqsim's liquidator contract holding exactly the
//! pool's balance in the debt asset (`Intent::funds_base`), selling the seizure to that
//! stablecoin; the balance then moves by the sale's output less the debt repaid and the gas.
//!
//! Parameters: `latency_blocks` (1), `priority_fee_gwei` (2), `capital_usd` (1000000: the
//! deposits at the window's start), `stablecoins` ("USDC,DAI": the debt assets the pool repays,
//! comma-separated symbols), `min_profit_usd` (0: after gas and slippage).
//!
//! Every balance is in base currency (USD, 8 decimals): deposits are stablecoins valued at the
//! oracle, debts are repaid at their oracle value.

use alloy_primitives::{I256, U256};

use super::{
    param_u64, param_units, param_wei, Candidate, Decision, Execution, Funding, HookView, Intent,
    MissReason, Params, Strategy, StrategyKind,
};
use crate::error::{Error, Result};
use crate::math::aave as aave_math;

/// Registry entry.
pub const KIND: StrategyKind = StrategyKind {
    name: "backstop-pool",
    params: &[
        ("capital_usd", "1000000"),
        ("latency_blocks", "1"),
        super::SALE_PARAMS[0],
        ("min_profit_usd", "0"),
        ("priority_fee_gwei", "2"),
        super::SALE_PARAMS[1],
        ("stablecoins", "USDC,DAI"),
    ],
    build,
};

fn build(params: &Params) -> Result<Box<dyn Strategy>> {
    let stablecoins: Vec<String> = params
        .get("stablecoins")
        .map(|s| {
            s.split(',')
                .map(|x| x.trim().to_string())
                .filter(|x| !x.is_empty())
                .collect()
        })
        .unwrap_or_default();
    if stablecoins.is_empty() {
        return Err(Error::config(
            "stablecoins",
            params.get("stablecoins").cloned().unwrap_or_default(),
            "comma-separated symbols of the debt assets the pool repays, e.g. \"USDC,DAI\"",
        ));
    }
    Ok(Box::new(BackstopPool {
        latency_blocks: param_u64(params, "latency_blocks")?,
        priority_fee_wei: param_wei(params, "priority_fee_gwei")?,
        capital_base: param_units(params, "capital_usd", 8)?,
        stablecoins,
        min_profit_base: super::param_min_profit(params)?,
        sale: super::param_sale(params)?,
    }))
}

/// The backstop pool.
#[derive(Debug, Clone)]
pub struct BackstopPool {
    /// Reaction latency.
    pub latency_blocks: u64,
    /// Priority fee per gas, wei.
    pub priority_fee_wei: u128,
    /// Stablecoins held now, base currency.
    pub capital_base: U256,
    /// Symbols of the debt assets it repays.
    pub stablecoins: Vec<String>,
    /// Minimum expected profit after gas and slippage, base currency.
    pub min_profit_base: I256,
    /// The real pool and tolerance its sales use (`route`, `max_slippage_bps`).
    pub sale: super::SaleChoice,
}

/// The pool's best liquidation of one position within its capital.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackstopPlan {
    /// Collateral reserve.
    pub collateral: usize,
    /// Debt reserve.
    pub debt: usize,
    /// `debtToCover` (the capital in debt-asset units, or `max` when the capital covers it).
    pub debt_to_cover: U256,
    /// Expected profit: sale proceeds − debt paid − estimated gas, base currency.
    pub expected_profit_base: I256,
}

impl BackstopPool {
    /// Expected profit of liquidating pair `(c, d)` with `debt_to_cover`: sale proceeds − debt
    /// paid − `gas`; `None` when nothing would be repaid or the collateral cannot be sold.
    fn expected_profit(
        view: &HookView<'_>,
        candidate: &Candidate,
        (c, d): (usize, usize),
        debt_to_cover: U256,
        gas: U256,
    ) -> Result<Option<I256>> {
        let (cr, dr) = (&candidate.holdings()[c], &candidate.holdings()[d]);
        let o = candidate.position.liquidation(c, d, debt_to_cover)?;
        if o.debt_repaid.is_zero() {
            return Ok(None);
        }
        let received =
            aave_math::collateral_value_base(o.collateral_to_liquidator, cr.price, cr.decimals)?;
        let paid = aave_math::debt_value_base(o.debt_repaid, dr.price, dr.decimals)?;
        Ok(view.dex.sell(c, received)?.map(|sale| {
            I256::from_raw(sale.proceeds_base) - I256::from_raw(paid) - I256::from_raw(gas)
        }))
    }

    /// The most profitable pair within the pool's capital, and the best expected profit had the
    /// capital been unlimited (to tell `out_of_capital` from `unprofitable`).
    pub fn plan(
        &self,
        view: &HookView<'_>,
        candidate: &Candidate,
    ) -> Result<(Option<BackstopPlan>, Option<I256>)> {
        let gas = crate::math::cost::gas_cost(
            super::LIQUIDATION_GAS_ESTIMATE,
            view.base_fee,
            self.priority_fee_wei,
            view.native_price,
        )
        .base;
        let holdings = candidate.holdings();
        let mut best: Option<BackstopPlan> = None;
        let mut best_unlimited: Option<I256> = None;
        for (d, dr) in holdings.iter().enumerate() {
            let held = view
                .symbols
                .get(d)
                .is_some_and(|s| self.stablecoins.contains(s));
            if !held || dr.debt.is_zero() || dr.price.is_zero() {
                continue;
            }
            // What the capital buys of the debt asset, rounded down.
            let affordable = self.capital_base * crate::math::fixed::pow10(dr.decimals)? / dr.price;
            for (c, cr) in holdings.iter().enumerate() {
                if !cr.collateral_enabled
                    || cr.collateral.is_zero()
                    || candidate.position.refusal(c, d)?.is_some()
                {
                    continue;
                }
                let Some(unlimited) =
                    Self::expected_profit(view, candidate, (c, d), U256::MAX, gas)?
                else {
                    continue;
                };
                best_unlimited = Some(best_unlimited.map_or(unlimited, |b| b.max(unlimited)));
                let full = candidate.position.liquidation(c, d, U256::MAX)?;
                let (debt_to_cover, profit) = if affordable >= full.debt_repaid {
                    (U256::MAX, Some(unlimited))
                } else if affordable.is_zero() {
                    (U256::ZERO, None)
                } else {
                    let capped = Self::expected_profit(view, candidate, (c, d), affordable, gas)?;
                    (affordable, capped)
                };
                let Some(profit) = profit else {
                    continue;
                };
                if best.is_none_or(|b| profit > b.expected_profit_base) {
                    best = Some(BackstopPlan {
                        collateral: c,
                        debt: d,
                        debt_to_cover,
                        expected_profit_base: profit,
                    });
                }
            }
        }
        Ok((best, best_unlimited))
    }
}

impl Strategy for BackstopPool {
    fn symbols_named(&self) -> Vec<(&'static str, String)> {
        self.stablecoins
            .iter()
            .map(|s| ("stablecoins", s.clone()))
            .collect()
    }
    fn kind(&self) -> &'static str {
        "backstop-pool"
    }
    fn latency_blocks(&self) -> u64 {
        self.latency_blocks
    }
    fn decide(&self, view: &HookView<'_>, candidate: &Candidate) -> Result<Decision> {
        let worth = |profit: I256| profit > I256::ZERO && profit >= self.min_profit_base;
        let plan = match self.plan(view, candidate)? {
            (Some(plan), _) if worth(plan.expected_profit_base) => plan,
            (_, Some(unlimited)) if worth(unlimited) => {
                return Ok(Decision::Skip(MissReason::OutOfCapital))
            }
            _ => return Ok(Decision::Skip(MissReason::Unprofitable)),
        };
        Ok(Decision::Act(Intent {
            collateral: plan.collateral,
            debt: plan.debt,
            debt_to_cover: vec![plan.debt_to_cover],
            receive_shares: false,
            priority_fee_wei: self.priority_fee_wei,
            funding: Funding::BackstopPool,
            sell_collateral: true,
            sale: self.sale,
            funds_base: Some(self.capital_base),
        }))
    }
    fn on_executed(&mut self, e: &Execution) {
        self.capital_base = (self.capital_base + e.sale_proceeds_base)
            .saturating_sub(e.debt_paid_base + e.gas_cost_base + e.funding_cost_base);
    }
    fn capital_base(&self) -> Option<U256> {
        Some(self.capital_base)
    }
}
