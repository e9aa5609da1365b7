//! Shared fixtures: the real Aave V3 artifacts (fetched once per process) and a deployed market.

use std::sync::OnceLock;

use liqsim::protocol::aave_v3::config::MarketConfig;
use liqsim::protocol::aave_v3::differential::{prepare_market, PreparedMarket};
use liqsim::protocol::artifacts::ArtifactStore;
use liqsim::protocol::ProtocolKind;

/// The published artifacts of `kind`'s npm package, fetched with npm into the cache on first use
/// (once per process).
pub(crate) fn artifacts(kind: ProtocolKind) -> &'static ArtifactStore {
    static STORES: [OnceLock<ArtifactStore>; 3] =
        [OnceLock::new(), OnceLock::new(), OnceLock::new()];
    let slot = ProtocolKind::ALL
        .iter()
        .position(|k| *k == kind)
        .expect("a registered protocol");
    STORES[slot].get_or_init(|| match ArtifactStore::open(kind.package(), None) {
        Ok(store) => store,
        Err(e) => panic!(
            "{} artifacts are needed for these tests: {e}",
            kind.as_str()
        ),
    })
}

/// The published `@aave/core-v3` artifacts.
pub(crate) fn aave_v3_artifacts() -> &'static ArtifactStore {
    artifacts(ProtocolKind::AaveV3)
}

/// The default four-asset devnet market, deployed and seeded with liquidity.
pub(crate) fn default_market() -> &'static PreparedMarket {
    static MARKET: OnceLock<PreparedMarket> = OnceLock::new();
    MARKET.get_or_init(|| {
        prepare_market(aave_v3_artifacts(), &MarketConfig::default_devnet())
            .unwrap_or_else(|e| panic!("deploying the default market: {e}"))
    })
}
