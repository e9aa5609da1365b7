//! Research-grade reports (issue #16): `check` findings, rebuilds only on substantive scenario
//! changes, a self-contained report rendered in Chromium, tables joining on `param_set_id`, the
//! seed sweep's spread, and a terminal table under 100 columns.

use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::sync::OnceLock;

use clap::Parser;
use liqsim::app::cli::{Cli, Command};
use liqsim::app::run::{ensure_dataset, rebuild_reason, run_strategies};
use liqsim::output::{write_run_outputs, RunContext, RunOutputs};
use liqsim::scenario::check::{check, Level};
use liqsim::scenario::LoadedScenario;

use crate::common::aave_v3_artifacts;

fn fixture_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/small-crash.toml")
}

fn fixture_text() -> String {
    std::fs::read_to_string(fixture_path()).unwrap()
}

fn tmp(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("reports-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The small fixture's dataset and a run's outputs (with a full context), built once.
fn outputs() -> &'static (PathBuf, PathBuf) {
    static OUT: OnceLock<(PathBuf, PathBuf)> = OnceLock::new();
    OUT.get_or_init(|| {
        let root = tmp("run");
        let loaded = LoadedScenario::from_file(&fixture_path()).unwrap();
        let dataset = ensure_dataset(&loaded, aave_v3_artifacts(), &root.join("datasets")).unwrap();
        let window = liqsim::data::dataset::read_dataset(&dataset).unwrap();
        let run = run_strategies(
            &window,
            &loaded.instances,
            &loaded.scenario.dex,
            true,
            false,
        )
        .unwrap();
        let context = RunContext {
            scenario_sha256: loaded.sha256.clone(),
            dataset_sha256: "test".into(),
            command_line: vec!["liqsim".into(), "run".into()],
            methodology: liqsim::app::run::methodology(&loaded),
            warnings: vec![],
            start_timestamp: loaded.scenario.window.start_timestamp,
        };
        let out = root.join("out");
        write_run_outputs(
            &out,
            &RunOutputs {
                run: &run,
                instances: &loaded.instances,
                scenario: &loaded.source,
                context: &context,
            },
        )
        .unwrap();
        (dataset, out)
    })
}

#[test]
fn check_reports_a_path_far_from_price_usd_and_points_outside_the_window() {
    // WETH set up at 3400 but its path starts at 194; points before and after the window.
    let text = fixture_text()
        .replace(
            "{ t = 0,     symbol = \"WETH\", price_usd = \"3400\" },",
            "{ t = 0,     symbol = \"WETH\", price_usd = \"194\" },",
        )
        .replace(
            "{ t = 3600, symbol = \"WETH\", price_usd = \"2580\" },",
            "{ t = 3600, symbol = \"WETH\", price_usd = \"2580\" },\n  { t = 90000, symbol = \"WETH\", price_usd = \"2600\" },",
        );
    assert!(text.contains("\"194\"") && text.contains("90000"));
    let loaded = LoadedScenario::from_text(&text, "far.toml", None).unwrap();
    let findings = check(&loaded);
    let text_of = |f: &liqsim::scenario::check::Finding| f.to_string();
    let far = findings
        .iter()
        .find(|f| f.level == Level::Warning && f.field == "market.assets[0].price_usd")
        .unwrap_or_else(|| panic!("no far-from-price_usd warning: {findings:?}"));
    assert!(
        text_of(far).contains("3,400") && text_of(far).contains("194"),
        "{far}"
    );
    let after = findings
        .iter()
        .find(|f| {
            f.level == Level::Warning
                && f.field == "prices.WETH"
                && f.message.contains("after the window")
        })
        .unwrap_or_else(|| panic!("no after-the-window warning: {findings:?}"));
    assert!(after.message.starts_with("2 of 8 points"), "{after}");
    let span = &findings[0];
    assert_eq!(span.field, "window");
    assert!(span.message.contains("2021-05-19 04:00 UTC"), "{span}");
    // the unmodified fixture has no far-from-start warning
    let plain = check(&LoadedScenario::from_file(&fixture_path()).unwrap());
    assert!(
        !plain.iter().any(|f| f.field.starts_with("market.assets")),
        "{plain:?}"
    );
    // relative CSV timestamps
    let dir = tmp("csv");
    std::fs::write(
        dir.join("p.csv"),
        "timestamp,symbol,price_usd\n0,WETH,3400\n600,WETH,3000\n",
    )
    .unwrap();
    let text = fixture_text().replace("[prices]\n", "[prices]\ncsv = \"p.csv\"\n").replace(
        "  { t = 0,     symbol = \"WETH\", price_usd = \"3400\" },\n  { t = 900,  symbol = \"WETH\", price_usd = \"3180\" },\n  { t = 1800, symbol = \"WETH\", price_usd = \"2950\" },\n  { t = 2475, symbol = \"WETH\", price_usd = \"2500\" },\n  { t = 2812, symbol = \"WETH\", price_usd = \"2040\" },\n  { t = 3037, symbol = \"WETH\", price_usd = \"2300\" },\n  { t = 3600, symbol = \"WETH\", price_usd = \"2580\" },\n",
        "",
    );
    let loaded = LoadedScenario::from_text(&text, "csv.toml", Some(&dir)).unwrap();
    let findings = check(&loaded);
    assert!(
        findings
            .iter()
            .any(|f| f.message.contains("timestamps look relative")),
        "{findings:?}"
    );
    // an engine limit is an error naming the field
    let text = fixture_text().replace("gas_limit = 30000000", "gas_limit = 500000");
    let findings = check(&LoadedScenario::from_text(&text, "gas.toml", None).unwrap());
    assert!(
        findings
            .iter()
            .any(|f| f.level == Level::Error && f.field == "window.gas_limit"),
        "{findings:?}"
    );
}

#[test]
fn sweep_points_that_cannot_differ_are_warned_about() {
    let text = fixture_text().replace(
        "max_gas_price_gwei = [1, 1200]",
        "max_gas_price_gwei = [1, 1200, 1500]",
    );
    let findings = check(&LoadedScenario::from_text(&text, "sweep.toml", None).unwrap());
    assert!(
        findings
            .iter()
            .any(|f| f.field == "gas-threshold.max_gas_price_gwei"
                && f.message.contains("cannot differ")),
        "{findings:?}"
    );
}

#[test]
fn a_comment_only_edit_does_not_rebuild_and_a_real_change_names_its_key() {
    let (dataset, _) = outputs();
    let text = fixture_text();
    let root = dataset.parent().unwrap();
    let same = LoadedScenario::from_text(
        &format!(
            "# a new comment\n{}\n# and another\n",
            text.replace("seed = 20210519", "seed   =   20210519   # the seed")
        ),
        "copy.toml",
        None,
    )
    .unwrap();
    assert_eq!(rebuild_reason(&same, dataset), None);
    let manifest = std::fs::metadata(dataset.join("manifest.json"))
        .unwrap()
        .modified()
        .unwrap();
    ensure_dataset(&same, aave_v3_artifacts(), root).unwrap();
    assert_eq!(
        std::fs::metadata(dataset.join("manifest.json"))
            .unwrap()
            .modified()
            .unwrap(),
        manifest,
        "a comment-only edit rebuilt the dataset"
    );
    // strategies do not shape the dataset either
    let strategies = LoadedScenario::from_text(
        &text.replace(
            "max_gas_price_gwei = [1, 1200]",
            "max_gas_price_gwei = [5, 1200]",
        ),
        "s.toml",
        None,
    )
    .unwrap();
    assert_eq!(rebuild_reason(&strategies, dataset), None);
    let changed = LoadedScenario::from_text(
        &text.replace("priority_fee_gwei = \"1.5\"", "priority_fee_gwei = \"2.5\""),
        "changed.toml",
        None,
    )
    .unwrap();
    let reason = rebuild_reason(&changed, dataset).unwrap();
    assert!(
        reason.contains("competitors[1].priority_fee_gwei"),
        "{reason}"
    );
    let fresh = rebuild_reason(&same, &root.join("nothing-here")).unwrap();
    assert!(fresh.contains("first use"), "{fresh}");
}

#[test]
fn the_report_is_self_contained_with_methodology_and_captions() {
    let (_, out) = outputs();
    let html = std::fs::read_to_string(out.join("report.html")).unwrap();
    for external in [
        "<img", "<link", "<script", "src=", "href=", "http://", "https://", "url(",
    ] {
        // the SVG namespace is a name, not a reference
        let hits = html.matches(external).count()
            - if external == "http://" {
                html.matches("http://www.w3.org/").count()
            } else {
                0
            };
        assert_eq!(hits, 0, "report.html holds `{external}`");
    }
    for topic in [
        "Market",
        "Price path and source",
        "Base-fee path",
        "Competitors and rules",
        "Strategy parameter sets",
        "Reproducibility",
    ] {
        assert!(
            html.contains(&format!("<dt>{topic}")),
            "methodology lacks {topic}"
        );
    }
    assert!(html.contains(env!("CARGO_PKG_VERSION")));
    let figures = html.matches("<figure").count();
    assert!(figures >= 9, "{figures} figures");
    assert_eq!(html.matches("<svg").count(), figures);
    assert_eq!(html.matches("<figcaption>").count(), figures);
    let run: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("run.json")).unwrap()).unwrap();
    assert_eq!(run["run_id"].as_str().unwrap().len(), 16);
    assert!(html.contains(run["run_id"].as_str().unwrap()));
}

