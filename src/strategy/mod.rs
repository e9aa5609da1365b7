//! Liquidation strategies: one small trait, one file per built-in strategy, and the registry that
//! builds them from a scenario's (swept) parameters.

pub mod backstop_pool;
pub mod flash_loan;
pub mod gas_threshold;
pub mod greedy;
pub mod two_step;

use std::collections::BTreeMap;

use alloy_primitives::{Address, I256, U256};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::protocol::market::{BestLiquidation, Holding, Position};

/// An open liquidation opportunity as strategies see it at a hook point.
#[derive(Debug, Clone)]
pub struct Candidate {
    /// Opportunity id in the ledger.
    pub opportunity_id: u64,
    /// The borrower.
    pub user: Address,
    /// Health factor (WAD) from the protocol's shared math.
    pub health_factor: U256,
    /// The position, with the protocol's own liquidation math.
    pub position: std::sync::Arc<dyn Position>,
    /// The most valuable pair with `debtToCover = max`.
    pub best: Option<BestLiquidation>,
}

impl Candidate {
    /// Per-asset balances, USD prices and flags.
    pub fn holdings(&self) -> &[Holding] {
        self.position.holdings()
    }
}

/// What strategies see at a hook point.
#[derive(Debug, Clone, Copy)]
pub struct HookView<'a> {
    /// Block number.
    pub block: u64,
    /// Block timestamp.
    pub timestamp: u64,
    /// Base fee, wei.
    pub base_fee: u64,
    /// Price of the native (gas) asset, 8 decimals.
    pub native_price: U256,
    /// Flash-loan premium of the market, bps (runs on a market without flash loans refuse the
    /// `flash-loan` strategy before they start).
    pub flash_loan_premium_bps: u16,
    /// Reserve symbols, by reserve index.
    pub symbols: &'a [String],
    /// Where seized collateral can be sold (one constant-product pool per reserve).
    pub dex: &'a crate::math::cost::DexModel,
}

/// How a liquidation is funded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Funding {
    /// The liquidator's own inventory.
    Own,
    /// An Aave flash loan, paying its premium.
    FlashLoan,
    /// A backstop pool's deposited capital (B.Protocol style).
    BackstopPool,
}

impl Funding {
    /// Column value in outputs.
    pub fn as_str(&self) -> &'static str {
        match self {
            Funding::Own => "own",
            Funding::FlashLoan => "flash_loan",
            Funding::BackstopPool => "backstop_pool",
        }
    }
}

/// A liquidation a strategy wants executed (one or more `liquidationCall`s in one go).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Intent {
    /// Collateral reserve index.
    pub collateral: usize,
    /// Debt reserve index.
    pub debt: usize,
    /// `debtToCover` of each call, in order (two-step strategies send two).
    pub debt_to_cover: Vec<U256>,
    /// Receive aTokens instead of the underlying.
    pub receive_shares: bool,
    /// Priority fee per gas, wei.
    pub priority_fee_wei: u128,
    /// Funding source.
    pub funding: Funding,
    /// Sell the seized collateral through the DEX model right away (its slippage is a cost).
    pub sell_collateral: bool,
    /// Which real pool and tolerance a sale uses (with `[dex] kind` real; empty: the scenario's).
    pub sale: SaleChoice,
    /// What the liquidator holds to repay from, base currency (a backstop pool's balance: with
    /// a real DEX the liquidator contract holds exactly that much of the debt asset); `None`:
    /// whatever the liquidation needs.
    pub funds_base: Option<U256>,
}

/// A strategy's choice of real pool and tolerance (`route`, `max_slippage_bps`; each unset means
/// the scenario's `[dex]`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SaleChoice {
    /// The pool kind to sell through.
    pub route: Option<crate::protocol::dex::Route>,
    /// The minimum output's tolerance below the pool's quote, bps.
    pub max_slippage_bps: Option<u16>,
}

/// Parameters every strategy that sells or flash-borrows takes, unset by default (so that
/// scenarios without them keep their `params`): `route` and `max_slippage_bps`.
pub const SALE_PARAMS: [(&str, &str); 2] = [("max_slippage_bps", ""), ("route", "")];

