//! Study files: several windows (scenario files, each with overrides and seeds) × the same
//! strategy parameter sets, split into shards (window × parameter subset × seed); the plan that
//! lists the shards, and the study id that ties shards, plan and merge to one study and version.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::scenario::LoadedScenario;
use crate::strategy::{Instance, StrategySpec};

/// The plan file's format tag.
pub const PLAN_FORMAT: &str = "liqsim-study-plan/1";

/// A study file as written (TOML).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StudyFile {
    /// The study's name (output titles).
    pub name: String,
    /// Parameter sets per shard (consecutive sets of the study's list); default: all of them, so
    /// a shard is one window (× seed).
    #[serde(default)]
    pub params_per_shard: Option<usize>,
    /// Seeds: every window is built once per seed (its scenario's `seed` set to it), each a
    /// window of its own named `<window>-seed<N>`. Default: the scenario's own seed.
    #[serde(default)]
    pub seeds: Vec<u64>,
    /// The windows, in report order.
    pub windows: Vec<WindowEntry>,
    /// Strategies replacing every window scenario's own (default: each scenario's, which must
    /// then expand to the same parameter sets on every window).
    #[serde(default)]
    pub strategies: Option<Vec<StrategySpec>>,
}

/// One window of a study file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowEntry {
    /// The window's name: its dataset's name and its label in every output (letters, digits,
    /// `-`, `_`).
    pub name: String,
    /// A devnet scenario file, relative to the study file's folder (or give `dataset`).
    #[serde(default)]
    pub scenario: Option<PathBuf>,
    /// A dataset folder (devnet-built or recorded), relative to the study file's folder: the
    /// window as it is, run with the study's `[[strategies]]` (required then) and the default
    /// DEX model.
    #[serde(default)]
    pub dataset: Option<PathBuf>,
    /// `KEY=VALUE` overrides of the scenario, as `liqsim run --set` takes them (e.g. another
    /// crash depth: `prices.points[4].price_usd="1800"`).
    #[serde(default)]
    pub set: Vec<String>,
}

/// Where a study window comes from.
#[derive(Debug, Clone)]
pub enum WindowSource {
    /// A devnet scenario, loaded with every override (its dataset is built on first use).
    Scenario(Box<LoadedScenario>),
    /// A dataset as it is.
    Dataset {
        /// Its folder.
        dir: PathBuf,
        /// sha256 of its `manifest.json` (which holds every file's sha256).
        manifest_sha256: String,
        /// The study's parameter sets.
        instances: Vec<Instance>,
    },
}

impl WindowSource {
    /// The parameter sets the window runs.
    pub fn instances(&self) -> &[Instance] {
        match self {
            WindowSource::Scenario(loaded) => &loaded.instances,
            WindowSource::Dataset { instances, .. } => instances,
        }
    }

    /// What the window's results depend on: the scenario's canonical form's sha256, or the
    /// dataset manifest's.
    pub fn sha256(&self) -> &str {
        match self {
            WindowSource::Scenario(loaded) => &loaded.sha256,
            WindowSource::Dataset {
                manifest_sha256, ..
            } => manifest_sha256,
        }
    }
}

/// One window of a loaded study (a window entry, with one seed when the study has seeds).
#[derive(Debug, Clone)]
pub struct StudyWindow {
    /// Label in outputs and the dataset's name: the entry's name, `-seed<N>` appended with seeds.
    pub label: String,
    /// The scenario file or dataset folder as the study names it (relative to the study file's
    /// folder).
    pub path: PathBuf,
    /// The overrides applied (the entry's, then `seed`, `name` and the study's strategies).
    pub set: Vec<String>,
    /// The seed, when the study has seeds.
    pub seed: Option<u64>,
    /// The scenario loaded with every override, or the dataset.
    pub source: WindowSource,
}

/// One shard: a window and a consecutive range of the study's parameter sets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShardSpec {
    /// Shard index (0-based, dense).
    pub shard: usize,
    /// Index of its window in [`LoadedStudy::windows`].
    pub window: usize,
    /// First parameter set (index into the study's list).
    pub first: usize,
    /// One past its last parameter set.
    pub end: usize,
}

