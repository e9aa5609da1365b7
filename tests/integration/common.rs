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

/// The first Python 3 on the PATH (`python3`, else `python`).
pub(crate) fn python() -> Option<String> {
    ["python3", "python"]
        .into_iter()
        .map(String::from)
        .find(|p| {
            std::process::Command::new(p)
                .arg("--version")
                .output()
                .is_ok_and(|o| o.status.success())
        })
}

/// Why [`pinned_venv`] could not make its environment.
#[derive(Debug)]
pub(crate) enum VenvError {
    /// pip could not reach the package index (no network, a proxy refusing): tests skip.
    Unreachable(String),
    /// Anything else: tests fail.
    Failed(String),
}

/// A virtual environment `<cache>/<name>` with the pinned `requirements` installed by pip, made
/// on first use and again when the requirements file changes; returns its Python.
pub(crate) fn pinned_venv(
    python: &str,
    name: &str,
    requirements: &Path,
) -> Result<PathBuf, VenvError> {
    use std::process::Command;
    let pinned = std::fs::read(requirements)
        .map_err(|e| VenvError::Failed(format!("{}: {e}", requirements.display())))?;
    let cache = liqsim::protocol::artifacts::cache_root();
    let cache = if cache.is_absolute() {
        cache
    } else {
        std::env::current_dir()
            .map_err(|e| VenvError::Failed(e.to_string()))?
            .join(cache)
    };
    let venv = cache.join(name);
    let stamp = venv.join("requirements.installed");
    let bin = venv.join("bin/python");
    if std::fs::read(&stamp).ok().as_deref() == Some(&pinned[..]) && bin.is_file() {
        return Ok(bin);
    }
    let _ = std::fs::remove_dir_all(&venv);
    let made = Command::new(python)
        .args(["-m", "venv"])
        .arg(&venv)
        .output()
        .map_err(|e| VenvError::Failed(format!("{python} -m venv: {e}")))?;
    if !made.status.success() {
        return Err(VenvError::Failed(format!(
            "creating {}: {}",
            venv.display(),
            String::from_utf8_lossy(&made.stderr)
        )));
    }
    let installed = Command::new(&bin)
        .args([
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "-r",
        ])
        .arg(requirements)
        .output()
        .map_err(|e| VenvError::Failed(format!("pip: {e}")))?;
    if !installed.status.success() {
        let stderr = String::from_utf8_lossy(&installed.stderr).to_string();
        let offline = [
            "NewConnectionError",
            "ConnectTimeoutError",
            "ProxyError",
            "Network is unreachable",
            "Temporary failure in name resolution",
            "Max retries exceeded",
        ];
        let _ = std::fs::remove_dir_all(&venv);
        return Err(if offline.iter().any(|o| stderr.contains(o)) {
            VenvError::Unreachable(stderr.lines().last().unwrap_or("").to_string())
        } else {
            VenvError::Failed(stderr)
        });
    }
    std::fs::write(&stamp, &pinned).map_err(|e| VenvError::Failed(e.to_string()))?;
    Ok(bin)
}
