//! Command-line interface: argument parsing and dispatch to the library.

use std::path::{Path, PathBuf};

use clap::{Args, Parser, Subcommand};

use crate::error::{Error, Result};
use crate::protocol::artifacts::ArtifactStore;
use crate::protocol::ProtocolKind;

/// liqsim — historical backtesting of DeFi liquidations on real protocol bytecode.
#[derive(Debug, Parser)]
#[command(
    name = "liqsim",
    version,
    about,
    after_help = "Examples:\n  liqsim run                                   # the embedded default scenario\n  liqsim check scenarios/pippi.toml            # what a scenario will do, before running it\n  liqsim run scenarios/pippi.toml -o out/p --set seed=7\n  liqsim run tests/fixtures/small-crash.toml --seeds 1..20\n  liqsim dataset inspect datasets/eth-crash\n  liqsim record --market AaveV3Ethereum --blocks 20460000:20460300 -o datasets/w"
)]
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
    #[command(
        after_help = "Examples:\n  liqsim run                                        # embedded default → out/eth-crash\n  liqsim run scenarios/pippi.toml -o out/pippi -j 2\n  liqsim run --set competitors[0].reaction_delay_blocks=3 --set 'strategies[0].latency_blocks=[0,1,2]'\n  liqsim run tests/fixtures/small-crash.toml --seeds 1..20   # mean, p5, p95 over 20 devnet windows"
    )]
    Run(RunArgs),
    /// Check a scenario without running it: the window's UTC span, price coverage per symbol,
    /// price paths far from the market's starting prices, relative-looking timestamps, sweep points
    /// that cannot differ, engine limits.
    #[command(
        after_help = "Examples:\n  liqsim check                                   # the embedded default\n  liqsim check scenarios/hadouken-v2.toml\n  liqsim check my.toml --set window.blocks=600"
    )]
    Check(CheckArgs),
    /// Datasets: build a devnet window from a scenario, or inspect one.
    #[command(subcommand)]
    Dataset(DatasetCommand),
    /// Record a block range from a node (ideally an archive node) into a dataset.
    #[command(
        after_help = "Examples:\n  export ETH_RPC_URL=https://user:key@archive-node:8545\n  liqsim record --pool 0x87870Bca3F3fD6335C3F4ce8392D69350B4fA4E2 --blocks 20460000:20460300 --chain-id 1 -o datasets/mainnet-window\n  liqsim record --market AaveV3Ethereum --blocks 20460000:20460300 -o datasets/w   # Pool, provider, chain from the Aave address book\n  liqsim record --provider 0x2f39d218133AFaB8F2B819B1066c7E434Ad94E9e --from 20460000 --to 20460300 -o datasets/w"
    )]
    Record(RecordArgs),
    /// Show what a dataset holds (after checking every file's hash); the same as `dataset inspect`.
    #[command(after_help = "Example:\n  liqsim inspect datasets/eth-crash")]
    Inspect(InspectArgs),
    /// The protocol referee: replay a dataset and compare every tracked borrower's health factor
    /// and open opportunity with the protocol's own views after every price update and at every
    /// block's end; exits non-zero on any mismatch.
    CheckWindow(CheckWindowArgs),
    /// Differential proof: the shared math against the protocol's own bytecode on random positions.
    #[command(
        after_help = "Examples:\n  liqsim verify aave-v3 --cases 1000 --seed 1 --markets 8\n  liqsim verify compound --seed 3 --position 17   # replay one printed mismatch"
    )]
    Verify(VerifyArgs),
    /// Benchmarks.
    #[command(
        after_help = "Examples:\n  liqsim bench replay -d datasets/eth-crash\n  liqsim bench sweep -d datasets/eth-crash\n  liqsim bench rpc --latency-ms 20\n  liqsim bench health-factor --positions 300"
    )]
    Bench(BenchArgs),
    /// The window explorer: a local web app showing every position at any point of a window, with
    /// a "liquidate here" what-if (`--what-if`: the same what-if on the command line, as JSON).
    #[command(
        after_help = "Examples:\n  liqsim explore datasets/eth-crash --run out/eth-crash\n  liqsim explore datasets/eth-crash --what-if --block 12461440 --user 0xabc... --amount close-factor"
    )]
    Explore(ExploreArgs),
    /// Studies: write the shard list of a study file (windows × parameter subsets × seeds).
    Plan(crate::app::study::PlanArgs),
    /// Studies: run one shard of a plan into its partition folder (`OUT/shard=I/`).
    #[command(subcommand)]
    Shard(crate::app::study::ShardCommand),
    /// Studies: build a study's tables, charts and report from its shards' partitions.
    Merge(crate::app::study::MergeArgs),
    /// Studies: run a whole study in this process (the same outputs as its shards merged).
    Study(crate::app::study::StudyArgs),
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
    #[arg(short, long, default_value_t = 8017)]
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
    #[arg(short, long, default_value = "datasets")]
    pub datasets: PathBuf,
    /// Stop at the first receipt that differs from the recorded one.
    #[arg(long)]
    pub strict: bool,
    /// Output folder; default `out/<scenario name>` (`out/<name>-seeds` with `--seeds`).
    #[arg(short, long)]
    pub out: Option<PathBuf>,
    /// Threads evaluating strategies (default: all cores; at most 4 per core). Results do not
    /// depend on it.
    #[arg(short = 'j', long)]
    pub threads: Option<usize>,
    /// Write the outputs and exit 0 even when the replay diverged from the recorded receipts
    /// (every divergence is still printed). Without it, a divergence is an error.
    #[arg(long)]
    pub allow_divergence: bool,
    /// `KEY=VALUE`: override one scenario value without editing the file, e.g. `window.blocks=600`,
    /// `competitors[1].priority_fee_gwei=3`, `strategies[0].latency_blocks=[0,1,2]`; repeatable.
    #[arg(short, long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Monte Carlo over devnet windows: `A..B` (both included) or `1,4,9`; each seed builds its
    /// own window (`datasets/<name>-seed<N>`), and each parameter set's mean, p5 and p95 are
    /// reported (`seeds.parquet`, `seeds_summary.parquet`).
    #[arg(long, value_name = "A..B", value_parser = parse_seeds)]
    pub seeds: Option<Seeds>,
    /// A node (archive, JSON-RPC over HTTP(S)) to fetch what a recorded window's pre-state lacks
    /// (state a what-if reads that the recording did not probe), at the window's state block,
    /// through the persistent RPC cache. Without it such a read is an error naming the account
    /// and slot. Devnet windows are complete and never use it. Never printed unredacted.
    #[arg(long, value_name = "URL")]
    pub rpc: Option<String>,
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
    /// The Aave V3 Pool address (or give `--provider` or `--market`).
    #[arg(long, required_unless_present_any = ["provider", "market"])]
    pub pool: Option<alloy_primitives::Address>,
    /// The PoolAddressesProvider address (the Pool is its `getPool()`).
    #[arg(long)]
    pub provider: Option<alloy_primitives::Address>,
    /// A market of the Aave address book by name, e.g. `AaveV3Ethereum`: Pool, provider and
    /// chain id come from `@aave-dao/aave-address-book` (fetched with npm at first use).
    #[arg(long, conflicts_with_all = ["pool", "provider"])]
    pub market: Option<String>,
    /// First block of the window (or give `--blocks`).
    #[arg(
        long,
        required_unless_present = "blocks",
        conflicts_with = "blocks",
        requires = "to"
    )]
    pub from: Option<u64>,
    /// Last block of the window (inclusive).
    #[arg(long, requires = "from")]
    pub to: Option<u64>,
    /// The window as `FROM:TO` (both included), instead of `--from`/`--to`.
    #[arg(short, long, value_name = "FROM:TO", value_parser = parse_blocks)]
    pub blocks: Option<(u64, u64)>,
    /// Most blocks the window may span (a guard against a mistyped `--to`).
    #[arg(long, default_value_t = crate::source::record::DEFAULT_MAX_BLOCKS)]
    pub max_blocks: u64,
    /// Output dataset folder, e.g. `datasets/my-window`.
    #[arg(short, long)]
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
    /// Record only what the replay reads, without probing the what-if liquidations (tests and
    /// measurements: `liqsim run` on such a window fails on the first what-if reading state it
    /// lacks).
    #[arg(long, hide = true)]
    pub no_probe: bool,
}

