//! Command-line interface: argument parsing and dispatch to the library.

use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};

use crate::error::{Error, Result};
use crate::protocol::artifacts::ArtifactStore;
use crate::protocol::ProtocolKind;

/// liqsim — historical backtesting of DeFi liquidations on real protocol bytecode.
#[derive(Debug, Parser)]
#[command(name = "liqsim", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Where protocol artifacts come from.
#[derive(Debug, Clone, Args)]
pub struct ArtifactArgs {
    /// `PROTOCOL=DIR`: an unpacked copy of that protocol's npm package (with `artifacts/`), e.g.
    /// `aave-v3=/opt/aave-core-v3`; repeatable. Default: the package's `LIQSIM_*_ARTIFACTS`
    /// variable, else fetched with npm into the cache on first use.
    #[arg(long = "artifacts", value_name = "PROTOCOL=DIR", value_parser = parse_artifacts, help_heading = "Artifacts")]
    pub artifacts: Vec<(ProtocolKind, PathBuf)>,
}

fn parse_artifacts(text: &str) -> std::result::Result<(ProtocolKind, PathBuf), String> {
    let (kind, dir) = text
        .split_once('=')
        .ok_or_else(|| format!("`{text}`: expected PROTOCOL=DIR"))?;
    let kind = ProtocolKind::parse(kind).map_err(|e| e.to_string())?;
    Ok((kind, PathBuf::from(dir)))
}

fn parse_protocol(text: &str) -> std::result::Result<ProtocolKind, String> {
    ProtocolKind::parse(text).map_err(|e| e.to_string())
}

impl ArtifactArgs {
    /// Opens the artifact store of `kind`'s package.
    pub fn store(&self, kind: ProtocolKind) -> Result<ArtifactStore> {
        let explicit = self
            .artifacts
            .iter()
            .rev()
            .find(|(k, _)| *k == kind)
            .map(|(_, dir)| dir.as_path());
        ArtifactStore::open(kind.package(), explicit)
    }
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a scenario: build its dataset on first use, replay it, report opportunities.
    Run(RunArgs),
    /// Datasets: build a devnet window from a scenario.
    #[command(subcommand)]
    Dataset(DatasetCommand),
    /// Record a block range from a node (ideally an archive node) into a dataset.
    Record(RecordArgs),
    /// Show what a dataset holds (after checking every file's hash).
    Inspect(InspectArgs),
    /// The protocol referee: replay a dataset and compare every tracked borrower's health factor
    /// and open opportunity with the protocol's own views after every price update and at every
    /// block's end; exits non-zero on any mismatch.
    CheckWindow(CheckWindowArgs),
    /// Differential proof: the shared math against the protocol's own bytecode on random positions.
    Verify(VerifyArgs),
    /// Benchmarks.
    Bench(BenchArgs),
    /// The window explorer: a local web app showing every position at any point of a window, with
    /// a "liquidate here" what-if (`--what-if`: the same what-if on the command line, as JSON).
    Explore(ExploreArgs),
}

/// `liqsim explore`.
#[derive(Debug, Args)]
pub struct ExploreArgs {
    /// Dataset folder, e.g. `datasets/eth-crash`.
    pub dataset: PathBuf,
    /// A run's output folder (e.g. `out/eth-crash`): shows each strategy's actions and misses.
    #[arg(long)]
    pub run: Option<PathBuf>,
    /// Address to listen on (loopback by default; anything else exposes the explorer).
    #[arg(long, default_value = "127.0.0.1")]
    pub host: std::net::IpAddr,
    /// Port to listen on (0: any free port).
    #[arg(long, default_value_t = 8017)]
    pub port: u16,
    /// Blocks between replay checkpoints (a jump replays at most this many blocks).
    #[arg(long, default_value_t = crate::app::explore::state::DEFAULT_CHECKPOINT_EVERY)]
    pub checkpoint_every: usize,
    /// Instead of serving: run one what-if and print it as JSON (what the page's button shows).
    #[arg(long, requires_all = ["block", "user"])]
    pub what_if: bool,
    /// `--what-if`: block.
    #[arg(long)]
    pub block: Option<u64>,
    /// `--what-if`: the state after this transaction of the block (default: the top of the block).
    #[arg(long)]
    pub tx: Option<u32>,
    /// `--what-if`: the borrower.
    #[arg(long)]
    pub user: Option<alloy_primitives::Address>,
    /// `--what-if`: collateral symbol (default: the best pair's).
    #[arg(long)]
    pub collateral: Option<String>,
    /// `--what-if`: debt symbol (default: the best pair's).
    #[arg(long)]
    pub debt: Option<String>,
    /// `--what-if`: `max`, `close-factor` or a decimal amount of the debt asset.
    #[arg(long, default_value = "max")]
    pub amount: String,
    /// `--what-if`: `own` or `flash-loan`.
    #[arg(long, default_value = "own")]
    pub funding: String,
    /// `--what-if`: priority fee, gwei.
    #[arg(long, default_value = "2")]
    pub tip_gwei: String,
}