/// Reads the optional `route` and `max_slippage_bps` parameters.
pub fn param_sale(params: &Params) -> Result<SaleChoice> {
    let route = params
        .get("route")
        .map(|r| crate::protocol::dex::Route::parse("route", r))
        .transpose()?;
    let max_slippage_bps = match params.get("max_slippage_bps") {
        None => None,
        Some(text) => Some(
            text.parse::<u16>()
                .ok()
                .filter(|b| *b < 10_000)
                .ok_or_else(|| Error::config("max_slippage_bps", text, "whole bps below 10000"))?,
        ),
    };
    Ok(SaleChoice {
        route,
        max_slippage_bps,
    })
}

/// What an executed intent did, in base currency (USD, 8 decimals), as the EVM and the cost models
/// found it; strategies that keep capital update it from this.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Execution {
    /// Block it landed in.
    pub block: u64,
    /// Oracle value of the debt repaid.
    pub debt_paid_base: U256,
    /// Oracle value of the collateral received.
    pub collateral_value_base: U256,
    /// What selling the collateral through the DEX model brought (0 when kept).
    pub sale_proceeds_base: U256,
    /// Gas cost.
    pub gas_cost_base: U256,
    /// Funding cost (flash-loan premium).
    pub funding_cost_base: U256,
}

/// Why a strategy did not capture an opportunity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MissReason {
    /// Expected profit after costs below the strategy's bar.
    Unprofitable,
    /// Base fee + priority fee above the strategy's gas-price cap.
    OverGasCap,
    /// A historical liquidator took it first (earlier block, or same block with a higher tip).
    LostToCompetitor,
    /// It ended before the strategy could act (its reaction latency, or between hook points).
    Latency,
    /// Not enough capital.
    OutOfCapital,
    /// The liquidation reverted in the EVM (decoded reason).
    Reverted(String),
}

impl MissReason {
    /// Column value in outputs.
    pub fn as_str(&self) -> &'static str {
        match self {
            MissReason::Unprofitable => "unprofitable",
            MissReason::OverGasCap => "over_gas_cap",
            MissReason::LostToCompetitor => "lost_to_competitor",
            MissReason::Latency => "latency",
            MissReason::OutOfCapital => "out_of_capital",
            MissReason::Reverted(_) => "reverted",
        }
    }
}

/// A strategy's answer for one candidate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Execute this.
    Act(Intent),
    /// Not now, for this reason.
    Skip(MissReason),
}

/// Gas a liquidation is expected to use when strategies estimate profit (the EVM decides the
/// real figure).
pub const LIQUIDATION_GAS_ESTIMATE: u64 = 450_000;

