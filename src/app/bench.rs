//! Benchmarks behind `liqsim bench`: figures for README, measured on this machine, never asserted.

use std::fmt;
use std::time::Instant;

use alloy_primitives::U256;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::error::{Error, Result};
use crate::evm::executor::Evm;
use crate::evm::keys::actor;
use crate::math::aave as aave_math;
use crate::protocol::aave_v3::config::MarketConfig;
use crate::protocol::aave_v3::differential::{amount_for_value, prepare_market};
use crate::protocol::artifacts::ArtifactStore;

/// Native health-factor math against the EVM's `getUserAccountData` on the same positions.
#[derive(Debug, Clone)]
pub struct HealthFactorBench {
    /// Positions evaluated.
    pub positions: usize,
    /// Native evaluations per second (from balances and prices already read).
    pub native_per_second: f64,
    /// EVM `getUserAccountData` calls per second.
    pub evm_per_second: f64,
    /// Whether every native result equalled the EVM's.
    pub identical: bool,
}

impl fmt::Display for HealthFactorBench {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "health factor over {} positions: native {:.0}/s, EVM getUserAccountData {:.0}/s, speed-up {:.0}x, results identical: {}",
            self.positions,
            self.native_per_second,
            self.evm_per_second,
            self.native_per_second / self.evm_per_second,
            self.identical
        )
    }
}

/// Builds `positions` borrowers on the default devnet market and times both evaluations.
pub fn health_factor(artifacts: &ArtifactStore, positions: usize) -> Result<HealthFactorBench> {
    let config = MarketConfig::default_devnet();
    let prepared = prepare_market(artifacts, &config)?;
    let market = &prepared.market;
    let mut evm = Evm::from_cache_db(prepared.state, config.chain_id);
    evm.set_block(prepared.block);
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    let n = market.reserves.len();
    let mut users = Vec::with_capacity(positions);
    for p in 0..positions {
        let user = actor(&format!("bench-user-{p}"));
        let c = rng.gen_range(0..n);
        let d = (c + rng.gen_range(1..n)) % n;
        let amount = amount_for_value(
            rng.gen_range(10_000..100_000_000),
            config.price(c)?,
            market.reserves[c].decimals,
        );
        market.fund(&mut evm, c, user, amount)?;
        market.supply(&mut evm, user, c, amount)?;
        let available = market.account_data(&mut evm, user)?.available_borrows_base;
        let unit = U256::from(10u64).pow(U256::from(market.reserves[d].decimals));
        let borrow = available * U256::from(rng.gen_range(10..95u64)) / U256::from(100u64) * unit
            / config.price(d)?;
        if !borrow.is_zero() {
            market.borrow(&mut evm, user, d, borrow)?;
        }
        users.push(user);
    }
    let inputs: Vec<Vec<aave_math::UserReserve>> = users
        .iter()
        .map(|u| market.user_reserves(&mut evm, *u))
        .collect::<Result<_>>()?;

    let evm_start = Instant::now();
    let evm_results: Vec<aave_math::AccountData> = users
        .iter()
        .map(|u| market.account_data(&mut evm, *u))
        .collect::<Result<_>>()?;
    let evm_seconds = evm_start.elapsed().as_secs_f64();

    let rounds = 200usize;
    let native_start = Instant::now();
    let mut native_results = Vec::new();
    for _ in 0..rounds {
        native_results = inputs
            .iter()
            .map(|r| aave_math::user_account_data(std::hint::black_box(r)))
            .collect::<Result<Vec<_>>>()?;
    }
    let native_seconds = native_start.elapsed().as_secs_f64();
    let identical = native_results == evm_results;
    if !identical {
        return Err(Error::Mismatch(
            "native health factors differ from getUserAccountData".into(),
        ));
    }
    Ok(HealthFactorBench {
        positions,
        native_per_second: (positions * rounds) as f64 / native_seconds,
        evm_per_second: positions as f64 / evm_seconds,
        identical,
    })
}

