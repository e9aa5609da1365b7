//! Market description for an Aave V2 deployment: assets, decimals, ETH prices and risk parameters as data.

use alloy_primitives::U256;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::math::fixed::percent_mul;
use crate::protocol::oracles::OracleMechanism;
use crate::protocol::tokens::{check_decimals, TokenBytecode};
use crate::units::DecimalText;

/// The `protocol` value this module deploys.
pub const PROTOCOL_KIND: &str = "aave-v2";

/// Largest decimals the configuration accepts.
pub const MAX_DECIMALS: u8 = 36;

/// One reserve.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AssetConfig {
    /// Token symbol, unique within the market.
    pub symbol: String,
    /// Token decimals (0..=36).
    pub decimals: u8,
    /// Price of one whole token in ETH (the oracle answers in wei), e.g. `"0.0005"`.
    pub price_eth: DecimalText,
    /// Loan-to-value in basis points (≤ liquidation threshold).
    pub ltv_bps: u16,
    /// Liquidation threshold in basis points, below 10000 (0 = not collateral).
    pub liquidation_threshold_bps: u16,
    /// Liquidation bonus in basis points, above 10000, with threshold × bonus ≤ 100% (0 when the
    /// threshold is 0).
    pub liquidation_bonus_bps: u16,
    /// Reserve factor in basis points.
    #[serde(default = "default_reserve_factor")]
    pub reserve_factor_bps: u16,
}

fn default_reserve_factor() -> u16 {
    1000
}

/// A whole Aave V2 market (a fork such as Hadouken is a different value of this).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MarketConfig {
    /// Protocol kind; must be `aave-v2`.
    #[serde(default = "default_kind")]
    pub protocol: String,
    /// Market id given to the addresses provider.
    #[serde(default = "default_market_id")]
    pub market_id: String,
    /// Chain id.
    #[serde(default = "default_chain_id")]
    pub chain_id: u64,
    /// Symbol of the asset whose price prices gas (default: the first asset).
    #[serde(default)]
    pub native_asset: Option<String>,
    /// USD per ETH given to the oracle's `setEthUsdPrice` (8 decimals there): what liqsim values
    /// ETH-denominated amounts in USD with.
    #[serde(default = "default_eth_usd")]
    pub eth_usd: DecimalText,
    /// Reserves, in listing order.
    pub assets: Vec<AssetConfig>,
    /// Token bytecode the devnet deploys: `"mintable"` (default: the package's `MintableERC20`)
    /// or `"real"` (WETH9 for `WETH` and the native asset, OpenZeppelin ERC-20s without mint, one
    /// in two behind an ERC-1967 proxy; any decimals (WETH9's are 18); every actor is
    /// funded by storage).
    #[serde(default, skip_serializing_if = "TokenBytecode::is_mintable")]
    pub tokens: TokenBytecode,
    /// How the devnet's oracle is wired and moved (`protocol::oracles::OracleMechanism`):
    /// `"settable"` (default: the package's mock `PriceOracle` is the market's oracle) or, behind
    /// Aave V2's own `AaveOracle` (ETH prices, 18 decimals, the native asset as its WETH, the mock
    /// as its fallback oracle and ETH/USD source), `"chainlink-proxy"`, `"source-swap"`,
    /// `"fallback"`, `"push"` or `"adapter"`.
    #[serde(default, skip_serializing_if = "OracleMechanism::is_settable")]
    pub oracle: OracleMechanism,
}

fn default_eth_usd() -> DecimalText {
    DecimalText("2000".into())
}

fn default_kind() -> String {
    PROTOCOL_KIND.into()
}
fn default_market_id() -> String {
    "liqsim aave-v2 devnet".into()
}
fn default_chain_id() -> u64 {
    31337
}

