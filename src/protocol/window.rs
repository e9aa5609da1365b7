//! What a window's manifest says about its market: the protocol specifics (`protocol.details`).

use std::collections::BTreeMap;

use alloy_primitives::Address;

use crate::data::records::Manifest;
use crate::error::{Error, Result};
use crate::protocol::AnyMarket;

/// The protocol specifics a window's manifest carries (`protocol.details`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct WindowDetails {
    /// The market: config and addresses (of the manifest's `protocol.kind`).
    pub market: AnyMarket,
    /// Users holding positions when the window starts.
    pub users_at_start: Vec<Address>,
    /// Historical competitor liquidators by name (devnet windows).
    #[serde(default)]
    pub competitors: BTreeMap<String, Address>,
    /// The liquidator contract each competitor liquidates through, by name (devnet windows with
    /// pools on the chain: the protocol's events name the contract as liquidator).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub competitor_contracts: BTreeMap<String, Address>,
    /// The DEX on the window's chain itself, when it has one (devnet windows with a real
    /// `[dex]`): what-ifs sell through its pools at the state they meet.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain_dex: Option<crate::protocol::dex::ChainDex>,
}

impl WindowDetails {
    /// Reads the details of a manifest (the market as its `protocol.kind` describes it).
    pub fn from_manifest(manifest: &Manifest) -> Result<Self> {
        let decode = |e: serde_json::Error| Error::Decode {
            what: "manifest protocol.details".into(),
            message: e.to_string(),
        };
        let mut details = manifest.protocol.details.clone();
        let market = details
            .as_object_mut()
            .and_then(|o| o.remove("market"))
            .ok_or_else(|| Error::Decode {
                what: "manifest protocol.details".into(),
                message: "no `market`".into(),
            })?;
        #[derive(serde::Deserialize)]
        struct Rest {
            users_at_start: Vec<Address>,
            #[serde(default)]
            competitors: BTreeMap<String, Address>,
            #[serde(default)]
            competitor_contracts: BTreeMap<String, Address>,
            #[serde(default)]
            chain_dex: Option<crate::protocol::dex::ChainDex>,
        }
        let rest: Rest = serde_json::from_value(details).map_err(decode)?;
        Ok(Self {
            market: AnyMarket::from_json(&manifest.protocol.kind, market)?,
            users_at_start: rest.users_at_start,
            competitors: rest.competitors,
            competitor_contracts: rest.competitor_contracts,
            chain_dex: rest.chain_dex,
        })
    }
}
