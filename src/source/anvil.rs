//! A local anvil node (foundry's dev node) fetched from npm at first use, started on 127.0.0.1 with
//! a free port for tests and benchmarks, and killed when dropped.

use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::error::{Error, Result};
use crate::protocol::artifacts::{fetch_npm_package, NpmPackage};

/// The anvil binary for linux x86-64, as foundry publishes it on npm.
pub const ANVIL_PACKAGE: NpmPackage = NpmPackage {
    name: "@foundry-rs/anvil-linux-amd64",
    version: "1.7.1",
    integrity: "sha512-+XmShybEaxfCrr0OUUZwYEy2OnYZt5pHH9TzBtLv3+VrK0O/ANuNSVEahqNhKHlgX7GRJ59383ofNhxkRWIYTg==",
    env_override: "LIQSIM_ANVIL",
    extra_artifact_dirs: &[],
};

/// Path of the anvil binary: `LIQSIM_ANVIL` if set, else fetched with npm into the cache.
pub fn anvil_binary() -> Result<PathBuf> {
    if let Some(path) = std::env::var_os(ANVIL_PACKAGE.env_override) {
        return Ok(PathBuf::from(path));
    }
    if !(cfg!(target_os = "linux") && cfg!(target_arch = "x86_64")) {
        return Err(Error::Process {
            program: "anvil".into(),
            message: format!(
                "{} only runs on linux x86-64; install anvil and set {}",
                ANVIL_PACKAGE.name, ANVIL_PACKAGE.env_override
            ),
        });
    }
    let dir = fetch_npm_package(
        &ANVIL_PACKAGE,
        &|p| p == "package/bin/anvil" || p == "package/package.json",
        "bin/anvil",
    )?;
    Ok(dir.join("bin").join("anvil"))
}

/// How to start anvil.
#[derive(Debug, Clone)]
pub struct AnvilOptions {
    /// Chain id.
    pub chain_id: u64,
    /// Timestamp of the genesis block.
    pub genesis_timestamp: u64,
    /// Block gas limit.
    pub gas_limit: u64,
    /// Base fee of the first blocks, wei.
    pub base_fee: u64,
}

/// A running anvil with automine off (`--no-mining`) and FIFO ordering; killed on drop.
pub struct Anvil {
    child: Child,
    /// Port it listens on (127.0.0.1).
    pub port: u16,
}

impl Anvil {
    /// Starts anvil on a free port and waits until it accepts connections.
    pub fn spawn(options: &AnvilOptions) -> Result<Self> {
        let binary = anvil_binary()?;
        let mut last_error = String::new();
        for _ in 0..3 {
            let port = free_port()?;
            let mut child = Command::new(&binary)
                .args(["--host", "127.0.0.1", "--port", &port.to_string()])
                .args(["--order", "fifo", "--no-mining", "--hardfork", "cancun"])
                .args(["--chain-id", &options.chain_id.to_string()])
                .args(["--timestamp", &options.genesis_timestamp.to_string()])
                .args(["--gas-limit", &options.gas_limit.to_string()])
                .args(["--base-fee", &options.base_fee.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| Error::Process {
                    program: binary.display().to_string(),
                    message: format!("cannot start: {e}"),
                })?;
            let deadline = Instant::now() + Duration::from_secs(30);
            loop {
                if let Ok(Some(status)) = child.try_wait() {
                    last_error = format!("exited early with {status} on port {port}");
                    break;
                }
                let addr = SocketAddrV4::new(Ipv4Addr::LOCALHOST, port);
                if TcpStream::connect_timeout(&addr.into(), Duration::from_millis(200)).is_ok() {
                    tracing::info!(port, "anvil started");
                    return Ok(Self { child, port });
                }
                if Instant::now() > deadline {
                    let _ = child.kill();
                    let _ = child.wait();
                    last_error = format!("did not listen on port {port} within 30 s");
                    break;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        }
        Err(Error::Process {
            program: "anvil".into(),
            message: last_error,
        })
    }

    /// HTTP endpoint.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for Anvil {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A port free on 127.0.0.1 right now.
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(|e| Error::io("binding", "127.0.0.1:0", e))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| Error::io("binding", "127.0.0.1:0", e))
}