/// `liqsim check`.
#[derive(Debug, Args)]
pub struct CheckArgs {
    /// Scenario file; default: the embedded `scenarios/eth-crash.toml`.
    pub scenario: Option<PathBuf>,
    /// `KEY=VALUE` overrides, as `liqsim run --set`.
    #[arg(short, long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
}

/// The seeds of `--seeds`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Seeds(pub Vec<u64>);

/// `--seeds A..B` (inclusive) or `a,b,c`.
pub fn parse_seeds(text: &str) -> std::result::Result<Seeds, String> {
    let bad = || format!("`{text}`: expected A..B (e.g. 1..20, both included) or a list 1,4,9");
    let seeds: Vec<u64> = if let Some((a, b)) = text.split_once("..") {
        let b = b.strip_prefix('=').unwrap_or(b);
        let (a, b): (u64, u64) = (
            a.trim().parse().map_err(|_| bad())?,
            b.trim().parse().map_err(|_| bad())?,
        );
        if a > b || b - a >= 10_000 {
            return Err(format!("`{text}`: expected A ≤ B and at most 10,000 seeds"));
        }
        (a..=b).collect()
    } else {
        text.split(',')
            .map(|s| s.trim().parse().map_err(|_| bad()))
            .collect::<std::result::Result<_, _>>()?
    };
    if seeds.is_empty() {
        return Err(bad());
    }
    Ok(Seeds(seeds))
}

