//! Strategies over a replayed window: gas caps, competition against recorded history, two-step vs
//! greedy, and thread-count independence of sweeps.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::OnceLock;

use alloy_primitives::{I256, U256};
use liqsim::analytics::result::StrategyRun;
use liqsim::app::run::run_strategies;
use liqsim::data::records::Window;
use liqsim::engine::whatif::{what_if_liquidations, WhatIfAt};
use liqsim::evm::executor::Evm;
use liqsim::evm::keys::actor;
use liqsim::math::aave as aave_math;
use liqsim::protocol::aave_v3::market::V3Position;
use liqsim::protocol::aave_v3::LiquidationRequest;
use liqsim::protocol::market::best_liquidation;
use liqsim::protocol::{AnyMarket, LendingMarket, Position};
use liqsim::scenario::{DexConfig, LoadedScenario};
use liqsim::source::devnet::build_window;
use liqsim::strategy::two_step::{bonus_value, plan};
use liqsim::strategy::{expand, Candidate, Decision, HookView, Instance, StrategySpec};

use crate::common::{aave_v3_artifacts, default_market};

pub(crate) fn window() -> &'static Window {
    static WINDOW: OnceLock<Window> = OnceLock::new();
    WINDOW.get_or_init(|| {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/small-crash.toml");
        let loaded = LoadedScenario::from_file(&path).unwrap();
        build_window(&loaded, aave_v3_artifacts(), None)
            .unwrap()
            .window
    })
}

fn instances(toml_text: &str) -> Vec<Instance> {
    #[derive(serde::Deserialize)]
    struct W {
        strategies: Vec<StrategySpec>,
    }
    expand(&toml::from_str::<W>(toml_text).unwrap().strategies).unwrap()
}

fn sweep() -> Vec<Instance> {
    instances(
        r#"
[[strategies]]
kind = "greedy"
latency_blocks = 0
priority_fee_gwei = 10
[[strategies]]
kind = "gas-threshold"
max_gas_price_gwei = [1, 1200]
min_profit_usd = [0, 100]
[[strategies]]
kind = "two-step"
[[strategies]]
kind = "flash-loan"
[[strategies]]
kind = "backstop-pool"
capital_usd = [5000000, 20000]
"#,
    )
}

fn run() -> &'static StrategyRun {
    static RUN: OnceLock<StrategyRun> = OnceLock::new();
    RUN.get_or_init(|| {
        run_strategies(window(), &sweep(), &DexConfig::default(), true, false).unwrap()
    })
}

#[test]
fn a_gas_cap_below_every_base_fee_captures_nothing() {
    let run = run();
    let cap = 1; // instance 1: max_gas_price_gwei = 1, below every block's base fee
    assert!(window().blocks.iter().all(|b| b.base_fee > 1_000_000_000));
    assert!(run.actions[cap].is_empty());
    assert_eq!(run.summary[cap].captured, 0);
    let misses: Vec<_> = run.misses.iter().filter(|m| m.instance == cap).collect();
    assert_eq!(misses.len(), run.opportunities.len());
    assert!(!misses.is_empty());
    for m in misses {
        assert_eq!(m.reason.as_str(), "over_gas_cap", "{m:?}");
    }
}

#[test]
fn greedy_first_in_line_captures_everything_competitors_took() {
    let run = run();
    let greedy = 0; // latency 0, 10 gwei tip: above both competitors' (4 and 1.5 gwei)
    let captured: BTreeSet<u64> = run.actions[greedy]
        .iter()
        .map(|a| a.opportunity_id)
        .collect();
    let taken: Vec<_> = run
        .opportunities
        .iter()
        .filter(|o| !o.liquidations.is_empty())
        .collect();
    assert!(!taken.is_empty());
    for o in &taken {
        assert!(
            captured.contains(&o.id),
            "opportunity {} taken by a competitor, missed by greedy",
            o.id
        );
    }
    // Its bonus on them is what the competitors earned: the same close-factor liquidation, only
    // earlier (a block or more, so a little interest and price drift apart).
    let historical: I256 = taken
        .iter()
        .map(|o| o.liquidations[0].bonus_value_base)
        .fold(I256::ZERO, |a, b| a + b);
    let mine: I256 = run.actions[greedy]
        .iter()
        .filter(|a| taken.iter().any(|o| o.id == a.opportunity_id))
        .map(|a| a.bonus_base)
        .fold(I256::ZERO, |a, b| a + b);
    let diff = (mine - historical).abs();
    assert!(
        diff * I256::try_from(20).unwrap() <= historical,
        "greedy bonus {mine} vs competitors' {historical}"
    );
    // ...and its net profit is that bonus minus the gas the EVM measured.
    for a in &run.actions[greedy] {
        assert_eq!(
            a.net_profit_base,
            a.bonus_base - I256::from_raw(a.gas_cost_base)
        );
        assert!(a.gas_used > 100_000);
    }
}

