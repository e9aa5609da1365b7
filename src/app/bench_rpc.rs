//! `liqsim bench rpc`: a devnet window fed to a local anvil, then recorded over RPC with a fresh
//! cache (first run), again from the cache (cached run: no request), and replayed offline from
//! the recorded dataset. `--latency-ms N` routes every request through a loopback proxy that
//! waits N ms first, a model of a remote archive node.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::app::anvil::{feed_window, options_for, renumber, Anvil};
use crate::data::dataset::{read_dataset, write_dataset};
use crate::error::{Error, Result};
use crate::node::rpc::{RetryPolicy, RpcSource};
use crate::protocol::window::WindowDetails;
use crate::source::discovery::DiscoveryOptions;
use crate::source::record::{record_window, RecordOptions};

/// What was measured.
#[derive(Debug, Clone)]
pub struct RpcBench {
    /// Blocks and transactions of the window.
    pub blocks: usize,
    /// Transactions.
    pub transactions: usize,
    /// Added latency per request, ms.
    pub latency_ms: u64,
    /// Seconds to feed anvil.
    pub feed_seconds: f64,
    /// First run (fresh cache): seconds and requests.
    pub first: (f64, u64),
    /// Cached run: seconds and requests.
    pub cached: (f64, u64),
    /// Offline run of the recorded dataset (read + replay): seconds.
    pub offline_seconds: f64,
    /// Receipts matched / transactions in the first run.
    pub matched: (u64, u64),
}

impl std::fmt::Display for RpcBench {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "window: {} blocks, {} transactions; anvil fed in {:.1} s; added latency {} ms per request",
            self.blocks, self.transactions, self.feed_seconds, self.latency_ms
        )?;
        writeln!(
            f,
            "first run (fresh cache):   {:>8.2} s, {:>6} RPC requests ({}/{} receipts matched)",
            self.first.0, self.first.1, self.matched.0, self.matched.1
        )?;
        writeln!(
            f,
            "cached run:                {:>8.2} s, {:>6} RPC requests",
            self.cached.0, self.cached.1
        )?;
        writeln!(
            f,
            "offline dataset run:       {:>8.2} s (read + replay)",
            self.offline_seconds
        )?;
        write!(
            f,
            "cached run {:.1}x faster than the first run (target: 1 request, the block-hash check, and >= 20x)",
            self.first.0 / self.cached.0.max(1e-9)
        )
    }
}

/// Runs the benchmark on the dataset at `dataset`, with a scratch folder under `work`.
pub fn run(dataset: &Path, latency_ms: u64, work: &Path) -> Result<RpcBench> {
    let original = read_dataset(dataset)?;
    let window = renumber(&original, 2);
    let details = WindowDetails::from_manifest(&window.manifest)?;
    let anvil = Anvil::spawn(&options_for(&window)?)?;
    let t = Instant::now();
    feed_window(&anvil.url(), &window)?;
    let feed_seconds = t.elapsed().as_secs_f64();
    let _proxy;
    let url = if latency_ms > 0 {
        let proxy = LatencyProxy::start(anvil.port, Duration::from_millis(latency_ms))?;
        let url = format!("http://127.0.0.1:{}", proxy.port);
        _proxy = Some(proxy);
        url
    } else {
        _proxy = None;
        anvil.url()
    };
    let _ = std::fs::remove_dir_all(work);
    let cache = work.join("cache");
    let options = RecordOptions {
        max_blocks: crate::source::record::DEFAULT_MAX_BLOCKS,
        name: "bench-rpc".into(),
        from: window.manifest.first_block,
        to: window.manifest.last_block,
        pool: Some(details.market.as_aave_v3()?.pool),
        protocol: None,
        discovery: DiscoveryOptions {
            users: details.users_at_start.clone(),
            ..DiscoveryOptions::default()
        },
        probe: true,
    };
    let timed = || -> Result<(f64, u64, crate::source::record::RecordReport)> {
        let t = Instant::now();
        let source = Arc::new(RpcSource::open(&url, &cache, None, RetryPolicy::default())?);
        let report = record_window(source.clone(), &options)?;
        Ok((
            t.elapsed().as_secs_f64(),
            source.client().stats().requests(),
            report,
        ))
    };
    let (first_s, first_n, first) = timed()?;
    let (cached_s, cached_n, cached) = timed()?;
    if cached.window != first.window {
        return Err(Error::Mismatch(
            "the cached run recorded a different window than the first run".into(),
        ));
    }
    let dir = work.join("recorded");
    write_dataset(&dir, &first.window)?;
    let t = Instant::now();
    let offline = read_dataset(&dir)?;
    crate::app::run::replay_window(&offline, false, false)?;
    let offline_seconds = t.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(work);
    Ok(RpcBench {
        blocks: window.blocks.len(),
        transactions: window.transactions.len(),
        latency_ms,
        feed_seconds,
        first: (first_s, first_n),
        cached: (cached_s, cached_n),
        offline_seconds,
        matched: (first.fidelity.receipts_matched, first.fidelity.transactions),
    })
}

