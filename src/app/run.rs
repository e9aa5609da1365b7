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
use crate::evm::state::{LazyState, PrestateDb};
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

/// Why the dataset of `loaded` at `dir` must be (re)built, or `None` when it is current: a dataset
/// is rebuilt only when the scenario changed in substance (its canonical form, not its text: a
/// comment, whitespace, key order, the strategies or the DEX model change nothing).
pub fn rebuild_reason(loaded: &LoadedScenario, dir: &Path) -> Option<String> {
    let manifest = match crate::data::dataset::read_manifest(dir) {
        Ok(m) => m,
        Err(_) if !dir.join("manifest.json").exists() => {
            return Some("no dataset there yet (first use)".into())
        }
        Err(e) => return Some(format!("its manifest cannot be read ({e})")),
    };
    let p = &manifest.provenance;
    if p.scenario_sha256.as_deref() == Some(loaded.sha256.as_str()) {
        return None;
    }
    Some(match &p.scenario_canonical {
        Some(old) => match crate::scenario::first_changed_key(old, &loaded.canonical) {
            Some(key) => format!("scenario changed (first changed key: `{key}`)"),
            None => "scenario changed".into(),
        },
        None if p.kind != "devnet" => format!("it was not built from a scenario ({})", p.kind),
        None => format!(
            "it was built by liqsim {} from {} without a canonical scenario form",
            p.liqsim_version,
            p.scenario.as_deref().unwrap_or("an unknown scenario")
        ),
    })
}

/// The dataset folder of a scenario under `datasets_root`, built if absent or built from a
/// scenario that differs in substance ([`rebuild_reason`], printed). A folder that cannot be read
/// as a dataset, or that liqsim did not write, is refused (never rebuilt over). Concurrent runs
/// wait for each other: the check and the build happen under the datasets root's lock.
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
        let reason =
            rebuild_reason(loaded, &dir).unwrap_or_else(|| "the scenario changed".to_string());
        tracing::info!(dataset = %dir.display(), %reason, "building the dataset");
        eprintln!(
            "building dataset {} from {}: {reason}",
            dir.display(),
            loaded.source
        );
        build_locked(loaded, artifacts, &dir)?;
    }
    Ok(dir)
}

/// A complete (devnet) window's protocol details and an EVM at its pre-state in memory, at its
/// first block, where absent state is empty. A recorded window is refused (its absent state is
/// unknown, not empty): replays and runs use [`open_replay`].
pub fn open_window(window: &Window) -> Result<(WindowDetails, Evm<revm::database::EmptyDB>)> {
    use crate::evm::state::Completeness;
    let kind = &window.manifest.provenance.kind;
    if Completeness::of_provenance(kind) != Completeness::Complete {
        return Err(crate::Error::config(
            "provenance.kind",
            kind,
            "a devnet window (a recorded window's absent state is unknown, not empty: open it with `open_replay`)",
        ));
    }
    let details = WindowDetails::from_manifest(&window.manifest)?;
    let db = crate::evm::state::load_prestate(&window.accounts, &window.code, &window.storage)?;
    Ok((
        details,
        at_first_block(window, Evm::from_cache_db(db, window.manifest.chain_id)),
    ))
}

/// A window's protocol details and an EVM at its pre-state, at its first block, for a replay and
/// the what-ifs on it: on a recorded window, reading state the recording does not hold is an
/// [`crate::Error::MissingState`] naming the account and slot (never a zero).
pub fn open_replay(window: &Window) -> Result<(WindowDetails, Evm<PrestateDb>)> {
    open_replay_lazy(window, None)
}

