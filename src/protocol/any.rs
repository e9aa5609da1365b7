//! Dispatch over the supported protocols: a market or a book of any kind, as the replay, the
//! strategies and the devnet builder hold them.

use std::collections::{BTreeMap, BTreeSet};

use alloy_primitives::{Address, Log, B256, U256};
use revm::database_interface::DBErrorMarker;
use revm::DatabaseRef;
use serde::{Deserialize, Serialize};

use crate::engine::borrowers::BorrowerIndex;
use crate::engine::evm::Evm;
use crate::engine::replay::ReplayedTx;
use crate::error::{Error, Result};
use crate::protocol::aave_v2::market::AaveV2Book;
use crate::protocol::aave_v2::AaveV2Market;
use crate::protocol::aave_v3::AaveV3Market;
use crate::protocol::compound::market::CompoundBook;
use crate::protocol::compound::CompoundMarket;
use crate::protocol::market::{
    BookUpdates, Call, LendingMarket, LiquidationEvent, MarketState, Position, PositionBook,
    ProtocolKind,
};

/// A deployed market of any supported protocol (serialized as the inner market, untagged: the
/// manifest's `protocol.kind` names the kind).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum AnyMarket {
    /// Aave V3.
    AaveV3(AaveV3Market),
    /// Aave V2.
    AaveV2(AaveV2Market),
    /// Compound-style (Venus isolated pools).
    Compound(CompoundMarket),
}

/// The book of any supported protocol.
#[derive(Debug, Clone)]
pub enum AnyBook {
    /// Aave V3: the borrower index (storage-layout reads, native interest).
    AaveV3(BorrowerIndex),
    /// Aave V2.
    AaveV2(AaveV2Book),
    /// Compound-style.
    Compound(CompoundBook),
}

macro_rules! each {
    ($value:expr, $inner:ident => $body:expr) => {
        match $value {
            AnyMarket::AaveV3($inner) => $body,
            AnyMarket::AaveV2($inner) => $body,
            AnyMarket::Compound($inner) => $body,
        }
    };
}

macro_rules! each_book {
    ($value:expr, $inner:ident => $body:expr) => {
        match $value {
            AnyBook::AaveV3($inner) => $body,
            AnyBook::AaveV2($inner) => $body,
            AnyBook::Compound($inner) => $body,
        }
    };
}

impl AnyMarket {
    /// Reads a market description of `kind` from JSON (a manifest's `protocol.details.market`).
    pub fn from_json(kind: &str, value: serde_json::Value) -> Result<Self> {
        let decode = |e: serde_json::Error| Error::Decode {
            what: format!("manifest protocol.details.market ({kind})"),
            message: e.to_string(),
        };
        Ok(match kind {
            "aave-v3" => AnyMarket::AaveV3(serde_json::from_value(value).map_err(decode)?),
            "aave-v2" => AnyMarket::AaveV2(serde_json::from_value(value).map_err(decode)?),
            "compound" => AnyMarket::Compound(serde_json::from_value(value).map_err(decode)?),
            other => {
                return Err(Error::Unknown {
                    kind: "protocol",
                    name: other.to_string(),
                    known: "aave-v3, aave-v2, compound".into(),
                })
            }
        })
    }

    /// Decimals of every asset, in market order.
    pub fn decimals(&self) -> Vec<u8> {
        match self {
            AnyMarket::AaveV3(m) => m.reserves.iter().map(|r| r.decimals).collect(),
            AnyMarket::AaveV2(m) => m.reserves.iter().map(|r| r.decimals).collect(),
            AnyMarket::Compound(m) => m.markets.iter().map(|r| r.decimals).collect(),
        }
    }

    /// The Aave V3 market, or an error naming what was expected.
    pub fn as_aave_v3(&self) -> Result<&AaveV3Market> {
        match self {
            AnyMarket::AaveV3(m) => Ok(m),
            other => Err(Error::config(
                "protocol.kind",
                other.kind().as_str(),
                "aave-v3 (RPC recording and discovery read Aave V3 markets)",
            )),
        }
    }