/// Replay throughput: liqsim's replay (receipt checks, borrower index, opportunity ledger) against
/// executing the same transactions in bare revm with no bookkeeping.
#[derive(Debug, Clone)]
pub struct ReplayBench {
    /// Blocks in the window.
    pub blocks: u64,
    /// Transactions in the window.
    pub transactions: u64,
    /// Gas of the window.
    pub gas: u64,
    /// Seconds for liqsim's replay.
    pub liqsim_seconds: f64,
    /// Seconds for bare revm.
    pub bare_seconds: f64,
    /// Seconds for liqsim's replay with receipt checks but no hooks.
    pub checks_only_seconds: f64,
}

impl fmt::Display for ReplayBench {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rate = |s: f64| (self.blocks as f64 / s, self.gas as f64 / 1e6 / s);
        let (lb, lg) = rate(self.liqsim_seconds);
        let (bb, bg) = rate(self.bare_seconds);
        write!(
            f,
            "replay of {} blocks / {} transactions / {:.1} Mgas:\n  liqsim replay (receipt checks + borrower index + ledger): {:.0} blocks/s, {:.1} Mgas/s\n  liqsim replay (receipt checks only):                      {:.0} blocks/s, {:.1} Mgas/s\n  bare revm (decode + execute only):                        {:.0} blocks/s, {:.1} Mgas/s\n  liqsim at {:.0}% of the bare rate",
            self.blocks,
            self.transactions,
            self.gas as f64 / 1e6,
            lb,
            lg,
            rate(self.checks_only_seconds).0,
            rate(self.checks_only_seconds).1,
            bb,
            bg,
            100.0 * self.bare_seconds / self.liqsim_seconds
        )
    }
}

/// Times both replays of the dataset in `dir` (best of `rounds`).
pub fn replay(dir: &std::path::Path, rounds: usize) -> Result<ReplayBench> {
    use crate::evm::state::{block_env, load_prestate};
    let window = crate::data::dataset::read_dataset(dir)?;
    let mut best_liqsim = f64::MAX;
    let mut best_bare = f64::MAX;
    let mut best_checks = f64::MAX;
    let mut gas = 0;
    for _ in 0..rounds.max(1) {
        let report = crate::app::run::replay_window(&window, true, false)?;
        best_liqsim = best_liqsim.min(report.seconds);
        gas = report.fidelity.gas_used;

        let db = load_prestate(&window.accounts, &window.code, &window.storage)?;
        let mut evm = Evm::from_cache_db(db, window.manifest.chain_id);
        let start = Instant::now();
        crate::engine::replay::replay(
            &mut evm,
            &window,
            true,
            &mut crate::engine::replay::NoHooks,
            None,
        )?;
        best_checks = best_checks.min(start.elapsed().as_secs_f64());

        let db = load_prestate(&window.accounts, &window.code, &window.storage)?;
        let mut evm = Evm::from_cache_db(db, window.manifest.chain_id);
        let start = Instant::now();
        // Senders recovered as liqsim's replay recovers them (in parallel, up front).
        let decoded = crate::engine::replay::decode_all(&window);
        let mut cursor = 0;
        for block in &window.blocks {
            evm.set_block(block_env(block));
            while cursor < window.transactions.len()
                && window.transactions[cursor].block == block.number
            {
                let tx = match decoded.get(cursor) {
                    Some(Ok(tx)) => tx,
                    Some(Err(e)) => {
                        return Err(Error::Decode {
                            what: format!("transaction {cursor}"),
                            message: e.to_string(),
                        })
                    }
                    None => {
                        return Err(Error::Decode {
                            what: format!("transaction {cursor}"),
                            message: "not decoded".into(),
                        })
                    }
                };
                std::hint::black_box(evm.execute(tx.tx_env(), true)?);
                cursor += 1;
            }
        }
        best_bare = best_bare.min(start.elapsed().as_secs_f64());
    }
    Ok(ReplayBench {
        blocks: window.blocks.len() as u64,
        transactions: window.transactions.len() as u64,
        gas,
        liqsim_seconds: best_liqsim,
        bare_seconds: best_bare,
        checks_only_seconds: best_checks,
    })
}