/// `--blocks FROM:TO` (inclusive, as cryo writes ranges).
pub fn parse_blocks(text: &str) -> std::result::Result<(u64, u64), String> {
    let bad = || format!("`{text}`: expected FROM:TO, e.g. 20460000:20460300");
    let (a, b) = text.split_once(':').ok_or_else(bad)?;
    let (a, b): (u64, u64) = (
        a.trim().replace('_', "").parse().map_err(|_| bad())?,
        b.trim().replace('_', "").parse().map_err(|_| bad())?,
    );
    if a > b {
        return Err(format!("`{text}`: FROM must not exceed TO"));
    }
    Ok((a, b))
}

/// `liqsim dataset ...`.
#[derive(Debug, Subcommand)]
pub enum DatasetCommand {
    /// Build a devnet window from a scenario into `datasets/<name>/`.
    #[command(
        after_help = "Example:\n  liqsim dataset build scenarios/eth-crash.toml -o datasets/eth-crash"
    )]
    Build(DatasetBuildArgs),
    /// Show what a dataset holds (after checking every file's hash).
    #[command(after_help = "Example:\n  liqsim dataset inspect datasets/eth-crash")]
    Inspect(InspectArgs),
}

/// `liqsim dataset build`.
#[derive(Debug, Args)]
pub struct DatasetBuildArgs {
    /// Scenario file.
    pub scenario: PathBuf,
    /// Output folder; default `datasets/<scenario name>`.
    #[arg(short, long)]
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
    #[arg(short, long, default_value = "datasets/eth-crash")]
    pub dataset: PathBuf,
    /// Positions to evaluate.
    #[arg(long, default_value_t = 200)]
    pub positions: usize,
    /// `rpc`: milliseconds a loopback proxy waits before forwarding each request (a model of a
    /// remote archive node); 0 talks to anvil directly.
    #[arg(long, default_value_t = 0)]
    pub latency_ms: u64,
    /// `replay`, `sweep`: rounds timed (each figure is the best of them).
    #[arg(long)]
    pub rounds: Option<usize>,
    /// Artifact location.
    #[command(flatten)]
    pub artifacts: ArtifactArgs,
}

