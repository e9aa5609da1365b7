//! Aave V2 and Compound-style markets through the whole pipeline, on their published bytecode:
//! a devnet window, its replay with every receipt matched, the book checked against the
//! protocol's own views, the strategy sweep, and the output files.

use std::path::Path;
use std::sync::OnceLock;

use alloy_primitives::U256;
use liqsim::analytics::result::StrategyRun;
use liqsim::app::run::run_strategies;
use liqsim::engine::opportunities::OpportunityTracker;
use liqsim::engine::replay::replay;
use liqsim::engine::whatif::what_if_liquidation;
use liqsim::evm::keys::actor;
use liqsim::protocol::aave_v3::LiquidationRequest;
use liqsim::protocol::artifacts::ArtifactStore;
use liqsim::protocol::{AnyMarket, PositionBook};
use liqsim::scenario::LoadedScenario;
use liqsim::source::devnet::{build_window, BuiltWindow};

use crate::aave_v2::v2_artifacts;
use crate::compound::venus_artifacts;

pub(crate) fn fixture(name: &str) -> LoadedScenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("tests/fixtures/{name}.toml"));
    LoadedScenario::from_file(&path).unwrap()
}

pub(crate) fn built(name: &'static str, store: &ArtifactStore) -> BuiltWindow {
    build_window(&fixture(name), store, None).unwrap_or_else(|e| panic!("building {name}: {e}"))
}

/// Builds a fixture's window on `store` and runs its strategies over it (strict replay).
fn run_fixture(name: &'static str, store: &ArtifactStore) -> (BuiltWindow, StrategyRun) {
    let loaded = fixture(name);
    let b = built(name, store);
    let run = run_strategies(
        &b.window,
        &loaded.instances,
        &loaded.scenario.dex,
        true,
        false,
    )
    .unwrap();
    (b, run)
}

fn hadouken() -> &'static (BuiltWindow, StrategyRun) {
    static RUN: OnceLock<(BuiltWindow, StrategyRun)> = OnceLock::new();
    RUN.get_or_init(|| run_fixture("small-hadouken-v2", v2_artifacts()))
}

fn pippi() -> &'static (BuiltWindow, StrategyRun) {
    static RUN: OnceLock<(BuiltWindow, StrategyRun)> = OnceLock::new();
    RUN.get_or_init(|| run_fixture("small-pippi", venus_artifacts()))
}