/// A liquidation strategy with fixed parameters.
pub trait Strategy: Send + Sync {
    /// Strategy kind, e.g. `greedy`.
    fn kind(&self) -> &'static str;
    /// Blocks between deciding and landing on chain.
    fn latency_blocks(&self) -> u64;
    /// Decides what to do with one open opportunity.
    fn decide(&self, view: &HookView<'_>, candidate: &Candidate) -> Result<Decision>;
    /// Told about each of its intents that executed successfully (in decision order).
    fn on_executed(&mut self, _execution: &Execution) {}
    /// Capital it holds now, base currency, for strategies that are capital-limited.
    fn capital_base(&self) -> Option<U256> {
        None
    }
    /// Market symbols its parameters name (checked against the market before a run), with the
    /// parameter that names them.
    fn symbols_named(&self) -> Vec<(&'static str, String)> {
        Vec::new()
    }
    /// True when `decide` does not depend on what its earlier executions did, so the runner may
    /// execute all of one hook point's intents in parallel; capital-limited strategies decide
    /// candidate by candidate after each execution.
    fn independent_decisions(&self) -> bool {
        self.capital_base().is_none()
    }
}

/// Expected profit (base currency) of liquidating `best` at `priority_fee_wei`, with estimated gas
/// and, for flash loans, the premium. Negative when it loses money.
pub fn expected_profit(
    view: &HookView<'_>,
    candidate: &Candidate,
    best: &BestLiquidation,
    priority_fee_wei: u128,
    funding: Funding,
) -> Result<I256> {
    let gas = crate::math::cost::gas_cost(
        LIQUIDATION_GAS_ESTIMATE,
        view.base_fee,
        priority_fee_wei,
        view.native_price,
    );
    let premium = match funding {
        Funding::Own | Funding::BackstopPool => U256::ZERO,
        Funding::FlashLoan => {
            let debt = &candidate.holdings()[best.debt];
            let amount = crate::math::cost::flash_loan_premium(
                best.outcome.debt_repaid,
                view.flash_loan_premium_bps,
            )?;
            crate::math::aave::debt_value_base(amount, debt.price, debt.decimals)?
        }
    };
    let cost = I256::try_from(gas.base + premium)
        .map_err(|_| Error::config("cost", gas.base, "below 2^255"))?;
    Ok(best.bonus_value_base - cost)
}

/// One parameter value of a strategy (numbers as exact decimal text).
pub type Params = BTreeMap<String, String>;

/// A strategy kind: its parameters with defaults, and a constructor.
pub struct StrategyKind {
    /// Name as written in scenarios.
    pub name: &'static str,
    /// `(parameter, default)`.
    pub params: &'static [(&'static str, &'static str)],
    /// Builds an instance from complete parameters.
    pub build: fn(&Params) -> Result<Box<dyn Strategy>>,
}

/// Strategy kinds that need the market's flash loans.
pub const NEEDS_FLASH_LOANS: &[&str] = &["flash-loan"];

/// Refuses `instances` a market cannot serve: the `flash-loan` strategy on a market without
/// flash loans (`premium_bps` `None`), naming the strategy and the protocol.
pub fn check_market_support(
    instances: &[Instance],
    premium_bps: Option<u16>,
    protocol: &str,
) -> Result<()> {
    if premium_bps.is_some() {
        return Ok(());
    }
    match instances
        .iter()
        .find(|i| NEEDS_FLASH_LOANS.contains(&i.kind.as_str()))
    {
        Some(i) => Err(Error::config(
            "strategies.kind",
            &i.kind,
            format!(
                "a strategy this market supports: {protocol} markets have no flash loans, so \
                 `flash-loan` cannot be funded (use greedy, gas-threshold, two-step or backstop-pool)"
            ),
        )),
        None => Ok(()),
    }
}

/// Every built-in strategy.
pub const KINDS: &[StrategyKind] = &[
    greedy::KIND,
    gas_threshold::KIND,
    two_step::KIND,
    flash_loan::KIND,
    backstop_pool::KIND,
];

/// Reads a non-negative decimal parameter with `decimals` decimals.
pub fn param_units(params: &Params, name: &str, decimals: u8) -> Result<U256> {
    let text = params
        .get(name)
        .ok_or_else(|| Error::config(name, "missing", "a value"))?;
    crate::units::parse_units(text, decimals)
        .map_err(|e| Error::config(name, text, format!("a non-negative decimal ({e})")))
}

/// Liquidates `candidate`'s most valuable pair in one call (`debtToCover = max`, the underlying
/// received, funded as `funding` says) when its expected profit after gas (and the flash-loan
/// premium) is positive and at least `min_profit_base`; otherwise skips it as unprofitable.
pub fn liquidate_best_if_profitable(
    view: &HookView<'_>,
    candidate: &Candidate,
    priority_fee_wei: u128,
    funding: Funding,
    min_profit_base: I256,
    sale: SaleChoice,
) -> Result<Decision> {
    let Some(best) = candidate.best else {
        return Ok(Decision::Skip(MissReason::Unprofitable));
    };
    let profit = expected_profit(view, candidate, &best, priority_fee_wei, funding)?;
    if profit <= I256::ZERO || profit < min_profit_base {
        return Ok(Decision::Skip(MissReason::Unprofitable));
    }
    Ok(Decision::Act(Intent {
        collateral: best.collateral,
        debt: best.debt,
        debt_to_cover: vec![U256::MAX],
        receive_shares: false,
        priority_fee_wei,
        funding,
        sell_collateral: false,
        sale,
        funds_base: None,
    }))
}

/// Reads a fee parameter in gwei (e.g. `priority_fee_gwei`) as wei per gas; an amount too large
/// for the EVM's 128-bit fee fields is an error naming the parameter.
pub fn param_wei(params: &Params, name: &str) -> Result<u128> {
    let wei = param_units(params, name, 9)?;
    u128::try_from(wei).map_err(|_| {
        Error::config(
            name,
            params.get(name).map(String::as_str).unwrap_or_default(),
            "at most 340282366920938463463 gwei",
        )
    })
}

/// Reads `min_profit_usd` as a signed base-currency amount (8 decimals).
pub fn param_min_profit(params: &Params) -> Result<I256> {
    let min_profit = param_units(params, "min_profit_usd", 8)?;
    I256::try_from(min_profit)
        .map_err(|_| Error::config("min_profit_usd", min_profit, "a smaller amount"))
}

/// Reads a whole-number parameter.
pub fn param_u64(params: &Params, name: &str) -> Result<u64> {
    let text = params
        .get(name)
        .ok_or_else(|| Error::config(name, "missing", "a value"))?;
    text.parse()
        .map_err(|_| Error::config(name, text, "a whole number ≥ 0"))
}

/// Finds a strategy kind by name.
pub fn kind(name: &str) -> Result<&'static StrategyKind> {
    KINDS
        .iter()
        .find(|k| k.name == name)
        .ok_or_else(|| Error::Unknown {
            kind: "strategy",
            name: name.to_string(),
            known: KINDS.iter().map(|k| k.name).collect::<Vec<_>>().join(", "),
        })
}

