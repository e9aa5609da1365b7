//! Market description for an Aave V3 deployment: assets, decimals, prices and risk parameters as data.

use alloy_primitives::U256;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::protocol::oracles::OracleMechanism;
use crate::protocol::tokens::{check_decimals, TokenBytecode};
use crate::units::DecimalText;

/// Interest-rate strategy parameters (`DefaultReserveInterestRateStrategy`), in ray-scaled percent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RateStrategyConfig {
    /// Optimal usage ratio, e.g. `"0.8"`.
    #[serde(default = "default_optimal")]
    pub optimal_usage_ratio: DecimalText,
    /// Base variable borrow rate, e.g. `"0"`.
    #[serde(default = "zero")]
    pub base_variable_borrow_rate: DecimalText,
    /// Slope below optimal usage, e.g. `"0.04"`.
    #[serde(default = "default_slope1")]
    pub variable_rate_slope1: DecimalText,
    /// Slope above optimal usage, e.g. `"0.75"`.
    #[serde(default = "default_slope2")]
    pub variable_rate_slope2: DecimalText,
}

fn default_optimal() -> DecimalText {
    DecimalText("0.8".into())
}
fn zero() -> DecimalText {
    DecimalText("0".into())
}
fn default_slope1() -> DecimalText {
    DecimalText("0.04".into())
}
fn default_slope2() -> DecimalText {
    DecimalText("0.75".into())
}

impl Default for RateStrategyConfig {
    fn default() -> Self {
        Self {
            optimal_usage_ratio: default_optimal(),
            base_variable_borrow_rate: zero(),
            variable_rate_slope1: default_slope1(),
            variable_rate_slope2: default_slope2(),
        }
    }
}

/// One listed asset.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssetConfig {
    /// Token symbol, unique within the market (e.g. `WETH`).
    pub symbol: String,
    /// Token decimals (0..=36).
    pub decimals: u8,
    /// Initial USD price (the feed has 8 decimals), e.g. `"1800.25"`.
    pub price_usd: DecimalText,
    /// Loan-to-value in basis points (0 disables borrowing against it).
    pub ltv_bps: u16,
    /// Liquidation threshold in basis points (≥ LTV; 0 = not collateral).
    pub liquidation_threshold_bps: u16,
    /// Liquidation bonus in basis points, above 10000 (10500 = 5% bonus).
    pub liquidation_bonus_bps: u16,
    /// Share of the bonus paid to the treasury, in basis points of the bonus.
    #[serde(default)]
    pub liquidation_protocol_fee_bps: u16,
    /// Reserve factor in basis points.
    #[serde(default = "default_reserve_factor")]
    pub reserve_factor_bps: u16,
    /// Whether the asset can be borrowed.
    #[serde(default = "yes")]
    pub borrowing_enabled: bool,
    /// Interest-rate strategy.
    #[serde(default)]
    pub rates: RateStrategyConfig,
}

fn default_reserve_factor() -> u16 {
    1000
}
fn yes() -> bool {
    true
}

/// A whole Aave V3 market (a fork is a different value of this, not different code).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarketConfig {
    /// Market id given to the PoolAddressesProvider.
    #[serde(default = "default_market_id")]
    pub market_id: String,
    /// Chain id the market lives on.
    #[serde(default = "default_chain_id")]
    pub chain_id: u64,
    /// Symbol of the asset whose price prices gas (ETH on Ethereum, HYPE on HyperEVM...).
    #[serde(default = "default_native")]
    pub native_asset: String,
    /// Flash-loan premium in basis points (Aave's FLASHLOAN_PREMIUM_TOTAL).
    #[serde(default = "default_premium")]
    pub flash_loan_premium_bps: u16,
    /// Enable flash loans on every reserve at deployment (`setReserveFlashLoaning`; Aave V3
    /// lists reserves with flash loans off). Off by default so that existing devnet windows stay
    /// the same; the liquidator contract's flash-loan bundles need it (`[dex] kind` real).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub flash_loans_enabled: bool,
    /// Listed assets, in reserve order.
    pub assets: Vec<AssetConfig>,
    /// Token bytecode the devnet deploys: `"mintable"` (default: the package's mintable test
    /// tokens) or `"real"` (WETH9 for `WETH`, OpenZeppelin ERC-20s without mint, one in two behind
    /// an ERC-1967 proxy; any decimals (WETH9's are 18); actors funded by storage).
    #[serde(default, skip_serializing_if = "TokenBytecode::is_mintable")]
    pub tokens: TokenBytecode,
    /// How the devnet's oracle is wired and moved (`protocol::oracles::OracleMechanism`):
    /// `"settable"` (default: liqsim's settable feed is each reserve's source),
    /// `"chainlink-proxy"`, `"source-swap"`, `"fallback"`, `"push"` or `"adapter"`.
    #[serde(default, skip_serializing_if = "OracleMechanism::is_settable")]
    pub oracle: OracleMechanism,
}

