//! Monte Carlo over seeds: each parameter set's net profit across devnet windows built from
//! different seeds, as mean, p5 and p95, so a difference between strategies comes with its spread.

use serde::Serialize;

use crate::analytics::summary::SummaryRow;
use crate::strategy::Instance;

/// One parameter set's spread over the seeds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SeedSpread {
    /// Parameter-set id.
    pub param_set_id: String,
    /// Strategy kind.
    pub strategy: String,
    /// Parameters, `key=value;...`.
    pub params: String,
    /// Seeds run.
    pub seeds: usize,
    /// Mean net profit, USD.
    pub mean_net_profit_usd: f64,
    /// 5th percentile of net profit (linear interpolation between order statistics), USD.
    pub p5_net_profit_usd: f64,
    /// 95th percentile of net profit, USD.
    pub p95_net_profit_usd: f64,
    /// Sample standard deviation of net profit, USD.
    pub std_net_profit_usd: f64,
    /// Mean capture rate.
    pub mean_capture_rate: f64,
}

/// The `q` quantile (0..=1) of `sorted` values, linear between order statistics.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    match sorted.len() {
        0 => 0.0,
        1 => sorted[0],
        n => {
            let pos = q.clamp(0.0, 1.0) * (n - 1) as f64;
            let lo = pos.floor() as usize;
            let hi = (lo + 1).min(n - 1);
            sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
        }
    }
}

/// Each parameter set's spread over `per_seed` (`(seed, summary rows in set order)`).
pub fn spread(per_seed: &[(u64, Vec<SummaryRow>)]) -> Vec<SeedSpread> {
    let sets = per_seed.first().map(|(_, rows)| rows.len()).unwrap_or(0);
    (0..sets)
        .map(|i| {
            let rows: Vec<&SummaryRow> = per_seed.iter().filter_map(|(_, r)| r.get(i)).collect();
            let mut net: Vec<f64> = rows.iter().map(|r| r.net_profit_usd).collect();
            net.sort_by(f64::total_cmp);
            let n = net.len().max(1) as f64;
            let mean = net.iter().sum::<f64>() / n;
            let var = if net.len() > 1 {
                net.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (net.len() - 1) as f64
            } else {
                0.0
            };
            let first = rows.first();
            SeedSpread {
                param_set_id: crate::strategy::param_set_id(i),
                strategy: first.map(|r| r.strategy.clone()).unwrap_or_default(),
                params: first.map(|r| r.params.clone()).unwrap_or_default(),
                seeds: net.len(),
                mean_net_profit_usd: mean,
                p5_net_profit_usd: quantile(&net, 0.05),
                p95_net_profit_usd: quantile(&net, 0.95),
                std_net_profit_usd: var.sqrt(),
                mean_capture_rate: rows.iter().map(|r| r.capture_rate).sum::<f64>() / n,
            }
        })
        .collect()
}

/// The terminal table of a seed sweep: set id, strategy, swept parameters, mean, p5, p95.
pub fn table(rows: &[SeedSpread], instances: &[Instance]) -> String {
    use crate::units::thousands;
    let labels: Vec<String> = instances
        .iter()
        .map(|i| crate::analytics::summary::swept_text(i, instances))
        .collect();
    let kind = rows
        .iter()
        .map(|r| r.strategy.len())
        .max()
        .unwrap_or(0)
        .max(8);
    let params = labels.iter().map(|l| l.len()).max().unwrap_or(0).max(5);
    let mut out = format!(
        "{:<3} {:<kind$} {:<params$} {:>5} {:>12} {:>12} {:>12} {:>7}\n",
        "set", "strategy", "swept", "seeds", "mean net", "p5 net", "p95 net", "capture"
    );
    for (i, r) in rows.iter().enumerate() {
        out.push_str(&format!(
            "{:<3} {:<kind$} {:<params$} {:>5} {:>12} {:>12} {:>12} {:>6.1}%\n",
            r.param_set_id,
            r.strategy,
            labels.get(i).map(String::as_str).unwrap_or(""),
            r.seeds,
            thousands(r.mean_net_profit_usd, 0),
            thousands(r.p5_net_profit_usd, 0),
            thousands(r.p95_net_profit_usd, 0),
            r.mean_capture_rate * 100.0
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::quantile;

    #[test]
    fn quantiles_interpolate() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(quantile(&v, 0.5), 3.0);
        assert!((quantile(&v, 0.05) - 1.2).abs() < 1e-12);
        assert!((quantile(&v, 0.95) - 4.8).abs() < 1e-12);
        assert_eq!(quantile(&[7.0], 0.95), 7.0);
    }
}
