//! A study's outputs. Each shard writes a hive-partitioned folder `OUT/shard=I/` (atomically):
//! its rows of every Parquet table of [`OUTPUTS`] with a `window` column, its exact part of the
//! run (`state.json`) and `manifest.json` (study id, liqsim version, shard index, row counts and
//! sha256 of every file). A merge reads and checks those folders; a study's outputs (one process
//! or merged) hold every window's run outputs, the tables of all windows, each parameter set per
//! window and in total (`study_summary.parquet`, `study.json`) and a study report.

use std::collections::BTreeMap;
use std::io::Cursor;
use std::path::{Path, PathBuf};

use polars::prelude::{BooleanChunked, DataFrame, NamedFrom, ParquetReader, SerReader};
use serde::{Deserialize, Serialize};

use crate::analytics::result::StrategyRun;
use crate::analytics::study::{StudyRow, WindowPart};
use crate::error::{Error, Result};
use crate::output::parquet::{col, frame};
use crate::output::{RunContext, RunOutputs, OUTPUTS};
use crate::scenario::study::PlannedSet;
use crate::strategy::Instance;

/// The shard manifest's format tag.
pub const SHARD_FORMAT: &str = "liqsim-study-shard/1";
/// A shard folder's manifest (written last, in the same atomic step as the rest).
pub const MANIFEST_FILE: &str = "manifest.json";
/// A shard folder's exact part of the run.
pub const STATE_FILE: &str = "state.json";

/// One file of a shard folder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileEntry {
    /// sha256 of its bytes.
    pub sha256: String,
    /// Rows (Parquet tables).
    pub rows: Option<u64>,
}

/// `OUT/shard=I/manifest.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardManifest {
    /// [`SHARD_FORMAT`].
    pub format: String,
    /// The study id.
    pub study_id: String,
    /// liqsim's version that ran the shard.
    pub liqsim_version: String,
    /// The study's name.
    pub study: String,
    /// This shard's index.
    pub shard: usize,
    /// How many shards the study has.
    pub shards: usize,
    /// Its window's label.
    pub window: String,
    /// First parameter set.
    pub first: usize,
    /// One past its last.
    pub end: usize,
    /// Every window of the study, in order.
    pub windows: Vec<String>,
    /// Every parameter set of the study.
    pub param_sets: Vec<PlannedSet>,
    /// File name → hash and rows.
    pub files: BTreeMap<String, FileEntry>,
}

/// `OUT/shard=I/state.json`: the shard's exact findings and its window's report context.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardState {
    /// The window's report context (hashes, methodology, warnings).
    pub context: RunContext,
    /// What the shard found.
    pub part: WindowPart,
}

/// A shard folder as a merge reads it (every file checked against the manifest).
#[derive(Debug, Clone)]
pub struct ShardFolder {
    /// The folder.
    pub dir: PathBuf,
    /// Its manifest.
    pub manifest: ShardManifest,
    /// Its part.
    pub state: ShardState,
    /// Its tables, by file name.
    pub tables: BTreeMap<String, DataFrame>,
}

/// The folder of shard `index` under `root`: `root/shard=<index>`.
pub fn shard_dir(root: &Path, index: usize) -> PathBuf {
    root.join(format!("shard={index}"))
}