/// `liqsim run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// Scenario file; default: the embedded `scenarios/eth-crash.toml`.
    pub scenario: Option<PathBuf>,
    /// Folder holding datasets.
    #[arg(long, default_value = "datasets")]
    pub datasets: PathBuf,
    /// Stop at the first receipt that differs from the recorded one.
    #[arg(long)]
    pub strict: bool,
    /// Output folder; default `out/<scenario name>`.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Threads evaluating strategies (default: all cores; at most 4 per core). Results do not
    /// depend on it.
    #[arg(long)]
    pub threads: Option<usize>,
    /// Write the outputs and exit 0 even when the replay diverged from the recorded receipts
    /// (every divergence is still printed). Without it, a divergence is an error.
    #[arg(long)]
    pub allow_divergence: bool,
    /// Artifact location.
    #[command(flatten)]
    pub artifacts: ArtifactArgs,
}

/// `liqsim record`.
#[derive(Debug, Args)]
pub struct RecordArgs {
    /// JSON-RPC endpoint over HTTP(S); an archive node for anything but recent blocks. Never
    /// printed: logs and errors show it redacted.
    #[arg(long, env = "ETH_RPC_URL", hide_env_values = true)]
    pub rpc_url: String,
    /// The Aave V3 Pool address (or give `--provider`).
    #[arg(long, required_unless_present = "provider")]
    pub pool: Option<alloy_primitives::Address>,
    /// The PoolAddressesProvider address (the Pool is its `getPool()`).
    #[arg(long)]
    pub provider: Option<alloy_primitives::Address>,
    /// First block of the window.
    #[arg(long)]
    pub from: u64,
    /// Last block of the window (inclusive).
    #[arg(long)]
    pub to: u64,
    /// Most blocks the window may span (a guard against a mistyped `--to`).
    #[arg(long, default_value_t = crate::source::record::DEFAULT_MAX_BLOCKS)]
    pub max_blocks: u64,
    /// Output dataset folder, e.g. `datasets/my-window`.
    #[arg(long)]
    pub out: PathBuf,
    /// Dataset whose manifest describes the market (its `protocol` section is reused); default:
    /// the market is discovered from the Pool at `from - 1`.
    #[arg(long)]
    pub market_from: Option<PathBuf>,
    /// Symbol of the reserve that prices gas (default by chain id: WETH, WHYPE, WBERA...).
    #[arg(long)]
    pub native_asset: Option<String>,
    /// Also take as users at the window's start those of the Pool's Supply/Borrow events from
    /// this block on (`eth_getLogs` in chunks of 5,000 blocks, cached; at most 2,000,000 blocks).
    #[arg(long)]
    pub users_from_block: Option<u64>,
    /// File of user addresses (one per line, `#` comments) holding positions at the start.
    #[arg(long)]
    pub users_file: Option<PathBuf>,
    /// Chain id the node must report (refuses to run on a mismatch).
    #[arg(long)]
    pub chain_id: Option<u64>,
}

/// `liqsim dataset ...`.
#[derive(Debug, Subcommand)]
pub enum DatasetCommand {
    /// Build a devnet window from a scenario into `datasets/<name>/`.
    Build(DatasetBuildArgs),
}

