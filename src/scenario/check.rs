//! `liqsim check`: what a scenario will do, said before it runs — the window's UTC span, price
//! coverage per symbol, price paths far from the market's starting prices, relative-looking
//! timestamps, sweep points that cannot differ — and field-named errors for engine limits.

use std::collections::BTreeMap;
use std::fmt;

use alloy_primitives::U256;

use crate::scenario::LoadedScenario;
use crate::units::{format_units, thousands, utc_text};

/// Gas a devnet liquidation transaction is given (the builder's limit per competitor call).
pub const LIQUIDATION_TX_GAS: u64 = 1_200_000;
/// A path's first point further than this from the asset's `price_usd` (percent) is warned about.
pub const FAR_FROM_START_PERCENT: f64 = 20.0;
/// Timestamps before this (2001-09-09) look like seconds after the window's start, not unix time.
pub const RELATIVE_LOOKING_BEFORE: u64 = 1_000_000_000;

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// What the scenario does.
    Info,
    /// Probably not what was meant; the run goes ahead.
    Warning,
    /// The engine cannot run it.
    Error,
}

/// One finding about a scenario, naming the field it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Severity.
    pub level: Level,
    /// The scenario field (e.g. `prices.WETH`, `strategies[1].max_gas_price_gwei`).
    pub field: String,
    /// What was found.
    pub message: String,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let level = match self.level {
            Level::Info => "info",
            Level::Warning => "warning",
            Level::Error => "error",
        };
        write!(f, "{level}: {}: {}", self.field, self.message)
    }
}

fn finding(level: Level, field: impl Into<String>, message: impl Into<String>) -> Finding {
    Finding {
        level,
        field: field.into(),
        message: message.into(),
    }
}

fn usd(v: U256) -> f64 {
    format_units(v, 8).parse().unwrap_or(0.0)
}