/// [`open_replay`], a recorded window reading what it lacks from `lazy` when given one.
pub fn open_replay_lazy(
    window: &Window,
    lazy: Option<LazyState>,
) -> Result<(WindowDetails, Evm<PrestateDb>)> {
    let details = WindowDetails::from_manifest(&window.manifest)?;
    let mut prestate = PrestateDb::new(
        &window.accounts,
        &window.code,
        &window.storage,
        crate::evm::state::Completeness::of_provenance(&window.manifest.provenance.kind),
    )?;
    if let Some(lazy) = lazy {
        prestate = prestate.with_lazy(lazy);
    }
    let db = revm::database::CacheDB::new(prestate);
    Ok((
        details,
        at_first_block(window, Evm::from_cache_db(db, window.manifest.chain_id)),
    ))
}

/// The state a recorded window lacks, from the node at `url` (`liqsim run --rpc`): its state at
/// the window's state block (`first_block - 1`) through the persistent cache under `cache_root`.
/// The node must serve the window's chain (chain id) and history (the window's first block, as
/// the node has it, has the recorded header's timestamp, beneficiary, gas limit and base fee).
pub fn lazy_state(window: &Window, url: &str, cache_root: &Path) -> Result<LazyState> {
    use crate::node::rpc::{RetryPolicy, RpcDb, RpcSource};
    let m = &window.manifest;
    let source = std::sync::Arc::new(RpcSource::open(
        url,
        cache_root,
        Some(m.chain_id),
        RetryPolicy::default(),
    )?);
    let Some(first) = window.blocks.first() else {
        return Err(crate::Error::config(
            "--rpc",
            crate::node::rpc::redact_url(url),
            "a window with blocks",
        ));
    };
    let node = source.blocks(first.number, first.number)?;
    let h = node
        .first()
        .map(|b| &b.block.header)
        .ok_or_else(|| crate::Error::Rpc {
            method: "eth_getBlockByNumber".into(),
            message: format!("the node returned no block {}", first.number),
        })?;
    let node_header = (
        h.timestamp,
        h.beneficiary,
        h.gas_limit,
        h.base_fee_per_gas.unwrap_or(0),
    );
    let recorded = (
        first.timestamp,
        first.beneficiary,
        first.gas_limit,
        first.base_fee,
    );
    if node_header != recorded {
        return Err(crate::Error::Mismatch(format!(
            "the node at {} has another block {} than the dataset {} (timestamp, beneficiary, gas limit, base fee: node {node_header:?}, dataset {recorded:?}): it serves another history; give `--rpc` a node of the chain the window was recorded from",
            crate::node::rpc::redact_url(url),
            first.number,
            m.name
        )));
    }
    let state_block = first.number.checked_sub(1).ok_or_else(|| {
        crate::Error::config(
            "first_block",
            first.number,
            "a window starting after block 0",
        )
    })?;
    Ok(std::sync::Arc::new(RpcDb::new(source, state_block)?))
}

/// `evm` with the block environment of the window's first block.
fn at_first_block<DB>(window: &Window, mut evm: Evm<DB>) -> Evm<DB>
where
    DB: revm::DatabaseRef,
    DB::Error: revm::database_interface::DBErrorMarker + std::fmt::Display,
{
    if let Some(first) = window.blocks.first() {
        evm.set_block(crate::evm::state::block_env(first));
    }
    evm
}

