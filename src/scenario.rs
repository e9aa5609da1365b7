//! Scenario files (TOML): the market, the borrower book, price and base-fee paths, user activity and
//! historical competitor liquidators of a devnet window.

pub mod check;
pub mod study;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use alloy_primitives::U256;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::protocol::price_feed::FEED_DECIMALS;
use crate::units::DecimalText;

/// The embedded default scenario (`scenarios/eth-crash.toml`).
pub const DEFAULT_SCENARIO_TOML: &str = include_str!("../scenarios/eth-crash.toml");
/// File name the embedded default is known by.
pub const DEFAULT_SCENARIO_PATH: &str = "scenarios/eth-crash.toml";

/// Block range and timing of the window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowConfig {
    /// Number of blocks in the window.
    pub blocks: u64,
    /// Number of the window's first block.
    #[serde(default = "default_first_block")]
    pub first_block: u64,
    /// Unix timestamp of the first block.
    pub start_timestamp: u64,
    /// Seconds between blocks.
    #[serde(default = "default_block_time")]
    pub block_time_seconds: u64,
    /// Block gas limit.
    #[serde(default = "default_gas_limit")]
    pub gas_limit: u64,
}

fn default_first_block() -> u64 {
    12_460_000
}
fn default_block_time() -> u64 {
    12
}
/// Smallest block gas limit accepted (one plain transfer).
const MIN_GAS_LIMIT: u64 = 21_000;

/// Latest block timestamp accepted (year 9999), so that times fit every consumer.
const MAX_TIMESTAMP: u64 = 253_402_300_799;

/// `start + offset` when it is a valid time (at most [`MAX_TIMESTAMP`]).
fn at(start: u64, offset: u64) -> Option<u64> {
    start.checked_add(offset).filter(|t| *t <= MAX_TIMESTAMP)
}

/// A TOML error of scenario `text`, with every line that may hold a secret (a line naming
/// `rpc_url` or holding a URL, and the rest of its `[source]` value) hidden from the snippet the
/// parser quotes.
fn toml_error(text: &str, source: &str, e: &toml::de::Error) -> Error {
    let mut message = e.to_string().trim().to_string();
    for line in text.lines() {
        let lower = line.to_ascii_lowercase();
        if !(lower.contains("rpc_url") || lower.contains("://") || lower.contains('@')) {
            continue;
        }
        let trimmed = line.trim();
        let hidden = "<line hidden: it may hold the node's URL>";
        if !trimmed.is_empty() && message.contains(trimmed) {
            message = message.replace(trimmed, hidden);
        }
        if let Some((_, value)) = line.split_once('=') {
            let value = value.trim().trim_matches('"').trim_matches('\'');
            if value.len() >= 4 && message.contains(value) {
                message = message.replace(value, "***");
            }
        }
    }
    Error::InvalidFile {
        path: PathBuf::from(source),
        message,
    }
}

fn default_gas_limit() -> u64 {
    30_000_000
}

/// The borrower book present when the window starts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BorrowerBook {
    /// Number of borrowers.
    pub count: u64,
    /// Symbols borrowers post as collateral (each picks one or two).
    pub collateral: Vec<String>,
    /// Symbols borrowers borrow (each picks one).
    pub debt: Vec<String>,
    /// Lowest initial health factor.
    pub health_factor_min: DecimalText,
    /// Highest initial health factor.
    pub health_factor_max: DecimalText,
    /// Smallest position (collateral value, USD).
    pub position_usd_min: DecimalText,
    /// Largest position (collateral value, USD).
    pub position_usd_max: DecimalText,
}

/// One point of a price path, relative to the window start.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PricePoint {
    /// Seconds after the window's first block.
    pub t: u64,
    /// Asset symbol.
    pub symbol: String,
    /// USD price.
    pub price_usd: DecimalText,
}

/// Oracle price paths: inline points and/or a CSV file `timestamp,symbol,price_usd`
/// (unix timestamps), interpolated linearly per block.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PriceConfig {
    /// CSV file with `timestamp,symbol,price_usd` rows (relative to the scenario file).
    #[serde(default)]
    pub csv: Option<PathBuf>,
    /// Inline points.
    #[serde(default)]
    pub points: Vec<PricePoint>,
    /// The feed is updated when the price moved this much since the last update (Chainlink-style).
    #[serde(default = "default_deviation")]
    pub deviation_bps: u64,
    /// ...or when this long passed since the last update.
    #[serde(default = "default_heartbeat")]
    pub heartbeat_seconds: u64,
}

fn default_deviation() -> u64 {
    50
}
fn default_heartbeat() -> u64 {
    3600
}

/// One point of the base-fee path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BaseFeePoint {
    /// Seconds after the window's first block.
    pub t: u64,
    /// Base fee in gwei.
    pub gwei: DecimalText,
}

/// User activity during the window: per block, the chance of each kind of transaction.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivityConfig {
    /// A borrower borrows more (a share of what LTV still allows).
    #[serde(default)]
    pub new_borrow_per_block: f64,
    /// A borrower repays part of a debt.
    #[serde(default)]
    pub repay_per_block: f64,
    /// A borrower adds collateral.
    #[serde(default)]
    pub top_up_per_block: f64,
}

impl Default for ActivityConfig {
    fn default() -> Self {
        Self {
            new_borrow_per_block: 0.0,
            repay_per_block: 0.0,
            top_up_per_block: 0.0,
        }
    }
}

/// Background traffic in devnet windows, so blocks look like mainnet's: ETH transfers, ERC-20
/// transfers of the market's own tokens and calls to a storage-heavy contract, sent by accounts
/// that never touch the market (they change no position, price or liquidation). Off (0
/// transactions) by default, and then absent from the scenario's canonical form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TrafficConfig {
    /// Background transactions in every block.
    #[serde(default)]
    pub transactions_per_block: u64,
    /// Gas the background transactions of a block use in all (about: the storage-heavy calls
    /// are sized to it); 0 = transfers and one-slot calls only.
    #[serde(default)]
    pub gas_per_block: u64,
    /// Accounts that send them.
    #[serde(default = "default_traffic_accounts")]
    pub accounts: u64,
}

fn default_traffic_accounts() -> u64 {
    1000
}

impl Default for TrafficConfig {
    fn default() -> Self {
        Self {
            transactions_per_block: 0,
            gas_per_block: 0,
            accounts: default_traffic_accounts(),
        }
    }
}

impl TrafficConfig {
    /// True when the window has no background traffic (serde then skips the table).
    pub fn is_off(&self) -> bool {
        self.transactions_per_block == 0
    }
}

/// A historical competitor liquidator whose liquidations become part of the recorded history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CompetitorConfig {
    /// Name (its key is derived from it).
    pub name: String,
    /// Blocks between a position first becoming liquidatable and this bot acting.
    pub reaction_delay_blocks: u64,
    /// Smallest expected profit (bonus − gas) it acts on, USD.
    pub min_profit_usd: DecimalText,
    /// Priority fee it pays, gwei (with `bid_share_bps`: the least it bids).
    pub priority_fee_gwei: DecimalText,
    /// Bidding for a contested opportunity: the share (bps) of the opportunity's expected profit
    /// (bonus − gas at the base fee) it offers as priority fee, spread over the liquidation's
    /// estimated gas; absent, it pays the fixed `priority_fee_gwei`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bid_share_bps: Option<u64>,
    /// With `bid_share_bps`: the highest priority fee it bids, gwei.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_priority_fee_gwei: Option<DecimalText>,
}