#[test]
fn the_tables_join_on_param_set_id() {
    use polars::prelude::*;
    let (_, out) = outputs();
    let read = |name: &str| {
        let file = std::fs::File::open(out.join(name)).unwrap();
        ParquetReader::new(file).finish().unwrap()
    };
    let summary = read("summary.parquet");
    let actions = read("actions.parquet");
    let missed = read("missed.parquet");
    let tokens = read("tokens.parquet");
    assert_eq!(tokens.height(), 4);
    assert_eq!(
        tokens.column("decimals").unwrap().u32().unwrap().get(1),
        Some(8)
    );
    let ids: std::collections::BTreeSet<String> = summary
        .column("param_set_id")
        .unwrap()
        .str()
        .unwrap()
        .iter()
        .map(|v| v.unwrap().to_string())
        .collect();
    assert_eq!(ids.len(), summary.height());
    for (name, table) in [("actions", &actions), ("missed", &missed)] {
        let set = table.column("param_set_id").unwrap().str().unwrap();
        assert!(
            set.iter().all(|v| ids.contains(v.unwrap())),
            "{name} has an unknown set id"
        );
        assert!(
            table
                .column("timestamp")
                .unwrap()
                .u64()
                .unwrap()
                .iter()
                .all(|t| t.is_some_and(|t| t >= 1_621_396_800)),
            "{name} timestamps"
        );
        // typed columns of the swept parameters
        assert_eq!(
            table.column("max_gas_price_gwei").unwrap().dtype(),
            &DataType::Float64
        );
    }
    // per set: captured + missed = opportunities, joined by id
    let opportunities = summary
        .column("opportunities")
        .unwrap()
        .u64()
        .unwrap()
        .get(0)
        .unwrap();
    let pairs = |t: &DataFrame| -> Vec<(String, u64)> {
        let set = t.column("param_set_id").unwrap().str().unwrap();
        let opp = t.column("opportunity_id").unwrap().u64().unwrap();
        set.iter()
            .zip(opp.iter())
            .map(|(s, o)| (s.unwrap().to_string(), o.unwrap()))
            .collect()
    };
    let (acted, skipped) = (pairs(&actions), pairs(&missed));
    for id in &ids {
        let captured: std::collections::BTreeSet<u64> =
            acted.iter().filter(|p| &p.0 == id).map(|p| p.1).collect();
        let missed_n = skipped.iter().filter(|p| &p.0 == id).count() as u64;
        assert_eq!(captured.len() as u64 + missed_n, opportunities, "set {id}");
    }
    let after = missed.column("value_after_gas_usd").unwrap().f64().unwrap();
    let before = missed.column("value_usd").unwrap().f64().unwrap();
    assert!(after
        .iter()
        .zip(before.iter())
        .all(|(a, b)| a.unwrap() <= b.unwrap().max(0.0) + 1e-6));
}