/// Sweep throughput: strategy × parameter evaluations over one replay, on 1 and 2 threads.
#[derive(Debug, Clone)]
pub struct SweepBench {
    /// Strategy × parameter sets.
    pub instances: usize,
    /// Hook points at which strategies decided (per run).
    pub evaluations: u64,
    /// What-if executions (per run).
    pub what_ifs: u64,
    /// Seconds on one thread.
    pub one_thread_seconds: f64,
    /// Seconds on two threads.
    pub two_threads_seconds: f64,
    /// Of the one-thread run, seconds evaluating strategies at hook points.
    pub one_thread_evaluation_seconds: f64,
    /// Of the two-thread run, seconds evaluating strategies at hook points.
    pub two_threads_evaluation_seconds: f64,
}

impl fmt::Display for SweepBench {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "sweep of {} strategy x parameter sets over one replay ({} hook points x {} sets = {} strategy evaluations, {} what-if executions):\n  1 thread:  whole run {:.2} s, of which evaluating {:.2} s: {:.0} strategy evaluations/s\n  2 threads: whole run {:.2} s, of which evaluating {:.2} s: {:.0} strategy evaluations/s\n  speed-up 1 -> 2 threads: evaluation {:.2}x, whole run (incl. the serial replay) {:.2}x",
            self.instances,
            self.evaluations / self.instances.max(1) as u64,
            self.instances,
            self.evaluations,
            self.what_ifs,
            self.one_thread_seconds,
            self.one_thread_evaluation_seconds,
            self.evaluations as f64 / self.one_thread_evaluation_seconds,
            self.two_threads_seconds,
            self.two_threads_evaluation_seconds,
            self.evaluations as f64 / self.two_threads_evaluation_seconds,
            self.one_thread_evaluation_seconds / self.two_threads_evaluation_seconds,
            self.one_thread_seconds / self.two_threads_seconds
        )
    }
}

/// The large sweep of `liqsim bench sweep`: on top of the default scenario's strategies, a
/// gas-threshold grid of 8 caps × 4 minimum profits × 3 latencies (96 sets).
pub const LARGE_SWEEP_EXTRA: &str = r#"
[[strategies]]
kind = "gas-threshold"
latency_blocks = [0, 1, 3]
priority_fee_gwei = 2
max_gas_price_gwei = [40, 80, 120, 200, 300, 500, 800, 1500]
min_profit_usd = [0, 25, 100, 500]
"#;

/// The default scenario's sweep, and the large sweep (`LARGE_SWEEP_EXTRA` added), timed on 1
/// and 2 threads over the dataset in `dir`.
pub fn sweeps(dir: &std::path::Path, rounds: usize) -> Result<(SweepBench, SweepBench)> {
    let loaded = crate::scenario::LoadedScenario::default_scenario()?;
    let window = crate::data::dataset::read_dataset(dir)?;
    #[derive(serde::Deserialize)]
    struct Extra {
        strategies: Vec<crate::strategy::StrategySpec>,
    }
    let extra: Extra = toml::from_str(LARGE_SWEEP_EXTRA).map_err(|e| Error::Decode {
        what: "the large sweep".into(),
        message: e.to_string(),
    })?;
    let mut large = loaded.instances.clone();
    large.extend(crate::strategy::expand(&extra.strategies)?);
    Ok((
        sweep(&window, &loaded.instances, &loaded.scenario.dex, rounds)?,
        sweep(&window, &large, &loaded.scenario.dex, rounds)?,
    ))
}

/// Times `run_strategies` for `instances` over `window` with 1 and 2 threads (best of `rounds`);
/// results must be identical.
pub fn sweep(
    window: &crate::data::records::Window,
    instances: &[crate::strategy::Instance],
    dex: &crate::scenario::DexConfig,
    rounds: usize,
) -> Result<SweepBench> {
    let mut best = [f64::MAX, f64::MAX];
    let mut best_evaluation = [f64::MAX, f64::MAX];
    let mut summaries = Vec::new();
    let mut what_ifs = 0;
    let mut hooks = 0;
    for _ in 0..rounds.max(1) {
        for (slot, threads) in [1usize, 2].into_iter().enumerate() {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .map_err(|e| Error::config("threads", threads, e.to_string()))?;
            let start = Instant::now();
            let run = pool
                .install(|| crate::app::run::run_strategies(window, instances, dex, true, false))?;
            best[slot] = best[slot].min(start.elapsed().as_secs_f64());
            best_evaluation[slot] = best_evaluation[slot].min(run.evaluation_seconds);
            what_ifs = run.what_ifs;
            hooks = run.hooks_evaluated;
            summaries.push(run.summary);
        }
    }
    if summaries.windows(2).any(|w| w[0] != w[1]) {
        return Err(Error::Mismatch(
            "sweep results differ between 1 and 2 threads".into(),
        ));
    }
    Ok(SweepBench {
        instances: instances.len(),
        evaluations: hooks * instances.len() as u64,
        what_ifs,
        one_thread_seconds: best[0],
        two_threads_seconds: best[1],
        one_thread_evaluation_seconds: best_evaluation[0],
        two_threads_evaluation_seconds: best_evaluation[1],
    })
}