/// A whole scenario.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scenario {
    /// Name; also the dataset folder name under `datasets/`.
    pub name: String,
    /// Seed of every random choice.
    pub seed: u64,
    /// Window timing.
    pub window: WindowConfig,
    /// The market: an Aave V3 (default), Aave V2 (`protocol = "aave-v2"`) or Compound-style
    /// (`protocol = "compound"`) description.
    pub market: crate::protocol::AnyMarketConfig,
    /// Borrowers at the window's start.
    pub borrowers: BorrowerBook,
    /// Oracle price paths.
    pub prices: PriceConfig,
    /// Base-fee path.
    pub base_fee: Vec<BaseFeePoint>,
    /// User activity.
    #[serde(default)]
    pub activity: ActivityConfig,
    /// Background traffic (mainnet-like blocks).
    #[serde(default, skip_serializing_if = "TrafficConfig::is_off")]
    pub traffic: TrafficConfig,
    /// Historical competitor liquidators.
    #[serde(default)]
    pub competitors: Vec<CompetitorConfig>,
    /// Strategies to evaluate; a parameter given as a list is swept.
    #[serde(default)]
    pub strategies: Vec<crate::strategy::StrategySpec>,
    /// The DEX seized collateral is sold through (strategies that sell, e.g. `backstop-pool`).
    #[serde(default)]
    pub dex: DexConfig,
}

/// Where seized collateral is sold: the constant-product formula (a pool per asset against USD,
/// with a swap fee), or a real Uniswap V2 / V3 deployed in the what-if EVM, a pool per (sold,
/// bought) asset pair seeded at the oracle price with the sold asset's depth on each side.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DexConfig {
    /// `formula` (default), `uniswap-v2` or `uniswap-v3`.
    #[serde(
        default,
        skip_serializing_if = "crate::protocol::dex::DexKind::is_formula"
    )]
    pub kind: crate::protocol::dex::DexKind,
    /// Uniswap V3 fee tier (hundredths of a bip: 500, 3000, 10000; default 3000).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fee_tier: Option<u32>,
    /// Tolerance of a real sale (`uniswap-v2`, `uniswap-v3`): the liquidator contract's minimum
    /// output is the pool's quote for the expected seizure less this many bps (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_slippage_bps: Option<u16>,
    /// Swap fee of the formula model, basis points (Uniswap V2's is fixed at 30, V3's is the
    /// fee tier).
    #[serde(default = "DexConfig::default_fee_bps")]
    pub fee_bps: u16,
    /// USD value of each side of an asset's pool, unless `depth_usd_by_symbol` names the asset.
    #[serde(default = "DexConfig::default_depth_usd")]
    pub depth_usd: DecimalText,
    /// Per-asset depth (USD value of each side), by symbol.
    #[serde(default)]
    pub depth_usd_by_symbol: BTreeMap<String, DecimalText>,
    /// Devnet windows with a real `kind` (pools on the chain itself): the arbitrageur trades each
    /// pool back to the oracle price as it was this many blocks before (default 3; at most
    /// [`DexConfig::MAX_ARBITRAGE_LAG_BLOCKS`]; an error with `kind = "formula"`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub arbitrage_lag_blocks: Option<u64>,
    /// Recorded windows: the chain's own DEX factory (`getPair`, `getPool`); with it, what-ifs
    /// sell through the chain's pools instead of seeded ones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub factory: Option<alloy_primitives::Address>,
    /// Recorded windows: the chain's router (Router02, SwapRouter); needed with `factory`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub router: Option<alloy_primitives::Address>,
    /// Recorded windows: the chain's QuoterV2 (Uniswap V3); needed with a V3 `factory`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quoter: Option<alloy_primitives::Address>,
    /// Recorded windows: pools named by address, each checked at the window's start to be the
    /// factory's pool of its two tokens (at `fee_tier` on V3), of market assets, with liquidity.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pools: Vec<alloy_primitives::Address>,
}

impl Default for DexConfig {
    fn default() -> Self {
        Self {
            kind: crate::protocol::dex::DexKind::Formula,
            fee_tier: None,
            max_slippage_bps: None,
            fee_bps: Self::default_fee_bps(),
            depth_usd: Self::default_depth_usd(),
            depth_usd_by_symbol: BTreeMap::new(),
            arbitrage_lag_blocks: None,
            factory: None,
            router: None,
            quoter: None,
            pools: Vec::new(),
        }
    }
}

impl DexConfig {
    /// Default of `arbitrage_lag_blocks`.
    pub const DEFAULT_ARBITRAGE_LAG_BLOCKS: u64 = 3;
    /// Largest `arbitrage_lag_blocks` (a day of 12-second blocks).
    pub const MAX_ARBITRAGE_LAG_BLOCKS: u64 = 7_200;

    /// The chain's own DEX contracts `[dex]` names (`factory`, `router`, `quoter`: recorded
    /// windows), `None` when it names none; a set that is incomplete, or given to the formula
    /// model, is an error naming the field.
    pub fn chain_contracts(&self) -> Result<Option<crate::protocol::dex::DexContracts>> {
        use crate::protocol::dex::Route;
        let route = self.route()?;
        let Some(factory) = self.factory else {
            for (field, set) in [
                ("dex.router", self.router.is_some()),
                ("dex.quoter", self.quoter.is_some()),
                ("dex.pools", !self.pools.is_empty()),
            ] {
                if set {
                    return Err(Error::config(
                        field,
                        "set",
                        "dex.factory too (the chain's own DEX is named by its factory, router \
                         and, for Uniswap V3, QuoterV2)",
                    ));
                }
            }
            return Ok(None);
        };
        let Some(route) = route else {
            return Err(Error::config(
                "dex.factory",
                factory,
                "kind = \"uniswap-v2\" or \"uniswap-v3\" with the chain's own DEX",
            ));
        };
        let router = self.router.ok_or_else(|| {
            Error::config(
                "dex.router",
                "missing",
                "the chain's router next to dex.factory",
            )
        })?;
        let quoter = match (route, self.quoter) {
            (Route::UniswapV3 { .. }, None) => {
                return Err(Error::config(
                    "dex.quoter",
                    "missing",
                    "the chain's QuoterV2 next to a Uniswap V3 dex.factory",
                ))
            }
            (Route::UniswapV2, Some(q)) => {
                return Err(Error::config(
                    "dex.quoter",
                    q,
                    "no quoter with kind = \"uniswap-v2\" (quotes come from Router02's \
                     getAmountsOut)",
                ))
            }
            (_, q) => q,
        };
        Ok(Some(crate::protocol::dex::DexContracts {
            factory,
            router,
            quoter,
            positions: None,
        }))
    }

    /// The arbitrageur's lag in blocks (`arbitrage_lag_blocks`, default 3) with a real `kind`,
    /// `None` for the formula model; a lag with the formula, or past the maximum, is an error
    /// naming `dex.arbitrage_lag_blocks`.
    pub fn arbitrage_lag(&self) -> Result<Option<u64>> {
        let real = self.route()?.is_some();
        match (real, self.arbitrage_lag_blocks) {
            (false, None) => Ok(None),
            (false, Some(lag)) => Err(Error::config(
                "dex.arbitrage_lag_blocks",
                lag,
                "no arbitrage lag with kind = \"formula\" (the lag is that of the arbitrageur \
                 trading the chain's pools: kind = \"uniswap-v2\" or \"uniswap-v3\")",
            )),
            (true, None) => Ok(Some(Self::DEFAULT_ARBITRAGE_LAG_BLOCKS)),
            (true, Some(lag)) if lag <= Self::MAX_ARBITRAGE_LAG_BLOCKS => Ok(Some(lag)),
            (true, Some(lag)) => Err(Error::config(
                "dex.arbitrage_lag_blocks",
                lag,
                format!("a lag of at most {} blocks", Self::MAX_ARBITRAGE_LAG_BLOCKS),
            )),
        }
    }

    fn default_fee_bps() -> u16 {
        30
    }
    fn default_depth_usd() -> DecimalText {
        DecimalText("50000000".into())
    }