#[test]
fn the_default_runs_terminal_table_fits_100_columns() {
    let loaded = LoadedScenario::default_scenario().unwrap();
    let rows: Vec<_> = loaded
        .instances
        .iter()
        .enumerate()
        .map(|(i, inst)| {
            let mut r =
                liqsim::analytics::summary::summarise(i, inst, &[], &[], &[], &Default::default());
            // the widest figures a crash run shows
            r.net_profit_usd = -1_234_567.0;
            r.captured_bonus_usd = 12_345_678.0;
            r.gas_spent_usd = 1_234_567.0;
            r.funding_cost_usd = 12_345.0;
            r.slippage_usd = 123_456.0;
            r.captured = 1234;
            r.opportunities = 1234;
            r
        })
        .collect();
    let table = liqsim::analytics::summary::table(&rows, &loaded.instances);
    let widest = table.lines().map(|l| l.chars().count()).max().unwrap();
    assert!(widest <= 100, "{widest} columns:\n{table}");
    assert!(table.contains("fund") && table.contains("P01"), "{table}");
    // the default is fair: one latency and tip unless swept
    let lat: std::collections::BTreeSet<_> = loaded
        .instances
        .iter()
        .filter(|i| i.kind != "greedy")
        .map(|i| {
            (
                i.params["latency_blocks"].clone(),
                i.params["priority_fee_gwei"].clone(),
            )
        })
        .collect();
    assert_eq!(lat.len(), 1, "{lat:?}");
}