impl MarketConfig {
    /// Checks every field; the error names the first invalid one.
    pub fn validate(&self) -> Result<()> {
        if self.protocol != PROTOCOL_KIND {
            return Err(Error::config(
                "protocol",
                &self.protocol,
                "`aave-v2` (one protocol kind per market config)",
            ));
        }
        if self.assets.is_empty() {
            return Err(Error::config("assets", "[]", "at least one asset"));
        }
        if self.eth_usd_price()?.is_zero() {
            return Err(Error::config("eth_usd", &self.eth_usd.0, "above 0"));
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
                return Err(Error::config(f("price_eth"), &a.price_eth.0, "above 0"));
            }
            if a.liquidation_threshold_bps >= 10_000 {
                return Err(Error::config(
                    f("liquidation_threshold_bps"),
                    a.liquidation_threshold_bps,
                    "below 10000 (a collateral factor of 100% or more lets debt exceed collateral)",
                ));
            }
            if a.ltv_bps > a.liquidation_threshold_bps {
                return Err(Error::config(
                    f("ltv_bps"),
                    a.ltv_bps,
                    format!(
                        "at most liquidation_threshold_bps ({})",
                        a.liquidation_threshold_bps
                    ),
                ));
            }
            if a.liquidation_threshold_bps == 0 {
                if a.liquidation_bonus_bps != 0 {
                    return Err(Error::config(
                        f("liquidation_bonus_bps"),
                        a.liquidation_bonus_bps,
                        "0 when the asset is not collateral",
                    ));
                }
            } else {
                if a.liquidation_bonus_bps <= 10_000 {
                    return Err(Error::config(
                        f("liquidation_bonus_bps"),
                        a.liquidation_bonus_bps,
                        "above 10000 (an incentive of 100% or less pays the liquidator no more than it repays)",
                    ));
                }
                let product = percent_mul(
                    U256::from(a.liquidation_threshold_bps),
                    U256::from(a.liquidation_bonus_bps),
                )?;
                if product > U256::from(10_000u16) {
                    return Err(Error::config(
                        f("liquidation_bonus_bps"),
                        a.liquidation_bonus_bps,
                        format!(
                            "liquidation_threshold_bps × bonus at most 100% (threshold {})",
                            a.liquidation_threshold_bps
                        ),
                    ));
                }
            }
            if a.reserve_factor_bps > 10_000 {
                return Err(Error::config(
                    f("reserve_factor_bps"),
                    a.reserve_factor_bps,
                    "at most 10000",
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
        if !self.oracle.is_settable() {
            let native = self.native_symbol();
            if let Some(i) = self.assets.iter().position(|a| a.symbol == native) {
                if self.price(i)? != U256::from(10u64).pow(U256::from(18u64)) {
                    return Err(Error::config(
                        format!("assets[{i}].price_eth"),
                        &self.assets[i].price_eth.0,
                        format!(
                            "\"1\" with oracle = \"{}\" (AaveOracle prices its WETH, the native asset {native}, at 1 ether)",
                            self.oracle.as_str()
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Oracle price of asset `i` in wei per whole token.
    pub fn price(&self, i: usize) -> Result<U256> {
        let a = self.assets.get(i).ok_or_else(|| Error::Unknown {
            kind: "asset index",
            name: i.to_string(),
            known: format!("0..{}", self.assets.len()),
        })?;
        a.price_eth
            .to_units(18)
            .map_err(|e| Error::config(format!("assets[{i}].price_eth"), &a.price_eth.0, e))
    }

    /// The native (gas) asset's symbol.
    pub fn native_symbol(&self) -> String {
        self.native_asset
            .clone()
            .or_else(|| self.assets.first().map(|a| a.symbol.clone()))
            .unwrap_or_default()
    }

    /// USD per ETH, 8 decimals.
    pub fn eth_usd_price(&self) -> Result<U256> {
        self.eth_usd
            .to_units(8)
            .map_err(|e| Error::config("eth_usd", &self.eth_usd.0, e))
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

    /// A four-reserve market priced in ETH: WETH, WBTC, USDC, DAI (Aave V2 mainnet-like parameters).
    pub fn default_devnet() -> Self {
        let asset = |symbol: &str, decimals, price: &str, ltv, lt, bonus| AssetConfig {
            symbol: symbol.into(),
            decimals,
            price_eth: DecimalText(price.into()),
            ltv_bps: ltv,
            liquidation_threshold_bps: lt,
            liquidation_bonus_bps: bonus,
            reserve_factor_bps: 1000,
        };
        Self {
            protocol: default_kind(),
            market_id: default_market_id(),
            chain_id: default_chain_id(),
            native_asset: Some("WETH".into()),
            eth_usd: default_eth_usd(),
            assets: vec![
                asset("WETH", 18, "1", 8000, 8250, 10_500),
                asset("WBTC", 8, "15", 7000, 7500, 10_650),
                asset("USDC", 6, "0.0005", 8000, 8500, 10_500),
                asset("DAI", 18, "0.0005", 7500, 8000, 10_500),
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
        Ok(self.price(i)? * self.eth_usd_price()? / U256::from(10u64).pow(U256::from(18u64)))
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
        rejects(|c| c.protocol = "compound".into(), "protocol");
        rejects(
            |c| c.assets[0].liquidation_threshold_bps = 10_000,
            "assets[0].liquidation_threshold_bps",
        );
        rejects(
            |c| c.assets[1].liquidation_bonus_bps = 9_900,
            "assets[1].liquidation_bonus_bps",
        );
        rejects(
            |c| c.assets[1].liquidation_bonus_bps = 14_000,
            "assets[1].liquidation_bonus_bps",
        );
        rejects(|c| c.assets[2].ltv_bps = 9_000, "assets[2].ltv_bps");
        rejects(
            |c| c.assets[3].price_eth = DecimalText("0".into()),
            "assets[3].price_eth",
        );
        // Real tokens of any decimals, but WETH becomes WETH9 (18 decimals).
        let mut real = MarketConfig::default_devnet();
        real.tokens = TokenBytecode::Real;
        assert!(real.validate().is_ok());
        rejects(
            |c| {
                c.tokens = TokenBytecode::Real;
                c.assets[0].decimals = 6;
            },
            "assets[0].decimals",
        );
        rejects(
            |c| {
                c.oracle = OracleMechanism::Push;
                c.assets[0].price_eth = DecimalText("1.5".into());
            },
            "assets[0].price_eth",
        );
    }
}