/// Replays a window with the borrower index and opportunity ledger.
pub fn replay_window(window: &Window, strict: bool, show_progress: bool) -> Result<ReplayReport> {
    let (details, mut evm) = open_replay(window)?;
    let mut tracker = OpportunityTracker::new(&details.market, &mut evm, &details.users_at_start)?;
    // Checks of opportunities that surely stay open are computed on the pool beside the replay
    // (the replay's own checks then run in place: waiting on the pool, they would wait behind
    // them).
    tracker.deferral = crate::engine::opportunities::Deferral::Background;
    tracker.parallel = false;
    let bar = if show_progress {
        progress_bar(window.blocks.len() as u64, "replaying")
    } else {
        ProgressBar::hidden()
    };
    let start = Instant::now();
    let fidelity = replay(&mut evm, window, strict, &mut tracker, Some(&bar))?;
    let replayed = start.elapsed().as_secs_f64();
    tracker.settle()?;
    tracing::debug!(
        replayed,
        settled = start.elapsed().as_secs_f64() - replayed,
        "replay, then the deferred checks left"
    );
    bar.finish_and_clear();
    let seconds = start.elapsed().as_secs_f64();
    tracing::debug!(stats = ?tracker.stats, price_updates = fidelity.price_updates, seconds, "replay with book and ledger");
    Ok(ReplayReport {
        fidelity,
        opportunities: tracker.ledger.finish(),
        liquidations_by: tracker.liquidations_by,
        names: details
            .competitors
            .into_iter()
            .chain(details.competitor_contracts)
            .map(|(n, a)| (a, n))
            .collect(),
        seconds,
        stats: tracker.stats,
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
    let (details, mut evm) = open_replay(window)?;
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
    /// Price-moving transactions: those emitting a feed's `AnswerUpdated` or a log of the
    /// protocol's oracle, those sent to an oracle that emits none, and, on a devnet window, every
    /// transaction of the oracle keeper (whatever the mechanism: a proxy's aggregator, a source
    /// swap, a fallback or push oracle, an adapter's rate).
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
    let inspection = inspect_window(&window)?;
    Ok((window.manifest, inspection))
}

/// Counts what `window` holds.
pub fn inspect_window(window: &Window) -> Result<Inspection> {
    let details = WindowDetails::from_manifest(&window.manifest).ok();
    let names: BTreeMap<Address, String> = details
        .as_ref()
        .map(|d| {
            d.competitors
                .iter()
                .chain(&d.competitor_contracts)
                .map(|(n, a)| (*a, n.clone()))
                .collect()
        })
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
            oracle_txs.insert((log.block, log.tx_index));
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
    // An oracle that emits no event: the transactions sent to it. A devnet window: every
    // transaction of the oracle keeper moves a price, whatever the oracle mechanism.
    let silent_oracle = oracle.and_then(|(a, silent)| silent.then_some(a));
    let keeper = details
        .as_ref()
        .filter(|_| window.manifest.provenance.kind == "devnet")
        .map(|d| crate::evm::keys::actor(d.market.kind().oracle_keeper()));
    if silent_oracle.is_some() || keeper.is_some() {
        for t in &window.transactions {
            let tx = crate::evm::tx::SignedTx::decode(&t.raw)?;
            if (silent_oracle.is_some() && tx.to() == silent_oracle) || Some(tx.sender) == keeper {
                oracle_txs.insert((t.block, t.index));
            }
        }
    }
    i.price_updates = oracle_txs.len() as u64;
    i.active_users = users.len();
    Ok(i)
}

/// The real DEX `[dex]` names for `market` (deployed from npm into an empty EVM, installed into
/// every what-if), `None` for the formula model.
pub fn real_dex(
    dex: &crate::scenario::DexConfig,
    market: &crate::protocol::AnyMarket,
) -> Result<Option<std::sync::Arc<crate::protocol::dex::RealDex>>> {
    let Some(route) = dex.route()? else {
        return Ok(None);
    };
    deploy_route(route, dex, market, None).map(Some)
}

/// The real DEXes a run sells through: the scenario's (first), then every other route a strategy
/// instance names (`route`); empty for the formula model, where an instance naming a route is an
/// error naming it.
pub fn real_dexes(
    dex: &crate::scenario::DexConfig,
    market: &crate::protocol::AnyMarket,
    instances: &[crate::strategy::Instance],
) -> Result<Vec<std::sync::Arc<crate::protocol::dex::RealDex>>> {
    real_dexes_on(dex, market, None, instances)
}

/// [`real_dexes`] on a window whose chain holds `chain` (a devnet window built with a real
/// `[dex]`): a route the chain has sells through the chain's own pools at the state each what-if
/// meets; only another route keeps the seeded overlay.
pub fn real_dexes_on(
    dex: &crate::scenario::DexConfig,
    market: &crate::protocol::AnyMarket,
    chain: Option<&crate::protocol::dex::ChainDex>,
    instances: &[crate::strategy::Instance],
) -> Result<Vec<std::sync::Arc<crate::protocol::dex::RealDex>>> {
    let default = match dex.route()? {
        Some(route) => Some(deploy_route(route, dex, market, chain)?),
        None => None,
    };
    let mut out: Vec<_> = default.iter().cloned().collect();
    for (i, inst) in instances.iter().enumerate() {
        let Some(text) = inst.params.get("route") else {
            continue;
        };
        let field = format!("strategies: instance {i} ({}).route", inst.kind);
        let route = crate::protocol::dex::Route::parse(&field, text)?;
        if default.is_none() {
            return Err(crate::error::Error::config(
                field,
                text,
                "no route with [dex] kind = \"formula\" (set kind = \"uniswap-v2\" or \"uniswap-v3\")",
            ));
        }
        if !out.iter().any(|d| d.route() == route) {
            out.push(deploy_route(route, dex, market, chain)?);
        }
    }
    Ok(out)
}

fn deploy_route(
    route: crate::protocol::dex::Route,
    dex: &crate::scenario::DexConfig,
    market: &crate::protocol::AnyMarket,
    chain: Option<&crate::protocol::dex::ChainDex>,
) -> Result<std::sync::Arc<crate::protocol::dex::RealDex>> {
    if !crate::protocol::liquidator::supports(market) {
        return Err(crate::error::Error::config(
            "dex.kind",
            route.name(),
            format!(
                "a market liqsim's liquidator contract supports (Aave V3, Aave V2, \
                 Compound-style): it cannot run {} markets' liquidations (use kind = \"formula\")",
                market.kind().as_str()
            ),
        ));
    }
    let model = dex.model(&market.symbols())?;
    let tokens = market.asset_addresses();
    let decimals = market.decimals();
    let assets = tokens
        .iter()
        .zip(&decimals)
        .zip(&model.pools)
        .map(|((token, decimals), pool)| crate::protocol::dex::DexAsset {
            token: *token,
            decimals: *decimals,
            depth_base: pool.map(|p| p.depth_base).unwrap_or_default(),
        })
        .collect();
    if let Some(chain) = chain.filter(|c| c.route == route) {
        return Ok(std::sync::Arc::new(
            crate::protocol::dex::RealDex::on_chain(chain, assets),
        ));
    }
    let weth = tokens
        .get(market.native_asset()?)
        .copied()
        .unwrap_or_default();
    Ok(std::sync::Arc::new(crate::protocol::dex::RealDex::deploy(
        route, weth, assets,
    )?))
}

/// Replays `window` once, evaluating every strategy instance at every hook point.
pub fn run_strategies(
    window: &Window,
    instances: &[crate::strategy::Instance],
    dex: &crate::scenario::DexConfig,
    strict: bool,
    show_progress: bool,
) -> Result<StrategyRun> {
    run_strategies_lazy(window, instances, dex, strict, show_progress, None)
}

/// [`run_strategies`], a recorded window reading what it lacks from `lazy` when given one
/// ([`lazy_state`]); without one, a replay or what-if reading state the recording lacks is an
/// [`crate::Error::MissingState`] naming it.
pub fn run_strategies_lazy(
    window: &Window,
    instances: &[crate::strategy::Instance],
    dex: &crate::scenario::DexConfig,
    strict: bool,
    show_progress: bool,
    lazy: Option<LazyState>,
) -> Result<StrategyRun> {
    use crate::engine::runner::{competition, StrategyRunner};
    if rayon::current_thread_index().is_none() {
        // Onto a worker of the pool, so that the replay and the evaluation it overlaps with
        // share the pool's threads (`--threads N` is N threads in all), and, on one thread,
        // parallel parts run in place instead of being handed to the pool one by one.
        return rayon::scope(|_| {
            run_strategies_lazy(window, instances, dex, strict, show_progress, lazy)
        });
    }
    let set_up = Instant::now();
    let (details, mut evm) = open_replay_lazy(window, lazy)?;
    let prestate = evm.db().db.clone();
    tracing::debug!(seconds = set_up.elapsed().as_secs_f64(), "pre-state opened");
    let tracker = OpportunityTracker::new(&details.market, &mut evm, &details.users_at_start)?;
    tracing::debug!(seconds = set_up.elapsed().as_secs_f64(), "book built");
    let history = competition(window, &details.market)?;
    let dex_config = dex;
    // The chain's own pools: a devnet window's (its manifest), or those `[dex]` names on a
    // recorded window (`factory`, `router`, `quoter`, `pools`).
    let chain = match (&details.chain_dex, dex.chain_contracts()?, dex.route()?) {
        (Some(_), Some(named), _) => {
            return Err(crate::error::Error::config(
                "dex.factory",
                named.factory,
                "a recorded window (this devnet window's chain holds its own pools)",
            ))
        }
        (None, Some(contracts), Some(route)) => Some(crate::protocol::dex::ChainDex {
            route,
            contracts,
            pools: Vec::new(),
        }),
        (chain, _, _) => chain.clone(),
    };
    let real_dex = real_dexes_on(dex, &details.market, chain.as_ref(), instances)?;
    if let Some(first) = real_dex.first().filter(|_| !dex.pools.is_empty()) {
        crate::protocol::dex::check_named_pools(&mut evm, first, &dex.pools)?;
    }
    let dex = dex.model(&details.market.symbols())?;
    let mut runner = StrategyRunner::new(tracker, history, instances, dex)?
        .with_real_dex(real_dex, dex_config.slippage_bps()?);
    runner.evaluator.last_block = window.blocks.last().map(|b| b.number);
    if let Some(first) = window.blocks.first() {
        runner.record_capital(first.number);
    }
    let bar = if show_progress {
        progress_bar(window.blocks.len() as u64, "replaying")
    } else {
        ProgressBar::hidden()
    };
    tracing::debug!(
        seconds = set_up.elapsed().as_secs_f64(),
        "set up (book, competition, DEX)"
    );
    let start = Instant::now();
    let (fidelity, mut runner) = runner.replay(&mut evm, window, strict, Some(&bar))?;
    tracing::debug!(
        seconds = start.elapsed().as_secs_f64(),
        "replayed and evaluated"
    );
    bar.finish_and_clear();
    if let Some(last) = window.blocks.last() {
        runner.snapshot_health(last.number)?;
        runner.record_capital(last.number);
    }
    let what_ifs = runner.evaluator.what_ifs;
    let evaluation_seconds = runner.evaluator.evaluation_seconds;
    let hooks_evaluated = runner.evaluator.hooks_evaluated;
    let blocks = std::mem::take(&mut runner.blocks);
    let health_snapshots = std::mem::take(&mut runner.health_snapshots);
    let mut capital = std::mem::take(&mut runner.evaluator.capital);
    capital.sort_by_key(|c| (c.instance, c.block));
    let (actions, misses, opportunities) = runner.finish();
    let summary = crate::analytics::summary::summarise_run(
        instances,
        &actions,
        &misses,
        &opportunities,
        &blocks,
    );
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
        lazy_reads: prestate.lazy_reads(),
    })
}