    /// The real pool kind sales go through, `None` for the formula model; a fee tier that does
    /// not exist (or one given to a DEX without tiers) is an error naming `dex.fee_tier`.
    pub fn route(&self) -> Result<Option<crate::protocol::dex::Route>> {
        use crate::protocol::dex::{DexKind, Route, V3_FEE_TIERS};
        match (self.kind, self.fee_tier) {
            (DexKind::UniswapV3, tier) => {
                let fee = tier.unwrap_or(3000);
                if !V3_FEE_TIERS.contains(&fee) {
                    return Err(Error::config(
                        "dex.fee_tier",
                        fee,
                        "a Uniswap V3 fee tier: 500, 3000 or 10000",
                    ));
                }
                Ok(Some(Route::UniswapV3 { fee }))
            }
            (kind, Some(fee)) => Err(Error::config(
                "dex.fee_tier",
                fee,
                format!(
                    "no fee tier with kind = \"{}\" (fee tiers are Uniswap V3's; V2 charges a fixed \
                     30 bps, the formula `fee_bps`)",
                    match kind {
                        DexKind::UniswapV2 => "uniswap-v2",
                        _ => "formula",
                    }
                ),
            )),
            (DexKind::UniswapV2, None) => Ok(Some(Route::UniswapV2)),
            (DexKind::Formula, None) => Ok(None),
        }
    }

    /// The real sale's tolerance below the pool's quote, bps (`max_slippage_bps`, default 100).
    pub fn slippage_bps(&self) -> Result<u16> {
        match self.max_slippage_bps {
            None => Ok(crate::engine::runner::MAX_SLIPPAGE_BPS),
            Some(b) if b < 10_000 => Ok(b),
            Some(b) => Err(Error::config(
                "dex.max_slippage_bps",
                b,
                "a tolerance below 10000 bps",
            )),
        }
    }

    /// The model for reserves named `symbols` (index order); errors name the field.
    pub fn model(&self, symbols: &[String]) -> Result<crate::math::cost::DexModel> {
        self.route()?;
        self.slippage_bps()?;
        self.arbitrage_lag()?;
        self.chain_contracts()?;
        if self.fee_bps >= 10_000 {
            return Err(Error::config("dex.fee_bps", self.fee_bps, "below 10000"));
        }
        for symbol in self.depth_usd_by_symbol.keys() {
            if !symbols.contains(symbol) {
                return Err(Error::config(
                    format!("dex.depth_usd_by_symbol.{symbol}"),
                    symbol,
                    format!("an asset of the market ({})", symbols.join(", ")),
                ));
            }
        }
        let pools = symbols
            .iter()
            .map(|symbol| {
                let (field, text) = match self.depth_usd_by_symbol.get(symbol) {
                    Some(t) => (format!("dex.depth_usd_by_symbol.{symbol}"), t),
                    None => ("dex.depth_usd".to_string(), &self.depth_usd),
                };
                let depth_base = text
                    .to_units(8)
                    .map_err(|e| Error::config(&field, &text.0, format!("a USD amount ({e})")))?;
                if depth_base.is_zero() {
                    return Err(Error::config(field, &text.0, "a depth above 0"));
                }
                Ok(Some(crate::math::cost::ConstantProductPool {
                    depth_base,
                    fee_bps: self.fee_bps,
                }))
            })
            .collect::<Result<_>>()?;
        Ok(crate::math::cost::DexModel { pools })
    }
}

/// A parsed scenario with its resolved price paths.
#[derive(Debug, Clone)]
pub struct LoadedScenario {
    /// The scenario.
    pub scenario: Scenario,
    /// Where it came from (file path, or the embedded default's name).
    pub source: String,
    /// sha256 of [`LoadedScenario::canonical`]: what the dataset depends on, so an edit to a
    /// comment, whitespace, key order, the strategies or the DEX model leaves it unchanged.
    pub sha256: String,
    /// sha256 of the file's text as read.
    pub text_sha256: String,
    /// The canonical form of the scenario as far as its dataset depends on it: every key but
    /// `name`, `strategies` and `dex` (kept with a real DEX kind, whose pools are on the chain),
    /// the price CSV replaced by the points it resolved to.
    pub canonical: serde_json::Value,
    /// Per symbol, `(unix timestamp, price with 8 decimals)` points in time order.
    pub price_paths: BTreeMap<String, Vec<(u64, U256)>>,
    /// `(unix timestamp, base fee in wei)` points in time order.
    pub base_fee_path: Vec<(u64, U256)>,
    /// The expanded strategy × parameter grid.
    pub instances: Vec<crate::strategy::Instance>,
}

