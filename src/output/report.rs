//! `report.html`: one self-contained page a researcher can paste from — methodology, the summary
//! table, and every chart inlined as SVG with its caption. It references nothing outside itself
//! (no links, images or scripts from elsewhere: tested in Chromium).

use std::path::Path;

use crate::error::{Error, Result};
use crate::output::charts::CHARTS;
use crate::output::{RunOutputs, OUTPUTS};
use crate::units::thousands;

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// An SVG file's `<svg>` element, for inlining (an XML declaration, if any, dropped).
pub(crate) fn inline_svg(path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io("reading chart", path, e))?;
    let start = text.find("<svg").ok_or_else(|| Error::Decode {
        what: path.display().to_string(),
        message: "no <svg> element".into(),
    })?;
    Ok(text[start..].to_string())
}

/// The report page; `charts` are file names written into `dir` (the SVGs are inlined).
pub fn html(out: &RunOutputs<'_>, charts: &[String], dir: &Path) -> Result<String> {
    let RunOutputs {
        run,
        instances,
        scenario,
        context,
    } = *out;
    let f = &run.fidelity;
    let listed = OUTPUTS
        .iter()
        .map(|o| {
            format!(
                "<li><code>{}</code>: {}</li>",
                o.file_name(),
                escape(o.description())
            )
        })
        .collect::<Vec<_>>()
        .join("\n");
    let mut rows = String::new();
    for (i, s) in run.summary.iter().enumerate() {
        let all = instances
            .get(i)
            .map(|i| i.params_text())
            .unwrap_or_default();
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td title=\"{}\">{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}/{}</td><td>{}</td><td>{:.1}%</td></tr>\n",
            escape(&s.param_set_id),
            escape(&s.strategy),
            escape(&all),
            escape(&instances.get(i).map(|inst| crate::analytics::summary::swept_text(inst, instances)).unwrap_or_default()),
            thousands(s.captured_bonus_usd, 0),
            thousands(s.gas_spent_usd, 0),
            thousands(s.funding_cost_usd, 0),
            thousands(s.slippage_usd, 0),
            thousands(s.net_profit_usd, 0),
            thousands(s.liquidations as f64, 0),
            s.captured,
            s.opportunities,
            thousands(s.missed_value_after_gas_usd, 0),
            s.capture_rate * 100.0
        ));
    }
    let mut figures = String::new();
    let mut number = 0;
    for chart in CHARTS {
        let file = format!("{}.svg", chart.name);
        if !charts.contains(&file) {
            continue;
        }
        number += 1;
        figures.push_str(&format!(
            "<figure id=\"{name}\" data-chart=\"{name}\">{svg}<figcaption><b>Figure {number}.</b> {caption}</figcaption></figure>\n",
            name = chart.name,
            svg = inline_svg(&dir.join(&file))?,
            caption = escape(chart.caption),
        ));
    }
    let methodology = context
        .methodology
        .iter()
        .map(|(k, v)| format!("<dt>{}</dt><dd>{}</dd>", escape(k), escape(v)))
        .collect::<Vec<_>>()
        .join("\n");
    let warnings = if context.warnings.is_empty() {
        String::new()
    } else {
        format!(
            "<h2>Scenario warnings (<code>liqsim check</code>)</h2><ul>{}</ul>",
            context
                .warnings
                .iter()
                .map(|w| format!("<li>{}</li>", escape(w)))
                .collect::<String>()
        )
    };
    Ok(format!(
        r#"<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>liqsim report — {scenario}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1100px;color:#222}}table{{border-collapse:collapse;font-size:13px}}td,th{{border:1px solid #bbb;padding:3px 6px;text-align:right}}td:nth-child(-n+3){{text-align:left}}figure{{margin:1.5em 0}}figure svg{{max-width:100%;height:auto}}figcaption{{font-size:14px;margin-top:.3em}}dt{{font-weight:bold;margin-top:.4em}}dd{{margin-left:1.5em}}</style>
</head><body>
<h1>liqsim report: {scenario}</h1>
<p>Run <code>{run_id}</code>, liqsim {version}. Replayed {blocks} blocks and {txs} transactions ({mgas:.1} Mgas); {matched} receipts matched ({pct:.1}%).
{opps} liquidation opportunities; {whatifs} decisions executed in the EVM (what-if). All amounts in USD at the oracle price.</p>
<h2>Methodology</h2>
<dl>
{methodology}
<dt>Reproducibility</dt><dd>liqsim {version}; scenario sha256 <code>{scenario_sha}</code> (canonical form); dataset sha256 <code>{dataset_sha}</code> (its manifest, which holds every file's hash); run id <code>{run_id}</code> derives from these, so rerunning the same scenario on the same data gives byte-identical outputs. The report carries no wall-clock date: its date is the data's (above).</dd>
</dl>
{warnings}
<h2>Summary per strategy and parameter set</h2>
<p>Net profit = captured bonus − gas − funding − slippage. "Missed after gas" values each missed opportunity's best bonus minus the gas that set would have paid. Hover a row's swept parameters for all of them; the set id joins every table (<code>param_set_id</code>).</p>
<table><tr><th>set</th><th>strategy</th><th>swept parameters</th><th>bonus</th><th>gas</th><th>funding</th><th>slippage</th><th>net profit</th><th>liquidations</th><th>captured</th><th>missed after gas</th><th>capture rate</th></tr>
{rows}</table>
<h2>Charts</h2>
{figures}
<h2>Files beside this page</h2>
<ul>
{listed}
<li>each chart as <code>.svg</code> and <code>.png</code></li>
</ul>
</body></html>
"#,
        scenario = escape(scenario),
        run_id = context.run_id(instances),
        version = env!("CARGO_PKG_VERSION"),
        scenario_sha = escape(&context.scenario_sha256),
        dataset_sha = escape(&context.dataset_sha256),
        blocks = thousands(f.blocks as f64, 0),
        txs = thousands(f.transactions as f64, 0),
        mgas = f.gas_used as f64 / 1e6,
        matched = thousands(f.receipts_matched as f64, 0),
        pct = f.matched_percent(),
        opps = thousands(run.opportunities.len() as f64, 0),
        whatifs = thousands(run.what_ifs as f64, 0),
    ))
}