/// The report's methodology for a devnet scenario: market, price path and its source, base-fee
/// path, competitors and their rules, strategy parameters, and the data's dates.
pub fn methodology(loaded: &LoadedScenario) -> Vec<(String, String)> {
    use crate::units::{thousands, utc_text};
    let s = &loaded.scenario;
    let w = &s.window;
    let end = w.start_timestamp + (w.blocks - 1) * w.block_time_seconds;
    let prices = loaded
        .price_paths
        .iter()
        .map(|(sym, pts)| {
            let v: Vec<String> = pts
                .iter()
                .map(|(_, p)| crate::units::format_units(*p, 8))
                .collect();
            let lo = v
                .iter()
                .filter_map(|x| x.parse::<f64>().ok())
                .fold(f64::MAX, f64::min);
            let hi = v
                .iter()
                .filter_map(|x| x.parse::<f64>().ok())
                .fold(0.0, f64::max);
            format!(
                "{sym}: {} points, {}–{} USD",
                pts.len(),
                thousands(lo, 2),
                thousands(hi, 2)
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    let source = match &s.prices.csv {
        Some(csv) => format!("the CSV file {} plus inline points", csv.display()),
        None => "inline points of the scenario".into(),
    };
    let fees: Vec<f64> = loaded
        .base_fee_path
        .iter()
        .map(|(_, w)| crate::units::format_units(*w, 9).parse().unwrap_or(0.0))
        .collect();
    let competitors = if s.competitors.is_empty() {
        "none: every opportunity is uncontested.".to_string()
    } else {
        s.competitors
            .iter()
            .map(|c| {
                let bid = match (&c.bid_share_bps, &c.max_priority_fee_gwei) {
                    (Some(share), cap) => format!(
                        "bids a priority fee of {}% of the opportunity's expected profit per gas (at least {} gwei{})",
                        *share as f64 / 100.0,
                        c.priority_fee_gwei.0,
                        cap.as_ref().map(|c| format!(", at most {} gwei", c.0)).unwrap_or_default()
                    ),
                    (None, _) => format!("pays a fixed {} gwei tip", c.priority_fee_gwei.0),
                };
                format!(
                    "{} acts {} block(s) after a position becomes liquidatable when bonus − gas ≥ {} USD and {bid}",
                    c.name, c.reaction_delay_blocks, c.min_profit_usd.0
                )
            })
            .collect::<Vec<_>>()
            .join("; ")
            + ". Their liquidations are real transactions of the window (the recorded history). A strategy landing `latency_blocks` after its decision loses an opportunity when a competitor's liquidation of that user lands first: in an earlier block, or in the same block with a priority fee at least as high (block order is by priority fee)."
    };
    let strategies = loaded
        .instances
        .iter()
        .enumerate()
        .map(|(i, inst)| {
            format!(
                "{} {} ({})",
                crate::strategy::param_set_id(i),
                inst.kind,
                inst.params_text().replace(';', ", ")
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    vec![
        (
            "Market".into(),
            format!(
                "{} devnet market `{}` on the protocol's published bytecode, assets {}; {} borrowers on {} collateral and {} debt, initial health factors {}–{}.",
                s.market.kind().as_str(),
                loaded.source,
                s.market.symbols().join(", "),
                thousands(s.borrowers.count as f64, 0),
                s.borrowers.collateral.join("/"),
                s.borrowers.debt.join("/"),
                s.borrowers.health_factor_min.0,
                s.borrowers.health_factor_max.0
            ),
        ),
        (
            "Window (dates of the data)".into(),
            format!(
                "{} → {}: {} blocks of {} s from block {} (seed {}).",
                utc_text(w.start_timestamp),
                utc_text(end),
                thousands(w.blocks as f64, 0),
                w.block_time_seconds,
                w.first_block,
                s.seed
            ),
        ),
        (
            "Price path and source".into(),
            format!(
                "From {source}, linear between points, pushed to Chainlink-style feeds on a {} bps deviation or a {} s heartbeat. {prices}.",
                s.prices.deviation_bps, s.prices.heartbeat_seconds
            ),
        ),
        (
            "Base-fee path".into(),
            format!(
                "{} points, linear in between, {}–{} gwei.",
                fees.len(),
                thousands(fees.iter().copied().fold(f64::MAX, f64::min), 0),
                thousands(fees.iter().copied().fold(0.0, f64::max), 0)
            ),
        ),
        ("Competitors and rules".into(), competitors),
        (
            "Strategy parameter sets".into(),
            format!(
                "{strategies}. Every decision is executed by the protocol's own liquidation in revm (what-if); gas = EVM gas × (base fee + tip) at the oracle's native price."
            ),
        ),
    ]
}
