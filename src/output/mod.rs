//! Outputs of a run, written atomically into `out/<scenario>/`: the files of [`OUTPUTS`] (Parquet
//! tables, `summary.json`), the charts of [`charts::CHARTS`], and `report.html`, which lists both.
//! A new output is one [`Output`] and one line in [`OUTPUTS`].

pub mod charts;
pub mod json;
pub mod parquet;
pub mod report;
pub mod seeds;
pub mod study;

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
    /// Where the run came from (hashes, command line, methodology).
    pub context: &'a RunContext,
}

/// Where a run came from: what `run.json` and the report's methodology say. Nothing in it reads
/// the clock, so the same scenario and data give byte-identical outputs.
#[derive(Debug, Clone, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct RunContext {
    /// sha256 of the scenario's canonical form.
    pub scenario_sha256: String,
    /// sha256 of the dataset's `manifest.json` (which holds every file's sha256).
    pub dataset_sha256: String,
    /// The command line, as typed.
    pub command_line: Vec<String>,
    /// Methodology, `(topic, text)` in report order.
    pub methodology: Vec<(String, String)>,
    /// Findings of `liqsim check` about the scenario (warnings shown in the report).
    pub warnings: Vec<String>,
    /// The window's first block timestamp (the report's time axes are UTC from it).
    pub start_timestamp: u64,
}

impl RunContext {
    /// The run id: the first 16 hex digits of sha256(scenario hash, dataset hash, liqsim version,
    /// parameter sets), so a rerun of the same inputs has the same id.
    pub fn run_id(&self, instances: &[Instance]) -> String {
        use sha2::Digest;
        let mut h = sha2::Sha256::new();
        h.update(self.scenario_sha256.as_bytes());
        h.update(b"|");
        h.update(self.dataset_sha256.as_bytes());
        h.update(b"|");
        h.update(env!("CARGO_PKG_VERSION").as_bytes());
        for i in instances {
            h.update(b"|");
            h.update(i.kind.as_bytes());
            h.update(i.params_text().as_bytes());
        }
        hex::encode(h.finalize())[..16].to_string()
    }
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
    &parquet::TokensTable,
    &json::SummaryJson,
    &json::RunJson,
];

/// Writes a run's outputs into `dir` atomically: every file of [`OUTPUTS`], every chart, and
/// `report.html`.
pub fn write_outputs(
    dir: &Path,
    run: &StrategyRun,
    instances: &[Instance],
    scenario: &str,
) -> Result<()> {
    let context = RunContext::default();
    write_run_outputs(
        dir,
        &RunOutputs {
            run,
            instances,
            scenario,
            context: &context,
        },
    )
}

/// [`write_outputs`] with the run's context (hashes, command line, methodology).
pub fn write_run_outputs(dir: &Path, out: &RunOutputs<'_>) -> Result<()> {
    let (run, instances) = (out.run, out.instances);
    let files = OUTPUTS
        .iter()
        .map(|o| Ok((o.file_name().to_string(), o.render(out)?)))
        .collect::<Result<Vec<_>>>()?;
    write_atomically(dir, &files, |tmp| {
        let charts = charts::write_charts(tmp, run, instances, out.context.start_timestamp)?;
        let html = report::html(out, &charts, tmp)?;
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
