//! Studies in shards, through the CLI: `liqsim plan`, `liqsim shard run` and `liqsim merge` on
//! `studies/small-crash-depths.toml` (2 windows × 2 parameter subsets = 4 shards) against
//! `liqsim study` (one process) and against `liqsim run` of the window's scenario, frame for frame;
//! a complete shard rerun is skipped; the merge's errors; the Ray driver on a local cluster; the
//! Kubernetes and Slurm job files.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use polars::prelude::{DataFrame, ParquetReader, SerReader};

use crate::common::{pinned_venv, python, temp_dir, VenvError};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn study_file() -> PathBuf {
    repo().join("studies/small-crash-depths.toml")
}

/// The artifact cache as an absolute path (the CLI runs in temporary folders).
fn cache_dir() -> PathBuf {
    let root = liqsim::protocol::artifacts::cache_root();
    if root.is_absolute() {
        root
    } else {
        std::env::current_dir().unwrap().join(root)
    }
}

fn liqsim(cwd: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_liqsim"))
        .current_dir(cwd)
        .env("CI", "1")
        .env("LIQSIM_CACHE_DIR", cache_dir())
        .args(args)
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn succeeds(cwd: &Path, args: &[&str]) -> String {
    let out = liqsim(cwd, args);
    assert!(
        out.status.success(),
        "liqsim {}: {}",
        args.join(" "),
        text(&out)
    );
    text(&out)
}

fn fails(cwd: &Path, args: &[&str]) -> String {
    let out = liqsim(cwd, args);
    assert!(
        !out.status.success(),
        "liqsim {} should fail: {}",
        args.join(" "),
        text(&out)
    );
    text(&out)
}

/// The study run in one process (`liqsim study`), with the datasets it built: made once, shared
/// by the tests of this module.
fn single_run() -> &'static PathBuf {
    static ROOT: OnceLock<PathBuf> = OnceLock::new();
    ROOT.get_or_init(|| {
        let root = temp_dir("study", "shared");
        std::fs::create_dir_all(&root).unwrap();
        let study = study_file();
        let out = succeeds(
            &root,
            &[
                "study",
                study.to_str().unwrap(),
                "-o",
                "single",
                "-d",
                "datasets",
            ],
        );
        assert!(out.contains("2 windows × 7 parameter sets"), "{out}");
        root
    })
}

fn frame(path: &Path) -> DataFrame {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    ParquetReader::new(std::io::Cursor::new(bytes))
        .finish()
        .unwrap()
}

/// Every file under `dir`, relative to it, sorted.
fn files(dir: &Path) -> Vec<PathBuf> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let path = e.unwrap().path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                out.push(path.strip_prefix(root).unwrap().to_path_buf());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// `merged` holds exactly the files of `single`, every Parquet table with equal frames and every
/// other file byte for byte; returns how many tables were compared.
fn assert_same_outputs(single: &Path, merged: &Path) -> usize {
    let (a, b) = (files(single), files(merged));
    assert_eq!(a, b, "the merged study has other files than the single run");
    let mut tables = 0;
    for f in &a {
        let (x, y) = (single.join(f), merged.join(f));
        if f.extension().is_some_and(|e| e == "parquet") {
            let (fx, fy) = (frame(&x), frame(&y));
            assert!(
                fx.equals_missing(&fy),
                "{} differs:\n{fx}\n{fy}",
                f.display()
            );
            tables += 1;
        }
        assert_eq!(
            std::fs::read(&x).unwrap(),
            std::fs::read(&y).unwrap(),
            "{} differs byte for byte",
            f.display()
        );
    }
    tables
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), target).unwrap();
        }
    }
}

