//! The main job, end to end: scenario → dataset (built on first use) → replay with the borrower
//! index, opportunity ledger and strategy sweep → outputs.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use alloy_primitives::Address;
use alloy_sol_types::SolEvent;
use indicatif::{ProgressBar, ProgressStyle};

use crate::analytics::result::{ReplayReport, StrategyRun};
use crate::data::dataset::{dataset_status, read_dataset, write_dataset_locked, DatasetStatus};
use crate::data::folder::{check_replaceable, lock_exclusive, FolderKind};
use crate::data::records::{Manifest, Window};
use crate::engine::opportunities::{Ending, OpportunityTracker};
use crate::engine::replay::replay;
use crate::error::Result;
use crate::evm::executor::Evm;
use crate::evm::state::load_prestate;
use crate::protocol::artifacts::ArtifactStore;
use crate::protocol::price_feed::SettablePriceFeed;
use crate::protocol::window::WindowDetails;
use crate::protocol::LendingMarket;
use crate::scenario::LoadedScenario;
use crate::source::devnet::build_window;

/// A progress bar on stderr (hidden when stderr is not a terminal or in CI).
pub fn progress_bar(len: u64, what: &str) -> ProgressBar {
    let bar = if std::env::var_os("CI").is_some() {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(len)
    };
    bar.set_style(
        ProgressStyle::with_template("{msg:>12} [{bar:40}] {pos}/{len} blocks, ETA {eta}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(what.to_string());
    bar
}

/// Builds the scenario's window and writes it to `dir`; returns the manifest. `dir` must be
/// absent, empty or a dataset folder liqsim wrote: anything else is refused before the build.
pub fn build_dataset(
    loaded: &LoadedScenario,
    artifacts: &ArtifactStore,
    dir: &Path,
) -> Result<Manifest> {
    check_replaceable(dir, FolderKind::Dataset)?;
    let _lock = lock_exclusive(dir)?;
    build_locked(loaded, artifacts, dir)
}

fn build_locked(
    loaded: &LoadedScenario,
    artifacts: &ArtifactStore,
    dir: &Path,
) -> Result<Manifest> {
    let bar = progress_bar(loaded.scenario.window.blocks, "building");
    let built = build_window(loaded, artifacts, Some(&bar))?;
    bar.finish_and_clear();
    write_dataset_locked(dir, &built.window)
}

/// The dataset folder of a scenario under `datasets_root`, built if absent or built from a
/// different scenario text. A folder that cannot be read as a dataset, or that liqsim did not
/// write, is refused (never rebuilt over). Concurrent runs wait for each other: the check and
/// the build happen under the datasets root's lock.
pub fn ensure_dataset(
    loaded: &LoadedScenario,
    artifacts: &ArtifactStore,
    datasets_root: &Path,
) -> Result<PathBuf> {
    let dir = datasets_root.join(&loaded.scenario.name);
    let _lock = lock_exclusive(&dir)?;
    let status = dataset_status(&dir, |m| {
        m.provenance.scenario_sha256.as_deref() == Some(loaded.sha256.as_str())
    })?;
    if status != DatasetStatus::Current {
        check_replaceable(&dir, FolderKind::Dataset)?;
        let why = if status == DatasetStatus::Absent {
            "first use"
        } else {
            "the scenario changed"
        };
        tracing::info!(dataset = %dir.display(), why, "building the dataset");
        eprintln!(
            "building dataset {} from {} ({why})",
            dir.display(),
            loaded.source
        );
        build_locked(loaded, artifacts, &dir)?;
    }
    Ok(dir)
}

/// Replays a window with the borrower index and opportunity ledger.
pub fn replay_window(window: &Window, strict: bool, show_progress: bool) -> Result<ReplayReport> {
    let details = WindowDetails::from_manifest(&window.manifest)?;
    let db = crate::evm::state::load_replay_state(
        &window.accounts,
        &window.code,
        &window.storage,
        crate::evm::state::Completeness::of_provenance(&window.manifest.provenance.kind),
    )?;
    let mut evm = Evm::from_cache_db(db, window.manifest.chain_id);
    if let Some(first) = window.blocks.first() {
        evm.set_block(crate::evm::state::block_env(first));
    }
    let mut tracker = OpportunityTracker::new(&details.market, &mut evm, &details.users_at_start)?;
    let bar = if show_progress {
        progress_bar(window.blocks.len() as u64, "replaying")
    } else {
        ProgressBar::hidden()
    };
    let start = Instant::now();
    let fidelity = replay(&mut evm, window, strict, &mut tracker, Some(&bar))?;
    bar.finish_and_clear();
    let seconds = start.elapsed().as_secs_f64();
    Ok(ReplayReport {
        fidelity,
        opportunities: tracker.ledger.finish(),
        liquidations_by: tracker.liquidations_by,
        names: details
            .competitors
            .into_iter()
            .map(|(n, a)| (a, n))
            .collect(),
        seconds,
    })
}

/// What the protocol referee found on a window.
#[derive(Debug, Clone)]
pub struct RefereeReport {
    /// Receipt fidelity of the replay.
    pub fidelity: crate::engine::replay::Fidelity,
    /// Every disagreement with the protocol's views.
    pub mismatches: Vec<crate::engine::referee::Mismatch>,
    /// Points checked (price-update hook points and block ends).
    pub points: u64,
    /// Borrower comparisons made.
    pub comparisons: u64,
    /// Opportunities in the ledger.
    pub opportunities: usize,
    /// Seconds the refereed replay took.
    pub seconds: f64,
}

/// Replays a window with the book and the ledger under the protocol referee: after every
/// price-update hook point and at every block's end, each tracked borrower's health factor
/// (Compound-style: whether it has a shortfall) and its open opportunity are compared with the
/// protocol's own views executed in the EVM.
pub fn check_window(window: &Window, show_progress: bool) -> Result<RefereeReport> {
    let details = WindowDetails::from_manifest(&window.manifest)?;
    let db = crate::evm::state::load_replay_state(
        &window.accounts,
        &window.code,
        &window.storage,
        crate::evm::state::Completeness::of_provenance(&window.manifest.provenance.kind),
    )?;
    let mut evm = Evm::from_cache_db(db, window.manifest.chain_id);
    if let Some(first) = window.blocks.first() {
        evm.set_block(crate::evm::state::block_env(first));
    }
    let tracker = OpportunityTracker::new(&details.market, &mut evm, &details.users_at_start)?;
    let mut referee = crate::engine::referee::Referee::new(tracker);
    let bar = if show_progress {
        progress_bar(window.blocks.len() as u64, "refereeing")
    } else {
        ProgressBar::hidden()
    };
    let start = Instant::now();
    let fidelity = replay(&mut evm, window, false, &mut referee, Some(&bar))?;
    bar.finish_and_clear();
    Ok(RefereeReport {
        fidelity,
        opportunities: referee.tracker.ledger.all().len(),
        mismatches: referee.mismatches,
        points: referee.points,
        comparisons: referee.comparisons,
        seconds: start.elapsed().as_secs_f64(),
    })
}

/// Prints a replay report.
pub fn print_report(report: &ReplayReport) {
    let f = &report.fidelity;
    println!(
        "replayed {} blocks, {} transactions ({:.1} Mgas) in {:.2} s: {} receipts matched ({:.1}%)",
        f.blocks,
        f.transactions,
        f.gas_used as f64 / 1e6,
        report.seconds,
        f.receipts_matched,
        f.matched_percent()
    );
    if let Some(d) = &f.first_divergence {
        println!("  first divergence: {d}");
    }
    let count = |e: Ending| {
        report
            .opportunities
            .iter()
            .filter(|o| o.ending == e)
            .count()
    };
    println!(
        "opportunities: {} ({} liquidated, {} recovered, {} open at the end)",
        report.opportunities.len(),
        count(Ending::Liquidated),
        count(Ending::Recovered),
        count(Ending::OpenAtEnd)
    );
    for (who, n) in &report.liquidations_by {
        let name = report
            .names
            .get(who)
            .cloned()
            .unwrap_or_else(|| who.to_string());
        println!("  {name}: {n} historical liquidations");
    }
}

/// Counts shown by `liqsim inspect`.
#[derive(Debug, Clone, Default)]
pub struct Inspection {
    /// Blocks.
    pub blocks: u64,
    /// Transactions.
    pub transactions: u64,
    /// Failed transactions.
    pub failed: u64,
    /// Oracle price updates.
    pub price_updates: u64,
    /// Borrowers at the window's start.
    pub borrowers_at_start: usize,
    /// Distinct users in Pool events during the window.
    pub active_users: usize,
    /// Successful liquidations by liquidator name (or address).
    pub liquidations: BTreeMap<String, u64>,
    /// Total gas used.
    pub gas_used: u64,
    /// Pre-state sizes: accounts, contracts, storage slots.
    pub prestate: (usize, usize, usize),
}

/// Reads (and hash-checks) a dataset and counts what it holds.
pub fn inspect(dir: &Path) -> Result<(Manifest, Inspection)> {
    let window = read_dataset(dir)?;
    let details = WindowDetails::from_manifest(&window.manifest).ok();
    let names: BTreeMap<Address, String> = details
        .as_ref()
        .map(|d| d.competitors.iter().map(|(n, a)| (*a, n.clone())).collect())
        .unwrap_or_default();
    let mut users = std::collections::BTreeSet::new();
    let mut i = Inspection {
        blocks: window.blocks.len() as u64,
        transactions: window.transactions.len() as u64,
        failed: window.receipts.iter().filter(|r| !r.success).count() as u64,
        borrowers_at_start: details
            .as_ref()
            .map(|d| d.users_at_start.len())
            .unwrap_or(0),
        gas_used: window.receipts.iter().map(|r| r.gas_used).sum(),
        prestate: (
            window.accounts.len(),
            window.code.len(),
            window.storage.len(),
        ),
        ..Default::default()
    };
    let oracle = details.as_ref().and_then(|d| d.market.price_oracle());
    let mut oracle_txs = std::collections::BTreeSet::new();
    for log in &window.logs {
        let Some(topic0) = log.topics.first() else {
            continue;
        };
        if *topic0 == SettablePriceFeed::AnswerUpdated::SIGNATURE_HASH {
            i.price_updates += 1;
        }
        let Some(d) = &details else {
            continue;
        };
        if Some(log.address) == oracle.map(|(a, _)| a) {
            oracle_txs.insert((log.block, log.tx_index));
        }
        if let Some((user, liquidator)) =
            d.market
                .liquidation_log(log.address, &log.topics, &log.data)
        {
            let name = names
                .get(&liquidator)
                .cloned()
                .unwrap_or_else(|| liquidator.to_string());
            *i.liquidations.entry(name).or_default() += 1;
            users.insert(user);
        } else {
            users.extend(d.market.log_users(log.address, &log.topics));
        }
    }
    if let Some((oracle, true)) = oracle {
        // An oracle that emits no event: count the transactions sent to it.
        for t in &window.transactions {
            if crate::evm::tx::SignedTx::decode(&t.raw)?.to() == Some(oracle) {
                oracle_txs.insert((t.block, t.index));
            }
        }
    }
    i.price_updates += oracle_txs.len() as u64;
    i.active_users = users.len();
    Ok((window.manifest, i))
}

/// Replays `window` once, evaluating every strategy instance at every hook point.
pub fn run_strategies(
    window: &Window,
    instances: &[crate::strategy::Instance],
    dex: &crate::scenario::DexConfig,
    strict: bool,
    show_progress: bool,
) -> Result<StrategyRun> {
    use crate::engine::runner::{competition, StrategyRunner};
    let details = WindowDetails::from_manifest(&window.manifest)?;
    let db = load_prestate(&window.accounts, &window.code, &window.storage)?;
    let mut evm = Evm::from_cache_db(db, window.manifest.chain_id);
    if let Some(first) = window.blocks.first() {
        evm.set_block(crate::evm::state::block_env(first));
    }
    let tracker = OpportunityTracker::new(&details.market, &mut evm, &details.users_at_start)?;
    let history = competition(window, &details.market)?;
    let dex = dex.model(&details.market.symbols())?;
    let mut runner = StrategyRunner::new(tracker, history, instances, dex)?;
    runner.last_block = window.blocks.last().map(|b| b.number);
    if let Some(first) = window.blocks.first() {
        runner.record_capital(first.number);
    }
    let bar = if show_progress {
        progress_bar(window.blocks.len() as u64, "replaying")
    } else {
        ProgressBar::hidden()
    };
    let start = Instant::now();
    let fidelity = replay(&mut evm, window, strict, &mut runner, Some(&bar))?;
    bar.finish_and_clear();
    if let Some(last) = window.blocks.last() {
        runner.snapshot_health(last.number)?;
        runner.record_capital(last.number);
    }
    let what_ifs = runner.what_ifs;
    let evaluation_seconds = runner.evaluation_seconds;
    let hooks_evaluated = runner.hooks_evaluated;
    let blocks = std::mem::take(&mut runner.blocks);
    let health_snapshots = std::mem::take(&mut runner.health_snapshots);
    let mut capital = std::mem::take(&mut runner.capital);
    capital.sort_by_key(|c| (c.instance, c.block));
    let (actions, misses, opportunities) = runner.finish();
    let summary = instances
        .iter()
        .enumerate()
        .map(|(i, inst)| {
            let mine: Vec<_> = misses.iter().filter(|m| m.instance == i).cloned().collect();
            crate::analytics::summary::summarise(inst, &actions[i], &mine, &opportunities)
        })
        .collect();
    Ok(StrategyRun {
        fidelity,
        opportunities,
        actions,
        misses,
        summary,
        blocks,
        capital,
        health_snapshots,
        market: details.market,
        what_ifs,
        hooks_evaluated,
        seconds: start.elapsed().as_secs_f64(),
        evaluation_seconds,
    })
}