    /// A book over this market, seeded with `users` (read from `evm`'s state).
    pub fn book<DB>(&self, evm: &mut Evm<DB>, users: &[Address]) -> Result<AnyBook>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        Ok(match self {
            AnyMarket::AaveV3(m) => {
                let mut index = BorrowerIndex::new(m, evm)?;
                for user in users {
                    index.refresh_user(evm, *user)?;
                }
                AnyBook::AaveV3(index)
            }
            AnyMarket::AaveV2(m) => AnyBook::AaveV2(AaveV2Book::new(m, evm, users)?),
            AnyMarket::Compound(m) => AnyBook::Compound(CompoundBook::new(m, evm, users)?),
        })
    }
}

impl LendingMarket for AnyMarket {
    fn kind(&self) -> ProtocolKind {
        each!(self, m => LendingMarket::kind(m))
    }
    fn symbols(&self) -> Vec<String> {
        each!(self, m => LendingMarket::symbols(m))
    }
    fn native_asset(&self) -> Result<usize> {
        each!(self, m => LendingMarket::native_asset(m))
    }
    fn flash_loan_premium_bps(&self) -> Option<u16> {
        each!(self, m => LendingMarket::flash_loan_premium_bps(m))
    }
    fn addresses(&self) -> BTreeMap<String, Address> {
        each!(self, m => LendingMarket::addresses(m))
    }
    fn liquidation_log(
        &self,
        address: Address,
        topics: &[B256],
        data: &[u8],
    ) -> Option<(Address, Address)> {
        each!(self, m => LendingMarket::liquidation_log(m, address, topics, data))
    }
    fn log_users(&self, address: Address, topics: &[B256]) -> Vec<Address> {
        each!(self, m => LendingMarket::log_users(m, address, topics))
    }
    fn liquidation_call(
        &self,
        position: &dyn Position,
        user: Address,
        c: usize,
        d: usize,
        debt_to_cover: U256,
        receive_shares: bool,
    ) -> Result<Call> {
        each!(self, m => LendingMarket::liquidation_call(m, position, user, c, d, debt_to_cover, receive_shares))
    }
    fn explain_revert(&self, output: &[u8]) -> String {
        each!(self, m => LendingMarket::explain_revert(m, output))
    }
    fn supply_call(&self, user: Address, i: usize, amount: U256) -> Result<Call> {
        each!(self, m => LendingMarket::supply_call(m, user, i, amount))
    }
    fn borrow_call(&self, user: Address, i: usize, amount: U256) -> Result<Call> {
        each!(self, m => LendingMarket::borrow_call(m, user, i, amount))
    }
    fn repay_call(&self, user: Address, i: usize, amount: U256) -> Result<Call> {
        each!(self, m => LendingMarket::repay_call(m, user, i, amount))
    }
    fn price_calls(&self, i: usize, usd_prices: &[U256]) -> Result<Vec<Call>> {
        each!(self, m => LendingMarket::price_calls(m, i, usd_prices))
    }
}

impl<DB> MarketState<DB> for AnyMarket
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    fn fund(&self, evm: &mut Evm<DB>, i: usize, who: Address, amount: U256) -> Result<()> {
        each!(self, m => MarketState::fund(m, evm, i, who, amount))
    }
    fn fund_liquidator(&self, evm: &mut Evm<DB>, d: usize, who: Address) -> Result<()> {
        each!(self, m => MarketState::fund_liquidator(m, evm, d, who))
    }
    fn supply(&self, evm: &mut Evm<DB>, user: Address, i: usize, amount: U256) -> Result<()> {
        each!(self, m => MarketState::supply(m, evm, user, i, amount))
    }
    fn borrow(&self, evm: &mut Evm<DB>, user: Address, i: usize, amount: U256) -> Result<()> {
        each!(self, m => MarketState::borrow(m, evm, user, i, amount))
    }
    fn borrow_for_health(
        &self,
        evm: &mut Evm<DB>,
        user: Address,
        d: usize,
        target_hf: U256,
    ) -> Result<U256> {
        each!(self, m => MarketState::borrow_for_health(m, evm, user, d, target_hf))
    }
    fn liquidations(&self, evm: &mut Evm<DB>, logs: &[Log]) -> Result<Vec<LiquidationEvent>> {
        each!(self, m => MarketState::liquidations(m, evm, logs))
    }
}

