//! liqsim command-line entry point: parse, run, print the error in one line, exit non-zero.

use clap::Parser;

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = liqsim::app::cli::Cli::parse();
    liqsim::app::cli::run(cli)?;
    Ok(())
}
