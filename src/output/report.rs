//! `report.html`: the charts and the summary table in one page that opens from disk.

use crate::output::{RunOutputs, OUTPUTS};

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The report page; `charts` are file names in the same folder (the SVGs are shown).
pub fn html(out: &RunOutputs<'_>, charts: &[String]) -> String {
    let RunOutputs {
        run,
        instances,
        scenario,
    } = *out;
    let f = &run.fidelity;
    let listed = OUTPUTS
        .iter()
        .map(|o| o.file_name())
        .collect::<Vec<_>>()
        .join(", ");
    let mut rows = String::new();
    for (i, s) in run.summary.iter().enumerate() {
        rows.push_str(&format!(
            "<tr><td>{}</td><td><code>{}</code></td><td>{:.2}</td><td>{:.4}</td><td>{:.2}</td><td>{:.2}</td><td>{:.2}</td><td>{:.2}</td><td>{}</td><td>{}/{}</td><td>{:.2}</td><td>{:.1}%</td></tr>\n",
            escape(&instances[i].kind),
            escape(&s.params),
            s.captured_bonus_usd,
            s.gas_spent_eth,
            s.gas_spent_usd,
            s.funding_cost_usd,
            s.slippage_usd,
            s.net_profit_usd,
            s.liquidations,
            s.captured,
            s.opportunities,
            s.missed_value_usd,
            s.capture_rate * 100.0
        ));
    }
    let mut figures = String::new();
    for chart in charts.iter().filter(|c| c.ends_with(".svg")) {
        let png = chart.trim_end_matches(".svg").to_string() + ".png";
        figures.push_str(&format!(
            "<figure><img src=\"{}\" alt=\"{}\" width=\"1000\"><figcaption>{} (<a href=\"{}\">PNG</a>)</figcaption></figure>\n",
            escape(chart),
            escape(chart),
            escape(chart.trim_end_matches(".svg")),
            escape(&png)
        ));
    }
    format!(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>liqsim report — {scenario}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1100px}}table{{border-collapse:collapse;font-size:13px}}td,th{{border:1px solid #bbb;padding:3px 6px;text-align:right}}td:nth-child(-n+2){{text-align:left}}td:nth-child(2){{max-width:300px;word-break:break-all}}figure{{margin:1.5em 0}}</style>
</head><body>
<h1>liqsim report</h1>
<p>Scenario <code>{scenario}</code>. Replayed {blocks} blocks and {txs} transactions ({mgas:.1} Mgas); {matched} receipts matched ({pct:.1}%).
{opps} liquidation opportunities; {whatifs} decisions executed in the EVM (what-if).</p>
<h2>Summary per strategy and parameters</h2>
<table><tr><th>strategy</th><th>params</th><th>captured bonus USD</th><th>gas ETH</th><th>gas USD</th><th>funding USD</th><th>slippage USD</th><th>net profit USD</th><th>liquidations</th><th>captured</th><th>missed value USD</th><th>capture rate</th></tr>
{rows}</table>
<h2>Charts</h2>
{figures}
<p>Outputs beside this page: {listed}.</p>
</body></html>
"#,
        scenario = escape(scenario),
        blocks = f.blocks,
        txs = f.transactions,
        mgas = f.gas_used as f64 / 1e6,
        matched = f.receipts_matched,
        pct = f.matched_percent(),
        opps = run.opportunities.len(),
        whatifs = run.what_ifs,
    )
}
