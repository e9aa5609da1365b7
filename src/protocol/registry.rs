//! The protocol registry: the one list of lending protocols liqsim runs (the `protocols!` line at
//! the bottom). The kind enum, its names (scenarios, manifests, the CLI), its capability flags,
//! and the dispatch enums over markets, books and scenario descriptions are generated from that
//! list; a new protocol is its folder (implementing [`Protocol`]) plus one line there.

use std::collections::{BTreeMap, BTreeSet};

use alloy_primitives::{Address, Log, B256, U256};
use revm::database_interface::DBErrorMarker;
use revm::DatabaseRef;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::evm::executor::Evm;
use crate::evm::replayed::ReplayedTx;
use crate::protocol::artifacts::{ArtifactStore, NpmPackage};
use crate::protocol::devnet::{DevnetMarket, DevnetState};
use crate::protocol::market::{
    BookUpdates, Call, LendingMarket, LiquidationEvent, LiquidationRequest, MarketState, Position,
    PositionBook, ProtocolHealth,
};
use crate::protocol::spec::{Capabilities, MarketDescription, Protocol, Verification};

macro_rules! protocols {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal => $spec:ty; )+) => {
        /// The lending systems liqsim runs (one per registry line).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum ProtocolKind {
            $( $(#[$doc])* #[serde(rename = $name)] $variant, )+
        }

        impl ProtocolKind {
            /// Every protocol, in registry order.
            pub const ALL: &'static [ProtocolKind] = &[$(ProtocolKind::$variant),+];

            /// The name used in scenarios, manifests and on the command line.
            pub fn as_str(&self) -> &'static str {
                match self { $(ProtocolKind::$variant => $name,)+ }
            }

            /// Every name, comma-separated (for errors and help).
            pub fn names() -> String {
                [$($name),+].join(", ")
            }

            /// The protocol called `name`, or an error listing the known ones.
            pub fn parse(name: &str) -> Result<Self> {
                match name {
                    $($name => Ok(ProtocolKind::$variant),)+
                    other => Err(Error::Unknown {
                        kind: "protocol",
                        name: other.to_string(),
                        known: Self::names(),
                    }),
                }
            }

            /// What it offers beyond liquidation.
            pub fn capabilities(&self) -> Capabilities {
                match self { $(ProtocolKind::$variant => <$spec as Protocol>::CAPABILITIES,)+ }
            }

            /// The npm package it is deployed from.
            pub fn package(&self) -> &'static NpmPackage {
                match self { $(ProtocolKind::$variant => <$spec as Protocol>::PACKAGE,)+ }
            }

            /// The devnet actor that owns its oracle.
            pub fn oracle_keeper(&self) -> &'static str {
                match self { $(ProtocolKind::$variant => <$spec as Protocol>::ORACLE_KEEPER,)+ }
            }

            /// Runs its differential proof (`liqsim verify`).
            pub fn verify(
                &self,
                artifacts: &ArtifactStore,
                seed: u64,
                cases: u64,
                markets: usize,
                only_position: Option<u64>,
            ) -> Result<Verification> {
                match self {
                    $(ProtocolKind::$variant =>
                        <$spec as Protocol>::verify(artifacts, seed, cases, markets, only_position),)+
                }
            }
        }

        impl std::str::FromStr for ProtocolKind {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self> {
                Self::parse(s)
            }
        }

        /// A deployed market of any protocol (serialized as the inner market, untagged: the
        /// manifest's `protocol.kind` names the kind).
        #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
        #[serde(untagged)]
        pub enum AnyMarket {
            $( $(#[$doc])* $variant(<$spec as Protocol>::Market), )+
        }

        /// The borrower book of any protocol.
        #[derive(Debug, Clone)]
        pub enum AnyBook {
            $( $(#[$doc])* $variant(<$spec as Protocol>::Book), )+
        }

        /// A scenario's `[market]`: the description of any protocol, chosen by its `protocol` key
        /// (the first registered protocol when absent). Fields of another protocol's description
        /// are rejected by name.
        #[derive(Debug, Clone, PartialEq, Eq, Serialize)]
        #[serde(untagged)]
        pub enum AnyMarketConfig {
            $( $(#[$doc])* $variant(<$spec as Protocol>::Config), )+
        }

        impl AnyMarket {
            /// Reads a market description of `kind` from JSON (a manifest's
            /// `protocol.details.market`).
            pub fn from_json(kind: &str, value: serde_json::Value) -> Result<Self> {
                let decode = |e: serde_json::Error| Error::Decode {
                    what: format!("manifest protocol.details.market ({kind})"),
                    message: e.to_string(),
                };
                Ok(match ProtocolKind::parse(kind)? {
                    $(ProtocolKind::$variant =>
                        AnyMarket::$variant(serde_json::from_value(value).map_err(decode)?),)+
                })
            }

            /// A book over this market, seeded with `users` (read from `evm`'s state).
            pub fn book<DB>(&self, evm: &mut Evm<DB>, users: &[Address]) -> Result<AnyBook>
            where
                DB: DatabaseRef,
                DB::Error: DBErrorMarker + std::fmt::Display,
            {
                Ok(match self {
                    $(AnyMarket::$variant(m) => AnyBook::$variant(<$spec as Protocol>::book(m, evm, users)?),)+
                })
            }
        }

        impl AnyMarket {
            /// Which protocol.
            pub fn kind(&self) -> ProtocolKind {
                match self { $(AnyMarket::$variant(_) => ProtocolKind::$variant,)+ }
            }
        }

        impl LendingMarket for AnyMarket {
            fn symbols(&self) -> Vec<String> {
                match self { $(AnyMarket::$variant(m) => LendingMarket::symbols(m),)+ }
            }
            fn decimals(&self) -> Vec<u8> {
                match self { $(AnyMarket::$variant(m) => LendingMarket::decimals(m),)+ }
            }
            fn asset_addresses(&self) -> Vec<Address> {
                match self { $(AnyMarket::$variant(m) => LendingMarket::asset_addresses(m),)+ }
            }
            fn native_asset(&self) -> Result<usize> {
                match self { $(AnyMarket::$variant(m) => LendingMarket::native_asset(m),)+ }
            }
            fn flash_loan_premium_bps(&self) -> Option<u16> {
                match self { $(AnyMarket::$variant(m) => LendingMarket::flash_loan_premium_bps(m),)+ }
            }
            fn addresses(&self) -> BTreeMap<String, Address> {
                match self { $(AnyMarket::$variant(m) => LendingMarket::addresses(m),)+ }
            }
            fn price_oracle(&self) -> Option<(Address, bool)> {
                match self { $(AnyMarket::$variant(m) => LendingMarket::price_oracle(m),)+ }
            }
            fn liquidation_log(
                &self,
                address: Address,
                topics: &[B256],
                data: &[u8],
            ) -> Option<(Address, Address)> {
                match self { $(AnyMarket::$variant(m) => LendingMarket::liquidation_log(m, address, topics, data),)+ }
            }
            fn log_users(&self, address: Address, topics: &[B256]) -> Vec<Address> {
                match self { $(AnyMarket::$variant(m) => LendingMarket::log_users(m, address, topics),)+ }
            }
            fn liquidation_tx(
                &self,
                position: &dyn Position,
                user: Address,
                request: &LiquidationRequest,
            ) -> Result<Call> {
                match self {
                    $(AnyMarket::$variant(m) => LendingMarket::liquidation_tx(m, position, user, request),)+
                }
            }
            fn explain_revert(&self, output: &[u8]) -> String {
                match self { $(AnyMarket::$variant(m) => LendingMarket::explain_revert(m, output),)+ }
            }
        }

        impl DevnetMarket for AnyMarket {
            fn supply_call(&self, user: Address, i: usize, amount: U256) -> Result<Call> {
                match self { $(AnyMarket::$variant(m) => DevnetMarket::supply_call(m, user, i, amount),)+ }
            }
            fn borrow_call(&self, user: Address, i: usize, amount: U256) -> Result<Call> {
                match self { $(AnyMarket::$variant(m) => DevnetMarket::borrow_call(m, user, i, amount),)+ }
            }
            fn repay_call(&self, user: Address, i: usize, amount: U256) -> Result<Call> {
                match self { $(AnyMarket::$variant(m) => DevnetMarket::repay_call(m, user, i, amount),)+ }
            }
            fn price_calls(&self, i: usize, usd_prices: &[U256]) -> Result<Vec<Call>> {
                match self { $(AnyMarket::$variant(m) => DevnetMarket::price_calls(m, i, usd_prices),)+ }
            }
            fn price_call_gas(&self) -> Option<u64> {
                match self { $(AnyMarket::$variant(m) => DevnetMarket::price_call_gas(m),)+ }
            }
            fn scheduled_oracle_calls(&self, offset: u64) -> Result<Vec<Call>> {
                match self { $(AnyMarket::$variant(m) => DevnetMarket::scheduled_oracle_calls(m, offset),)+ }
            }
        }

        impl<DB> MarketState<DB> for AnyMarket
        where
            DB: DatabaseRef,
            DB::Error: DBErrorMarker + std::fmt::Display,
        {
            fn fund_liquidator(&self, evm: &mut Evm<DB>, d: usize, who: Address) -> Result<()> {
                match self { $(AnyMarket::$variant(m) => MarketState::fund_liquidator(m, evm, d, who),)+ }
            }
            fn protocol_health(&self, evm: &mut Evm<DB>, user: Address) -> Result<ProtocolHealth> {
                match self { $(AnyMarket::$variant(m) => MarketState::protocol_health(m, evm, user),)+ }
            }
            fn liquidations(&self, evm: &mut Evm<DB>, logs: &[Log]) -> Result<Vec<LiquidationEvent>> {
                match self { $(AnyMarket::$variant(m) => MarketState::liquidations(m, evm, logs),)+ }
            }
        }

        impl<DB> DevnetState<DB> for AnyMarket
        where
            DB: DatabaseRef,
            DB::Error: DBErrorMarker + std::fmt::Display,
        {
            fn fund(&self, evm: &mut Evm<DB>, i: usize, who: Address, amount: U256) -> Result<()> {
                match self { $(AnyMarket::$variant(m) => DevnetState::fund(m, evm, i, who, amount),)+ }
            }
            fn supply(&self, evm: &mut Evm<DB>, user: Address, i: usize, amount: U256) -> Result<()> {
                match self { $(AnyMarket::$variant(m) => DevnetState::supply(m, evm, user, i, amount),)+ }
            }
            fn borrow(&self, evm: &mut Evm<DB>, user: Address, i: usize, amount: U256) -> Result<()> {
                match self { $(AnyMarket::$variant(m) => DevnetState::borrow(m, evm, user, i, amount),)+ }
            }
            fn borrow_for_hf(&self, evm: &mut Evm<DB>, user: Address, d: usize, hf: U256) -> Result<U256> {
                match self {
                    $(AnyMarket::$variant(m) => DevnetState::borrow_for_hf(m, evm, user, d, hf),)+
                }
            }
        }

        impl PositionBook for AnyBook {
            fn users(&self) -> Vec<Address> {
                match self { $(AnyBook::$variant(b) => PositionBook::users(b),)+ }
            }
            fn user_count(&self) -> usize {
                match self { $(AnyBook::$variant(b) => PositionBook::user_count(b),)+ }
            }
            fn exposure(&self, user: &Address) -> Option<(u64, u64)> {
                match self { $(AnyBook::$variant(b) => PositionBook::exposure(b, user),)+ }
            }
            fn oracle_prices(&self) -> Vec<U256> {
                match self { $(AnyBook::$variant(b) => PositionBook::oracle_prices(b),)+ }
            }
            fn usd_price(&self, i: usize) -> U256 {
                match self { $(AnyBook::$variant(b) => PositionBook::usd_price(b, i),)+ }
            }
            fn deferred_positions(
                &self,
                users: &[Address],
            ) -> Result<Vec<Option<crate::protocol::market::DeferredPosition>>> {
                match self { $(AnyBook::$variant(b) => PositionBook::deferred_positions(b, users),)+ }
            }
            fn value_factors(&self) -> Vec<(U256, U256)> {
                match self { $(AnyBook::$variant(b) => PositionBook::value_factors(b),)+ }
            }
            fn position(&self, user: &Address) -> Result<Option<Box<dyn Position>>> {
                match self { $(AnyBook::$variant(b) => PositionBook::position(b, user),)+ }
            }
            fn set_timestamp(&mut self, now: u64) -> Result<()> {
                match self { $(AnyBook::$variant(b) => PositionBook::set_timestamp(b, now),)+ }
            }
        }

        impl<DB> BookUpdates<DB> for AnyBook
        where
            DB: DatabaseRef,
            DB::Error: DBErrorMarker + std::fmt::Display,
        {
            fn apply_logs(&mut self, evm: &mut Evm<DB>, logs: &[Log]) -> Result<BTreeSet<Address>> {
                match self { $(AnyBook::$variant(b) => BookUpdates::apply_logs(b, evm, logs),)+ }
            }
            fn moves_prices(&self, tx: &ReplayedTx<'_>) -> bool {
                match self { $(AnyBook::$variant(b) => BookUpdates::<DB>::moves_prices(b, tx),)+ }
            }
            fn apply_price_update(&mut self, evm: &mut Evm<DB>, tx: &ReplayedTx<'_>) -> Result<()> {
                match self { $(AnyBook::$variant(b) => BookUpdates::apply_price_update(b, evm, tx),)+ }
            }
        }

        impl<'de> Deserialize<'de> for AnyMarketConfig {
            fn deserialize<D: serde::Deserializer<'de>>(
                deserializer: D,
            ) -> std::result::Result<Self, D::Error> {
                use serde::de::Error as _;
                let value = toml::Value::deserialize(deserializer)?;
                let kind = value
                    .get("protocol")
                    .map(|v| {
                        v.as_str()
                            .map(str::to_string)
                            .ok_or_else(|| D::Error::custom("`protocol` must be a string"))
                    })
                    .transpose()?
                    .unwrap_or_else(|| ProtocolKind::ALL[0].as_str().to_string());
                let with_kind = |e: toml::de::Error| {
                    D::Error::custom(format!("(protocol = \"{kind}\") {}", e.message()))
                };
                match kind.as_str() {
                    $($name => Ok(AnyMarketConfig::$variant(
                        <<$spec as Protocol>::Config as MarketDescription>::from_toml(value)
                            .map_err(with_kind)?,
                    )),)+
                    other => Err(D::Error::custom(format!(
                        "unknown protocol `{other}`: expected one of {}",
                        ProtocolKind::names()
                    ))),
                }
            }
        }

        impl AnyMarketConfig {
            /// Which protocol.
            pub fn kind(&self) -> ProtocolKind {
                match self { $(AnyMarketConfig::$variant(_) => ProtocolKind::$variant,)+ }
            }

            /// The description's own methods.
            fn description(&self) -> &dyn MarketDescriptionDyn {
                match self { $(AnyMarketConfig::$variant(c) => c,)+ }
            }

            /// Deploys the described market into `evm` from `artifacts` (the store of its
            /// protocol's package).
            pub fn deploy<DB>(&self, evm: &mut Evm<DB>, artifacts: &ArtifactStore) -> Result<AnyMarket>
            where
                DB: DatabaseRef,
                DB::Error: DBErrorMarker + std::fmt::Display,
            {
                Ok(match self {
                    $(AnyMarketConfig::$variant(c) =>
                        AnyMarket::$variant(<$spec as Protocol>::deploy(evm, artifacts, c)?),)+
                })
            }
        }
    };
}

/// The object-safe part of [`MarketDescription`], for dispatch.
trait MarketDescriptionDyn {
    fn validate(&self) -> Result<()>;
    fn symbols(&self) -> Vec<String>;
    fn chain_id(&self) -> u64;
    fn native_symbol(&self) -> String;
    fn usd_price(&self, i: usize) -> Result<U256>;
}

impl<T: MarketDescription> MarketDescriptionDyn for T {
    fn validate(&self) -> Result<()> {
        MarketDescription::validate(self)
    }
    fn symbols(&self) -> Vec<String> {
        MarketDescription::symbols(self)
    }
    fn chain_id(&self) -> u64 {
        MarketDescription::chain_id(self)
    }
    fn native_symbol(&self) -> String {
        MarketDescription::native_symbol(self)
    }
    fn usd_price(&self, i: usize) -> Result<U256> {
        MarketDescription::usd_price(self, i)
    }
}

impl AnyMarketConfig {
    /// Checks every field; the error names the first invalid one.
    pub fn validate(&self) -> Result<()> {
        self.description().validate()
    }

    /// Asset symbols in listing order.
    pub fn symbols(&self) -> Vec<String> {
        self.description().symbols()
    }

    /// Position of `symbol` in the listing.
    pub fn asset_index(&self, symbol: &str) -> Result<usize> {
        crate::protocol::market::symbol_index(&self.symbols(), symbol)
    }

    /// Chain id.
    pub fn chain_id(&self) -> u64 {
        self.description().chain_id()
    }

    /// Symbol of the asset that prices gas.
    pub fn native_symbol(&self) -> String {
        self.description().native_symbol()
    }

    /// Initial USD price (8 decimals) of asset `i`, from the description.
    pub fn usd_price(&self, i: usize) -> Result<U256> {
        self.description().usd_price(i)
    }

    /// The npm package whose published artifacts this market is deployed from.
    pub fn package(&self) -> &'static NpmPackage {
        self.kind().package()
    }
}

protocols! {
    /// Aave V3 (`Pool.liquidationCall`), and its forks (HopeLend, Bend, HypurrFi).
    AaveV3 = "aave-v3" => crate::protocol::aave_v3::AaveV3;
    /// Aave V2 (`LendingPool.liquidationCall`), and its forks (Hadouken).
    AaveV2 = "aave-v2" => crate::protocol::aave_v2::AaveV2;
    /// Compound V2-style (`VToken.liquidateBorrow`), on Venus isolated pools (Pippi).
    Compound = "compound" => crate::protocol::compound::Compound;
}

// Accessors of one protocol: RPC discovery and recording read Aave V3 markets.

impl AnyMarket {
    /// The Aave V3 market, or an error naming what was expected.
    pub fn as_aave_v3(&self) -> Result<&crate::protocol::aave_v3::AaveV3Market> {
        match self {
            AnyMarket::AaveV3(m) => Ok(m),
            other => Err(Error::config(
                "protocol.kind",
                other.kind().as_str(),
                "aave-v3 (RPC recording and discovery read Aave V3 markets)",
            )),
        }
    }
}

impl AnyBook {
    /// The Aave V3 borrower index, when the book is one.
    pub fn as_aave_v3(&self) -> Option<&crate::protocol::aave_v3::book::BorrowerIndex> {
        match self {
            AnyBook::AaveV3(index) => Some(index),
            _ => None,
        }
    }
}