impl LoadedScenario {
    /// Reads and validates a scenario file.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io("reading", path, e))?;
        Self::from_text(&text, &path.display().to_string(), path.parent())
    }

    /// The embedded default scenario.
    pub fn default_scenario() -> Result<Self> {
        Self::from_text(DEFAULT_SCENARIO_TOML, DEFAULT_SCENARIO_PATH, None)
    }

    /// Parses and validates scenario text; `base_dir` resolves a relative price CSV.
    pub fn from_text(text: &str, source: &str, base_dir: Option<&Path>) -> Result<Self> {
        let scenario: Scenario = toml::from_str(text).map_err(|e| toml_error(text, source, &e))?;
        let invalid =
            |field: &str, value: &dyn std::fmt::Display, expected: &str| Error::InvalidFile {
                path: PathBuf::from(source),
                message: format!("field `{field}` = {value}: expected {expected}"),
            };
        scenario.market.validate().map_err(|e| Error::InvalidFile {
            path: PathBuf::from(source),
            message: format!("[market] {e}"),
        })?;
        let symbols: Vec<String> = scenario.market.symbols();
        scenario
            .dex
            .model(&symbols)
            .map_err(|e| Error::InvalidFile {
                path: PathBuf::from(source),
                message: format!("[dex] {e}"),
            })?;
        if scenario.name.is_empty()
            || !scenario
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(invalid(
                "name",
                &scenario.name,
                "letters, digits, '-' or '_'",
            ));
        }
        if scenario.window.blocks == 0 {
            return Err(invalid("window.blocks", &0, "at least 1"));
        }
        if scenario.window.block_time_seconds == 0 {
            return Err(invalid("window.block_time_seconds", &0, "at least 1"));
        }
        let w = &scenario.window;
        if w.gas_limit < MIN_GAS_LIMIT {
            return Err(invalid(
                "window.gas_limit",
                &w.gas_limit,
                &format!("at least {MIN_GAS_LIMIT} (a block must hold a transaction)"),
            ));
        }
        if w.first_block == 0 || w.first_block.checked_add(w.blocks).is_none() {
            return Err(invalid(
                "window.first_block",
                &w.first_block,
                &format!(
                    "at least 1, with first_block + blocks ({}) below 2^64",
                    w.blocks
                ),
            ));
        }
        let end = w
            .blocks
            .checked_mul(w.block_time_seconds)
            .and_then(|span| w.start_timestamp.checked_add(span))
            .filter(|end| *end <= MAX_TIMESTAMP);
        if w.start_timestamp < w.block_time_seconds || end.is_none() {
            return Err(invalid(
                "window.start_timestamp",
                &w.start_timestamp,
                &format!(
                    "at least block_time_seconds ({}), with start_timestamp + blocks × block_time_seconds at most {MAX_TIMESTAMP}",
                    w.block_time_seconds
                ),
            ));
        }
        let b = &scenario.borrowers;
        for (field, list) in [
            ("borrowers.collateral", &b.collateral),
            ("borrowers.debt", &b.debt),
        ] {
            if list.is_empty() {
                return Err(invalid(field, &"[]", "at least one symbol"));
            }
            for s in list {
                if scenario.market.asset_index(s).is_err() {
                    return Err(invalid(
                        field,
                        s,
                        &format!(
                            "one of the market's symbols ({})",
                            scenario.market.symbols().join(", ")
                        ),
                    ));
                }
            }
        }
        for (field, v) in [
            ("borrowers.health_factor_min", &b.health_factor_min),
            ("borrowers.health_factor_max", &b.health_factor_max),
            ("borrowers.position_usd_min", &b.position_usd_min),
            ("borrowers.position_usd_max", &b.position_usd_max),
        ] {
            v.to_units(18)
                .map_err(|e| invalid(field, &v.0, &format!("a non-negative decimal ({e})")))?;
        }
        for (low, high, min, max) in [
            (
                "borrowers.health_factor_min",
                "borrowers.health_factor_max",
                &b.health_factor_min,
                &b.health_factor_max,
            ),
            (
                "borrowers.position_usd_min",
                "borrowers.position_usd_max",
                &b.position_usd_min,
                &b.position_usd_max,
            ),
        ] {
            if min.to_units(18).ok() > max.to_units(18).ok() {
                return Err(invalid(low, &min.0, &format!("at most {high} ({})", max.0)));
            }
        }
        for (field, p) in [
            (
                "activity.new_borrow_per_block",
                scenario.activity.new_borrow_per_block,
            ),
            (
                "activity.repay_per_block",
                scenario.activity.repay_per_block,
            ),
            (
                "activity.top_up_per_block",
                scenario.activity.top_up_per_block,
            ),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return Err(invalid(field, &p, "a probability between 0 and 1"));
            }
        }
        let t = &scenario.traffic;
        if !t.is_off() {
            if t.transactions_per_block > 2_000 {
                return Err(invalid(
                    "traffic.transactions_per_block",
                    &t.transactions_per_block,
                    "at most 2000",
                ));
            }
            if !(1..=100_000).contains(&t.accounts) {
                return Err(invalid(
                    "traffic.accounts",
                    &t.accounts,
                    "between 1 and 100000",
                ));
            }
            // Every background transaction costs at least 21,000 gas; the market's own
            // transactions need the other half of the block.
            let floor = t.transactions_per_block * 21_000;
            let half = scenario.window.gas_limit / 2;
            if floor.max(t.gas_per_block) > half {
                return Err(invalid(
                    "traffic.gas_per_block",
                    &t.gas_per_block,
                    &format!(
                        "at most half the block's gas limit ({half}) and at least transactions_per_block × 21000 ({floor}) fitting in it"
                    ),
                ));
            }
        }
        for (i, c) in scenario.competitors.iter().enumerate() {
            c.min_profit_usd.to_units(8).map_err(|e| {
                invalid(
                    &format!("competitors[{i}].min_profit_usd"),
                    &c.min_profit_usd.0,
                    &e,
                )
            })?;
            c.priority_fee_gwei.to_units(9).map_err(|e| {
                invalid(
                    &format!("competitors[{i}].priority_fee_gwei"),
                    &c.priority_fee_gwei.0,
                    &e,
                )
            })?;
            if let Some(share) = c.bid_share_bps {
                if share > 10_000 {
                    return Err(invalid(
                        &format!("competitors[{i}].bid_share_bps"),
                        &share,
                        "at most 10000 (100% of the expected profit)",
                    ));
                }
            }
            if let Some(cap) = &c.max_priority_fee_gwei {
                cap.to_units(9).map_err(|e| {
                    invalid(
                        &format!("competitors[{i}].max_priority_fee_gwei"),
                        &cap.0,
                        &e,
                    )
                })?;
            }
        }

        let start = scenario.window.start_timestamp;
        let mut raw_points: Vec<(String, u64, U256, String)> = Vec::new();
        for (i, p) in scenario.prices.points.iter().enumerate() {
            let price = p.price_usd.to_units(FEED_DECIMALS).map_err(|e| {
                invalid(&format!("prices.points[{i}].price_usd"), &p.price_usd.0, &e)
            })?;
            let t = at(start, p.t).ok_or_else(|| {
                invalid(
                    &format!("prices.points[{i}].t"),
                    &p.t,
                    &format!("seconds after the start with a time at most {MAX_TIMESTAMP}"),
                )
            })?;
            raw_points.push((p.symbol.clone(), t, price, format!("prices.points[{i}]")));
        }
        if let Some(csv) = &scenario.prices.csv {
            let path = match base_dir {
                Some(dir) if csv.is_relative() => dir.join(csv),
                _ => csv.clone(),
            };
            raw_points.extend(read_price_csv(&path)?);
        }
        let mut price_paths: BTreeMap<String, Vec<(u64, U256)>> = BTreeMap::new();
        for (symbol, t, price, origin) in raw_points {
            if scenario.market.asset_index(&symbol).is_err() {
                return Err(invalid(
                    &format!("{origin}.symbol"),
                    &symbol,
                    &format!(
                        "one of the market's symbols ({})",
                        scenario.market.symbols().join(", ")
                    ),
                ));
            }
            if price.is_zero() {
                return Err(invalid(
                    &format!("{origin}.price_usd"),
                    &0,
                    "a price above 0",
                ));
            }
            let path = price_paths.entry(symbol.clone()).or_default();
            if let Some((last, _)) = path.last() {
                if t <= *last {
                    return Err(invalid(
                        &format!("{origin}.timestamp"),
                        &t,
                        &format!("a time after the previous {symbol} point ({last}): timestamps must increase"),
                    ));
                }
            }
            path.push((t, price));
        }
        let mut base_fee_path = Vec::new();
        for (i, p) in scenario.base_fee.iter().enumerate() {
            let wei = p
                .gwei
                .to_units(9)
                .map_err(|e| invalid(&format!("base_fee[{i}].gwei"), &p.gwei.0, &e))?;
            let t = at(start, p.t).ok_or_else(|| {
                invalid(
                    &format!("base_fee[{i}].t"),
                    &p.t,
                    &format!("seconds after the start with a time at most {MAX_TIMESTAMP}"),
                )
            })?;
            if let Some((last, _)) = base_fee_path.last() {
                if t <= *last {
                    return Err(invalid(
                        &format!("base_fee[{i}].t"),
                        &p.t,
                        "increasing times",
                    ));
                }
            }
            base_fee_path.push((t, wei));
        }
        if base_fee_path.is_empty() {
            return Err(invalid("base_fee", &"[]", "at least one point"));
        }
        let instances =
            crate::strategy::expand(&scenario.strategies).map_err(|e| Error::InvalidFile {
                path: PathBuf::from(source),
                message: format!("[[strategies]] {e}"),
            })?;
        let flash_loans = scenario
            .market
            .kind()
            .capabilities()
            .flash_loans
            .then_some(0);
        crate::strategy::check_market_support(
            &instances,
            flash_loans,
            scenario.market.kind().as_str(),
        )
        .and_then(|()| crate::strategy::check_symbols(&instances, &symbols))
        .map_err(|e| Error::InvalidFile {
            path: PathBuf::from(source),
            message: format!("[[strategies]] {e}"),
        })?;
        use sha2::Digest;
        let text_sha256 = hex::encode(sha2::Sha256::digest(text.as_bytes()));
        let canonical = canonical_form(&scenario, &price_paths)?;
        let sha256 = hex::encode(sha2::Sha256::digest(canonical_text(&canonical).as_bytes()));
        Ok(Self {
            scenario,
            source: source.to_string(),
            sha256,
            text_sha256,
            canonical,
            price_paths,
            base_fee_path,
            instances,
        })
    }

    /// The oracle price of `symbol` at `timestamp` (linear between points; flat outside them);
    /// `None` when the scenario gives no path for it.
    pub fn price_at(&self, symbol: &str, timestamp: u64) -> Option<U256> {
        interpolate(self.price_paths.get(symbol)?, timestamp)
    }

    /// The base fee in wei at `timestamp`.
    pub fn base_fee_at(&self, timestamp: u64) -> U256 {
        interpolate(&self.base_fee_path, timestamp).unwrap_or_default()
    }
}

