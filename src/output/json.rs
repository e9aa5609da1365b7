//! `summary.json`: the run's headline figures and every instance's summary, for scripts.

use crate::error::{Error, Result};
use crate::output::{Output, RunOutputs};

/// `summary.json`.
pub struct SummaryJson;

impl Output for SummaryJson {
    fn file_name(&self) -> &'static str {
        "summary.json"
    }
    fn description(&self) -> &'static str {
        "the run's headline figures and every instance's summary"
    }
    fn render(&self, out: &RunOutputs<'_>) -> Result<Vec<u8>> {
        let run = out.run;
        let json = serde_json::json!({
            "scenario": out.scenario,
            "liqsim_version": env!("CARGO_PKG_VERSION"),
            "fidelity": run.fidelity,
            "opportunities": run.opportunities.len(),
            "what_ifs": run.what_ifs,
            "strategies": run.summary,
        });
        serde_json::to_vec_pretty(&json).map_err(|e| Error::Decode {
            what: "summary.json".into(),
            message: e.to_string(),
        })
    }
}
