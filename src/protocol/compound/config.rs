//! Market description for a Compound-style (Venus isolated pools) deployment, as serde data.

use alloy_primitives::U256;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::protocol::oracles::OracleMechanism;
use crate::protocol::tokens::{check_decimals, TokenBytecode};
use crate::units::DecimalText;

/// The `protocol` value this module deploys.
pub const PROTOCOL_KIND: &str = "compound";

/// Largest decimals the configuration accepts (prices are scaled by 1e(36 − decimals)).
pub const MAX_DECIMALS: u8 = 36;

/// Venus' `MAX_COLLATERAL_FACTOR_MANTISSA` (95 %), in basis points.
pub const MAX_COLLATERAL_FACTOR_BPS: u16 = 9500;

/// Venus' close-factor bounds (`MIN_CLOSE_FACTOR_MANTISSA` 5 %, `MAX_CLOSE_FACTOR_MANTISSA` 90 %).
pub const CLOSE_FACTOR_BPS_RANGE: std::ops::RangeInclusive<u16> = 500..=9000;

/// One listed market (an underlying token and its vToken).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssetConfig {
    /// Underlying symbol, unique within the pool (e.g. `ETH`); the vToken is `v` + symbol.
    pub symbol: String,
    /// Underlying decimals (0..=36).
    pub decimals: u8,
    /// USD price of one whole token, e.g. `"1800.25"` (the oracle mantissa is price × 1e(36 − decimals)).
    pub price_usd: DecimalText,
    /// Collateral factor in basis points (borrowing power); below 9500 (Venus' maximum).
    pub collateral_factor_bps: u16,
    /// Liquidation threshold in basis points (≥ collateral factor, ≤ 10000); shortfall is
    /// measured against it. Compound V2 itself has no separate threshold: set it equal to the
    /// collateral factor to model a plain Compound V2 fork.
    pub liquidation_threshold_bps: u16,
    /// Share of seized collateral kept by the protocol, in basis points (≤ incentive − 10000).
    #[serde(default)]
    pub protocol_seize_share_bps: u16,
    /// Reserve factor in basis points.
    #[serde(default = "default_reserve_factor")]
    pub reserve_factor_bps: u16,
    /// Initial exchange rate: underlying tokens per vToken (vTokens have 8 decimals), e.g. `"0.02"`.
    #[serde(default = "default_exchange_rate")]
    pub initial_exchange_rate: DecimalText,
}

fn default_reserve_factor() -> u16 {
    1000
}
fn default_exchange_rate() -> DecimalText {
    DecimalText("0.02".into())
}

/// A whole Compound-style pool (a fork is a different value of this, not different code).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarketConfig {
    /// Protocol kind; must be `compound` (an Aave market config is rejected here).
    #[serde(default = "default_kind")]
    pub protocol: String,
    /// Pool name.
    #[serde(default = "default_market_id")]
    pub market_id: String,
    /// Chain id the pool lives on.
    #[serde(default = "default_chain_id")]
    pub chain_id: u64,
    /// Close factor in basis points (500..=9000).
    pub close_factor_bps: u16,
    /// Liquidation incentive in basis points, at least 10000 (10800 = 8% discount).
    pub liquidation_incentive_bps: u16,
    /// `minLiquidatableCollateral` in USD: accounts whose total (unweighted) collateral is at or
    /// below it cannot be liquidated with `liquidateBorrow` (Venus rule).
    #[serde(default = "zero")]
    pub min_liquidatable_collateral_usd: DecimalText,
    /// Symbol of the asset whose price prices gas (default: the first asset).
    #[serde(default)]
    pub native_asset: Option<String>,
    /// Listed markets, in listing order.
    pub assets: Vec<AssetConfig>,
    /// Token bytecode the devnet deploys: `"mintable"` (default: the package's `MockToken`, with
    /// a public `faucet`) or `"real"` (WETH9 for `WETH` and the native asset, OpenZeppelin ERC-20s
    /// without mint, one in two behind an ERC-1967 proxy; any decimals (WETH9's are 18);
    /// every actor is funded by storage).
    #[serde(default, skip_serializing_if = "TokenBytecode::is_mintable")]
    pub tokens: TokenBytecode,
    /// How the devnet's oracle is wired and moved (`protocol::oracles::OracleMechanism`):
    /// `"settable"` (default: the package's `MockPriceOracle` is the comptroller's oracle) or,
    /// behind Venus' own `ResilientOracle` over its `ChainlinkOracle` (`@venusprotocol/oracle`,
    /// USD feeds with 8 decimals), `"chainlink-proxy"`, `"source-swap"`, `"fallback"`, `"push"`
    /// or `"adapter"`.
    #[serde(default, skip_serializing_if = "OracleMechanism::is_settable")]
    pub oracle: OracleMechanism,
}

