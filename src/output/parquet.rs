//! The run's tables as Parquet: opportunities, actions, missed, summary, blocks and capital (exact
//! values as decimal text next to report floats), each an [`Output`] of the output list.

use polars::prelude::{Column, DataFrame, NamedFrom, Series};

use crate::analytics::summary::SummaryRow;
use crate::engine::opportunities::Opportunity;
use crate::engine::runner::{Action, BlockRow, CapitalRow, Miss};
use crate::error::{Error, Result};
use crate::math::profit::{i256_to_f64_lossy, to_f64_lossy};
use crate::output::{Output, RunOutputs};
use crate::protocol::{AnyMarket, LendingMarket};
use crate::strategy::Instance;

pub(crate) fn col<T>(name: &str, values: Vec<T>) -> Column
where
    Series: NamedFrom<Vec<T>, [T]>,
{
    Series::new(name.into(), values).into()
}

pub(crate) fn frame(height: usize, columns: Vec<Column>, what: &str) -> Result<Vec<u8>> {
    let mut df = DataFrame::new(height, columns).map_err(|e| Error::Decode {
        what: what.into(),
        message: e.to_string(),
    })?;
    crate::data::dataset::parquet_bytes(&mut df).map_err(|e| Error::Decode {
        what: what.into(),
        message: e.to_string(),
    })
}

fn symbol(market: &AnyMarket, i: usize) -> String {
    market.symbols().get(i).cloned().unwrap_or_default()
}

/// The `strategy` column: the kind of each row's instance.
fn strategy_col(instances: &[Instance], rows: impl Iterator<Item = usize>) -> Column {
    col(
        "strategy",
        rows.map(|i| instances[i].kind.clone()).collect::<Vec<_>>(),
    )
}

/// `param_set_id` and one typed column per swept parameter (`Float64` when every value of it is
/// a number, else text; null where the row's strategy has no such parameter), for each row's
/// instance: the columns every table joins and filters on.
fn set_cols(instances: &[Instance], rows: &[usize]) -> Vec<Column> {
    let mut cols = vec![col(
        "param_set_id",
        rows.iter()
            .map(|i| crate::strategy::param_set_id(*i))
            .collect::<Vec<_>>(),
    )];
    for key in crate::strategy::swept_params(instances) {
        let values: Vec<Option<&String>> = rows
            .iter()
            .map(|i| instances[*i].params.get(&key))
            .collect();
        let numeric = instances
            .iter()
            .filter_map(|i| i.params.get(&key))
            .all(|v| v.parse::<f64>().is_ok());
        cols.push(if numeric {
            col(
                &key,
                values
                    .iter()
                    .map(|v| v.and_then(|v| v.parse::<f64>().ok()))
                    .collect::<Vec<Option<f64>>>(),
            )
        } else {
            col(
                &key,
                values
                    .iter()
                    .map(|v| v.cloned())
                    .collect::<Vec<Option<String>>>(),
            )
        });
    }
    cols
}

/// Unix timestamp of each block of the run (from `blocks`).
fn timestamps(run: &crate::analytics::result::StrategyRun) -> std::collections::BTreeMap<u64, u64> {
    run.blocks.iter().map(|b| (b.number, b.timestamp)).collect()
}

/// The `params` column: each row's instance parameters, `key=value;key=value`.
fn params_col(instances: &[Instance], rows: impl Iterator<Item = usize>) -> Column {
    col(
        "params",
        rows.map(|i| instances[i].params_text()).collect::<Vec<_>>(),
    )
}