/// `liqsim dataset build`.
#[derive(Debug, Args)]
pub struct DatasetBuildArgs {
    /// Scenario file.
    pub scenario: PathBuf,
    /// Output folder; default `datasets/<scenario name>`.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Artifact location.
    #[command(flatten)]
    pub artifacts: ArtifactArgs,
}

/// `liqsim inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Dataset folder, e.g. `datasets/eth-crash`.
    pub dataset: PathBuf,
}

/// `liqsim check-window`.
#[derive(Debug, Args)]
#[command(after_help = "Example:\n  liqsim check-window datasets/eth-crash")]
pub struct CheckWindowArgs {
    /// Dataset folder (devnet-built or recorded), e.g. `datasets/eth-crash`.
    pub dataset: PathBuf,
    /// Mismatches printed at most (all are counted).
    #[arg(long, default_value_t = 50)]
    pub print: usize,
}

/// `liqsim check-window`.
fn check_window(args: &CheckWindowArgs) -> Result<()> {
    let window = crate::data::dataset::read_dataset(&args.dataset)?;
    let report = crate::app::run::check_window(&window, true)?;
    for m in report.mismatches.iter().take(args.print) {
        println!("MISMATCH {m}");
    }
    println!(
        "referee: {} blocks, {} transactions, {} points checked, {} borrower comparisons against the protocol's views, {} opportunities, {:.1} s: {} mismatches",
        report.fidelity.blocks,
        report.fidelity.transactions,
        report.points,
        report.comparisons,
        report.opportunities,
        report.seconds,
        report.mismatches.len()
    );
    if report.mismatches.is_empty() {
        Ok(())
    } else {
        Err(Error::Mismatch(format!(
            "{} mismatches between liqsim and the protocol on {}",
            report.mismatches.len(),
            args.dataset.display()
        )))
    }
}

/// `liqsim verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Protocol to verify: a name of the protocol registry (`aave-v3`, `aave-v2`, `compound` =
    /// Venus isolated pools, a Compound V2 fork).
    #[arg(value_parser = parse_protocol, default_value = "aave-v3")]
    pub protocol: ProtocolKind,
    /// Liquidation cases to check.
    #[arg(long, default_value_t = 1000)]
    pub cases: u64,
    /// Seed of the random positions (a mismatch prints the seed and position to reproduce it).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Random markets (decimals, prices, risk parameters) to spread the cases over.
    #[arg(long, default_value_t = 8)]
    pub markets: usize,
    /// Re-run only this position of the seed (as printed by a mismatch).
    #[arg(long)]
    pub position: Option<u64>,
    /// Artifact location.
    #[command(flatten)]
    pub artifacts: ArtifactArgs,
}

/// `liqsim bench`.
#[derive(Debug, Args)]
pub struct BenchArgs {
    /// Which benchmark.
    #[arg(value_parser = ["health-factor", "replay", "sweep", "rpc", "explore"], default_value = "health-factor")]
    pub which: String,
    /// Dataset folder for `replay`.
    #[arg(long, default_value = "datasets/eth-crash")]
    pub dataset: PathBuf,
    /// Positions to evaluate.
    #[arg(long, default_value_t = 200)]
    pub positions: usize,
    /// `rpc`: milliseconds a loopback proxy waits before forwarding each request (a model of a
    /// remote archive node); 0 talks to anvil directly.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// Artifact location.
    #[command(flatten)]
    pub artifacts: ArtifactArgs,
}

/// Runs a parsed command.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Run(args) => run_scenario(args),
        Command::Dataset(DatasetCommand::Build(args)) => build(args),
        Command::Record(args) => record(args),
        Command::Inspect(args) => inspect(&args),
        Command::CheckWindow(args) => check_window(&args),
        Command::Verify(args) => verify(&args),
        Command::Bench(args) => bench(&args),
        Command::Explore(args) => explore(&args),
    }
}

/// Most threads per core `--threads` accepts.
const THREADS_PER_CORE: usize = 4;

/// Checks `--threads` (1 to [`THREADS_PER_CORE`] × the cores).
fn check_threads(n: usize) -> Result<()> {
    let cores = std::thread::available_parallelism().map_or(1, |c| c.get());
    let max = cores.saturating_mul(THREADS_PER_CORE);
    if n == 0 || n > max {
        return Err(Error::config(
            "--threads",
            n,
            format!("1 to {max} ({THREADS_PER_CORE} per core, {cores} cores)"),
        ));
    }
    Ok(())
}