fn default_kind() -> String {
    PROTOCOL_KIND.into()
}
fn default_market_id() -> String {
    "liqsim compound devnet".into()
}
fn default_chain_id() -> u64 {
    31337
}
fn zero() -> DecimalText {
    DecimalText("0".into())
}

/// `bps` as a 1e18 mantissa.
pub fn bps_mantissa(bps: u16) -> U256 {
    U256::from(bps) * U256::from(100_000_000_000_000u64)
}

impl MarketConfig {
    /// Checks every field; the error names the first invalid one.
    pub fn validate(&self) -> Result<()> {
        if self.protocol != PROTOCOL_KIND {
            return Err(Error::config(
                "protocol",
                &self.protocol,
                "`compound` (one protocol kind per market config)",
            ));
        }
        if !CLOSE_FACTOR_BPS_RANGE.contains(&self.close_factor_bps) {
            return Err(Error::config(
                "close_factor_bps",
                self.close_factor_bps,
                "from 500 to 9000 (Venus' close-factor bounds)",
            ));
        }
        if self.liquidation_incentive_bps < 10_000 {
            return Err(Error::config(
                "liquidation_incentive_bps",
                self.liquidation_incentive_bps,
                "at least 10000 (an incentive below 100% pays the liquidator less than it repays)",
            ));
        }
        self.min_liquidatable_collateral()?;
        if self.assets.is_empty() {
            return Err(Error::config("assets", "[]", "at least one asset"));
        }
        for (i, a) in self.assets.iter().enumerate() {
            let f = |name: &str| format!("assets[{i}].{name}");
            if a.symbol.is_empty() || a.symbol.len() > 16 {
                return Err(Error::config(f("symbol"), &a.symbol, "1 to 16 characters"));
            }
            if self.assets[..i].iter().any(|b| b.symbol == a.symbol) {
                return Err(Error::config(
                    f("symbol"),
                    &a.symbol,
                    "a symbol not listed before",
                ));
            }
            if a.decimals > MAX_DECIMALS {
                return Err(Error::config(
                    f("decimals"),
                    a.decimals,
                    format!("at most {MAX_DECIMALS}"),
                ));
            }
            check_decimals(self.tokens, i, &a.symbol, &self.native_symbol(), a.decimals)?;
            if self.price(i)?.is_zero() {
                return Err(Error::config(f("price_usd"), &a.price_usd.0, "above 0"));
            }
            if a.collateral_factor_bps >= 10_000 {
                return Err(Error::config(
                    f("collateral_factor_bps"),
                    a.collateral_factor_bps,
                    "below 10000 (a collateral factor of 100% or more lets debt exceed collateral)",
                ));
            }
            if a.collateral_factor_bps > MAX_COLLATERAL_FACTOR_BPS {
                return Err(Error::config(
                    f("collateral_factor_bps"),
                    a.collateral_factor_bps,
                    "at most 9500 (Venus' MAX_COLLATERAL_FACTOR_MANTISSA)",
                ));
            }
            if a.liquidation_threshold_bps < a.collateral_factor_bps
                || a.liquidation_threshold_bps > 10_000
            {
                return Err(Error::config(
                    f("liquidation_threshold_bps"),
                    a.liquidation_threshold_bps,
                    format!(
                        "from collateral_factor_bps ({}) to 10000",
                        a.collateral_factor_bps
                    ),
                ));
            }
            if u32::from(a.protocol_seize_share_bps) + 10_000
                > u32::from(self.liquidation_incentive_bps)
            {
                return Err(Error::config(
                    f("protocol_seize_share_bps"),
                    a.protocol_seize_share_bps,
                    format!(
                        "at most liquidation_incentive_bps − 10000 ({})",
                        self.liquidation_incentive_bps - 10_000
                    ),
                ));
            }
            if a.reserve_factor_bps > 10_000 {
                return Err(Error::config(
                    f("reserve_factor_bps"),
                    a.reserve_factor_bps,
                    "at most 10000",
                ));
            }
            if !self.oracle.is_settable() && a.decimals > 18 {
                return Err(Error::config(
                    f("decimals"),
                    a.decimals,
                    format!(
                        "at most 18 with oracle = \"{}\" (Venus' ChainlinkOracle scales prices by 10^(18 − decimals))",
                        self.oracle.as_str()
                    ),
                ));
            }
            if self.oracle == OracleMechanism::Push
                && self.usd_answer(i)? > U256::from(i64::MAX as u64)
            {
                return Err(Error::config(
                    f("price_usd"),
                    &a.price_usd.0,
                    "a price below 9.2e10 with oracle = \"push\" (the push oracle stores int64 prices with 8 decimals)",
                ));
            }
            if self.initial_exchange_rate(i)?.is_zero() {
                return Err(Error::config(
                    f("initial_exchange_rate"),
                    &a.initial_exchange_rate.0,
                    "above 0",
                ));
            }
        }
        if let Some(native) = &self.native_asset {
            if !self.assets.iter().any(|a| &a.symbol == native) {
                return Err(Error::config(
                    "native_asset",
                    native,
                    "the symbol of a listed asset",
                ));
            }
        }
        Ok(())
    }

