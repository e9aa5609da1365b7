//! Outputs of a run, written atomically into `out/<scenario>/`: the files of [`OUTPUTS`] (Parquet
//! tables, `summary.json`), the charts of [`charts::CHARTS`], and `report.html`, which lists both.
//! A new output is one [`Output`] and one line in [`OUTPUTS`].

pub mod charts;
pub mod json;
pub mod parquet;
pub mod report;

use std::path::Path;

use crate::analytics::result::StrategyRun;
use crate::error::Result;
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

/// Checks, before any work starts, that liqsim may write `dir`: absent, empty or an output
/// folder liqsim wrote (see [`crate::data::folder::check_replaceable`]), with a writable parent.
pub fn check_writable(dir: &Path) -> Result<()> {
    crate::data::folder::check_replaceable(dir, crate::data::folder::FolderKind::Output)
}

/// Writes `files` (name → bytes) into `dir` atomically: a sibling temporary folder is filled
/// (`extra` may write more into it), then swapped in for `dir` under a lock
/// ([`crate::data::folder::replace`]), so readers never see a half-written output; a folder
/// liqsim did not write is refused, and on any error `dir` is left as it was.
pub fn write_atomically(
    dir: &Path,
    files: &[(String, Vec<u8>)],
    extra: impl FnOnce(&Path) -> Result<()>,
) -> Result<()> {
    crate::data::folder::replace(dir, crate::data::folder::FolderKind::Output, |tmp| {
        files.iter().try_for_each(|(name, bytes)| {
            crate::data::dataset::write_file_synced(&tmp.join(name), bytes)
        })?;
        extra(tmp)
    })
}