/// The dataset-relevant canonical form of a scenario (see [`LoadedScenario::canonical`]).
fn canonical_form(
    scenario: &Scenario,
    price_paths: &BTreeMap<String, Vec<(u64, U256)>>,
) -> Result<serde_json::Value> {
    let mut value = serde_json::to_value(scenario).map_err(|e| Error::Decode {
        what: "scenario (canonical form)".into(),
        message: e.to_string(),
    })?;
    if let Some(map) = value.as_object_mut() {
        // A real DEX puts pools, an arbitrageur and competitors' sales on the chain: the
        // dataset depends on `[dex]` then; the formula model is the what-if's alone.
        let keys: &[&str] = if scenario.dex.kind.is_formula() {
            &["name", "strategies", "dex"]
        } else {
            &["name", "strategies"]
        };
        for key in keys {
            map.remove(*key);
        }
        if let Some(prices) = map.get_mut("prices").and_then(|p| p.as_object_mut()) {
            prices.remove("csv");
        }
        let resolved: serde_json::Map<String, serde_json::Value> = price_paths
            .iter()
            .map(|(symbol, points)| {
                let list = points
                    .iter()
                    .map(|(t, p)| serde_json::json!([t, p.to_string()]))
                    .collect();
                (symbol.clone(), serde_json::Value::Array(list))
            })
            .collect();
        map.insert(
            "resolved_price_paths".into(),
            serde_json::Value::Object(resolved),
        );
    }
    Ok(value)
}

/// JSON text of `value` with every object's keys sorted (whatever map order serde_json keeps).
pub fn canonical_text(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let fields: Vec<String> = keys
                .into_iter()
                .map(|k| {
                    format!(
                        "{}:{}",
                        serde_json::Value::String(k.clone()),
                        canonical_text(&map[k])
                    )
                })
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        serde_json::Value::Array(list) => format!(
            "[{}]",
            list.iter()
                .map(canonical_text)
                .collect::<Vec<_>>()
                .join(",")
        ),
        other => other.to_string(),
    }
}

/// The first key (in sorted order, as a path like `competitors[1].priority_fee_gwei`) whose value
/// differs between two canonical forms; `None` when they are equal.
pub fn first_changed_key(old: &serde_json::Value, new: &serde_json::Value) -> Option<String> {
    fn walk(path: &str, old: &serde_json::Value, new: &serde_json::Value) -> Option<String> {
        use serde_json::Value;
        let join = |k: &str| {
            if path.is_empty() {
                k.to_string()
            } else {
                format!("{path}.{k}")
            }
        };
        match (old, new) {
            (Value::Object(a), Value::Object(b)) => {
                let mut keys: Vec<&String> = a.keys().chain(b.keys()).collect();
                keys.sort();
                keys.dedup();
                keys.into_iter().find_map(|k| match (a.get(k), b.get(k)) {
                    (Some(x), Some(y)) => walk(&join(k), x, y),
                    _ => Some(join(k)),
                })
            }
            (Value::Array(a), Value::Array(b)) => {
                let found = a
                    .iter()
                    .zip(b)
                    .enumerate()
                    .find_map(|(i, (x, y))| walk(&format!("{path}[{i}]"), x, y));
                match found {
                    Some(f) => Some(f),
                    None if a.len() != b.len() => {
                        Some(format!("{path} ({} entries, now {})", a.len(), b.len()))
                    }
                    None => None,
                }
            }
            (a, b) if a == b => None,
            _ => Some(if path.is_empty() {
                "(whole scenario)".into()
            } else {
                path.to_string()
            }),
        }
    }
    walk("", old, new)
}

/// Applies `--set key=value` overrides to scenario text: `key` is a dotted path with list indexes
/// (`window.blocks`, `competitors[1].priority_fee_gwei`, `strategies[0].latency_blocks`), `value`
/// any TOML value (`300`, `"2.5"`, `[1, 2, 4]`; bare text is taken as a string). The result is
/// TOML text (comments dropped); errors name the override and what was expected.
pub fn apply_overrides(text: &str, source: &str, sets: &[String]) -> Result<String> {
    if sets.is_empty() {
        return Ok(text.to_string());
    }
    let mut root: toml::Table = toml::from_str(text).map_err(|e| Error::InvalidFile {
        path: PathBuf::from(source),
        message: e.to_string().trim().to_string(),
    })?;
    for set in sets {
        let bad = |expected: String| Error::config("--set", set, expected);
        let (key, value) = set
            .split_once('=')
            .ok_or_else(|| bad("KEY=VALUE, e.g. window.blocks=300".into()))?;
        let (key, value) = (key.trim(), value.trim());
        let value: toml::Value = toml::from_str::<toml::Table>(&format!("v = {value}"))
            .ok()
            .and_then(|mut t| t.remove("v"))
            .unwrap_or_else(|| toml::Value::String(value.to_string()));
        let mut steps: Vec<(String, Option<usize>)> = Vec::new();
        for part in key.split('.') {
            let (name, index) = match part.split_once('[') {
                Some((name, rest)) => {
                    let index = rest
                        .strip_suffix(']')
                        .and_then(|i| i.parse::<usize>().ok())
                        .ok_or_else(|| bad(format!("`{part}`: an index like name[0]")))?;
                    (name.to_string(), Some(index))
                }
                None => (part.to_string(), None),
            };
            if name.is_empty() {
                return Err(bad("a key such as window.blocks".into()));
            }
            steps.push((name, index));
        }
        set_path(&mut root, &steps, value).map_err(bad)?;
    }
    toml::to_string(&root).map_err(|e| Error::Decode {
        what: "scenario with --set overrides".into(),
        message: e.to_string(),
    })
}

/// Sets `value` at `steps` (names with optional list indexes) under `table`.
fn set_path(
    table: &mut toml::Table,
    steps: &[(String, Option<usize>)],
    value: toml::Value,
) -> std::result::Result<(), String> {
    let Some(((name, index), rest)) = steps.split_first() else {
        return Err("a key".into());
    };
    let slot: &mut toml::Value = match index {
        None if rest.is_empty() => {
            table.insert(name.clone(), value);
            return Ok(());
        }
        None => table
            .entry(name.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new())),
        Some(i) => {
            let list = table
                .get_mut(name)
                .and_then(|v| v.as_array_mut())
                .ok_or_else(|| format!("`{name}` to be a list in the scenario"))?;
            let len = list.len();
            list.get_mut(*i)
                .ok_or_else(|| format!("an index of `{name}` below {len}"))?
        }
    };
    if rest.is_empty() {
        *slot = value;
        return Ok(());
    }
    let inner = slot
        .as_table_mut()
        .ok_or_else(|| format!("`{name}` to hold keys"))?;
    set_path(inner, rest, value)
}

/// Linear interpolation in exact integers (floor), flat before the first and after the last point.
pub fn interpolate(points: &[(u64, U256)], t: u64) -> Option<U256> {
    let first = points.first()?;
    if t <= first.0 {
        return Some(first.1);
    }
    for w in points.windows(2) {
        let ((t0, p0), (t1, p1)) = (w[0], w[1]);
        if t <= t1 {
            let span = U256::from(t1 - t0);
            let dt = U256::from(t - t0);
            return Some(if p1 >= p0 {
                p0 + (p1 - p0) * dt / span
            } else {
                p0 - (p0 - p1) * dt / span
            });
        }
    }
    points.last().map(|p| p.1)
}