/// `opportunities.parquet`.
pub fn opportunities(rows: &[Opportunity], market: &AnyMarket) -> Result<Vec<u8>> {
    frame(
        rows.len(),
        vec![
            col(
                "opportunity_id",
                rows.iter().map(|o| o.id).collect::<Vec<u64>>(),
            ),
            col(
                "user",
                rows.iter()
                    .map(|o| format!("{:#x}", o.user))
                    .collect::<Vec<_>>(),
            ),
            col(
                "first_block",
                rows.iter().map(|o| o.first_block).collect::<Vec<u64>>(),
            ),
            col(
                "first_tx_index",
                rows.iter()
                    .map(|o| o.first_tx_index)
                    .collect::<Vec<Option<u32>>>(),
            ),
            col(
                "last_block",
                rows.iter().map(|o| o.last_block).collect::<Vec<u64>>(),
            ),
            col(
                "min_health_factor",
                rows.iter()
                    .map(|o| to_f64_lossy(o.min_health_factor, 18))
                    .collect::<Vec<f64>>(),
            ),
            col(
                "min_health_factor_wad",
                rows.iter()
                    .map(|o| o.min_health_factor.to_string())
                    .collect::<Vec<_>>(),
            ),
            col(
                "best_bonus_usd",
                rows.iter()
                    .map(|o| i256_to_f64_lossy(o.best_bonus_value_base, 8))
                    .collect::<Vec<f64>>(),
            ),
            col(
                "best_collateral",
                rows.iter()
                    .map(|o| symbol(market, o.best_collateral))
                    .collect::<Vec<_>>(),
            ),
            col(
                "best_debt",
                rows.iter()
                    .map(|o| symbol(market, o.best_debt))
                    .collect::<Vec<_>>(),
            ),
            col(
                "ending",
                rows.iter()
                    .map(|o| o.ending.as_str().to_string())
                    .collect::<Vec<_>>(),
            ),
            col(
                "end_block",
                rows.iter()
                    .map(|o| o.end_block)
                    .collect::<Vec<Option<u64>>>(),
            ),
            col(
                "historical_liquidations",
                rows.iter()
                    .map(|o| o.liquidations.len() as u32)
                    .collect::<Vec<u32>>(),
            ),
            col(
                "first_liquidator",
                rows.iter()
                    .map(|o| {
                        o.liquidations
                            .first()
                            .map(|l| format!("{:#x}", l.liquidator))
                    })
                    .collect::<Vec<Option<String>>>(),
            ),
            col(
                "first_liquidation_tx",
                rows.iter()
                    .map(|o| o.liquidations.first().map(|l| format!("{:#x}", l.tx_hash)))
                    .collect::<Vec<Option<String>>>(),
            ),
        ],
        "opportunities table",
    )
}

