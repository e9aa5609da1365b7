//! Outputs of a run, written atomically into `out/<scenario>/`: the files of [`OUTPUTS`] (Parquet
//! tables, `summary.json`), the charts of [`charts::CHARTS`], and `report.html`, which lists both.
//! A new output is one [`Output`] and one line in [`OUTPUTS`].

pub mod charts;
pub mod json;
pub mod parquet;
pub mod report;

use std::fs;
use std::path::{Path, PathBuf};

use crate::analytics::result::StrategyRun;
use crate::error::{Error, Result};
use crate::strategy::Instance;

/// What every output of a run is made from.
pub struct RunOutputs<'a> {
    /// The run.
    pub run: &'a StrategyRun,
    /// Its strategy instances, in run order.
    pub instances: &'a [Instance],
    /// The scenario's name.
    pub scenario: &'a str,
}

/// One file of a run's outputs.
pub trait Output: Sync {
    /// File name inside the output folder.
    fn file_name(&self) -> &'static str;
    /// What it holds.
    fn description(&self) -> &'static str;
    /// Its bytes.
    fn render(&self, out: &RunOutputs<'_>) -> Result<Vec<u8>>;
}

/// Every file output, in writing order (the charts and `report.html` follow).
pub const OUTPUTS: &[&dyn Output] = &[
    &parquet::OpportunitiesTable,
    &parquet::ActionsTable,
    &parquet::MissedTable,
    &parquet::SummaryTable,
    &parquet::BlocksTable,
    &parquet::CapitalTable,
    &json::SummaryJson,
];

/// Writes a run's outputs into `dir` atomically: every file of [`OUTPUTS`], every chart, and
/// `report.html`.
pub fn write_outputs(
    dir: &Path,
    run: &StrategyRun,
    instances: &[Instance],
    scenario: &str,
) -> Result<()> {
    let out = RunOutputs {
        run,
        instances,
        scenario,
    };
    let files = OUTPUTS
        .iter()
        .map(|o| Ok((o.file_name().to_string(), o.render(&out)?)))
        .collect::<Result<Vec<_>>>()?;
    write_atomically(dir, &files, |tmp| {
        let charts = charts::write_charts(tmp, run, instances)?;
        let html = report::html(&out, &charts);
        crate::data::dataset::write_file_synced(&tmp.join("report.html"), html.as_bytes())
    })
}

/// Checks, before any work starts, that `dir`'s parent can be written.
pub fn check_writable(dir: &Path) -> Result<()> {
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    fs::create_dir_all(parent).map_err(|e| Error::io("creating output folder", parent, e))?;
    let probe = parent.join(format!(".liqsim-write-probe-{}", std::process::id()));
    fs::write(&probe, b"").map_err(|e| Error::io("writing into output folder", parent, e))?;
    let _ = fs::remove_file(&probe);
    Ok(())
}

/// Writes `files` (name → bytes) into `dir` atomically: a sibling temporary folder is filled
/// (`extra` may write more into it), then renamed over `dir`, so readers never see a half-written
/// output; on any error the temporary folder is removed and `dir` is left as it was.
pub fn write_atomically(
    dir: &Path,
    files: &[(String, Vec<u8>)],
    extra: impl FnOnce(&Path) -> Result<()>,
) -> Result<()> {
    let tmp = PathBuf::from(format!("{}.tmp-{}", dir.display(), std::process::id()));
    let _ = fs::remove_dir_all(&tmp);
    fs::create_dir_all(&tmp).map_err(|e| Error::io("creating", &tmp, e))?;
    let filled = files
        .iter()
        .try_for_each(|(name, bytes)| {
            crate::data::dataset::write_file_synced(&tmp.join(name), bytes)
        })
        .and_then(|()| extra(&tmp));
    if let Err(e) = filled {
        let _ = fs::remove_dir_all(&tmp);
        return Err(e);
    }
    if dir.exists() {
        fs::remove_dir_all(dir).map_err(|e| Error::io("replacing", dir, e))?;
    }
    fs::rename(&tmp, dir).map_err(|e| Error::io("moving into place", dir, e))
}