#[test]
fn sweep_results_do_not_depend_on_the_thread_count() {
    let one = rayon::ThreadPoolBuilder::new()
        .num_threads(1)
        .build()
        .unwrap();
    let two = rayon::ThreadPoolBuilder::new()
        .num_threads(2)
        .build()
        .unwrap();
    let a = one
        .install(|| run_strategies(window(), &sweep(), &DexConfig::default(), true, false))
        .unwrap();
    let b = two
        .install(|| run_strategies(window(), &sweep(), &DexConfig::default(), true, false))
        .unwrap();
    assert_eq!(a.summary, b.summary);
    assert_eq!(a.actions, b.actions);
    assert_eq!(a.misses, b.misses);
    assert!(a.summary.iter().any(|s| s.captured > 0));
}

#[test]
fn two_step_earns_more_than_greedy_on_a_position_built_for_it() {
    let prepared = default_market();
    let market = &prepared.market;
    let mut evm = Evm::from_cache_db(prepared.state.clone(), market.config.chain_id);
    evm.set_block(prepared.block.clone());
    let (weth, usdc) = (market.asset("WETH").unwrap(), market.asset("USDC").unwrap());
    let user = actor("two-step-target");
    let eth = U256::from(10u64).pow(U256::from(18u64));
    market
        .fund(&mut evm, weth, user, U256::from(300u64) * eth)
        .unwrap();
    market
        .supply(&mut evm, user, weth, U256::from(300u64) * eth)
        .unwrap();
    // 300 ETH × 3400 × 80% LTV = 816,000 USDC
    market
        .borrow(
            &mut evm,
            user,
            usdc,
            U256::from(800_000u64) * U256::from(1_000_000u64),
        )
        .unwrap();
    // HF = 300 × p × 0.825 / 800,000 = 0.99 → p = 3200
    market
        .set_price(
            &mut evm,
            weth,
            U256::from(3_200u64) * U256::from(100_000_000u64),
        )
        .unwrap();
    let reserves = market.user_reserves(&mut evm, user).unwrap();
    let configs: Vec<_> = (0..market.reserves.len())
        .map(|i| market.reserve_config(&mut evm, i).unwrap())
        .collect();
    let hf = aave_math::user_account_data(&reserves)
        .unwrap()
        .health_factor;
    assert!(
        hf > aave_math::CLOSE_FACTOR_HF_THRESHOLD && aave_math::is_liquidatable(hf),
        "{hf}"
    );
    let position = std::sync::Arc::new(
        V3Position::new(reserves.clone(), std::sync::Arc::new(configs)).unwrap(),
    );

    // The strategy itself chooses to split.
    let two_step = instances("[[strategies]]\nkind = \"two-step\"\n")[0]
        .build()
        .unwrap();
    let best = best_liquidation(&*position).unwrap().unwrap();
    let view = HookView {
        block: 1,
        timestamp: 1,
        base_fee: 30_000_000_000,
        native_price: U256::from(3_200u64) * U256::from(100_000_000u64),
        flash_loan_premium_bps: 9,
        symbols: &[],
        dex: &liqsim::math::cost::DexModel::default(),
    };
    let candidate = Candidate {
        opportunity_id: 0,
        user,
        health_factor: hf,
        position: position.clone(),
        best: Some(best),
    };
    let Decision::Act(intent) = two_step.decide(&view, &candidate).unwrap() else {
        panic!("two-step declined")
    };
    assert_eq!(intent.debt_to_cover.len(), 2, "{intent:?}");
    let (first, predicted_total) = plan(&*position, weth, usdc).unwrap().unwrap();
    assert_eq!(intent.debt_to_cover[0], first);

    // Both executed for real on the same state.
    let request = |d: U256| LiquidationRequest {
        collateral: weth,
        debt: usdc,
        debt_to_cover: d,
        receive_shares: false,
    };
    let liquidator = actor("two-step-liquidator");
    let any = AnyMarket::AaveV3(market.clone());
    let at = WhatIfAt {
        state: evm.db(),
        block: evm.block(),
        chain_id: evm.chain_id(),
        market: &any,
    };
    let greedy =
        what_if_liquidations(&at, liquidator, user, &*position, &[request(U256::MAX)], 0).unwrap();
    let split = what_if_liquidations(
        &at,
        liquidator,
        user,
        &*position,
        &[request(first), request(U256::MAX)],
        0,
    )
    .unwrap();
    assert!(greedy.iter().chain(&split).all(|r| r.success));
    let value = |r: &liqsim::engine::whatif::WhatIfLiquidation| {
        let o = aave_math::LiquidationOutcome {
            debt_repaid: r.debt_repaid,
            collateral_to_liquidator: r.collateral_received,
            ..Default::default()
        };
        bonus_value(position.holdings(), weth, usdc, &o).unwrap()
    };
    let greedy_bonus = value(&greedy[0]);
    let split_bonus = value(&split[0]) + value(&split[1]);
    let extra_gas =
        liqsim::math::cost::gas_cost(split[1].gas_used, view.base_fee, 0, view.native_price).base;
    assert!(
        split_bonus - I256::from_raw(extra_gas) > greedy_bonus,
        "two-step {split_bonus} vs greedy {greedy_bonus}"
    );
    assert_eq!(
        split_bonus, predicted_total,
        "the shared math's plan equals the EVM's result"
    );
    assert!(split[0].debt_repaid + split[1].debt_repaid > greedy[0].debt_repaid);
}