/// A study file with every window scenario loaded, its parameter sets and its shards.
#[derive(Debug, Clone)]
pub struct LoadedStudy {
    /// The file.
    pub file: StudyFile,
    /// Its path as given.
    pub source: String,
    /// Windows × seeds, in order.
    pub windows: Vec<StudyWindow>,
    /// The parameter sets every window runs (the same on all).
    pub instances: Vec<Instance>,
    /// Shards: windows in order, each split into consecutive parameter subsets.
    pub shards: Vec<ShardSpec>,
    /// 16 hex digits of sha256 over liqsim's version, the study file's text and every window's
    /// effective scenario (its text after the overrides, and its canonical form's hash).
    pub study_id: String,
}

fn invalid(path: &Path, message: String) -> Error {
    Error::InvalidFile {
        path: path.to_path_buf(),
        message,
    }
}

fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl LoadedStudy {
    /// Reads a study file and every window scenario it names.
    pub fn from_file(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io("reading", path, e))?;
        let file: StudyFile =
            toml::from_str(&text).map_err(|e| invalid(path, e.to_string().trim().to_string()))?;
        if !valid_name(&file.name) {
            return Err(invalid(
                path,
                format!(
                    "field `name` = {:?}: expected letters, digits, `-` or `_`",
                    file.name
                ),
            ));
        }
        if file.windows.is_empty() {
            return Err(invalid(
                path,
                "field `windows`: expected at least one [[windows]] entry".into(),
            ));
        }
        if file.params_per_shard == Some(0) {
            return Err(invalid(
                path,
                "field `params_per_shard` = 0: expected at least 1".into(),
            ));
        }
        if let Some(s) = &file.strategies {
            if s.is_empty() {
                return Err(invalid(
                    path,
                    "field `strategies` = []: expected at least one strategy (or leave it out to use each scenario's)".into(),
                ));
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, s) in file.seeds.iter().enumerate() {
            if !seen.insert(*s) {
                return Err(invalid(
                    path,
                    format!("field `seeds[{i}]` = {s}: a seed listed twice"),
                ));
            }
        }
        let base_dir = path.parent().unwrap_or(Path::new("."));
        let seeds: Vec<Option<u64>> = if file.seeds.is_empty() {
            vec![None]
        } else {
            file.seeds.iter().copied().map(Some).collect()
        };
        let mut windows: Vec<StudyWindow> = Vec::new();
        for (w, entry) in file.windows.iter().enumerate() {
            if !valid_name(&entry.name) {
                return Err(invalid(
                    path,
                    format!(
                        "field `windows[{w}].name` = {:?}: expected letters, digits, `-` or `_`",
                        entry.name
                    ),
                ));
            }
            for seed in &seeds {
                let label = match seed {
                    Some(s) => format!("{}-seed{s}", entry.name),
                    None => entry.name.clone(),
                };
                if windows.iter().any(|x| x.label == label) {
                    return Err(invalid(
                        path,
                        format!(
                            "field `windows[{w}].name` = {:?}: a window name used twice",
                            entry.name
                        ),
                    ));
                }
                windows.push(load_window(
                    base_dir,
                    w,
                    entry,
                    *seed,
                    &label,
                    file.strategies.as_deref(),
                )?);
            }
        }
        let instances = windows[0].source.instances().to_vec();
        for win in &windows[1..] {
            if win.source.instances() != instances.as_slice() {
                return Err(invalid(
                    path,
                    format!(
                        "window `{}` runs {} parameter sets that differ from window `{}`'s {}: a study compares the same parameter sets on every window; give the study a [[strategies]] list (it replaces every scenario's)",
                        win.label,
                        win.source.instances().len(),
                        windows[0].label,
                        instances.len()
                    ),
                ));
            }
        }
        let per = file.params_per_shard.unwrap_or(instances.len()).max(1);
        let mut shards = Vec::new();
        for w in 0..windows.len() {
            let mut first = 0;
            while first < instances.len() {
                let end = (first + per).min(instances.len());
                shards.push(ShardSpec {
                    shard: shards.len(),
                    window: w,
                    first,
                    end,
                });
                first = end;
            }
        }
        let study_id = {
            use sha2::Digest;
            let mut h = sha2::Sha256::new();
            h.update(b"liqsim study|");
            h.update(env!("CARGO_PKG_VERSION").as_bytes());
            h.update(b"|");
            h.update(text.as_bytes());
            for win in &windows {
                h.update(b"|");
                h.update(win.label.as_bytes());
                h.update(b"|");
                if let WindowSource::Scenario(loaded) = &win.source {
                    h.update(loaded.text_sha256.as_bytes());
                    h.update(b"|");
                }
                h.update(win.source.sha256().as_bytes());
            }
            hex::encode(h.finalize())[..16].to_string()
        };
        Ok(Self {
            file,
            source: path.display().to_string(),
            windows,
            instances,
            shards,
            study_id,
        })
    }

    /// The plan: the study id, the windows, the parameter sets and every shard.
    pub fn plan(&self) -> Plan {
        Plan {
            format: PLAN_FORMAT.into(),
            study_id: self.study_id.clone(),
            liqsim_version: env!("CARGO_PKG_VERSION").into(),
            study: self.source.clone(),
            name: self.file.name.clone(),
            windows: self
                .windows
                .iter()
                .map(|w| PlannedWindow {
                    label: w.label.clone(),
                    kind: match w.source {
                        WindowSource::Scenario(_) => "scenario".into(),
                        WindowSource::Dataset { .. } => "dataset".into(),
                    },
                    path: w.path.display().to_string(),
                    seed: w.seed,
                    set: w.set.clone(),
                    sha256: w.source.sha256().to_string(),
                })
                .collect(),
            param_sets: self
                .instances
                .iter()
                .enumerate()
                .map(|(i, inst)| PlannedSet {
                    param_set_id: crate::strategy::param_set_id(i),
                    strategy: inst.kind.clone(),
                    params: inst.params.clone(),
                })
                .collect(),
            shards: self
                .shards
                .iter()
                .map(|s| PlannedShard {
                    shard: s.shard,
                    window: self.windows[s.window].label.clone(),
                    window_index: s.window,
                    first: s.first,
                    end: s.end,
                    param_sets: (s.first..s.end)
                        .map(crate::strategy::param_set_id)
                        .collect(),
                })
                .collect(),
        }
    }
}