/// Every finding about `loaded`, infos first within each topic.
pub fn check(loaded: &LoadedScenario) -> Vec<Finding> {
    let s = &loaded.scenario;
    let w = &s.window;
    let start = w.start_timestamp;
    let end = start + (w.blocks - 1) * w.block_time_seconds;
    let mut out = vec![finding(
        Level::Info,
        "window",
        format!(
            "{} → {} ({} blocks of {} s, blocks {}..={})",
            utc_text(start),
            utc_text(end),
            thousands(w.blocks as f64, 0),
            w.block_time_seconds,
            w.first_block,
            w.first_block + w.blocks - 1
        ),
    )];
    if w.gas_limit < LIQUIDATION_TX_GAS {
        out.push(finding(
            Level::Error,
            "window.gas_limit",
            format!(
                "{} gas: below the {} gas one liquidation transaction is given; expected at least {}",
                thousands(w.gas_limit as f64, 0),
                thousands(LIQUIDATION_TX_GAS as f64, 0),
                LIQUIDATION_TX_GAS
            ),
        ));
    }
    // Starting prices of the market's assets, as the market description gives them.
    let market = serde_json::to_value(&s.market).unwrap_or_default();
    let mut start_prices: BTreeMap<String, (usize, f64)> = BTreeMap::new();
    if let Some(assets) = market.get("assets").and_then(|a| a.as_array()) {
        for (i, a) in assets.iter().enumerate() {
            let symbol = a.get("symbol").and_then(|v| v.as_str());
            let price = a
                .get("price_usd")
                .and_then(|v| v.as_str())
                .and_then(|p| p.parse::<f64>().ok());
            if let (Some(symbol), Some(price)) = (symbol, price) {
                start_prices.insert(symbol.to_string(), (i, price));
            }
        }
    }
    for symbol in s.market.symbols() {
        let field = format!("prices.{symbol}");
        let Some(path) = loaded.price_paths.get(&symbol) else {
            out.push(finding(
                Level::Info,
                field,
                "no price path: the asset keeps its starting price",
            ));
            continue;
        };
        let before = path.iter().filter(|(t, _)| *t < start).count();
        let after = path.iter().filter(|(t, _)| *t > end).count();
        let inside = path.len() - before - after;
        out.push(finding(
            Level::Info,
            &field,
            format!(
                "{} points: {before} before, {inside} inside, {after} after the window",
                path.len()
            ),
        ));
        if after > 0 {
            out.push(finding(
                Level::Warning,
                &field,
                format!(
                    "{after} of {} points are after the window's end ({}) and are ignored",
                    path.len(),
                    utc_text(end)
                ),
            ));
        }
        if before > 1 {
            out.push(finding(
                Level::Warning,
                &field,
                format!(
                    "{before} of {} points are before the window's start ({}); only the last of them sets the starting price",
                    path.len(),
                    utc_text(start)
                ),
            ));
        }
        if let Some((t, _)) = path.first() {
            if *t < RELATIVE_LOOKING_BEFORE && start >= RELATIVE_LOOKING_BEFORE {
                out.push(finding(
                    Level::Warning,
                    format!("{field} (prices.csv)"),
                    format!(
                        "timestamps look relative: the first is {t} ({}), the window starts at {start}; CSV rows take unix seconds",
                        utc_text(*t)
                    ),
                ));
            }
        }
        if let (Some((i, configured)), Some(at_start)) =
            (start_prices.get(&symbol), loaded.price_at(&symbol, start))
        {
            let at_start = usd(at_start);
            if *configured > 0.0 {
                let off = (at_start / configured - 1.0) * 100.0;
                if off.abs() > FAR_FROM_START_PERCENT {
                    out.push(finding(
                        Level::Warning,
                        format!("market.assets[{i}].price_usd"),
                        format!(
                            "{symbol} is set up at {} USD but its price path starts at {} USD ({off:+.0}%): borrowers opened at the set-up price become liquidatable (or safe) all at once",
                            thousands(*configured, 2),
                            thousands(at_start, 2)
                        ),
                    ));
                }
            }
        }
    }
    out.extend(sweep_findings(loaded));
    out.extend(dex_findings(loaded));
    out
}

/// A real DEX with the `flash-loan` strategy on an Aave V3 devnet whose reserves have flash loans
/// off: every bundle would revert.
fn dex_findings(loaded: &LoadedScenario) -> Vec<Finding> {
    let s = &loaded.scenario;
    let flash = loaded.instances.iter().any(|i| i.kind == "flash-loan");
    match &s.market {
        crate::protocol::AnyMarketConfig::AaveV3(c)
            if flash && !s.dex.kind.is_formula() && !c.flash_loans_enabled =>
        {
            vec![finding(
                Level::Warning,
                "market.flash_loans_enabled",
                "off (Aave V3 lists reserves with flash loans off), yet `flash-loan` sends its \
                 decisions through the liquidator contract with a real [dex]: every one reverts \
                 with 91 (FLASHLOAN_DISABLED); set flash_loans_enabled = true",
            )]
        }
        _ => Vec::new(),
    }
    .into_iter()
    .chain(chain_pool_findings(loaded))
    .collect()
}

/// Pools on the chain (a real [dex] on a devnet window): an arbitrage lag the window never
/// reaches, and competitors tipping below the arbitrageur (their sales then come after its swap
/// in a block, so the block ends off the lagged price).
fn chain_pool_findings(loaded: &LoadedScenario) -> Vec<Finding> {
    let s = &loaded.scenario;
    let Ok(Some(lag)) = s.dex.arbitrage_lag() else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if lag >= s.window.blocks {
        out.push(finding(
            Level::Warning,
            "dex.arbitrage_lag_blocks",
            format!(
                "{lag}, the window has {} blocks: the arbitrageur only ever trades towards the \
                 starting prices",
                s.window.blocks
            ),
        ));
    }
    let arb_gwei = crate::protocol::dex::arbitrage::ARBITRAGE_PRIORITY_FEE as f64 / 1e9;
    for (i, c) in s.competitors.iter().enumerate() {
        let tip: f64 = c.priority_fee_gwei.0.parse().unwrap_or(f64::MAX);
        if tip < arb_gwei {
            out.push(finding(
                Level::Warning,
                format!("competitors[{i}].priority_fee_gwei"),
                format!(
                    "{} gwei, below the chain pools' arbitrageur ({arb_gwei} gwei): {}'s sales \
                     come after its swap in a block",
                    c.priority_fee_gwei.0, c.name
                ),
            ));
        }
    }
    out
}