/// Prints a replay's divergences (each names its block and transaction); an error unless
/// `allowed`.
fn report_divergences(f: &crate::engine::replay::Fidelity, allowed: bool) -> Result<()> {
    if !f.diverged() {
        return Ok(());
    }
    for d in &f.divergences {
        eprintln!("  DIVERGENCE {d}");
    }
    let shown = f.divergences.len() as u64;
    if f.divergence_count > shown {
        eprintln!("  ... and {} more", f.divergence_count - shown);
    }
    let what = format!(
        "the replay diverged from the recorded window: {} of {} receipts matched, {} divergences, the first at {}",
        f.receipts_matched,
        f.transactions,
        f.divergence_count,
        f.first_divergence.as_deref().unwrap_or("-")
    );
    if allowed {
        eprintln!("warning: {what} (continuing: --allow-divergence)");
        Ok(())
    } else {
        Err(Error::Mismatch(format!(
            "{what}; no outputs written (--allow-divergence writes them anyway)"
        )))
    }
}

/// `liqsim run`.
fn run_scenario(args: RunArgs) -> Result<()> {
    use crate::data::folder::{check_apart, lock_shared};
    use crate::scenario::AnyScenario;
    if let Some(n) = args.threads {
        check_threads(n)?;
    }
    let any = match &args.scenario {
        Some(path) => AnyScenario::from_file(path)?,
        None => AnyScenario::Devnet(Box::new(
            crate::scenario::LoadedScenario::default_scenario()?
        )),
    };
    let out = args
        .out
        .unwrap_or_else(|| PathBuf::from("out").join(any.name()));
    crate::output::check_writable(&out)?;
    let dataset_dir = args.datasets.join(any.name());
    check_apart(&out, &args.datasets, "the datasets folder", false)?;
    check_apart(&out, &dataset_dir, "the dataset folder", true)?;
    if let Some(n) = args.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .map_err(|e| Error::config("--threads", n, e.to_string()))?;
    }
    let (dir, instances, source, dex) = match &any {
        AnyScenario::Devnet(loaded) => {
            let store = args.artifacts.store(loaded.scenario.market.kind())?;
            let dir = crate::app::run::ensure_dataset(loaded, &store, &args.datasets)?;
            (dir, &loaded.instances, &loaded.source, &loaded.scenario.dex)
        }
        AnyScenario::Rpc(rpc) => {
            let cache_root = crate::protocol::artifacts::cache_root();
            let dir = crate::source::record::ensure_recorded(rpc, &args.datasets, &cache_root)?;
            (dir, &rpc.instances, &rpc.source, &rpc.file.dex)
        }
    };
    let window = {
        let _reading = lock_shared(&dir)?;
        crate::data::dataset::read_dataset(&dir)?
    };
    let run = crate::app::run::run_strategies(&window, instances, dex, args.strict, true)?;
    report_divergences(&run.fidelity, args.allow_divergence)?;
    crate::output::write_outputs(&out, &run, instances, source)?;
    let f = &run.fidelity;
    println!(
        "replayed {} blocks, {} transactions ({:.1} Mgas): {} receipts matched ({:.1}%); {} what-if executions in {:.1} s",
        f.blocks, f.transactions, f.gas_used as f64 / 1e6, f.receipts_matched, f.matched_percent(), run.what_ifs, run.seconds
    );
    println!(
        "{} liquidation opportunities; outputs in {}",
        run.opportunities.len(),
        out.display()
    );
    print!("{}", crate::analytics::summary::table(&run.summary));
    Ok(())
}

/// `liqsim dataset build`.
fn build(args: DatasetBuildArgs) -> Result<()> {
    let loaded = crate::scenario::LoadedScenario::from_file(&args.scenario)?;
    let store = args.artifacts.store(loaded.scenario.market.kind())?;
    let out = args
        .out
        .unwrap_or_else(|| PathBuf::from("datasets").join(&loaded.scenario.name));
    let start = std::time::Instant::now();
    let manifest = crate::app::run::build_dataset(&loaded, &store, &out)?;
    println!(
        "built {} (blocks {}..={}) in {:.1} s",
        out.display(),
        manifest.first_block,
        manifest.last_block,
        start.elapsed().as_secs_f64()
    );
    Ok(())
}

