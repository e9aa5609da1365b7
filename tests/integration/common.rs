//! Shared fixtures: the real Aave V3 artifacts (fetched once per process) and a deployed market.

use std::sync::OnceLock;

use liqsim::protocol::aave_v3::config::MarketConfig;
use liqsim::protocol::aave_v3::differential::{prepare_market, PreparedMarket};
use liqsim::protocol::artifacts::{ArtifactStore, AAVE_V3_CORE};

/// The published `@aave/core-v3` artifacts, fetched with npm into the cache on first use.
pub(crate) fn aave_v3_artifacts() -> &'static ArtifactStore {
    static STORE: OnceLock<ArtifactStore> = OnceLock::new();
    STORE.get_or_init(|| match ArtifactStore::open(&AAVE_V3_CORE, None) {
        Ok(store) => store,
        Err(e) => panic!("Aave V3 artifacts are needed for these tests: {e}"),
    })
}

/// The default four-asset devnet market, deployed and seeded with liquidity.
pub(crate) fn default_market() -> &'static PreparedMarket {
    static MARKET: OnceLock<PreparedMarket> = OnceLock::new();
    MARKET.get_or_init(|| {
        prepare_market(aave_v3_artifacts(), &MarketConfig::default_devnet())
            .unwrap_or_else(|e| panic!("deploying the default market: {e}"))
    })
}