#[test]
fn seeds_report_a_spread() {
    let root = tmp("seeds");
    let fixture = fixture_path();
    let out = root.join("out");
    let cli = Cli::try_parse_from([
        "liqsim".as_ref(),
        "run".as_ref(),
        fixture.as_os_str(),
        "-d".as_ref(),
        root.join("datasets").as_os_str(),
        "-o".as_ref(),
        out.as_os_str(),
        "--seeds".as_ref(),
        "1..3".as_ref(),
        "--set".as_ref(),
        "borrowers.count=60".as_ref(),
    ])
    .unwrap();
    assert!(matches!(cli.command, Command::Run(_)));
    liqsim::app::cli::run(cli).unwrap();
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("seeds.json")).unwrap()).unwrap();
    assert_eq!(json["seeds"], serde_json::json!([1, 2, 3]));
    let spread = json["spread"].as_array().unwrap();
    assert!(!spread.is_empty());
    for s in spread {
        let (p5, mean, p95) = (
            s["p5_net_profit_usd"].as_f64().unwrap(),
            s["mean_net_profit_usd"].as_f64().unwrap(),
            s["p95_net_profit_usd"].as_f64().unwrap(),
        );
        assert!(p5 <= mean + 1e-9 && mean <= p95 + 1e-9, "{s}");
        assert_eq!(s["seeds"], 3);
    }
    assert!(
        spread
            .iter()
            .any(|s| s["p95_net_profit_usd"].as_f64().unwrap()
                > s["p5_net_profit_usd"].as_f64().unwrap()),
        "three different windows should not give identical profits: {json}"
    );
    for seed in 1..=3 {
        assert!(root
            .join(format!("datasets/small-crash-seed{seed}/manifest.json"))
            .is_file());
    }
}