/// Shared checks: every receipt matched, historical competitors liquidated, strategies both
/// captured and missed, every action executed for real, and the full output set is written.
fn check_run(name: &str, built: &BuiltWindow, run: &StrategyRun) {
    let f = &run.fidelity;
    assert_eq!(f.receipts_matched, f.transactions, "{name}: {f:?}");
    assert!(f.price_updates > 0, "{name}: no oracle updates replayed");
    assert!(
        built.competitor_liquidations > 0,
        "{name}: no historical liquidation"
    );
    assert!(!run.opportunities.is_empty(), "{name}: no opportunity");
    let captured: f64 = run.summary.iter().map(|s| s.captured_bonus_usd).sum();
    assert!(captured > 0.0, "{name}: nothing captured");
    assert!(!run.misses.is_empty(), "{name}: nothing missed");
    for a in run.actions.iter().flatten() {
        assert!(a.gas_used > 100_000, "{name}: {a:?}");
        assert!(!a.debt_repaid.is_zero() && !a.collateral_received.is_zero());
    }
    let dir = std::env::temp_dir().join(format!("liqsim-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    liqsim::output::write_outputs(&dir, run, &fixture(name).instances, name).unwrap();
    for file in [
        "opportunities.parquet",
        "actions.parquet",
        "missed.parquet",
        "summary.parquet",
        "blocks.parquet",
        "capital.parquet",
        "summary.json",
        "report.html",
    ] {
        assert!(dir.join(file).is_file(), "{name}: {file} missing");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn aave_v2_window_replays_and_every_strategy_runs() {
    let (b, run) = hadouken();
    assert!(matches!(b.market, AnyMarket::AaveV2(_)));
    check_run("small-hadouken-v2", b, run);
    // the backstop pools recorded their capital, and the flash-loan strategy ran (V2 lends)
    assert!(!run.capital.is_empty());
    assert!(run.summary.iter().any(|s| s.strategy == "flash-loan"));
}

#[test]
fn compound_window_replays_and_every_strategy_runs() {
    let (b, run) = pippi();
    assert!(matches!(b.market, AnyMarket::Compound(_)));
    check_run("small-pippi", b, run);
    assert!(!run.capital.is_empty());
}

/// Replays a window and, at its end, compares every tracked position with the protocol's own
/// account view: Aave V2's `getUserAccountData` health factor to the wei; Venus'
/// `getAccountLiquidity` shortfall sign (a health factor below 1 exactly when there is one).
fn book_matches_views(b: &BuiltWindow) -> usize {
    let window = &b.window;
    let (details, mut evm) = liqsim::app::run::open_window(window).unwrap();
    let mut tracker =
        OpportunityTracker::new(&details.market, &mut evm, &details.users_at_start).unwrap();
    let fidelity = replay(&mut evm, window, true, &mut tracker, None).unwrap();
    assert_eq!(fidelity.receipts_matched, fidelity.transactions);
    let users = tracker.book.users();
    assert!(users.len() > 50, "{} users tracked", users.len());
    let mut liquidatable = 0;
    let mut refusals = 0;
    for user in &users {
        let position = tracker.book.position(user).unwrap().unwrap();
        let hf = position.health_factor().unwrap();
        liquidatable += usize::from(hf < U256::from(10u64).pow(U256::from(18u64)));
        match &details.market {
            AnyMarket::AaveV2(m) => {
                let view = m.account_data(&mut evm, *user).unwrap();
                assert_eq!(hf, view.health_factor, "{user}");
            }
            AnyMarket::Compound(m) => {
                let (_, shortfall) = m.account_liquidity(&mut evm, *user).unwrap();
                assert_eq!(
                    hf < U256::from(10u64).pow(U256::from(18u64)),
                    !shortfall.is_zero(),
                    "{user}: health factor {hf}, shortfall {shortfall}"
                );
            }
            AnyMarket::AaveV3(_) => unreachable!(),
        }
        // A healthy position's liquidation is refused by the protocol, with its own error.
        if refusals < 3 && hf >= U256::from(2u64) * U256::from(10u64).pow(U256::from(18u64)) {
            let holdings = position.holdings();
            let (Some(c), Some(d)) = (
                holdings
                    .iter()
                    .position(|h| h.collateral_enabled && !h.collateral.is_zero()),
                holdings.iter().position(|h| !h.debt.is_zero()),
            ) else {
                continue;
            };
            let request = LiquidationRequest {
                collateral: c,
                debt: d,
                debt_to_cover: U256::MAX,
                receive_shares: false,
            };
            let result = what_if_liquidation(
                &evm,
                &details.market,
                actor("refused-liquidator"),
                *user,
                &*position,
                &request,
                1_000_000_000,
            )
            .unwrap();
            let reason = result.revert_reason.unwrap_or_default();
            let expected = match &details.market {
                AnyMarket::AaveV2(_) => "42 (LPCM_HEALTH_FACTOR_NOT_BELOW_THRESHOLD)",
                _ => "InsufficientShortfall",
            };
            assert!(!result.success && reason.starts_with(expected), "{reason}");
            refusals += 1;
        }
    }
    assert!(refusals > 0, "no healthy borrower to try");
    liquidatable
}

#[test]
fn aave_v2_book_equals_the_pools_own_view() {
    book_matches_views(&hadouken().0);
}

#[test]
fn compound_book_equals_the_comptrollers_own_view() {
    book_matches_views(&pippi().0);
}

#[test]
fn flash_loans_are_refused_on_a_market_without_them() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/small-pippi.toml");
    let text =
        std::fs::read_to_string(&path).unwrap() + "\n[[strategies]]\nkind = \"flash-loan\"\n";
    let err = LoadedScenario::from_text(&text, "pippi-with-flash-loans.toml", None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("flash-loan") && err.contains("no flash loans"),
        "{err}"
    );
}

#[test]
fn market_configs_are_checked_field_by_field() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/small-pippi.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let rejected = |from: &str, to: &str, field: &str| {
        assert!(text.contains(from), "{from}");
        let err = LoadedScenario::from_text(&text.replacen(from, to, 1), "pippi.toml", None)
            .unwrap_err()
            .to_string();
        assert!(err.contains(field), "{field}: {err}");
    };
    // an Aave V2 field in a Compound-style market
    rejected("price_usd = \"16\"", "price_eth = \"0.004\"", "price_eth");
    // a collateral factor of 100%
    rejected(
        "collateral_factor_bps = 7500\nliquidation_threshold_bps = 7500",
        "collateral_factor_bps = 10000\nliquidation_threshold_bps = 10000",
        "collateral_factor_bps",
    );
    // an incentive below 100%
    rejected(
        "liquidation_incentive_bps = 10500",
        "liquidation_incentive_bps = 9900",
        "liquidation_incentive_bps",
    );
    // an unknown protocol kind
    rejected("protocol = \"compound\"", "protocol = \"morpho\"", "morpho");
}