fn decode(what: impl Into<String>, e: impl std::fmt::Display) -> Error {
    Error::Decode {
        what: what.into(),
        message: e.to_string(),
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

fn read_frame(bytes: &[u8], what: &str) -> Result<DataFrame> {
    let decoded = std::panic::catch_unwind(|| ParquetReader::new(Cursor::new(bytes)).finish());
    match decoded {
        Ok(Ok(df)) => Ok(df),
        Ok(Err(e)) => Err(decode(what, e)),
        Err(_) => Err(decode(what, "the Parquet decoder failed on it")),
    }
}

fn frame_bytes(mut df: DataFrame, what: &str) -> Result<Vec<u8>> {
    crate::data::dataset::parquet_bytes(&mut df).map_err(|e| decode(what, e))
}

/// `df` with a first column `window` = `label`.
fn with_window(mut df: DataFrame, label: &str, what: &str) -> Result<DataFrame> {
    let column = col("window", vec![label.to_string(); df.height()]);
    df.insert_column(0, column).map_err(|e| decode(what, e))?;
    Ok(df)
}

/// True for a table whose rows belong to parameter sets (it names their strategy); the others
/// (opportunities, blocks, tokens) belong to the window.
fn is_set_table(df: &DataFrame) -> bool {
    df.column("strategy").is_ok()
}

/// Every Parquet table of [`OUTPUTS`] for `out`, each with the `window` column, in list order.
fn tables_of(out: &RunOutputs<'_>, label: &str) -> Result<Vec<(String, DataFrame)>> {
    OUTPUTS
        .iter()
        .filter(|o| o.file_name().ends_with(".parquet"))
        .map(|o| {
            let name = o.file_name().to_string();
            let df = read_frame(&o.render(out)?, &name)?;
            Ok((name.clone(), with_window(df, label, &name)?))
        })
        .collect()
}

/// The rows of `df` whose `param_set_id` is one of `ids` (all rows when it has no such column:
/// such a table holds only this part's rows already).
fn keep_sets(df: DataFrame, ids: &[String], what: &str) -> Result<DataFrame> {
    let Ok(column) = df.column("param_set_id") else {
        return Ok(df);
    };
    let values = column
        .as_materialized_series()
        .str()
        .map_err(|e| decode(what, e))?;
    let keep: Vec<bool> = (0..values.len())
        .map(|i| values.get(i).is_some_and(|v| ids.iter().any(|id| id == v)))
        .collect();
    df.filter(&BooleanChunked::new("keep".into(), keep.as_slice()))
        .map_err(|e| decode(what, e))
}

/// What identifies a shard besides its part.
#[derive(Debug, Clone)]
pub struct ShardHead<'a> {
    /// The study id.
    pub study_id: &'a str,
    /// The study's name.
    pub study: &'a str,
    /// The shard's index.
    pub shard: usize,
    /// How many shards the study has.
    pub shards: usize,
    /// Every window label of the study.
    pub windows: &'a [String],
    /// Every parameter set of the study.
    pub param_sets: &'a [PlannedSet],
}

/// Writes shard `head.shard`'s folder under `root` atomically: its rows of every table
/// (parameter-set tables always; window tables when it holds the window's first parameter
/// sets), `state.json` and `manifest.json`. Returns the manifest.
pub fn write_shard(
    root: &Path,
    head: &ShardHead<'_>,
    state: &ShardState,
    instances: &[Instance],
) -> Result<ShardManifest> {
    let part = &state.part;
    let sparse = part.sparse_run(instances)?;
    let out = RunOutputs {
        run: &sparse,
        instances,
        scenario: &part.window,
        context: &state.context,
    };
    let ids: Vec<String> = (part.first..part.end)
        .map(crate::strategy::param_set_id)
        .collect();
    let mut files = Vec::new();
    let mut entries = BTreeMap::new();
    for (name, df) in tables_of(&out, &part.window)? {
        if !is_set_table(&df) && part.first != 0 {
            continue;
        }
        let df = keep_sets(df, &ids, &name)?;
        let rows = df.height() as u64;
        let bytes = frame_bytes(df, &name)?;
        entries.insert(
            name.clone(),
            FileEntry {
                sha256: sha256_hex(&bytes),
                rows: Some(rows),
            },
        );
        files.push((name, bytes));
    }
    let state_bytes = serde_json::to_vec(state).map_err(|e| decode(STATE_FILE, e))?;
    entries.insert(
        STATE_FILE.into(),
        FileEntry {
            sha256: sha256_hex(&state_bytes),
            rows: None,
        },
    );
    files.push((STATE_FILE.into(), state_bytes));
    let manifest = ShardManifest {
        format: SHARD_FORMAT.into(),
        study_id: head.study_id.into(),
        liqsim_version: env!("CARGO_PKG_VERSION").into(),
        study: head.study.into(),
        shard: head.shard,
        shards: head.shards,
        window: part.window.clone(),
        first: part.first,
        end: part.end,
        windows: head.windows.to_vec(),
        param_sets: head.param_sets.to_vec(),
        files: entries,
    };
    let bytes = serde_json::to_vec_pretty(&manifest).map_err(|e| decode(MANIFEST_FILE, e))?;
    files.push((MANIFEST_FILE.into(), bytes));
    crate::output::write_atomically(&shard_dir(root, head.shard), &files, |_| Ok(()))?;
    Ok(manifest)
}

/// Whether shard `index` under `root` is already complete for `study_id` (this liqsim version,
/// every file present with its hash): `Ok(Some(manifest))`, else `Ok(None)` with the reason
/// printed (absent, another study, damaged) — the shard is then run again.
pub fn completed_shard(root: &Path, index: usize, study_id: &str) -> Result<Option<ShardManifest>> {
    let dir = shard_dir(root, index);
    if !dir.join(MANIFEST_FILE).is_file() {
        return Ok(None);
    }
    match read_manifest_checked(&dir) {
        Ok(m) if m.study_id == study_id && m.liqsim_version == env!("CARGO_PKG_VERSION") => {
            Ok(Some(m))
        }
        Ok(m) => {
            eprintln!(
                "{} holds shard {} of study {} (liqsim {}); this is study {study_id} (liqsim {}): running it again",
                dir.display(),
                m.shard,
                m.study_id,
                m.liqsim_version,
                env!("CARGO_PKG_VERSION")
            );
            Ok(None)
        }
        Err(e) => {
            eprintln!(
                "{} is not a complete shard ({e}): running it again",
                dir.display()
            );
            Ok(None)
        }
    }
}

/// A shard folder's manifest, with every file it lists present and of its hash, and no file it
/// does not list (but liqsim's folder marker).
fn read_manifest_checked(dir: &Path) -> Result<ShardManifest> {
    let path = dir.join(MANIFEST_FILE);
    let bytes = std::fs::read(&path).map_err(|e| Error::io("reading", &path, e))?;
    let manifest: ShardManifest =
        serde_json::from_slice(&bytes).map_err(|e| Error::InvalidFile {
            path: path.clone(),
            message: format!("not a liqsim shard manifest: {e}"),
        })?;
    if manifest.format != SHARD_FORMAT {
        return Err(Error::InvalidFile {
            path,
            message: format!(
                "field `format` = {:?}: expected {SHARD_FORMAT:?}",
                manifest.format
            ),
        });
    }
    for (name, entry) in &manifest.files {
        let file = dir.join(name);
        let bytes = std::fs::read(&file).map_err(|e| Error::io("reading", &file, e))?;
        let actual = sha256_hex(&bytes);
        if actual != entry.sha256 {
            return Err(Error::InvalidFile {
                path: file,
                message: format!(
                    "content hash mismatch: the manifest says {}, the file has {actual}",
                    entry.sha256
                ),
            });
        }
    }
    let listing = std::fs::read_dir(dir).map_err(|e| Error::io("listing", dir, e))?;
    for entry in listing {
        let entry = entry.map_err(|e| Error::io("listing", dir, e))?;
        let name = entry.file_name().to_string_lossy().to_string();
        if name == MANIFEST_FILE
            || name == crate::data::folder::MARKER_FILE
            || manifest.files.contains_key(&name)
        {
            continue;
        }
        return Err(Error::InvalidFile {
            path: entry.path(),
            message: "a file the shard's manifest does not list: a partition copied in by hand would be counted twice; remove it".into(),
        });
    }
    Ok(manifest)
}

/// The shard index a partition folder's name gives (`shard=3` → 3), `None` for a folder that is
/// not a partition or one still being written (`shard=3.tmp-<pid>`, `shard=3.old-<pid>`); an
/// error for a name that looks like a partition but is not one (`shard=03`, `shard=x`).
fn partition_index(path: &Path, name: &str) -> Result<Option<usize>> {
    let Some(rest) = name.strip_prefix("shard=") else {
        return Ok(None);
    };
    if rest.contains(".tmp-") || rest.contains(".old-") {
        return Ok(None);
    }
    match rest.parse::<usize>() {
        Ok(i) if i.to_string() == rest => Ok(Some(i)),
        _ => Err(Error::InvalidFile {
            path: path.to_path_buf(),
            message: "not a partition name: expected shard=<index> (e.g. shard=3, no leading zeros); a renamed or copied partition would be counted twice".into(),
        }),
    }
}

/// Reads every shard folder of `root` for a merge, checking: a manifest in each, every file's
/// hash and no unlisted file, one study id and this liqsim version in all, each index below the
/// shard count, every index present exactly once, and each table's rows as the manifest says.
/// Errors name the folder (or the missing index).
pub fn read_shards(root: &Path) -> Result<Vec<ShardFolder>> {
    let listing = std::fs::read_dir(root).map_err(|e| Error::io("listing", root, e))?;
    let mut found: BTreeMap<usize, PathBuf> = BTreeMap::new();
    let mut names: Vec<(String, PathBuf)> = Vec::new();
    for entry in listing {
        let entry = entry.map_err(|e| Error::io("listing", root, e))?;
        names.push((
            entry.file_name().to_string_lossy().to_string(),
            entry.path(),
        ));
    }
    names.sort();
    for (name, path) in names {
        let Some(index) = partition_index(&path, &name)? else {
            continue;
        };
        found.insert(index, path);
    }
    if found.is_empty() {
        return Err(Error::InvalidFile {
            path: root.to_path_buf(),
            message: "no shard partition (shard=<index>/) here: run the shards first (`liqsim shard run PLAN I --out DIR`)".into(),
        });
    }
    let mut folders: Vec<ShardFolder> = Vec::new();
    for (index, dir) in &found {
        if !dir.join(MANIFEST_FILE).is_file() {
            return Err(Error::InvalidFile {
                path: dir.clone(),
                message: format!("no {MANIFEST_FILE}: shard {index} did not finish; run it again"),
            });
        }
        let manifest = read_manifest_checked(dir)?;
        if manifest.shard != *index {
            return Err(Error::InvalidFile {
                path: dir.clone(),
                message: format!(
                    "holds shard {}'s partition, not shard {index}'s: a duplicated or renamed partition",
                    manifest.shard
                ),
            });
        }
        if manifest.liqsim_version != env!("CARGO_PKG_VERSION") {
            return Err(Error::InvalidFile {
                path: dir.clone(),
                message: format!(
                    "written by liqsim {}, this is liqsim {}: partitions of different liqsim versions are not merged; rerun the shard with this version",
                    manifest.liqsim_version,
                    env!("CARGO_PKG_VERSION")
                ),
            });
        }
        if let Some(first) = folders.first() {
            let f = &first.manifest;
            if manifest.study_id != f.study_id || manifest.shards != f.shards {
                return Err(Error::InvalidFile {
                    path: dir.clone(),
                    message: format!(
                        "belongs to study {} ({} shards), but {} to study {} ({} shards): partitions of different studies are not merged",
                        manifest.study_id,
                        manifest.shards,
                        first.dir.display(),
                        f.study_id,
                        f.shards
                    ),
                });
            }
        }
        if *index >= manifest.shards {
            return Err(Error::InvalidFile {
                path: dir.clone(),
                message: format!(
                    "shard index {index} out of range: the study has {} shards (0..={})",
                    manifest.shards,
                    manifest.shards.saturating_sub(1)
                ),
            });
        }
        let state_path = dir.join(STATE_FILE);
        let bytes = std::fs::read(&state_path).map_err(|e| Error::io("reading", &state_path, e))?;
        let state: ShardState = serde_json::from_slice(&bytes).map_err(|e| Error::InvalidFile {
            path: state_path.clone(),
            message: format!("not a shard state: {e}"),
        })?;
        if state.part.window != manifest.window
            || state.part.first != manifest.first
            || state.part.end != manifest.end
        {
            return Err(Error::InvalidFile {
                path: state_path,
                message: "its window or parameter sets differ from the manifest's".into(),
            });
        }
        let mut tables = BTreeMap::new();
        for (name, entry) in &manifest.files {
            let Some(rows) = entry.rows else { continue };
            let path = dir.join(name);
            let bytes = std::fs::read(&path).map_err(|e| Error::io("reading", &path, e))?;
            let df = read_frame(&bytes, &path.display().to_string())?;
            if df.height() as u64 != rows {
                return Err(Error::InvalidFile {
                    path,
                    message: format!("{} rows, the manifest says {rows}", df.height()),
                });
            }
            tables.insert(name.clone(), df);
        }
        folders.push(ShardFolder {
            dir: dir.clone(),
            manifest,
            state,
            tables,
        });
    }
    let shards = folders[0].manifest.shards;
    for index in 0..shards {
        if !found.contains_key(&index) {
            return Err(Error::InvalidFile {
                path: shard_dir(root, index),
                message: format!(
                    "missing partition: shard {index} of {shards} has not run (or did not finish); run `liqsim shard run PLAN {index}`"
                ),
            });
        }
    }
    Ok(folders)
}

/// One window's run in a study's outputs.
pub struct StudyWindowRun<'a> {
    /// Its label.
    pub label: &'a str,
    /// Its whole run.
    pub run: &'a StrategyRun,
    /// Its report context.
    pub context: &'a RunContext,
}