/// Default scratch folder of the benchmark.
pub fn default_work_dir() -> PathBuf {
    std::env::temp_dir().join(format!("liqsim-bench-rpc-{}", std::process::id()))
}

/// A loopback HTTP/1.1 proxy to `127.0.0.1:<upstream>` that waits a fixed time before
/// forwarding each request (keep-alive, one thread per connection). It lives until the process
/// ends.
pub struct LatencyProxy {
    /// Port it listens on.
    pub port: u16,
}

impl LatencyProxy {
    /// Starts the proxy on a free port.
    pub fn start(upstream: u16, delay: Duration) -> Result<Self> {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .map_err(|e| Error::io("binding", "127.0.0.1:0", e))?;
        let port = listener
            .local_addr()
            .map_err(|e| Error::io("binding", "127.0.0.1:0", e))?
            .port();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                std::thread::spawn(move || {
                    if let Err(e) = forward(conn, upstream, delay) {
                        tracing::debug!(error = %e, "latency proxy connection ended");
                    }
                });
            }
        });
        Ok(Self { port })
    }
}

/// Reads one HTTP/1.1 message (head and a `Content-Length` body) from a loopback proxy's
/// connection; `None` when the peer closed it.
pub fn read_http(reader: &mut BufReader<TcpStream>) -> std::io::Result<Option<(String, Vec<u8>)>> {
    let mut head = String::new();
    let mut length = 0usize;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line)? == 0 {
            return Ok(None);
        }
        if line == "\r\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().unwrap_or(0);
            }
        }
        head.push_str(&line);
    }
    let mut body = vec![0u8; length];
    reader.read_exact(&mut body)?;
    Ok(Some((head, body)))
}

fn forward(conn: TcpStream, upstream: u16, delay: Duration) -> std::io::Result<()> {
    conn.set_nodelay(true)?;
    let mut out = conn.try_clone()?;
    let mut reader = BufReader::new(conn);
    let upstream = TcpStream::connect((Ipv4Addr::LOCALHOST, upstream))?;
    upstream.set_nodelay(true)?;
    let mut up = BufReader::new(upstream);
    while let Some((_, body)) = read_http(&mut reader)? {
        std::thread::sleep(delay);
        let stream = up.get_mut();
        write!(
            stream,
            "POST / HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            body.len()
        )?;
        stream.write_all(&body)?;
        let Some((head, reply)) = read_http(&mut up)? else {
            return Ok(());
        };
        let status = head
            .lines()
            .next()
            .and_then(|l| l.split_once(' ').map(|x| x.1.to_string()))
            .unwrap_or_else(|| "200 OK".into());
        write!(
            out,
            "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            reply.len()
        )?;
        out.write_all(&reply)?;
    }
    Ok(())
}