/// Loads one window's scenario: the entry's overrides, then the seed, the name (the label, so
/// each window has a dataset of its own) and the study's strategies.
fn load_window(
    base_dir: &Path,
    w: usize,
    entry: &WindowEntry,
    seed: Option<u64>,
    label: &str,
    strategies: Option<&[StrategySpec]>,
) -> Result<StudyWindow> {
    let scenario = match (&entry.scenario, &entry.dataset) {
        (Some(scenario), None) => scenario,
        (None, Some(dataset)) => {
            return dataset_window(base_dir, w, entry, dataset, seed, label, strategies)
        }
        _ => {
            return Err(Error::config(
                format!("windows[{w}]"),
                &entry.name,
                "one of `scenario` (a devnet scenario file) or `dataset` (a dataset folder)",
            ))
        }
    };
    let path = base_dir.join(scenario);
    let source = path.display().to_string();
    let text = std::fs::read_to_string(&path).map_err(|e| Error::io("reading", &path, e))?;
    let mut set = entry.set.clone();
    if let Some(seed) = seed {
        set.push(format!("seed={seed}"));
    }
    set.push(format!("name=\"{label}\""));
    let text = crate::scenario::apply_overrides(&text, &source, &set)?;
    let mut table: toml::Table = toml::from_str(&text).map_err(|e| Error::InvalidFile {
        path: path.clone(),
        message: e.to_string().trim().to_string(),
    })?;
    if table.contains_key("source") {
        return Err(Error::config(
            format!("windows[{w}].scenario"),
            &source,
            "a devnet scenario (an RPC scenario's window cannot be a study window yet: record it and run it with `liqsim run`)",
        ));
    }
    let text = match strategies {
        Some(list) => {
            let value = toml::Value::try_from(list).map_err(|e| Error::Decode {
                what: "the study's strategies".into(),
                message: e.to_string(),
            })?;
            table.insert("strategies".into(), value);
            toml::to_string(&table).map_err(|e| Error::Decode {
                what: format!("the scenario of windows[{w}] with the study's strategies"),
                message: e.to_string(),
            })?
        }
        None => text,
    };
    let loaded = LoadedScenario::from_text(&text, &source, path.parent())?;
    Ok(StudyWindow {
        label: label.to_string(),
        path: scenario.clone(),
        set,
        seed,
        source: WindowSource::Scenario(Box::new(loaded)),
    })
}

