//! The analysis notebook, executed headless (nbconvert) on the default scenario's outputs, with its
//! pinned Python dependencies installed into a virtual environment in the git-ignored cache.

use std::path::Path;
use std::process::Command;

use liqsim::app::run::{ensure_dataset, run_strategies};
use liqsim::output::write_outputs;
use liqsim::protocol::artifacts::{ArtifactStore, AAVE_V3_CORE};
use liqsim::scenario::LoadedScenario;

#[test]
fn the_notebook_runs_on_the_default_scenarios_outputs() {
    let Some(python) = crate::common::python() else {
        eprintln!("SKIPPED: no python3 on this machine; the notebook needs it");
        return;
    };
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR")).join("notebook");
    let _ = std::fs::remove_dir_all(&tmp);
    let loaded = LoadedScenario::default_scenario().unwrap();
    let artifacts = ArtifactStore::open(&AAVE_V3_CORE, None).unwrap();
    let dataset = ensure_dataset(&loaded, &artifacts, &tmp.join("datasets")).unwrap();
    let window = liqsim::data::dataset::read_dataset(&dataset).unwrap();
    let run = run_strategies(
        &window,
        &loaded.instances,
        &loaded.scenario.dex,
        true,
        false,
    )
    .unwrap();
    let out = tmp.join("out").join(&loaded.scenario.name);
    write_outputs(&out, &run, &loaded.instances, &loaded.source).unwrap();

    let repo = Path::new(env!("CARGO_MANIFEST_DIR"));
    let venv_python = crate::common::pinned_venv(
        &python,
        "notebook-venv",
        &repo.join("notebooks/requirements.txt"),
    )
    .unwrap_or_else(|e| panic!("installing notebooks/requirements.txt: {e:?}"));
    let output = Command::new(&venv_python)
        .args([
            "-m",
            "nbconvert",
            "--to",
            "notebook",
            "--execute",
            "--ExecutePreprocessor.timeout=300",
            "--output-dir",
        ])
        .arg(tmp.join("executed"))
        .arg(repo.join("notebooks/analysis.ipynb"))
        .env("LIQSIM_OUT", &out)
        .env("LIQSIM_NOTEBOOK_FIGURES", tmp.join("figures"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "the notebook failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for figure in ["tuning_curve.png", "missed_breakdown.png"] {
        let size = std::fs::metadata(tmp.join("figures").join(figure))
            .map(|m| m.len())
            .unwrap_or(0);
        assert!(size > 10_000, "{figure}: {size} bytes");
    }
}