/// Rewrites one string field of a shard's manifest (as a hand edit or another build would).
fn edit_manifest(dir: &Path, key: &str, value: serde_json::Value) {
    let path = dir.join("manifest.json");
    let mut m: serde_json::Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    m[key] = value;
    std::fs::write(&path, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
}

#[test]
fn four_shards_merged_equal_the_single_process_study_and_a_rerun_is_skipped() {
    let root = single_run();
    let study = study_file();
    let study = study.to_str().unwrap();

    // The plan: 2 windows × 2 parameter subsets, deterministic.
    let out = succeeds(root, &["plan", study, "-o", "plan.json"]);
    assert!(
        out.contains("2 windows × 7 parameter sets in 4 shards"),
        "{out}"
    );
    let plan_bytes = std::fs::read(root.join("plan.json")).unwrap();
    succeeds(root, &["plan", study, "-o", "plan-again.json"]);
    assert_eq!(
        plan_bytes,
        std::fs::read(root.join("plan-again.json")).unwrap()
    );
    let plan: serde_json::Value = serde_json::from_slice(&plan_bytes).unwrap();
    let shards = plan["shards"].as_array().unwrap();
    assert_eq!(shards.len(), 4);
    assert_eq!(
        shards[1]["param_sets"],
        serde_json::json!(["P05", "P06", "P07"])
    );
    assert_eq!(shards[2]["window"], "deep-crash");
    let study_id = plan["study_id"].as_str().unwrap().to_string();
    assert_eq!(study_id.len(), 16);

    for i in 0..4 {
        let out = succeeds(
            root,
            &[
                "shard",
                "run",
                "plan.json",
                &i.to_string(),
                "-o",
                "shards",
                "-d",
                "datasets",
            ],
        );
        assert!(out.contains(&format!("shard {i}/4")), "{out}");
    }
    // The hive layout: parameter-set tables in every shard, window tables in the first of each
    // window, a manifest naming the study.
    for i in 0..4 {
        let dir = root.join(format!("shards/shard={i}"));
        let m: serde_json::Value =
            serde_json::from_slice(&std::fs::read(dir.join("manifest.json")).unwrap()).unwrap();
        assert_eq!(m["study_id"], study_id.as_str());
        assert_eq!(m["shard"], i);
        assert!(dir.join("actions.parquet").is_file());
        assert_eq!(dir.join("opportunities.parquet").is_file(), i % 2 == 0);
        let summary = frame(&dir.join("summary.parquet"));
        assert_eq!(summary.height(), if i % 2 == 0 { 4 } else { 3 });
    }

    // A complete shard is skipped on rerun, leaving its folder as it was.
    let before = std::fs::read(root.join("shards/shard=1/manifest.json")).unwrap();
    let started = std::time::Instant::now();
    let out = succeeds(
        root,
        &[
            "shard",
            "run",
            "plan.json",
            "1",
            "-o",
            "shards",
            "-d",
            "datasets",
        ],
    );
    assert!(out.contains("already complete"), "{out}");
    assert!(started.elapsed().as_secs() < 20);
    assert_eq!(
        before,
        std::fs::read(root.join("shards/shard=1/manifest.json")).unwrap()
    );

    // The merge equals the single run: every table frame for frame, every file byte for byte.
    let out = succeeds(root, &["merge", "shards", "-o", "merged"]);
    assert!(out.contains("merged 4 shards"), "{out}");
    let tables = assert_same_outputs(&root.join("single"), &root.join("merged"));
    assert!(tables >= 2 * 7 + 8, "{tables} tables compared");
    let actions = frame(&root.join("merged/actions.parquet"));
    let windows = actions
        .column("window")
        .unwrap()
        .as_materialized_series()
        .str()
        .unwrap();
    let deep = (0..windows.len())
        .filter(|i| windows.get(*i) == Some("deep-crash"))
        .count();
    assert!(
        deep > 0 && deep < actions.height(),
        "both windows have actions"
    );
    let totals = frame(&root.join("merged/study_summary.parquet"));
    assert_eq!(totals.height(), 7 * 3, "7 sets × (2 windows + total)");

    // And a window of the study equals `liqsim run` of its scenario, table for table (a run made
    // by another command, on the same dataset).
    let fixture = repo().join("tests/fixtures/small-crash.toml");
    succeeds(
        root,
        &[
            "run",
            fixture.to_str().unwrap(),
            "--set",
            "name=\"crash\"",
            "-d",
            "datasets",
            "-o",
            "plain-run",
        ],
    );
    for table in [
        "actions",
        "missed",
        "summary",
        "opportunities",
        "blocks",
        "capital",
    ] {
        let a = frame(&root.join(format!("plain-run/{table}.parquet")));
        let b = frame(&root.join(format!("merged/windows/crash/{table}.parquet")));
        assert!(
            a.equals_missing(&b),
            "{table}: liqsim run differs from the study's window"
        );
    }

    // A dataset as a window (the study's strategies, the default DEX model): the same rows as
    // the scenario window that built that dataset.
    let fixture_toml = std::fs::read_to_string(&fixture).unwrap();
    let strategies = &fixture_toml[fixture_toml.find("[[strategies]]").unwrap()..];
    std::fs::write(
        root.join("dataset-study.toml"),
        format!("name = \"from-dataset\"\n[[windows]]\nname = \"recorded-crash\"\ndataset = \"datasets/crash\"\n{strategies}"),
    )
    .unwrap();
    succeeds(
        root,
        &[
            "study",
            "dataset-study.toml",
            "-o",
            "from-dataset",
            "-d",
            "datasets",
        ],
    );
    for table in [
        "actions",
        "missed",
        "summary",
        "opportunities",
        "blocks",
        "capital",
    ] {
        let a = frame(&root.join(format!(
            "from-dataset/windows/recorded-crash/{table}.parquet"
        )));
        let b = frame(&root.join(format!("merged/windows/crash/{table}.parquet")));
        assert!(
            a.equals_missing(&b),
            "{table}: the dataset window differs from its scenario's"
        );
    }

    // Bad input: each error names what is wrong.
    let e = fails(root, &["shard", "run", "plan.json", "4", "-o", "shards"]);
    assert!(e.contains("shard index") && e.contains("0..=3"), "{e}");

    // A study edited after its plan was written: the shard refuses to run it.
    let fixture_text = fixture.display().to_string();
    let edited = std::fs::read_to_string(study_file())
        .unwrap()
        .replace("../tests/fixtures/small-crash.toml", &fixture_text);
    std::fs::write(root.join("edited.toml"), &edited).unwrap();
    succeeds(root, &["plan", "edited.toml", "-o", "edited-plan.json"]);
    std::fs::write(root.join("edited.toml"), edited.replace("1700", "1650")).unwrap();
    let e = fails(
        root,
        &[
            "shard",
            "run",
            "edited-plan.json",
            "0",
            "-o",
            "edited-shards",
            "-d",
            "datasets",
        ],
    );
    assert!(
        e.contains("changed since") && e.contains("liqsim plan"),
        "{e}"
    );

    let broken = |name: &str| {
        let dir = root.join(name);
        let _ = std::fs::remove_dir_all(&dir);
        copy_dir(&root.join("shards"), &dir);
        dir
    };
    let missing = broken("shards-missing");
    std::fs::remove_dir_all(missing.join("shard=2")).unwrap();
    let e = fails(root, &["merge", "shards-missing", "-o", "m1"]);
    assert!(
        e.contains("shard=2") && e.contains("missing partition"),
        "{e}"
    );

    let renamed = broken("shards-renamed");
    copy_dir(&renamed.join("shard=1"), &renamed.join("shard=01"));
    let e = fails(root, &["merge", "shards-renamed", "-o", "m2"]);
    assert!(
        e.contains("shard=01") && e.contains("not a partition name"),
        "{e}"
    );

    let doubled = broken("shards-doubled");
    std::fs::copy(
        doubled.join("shard=1/actions.parquet"),
        doubled.join("shard=0/actions-copy.parquet"),
    )
    .unwrap();
    let e = fails(root, &["merge", "shards-doubled", "-o", "m3"]);
    assert!(
        e.contains("actions-copy.parquet") && e.contains("does not list"),
        "{e}"
    );

    let duplicated = broken("shards-duplicated");
    std::fs::remove_dir_all(duplicated.join("shard=3")).unwrap();
    copy_dir(&duplicated.join("shard=2"), &duplicated.join("shard=3"));
    let e = fails(root, &["merge", "shards-duplicated", "-o", "m4"]);
    assert!(
        e.contains("shard=3") && e.contains("shard 2's partition"),
        "{e}"
    );

    let other_study = broken("shards-other-study");
    edit_manifest(
        &other_study.join("shard=3"),
        "study_id",
        serde_json::json!("0123456789abcdef"),
    );
    let e = fails(root, &["merge", "shards-other-study", "-o", "m5"]);
    assert!(
        e.contains("shard=3") && e.contains("0123456789abcdef") && e.contains("different studies"),
        "{e}"
    );

    let other_version = broken("shards-other-version");
    edit_manifest(
        &other_version.join("shard=0"),
        "liqsim_version",
        serde_json::json!("0.0.1"),
    );
    let e = fails(root, &["merge", "shards-other-version", "-o", "m6"]);
    assert!(e.contains("shard=0") && e.contains("liqsim 0.0.1"), "{e}");

    let out_of_range = broken("shards-out-of-range");
    std::fs::rename(out_of_range.join("shard=3"), out_of_range.join("shard=7")).unwrap();
    edit_manifest(&out_of_range.join("shard=7"), "shard", serde_json::json!(7));
    let e = fails(root, &["merge", "shards-out-of-range", "-o", "m7"]);
    assert!(e.contains("shard=7") && e.contains("out of range"), "{e}");

    let damaged = broken("shards-damaged");
    let state = damaged.join("shard=1/state.json");
    let mut bytes = std::fs::read(&state).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 1;
    std::fs::write(&state, bytes).unwrap();
    let e = fails(root, &["merge", "shards-damaged", "-o", "m8"]);
    assert!(
        e.contains("state.json") && e.contains("hash mismatch"),
        "{e}"
    );
}

/// The Ray driver's virtual environment (`drivers/ray/requirements.txt`, pinned), or why not.
fn ray_venv() -> Option<PathBuf> {
    let Some(python) = python() else {
        eprintln!("SKIPPED: no python3 on this machine; the Ray driver needs it");
        return None;
    };
    let started = std::time::Instant::now();
    match pinned_venv(
        &python,
        "ray-venv",
        &repo().join("drivers/ray/requirements.txt"),
    ) {
        Ok(bin) => {
            eprintln!("ray venv ready in {:.1} s", started.elapsed().as_secs_f64());
            Some(bin)
        }
        Err(VenvError::Unreachable(why)) => {
            eprintln!("SKIPPED: the Python package index is unreachable ({why})");
            None
        }
        Err(VenvError::Failed(why)) => panic!("installing drivers/ray/requirements.txt: {why}"),
    }
}

#[test]
fn the_ray_driver_runs_four_shards_on_a_local_cluster_and_merges_them() {
    let Some(venv_python) = ray_venv() else {
        return;
    };
    let root = single_run();
    let started = std::time::Instant::now();
    let out = Command::new(&venv_python)
        .current_dir(root)
        .env("CI", "1")
        .env("LIQSIM_CACHE_DIR", cache_dir())
        .env("RAY_USAGE_STATS_ENABLED", "0")
        .arg(repo().join("drivers/ray/study.py"))
        .arg(study_file())
        .args(["--out", "merged-ray", "--shards-dir", "shards-ray"])
        .args(["--datasets", "datasets", "--num-cpus", "2"])
        .arg("--liqsim")
        .arg(env!("CARGO_BIN_EXE_liqsim"))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "the Ray driver failed: {}",
        text(&out)
    );
    let log = text(&out);
    eprintln!(
        "Ray study (4 shards, 2 CPUs) in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    for i in 0..4 {
        assert!(log.contains(&format!("ray task shard {i} on ")), "{log}");
    }
    assert!(log.contains("4 shards on Ray"), "{log}");
    let tables = assert_same_outputs(&root.join("single"), &root.join("merged-ray"));
    assert!(tables >= 22, "{tables}");
}