/// A dataset window: the dataset's manifest read (and hashed), the study's strategies expanded.
fn dataset_window(
    base_dir: &Path,
    w: usize,
    entry: &WindowEntry,
    dataset: &Path,
    seed: Option<u64>,
    label: &str,
    strategies: Option<&[StrategySpec]>,
) -> Result<StudyWindow> {
    let field = format!("windows[{w}].dataset");
    if seed.is_some() {
        return Err(Error::config(
            field,
            dataset.display(),
            "a scenario window: a dataset is one window, a study's `seeds` rebuild scenario windows",
        ));
    }
    if !entry.set.is_empty() {
        return Err(Error::config(
            format!("windows[{w}].set"),
            entry.set.join(" "),
            "no overrides on a dataset window (they apply to a scenario)",
        ));
    }
    let Some(strategies) = strategies else {
        return Err(Error::config(
            field,
            dataset.display(),
            "a study with [[strategies]] (a dataset has none of its own)",
        ));
    };
    let dir = base_dir.join(dataset);
    let manifest = dir.join("manifest.json");
    let bytes = std::fs::read(&manifest).map_err(|e| Error::io("reading", &manifest, e))?;
    let instances = crate::strategy::expand(strategies).map_err(|e| Error::InvalidFile {
        path: manifest.clone(),
        message: format!("the study's [[strategies]] {e}"),
    })?;
    use sha2::Digest;
    Ok(StudyWindow {
        label: label.to_string(),
        path: dataset.to_path_buf(),
        set: Vec::new(),
        seed: None,
        source: WindowSource::Dataset {
            dir,
            manifest_sha256: hex::encode(sha2::Sha256::digest(&bytes)),
            instances,
        },
    })
}

/// The plan file (`liqsim plan`): what each shard runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// [`PLAN_FORMAT`].
    pub format: String,
    /// The study id.
    pub study_id: String,
    /// liqsim's version that planned it (shards and merges need the same).
    pub liqsim_version: String,
    /// The study file, as given to `liqsim plan` (relative to the folder it ran in).
    pub study: String,
    /// The study's name.
    pub name: String,
    /// Windows in order.
    pub windows: Vec<PlannedWindow>,
    /// The parameter sets every window runs.
    pub param_sets: Vec<PlannedSet>,
    /// Every shard.
    pub shards: Vec<PlannedShard>,
}

/// A window of the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedWindow {
    /// Label (and dataset name).
    pub label: String,
    /// `scenario` or `dataset`.
    pub kind: String,
    /// The scenario file or dataset folder, relative to the study file's folder.
    pub path: String,
    /// Seed, with a study's seeds.
    pub seed: Option<u64>,
    /// Overrides applied.
    pub set: Vec<String>,
    /// sha256 of the scenario's canonical form (what its dataset depends on), or of the
    /// dataset's manifest.
    pub sha256: String,
}

/// A parameter set of the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedSet {
    /// `P01`...
    pub param_set_id: String,
    /// Strategy kind.
    pub strategy: String,
    /// Every parameter.
    pub params: BTreeMap<String, String>,
}

/// A shard of the plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PlannedShard {
    /// Index.
    pub shard: usize,
    /// Its window's label.
    pub window: String,
    /// Its window's index in [`Plan::windows`].
    pub window_index: usize,
    /// First parameter set (index into [`Plan::param_sets`]).
    pub first: usize,
    /// One past its last parameter set.
    pub end: usize,
    /// Its parameter sets' ids.
    pub param_sets: Vec<String>,
}

impl Plan {
    /// Reads a plan file (JSON), checking its format tag.
    pub fn read(path: &Path) -> Result<Self> {
        let bytes = std::fs::read(path).map_err(|e| Error::io("reading", path, e))?;
        let plan: Plan = serde_json::from_slice(&bytes).map_err(|e| {
            invalid(
                path,
                format!("not a liqsim study plan ({e}); write one with `liqsim plan STUDY.toml -o PLAN`"),
            )
        })?;
        if plan.format != PLAN_FORMAT {
            return Err(invalid(
                path,
                format!(
                    "field `format` = {:?}: expected {PLAN_FORMAT:?}",
                    plan.format
                ),
            ));
        }
        Ok(plan)
    }