/// Runs a parsed command.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Run(args) => run_scenario(args),
        Command::Check(args) => check(&args),
        Command::Dataset(DatasetCommand::Build(args)) => build(args),
        Command::Dataset(DatasetCommand::Inspect(args)) => inspect(&args),
        Command::Record(args) => record(args),
        Command::Inspect(args) => inspect(&args),
        Command::CheckWindow(args) => check_window(&args),
        Command::Verify(args) => verify(&args),
        Command::Bench(args) => bench(&args),
        Command::Explore(args) => explore(&args),
        Command::Plan(args) => crate::app::study::plan(&args),
        Command::Shard(crate::app::study::ShardCommand::Run(args)) => {
            crate::app::study::shard_run(&args)
        }
        Command::Merge(args) => crate::app::study::merge(&args),
        Command::Study(args) => crate::app::study::study(&args),
    }
}

/// Most threads per core `--threads` accepts.
const THREADS_PER_CORE: usize = 4;

/// Checks `--threads` (1 to [`THREADS_PER_CORE`] × the cores).
pub(crate) fn check_threads(n: usize) -> Result<()> {
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
pub(crate) fn report_divergences(f: &crate::engine::replay::Fidelity, allowed: bool) -> Result<()> {
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

/// `liqsim check`: prints every finding; fails on an error.
fn check(args: &CheckArgs) -> Result<()> {
    use crate::scenario::AnyScenario;
    let any = AnyScenario::load(args.scenario.as_deref(), &args.set)?;
    let AnyScenario::Devnet(loaded) = any else {
        println!(
            "info: an RPC scenario: its window is recorded from the node, nothing to check offline"
        );
        return Ok(());
    };
    let findings = crate::scenario::check::check(&loaded);
    for f in &findings {
        println!("{f}");
    }
    crate::scenario::check::first_error(&findings, &loaded.source)
}

/// What `run` prints before it starts: the window's span and the scenario's warnings; stops on an
/// engine-limit error. Returns the warnings for the report.
pub(crate) fn preflight(loaded: &crate::scenario::LoadedScenario) -> Result<Vec<String>> {
    use crate::scenario::check::Level;
    let findings = crate::scenario::check::check(loaded);
    for f in findings
        .iter()
        .filter(|f| f.level != Level::Info || f.field == "window")
    {
        eprintln!("{f}");
    }
    crate::scenario::check::first_error(&findings, &loaded.source)?;
    Ok(findings
        .iter()
        .filter(|f| f.level == Level::Warning)
        .map(|f| format!("{}: {}", f.field, f.message))
        .collect())
}

/// sha256 of a dataset's `manifest.json` (which holds every file's sha256).
pub(crate) fn dataset_sha256(dir: &Path) -> Result<String> {
    use sha2::Digest;
    let path = dir.join("manifest.json");
    let bytes = std::fs::read(&path).map_err(|e| Error::io("reading", &path, e))?;
    Ok(hex::encode(sha2::Sha256::digest(&bytes)))
}

/// `liqsim run`.
fn run_scenario(args: RunArgs) -> Result<()> {
    use crate::data::folder::{check_apart, lock_shared};
    use crate::scenario::AnyScenario;
    if let Some(n) = args.threads {
        check_threads(n)?;
    }
    let any = AnyScenario::load(args.scenario.as_deref(), &args.set)?;
    if let Some(n) = args.threads {
        rayon::ThreadPoolBuilder::new()
            .num_threads(n)
            .build_global()
            .map_err(|e| Error::config("--threads", n, e.to_string()))?;
    }
    if let Some(seeds) = &args.seeds {
        return run_seeds(&args, &any, &seeds.0);
    }
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("out").join(any.name()));
    crate::output::check_writable(&out)?;
    let dataset_dir = args.datasets.join(any.name());
    check_apart(&out, &args.datasets, "the datasets folder", false)?;
    check_apart(&out, &dataset_dir, "the dataset folder", true)?;
    let mut context = crate::output::RunContext {
        command_line: std::env::args().collect(),
        ..Default::default()
    };
    let (dir, instances, source, dex) = match &any {
        AnyScenario::Devnet(loaded) => {
            context.warnings = preflight(loaded)?;
            context.methodology = crate::app::run::methodology(loaded);
            context.scenario_sha256 = loaded.sha256.clone();
            context.start_timestamp = loaded.scenario.window.start_timestamp;
            let store = args.artifacts.store(loaded.scenario.market.kind())?;
            let dir = crate::app::run::ensure_dataset(loaded, &store, &args.datasets)?;
            (dir, &loaded.instances, &loaded.source, &loaded.scenario.dex)
        }
        AnyScenario::Rpc(rpc) => {
            let cache_root = crate::protocol::artifacts::cache_root();
            let dir = crate::source::record::ensure_recorded(rpc, &args.datasets, &cache_root)?;
            context.scenario_sha256 = rpc.window_sha256.clone();
            context.methodology = vec![(
                "Source".into(),
                format!(
                    "recorded from a node ({}); the competitors are the window's real liquidators",
                    rpc.source
                ),
            )];
            (dir, &rpc.instances, &rpc.source, &rpc.file.dex)
        }
    };
    let window = {
        let _reading = lock_shared(&dir)?;
        context.dataset_sha256 = dataset_sha256(&dir)?;
        crate::data::dataset::read_dataset(&dir)?
    };
    if context.start_timestamp == 0 {
        context.start_timestamp = window.blocks.first().map(|b| b.timestamp).unwrap_or(0);
    }
    let lazy = match &args.rpc {
        Some(url)
            if crate::evm::state::Completeness::of_provenance(&window.manifest.provenance.kind)
                == crate::evm::state::Completeness::Recorded =>
        {
            let cache_root = crate::protocol::artifacts::cache_root();
            Some(crate::app::run::lazy_state(&window, url, &cache_root)?)
        }
        Some(_) => {
            eprintln!("--rpc not used: a devnet window's pre-state is complete");
            None
        }
        None => None,
    };
    let run =
        crate::app::run::run_strategies_lazy(&window, instances, dex, args.strict, true, lazy)?;
    if args.rpc.is_some() && run.lazy_reads > 0 {
        eprintln!(
            "{} reads of state the recording lacks were fetched from the node (kept in the RPC cache)",
            run.lazy_reads
        );
    }
    report_divergences(&run.fidelity, args.allow_divergence)?;
    crate::output::write_run_outputs(
        &out,
        &crate::output::RunOutputs {
            run: &run,
            instances,
            scenario: source,
            context: &context,
        },
    )?;
    let f = &run.fidelity;
    println!(
        "replayed {} blocks, {} transactions ({:.1} Mgas): {} receipts matched ({:.1}%)\n{} what-if executions in {:.1} s",
        f.blocks, f.transactions, f.gas_used as f64 / 1e6, f.receipts_matched, f.matched_percent(), run.what_ifs, run.seconds
    );
    println!(
        "{} liquidation opportunities; outputs in {} (report.html)",
        run.opportunities.len(),
        out.display()
    );
    print!(
        "{}",
        crate::analytics::summary::table(&run.summary, instances)
    );
    Ok(())
}

/// `liqsim run --seeds`: the scenario over several devnet windows, each seed its own dataset.
fn run_seeds(args: &RunArgs, any: &crate::scenario::AnyScenario, seeds: &[u64]) -> Result<()> {
    let crate::scenario::AnyScenario::Devnet(first) = any else {
        return Err(Error::config(
            "--seeds",
            "",
            "a devnet scenario (an RPC scenario's window is what the chain recorded)",
        ));
    };
    let name = first.scenario.name.clone();
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("out").join(format!("{name}-seeds")));
    crate::output::check_writable(&out)?;
    preflight(first)?;
    let store = args.artifacts.store(first.scenario.market.kind())?;
    let mut per_seed = Vec::new();
    for &seed in seeds {
        let mut sets = args.set.clone();
        sets.push(format!("seed={seed}"));
        sets.push(format!("name=\"{name}-seed{seed}\""));
        let crate::scenario::AnyScenario::Devnet(loaded) =
            crate::scenario::AnyScenario::load(args.scenario.as_deref(), &sets)?
        else {
            continue;
        };
        let dir = crate::app::run::ensure_dataset(&loaded, &store, &args.datasets)?;
        let window = crate::data::dataset::read_dataset(&dir)?;
        let run = crate::app::run::run_strategies(
            &window,
            &loaded.instances,
            &loaded.scenario.dex,
            args.strict,
            false,
        )?;
        eprintln!("seed {seed}: {} opportunities", run.opportunities.len());
        per_seed.push((seed, run.summary));
    }
    let spread = crate::analytics::seeds::spread(&per_seed);
    crate::output::seeds::write(&out, &first.instances, &per_seed, &spread)?;
    println!(
        "{} seeds ({}); outputs in {}",
        seeds.len(),
        seeds
            .iter()
            .map(u64::to_string)
            .collect::<Vec<_>>()
            .join(","),
        out.display()
    );
    print!(
        "{}",
        crate::analytics::seeds::table(&spread, &first.instances)
    );
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
        "  borrowers at start {}, active users in the window {}, price-moving transactions {}",
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
        "replay" => println!(
            "{}",
            crate::app::bench::replay(&args.dataset, args.rounds.unwrap_or(3))?
        ),
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
            let (default, large) =
                crate::app::bench::sweeps(&args.dataset, args.rounds.unwrap_or(2))?;
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
    let (from, to) = match (args.blocks, args.from, args.to) {
        (Some(range), _, _) => range,
        (None, Some(from), Some(to)) => (from, to),
        _ => {
            return Err(Error::config(
                "--from/--to",
                "",
                "both, or --blocks FROM:TO",
            ))
        }
    };
    crate::source::record::check_range(from, to, args.max_blocks)?;
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
    let (pool, provider, chain_id) = match &args.market {
        Some(name) => {
            let m = crate::source::address_book::resolve_aave_v3(name, args.chain_id)?;
            (Some(m.pool), Some(m.provider), Some(m.chain_id))
        }
        None => (args.pool, args.provider, args.chain_id),
    };
    let source = std::sync::Arc::new(RpcSource::open(
        &args.rpc_url,
        &cache_root,
        chain_id,
        RetryPolicy::default(),
    )?);

    let options = crate::source::record::RecordOptions {
        max_blocks: args.max_blocks,
        name,
        from,
        to,
        pool,
        protocol,
        discovery: crate::source::discovery::DiscoveryOptions {
            provider,
            native_asset: args.native_asset.clone(),
            users_from_block: args.users_from_block,
            users,
        },
        probe: !args.no_probe,
    };
    let report = crate::source::record::record_window(source, &options)?;
    crate::data::dataset::write_dataset(&args.out, &report.window)?;
    let f = &report.fidelity;
    println!(
        "recorded {} (chain {}, blocks {}..={}): {} transactions, pre-state {} accounts / {} contracts / {} slots",
        args.out.display(),
        report.window.manifest.chain_id,
        from,
        to,
        report.window.transactions.len(),
        report.window.accounts.len(),
        report.window.code.len(),
        report.window.storage.len()
    );
    println!(
        "  {} RPC requests ({} retries) in {:.2} s; replay matched {}/{} receipts; {} what-if probes at {} hook points",
        report.requests,
        report.retries,
        report.seconds,
        f.receipts_matched,
        f.transactions,
        report.probe_what_ifs,
        report.probe_hook_points
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