/// A strategy entry of a scenario: a kind and parameters, each a value or a list to sweep.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StrategySpec {
    /// Strategy kind.
    pub kind: String,
    /// Parameters (a value or a list of values each).
    #[serde(flatten)]
    pub params: BTreeMap<String, toml::Value>,
}

/// One concrete strategy × parameter set of a sweep.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instance {
    /// Strategy kind.
    pub kind: String,
    /// Complete parameters.
    pub params: Params,
}

/// The parameter-set id of the instance at `index` of a run (`P01`, `P02`, ...): the key every
/// output table joins on.
pub fn param_set_id(index: usize) -> String {
    format!("P{:02}", index + 1)
}

/// Parameters whose value differs between instances of the same kind (the swept ones), sorted.
pub fn swept_params(instances: &[Instance]) -> Vec<String> {
    let mut values: BTreeMap<(&str, &str), std::collections::BTreeSet<&str>> = BTreeMap::new();
    for i in instances {
        for (k, v) in &i.params {
            values
                .entry((i.kind.as_str(), k.as_str()))
                .or_default()
                .insert(v.as_str());
        }
    }
    let mut keys: Vec<String> = values
        .into_iter()
        .filter(|(_, v)| v.len() > 1)
        .map(|((_, k), _)| k.to_string())
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

impl Instance {
    /// `key=value;key=value` in parameter order (`;`, since a value may hold commas).
    pub fn params_text(&self) -> String {
        self.params
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(";")
    }

    /// Builds the strategy.
    pub fn build(&self) -> Result<Box<dyn Strategy>> {
        (kind(&self.kind)?.build)(&self.params)
    }
}

fn value_text(field: &str, v: &toml::Value) -> Result<String> {
    match v {
        toml::Value::Integer(i) if *i >= 0 => Ok(i.to_string()),
        toml::Value::Float(f) if *f >= 0.0 && f.is_finite() => Ok(format!("{f}")),
        toml::Value::String(s) => Ok(s.clone()),
        toml::Value::Boolean(b) => Ok(b.to_string()),
        other => Err(Error::config(
            field,
            other,
            "a non-negative number, a string or a boolean",
        )),
    }
}

/// Most strategy instances a scenario's sweeps may expand to (each is evaluated at every hook).
pub const MAX_INSTANCES: usize = 10_000;

/// Checks that every symbol a strategy instance names (e.g. `backstop-pool`'s `stablecoins`) is
/// one of the market's `symbols`.
pub fn check_symbols(instances: &[Instance], symbols: &[String]) -> Result<()> {
    for (i, inst) in instances.iter().enumerate() {
        for (param, symbol) in inst.build()?.symbols_named() {
            if !symbols.contains(&symbol) {
                return Err(Error::config(
                    format!("strategies: instance {i} ({}).{param}", inst.kind),
                    symbol,
                    format!("one of the market's symbols ({})", symbols.join(", ")),
                ));
            }
        }
    }
    Ok(())
}

/// Expands specs into the grid of instances, checking kinds, parameter names and values, that
/// no swept list repeats a value, and that the grid has at most [`MAX_INSTANCES`] instances.
pub fn expand(specs: &[StrategySpec]) -> Result<Vec<Instance>> {
    let mut out = Vec::new();
    let mut total: usize = 0;
    for (i, spec) in specs.iter().enumerate() {
        let kind = kind(&spec.kind)?;
        let mut axes: Vec<(String, Vec<String>)> = Vec::new();
        for (name, _) in kind.params {
            let field = format!("strategies[{i}].{name}");
            let values = match spec.params.get(*name) {
                // An optional parameter (empty default) left unset stays out of the instance.
                None if kind.params.iter().any(|(n, d)| n == name && d.is_empty()) => continue,
                None => vec![kind
                    .params
                    .iter()
                    .find(|(n, _)| n == name)
                    .map(|(_, d)| d.to_string())
                    .unwrap_or_default()],
                Some(toml::Value::Array(list)) => {
                    if list.is_empty() {
                        return Err(Error::config(field, "[]", "at least one value to sweep"));
                    }
                    let values: Vec<String> = list
                        .iter()
                        .map(|v| value_text(&field, v))
                        .collect::<Result<_>>()?;
                    let mut seen = std::collections::BTreeSet::new();
                    if let Some(dup) = values.iter().find(|v| !seen.insert(v.as_str())) {
                        return Err(Error::config(
                            field,
                            dup,
                            "a list of distinct values (this one is repeated)",
                        ));
                    }
                    values
                }
                Some(v) => vec![value_text(&field, v)?],
            };
            axes.push((name.to_string(), values));
        }
        for name in spec.params.keys() {
            if !kind.params.iter().any(|(n, _)| n == name) {
                return Err(Error::Unknown {
                    kind: "strategy parameter",
                    name: format!("{}.{name}", spec.kind),
                    known: kind
                        .params
                        .iter()
                        .map(|(n, _)| *n)
                        .collect::<Vec<_>>()
                        .join(", "),
                });
            }
        }
        let count = axes
            .iter()
            .try_fold(1usize, |n, (_, values)| n.checked_mul(values.len()))
            .and_then(|n| total.checked_add(n))
            .filter(|n| *n <= MAX_INSTANCES);
        total = match count {
            Some(n) => n,
            None => {
                let product = axes
                    .iter()
                    .fold(1f64, |n, (_, values)| n * values.len() as f64);
                return Err(Error::config(
                    format!("strategies[{i}]"),
                    format!("a sweep of {product} instances (after {total} before it)"),
                    format!("at most {MAX_INSTANCES} strategy instances in all"),
                ));
            }
        };
        let mut grid: Vec<Params> = vec![Params::new()];
        for (name, values) in &axes {
            grid = grid
                .into_iter()
                .flat_map(|p| {
                    values.iter().map(move |v| {
                        let mut q = p.clone();
                        q.insert(name.clone(), v.clone());
                        q
                    })
                })
                .collect();
        }
        for params in grid {
            let instance = Instance {
                kind: spec.kind.clone(),
                params,
            };
            instance.build().map_err(|e| {
                Error::config(
                    format!("strategies[{i}]"),
                    instance.params_text(),
                    e.to_string(),
                )
            })?;
            out.push(instance);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(text: &str) -> Vec<StrategySpec> {
        #[derive(Deserialize)]
        struct W {
            strategies: Vec<StrategySpec>,
        }
        toml::from_str::<W>(text).unwrap().strategies
    }

    #[test]
    fn sweeps_expand_to_the_grid() {
        let s = spec("[[strategies]]\nkind = \"gas-threshold\"\nmax_gas_price_gwei = [20, 50, 100, 200]\nmin_profit_usd = [0, 10, 50]\n");
        let grid = expand(&s).unwrap();
        assert_eq!(grid.len(), 12);
        assert_eq!(grid[0].params["max_gas_price_gwei"], "20");
        assert!(grid.iter().all(|g| g.params.contains_key("latency_blocks")));
    }

    #[test]
    fn unknown_kinds_and_params_list_the_valid_ones() {
        let err = expand(&spec("[[strategies]]\nkind = \"sniper\"\n"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("greedy") && err.contains("gas-threshold"),
            "{err}"
        );
        let err = expand(&spec("[[strategies]]\nkind = \"greedy\"\nspeed = 3\n"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("priority_fee_gwei"), "{err}");
        let err = expand(&spec(
            "[[strategies]]\nkind = \"gas-threshold\"\nmax_gas_price_gwei = [-5]\n",
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("max_gas_price_gwei"), "{err}");
        let err = expand(&spec(
            "[[strategies]]\nkind = \"gas-threshold\"\nmax_gas_price_gwei = []\n",
        ))
        .unwrap_err()
        .to_string();
        assert!(err.contains("at least one value"), "{err}");
    }
}