#[test]
fn every_output_file_is_written_and_the_report_shows_every_chart() {
    let dir = std::env::temp_dir().join(format!("liqsim-out-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    liqsim::output::write_outputs(&dir, run(), &sweep(), "small-crash").unwrap();
    for f in [
        "opportunities.parquet",
        "actions.parquet",
        "missed.parquet",
        "summary.parquet",
        "blocks.parquet",
        "capital.parquet",
        "tokens.parquet",
        "summary.json",
        "run.json",
        "report.html",
    ] {
        assert!(dir.join(f).is_file(), "{f} missing");
    }
    let report = std::fs::read_to_string(dir.join("report.html")).unwrap();
    for chart in liqsim::output::charts::CHARTS.iter().map(|c| c.name) {
        assert!(
            dir.join(format!("{chart}.png")).is_file()
                && dir.join(format!("{chart}.svg")).is_file(),
            "{chart}"
        );
        assert!(
            report.contains(&format!("data-chart=\"{chart}\"")),
            "{chart} not inlined in the report"
        );
    }
    let summary: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
    assert_eq!(
        summary["strategies"].as_array().unwrap().len(),
        sweep().len()
    );
    // no temporary folder is left behind
    let parent = dir.parent().unwrap();
    let name = dir.file_name().unwrap().to_string_lossy().to_string();
    assert!(!std::fs::read_dir(parent).unwrap().any(|e| e
        .unwrap()
        .file_name()
        .to_string_lossy()
        .starts_with(&format!("{name}.tmp"))));
}

/// Index in `sweep()` of the backstop pool holding `capital_usd`.
fn backstop(capital_usd: &str) -> usize {
    sweep()
        .iter()
        .position(|i| i.kind == "backstop-pool" && i.params["capital_usd"] == capital_usd)
        .unwrap()
}

#[test]
fn backstop_pool_capital_is_its_deposits_plus_every_net_profit() {
    let run = run();
    let (ample, small) = (backstop("5000000"), backstop("20000"));
    for pool in [ample, small] {
        let series: Vec<_> = run.capital.iter().filter(|c| c.instance == pool).collect();
        let start = series.first().unwrap().capital_base;
        let end = series.last().unwrap().capital_base;
        let deposits = U256::from(sweep()[pool].params["capital_usd"].parse::<u64>().unwrap())
            * U256::from(100_000_000u64);
        assert_eq!(start, deposits);
        // Each action: capital += sale proceeds − debt paid − gas = net profit (bonus − gas −
        // slippage), so the end balance is the deposits plus the sum of net profits, to the unit.
        let net: I256 = run.actions[pool]
            .iter()
            .fold(I256::ZERO, |a, x| a + x.net_profit_base);
        assert_eq!(
            I256::from_raw(end),
            I256::from_raw(start) + net,
            "pool {pool}"
        );
        for a in &run.actions[pool] {
            assert_eq!(a.funding.as_str(), "backstop_pool");
            assert!(a.slippage_base > U256::ZERO, "collateral is sold: {a:?}");
            assert_eq!(
                a.net_profit_base,
                a.bonus_base - I256::from_raw(a.gas_cost_base) - I256::from_raw(a.slippage_base)
            );
        }
    }
    assert!(!run.actions[ample].is_empty());
    assert!(run.summary[ample].net_profit_usd > 0.0);
}

#[test]
fn a_small_backstop_pool_is_capital_limited() {
    let run = run();
    let (ample_pool, small_pool) = (backstop("5000000"), backstop("20000"));
    let small = &run.actions[small_pool];
    let ample = &run.actions[ample_pool];
    // It never repays more than it holds: every repayment (USDC or DAI, about $1) stays within
    // the balance before it (2% for the DAI wobble).
    let series: Vec<_> = run
        .capital
        .iter()
        .filter(|c| c.instance == small_pool)
        .collect();
    for (a, before) in small.iter().zip(&series) {
        let decimals = run.market.decimals()[a.debt] as u32;
        let usd = a.debt_repaid.to::<u128>() as f64 / 10f64.powi(decimals as i32);
        let held = before.capital_base.to::<u128>() as f64 / 1e8;
        assert!(usd <= held * 1.02, "repaid {usd} USD holding {held}");
    }
    let repaid = |acts: &[liqsim::engine::runner::Action]| {
        acts.iter()
            .map(|a| {
                a.debt_repaid.to::<u128>() as f64 / 10f64.powi(run.market.decimals()[a.debt] as i32)
            })
            .sum::<f64>()
    };
    assert!(repaid(small) < repaid(ample));
    let out_of_capital = run
        .misses
        .iter()
        .filter(|m| m.instance == small_pool && m.reason.as_str() == "out_of_capital")
        .count();
    assert!(
        out_of_capital > 0,
        "a $20,000 pool misses some for lack of capital"
    );
}

#[test]
fn an_unwritable_output_folder_is_refused_before_work() {
    let file = std::env::temp_dir().join(format!("liqsim-not-a-dir-{}", std::process::id()));
    std::fs::write(&file, b"x").unwrap();
    assert!(liqsim::output::check_writable(&file.join("out")).is_err());
}

#[test]
fn deferred_checks_give_the_ledger_of_checks_made_in_place() {
    use liqsim::engine::opportunities::{Deferral, OpportunityTracker};
    let w = window();
    // Every check in place.
    let (details, mut evm) = liqsim::app::run::open_window(w).unwrap();
    let mut tracker =
        OpportunityTracker::new(&details.market, &mut evm, &details.users_at_start).unwrap();
    assert_eq!(tracker.deferral, Deferral::Off);
    liqsim::engine::replay::replay(&mut evm, w, true, &mut tracker, None).unwrap();
    assert_eq!(tracker.stats.deferred, 0);
    let in_place = tracker.ledger.finish();
    assert!(in_place.len() > 20, "{} opportunities", in_place.len());
    // Checks that surely stay open computed beside the replay (the standalone replay) ...
    let beside = liqsim::app::run::replay_window(w, true, false).unwrap();
    assert!(
        beside.stats.deferred > beside.stats.checks_after_transactions,
        "{:?}",
        beside.stats
    );
    assert_eq!(beside.opportunities, in_place);
    // ... and by the evaluator, which builds the same positions (the strategy run).
    assert_eq!(run().opportunities, in_place);
}