/// `actions.parquet`.
pub fn actions(
    rows: &[Action],
    instances: &[Instance],
    market: &AnyMarket,
    times: &std::collections::BTreeMap<u64, u64>,
) -> Result<Vec<u8>> {
    let ids: Vec<usize> = rows.iter().map(|a| a.instance).collect();
    let mut columns = set_cols(instances, &ids);
    columns.extend([
        strategy_col(instances, rows.iter().map(|a| a.instance)),
        params_col(instances, rows.iter().map(|a| a.instance)),
        col("block", rows.iter().map(|a| a.block).collect::<Vec<u64>>()),
        col(
            "timestamp",
            rows.iter()
                .map(|a| times.get(&a.block).copied())
                .collect::<Vec<Option<u64>>>(),
        ),
        col(
            "decided_block",
            rows.iter().map(|a| a.decided_block).collect::<Vec<u64>>(),
        ),
        col(
            "opportunity_id",
            rows.iter().map(|a| a.opportunity_id).collect::<Vec<u64>>(),
        ),
        col(
            "user",
            rows.iter()
                .map(|a| format!("{:#x}", a.user))
                .collect::<Vec<_>>(),
        ),
        col(
            "collateral_asset",
            rows.iter()
                .map(|a| symbol(market, a.collateral))
                .collect::<Vec<_>>(),
        ),
        col(
            "debt_asset",
            rows.iter()
                .map(|a| symbol(market, a.debt))
                .collect::<Vec<_>>(),
        ),
        col(
            "calls",
            rows.iter().map(|a| a.calls as u32).collect::<Vec<u32>>(),
        ),
        col(
            "debt_repaid",
            rows.iter()
                .map(|a| a.debt_repaid.to_string())
                .collect::<Vec<_>>(),
        ),
        col(
            "collateral_received",
            rows.iter()
                .map(|a| a.collateral_received.to_string())
                .collect::<Vec<_>>(),
        ),
        col(
            "bonus_usd",
            rows.iter()
                .map(|a| i256_to_f64_lossy(a.bonus_base, 8))
                .collect::<Vec<f64>>(),
        ),
        col(
            "gas_used",
            rows.iter().map(|a| a.gas_used).collect::<Vec<u64>>(),
        ),
        col(
            "gas_price_gwei",
            rows.iter()
                .map(|a| to_f64_lossy(a.gas_price_wei, 9))
                .collect::<Vec<f64>>(),
        ),
        col(
            "gas_cost_eth",
            rows.iter()
                .map(|a| to_f64_lossy(a.gas_cost_wei, 18))
                .collect::<Vec<f64>>(),
        ),
        col(
            "gas_cost_usd",
            rows.iter()
                .map(|a| to_f64_lossy(a.gas_cost_base, 8))
                .collect::<Vec<f64>>(),
        ),
        col(
            "funding",
            rows.iter()
                .map(|a| a.funding.as_str().to_string())
                .collect::<Vec<_>>(),
        ),
        col(
            "funding_cost_usd",
            rows.iter()
                .map(|a| to_f64_lossy(a.funding_cost_base, 8))
                .collect::<Vec<f64>>(),
        ),
        col(
            "slippage_usd",
            rows.iter()
                .map(|a| to_f64_lossy(a.slippage_base, 8))
                .collect::<Vec<f64>>(),
        ),
        col(
            "net_profit_usd",
            rows.iter()
                .map(|a| i256_to_f64_lossy(a.net_profit_base, 8))
                .collect::<Vec<f64>>(),
        ),
        col(
            "net_profit_base",
            rows.iter()
                .map(|a| a.net_profit_base.to_string())
                .collect::<Vec<_>>(),
        ),
    ]);
    // Runs selling through a real DEX (`[dex] kind = "uniswap-v2" | "uniswap-v3"`) only, so
    // formula runs keep their table byte for byte.
    if rows.iter().any(|a| a.route.is_some()) {
        columns.extend([
            col(
                "route",
                rows.iter()
                    .map(|a| a.route.map(|r| r.name()))
                    .collect::<Vec<Option<String>>>(),
            ),
            col(
                "amount_out",
                rows.iter()
                    .map(|a| a.amount_out.to_string())
                    .collect::<Vec<_>>(),
            ),
            col(
                "price_impact_bps",
                rows.iter()
                    .map(|a| a.price_impact_bps)
                    .collect::<Vec<u64>>(),
            ),
            col(
                "flash_premium",
                rows.iter()
                    .map(|a| a.flash_premium.to_string())
                    .collect::<Vec<_>>(),
            ),
            col(
                "liquidation_gas",
                rows.iter().map(|a| a.liquidation_gas).collect::<Vec<u64>>(),
            ),
        ]);
    }
    frame(rows.len(), columns, "actions table")
}

/// `missed.parquet`: every miss with its parameter set, reason, the time of the last decision
/// about it, and its value (best bonus) before and after the gas that set would have paid.
pub fn missed(out: &RunOutputs<'_>) -> Result<Vec<u8>> {
    let (run, instances) = (out.run, out.instances);
    let rows = &run.misses;
    let times = timestamps(run);
    let prices: crate::analytics::summary::GasPrices = run
        .blocks
        .iter()
        .map(|b| (b.number, (b.base_fee, b.native_price)))
        .collect();
    let block_of = |m: &Miss| {
        m.block.or_else(|| {
            run.opportunities
                .get(m.opportunity_id as usize)
                .map(|o| o.first_block)
        })
    };
    let ids: Vec<usize> = rows.iter().map(|m| m.instance).collect();
    let mut columns = set_cols(instances, &ids);
    columns.extend([
        col(
            "opportunity_id",
            rows.iter().map(|m| m.opportunity_id).collect::<Vec<u64>>(),
        ),
        col(
            "user",
            rows.iter()
                .map(|m| format!("{:#x}", m.user))
                .collect::<Vec<_>>(),
        ),
        strategy_col(instances, rows.iter().map(|m| m.instance)),
        params_col(instances, rows.iter().map(|m| m.instance)),
        col(
            "reason",
            rows.iter()
                .map(|m| m.reason.as_str().to_string())
                .collect::<Vec<_>>(),
        ),
        col(
            "detail",
            rows.iter()
                .map(|m| match &m.reason {
                    crate::strategy::MissReason::Reverted(r) => Some(r.clone()),
                    _ => None,
                })
                .collect::<Vec<Option<String>>>(),
        ),
        col(
            "last_decision_block",
            rows.iter().map(|m| m.block).collect::<Vec<Option<u64>>>(),
        ),
        col(
            "timestamp",
            rows.iter()
                .map(|m| block_of(m).and_then(|b| times.get(&b).copied()))
                .collect::<Vec<Option<u64>>>(),
        ),
        col(
            "value_usd",
            rows.iter()
                .map(|m| {
                    run.opportunities
                        .get(m.opportunity_id as usize)
                        .map(|o| i256_to_f64_lossy(o.best_bonus_value_base, 8))
                        .unwrap_or(0.0)
                })
                .collect::<Vec<f64>>(),
        ),
        col(
            "value_after_gas_usd",
            rows.iter()
                .map(|m| {
                    i256_to_f64_lossy(
                        crate::analytics::summary::missed_value_after_gas(
                            m,
                            &instances[m.instance],
                            &run.opportunities,
                            &prices,
                        ),
                        8,
                    )
                })
                .collect::<Vec<f64>>(),
        ),
    ]);
    frame(rows.len(), columns, "missed table")
}

