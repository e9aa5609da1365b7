//! A local anvil node (foundry's dev node) fetched from npm at first use, started on 127.0.0.1 with
//! a free port for tests and benchmarks, and killed when dropped; and the feeder that replays a
//! recorded window into it (pre-state, then every block with its own transactions).

use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use alloy_primitives::B256;

use crate::data::records::Window;
use crate::error::{Error, Result};
use crate::node::rpc::{RetryPolicy, RpcClient};
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
    /// Unlocked dev accounts (anvil's `--accounts`; 10 by default), each funded with 10,000
    /// ether, whose transactions `eth_sendTransaction` signs.
    pub accounts: u32,
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
                .args(["--accounts", &options.accounts.to_string()])
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

/// The window with its blocks renumbered to start at `first` (transactions carry no block
/// number; anvil starts at genesis, so a window is fed from block 2, block 1 holding its
/// pre-state).
pub fn renumber(window: &Window, first: u64) -> Window {
    let Some(old_first) = window.blocks.first().map(|b| b.number) else {
        return window.clone();
    };
    let shift = |n: u64| n.saturating_sub(old_first) + first;
    let mut w = window.clone();
    for b in &mut w.blocks {
        b.number = shift(b.number);
    }
    for t in &mut w.transactions {
        t.block = shift(t.block);
    }
    for r in &mut w.receipts {
        r.block = shift(r.block);
    }
    for l in &mut w.logs {
        l.block = shift(l.block);
    }
    w.manifest.first_block = shift(w.manifest.first_block);
    w.manifest.last_block = shift(w.manifest.last_block);
    w
}

/// The options to start anvil with for `window` (its chain id, gas limit and first base fee;
/// genesis 24 s before the first block).
pub fn options_for(window: &Window) -> Result<AnvilOptions> {
    let first = window.blocks.first().ok_or_else(|| Error::Process {
        program: "anvil".into(),
        message: "the window has no blocks".into(),
    })?;
    Ok(AnvilOptions {
        chain_id: window.manifest.chain_id,
        genesis_timestamp: first.timestamp.saturating_sub(24),
        gas_limit: first.gas_limit,
        base_fee: first.base_fee,
        accounts: 10,
    })
}

fn quantity(v: impl std::fmt::LowerHex) -> String {
    format!("0x{v:x}")
}

/// Feeds `window` (numbered from block 2, see [`renumber`]) to a fresh anvil at `url`: loads the
/// pre-state (`anvil_setBalance/Nonce/Code/StorageAt`) and mines it as block 1, then mines
/// every block with its recorded timestamp, base fee, fee recipient and signed transactions,
/// checking that each receipt landed in its block with the recorded gas.
pub fn feed_window(url: &str, w: &Window) -> Result<()> {
    use serde_json::{json, Value};
    let client = RpcClient::connect(url, RetryPolicy::default())?;
    let call = |method: &str, params: Value| client.raw::<Value, Value>(method, params);
    let fail = |message: String| Error::Process {
        program: "anvil".into(),
        message,
    };
    if w.blocks.first().map(|b| b.number) != Some(2) {
        return Err(fail(
            "the window must be renumbered to start at block 2".into(),
        ));
    }
    let codes: std::collections::HashMap<B256, _> = w
        .code
        .iter()
        .map(|c| (c.code_hash, c.code.clone()))
        .collect();
    for a in &w.accounts {
        call("anvil_setBalance", json!([a.address, a.balance]))?;
        call("anvil_setNonce", json!([a.address, quantity(a.nonce)]))?;
        if let Some(code) = codes.get(&a.code_hash) {
            call("anvil_setCode", json!([a.address, code]))?;
        }
    }
    for s in &w.storage {
        call(
            "anvil_setStorageAt",
            json!([s.address, s.slot, B256::from(s.value.to_be_bytes::<32>())]),
        )?;
    }
    let first = &w.blocks[0];
    call("anvil_setCoinbase", json!([first.beneficiary]))?;
    call(
        "evm_setNextBlockTimestamp",
        json!([first.timestamp.saturating_sub(12)]),
    )?;
    call("evm_mine", json!([]))?;
    let mut cursor = 0;
    let mut coinbase = first.beneficiary;
    for b in &w.blocks {
        if b.beneficiary != coinbase {
            call("anvil_setCoinbase", json!([b.beneficiary]))?;
            coinbase = b.beneficiary;
        }
        call("evm_setNextBlockTimestamp", json!([b.timestamp]))?;
        call(
            "anvil_setNextBlockBaseFeePerGas",
            json!([quantity(b.base_fee)]),
        )?;
        let start = cursor;
        while cursor < w.transactions.len() && w.transactions[cursor].block == b.number {
            call(
                "eth_sendRawTransaction",
                json!([w.transactions[cursor].raw]),
            )?;
            cursor += 1;
        }
        call("evm_mine", json!([]))?;
        let receipts = call("eth_getBlockReceipts", json!([quantity(b.number)]))?;
        let receipts = receipts.as_array().cloned().unwrap_or_default();
        if receipts.len() != cursor - start {
            return Err(fail(format!(
                "block {}: anvil included {} of {} transactions",
                b.number,
                receipts.len(),
                cursor - start
            )));
        }
        let recorded_receipts = w.receipts.get(start..cursor).ok_or_else(|| {
            fail(format!(
                "block {}: the window has fewer receipts than transactions",
                b.number
            ))
        })?;
        for (r, recorded) in receipts.iter().zip(recorded_receipts) {
            if r["blockNumber"] != json!(quantity(b.number))
                || r["gasUsed"] != json!(quantity(recorded.gas_used))
            {
                return Err(fail(format!(
                    "block {} tx {}: anvil's receipt differs from the recorded one (block {}, gas {} vs {})",
                    b.number, recorded.index, r["blockNumber"], r["gasUsed"], recorded.gas_used
                )));
            }
        }
    }
    if cursor != w.transactions.len() {
        return Err(fail(format!(
            "{} transactions lie outside the window's blocks",
            w.transactions.len() - cursor
        )));
    }
    Ok(())
}