    /// Oracle price mantissa of asset `i`: USD × 1e(36 − decimals).
    pub fn price(&self, i: usize) -> Result<U256> {
        let a = self.asset(i)?;
        let scale = MAX_DECIMALS.saturating_sub(a.decimals);
        a.price_usd
            .to_units(scale)
            .map_err(|e| Error::config(format!("assets[{i}].price_usd"), &a.price_usd.0, e))
    }

    /// USD price of asset `i` with 8 decimals: what a Chainlink USD feed answers for it.
    pub fn usd_answer(&self, i: usize) -> Result<U256> {
        let a = self.asset(i)?;
        a.price_usd
            .to_units(8)
            .map_err(|e| Error::config(format!("assets[{i}].price_usd"), &a.price_usd.0, e))
    }

    /// Initial exchange-rate mantissa of asset `i`: rate × 1e(18 − 8 + decimals).
    pub fn initial_exchange_rate(&self, i: usize) -> Result<U256> {
        let a = self.asset(i)?;
        a.initial_exchange_rate
            .to_units(10 + a.decimals)
            .map_err(|e| {
                Error::config(
                    format!("assets[{i}].initial_exchange_rate"),
                    &a.initial_exchange_rate.0,
                    e,
                )
            })
    }

    /// The native (gas) asset's symbol.
    pub fn native_symbol(&self) -> String {
        self.native_asset
            .clone()
            .or_else(|| self.assets.first().map(|a| a.symbol.clone()))
            .unwrap_or_default()
    }

    /// `minLiquidatableCollateral` mantissa (USD × 1e18).
    pub fn min_liquidatable_collateral(&self) -> Result<U256> {
        self.min_liquidatable_collateral_usd
            .to_units(18)
            .map_err(|e| {
                Error::config(
                    "min_liquidatable_collateral_usd",
                    &self.min_liquidatable_collateral_usd.0,
                    e,
                )
            })
    }

    fn asset(&self, i: usize) -> Result<&AssetConfig> {
        self.assets.get(i).ok_or_else(|| Error::Unknown {
            kind: "asset index",
            name: i.to_string(),
            known: format!("0..{}", self.assets.len()),
        })
    }