/// `tokens.parquet`: the market's assets (symbol, token address, decimals), in market order.
pub fn tokens(market: &AnyMarket) -> Result<Vec<u8>> {
    let symbols = market.symbols();
    let addresses = market.asset_addresses();
    let decimals = market.decimals();
    frame(
        symbols.len(),
        vec![
            col("symbol", symbols.clone()),
            col(
                "address",
                (0..symbols.len())
                    .map(|i| {
                        addresses
                            .get(i)
                            .map(|a| format!("{a:#x}"))
                            .unwrap_or_default()
                    })
                    .collect::<Vec<_>>(),
            ),
            col(
                "decimals",
                (0..symbols.len())
                    .map(|i| decimals.get(i).copied().map(u32::from).unwrap_or(0))
                    .collect::<Vec<u32>>(),
            ),
        ],
        "tokens table",
    )
}

/// `capital.parquet`: the capital of capital-limited strategies (backstop pools) over time.
pub fn capital(rows: &[CapitalRow], instances: &[Instance]) -> Result<Vec<u8>> {
    frame(
        rows.len(),
        vec![
            strategy_col(instances, rows.iter().map(|c| c.instance)),
            params_col(instances, rows.iter().map(|c| c.instance)),
            col("block", rows.iter().map(|c| c.block).collect::<Vec<u64>>()),
            col(
                "capital_usd",
                rows.iter()
                    .map(|c| to_f64_lossy(c.capital_base, 8))
                    .collect::<Vec<f64>>(),
            ),
            col(
                "capital_base",
                rows.iter()
                    .map(|c| c.capital_base.to_string())
                    .collect::<Vec<_>>(),
            ),
        ],
        "capital table",
    )
}

/// `summary.parquet`.
pub fn summary(rows: &[SummaryRow], instances: &[Instance]) -> Result<Vec<u8>> {
    let ids: Vec<usize> = (0..rows.len()).collect();
    let mut columns = set_cols(instances, &ids);
    columns.extend([
        col(
            "strategy",
            rows.iter().map(|r| r.strategy.clone()).collect::<Vec<_>>(),
        ),
        col(
            "params",
            rows.iter().map(|r| r.params.clone()).collect::<Vec<_>>(),
        ),
        col(
            "captured_bonus_usd",
            rows.iter()
                .map(|r| r.captured_bonus_usd)
                .collect::<Vec<f64>>(),
        ),
        col(
            "gas_spent_eth",
            rows.iter().map(|r| r.gas_spent_eth).collect::<Vec<f64>>(),
        ),
        col(
            "gas_spent_usd",
            rows.iter().map(|r| r.gas_spent_usd).collect::<Vec<f64>>(),
        ),
        col(
            "funding_cost_usd",
            rows.iter()
                .map(|r| r.funding_cost_usd)
                .collect::<Vec<f64>>(),
        ),
        col(
            "slippage_usd",
            rows.iter().map(|r| r.slippage_usd).collect::<Vec<f64>>(),
        ),
        col(
            "net_profit_usd",
            rows.iter().map(|r| r.net_profit_usd).collect::<Vec<f64>>(),
        ),
        col(
            "net_profit_base",
            rows.iter()
                .map(|r| r.net_profit_base.clone())
                .collect::<Vec<_>>(),
        ),
        col(
            "liquidations",
            rows.iter().map(|r| r.liquidations).collect::<Vec<u64>>(),
        ),
        col(
            "opportunities",
            rows.iter().map(|r| r.opportunities).collect::<Vec<u64>>(),
        ),
        col(
            "captured",
            rows.iter().map(|r| r.captured).collect::<Vec<u64>>(),
        ),
        col(
            "missed",
            rows.iter().map(|r| r.missed).collect::<Vec<u64>>(),
        ),
        col(
            "missed_value_usd",
            rows.iter()
                .map(|r| r.missed_value_usd)
                .collect::<Vec<f64>>(),
        ),
        col(
            "missed_value_after_gas_usd",
            rows.iter()
                .map(|r| r.missed_value_after_gas_usd)
                .collect::<Vec<f64>>(),
        ),
        col(
            "capture_rate",
            rows.iter().map(|r| r.capture_rate).collect::<Vec<f64>>(),
        ),
    ]);
    frame(rows.len(), columns, "summary table")
}