impl PositionBook for AnyBook {
    fn users(&self) -> Vec<Address> {
        each_book!(self, b => PositionBook::users(b))
    }
    fn user_count(&self) -> usize {
        each_book!(self, b => b.user_count())
    }
    fn exposure(&self, user: &Address) -> Option<(u64, u64)> {
        each_book!(self, b => b.exposure(user))
    }
    fn oracle_prices(&self) -> Vec<U256> {
        each_book!(self, b => b.oracle_prices())
    }
    fn usd_price(&self, i: usize) -> U256 {
        each_book!(self, b => b.usd_price(i))
    }
    fn position(&self, user: &Address) -> Result<Option<Box<dyn Position>>> {
        each_book!(self, b => b.position(user))
    }
    fn set_timestamp(&mut self, now: u64) -> Result<()> {
        each_book!(self, b => PositionBook::set_timestamp(b, now))
    }
}

impl<DB> BookUpdates<DB> for AnyBook
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    fn apply_logs(&mut self, evm: &mut Evm<DB>, logs: &[Log]) -> Result<BTreeSet<Address>> {
        each_book!(self, b => BookUpdates::apply_logs(b, evm, logs))
    }
    fn moves_prices(&self, tx: &ReplayedTx<'_>) -> bool {
        each_book!(self, b => BookUpdates::<DB>::moves_prices(b, tx))
    }
    fn apply_price_update(&mut self, evm: &mut Evm<DB>, tx: &ReplayedTx<'_>) -> Result<()> {
        each_book!(self, b => b.apply_price_update(evm, tx))
    }
}

/// A scenario's `[market]`: the market description of any supported protocol, chosen by its
/// `protocol` key (`aave-v3` when absent). Fields of another protocol's description are rejected
/// by name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum AnyMarketConfig {
    /// Aave V3.
    AaveV3(crate::protocol::aave_v3::config::MarketConfig),
    /// Aave V2.
    AaveV2(crate::protocol::aave_v2::config::MarketConfig),
    /// Compound-style.
    Compound(crate::protocol::compound::config::MarketConfig),
}

impl<'de> Deserialize<'de> for AnyMarketConfig {
    fn deserialize<D: serde::Deserializer<'de>>(
        deserializer: D,
    ) -> std::result::Result<Self, D::Error> {
        use serde::de::Error as _;
        let mut value = toml::Value::deserialize(deserializer)?;
        let kind = value
            .get("protocol")
            .map(|v| {
                v.as_str()
                    .map(str::to_string)
                    .ok_or_else(|| D::Error::custom("`protocol` must be a string"))
            })
            .transpose()?
            .unwrap_or_else(|| "aave-v3".to_string());
        let with_kind = |e: toml::de::Error| {
            D::Error::custom(format!("(protocol = \"{kind}\") {}", e.message()))
        };
        match kind.as_str() {
            "aave-v3" => {
                if let Some(table) = value.as_table_mut() {
                    table.remove("protocol");
                }
                Ok(AnyMarketConfig::AaveV3(
                    value.try_into().map_err(with_kind)?,
                ))
            }
            "aave-v2" => Ok(AnyMarketConfig::AaveV2(
                value.try_into().map_err(with_kind)?,
            )),
            "compound" => Ok(AnyMarketConfig::Compound(
                value.try_into().map_err(with_kind)?,
            )),
            other => Err(D::Error::custom(format!(
                "unknown protocol `{other}`: expected one of aave-v3, aave-v2, compound"
            ))),
        }
    }
}