    /// Parses and validates a TOML market description.
    pub fn from_toml(text: &str) -> Result<Self> {
        let config: Self = toml::from_str(text).map_err(|e| Error::InvalidConfig {
            field: "(toml)".into(),
            value: String::new(),
            expected: e.to_string(),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// A four-market pool with Pippi Lending's published collateral factors (ETH, USDT, HT 75%;
    /// HBTC 65%), liquidation thresholds 5 points above them, an 8% incentive, a 50% close factor,
    /// a 5% protocol seize share on ETH and HBTC, and a $100 `minLiquidatableCollateral`.
    pub fn default_devnet() -> Self {
        let asset = |symbol: &str, decimals, price: &str, cf, lt, share| AssetConfig {
            symbol: symbol.into(),
            decimals,
            price_usd: DecimalText(price.into()),
            collateral_factor_bps: cf,
            liquidation_threshold_bps: lt,
            protocol_seize_share_bps: share,
            reserve_factor_bps: 1000,
            initial_exchange_rate: default_exchange_rate(),
        };
        Self {
            protocol: default_kind(),
            market_id: default_market_id(),
            chain_id: default_chain_id(),
            close_factor_bps: 5000,
            liquidation_incentive_bps: 10_800,
            min_liquidatable_collateral_usd: DecimalText("100".into()),
            native_asset: Some("HT".into()),
            assets: vec![
                asset("ETH", 18, "2000", 7500, 8000, 500),
                asset("HBTC", 8, "30000", 6500, 7000, 500),
                asset("USDT", 6, "1", 7500, 8000, 0),
                asset("HT", 18, "5.5", 7500, 8000, 0),
            ],
            tokens: TokenBytecode::Mintable,
            oracle: OracleMechanism::Settable,
        }
    }
}

impl crate::protocol::spec::MarketDescription for MarketConfig {
    fn validate(&self) -> Result<()> {
        MarketConfig::validate(self)
    }
    fn symbols(&self) -> Vec<String> {
        self.assets.iter().map(|a| a.symbol.clone()).collect()
    }
    fn chain_id(&self) -> u64 {
        self.chain_id
    }
    fn native_symbol(&self) -> String {
        MarketConfig::native_symbol(self)
    }
    fn usd_price(&self, i: usize) -> Result<U256> {
        let decimals = self.assets.get(i).map(|a| a.decimals).unwrap_or_default();
        Ok(crate::protocol::compound::market::usd_of_mantissa(
            self.price(i)?,
            decimals,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rejects(mutate: impl FnOnce(&mut MarketConfig), field: &str) {
        let mut c = MarketConfig::default_devnet();
        mutate(&mut c);
        match c.validate() {
            Err(Error::InvalidConfig { field: f, .. }) => assert_eq!(f, field),
            other => panic!("expected {field} to be rejected, got {other:?}"),
        }
    }

    #[test]
    fn default_is_valid_and_bad_fields_are_named() {
        MarketConfig::default_devnet().validate().unwrap();
        rejects(|c| c.protocol = "aave-v3".into(), "protocol");
        rejects(
            |c| c.assets[1].collateral_factor_bps = 10_000,
            "assets[1].collateral_factor_bps",
        );
        rejects(
            |c| c.assets[1].collateral_factor_bps = 9600,
            "assets[1].collateral_factor_bps",
        );
        rejects(
            |c| c.liquidation_incentive_bps = 9999,
            "liquidation_incentive_bps",
        );
        rejects(|c| c.close_factor_bps = 9500, "close_factor_bps");
        rejects(
            |c| c.assets[0].liquidation_threshold_bps = 7000,
            "assets[0].liquidation_threshold_bps",
        );
        rejects(
            |c| c.assets[0].protocol_seize_share_bps = 900,
            "assets[0].protocol_seize_share_bps",
        );
        rejects(
            |c| c.assets[2].price_usd = DecimalText("0".into()),
            "assets[2].price_usd",
        );
        rejects(|c| c.assets[3].symbol = "ETH".into(), "assets[3].symbol");
        // Real tokens of any decimals, but the native asset becomes WETH9 (18 decimals).
        let mut real = MarketConfig::default_devnet();
        real.tokens = TokenBytecode::Real;
        assert!(real.validate().is_ok());
        rejects(
            |c| {
                c.tokens = TokenBytecode::Real;
                c.assets[3].decimals = 8;
            },
            "assets[3].decimals",
        );
    }

    #[test]
    fn toml_with_aave_fields_is_rejected() {
        let text = r#"
            close_factor_bps = 5000
            liquidation_incentive_bps = 10800
            flash_loan_premium_bps = 9
            assets = []
        "#;
        assert!(MarketConfig::from_toml(text).is_err());
        let text = r#"
            protocol = "aave-v2"
            close_factor_bps = 5000
            liquidation_incentive_bps = 10800
            [[assets]]
            symbol = "ETH"
            decimals = 18
            price_usd = 2000
            collateral_factor_bps = 7500
            liquidation_threshold_bps = 7500
        "#;
        match MarketConfig::from_toml(text) {
            Err(Error::InvalidConfig { field, .. }) => assert_eq!(field, "protocol"),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn mantissas() {
        let c = MarketConfig::default_devnet();
        assert_eq!(c.price(2).unwrap(), U256::from(10u8).pow(U256::from(30)));
        assert_eq!(
            c.initial_exchange_rate(0).unwrap(),
            U256::from(2u8) * U256::from(10u8).pow(U256::from(26))
        );
        assert_eq!(bps_mantissa(7500), U256::from(750_000_000_000_000_000u64));
    }
}