/// `blocks.parquet`.
pub fn blocks(rows: &[BlockRow]) -> Result<Vec<u8>> {
    frame(
        rows.len(),
        vec![
            col("block", rows.iter().map(|b| b.number).collect::<Vec<u64>>()),
            col(
                "timestamp",
                rows.iter().map(|b| b.timestamp).collect::<Vec<u64>>(),
            ),
            col(
                "base_fee_gwei",
                rows.iter()
                    .map(|b| to_f64_lossy(alloy_primitives::U256::from(b.base_fee), 9))
                    .collect::<Vec<f64>>(),
            ),
            col(
                "eth_price_usd",
                rows.iter()
                    .map(|b| to_f64_lossy(b.native_price, 8))
                    .collect::<Vec<f64>>(),
            ),
            col(
                "open_opportunities",
                rows.iter()
                    .map(|b| b.open_opportunities)
                    .collect::<Vec<u64>>(),
            ),
        ],
        "blocks table",
    )
}

/// Declares a Parquet table of the output list: its unit type, file, description and renderer.
macro_rules! table {
    ($(#[$doc:meta])* $name:ident, $file:literal, $what:literal, |$out:ident| $render:expr) => {
        $(#[$doc])*
        pub struct $name;

        impl Output for $name {
            fn file_name(&self) -> &'static str {
                $file
            }
            fn description(&self) -> &'static str {
                $what
            }
            fn render(&self, $out: &RunOutputs<'_>) -> Result<Vec<u8>> {
                $render
            }
        }
    };
}

table!(
    /// `opportunities.parquet`.
    OpportunitiesTable,
    "opportunities.parquet",
    "every liquidation opportunity of the window",
    |out| opportunities(&out.run.opportunities, &out.run.market)
);
table!(
    /// `actions.parquet`.
    ActionsTable,
    "actions.parquet",
    "every liquidation a strategy executed (what-if in the EVM)",
    |out| {
        let all: Vec<Action> = out.run.actions.iter().flatten().cloned().collect();
        actions(&all, out.instances, &out.run.market, &timestamps(out.run))
    }
);
table!(
    /// `missed.parquet`.
    MissedTable,
    "missed.parquet",
    "every opportunity a strategy did not capture, with the reason",
    |out| missed(out)
);
table!(
    /// `summary.parquet`.
    SummaryTable,
    "summary.parquet",
    "one row per strategy instance",
    |out| summary(&out.run.summary, out.instances)
);
table!(
    /// `blocks.parquet`.
    BlocksTable,
    "blocks.parquet",
    "per-block figures of the window",
    |out| blocks(&out.run.blocks)
);
table!(
    /// `capital.parquet`.
    CapitalTable,
    "capital.parquet",
    "capital of capital-limited strategies (backstop pools) over time",
    |out| capital(&out.run.capital, out.instances)
);
table!(
    /// `tokens.parquet`.
    TokensTable,
    "tokens.parquet",
    "the market's assets: symbol, token address, decimals",
    |out| tokens(&out.run.market)
);