fn default_market_id() -> String {
    "liqsim devnet".into()
}
fn default_chain_id() -> u64 {
    31337
}
fn default_native() -> String {
    "WETH".into()
}
fn default_premium() -> u16 {
    9
}

/// Largest decimals the configuration accepts.
pub const MAX_DECIMALS: u8 = 36;

impl MarketConfig {
    /// Checks every field; the error names the first invalid one.
    pub fn validate(&self) -> Result<()> {
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
            // Aave V3's devnet makes `WETH` (not the native asset) WETH9.
            check_decimals(self.tokens, i, &a.symbol, "WETH", a.decimals)?;
            if a.decimals > MAX_DECIMALS {
                return Err(Error::config(
                    f("decimals"),
                    a.decimals,
                    format!("at most {MAX_DECIMALS}"),
                ));
            }
            let price = self.price(i)?;
            if price.is_zero() {
                return Err(Error::config(
                    f("price_usd"),
                    &a.price_usd.0,
                    "a price above 0",
                ));
            }
            if self.oracle == OracleMechanism::Push && price > U256::from(i64::MAX as u64) {
                return Err(Error::config(
                    f("price_usd"),
                    &a.price_usd.0,
                    "a price below 9.2e10 with oracle = \"push\" (the push oracle stores int64 prices with 8 decimals)",
                ));
            }
            if a.liquidation_threshold_bps < a.ltv_bps {
                return Err(Error::config(
                    f("liquidation_threshold_bps"),
                    a.liquidation_threshold_bps,
                    format!("at least ltv_bps ({})", a.ltv_bps),
                ));
            }
            if a.liquidation_threshold_bps > 10_000 {
                return Err(Error::config(
                    f("liquidation_threshold_bps"),
                    a.liquidation_threshold_bps,
                    "at most 10000",
                ));
            }
            if a.liquidation_threshold_bps != 0 {
                if a.liquidation_bonus_bps <= 10_000 {
                    return Err(Error::config(
                        f("liquidation_bonus_bps"),
                        a.liquidation_bonus_bps,
                        "above 10000 (100%): the bonus is on top of the repaid value",
                    ));
                }
                // Aave's configurator: threshold × bonus ≤ 100% (percentMul rounding).
                let product = (a.liquidation_threshold_bps as u64 * a.liquidation_bonus_bps as u64
                    + 5_000)
                    / 10_000;
                if product > 10_000 {
                    return Err(Error::config(
                        f("liquidation_bonus_bps"),
                        a.liquidation_bonus_bps,
                        format!(
                            "liquidation_threshold_bps × liquidation_bonus_bps ≤ 100% (got {:.2}%)",
                            product as f64 / 100.0
                        ),
                    ));
                }
            }
            if a.liquidation_protocol_fee_bps > 10_000 {
                return Err(Error::config(
                    f("liquidation_protocol_fee_bps"),
                    a.liquidation_protocol_fee_bps,
                    "at most 10000",
                ));
            }
            if a.reserve_factor_bps > 10_000 {
                return Err(Error::config(
                    f("reserve_factor_bps"),
                    a.reserve_factor_bps,
                    "at most 10000",
                ));
            }
            for (name, value) in [
                ("rates.optimal_usage_ratio", &a.rates.optimal_usage_ratio),
                (
                    "rates.base_variable_borrow_rate",
                    &a.rates.base_variable_borrow_rate,
                ),
                ("rates.variable_rate_slope1", &a.rates.variable_rate_slope1),
                ("rates.variable_rate_slope2", &a.rates.variable_rate_slope2),
            ] {
                value
                    .to_units(27)
                    .map_err(|e| Error::config(f(name), &value.0, e))?;
            }
        }
        self.asset_index(&self.native_asset).map_err(|_| {
            Error::config(
                "native_asset",
                &self.native_asset,
                format!("one of the listed symbols ({})", self.symbols().join(", ")),
            )
        })?;
        if self.flash_loan_premium_bps > 10_000 {
            return Err(Error::config(
                "flash_loan_premium_bps",
                self.flash_loan_premium_bps,
                "at most 10000",
            ));
        }
        Ok(())
    }

    /// Parses and validates a TOML market description.
    pub fn from_toml(text: &str) -> Result<Self> {
        let config: Self =
            toml::from_str(text).map_err(|e| Error::config("market", "", e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// The listed symbols in reserve order.
    pub fn symbols(&self) -> Vec<String> {
        self.assets.iter().map(|a| a.symbol.clone()).collect()
    }

    /// Position of `symbol` in the reserve list.
    pub fn asset_index(&self, symbol: &str) -> Result<usize> {
        self.assets
            .iter()
            .position(|a| a.symbol == symbol)
            .ok_or_else(|| Error::Unknown {
                kind: "asset",
                name: symbol.to_string(),
                known: self.symbols().join(", "),
            })
    }

    /// Initial price of asset `i` with 8 decimals.
    pub fn price(&self, i: usize) -> Result<U256> {
        let a = &self.assets[i];
        a.price_usd
            .to_units(crate::protocol::price_feed::FEED_DECIMALS)
            .map_err(|e| Error::config(format!("assets[{i}].price_usd"), &a.price_usd.0, e))
    }

    /// A four-asset market used by tests and the default scenario: WETH, WBTC, USDC, DAI.
    pub fn default_devnet() -> Self {
        let asset = |symbol: &str, decimals, price: &str, ltv, lt, bonus, fee| AssetConfig {
            symbol: symbol.into(),
            decimals,
            price_usd: DecimalText(price.into()),
            ltv_bps: ltv,
            liquidation_threshold_bps: lt,
            liquidation_bonus_bps: bonus,
            liquidation_protocol_fee_bps: fee,
            reserve_factor_bps: 1000,
            borrowing_enabled: true,
            rates: RateStrategyConfig::default(),
        };
        Self {
            market_id: default_market_id(),
            chain_id: default_chain_id(),
            native_asset: "WETH".into(),
            flash_loan_premium_bps: 9,
            flash_loans_enabled: false,
            assets: vec![
                asset("WETH", 18, "3400", 8000, 8250, 10500, 1000),
                asset("WBTC", 8, "56000", 7000, 7500, 10650, 1000),
                asset("USDC", 6, "1", 7700, 8000, 10450, 1000),
                asset("DAI", 18, "1", 6300, 7700, 10500, 0),
            ],
            tokens: TokenBytecode::Mintable,
            oracle: OracleMechanism::Settable,
        }
    }
}

impl crate::protocol::spec::MarketDescription for MarketConfig {
    fn from_toml(mut value: toml::Value) -> std::result::Result<Self, toml::de::Error> {
        // The default protocol: its description has no `protocol` key of its own.
        if let Some(table) = value.as_table_mut() {
            table.remove("protocol");
        }
        value.try_into()
    }
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
        self.native_asset.clone()
    }
    fn usd_price(&self, i: usize) -> Result<U256> {
        self.price(i)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expect_field(config: MarketConfig, field: &str) {
        match config.validate() {
            Err(Error::InvalidConfig { field: f, .. }) => assert_eq!(f, field),
            other => panic!("expected an error on {field}, got {other:?}"),
        }
    }

    #[test]
    fn default_market_is_valid() {
        MarketConfig::default_devnet().validate().unwrap();
    }

    #[test]
    fn rejects_bad_fields_by_name() {
        let mut c = MarketConfig::default_devnet();
        c.assets[1].liquidation_threshold_bps = 6000;
        expect_field(c, "assets[1].liquidation_threshold_bps");
        let mut c = MarketConfig::default_devnet();
        c.assets[0].liquidation_bonus_bps = 10000;
        expect_field(c, "assets[0].liquidation_bonus_bps");
        let mut c = MarketConfig::default_devnet();
        c.assets[2].decimals = 37;
        expect_field(c, "assets[2].decimals");
        let mut c = MarketConfig::default_devnet();
        c.assets[3].price_usd = DecimalText("0".into());
        expect_field(c, "assets[3].price_usd");
        let mut c = MarketConfig::default_devnet();
        c.native_asset = "ETH".into();
        expect_field(c, "native_asset");
        let mut c = MarketConfig::default_devnet();
        c.assets[0].liquidation_threshold_bps = 9800;
        c.assets[0].liquidation_bonus_bps = 10500;
        expect_field(c, "assets[0].liquidation_bonus_bps");
    }

    #[test]
    fn toml_round_trip() {
        let text = toml::to_string(&MarketConfig::default_devnet()).unwrap();
        assert_eq!(
            MarketConfig::from_toml(&text).unwrap(),
            MarketConfig::default_devnet()
        );
    }
}
