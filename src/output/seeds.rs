//! Outputs of `liqsim run --seeds`: `seeds.parquet` (every seed × parameter set) and
//! `seeds_summary.parquet` (each set's mean, p5, p95), written atomically.

use std::path::Path;

use crate::analytics::seeds::SeedSpread;
use crate::analytics::summary::SummaryRow;
use crate::error::Result;
use crate::output::parquet::{col, frame};
use crate::strategy::Instance;

/// Writes the seed sweep's tables into `dir`.
pub fn write(
    dir: &Path,
    instances: &[Instance],
    per_seed: &[(u64, Vec<SummaryRow>)],
    spread: &[SeedSpread],
) -> Result<()> {
    let rows: Vec<(u64, &SummaryRow)> = per_seed
        .iter()
        .flat_map(|(seed, rows)| rows.iter().map(move |r| (*seed, r)))
        .collect();
    let seeds = frame(
        rows.len(),
        vec![
            col("seed", rows.iter().map(|r| r.0).collect::<Vec<u64>>()),
            col(
                "param_set_id",
                rows.iter()
                    .map(|r| r.1.param_set_id.clone())
                    .collect::<Vec<_>>(),
            ),
            col(
                "strategy",
                rows.iter()
                    .map(|r| r.1.strategy.clone())
                    .collect::<Vec<_>>(),
            ),
            col(
                "params",
                rows.iter().map(|r| r.1.params.clone()).collect::<Vec<_>>(),
            ),
            col(
                "net_profit_usd",
                rows.iter()
                    .map(|r| r.1.net_profit_usd)
                    .collect::<Vec<f64>>(),
            ),
            col(
                "captured",
                rows.iter().map(|r| r.1.captured).collect::<Vec<u64>>(),
            ),
            col(
                "opportunities",
                rows.iter().map(|r| r.1.opportunities).collect::<Vec<u64>>(),
            ),
            col(
                "capture_rate",
                rows.iter().map(|r| r.1.capture_rate).collect::<Vec<f64>>(),
            ),
        ],
        "seeds table",
    )?;
    let summary = frame(
        spread.len(),
        vec![
            col(
                "param_set_id",
                spread
                    .iter()
                    .map(|r| r.param_set_id.clone())
                    .collect::<Vec<_>>(),
            ),
            col(
                "strategy",
                spread
                    .iter()
                    .map(|r| r.strategy.clone())
                    .collect::<Vec<_>>(),
            ),
            col(
                "params",
                spread.iter().map(|r| r.params.clone()).collect::<Vec<_>>(),
            ),
            col(
                "seeds",
                spread.iter().map(|r| r.seeds as u64).collect::<Vec<u64>>(),
            ),
            col(
                "mean_net_profit_usd",
                spread
                    .iter()
                    .map(|r| r.mean_net_profit_usd)
                    .collect::<Vec<f64>>(),
            ),
            col(
                "p5_net_profit_usd",
                spread
                    .iter()
                    .map(|r| r.p5_net_profit_usd)
                    .collect::<Vec<f64>>(),
            ),
            col(
                "p95_net_profit_usd",
                spread
                    .iter()
                    .map(|r| r.p95_net_profit_usd)
                    .collect::<Vec<f64>>(),
            ),
            col(
                "std_net_profit_usd",
                spread
                    .iter()
                    .map(|r| r.std_net_profit_usd)
                    .collect::<Vec<f64>>(),
            ),
            col(
                "mean_capture_rate",
                spread
                    .iter()
                    .map(|r| r.mean_capture_rate)
                    .collect::<Vec<f64>>(),
            ),
        ],
        "seeds summary table",
    )?;
    let _ = instances;
    let json = serde_json::to_vec_pretty(&serde_json::json!({ "seeds": per_seed.iter().map(|s| s.0).collect::<Vec<_>>(), "spread": spread }))
        .map_err(|e| crate::error::Error::Decode { what: "seeds.json".into(), message: e.to_string() })?;
    crate::output::write_atomically(
        dir,
        &[
            ("seeds.parquet".to_string(), seeds),
            ("seeds_summary.parquet".to_string(), summary),
            ("seeds.json".to_string(), json),
        ],
        |_| Ok(()),
    )
}
