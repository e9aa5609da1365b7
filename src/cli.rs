//! Command-line interface: argument parsing and dispatch to the library.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::error::{Error, Result};
use crate::protocol::artifacts::{ArtifactStore, AAVE_V3_CORE};

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
    /// Folder holding an unpacked `@aave/core-v3@1.19.3` (with `artifacts/`); default: fetched with
    /// npm into the cache on first use.
    #[arg(long, env = "LIQSIM_AAVE_V3_ARTIFACTS", help_heading = "Artifacts")]
    pub aave_v3_artifacts: Option<PathBuf>,
}

impl ArtifactArgs {
    /// Opens the Aave V3 artifact store.
    pub fn aave_v3(&self) -> Result<ArtifactStore> {
        ArtifactStore::open(&AAVE_V3_CORE, self.aave_v3_artifacts.as_deref())
    }
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Differential proof: the shared math against the protocol's own bytecode on random positions.
    Verify(VerifyArgs),
    /// Benchmarks.
    Bench(BenchArgs),
}

/// `liqsim verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Protocol to verify.
    #[arg(value_parser = ["aave-v3"], default_value = "aave-v3")]
    pub protocol: String,
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
    #[arg(value_parser = ["health-factor"], default_value = "health-factor")]
    pub which: String,
    /// Positions to evaluate.
    #[arg(long, default_value_t = 200)]
    pub positions: usize,
    /// Artifact location.
    #[command(flatten)]
    pub artifacts: ArtifactArgs,
}

/// Runs a parsed command.
pub fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Verify(args) => {
            let store = args.artifacts.aave_v3()?;
            let report = crate::protocol::aave_v3::differential::run(
                &store,
                args.seed,
                args.cases,
                args.markets,
                args.position,
            )?;
            println!(
                "aave-v3 differential: {} cases over {} positions in {} markets, {} mismatches, {:.1} s",
                report.cases,
                report.positions,
                report.markets,
                report.mismatches.len(),
                report.seconds
            );
            println!(
                "  predicted reverts {}, collateral-capped {}, 100% close factor {}, receiveAToken {}, with protocol fee {}",
                report.predicted_reverts,
                report.capped,
                report.full_close_factor,
                report.receive_a_token,
                report.with_protocol_fee
            );
            for m in report.mismatches.iter().take(20) {
                println!("  MISMATCH {m}");
            }
            if report.mismatches.is_empty() {
                Ok(())
            } else {
                Err(Error::Mismatch(format!(
                    "{} mismatches",
                    report.mismatches.len()
                )))
            }
        }
        Command::Bench(args) => {
            let store = args.artifacts.aave_v3()?;
            let r = crate::bench::health_factor(&store, args.positions)?;
            println!("{r}");
            Ok(())
        }
    }
}