/// Jump latency of the window explorer: random points of a window answered from checkpoints.
#[derive(Debug, Clone)]
pub struct ExploreBench {
    /// Blocks in the window.
    pub blocks: usize,
    /// Blocks between checkpoints.
    pub checkpoint_every: usize,
    /// Seconds the opening replay (with checkpoints) took.
    pub open_seconds: f64,
    /// Jumps measured.
    pub jumps: usize,
    /// State only (checkpoint clone + short replay), milliseconds: median, 95th percentile, max.
    pub state_ms: (f64, f64, f64),
    /// State plus every tracked position as the API returns it, milliseconds: median, p95, max.
    pub positions_ms: (f64, f64, f64),
    /// Positions per answer.
    pub positions: usize,
}

impl fmt::Display for ExploreBench {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "explorer over {} blocks (checkpoint every {} blocks, opened in {:.2} s): {} random jumps; state median {:.1} ms, p95 {:.1} ms, max {:.1} ms; state + {} positions median {:.1} ms, p95 {:.1} ms, max {:.1} ms",
            self.blocks,
            self.checkpoint_every,
            self.open_seconds,
            self.jumps,
            self.state_ms.0,
            self.state_ms.1,
            self.state_ms.2,
            self.positions,
            self.positions_ms.0,
            self.positions_ms.1,
            self.positions_ms.2
        )
    }
}

/// Opens `dir` in the explorer and jumps to `jumps` random points (seeded), timing each.
pub fn explore(
    dir: &std::path::Path,
    checkpoint_every: usize,
    jumps: usize,
) -> Result<ExploreBench> {
    use crate::app::explore::state::{Explorer, Point};
    let window = crate::data::dataset::read_dataset(dir)?;
    let explorer = Explorer::open(window, checkpoint_every)?;
    let mut rng = ChaCha8Rng::seed_from_u64(17);
    let mut state_ms = Vec::with_capacity(jumps);
    let mut positions_ms = Vec::with_capacity(jumps);
    let mut positions = 0;
    let internal = |e: crate::app::explore::state::ExploreError| Error::Mismatch(e.to_string());
    for _ in 0..jumps {
        let Some(row) = explorer
            .blocks
            .get(rng.gen_range(0..explorer.blocks.len().max(1)))
        else {
            break;
        };
        let tx =
            (row.transactions > 0 && rng.gen_bool(0.7)).then(|| rng.gen_range(0..row.transactions));
        let point = Point {
            block: row.number,
            tx,
        };
        let start = Instant::now();
        let state = explorer.state_at(point).map_err(internal)?;
        state_ms.push(start.elapsed().as_secs_f64() * 1e3);
        let view = crate::app::explore::view::positions(&explorer, &state).map_err(internal)?;
        let json = serde_json::to_vec(&view).map_err(|e| Error::Mismatch(e.to_string()))?;
        positions_ms.push(start.elapsed().as_secs_f64() * 1e3);
        positions = view.positions.len();
        drop(json);
    }
    let stats = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        let at = |q: f64| {
            v.get(((v.len() as f64 - 1.0) * q).round() as usize)
                .copied()
                .unwrap_or(0.0)
        };
        (at(0.5), at(0.95), v.last().copied().unwrap_or(0.0))
    };
    Ok(ExploreBench {
        blocks: explorer.blocks.len(),
        checkpoint_every: explorer.checkpoint_every,
        open_seconds: explorer.open_seconds,
        jumps: state_ms.len(),
        state_ms: stats(state_ms),
        positions_ms: stats(positions_ms),
        positions,
    })
}