macro_rules! each_config {
    ($value:expr, $inner:ident => $body:expr) => {
        match $value {
            AnyMarketConfig::AaveV3($inner) => $body,
            AnyMarketConfig::AaveV2($inner) => $body,
            AnyMarketConfig::Compound($inner) => $body,
        }
    };
}

impl AnyMarketConfig {
    /// Which protocol.
    pub fn kind(&self) -> ProtocolKind {
        match self {
            AnyMarketConfig::AaveV3(_) => ProtocolKind::AaveV3,
            AnyMarketConfig::AaveV2(_) => ProtocolKind::AaveV2,
            AnyMarketConfig::Compound(_) => ProtocolKind::Compound,
        }
    }

    /// Checks every field; the error names the first invalid one.
    pub fn validate(&self) -> Result<()> {
        each_config!(self, c => c.validate())
    }

    /// Asset symbols in listing order.
    pub fn symbols(&self) -> Vec<String> {
        each_config!(self, c => c.assets.iter().map(|a| a.symbol.clone()).collect())
    }

    /// Position of `symbol` in the listing.
    pub fn asset_index(&self, symbol: &str) -> Result<usize> {
        crate::protocol::market::symbol_index(&self.symbols(), symbol)
    }

    /// Chain id.
    pub fn chain_id(&self) -> u64 {
        each_config!(self, c => c.chain_id)
    }

    /// Symbol of the asset that prices gas.
    pub fn native_symbol(&self) -> String {
        match self {
            AnyMarketConfig::AaveV3(c) => c.native_asset.clone(),
            AnyMarketConfig::AaveV2(c) => c.native_symbol(),
            AnyMarketConfig::Compound(c) => c.native_symbol(),
        }
    }

    /// Initial USD price (8 decimals) of asset `i`, from the description.
    pub fn usd_price(&self, i: usize) -> Result<U256> {
        match self {
            AnyMarketConfig::AaveV3(c) => c.price(i),
            AnyMarketConfig::AaveV2(c) => {
                Ok(c.price(i)? * c.eth_usd_price()? / U256::from(10u64).pow(U256::from(18u64)))
            }
            AnyMarketConfig::Compound(c) => {
                let decimals = c.assets.get(i).map(|a| a.decimals).unwrap_or_default();
                Ok(crate::protocol::compound::market::usd_of_mantissa(
                    c.price(i)?,
                    decimals,
                ))
            }
        }
    }

    /// The npm package whose published artifacts this market is deployed from.
    pub fn package(&self) -> &'static crate::protocol::artifacts::NpmPackage {
        match self {
            AnyMarketConfig::AaveV3(_) => &crate::protocol::artifacts::AAVE_V3_CORE,
            AnyMarketConfig::AaveV2(_) => &crate::protocol::artifacts::AAVE_V2,
            AnyMarketConfig::Compound(_) => &crate::protocol::artifacts::VENUS_ISOLATED_POOLS,
        }
    }

    /// Deploys the described market into `evm` from `artifacts` (the store of [`Self::package`]).
    pub fn deploy<DB>(
        &self,
        evm: &mut Evm<DB>,
        artifacts: &crate::protocol::artifacts::ArtifactStore,
    ) -> Result<AnyMarket>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        Ok(match self {
            AnyMarketConfig::AaveV3(c) => AnyMarket::AaveV3(
                crate::protocol::aave_v3::deploy::deploy_market(evm, artifacts, c)?,
            ),
            AnyMarketConfig::AaveV2(c) => AnyMarket::AaveV2(
                crate::protocol::aave_v2::deploy::deploy_market(evm, artifacts, c)?,
            ),
            AnyMarketConfig::Compound(c) => AnyMarket::Compound(
                crate::protocol::compound::deploy::deploy_market(evm, artifacts, c)?,
            ),
        })
    }
}