#[test]
fn cli_conventions_parse() {
    let cli = Cli::try_parse_from([
        "liqsim",
        "record",
        "--rpc-url",
        "http://x",
        "--pool",
        "0x87870Bca3F3fD6335C3F4ce8392D69350B4fA4E2",
        "--blocks",
        "100:200",
        "-o",
        "d",
    ])
    .unwrap();
    let Command::Record(r) = cli.command else {
        panic!()
    };
    assert_eq!(r.blocks, Some((100, 200)));
    assert!(Cli::try_parse_from(["liqsim", "dataset", "inspect", "datasets/x"]).is_ok());
    assert!(Cli::try_parse_from(["liqsim", "inspect", "datasets/x"]).is_ok());
    let err = liqsim::app::cli::parse_blocks("200:100").unwrap_err();
    assert!(err.contains("FROM"), "{err}");
    assert_eq!(liqsim::app::cli::parse_seeds("1..20").unwrap().0.len(), 20);
    // --set overrides a value; a bad key names itself
    let text = liqsim::scenario::apply_overrides(
        &fixture_text(),
        "f",
        &[
            "window.blocks=120".into(),
            "strategies[1].max_gas_price_gwei=[5,6]".into(),
        ],
    )
    .unwrap();
    let loaded = LoadedScenario::from_text(&text, "f", None).unwrap();
    assert_eq!(loaded.scenario.window.blocks, 120);
    assert_eq!(
        loaded
            .instances
            .iter()
            .filter(|i| i.params.get("max_gas_price_gwei").is_some_and(|v| v == "5"))
            .count(),
        2
    );
    let err =
        liqsim::scenario::apply_overrides(&fixture_text(), "f", &["strategies[9].x=1".into()])
            .unwrap_err()
            .to_string();
    assert!(err.contains("strategies[9]"), "{err}");
    use clap::CommandFactory;
    let mut cmd = Cli::command();
    for sub in [
        "run", "check", "record", "inspect", "verify", "bench", "explore",
    ] {
        let help = cmd
            .find_subcommand_mut(sub)
            .unwrap()
            .render_long_help()
            .to_string();
        assert!(
            help.contains("Example"),
            "`liqsim {sub} --help` has no example"
        );
    }
}

fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("LIQSIM_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    path.is_file().then_some(path)
}

#[test]
fn the_report_renders_every_chart_in_chromium() {
    let Some(chromium) = chromium() else {
        eprintln!("SKIPPED the_report_renders_every_chart_in_chromium: Chromium is not installed (Debian: apt-get install chromium; or set LIQSIM_CHROMIUM)");
        return;
    };
    let (_, out) = outputs();
    let module = crate::explore::playwright_core();
    let work = tmp("browser");
    let report = std::path::absolute(out.join("report.html")).unwrap();
    let run = Process::new("node")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/report.cjs"))
        .arg(&module)
        .arg(&report)
        .arg(work.join("profile"))
        .env("LIQSIM_CHROMIUM", &chromium)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "browser run failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let page: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(page["external_requests"], serde_json::json!([]), "{page}");
    assert_eq!(page["page_errors"], serde_json::json!([]), "{page}");
    assert_eq!(page["images"], serde_json::json!([]), "{page}");
    let figures = page["figures"].as_array().unwrap();
    let drawn: Vec<&str> = figures
        .iter()
        .map(|f| f["chart"].as_str().unwrap())
        .collect();
    for chart in liqsim::output::charts::CHARTS {
        if chart.name == "backstop_pool_balance" {
            continue; // the fixture runs no backstop pool
        }
        assert!(
            drawn.contains(&chart.name),
            "{} missing: {drawn:?}",
            chart.name
        );
    }
    for f in figures {
        assert!(
            f["width"].as_f64().unwrap() > 300.0 && f["height"].as_f64().unwrap() > 150.0,
            "{f}"
        );
        assert!(
            f["elements"].as_u64().unwrap() > 20 && f["text"].as_u64().unwrap() > 4,
            "{f}"
        );
        assert!(f["caption"].as_str().unwrap().starts_with("Figure"), "{f}");
    }
}
