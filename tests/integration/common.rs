//! Shared fixtures: the real Aave V3 artifacts (fetched once per process), a deployed market, the
//! small window as anvil can mine it, fresh temporary folders, and whether npm is there.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use liqsim::data::records::Window;
use liqsim::protocol::aave_v3::config::MarketConfig;
use liqsim::protocol::aave_v3::differential::{prepare_market, PreparedMarket};
use liqsim::protocol::artifacts::ArtifactStore;
use liqsim::protocol::ProtocolKind;
use liqsim::scenario::LoadedScenario;
use liqsim::source::devnet::build_window;

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

/// True when `npm` runs (the anvil, address-book and artifact tests fetch their packages with it).
pub(crate) fn npm_available() -> bool {
    std::process::Command::new("npm")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A fresh (emptied) temporary folder `liqsim-<scope>-<pid>-<name>`; `scope` keeps the modules'
/// folders apart, since their tests run in parallel in one process.
pub(crate) fn temp_dir(scope: &str, name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("liqsim-{scope}-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// The small window (`tests/fixtures/small-crash.toml`), starting at block 2: anvil's genesis is
/// 0 and block 1 holds the loaded pre-state.
pub(crate) fn small_window_from_block_2() -> (LoadedScenario, Window) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/small-crash.toml");
    let mut loaded = LoadedScenario::from_file(&path).unwrap();
    loaded.scenario.window.first_block = 2;
    let window = build_window(&loaded, aave_v3_artifacts(), None)
        .unwrap()
        .window;
    (loaded, window)
}