/// `liqsim inspect`.
fn inspect(args: &InspectArgs) -> Result<()> {
    let (m, i) = crate::app::run::inspect(&args.dataset)?;
    println!(
        "dataset {} (format {}, chain {}, {} by {})",
        m.name,
        m.format_version,
        m.chain_id,
        m.provenance.kind,
        m.provenance.scenario.as_deref().unwrap_or("-")
    );
    println!(
        "  blocks {}..={} ({}), transactions {} ({} failed), gas {:.1} M",
        m.first_block,
        m.last_block,
        i.blocks,
        i.transactions,
        i.failed,
        i.gas_used as f64 / 1e6
    );
    println!(
        "  protocol {} at pool {}",
        m.protocol.kind,
        m.protocol
            .addresses
            .get("pool")
            .map(|a| a.to_string())
            .unwrap_or_default()
    );
    println!(
        "  pre-state: {} accounts, {} contracts, {} storage slots",
        i.prestate.0, i.prestate.1, i.prestate.2
    );
    println!(
        "  borrowers at start {}, active users in the window {}, oracle updates {}",
        i.borrowers_at_start, i.active_users, i.price_updates
    );
    for (who, n) in &i.liquidations {
        println!("  liquidations by {who}: {n}");
    }
    Ok(())
}

/// `liqsim verify`.
fn verify(args: &VerifyArgs) -> Result<()> {
    let store = args.artifacts.store(args.protocol)?;
    let report =
        args.protocol
            .verify(&store, args.seed, args.cases, args.markets, args.position)?;
    println!("{}", report.summary);
    verdict(&report.mismatches)
}

/// `liqsim bench`.
fn bench(args: &BenchArgs) -> Result<()> {
    match args.which.as_str() {
        "replay" => println!("{}", crate::app::bench::replay(&args.dataset, 3)?),
        "rpc" => {
            let default = PathBuf::from("datasets/eth-crash");
            if args.dataset == default && !default.join("manifest.json").exists() {
                let loaded = crate::scenario::LoadedScenario::default_scenario()?;
                let store = args.artifacts.store(ProtocolKind::AaveV3)?;
                crate::app::run::ensure_dataset(&loaded, &store, Path::new("datasets"))?;
            }
            let work = crate::app::bench_rpc::default_work_dir();
            println!(
                "{}",
                crate::app::bench_rpc::run(&args.dataset, args.latency_ms, &work)?
            );
        }
        "explore" => println!(
            "{}",
            crate::app::bench::explore(
                &args.dataset,
                crate::app::explore::state::DEFAULT_CHECKPOINT_EVERY,
                200
            )?
        ),
        "sweep" => {
            let (default, large) = crate::app::bench::sweeps(&args.dataset, 2)?;
            println!("default scenario's {default}\nlarge {large}");
        }
        _ => {
            let store = args.artifacts.store(ProtocolKind::AaveV3)?;
            println!(
                "{}",
                crate::app::bench::health_factor(&store, args.positions)?
            );
        }
    }
    Ok(())
}

/// `liqsim explore`.
fn explore(args: &ExploreArgs) -> Result<()> {
    if args.what_if {
        println!("{}", what_if_text(args)?);
        return Ok(());
    }
    let (explorer, run) = open_explorer(args)?;
    if !args.host.is_loopback() {
        tracing::warn!(host = %args.host, "the explorer listens beyond loopback");
        eprintln!(
            "warning: listening on {} exposes the explorer beyond this machine",
            args.host
        );
    }
    let app = crate::app::explore::server::ExplorerApp { explorer, run };
    crate::app::explore::server::serve(app, args.host, args.port, |bound| {
        println!("liqsim explorer: http://{bound}/");
        let _ = std::io::Write::flush(&mut std::io::stdout());
    })
}