#[test]
fn the_kubernetes_and_slurm_job_files_parse_and_run_the_shards() {
    let slurm = repo().join("deploy/slurm/study.sbatch");
    let status = Command::new("bash").arg("-n").arg(&slurm).status().unwrap();
    assert!(status.success(), "bash -n {}", slurm.display());
    let script = std::fs::read_to_string(&slurm).unwrap();
    for needed in [
        "#SBATCH --array=",
        "SLURM_ARRAY_TASK_ID",
        "shard run",
        "--datasets",
    ] {
        assert!(script.contains(needed), "study.sbatch lacks {needed}");
    }

    // YAML: parsed by PyYAML (the system's, else the Ray venv's), keys checked in Python.
    let with_yaml = ["python3", "python"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| {
            Command::new(p)
                .args(["-c", "import yaml"])
                .output()
                .is_ok_and(|o| o.status.success())
        })
        .or_else(ray_venv);
    let Some(python) = with_yaml else {
        eprintln!("SKIPPED: no Python with PyYAML to parse deploy/k8s/*.yaml");
        return;
    };
    let check = r#"
import sys, yaml
job = yaml.safe_load(open(sys.argv[1]))
merge = yaml.safe_load(open(sys.argv[2]))
spec = job["spec"]
assert job["apiVersion"] == "batch/v1" and job["kind"] == "Job", job
assert spec["completionMode"] == "Indexed", spec
assert spec["completions"] >= 1 and spec["parallelism"] >= 1, spec
pod = spec["template"]["spec"]
assert pod["restartPolicy"] == "Never", pod
(c,) = pod["containers"]
command = " ".join(c["command"])
assert "shard run" in command and "$JOB_COMPLETION_INDEX" in command, command
assert "--datasets" in command, command
mount = c["volumeMounts"][0]
claims = [v["name"] for v in pod["volumes"] if "persistentVolumeClaim" in v]
assert mount["name"] in claims, (mount, claims)
assert c["workingDir"].startswith(mount["mountPath"]), c
(m,) = merge["spec"]["template"]["spec"]["containers"]
assert m["command"][:2] == ["liqsim", "merge"], m
print("ok")
"#;
    let out = Command::new(&python)
        .args(["-c", check])
        .arg(repo().join("deploy/k8s/study-job.yaml"))
        .arg(repo().join("deploy/k8s/merge-job.yaml"))
        .output()
        .unwrap();
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).contains("ok"),
        "deploy/k8s: {}",
        text(&out)
    );
}