/// The study's identity in its outputs.
pub struct StudyMeta<'a> {
    /// Study id.
    pub study_id: &'a str,
    /// Study name.
    pub name: &'a str,
}

/// Writes a study's outputs into `dir` atomically: `windows/<label>/` (every window's run
/// outputs: tables, charts, report), every table of all windows with a `window` column,
/// `study_summary.parquet` and `study.json` (each parameter set per window and in total), and
/// `report.html`. With `partitions` (a merge), each table must equal the concatenation of the
/// partitions' rows, shard by shard, and hold as many rows as their manifests say: no row lost
/// or counted twice.
pub fn write_study(
    dir: &Path,
    meta: &StudyMeta<'_>,
    windows: &[StudyWindowRun<'_>],
    instances: &[Instance],
    partitions: Option<&[ShardFolder]>,
) -> Result<()> {
    let mut tables: Vec<(String, DataFrame)> = Vec::new();
    for w in windows {
        let out = RunOutputs {
            run: w.run,
            instances,
            scenario: w.label,
            context: w.context,
        };
        for (name, df) in tables_of(&out, w.label)? {
            match tables.iter_mut().find(|(n, _)| *n == name) {
                Some((_, all)) => {
                    all.vstack_mut_owned(df).map_err(|e| decode(&name, e))?;
                }
                None => tables.push((name, df)),
            }
        }
    }
    if let Some(parts) = partitions {
        check_partitions(&tables, parts)?;
    }
    let rows = crate::analytics::study::study_rows(
        &windows
            .iter()
            .map(|w| (w.label.to_string(), w.run))
            .collect::<Vec<_>>(),
        instances,
    );
    let mut files = Vec::new();
    for (name, df) in tables {
        let bytes = frame_bytes(df, &name)?;
        files.push((name, bytes));
    }
    files.push(("study_summary.parquet".into(), study_summary(&rows)?));
    files.push((
        "study.json".into(),
        study_json(meta, windows, instances, &rows)?,
    ));
    crate::output::write_atomically(dir, &files, |tmp| {
        let labels: Vec<String> = windows.iter().map(|w| w.label.to_string()).collect();
        let sets: Vec<(String, Vec<f64>)> = (0..instances.len())
            .map(|i| {
                let id = crate::strategy::param_set_id(i);
                let nets = rows
                    .iter()
                    .filter(|r| r.param_set_id == id && r.window != crate::analytics::study::TOTAL)
                    .map(|r| r.net_profit_usd)
                    .collect();
                (id, nets)
            })
            .collect();
        crate::output::charts::study_net_profit(tmp, &labels, &sets)?;
        let svg = crate::output::report::inline_svg(&tmp.join("study_net_profit.svg"))?;
        crate::data::dataset::write_file_synced(
            &tmp.join("report.html"),
            study_report(meta, windows, instances, &rows, &svg).as_bytes(),
        )?;
        for w in windows {
            crate::output::write_run_outputs(
                &tmp.join("windows").join(w.label),
                &RunOutputs {
                    run: w.run,
                    instances,
                    scenario: w.label,
                    context: w.context,
                },
            )?;
        }
        Ok(())
    })
}

/// Each table equals its partitions' rows concatenated in shard order, with the row counts the
/// manifests give.
fn check_partitions(tables: &[(String, DataFrame)], parts: &[ShardFolder]) -> Result<()> {
    for (name, table) in tables {
        let mut joined: Option<DataFrame> = None;
        let mut listed = 0u64;
        for p in parts {
            let Some(df) = p.tables.get(name) else {
                continue;
            };
            listed += p.manifest.files.get(name).and_then(|f| f.rows).unwrap_or(0);
            match &mut joined {
                Some(all) => {
                    all.vstack_mut(df).map_err(|e| decode(name, e))?;
                }
                None => joined = Some(df.clone()),
            }
        }
        let Some(joined) = joined else {
            return Err(Error::Mismatch(format!(
                "{name}: no partition holds this table"
            )));
        };
        if listed != table.height() as u64 || joined.height() != table.height() {
            return Err(Error::Mismatch(format!(
                "{name}: the partitions hold {} rows (manifests: {listed}), the merged windows {}: rows would be lost or counted twice",
                joined.height(),
                table.height()
            )));
        }
        if !joined.equals_missing(table) {
            return Err(Error::Mismatch(format!(
                "{name}: the partitions' rows differ from the merged windows' (same count, {} rows): a partition was produced from other data",
                table.height()
            )));
        }
    }
    Ok(())
}

/// `study_summary.parquet`: each parameter set per window, then its total (`window` = `total`).
fn study_summary(rows: &[StudyRow]) -> Result<Vec<u8>> {
    let text = |f: fn(&StudyRow) -> &String| rows.iter().map(|r| f(r).clone()).collect::<Vec<_>>();
    let float = |f: fn(&StudyRow) -> f64| rows.iter().map(f).collect::<Vec<f64>>();
    let int = |f: fn(&StudyRow) -> u64| rows.iter().map(f).collect::<Vec<u64>>();
    frame(
        rows.len(),
        vec![
            col("window", text(|r| &r.window)),
            col("param_set_id", text(|r| &r.param_set_id)),
            col("strategy", text(|r| &r.strategy)),
            col("params", text(|r| &r.params)),
            col("captured_bonus_usd", float(|r| r.captured_bonus_usd)),
            col("gas_spent_usd", float(|r| r.gas_spent_usd)),
            col("funding_cost_usd", float(|r| r.funding_cost_usd)),
            col("slippage_usd", float(|r| r.slippage_usd)),
            col("net_profit_usd", float(|r| r.net_profit_usd)),
            col("net_profit_base", text(|r| &r.net_profit_base)),
            col("liquidations", int(|r| r.liquidations)),
            col("opportunities", int(|r| r.opportunities)),
            col("captured", int(|r| r.captured)),
            col(
                "missed_value_after_gas_usd",
                float(|r| r.missed_value_after_gas_usd),
            ),
            col("capture_rate", float(|r| r.capture_rate)),
        ],
        "study summary table",
    )
}

/// `study.json`: the study's identity, its windows and each parameter set per window and in total.
fn study_json(
    meta: &StudyMeta<'_>,
    windows: &[StudyWindowRun<'_>],
    instances: &[Instance],
    rows: &[StudyRow],
) -> Result<Vec<u8>> {
    let json = serde_json::json!({
        "study_id": meta.study_id,
        "study": meta.name,
        "liqsim_version": env!("CARGO_PKG_VERSION"),
        "windows": windows.iter().map(|w| serde_json::json!({
            "window": w.label,
            "fidelity": w.run.fidelity,
            "opportunities": w.run.opportunities.len(),
            "what_ifs": w.run.what_ifs,
            "run_id": w.context.run_id(instances),
        })).collect::<Vec<_>>(),
        "param_sets": instances.iter().enumerate().map(|(i, inst)| serde_json::json!({
            "param_set_id": crate::strategy::param_set_id(i),
            "strategy": inst.kind,
            "params": inst.params,
        })).collect::<Vec<_>>(),
        "rows": rows,
    });
    serde_json::to_vec_pretty(&json).map_err(|e| decode("study.json", e))
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The study's page: every window's headline figures (and its own report beside), and each
/// parameter set's net profit and captures side by side per window and in total.
fn study_report(
    meta: &StudyMeta<'_>,
    windows: &[StudyWindowRun<'_>],
    instances: &[Instance],
    rows: &[StudyRow],
    chart_svg: &str,
) -> String {
    use crate::units::thousands;
    let mut head = String::from("<tr><th>set</th><th>strategy</th><th>swept parameters</th>");
    for w in windows {
        head.push_str(&format!(
            "<th>{} net</th><th>{} captured</th>",
            escape(w.label),
            escape(w.label)
        ));
    }
    head.push_str("<th>total net</th><th>total captured</th><th>total capture rate</th></tr>");
    let mut body = String::new();
    for (i, inst) in instances.iter().enumerate() {
        let id = crate::strategy::param_set_id(i);
        body.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td title=\"{}\">{}</td>",
            escape(&id),
            escape(&inst.kind),
            escape(&inst.params_text()),
            escape(&crate::analytics::summary::swept_text(inst, instances))
        ));
        for r in rows.iter().filter(|r| r.param_set_id == id) {
            if r.window == crate::analytics::study::TOTAL {
                body.push_str(&format!(
                    "<td><b>{}</b></td><td><b>{}/{}</b></td><td>{:.1}%</td>",
                    thousands(r.net_profit_usd, 0),
                    r.captured,
                    r.opportunities,
                    r.capture_rate * 100.0
                ));
            } else {
                body.push_str(&format!(
                    "<td>{}</td><td>{}/{}</td>",
                    thousands(r.net_profit_usd, 0),
                    r.captured,
                    r.opportunities
                ));
            }
        }
        body.push_str("</tr>\n");
    }
    let list = windows
        .iter()
        .map(|w| {
            let f = &w.run.fidelity;
            format!(
                "<li><b>{label}</b>: {blocks} blocks, {txs} transactions, {matched} receipts matched ({pct:.1}%), {opps} opportunities, {whatifs} what-ifs; run <code>{run_id}</code>; its report: <code>windows/{label}/report.html</code></li>",
                label = escape(w.label),
                blocks = thousands(f.blocks as f64, 0),
                txs = thousands(f.transactions as f64, 0),
                matched = thousands(f.receipts_matched as f64, 0),
                pct = f.matched_percent(),
                opps = thousands(w.run.opportunities.len() as f64, 0),
                whatifs = thousands(w.run.what_ifs as f64, 0),
                run_id = w.context.run_id(instances),
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    format!(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>liqsim study — {name}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1400px;color:#222}}table{{border-collapse:collapse;font-size:13px}}td,th{{border:1px solid #bbb;padding:3px 6px;text-align:right}}td:nth-child(-n+3){{text-align:left}}figure{{margin:1.5em 0}}figure svg{{max-width:100%;height:auto}}</style>
</head><body>
<h1>liqsim study: {name}</h1>
<p>Study <code>{id}</code>, liqsim {version}: {n} windows × {sets} parameter sets. Every window ran every set over one replay of its own; each window's full report (methodology, charts) is in <code>windows/&lt;window&gt;/report.html</code>.</p>
<h2>Windows</h2>
<ul>
{list}
</ul>
<h2>Net profit (USD) and captures per window and in total</h2>
<p>Net profit = captured bonus − gas − funding − slippage; the total sums the exact values of every window's liquidations. The set id joins every table (<code>param_set_id</code>; <code>window</code> names the window).</p>
<table>{head}
{body}</table>
<figure id="study_net_profit">{chart_svg}<figcaption><b>Figure 1.</b> Net profit (USD) of every parameter set on each window, side by side (also <code>study_net_profit.svg</code>, <code>.png</code>).</figcaption></figure>
<h2>Files beside this page</h2>
<ul>
<li>every table of a run (<code>actions.parquet</code>, <code>missed.parquet</code>, ...) over all windows, with a <code>window</code> column</li>
<li><code>study_net_profit.svg</code> and <code>.png</code>: the figure above</li>
<li><code>study_summary.parquet</code>, <code>study.json</code>: each parameter set per window and in total (<code>window</code> = <code>total</code>)</li>
<li><code>windows/&lt;window&gt;/</code>: each window's run outputs, as <code>liqsim run</code> writes them</li>
</ul>
</body></html>
"#,
        name = escape(meta.name),
        id = escape(meta.study_id),
        version = env!("CARGO_PKG_VERSION"),
        n = windows.len(),
        sets = instances.len(),
    )
}