/// Opens `liqsim explore`'s dataset (and run outputs, with `--run`).
pub fn open_explorer(
    args: &ExploreArgs,
) -> Result<(
    crate::app::explore::state::Explorer,
    Option<crate::app::explore::run_outputs::RunOutputs>,
)> {
    let run = args
        .run
        .as_deref()
        .map(crate::app::explore::run_outputs::RunOutputs::read)
        .transpose()?;
    let window = crate::data::dataset::read_dataset(&args.dataset)?;
    let explorer = crate::app::explore::state::Explorer::open(window, args.checkpoint_every)?;
    Ok((explorer, run))
}

/// `liqsim explore --what-if ...`: the what-if as the JSON text it prints (the API's answer).
pub fn what_if_text(args: &ExploreArgs) -> Result<String> {
    use crate::app::explore::{state, view};
    let (Some(block), Some(user)) = (args.block, args.user) else {
        return Err(Error::config("--what-if", "", "needs --block and --user"));
    };
    let explore_err = |e: state::ExploreError| match e {
        state::ExploreError::Internal(e) => e,
        state::ExploreError::Bad(b) => Error::config("--what-if", "", b.message()),
    };
    let funding = view::WhatIfFunding::parse(&args.funding).map_err(explore_err)?;
    let (explorer, run) = open_explorer(args)?;
    let request = view::WhatIfRequest {
        point: state::Point { block, tx: args.tx },
        user,
        collateral: args.collateral.clone(),
        debt: args.debt.clone(),
        amount: view::Amount::parse(&args.amount),
        funding,
        tip_gwei: args.tip_gwei.clone(),
    };
    let result = view::what_if(&explorer, run.as_ref(), &request).map_err(explore_err)?;
    serde_json::to_string_pretty(&result).map_err(|e| Error::Decode {
        what: "what-if".into(),
        message: e.to_string(),
    })
}

fn record(args: RecordArgs) -> Result<()> {
    use crate::node::rpc::{RetryPolicy, RpcSource};
    crate::data::folder::check_replaceable(&args.out, crate::data::folder::FolderKind::Dataset)?;
    crate::source::record::check_range(args.from, args.to, args.max_blocks)?;
    let protocol = match &args.market_from {
        Some(market) => Some(crate::data::dataset::read_manifest(market)?.protocol),
        None => None,
    };
    let users = match &args.users_file {
        Some(path) => crate::source::discovery::read_users_file(path)?,
        None => Vec::new(),
    };
    let name = args
        .out
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_else(|| "recorded".into());
    let cache_root = crate::protocol::artifacts::cache_root();
    let source = std::sync::Arc::new(RpcSource::open(
        &args.rpc_url,
        &cache_root,
        args.chain_id,
        RetryPolicy::default(),
    )?);
    let options = crate::source::record::RecordOptions {
        max_blocks: args.max_blocks,
        name,
        from: args.from,
        to: args.to,
        pool: args.pool,
        protocol,
        discovery: crate::source::discovery::DiscoveryOptions {
            provider: args.provider,
            native_asset: args.native_asset.clone(),
            users_from_block: args.users_from_block,
            users,
        },
    };
    let report = crate::source::record::record_window(source, &options)?;
    crate::data::dataset::write_dataset(&args.out, &report.window)?;
    let f = &report.fidelity;
    println!(
        "recorded {} (chain {}, blocks {}..={}): {} transactions, pre-state {} accounts / {} contracts / {} slots",
        args.out.display(),
        report.window.manifest.chain_id,
        args.from,
        args.to,
        report.window.transactions.len(),
        report.window.accounts.len(),
        report.window.code.len(),
        report.window.storage.len()
    );
    println!(
        "  {} RPC requests ({} retries) in {:.2} s; replay matched {}/{} receipts",
        report.requests, report.retries, report.seconds, f.receipts_matched, f.transactions
    );
    if let Some(d) = &f.first_divergence {
        println!("  first divergence: {d}");
    }
    Ok(())
}

/// Prints the first mismatches of a differential run; any mismatch makes the command fail.
fn verdict(mismatches: &[String]) -> Result<()> {
    for m in mismatches.iter().take(20) {
        println!("  MISMATCH {m}");
    }
    if mismatches.is_empty() {
        Ok(())
    } else {
        Err(Error::Mismatch(format!("{} mismatches", mismatches.len())))
    }
}