    /// The plan as JSON text.
    pub fn to_json(&self) -> Result<Vec<u8>> {
        serde_json::to_vec_pretty(self).map_err(|e| Error::Decode {
            what: "study plan".into(),
            message: e.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A study file in a fresh folder, naming the small test fixture.
    fn study(name: &str, body: &str) -> PathBuf {
        let dir =
            std::env::temp_dir().join(format!("liqsim-study-unit-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/small-crash.toml");
        let text = body.replace("FIXTURE", &fixture.display().to_string().replace('\\', "/"));
        let path = dir.join("study.toml");
        std::fs::write(&path, text).unwrap();
        path
    }

    fn error(name: &str, body: &str) -> String {
        match LoadedStudy::from_file(&study(name, body)) {
            Ok(_) => panic!("{name}: loaded"),
            Err(e) => e.to_string(),
        }
    }

    const TWO: &str = r#"
name = "two"
params_per_shard = 3
seeds = [5, 6]
[[windows]]
name = "a"
scenario = "FIXTURE"
[[windows]]
name = "b"
scenario = "FIXTURE"
set = ['prices.points[4].price_usd="1700"']
"#;

    #[test]
    fn windows_times_seeds_times_parameter_subsets() {
        let s = LoadedStudy::from_file(&study("two", TWO)).unwrap();
        let labels: Vec<&str> = s.windows.iter().map(|w| w.label.as_str()).collect();
        assert_eq!(labels, ["a-seed5", "a-seed6", "b-seed5", "b-seed6"]);
        let loaded = |i: usize| match &s.windows[i].source {
            WindowSource::Scenario(l) => l.scenario.clone(),
            WindowSource::Dataset { .. } => panic!("a scenario window"),
        };
        assert_eq!(loaded(1).seed, 6);
        assert_eq!(loaded(2).name, "b-seed5");
        // 7 sets in subsets of 3: 3 + 3 + 1, per window.
        assert_eq!(s.instances.len(), 7);
        assert_eq!(s.shards.len(), 4 * 3);
        assert_eq!((s.shards[2].first, s.shards[2].end), (6, 7));
        assert_eq!((s.shards[5].window, s.shards[5].first), (1, 6));
        let plan = s.plan();
        assert_eq!(plan.shards[4].param_sets, ["P04", "P05", "P06"]);
        // The plan is deterministic; the study id follows the content.
        let again = LoadedStudy::from_file(&study("two-again", TWO)).unwrap();
        assert_eq!(again.study_id, s.study_id);
        let mut same = again.plan();
        same.study = plan.study.clone();
        assert_eq!(same.to_json().unwrap(), plan.to_json().unwrap());
        let edited = TWO.replace("1700", "1600");
        let other = LoadedStudy::from_file(&study("two-edited", &edited)).unwrap();
        assert_ne!(other.study_id, s.study_id);
        // The study's strategies replace every window's.
        let with = format!("{TWO}\n[[strategies]]\nkind = \"greedy\"\nlatency_blocks = [0, 2]\n");
        let s = LoadedStudy::from_file(&study("two-strategies", &with)).unwrap();
        assert_eq!(s.instances.len(), 2);
        assert_eq!(s.shards.len(), 4);
    }

    #[test]
    fn bad_study_files_name_the_field() {
        let e = error(
            "zero",
            &TWO.replace("params_per_shard = 3", "params_per_shard = 0"),
        );
        assert!(e.contains("params_per_shard"), "{e}");
        let e = error("seed-twice", &TWO.replace("[5, 6]", "[5, 5]"));
        assert!(e.contains("seeds[1]"), "{e}");
        let e = error("unknown", &format!("{TWO}\n[extra]\nx = 1\n"));
        assert!(e.contains("extra"), "{e}");
        let e = error("same-name", &TWO.replace("name = \"b\"", "name = \"a\""));
        assert!(e.contains("windows[1].name"), "{e}");
        let e = error("no-windows", "name = \"x\"\nwindows = []\n");
        assert!(e.contains("windows"), "{e}");
        let e = error(
            "differ",
            &TWO.replace(
                "set = ['prices.points[4].price_usd=\"1700\"']",
                "set = ['strategies[0].latency_blocks=[0, 3]']",
            ),
        );
        assert!(e.contains("differ") && e.contains("[[strategies]]"), "{e}");
        let e = error(
            "both",
            &TWO.replace("name = \"a\"\n", "name = \"a\"\ndataset = \"d\"\n"),
        );
        assert!(
            e.contains("windows[0]") && e.contains("one of `scenario`"),
            "{e}"
        );
        let e = error(
            "dataset-alone",
            "name = \"x\"\n[[windows]]\nname = \"d\"\ndataset = \"somewhere\"\n",
        );
        assert!(
            e.contains("windows[0].dataset") && e.contains("[[strategies]]"),
            "{e}"
        );
        let e = error(
            "missing",
            &TWO.replace(
                "scenario = \"FIXTURE\"\n[[windows]]",
                "scenario = \"nowhere.toml\"\n[[windows]]",
            ),
        );
        assert!(e.contains("nowhere.toml"), "{e}");
    }
}
