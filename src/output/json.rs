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

/// `run.json`: the run id, the scenario's and dataset's hashes, liqsim's version, the command line.
pub struct RunJson;

impl Output for RunJson {
    fn file_name(&self) -> &'static str {
        "run.json"
    }
    fn description(&self) -> &'static str {
        "run id, scenario and dataset hashes, liqsim version, command line, parameter sets"
    }
    fn render(&self, out: &RunOutputs<'_>) -> Result<Vec<u8>> {
        let c = out.context;
        let sets: Vec<serde_json::Value> = out
            .instances
            .iter()
            .enumerate()
            .map(|(i, inst)| {
                serde_json::json!({
                    "param_set_id": crate::strategy::param_set_id(i),
                    "strategy": inst.kind,
                    "params": inst.params,
                })
            })
            .collect();
        let json = serde_json::json!({
            "run_id": c.run_id(out.instances),
            "scenario": out.scenario,
            "scenario_sha256": c.scenario_sha256,
            "dataset_sha256": c.dataset_sha256,
            "liqsim_version": env!("CARGO_PKG_VERSION"),
            "command_line": c.command_line,
            "param_sets": sets,
            "swept_params": crate::strategy::swept_params(out.instances),
        });
        serde_json::to_vec_pretty(&json).map_err(|e| Error::Decode {
            what: "run.json".into(),
            message: e.to_string(),
        })
    }
}