/// Reads `timestamp,symbol,price_usd` rows; errors name the file and row.
fn read_price_csv(path: &Path) -> Result<Vec<(String, u64, U256, String)>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io("reading", path, e))?;
    let bad = |row: usize, message: String| Error::InvalidFile {
        path: path.to_path_buf(),
        message: format!("row {row}: {message}"),
    };
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let row = i + 1;
        let line = line.trim();
        if line.is_empty() || (row == 1 && line.starts_with("timestamp")) {
            continue;
        }
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let [ts, symbol, price] = fields.as_slice() else {
            return Err(bad(
                row,
                format!(
                    "expected 3 fields `timestamp,symbol,price_usd`, got {}",
                    fields.len()
                ),
            ));
        };
        if symbol.is_empty() {
            return Err(bad(row, "missing symbol".into()));
        }
        let ts: u64 = ts.parse().map_err(|_| {
            bad(
                row,
                format!("timestamp `{ts}` is not a unix time in seconds"),
            )
        })?;
        if price.starts_with('-') {
            return Err(bad(row, format!("negative price `{price}`")));
        }
        let price = crate::units::parse_units(price, FEED_DECIMALS)
            .map_err(|e| bad(row, format!("price `{price}`: {e}")))?;
        out.push((
            symbol.to_string(),
            ts,
            price,
            format!("{} row {row}", path.display()),
        ));
    }
    Ok(out)
}

/// `[source]` of a scenario that backtests a window of a real chain instead of a devnet market.
/// Its `Debug` form shows `rpc_url` redacted.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    /// `rpc` (the only kind so far).
    pub kind: String,
    /// Environment variable holding the node's URL (default `ETH_RPC_URL`). Keep URLs with keys
    /// out of files: this is the way to name the node.
    #[serde(default)]
    pub rpc_url_env: Option<String>,
    /// The node's URL itself (shown only redacted); prefer `rpc_url_env`.
    #[serde(default)]
    pub rpc_url: Option<String>,
    /// The Aave V3 Pool (or give `provider`).
    #[serde(default)]
    pub pool: Option<alloy_primitives::Address>,
    /// The PoolAddressesProvider.
    #[serde(default)]
    pub provider: Option<alloy_primitives::Address>,
    /// A market of the Aave address book by name (e.g. `AaveV3Ethereum`): its Pool, provider and
    /// chain id come from `@aave-dao/aave-address-book` (instead of `pool` / `provider`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub market: Option<String>,
    /// First block of the window (state is read at `from_block - 1`).
    pub from_block: u64,
    /// Last block of the window (inclusive).
    pub to_block: u64,
    /// Chain id the node must report.
    #[serde(default)]
    pub chain_id: Option<u64>,
    /// Symbol of the reserve that prices gas (default by chain id).
    #[serde(default)]
    pub native_asset: Option<String>,
    /// Also take the users of Supply/Borrow events from this block on (`eth_getLogs`).
    #[serde(default)]
    pub users_from_block: Option<u64>,
    /// File of user addresses holding positions at the start (relative to the scenario file).
    #[serde(default)]
    pub users_file: Option<PathBuf>,
}

impl std::fmt::Debug for SourceConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceConfig")
            .field("kind", &self.kind)
            .field("rpc_url_env", &self.rpc_url_env)
            .field(
                "rpc_url",
                &self.rpc_url.as_deref().map(crate::node::rpc::redact_url),
            )
            .field("pool", &self.pool)
            .field("provider", &self.provider)
            .field("market", &self.market)
            .field("from_block", &self.from_block)
            .field("to_block", &self.to_block)
            .field("chain_id", &self.chain_id)
            .field("native_asset", &self.native_asset)
            .field("users_from_block", &self.users_from_block)
            .field("users_file", &self.users_file)
            .finish()
    }
}

/// A scenario file with a `[source]` table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RpcScenarioFile {
    /// Name; also the dataset folder name under `datasets/`.
    pub name: String,
    /// Where the window comes from.
    pub source: SourceConfig,
    /// Strategies to evaluate; a parameter given as a list is swept.
    #[serde(default)]
    pub strategies: Vec<crate::strategy::StrategySpec>,
    /// The DEX seized collateral is sold through (its symbols are checked against the
    /// discovered market when the run starts).
    #[serde(default)]
    pub dex: DexConfig,
}

/// A parsed and validated RPC scenario.
#[derive(Debug, Clone)]
pub struct RpcScenario {
    /// The file's content.
    pub file: RpcScenarioFile,
    /// Where it came from.
    pub source: String,
    /// Folder of the scenario file (resolves `users_file`).
    pub base_dir: Option<PathBuf>,
    /// sha256 of what defines the recorded window (not the URL, not the strategies).
    pub window_sha256: String,
    /// The expanded strategy × parameter grid.
    pub instances: Vec<crate::strategy::Instance>,
}

/// A scenario of either kind.
#[derive(Debug, Clone)]
pub enum AnyScenario {
    /// A devnet window built from a market description.
    Devnet(Box<LoadedScenario>),
    /// A window recorded from a node (`[source]`).
    Rpc(Box<RpcScenario>),
}

impl AnyScenario {
    /// Reads a scenario file: with a `[source]` table it is an RPC scenario, else a devnet one.
    pub fn from_file(path: &Path) -> Result<Self> {
        Self::load(Some(path), &[])
    }

    /// Reads a scenario file (`None`: the embedded default) with `--set key=value` overrides
    /// applied ([`apply_overrides`]).
    pub fn load(path: Option<&Path>, sets: &[String]) -> Result<Self> {
        let (text, source, base_dir) = match path {
            Some(path) => (
                std::fs::read_to_string(path).map_err(|e| Error::io("reading", path, e))?,
                path.display().to_string(),
                path.parent(),
            ),
            None => (
                DEFAULT_SCENARIO_TOML.to_string(),
                DEFAULT_SCENARIO_PATH.to_string(),
                None,
            ),
        };
        let text = apply_overrides(&text, &source, sets)?;
        Self::from_text(&text, &source, base_dir)
    }

    fn from_text(text: &str, source: &str, base_dir: Option<&Path>) -> Result<Self> {
        let has_source = toml::from_str::<toml::Table>(text)
            .map(|t| t.contains_key("source"))
            .unwrap_or(false);
        if has_source {
            RpcScenario::from_text(text, source, base_dir).map(|s| Self::Rpc(Box::new(s)))
        } else {
            LoadedScenario::from_text(text, source, base_dir).map(|s| Self::Devnet(Box::new(s)))
        }
    }

    /// Scenario name.
    pub fn name(&self) -> &str {
        match self {
            Self::Devnet(s) => &s.scenario.name,
            Self::Rpc(s) => &s.file.name,
        }
    }
}