/// Sweep points that cannot differ: gas caps all above the window's highest gas price (or all
/// below its lowest), and tips swept where no competitor bids.
fn sweep_findings(loaded: &LoadedScenario) -> Vec<Finding> {
    let s = &loaded.scenario;
    let mut out = Vec::new();
    let fees: Vec<f64> = loaded
        .base_fee_path
        .iter()
        .map(|(_, w)| format_units(*w, 9).parse().unwrap_or(0.0))
        .collect();
    let (lo, hi) = fees
        .iter()
        .fold((f64::MAX, 0.0f64), |(l, h), v| (l.min(*v), h.max(*v)));
    // Instances of one strategy entry that differ only in the gas cap.
    let mut groups: BTreeMap<(String, String), Vec<f64>> = BTreeMap::new();
    let mut tips: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (i, spec) in s.strategies.iter().enumerate() {
        if let Some(toml::Value::Array(list)) = spec.params.get("priority_fee_gwei") {
            if list.len() > 1 {
                tips.insert(
                    format!("strategies[{i}].priority_fee_gwei"),
                    list.iter().map(|v| v.to_string()).collect(),
                );
            }
        }
    }
    for inst in &loaded.instances {
        let Some(cap) = inst
            .params
            .get("max_gas_price_gwei")
            .and_then(|v| v.parse::<f64>().ok())
        else {
            continue;
        };
        let tip: f64 = inst
            .params
            .get("priority_fee_gwei")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        let mut rest = inst.params.clone();
        rest.remove("max_gas_price_gwei");
        let key = (inst.kind.clone(), format!("{rest:?}|tip={tip}"));
        groups.entry(key).or_default().push(cap - tip);
    }
    for ((kind, _), caps) in groups {
        let field = format!("{kind}.max_gas_price_gwei");
        let above: Vec<String> = caps
            .iter()
            .filter(|c| **c >= hi)
            .map(|c| c.to_string())
            .collect();
        if above.len() > 1 {
            out.push(finding(
                Level::Warning,
                &field,
                format!(
                    "{} sweep points leave room above the window's highest base fee ({} gwei) plus the tip: they cannot differ from each other",
                    above.len(),
                    thousands(hi, 0)
                ),
            ));
        }
        let below = caps.iter().filter(|c| **c < lo).count();
        if below > 1 {
            out.push(finding(
                Level::Warning,
                &field,
                format!(
                    "{below} sweep points are below the window's lowest base fee ({} gwei) plus the tip: none of them ever acts",
                    thousands(lo, 0)
                ),
            ));
        }
    }
    if s.competitors.is_empty() {
        for (field, values) in tips {
            out.push(finding(
                Level::Warning,
                field,
                format!(
                    "swept over {} but no competitor bids against the strategies: a higher tip only costs more",
                    values.join(", ")
                ),
            ));
        }
    }
    out
}

/// The first error among `findings`, as the error a run stops with.
pub fn first_error(findings: &[Finding], source: &str) -> crate::error::Result<()> {
    match findings.iter().find(|f| f.level == Level::Error) {
        Some(f) => Err(crate::error::Error::InvalidFile {
            path: std::path::PathBuf::from(source),
            message: format!("field `{}`: {}", f.field, f.message),
        }),
        None => Ok(()),
    }
}