impl RpcScenario {
    /// Parses and validates an RPC scenario; errors name the file, the field and the value.
    pub fn from_text(text: &str, source: &str, base_dir: Option<&Path>) -> Result<Self> {
        let file: RpcScenarioFile =
            toml::from_str(text).map_err(|e| toml_error(text, source, &e))?;
        let invalid =
            |field: &str, value: &dyn std::fmt::Display, expected: &str| Error::InvalidFile {
                path: PathBuf::from(source),
                message: format!("field `{field}` = {value}: expected {expected}"),
            };
        let s = &file.source;
        if file.name.is_empty()
            || !file
                .name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(invalid("name", &file.name, "letters, digits, '-' or '_'"));
        }
        if s.kind != "rpc" {
            return Err(invalid("source.kind", &s.kind, "\"rpc\""));
        }
        match (&s.market, s.pool.is_some() || s.provider.is_some()) {
            (None, false) => {
                return Err(invalid(
                    "source.pool",
                    &"(none)",
                    "the Aave V3 Pool address, `source.provider`, or `source.market` (a market of the Aave address book, e.g. \"AaveV3Ethereum\")",
                ))
            }
            (Some(market), true) => {
                return Err(invalid(
                    "source.market",
                    market,
                    "either `market` (the address book gives Pool and provider) or `pool`/`provider`, not both",
                ))
            }
            _ => {}
        }
        if s.from_block == 0 {
            return Err(invalid("source.from_block", &0, "at least 1"));
        }
        if s.to_block < s.from_block {
            return Err(invalid(
                "source.to_block",
                &s.to_block,
                &format!("at least from_block ({})", s.from_block),
            ));
        }
        if let Some(u) = s.users_from_block {
            if u >= s.from_block {
                return Err(invalid(
                    "source.users_from_block",
                    &u,
                    &format!("a block before from_block ({})", s.from_block),
                ));
            }
        }
        match (&s.rpc_url, &s.rpc_url_env) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "source.rpc_url",
                    &"(set)",
                    "either rpc_url or rpc_url_env, not both",
                ))
            }
            (Some(url), None) => {
                let ok =
                    reqwest::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
                if !ok {
                    return Err(invalid(
                        "source.rpc_url",
                        &crate::node::rpc::redact_url(url),
                        "an http:// or https:// URL",
                    ));
                }
            }
            (None, Some(var)) => {
                if var.is_empty() || !var.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
                    return Err(invalid(
                        "source.rpc_url_env",
                        var,
                        "the name of an environment variable (letters, digits, '_')",
                    ));
                }
            }
            (None, None) => {}
        }
        let instances =
            crate::strategy::expand(&file.strategies).map_err(|e| Error::InvalidFile {
                path: PathBuf::from(source),
                message: format!("[[strategies]] {e}"),
            })?;
        use sha2::Digest;
        let mut defining = s.clone();
        defining.rpc_url = None;
        defining.rpc_url_env = None;
        let mut hasher = sha2::Sha256::new();
        hasher.update(serde_json::to_vec(&defining).unwrap_or_default());
        if let Some(users) = &s.users_file {
            let path = match base_dir {
                Some(dir) if users.is_relative() => dir.join(users),
                _ => users.clone(),
            };
            let bytes = std::fs::read(&path).map_err(|e| Error::io("reading", &path, e))?;
            hasher.update(&bytes);
        }
        // A recorded window trades against the chain's own history: no arbitrageur of liqsim's.
        if let Some(lag) = file.dex.arbitrage_lag_blocks {
            return Err(invalid(
                "dex.arbitrage_lag_blocks",
                &lag,
                "no arbitrage lag in a scenario with [source] (the devnet builder's arbitrageur; a \
                 recorded window's pools move as the chain's history moved them)",
            ));
        }
        file.dex.chain_contracts().map_err(|e| Error::InvalidFile {
            path: PathBuf::from(source),
            message: format!("[dex] {e}"),
        })?;
        Ok(Self {
            window_sha256: hex::encode(hasher.finalize()),
            file,
            source: source.to_string(),
            base_dir: base_dir.map(Path::to_path_buf),
            instances,
        })
    }

    /// The node's URL: `rpc_url`, else the variable `rpc_url_env` (default `ETH_RPC_URL`).
    pub fn rpc_url(&self) -> Result<String> {
        if let Some(url) = &self.file.source.rpc_url {
            return Ok(url.clone());
        }
        let var = self
            .file
            .source
            .rpc_url_env
            .clone()
            .unwrap_or_else(|| "ETH_RPC_URL".to_string());
        std::env::var(&var).map_err(|_| Error::InvalidFile {
            path: PathBuf::from(&self.source),
            message: format!(
                "field `source.rpc_url_env` = {var}: expected an environment variable holding the node's URL (it is not set)"
            ),
        })
    }

    /// The `users_file`, resolved against the scenario's folder.
    pub fn users_file(&self) -> Option<PathBuf> {
        let users = self.file.source.users_file.as_ref()?;
        Some(match &self.base_dir {
            Some(dir) if users.is_relative() => dir.join(users),
            _ => users.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_scenario_is_valid_and_meets_the_brief() {
        let s = LoadedScenario::default_scenario().unwrap();
        assert!(s.scenario.borrowers.count >= 1000);
        assert!(s.scenario.market.symbols().len() >= 4);
        assert!(s.scenario.window.blocks >= 2000);
        assert!(s.scenario.competitors.len() >= 2);
        // about −40% within half a day
        let start = s.scenario.window.start_timestamp;
        let first = s.price_at("WETH", start).unwrap();
        let low = (0..43_200u64)
            .step_by(60)
            .filter_map(|dt| s.price_at("WETH", start + dt))
            .min()
            .unwrap();
        let drop_bps = (first - low) * U256::from(10_000u64) / first;
        assert!(
            drop_bps >= U256::from(3_500u64) && drop_bps <= U256::from(4_500u64),
            "{drop_bps}"
        );
    }

    #[test]
    fn unknown_key_names_line_and_key() {
        let text = DEFAULT_SCENARIO_TOML.replacen("seed =", "sede = 1\nseed =", 1);
        let err = LoadedScenario::from_text(&text, "x.toml", None)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("x.toml") && err.contains("sede") && err.contains("line"),
            "{err}"
        );
    }

    /// The default window through the formula model (the tests of `[dex]`'s formula keys).
    const FORMULA_TWIN_TOML: &str = include_str!("../scenarios/eth-crash-formula.toml");

    #[test]
    fn arbitrage_lag_is_validated_and_the_dataset_depends_on_a_real_dex() {
        let load = |dex: &str| {
            let text = FORMULA_TWIN_TOML.replacen("[dex]", &format!("[dex]\n{dex}"), 1);
            assert_ne!(text, FORMULA_TWIN_TOML);
            LoadedScenario::from_text(&text, "x.toml", None)
        };
        let err = load("arbitrage_lag_blocks = 3").unwrap_err().to_string();
        assert!(
            err.contains("dex.arbitrage_lag_blocks") && err.contains("formula"),
            "{err}"
        );
        let v3 = load("kind = \"uniswap-v3\"").unwrap();
        assert_eq!(
            v3.scenario.dex.arbitrage_lag().unwrap(),
            Some(DexConfig::DEFAULT_ARBITRAGE_LAG_BLOCKS)
        );
        let err = load("kind = \"uniswap-v2\"\narbitrage_lag_blocks = 100000")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("dex.arbitrage_lag_blocks") && err.contains("100000"),
            "{err}"
        );
        let err = load("arbitrage_lag = 3").unwrap_err().to_string();
        assert!(err.contains("arbitrage_lag"), "{err}");
        // With a real DEX the pools are on the chain: [dex] is part of what the dataset depends
        // on; with the formula it is not.
        let lag5 = load("kind = \"uniswap-v3\"\narbitrage_lag_blocks = 5").unwrap();
        assert_ne!(v3.sha256, lag5.sha256);
        let a = load("").unwrap();
        let b = LoadedScenario::from_text(
            &FORMULA_TWIN_TOML.replacen("fee_bps = 30", "fee_bps = 31", 1),
            "x.toml",
            None,
        )
        .unwrap();
        assert_eq!(a.sha256, b.sha256);
    }

    #[test]
    fn a_recorded_window_names_its_own_dex_and_has_no_arbitrage_lag() {
        let base = "name = \"m\"\n[source]\nkind = \"rpc\"\npool = \"0x87870Bca3F3fD6335C3F4ce8392D69350B4fA4E2\"\nfrom_block = 10\nto_block = 20\n[[strategies]]\nkind = \"greedy\"\n[dex]\nkind = \"uniswap-v3\"\nfee_tier = 500\n";
        let load = |extra: &str| RpcScenario::from_text(&format!("{base}{extra}"), "r.toml", None);
        let named = load(
            "factory = \"0x1F98431c8aD98523631AE4a59f267346ea31F984\"\nrouter = \"0xE592427A0AEce9277A4B0e0c6F2d8B52B2Fc9f6F\"\nquoter = \"0x61fFE014bA17989E743c5F6cB21bF9697530B21e\"\npools = [\"0x88e6A0c2dDD26FEEb64F039a2c41296FcB3f5640\"]\n",
        )
        .unwrap();
        let c = named.file.dex.chain_contracts().unwrap().unwrap();
        assert!(c.quoter.is_some());
        assert_eq!(named.file.dex.pools.len(), 1);
        let err = load("factory = \"0x1F98431c8aD98523631AE4a59f267346ea31F984\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("dex.router"), "{err}");
        let err = load("pools = [\"0x88e6A0c2dDD26FEEb64F039a2c41296FcB3f5640\"]\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("dex.pools") && err.contains("dex.factory"),
            "{err}"
        );
        let err = load("arbitrage_lag_blocks = 2\n").unwrap_err().to_string();
        assert!(err.contains("dex.arbitrage_lag_blocks"), "{err}");
        let err = load("factory = \"0x12\"\n").unwrap_err().to_string();
        assert!(err.contains("factory"), "{err}");
    }

    #[test]
    fn dex_and_backstop_errors_name_the_field() {
        let bad = |from: &str, to: &str| {
            let text = FORMULA_TWIN_TOML.replacen(from, to, 1);
            assert_ne!(text, FORMULA_TWIN_TOML, "{from} not in the formula twin");
            LoadedScenario::from_text(&text, "x.toml", None)
                .unwrap_err()
                .to_string()
        };
        let err = bad("WBTC = \"60000000\"", "WBTC = \"60000000\", DOGE = \"1\"");
        assert!(
            err.contains("dex.depth_usd_by_symbol.DOGE") && err.contains("WETH"),
            "{err}"
        );
        let err = bad("WBTC = \"60000000\"", "WBTC = \"0\"");
        assert!(
            err.contains("dex.depth_usd_by_symbol.WBTC") && err.contains("above 0"),
            "{err}"
        );
        let err = bad("fee_bps = 30", "fee_bps = 10000");
        assert!(
            err.contains("dex.fee_bps") && err.contains("10000"),
            "{err}"
        );
        let err = bad("depth_usd = \"50000000\"", "depth_usd = \"-5\"");
        assert!(err.contains("dex.depth_usd") && err.contains("-5"), "{err}");
        let err = bad("stablecoins = \"USDC,DAI\"", "stablecoins = \" , \"");
        assert!(err.contains("stablecoins"), "{err}");
        let err = bad(
            "capital_usd = [250000, 5000000]",
            "capital_usd = [250000, -1]",
        );
        assert!(err.contains("capital_usd"), "{err}");
        let model = LoadedScenario::default_scenario()
            .unwrap()
            .scenario
            .dex
            .model(&["WETH".into(), "WBTC".into(), "USDC".into()])
            .unwrap();
        let usd = |v: u64| U256::from(v) * U256::from(100_000_000u64);
        assert_eq!(model.pools[0].unwrap().depth_base, usd(120_000_000));
        assert_eq!(model.pools[1].unwrap().depth_base, usd(60_000_000));
        assert_eq!(model.pools[2].unwrap().depth_base, usd(50_000_000));
        assert_eq!(model.pools[2].unwrap().fee_bps, 30);
    }

    #[test]
    fn interpolation_is_exact_and_flat_outside() {
        let pts = vec![
            (10, U256::from(100u64)),
            (20, U256::from(200u64)),
            (30, U256::from(50u64)),
        ];
        assert_eq!(interpolate(&pts, 0), Some(U256::from(100u64)));
        assert_eq!(interpolate(&pts, 15), Some(U256::from(150u64)));
        assert_eq!(interpolate(&pts, 25), Some(U256::from(125u64)));
        assert_eq!(interpolate(&pts, 99), Some(U256::from(50u64)));
    }

    #[test]
    fn price_csv_errors_name_the_row() {
        let dir = std::env::temp_dir().join(format!("liqsim-csv-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let cases = [
            // (after the inline points, which end within the window)
            (
                "timestamp,symbol,price_usd\n2000000001,WETH,10\n2000000002,,10\n",
                "row 3",
            ),
            ("2000000001,WETH,10\n2000000001,WETH,11\n", "row 2"),
            ("2000000001,WETH,-5\n", "row 1"),
        ];
        for (i, (csv, row)) in cases.iter().enumerate() {
            let path = dir.join(format!("p{i}.csv"));
            std::fs::write(&path, csv).unwrap();
            let text = DEFAULT_SCENARIO_TOML.replacen(
                "[prices]",
                &format!("[prices]\ncsv = {:?}", path.display().to_string()),
                1,
            );
            let err = LoadedScenario::from_text(&text, "s.toml", None)
                .unwrap_err()
                .to_string();
            assert!(err.contains(row), "{err}");
        }
    }

    #[test]
    fn rpc_scenarios_are_validated() {
        let good = "name = \"m\"\n[source]\nkind = \"rpc\"\npool = \"0x87870Bca3F3fD6335C3F4ce8392D69350B4fA4E2\"\nfrom_block = 10\nto_block = 20\n[[strategies]]\nkind = \"greedy\"\n";
        let s = RpcScenario::from_text(good, "g.toml", None).unwrap();
        assert_eq!(s.file.source.to_block, 20);
        assert_eq!(s.instances.len(), 1);
        let cases = [
            (
                good.replace("kind = \"rpc\"", "kind = \"ws\""),
                "source.kind",
            ),
            (
                good.replace("to_block = 20", "to_block = 5"),
                "source.to_block",
            ),
            (
                good.replace("from_block = 10", "from_block = 10\nfrom_blok = 3"),
                "from_blok",
            ),
            (
                good.replace(
                    "pool = \"0x87870Bca3F3fD6335C3F4ce8392D69350B4fA4E2\"\n",
                    "",
                ),
                "source.pool",
            ),
            (
                good.replace(
                    "from_block = 10",
                    "from_block = 10\nrpc_url = \"ftp://u:secret@h/k\"",
                ),
                "source.rpc_url",
            ),
            (
                good.replace(
                    "from_block = 10",
                    "from_block = 10\nmarket = \"AaveV3Ethereum\"",
                ),
                "source.market",
            ),
        ];
        for (text, field) in cases {
            let err = RpcScenario::from_text(&text, "bad.toml", None)
                .unwrap_err()
                .to_string();
            assert!(err.contains("bad.toml") && err.contains(field), "{err}");
            assert!(!err.contains("secret"), "{err}");
        }
        // a URL given in the file never shows unredacted, not even in debug output
        let keyed = good.replace(
            "from_block = 10",
            "from_block = 10\nrpc_url = \"https://u:secret@node.example/key123\"",
        );
        let keyed = RpcScenario::from_text(&keyed, "k.toml", None).unwrap();
        let debug = format!("{keyed:?}");
        assert!(
            debug.contains("node.example")
                && !debug.contains("secret")
                && !debug.contains("key123"),
            "{debug}"
        );
        // the URL does not change what is recorded; the window does
        let with_url = good.replace(
            "from_block = 10",
            "from_block = 10\nrpc_url_env = \"MY_NODE\"",
        );
        let other = RpcScenario::from_text(&with_url, "g.toml", None).unwrap();
        assert_eq!(other.window_sha256, s.window_sha256);
        let moved = RpcScenario::from_text(
            &good.replace("to_block = 20", "to_block = 21"),
            "g.toml",
            None,
        )
        .unwrap();
        assert_ne!(moved.window_sha256, s.window_sha256);
    }

    #[test]
    fn example_mainnet_scenario_is_valid() {
        let text = include_str!("../scenarios/mainnet-aave-v3.toml");
        let s = RpcScenario::from_text(text, "scenarios/mainnet-aave-v3.toml", None).unwrap();
        assert_eq!(s.file.source.market.as_deref(), Some("AaveV3Ethereum"));
        assert!(s.file.source.pool.is_none());
        assert!(s.file.source.rpc_url.is_none());
        assert!(s.instances.len() >= 4);
    }
}
