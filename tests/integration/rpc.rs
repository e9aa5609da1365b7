//! Against a real node: anvil (from npm) fed the small devnet window, then `record` over RPC,
//! the persistent cache (a second run makes no request), and a fault-injecting proxy.

use std::io::{BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy_primitives::B256;
use liqsim::app::anvil::{feed_window, options_for, Anvil};
use liqsim::app::bench_rpc::read_http;
use liqsim::data::dataset::{read_dataset, write_dataset};
use liqsim::data::records::Window;
use liqsim::node::rpc::{RetryPolicy, RpcSource};
use liqsim::protocol::aave_v3::discovery::{discover_market, lookback_events, users_in_logs};
use liqsim::protocol::window::WindowDetails;
use liqsim::source::discovery::DiscoveryOptions;
use liqsim::source::record::{record_window, RecordOptions, RecordReport};
use liqsim::Error;
use serde_json::{json, Value};

use crate::common::{default_market, npm_available, small_window_from_block_2, temp_dir};

fn options(w: &Window) -> RecordOptions {
    RecordOptions {
        max_blocks: liqsim::source::record::DEFAULT_MAX_BLOCKS,
        name: "recorded".into(),
        from: w.manifest.first_block,
        to: w.manifest.last_block,
        pool: Some(w.manifest.protocol.addresses["pool"]),
        protocol: Some(w.manifest.protocol.clone()),
        discovery: DiscoveryOptions::default(),
        probe: true,
    }
}

fn fast_policy() -> RetryPolicy {
    RetryPolicy {
        max_retries: 6,
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_secs(2),
        timeout: Duration::from_secs(10),
        max_concurrency: 8,
        ..RetryPolicy::default()
    }
}

fn record(
    url: &str,
    cache: &Path,
    w: &Window,
    policy: RetryPolicy,
) -> liqsim::Result<RecordReport> {
    let source = Arc::new(RpcSource::open(url, cache, None, policy)?);
    record_window(source, &options(w))
}

/// The recorded window holds the same history as the generated one.
fn assert_same_history(recorded: &Window, generated: &Window) {
    assert_eq!(recorded.transactions, generated.transactions);
    assert_eq!(recorded.receipts, generated.receipts);
    assert_eq!(recorded.logs, generated.logs);
    assert_eq!(recorded.blocks.len(), generated.blocks.len());
    for (r, g) in recorded.blocks.iter().zip(&generated.blocks) {
        assert_eq!(
            (
                r.number,
                r.timestamp,
                r.base_fee,
                r.gas_limit,
                r.beneficiary
            ),
            (
                g.number,
                g.timestamp,
                g.base_fee,
                g.gas_limit,
                g.beneficiary
            )
        );
    }
}

/// A loopback HTTP proxy in front of anvil that injects faults.
struct FaultProxy {
    port: u16,
    mode: Arc<AtomicU8>,
    seen: Arc<AtomicU64>,
}

/// Proxy modes.
const FAULTS: u8 = 0;
const ALWAYS_500: u8 = 1;
const NOT_ARCHIVE: u8 = 2;

impl FaultProxy {
    fn start(upstream: u16) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mode = Arc::new(AtomicU8::new(FAULTS));
        let seen = Arc::new(AtomicU64::new(0));
        let (m, s) = (mode.clone(), seen.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let (m, s) = (m.clone(), s.clone());
                std::thread::spawn(move || {
                    let _ = serve(conn, upstream, &m, &s);
                });
            }
        });
        Self { port, mode, seen }
    }
}

fn respond(out: &mut TcpStream, status: &str, extra: &str, body: &[u8]) -> std::io::Result<()> {
    write!(
        out,
        "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n{extra}\r\n",
        body.len()
    )?;
    out.write_all(body)
}

fn serve(conn: TcpStream, upstream: u16, mode: &AtomicU8, seen: &AtomicU64) -> std::io::Result<()> {
    // small writes without Nagle's delay (headers and body go out separately)
    conn.set_nodelay(true)?;
    let mut out = conn.try_clone()?;
    let mut reader = BufReader::new(conn);
    let upstream = TcpStream::connect(("127.0.0.1", upstream))?;
    upstream.set_nodelay(true)?;
    let mut up = BufReader::new(upstream);
    while let Some((_, body)) = read_http(&mut reader)? {
        let n = seen.fetch_add(1, Ordering::SeqCst);
        match mode.load(Ordering::SeqCst) {
            ALWAYS_500 => {
                respond(&mut out, "500 Internal Server Error", "", b"oops")?;
                continue;
            }
            NOT_ARCHIVE if !String::from_utf8_lossy(&body).contains("eth_chainId") => {
                let id = serde_json::from_slice::<Value>(&body)
                    .map(|v| v["id"].clone())
                    .unwrap_or(Value::Null);
                let reply = json!({"jsonrpc": "2.0", "id": id,
                    "error": {"code": -32000, "message": "missing trie node 0xabc (path )"}});
                respond(&mut out, "200 OK", "", reply.to_string().as_bytes())?;
                continue;
            }
            _ => {}
        }
        match n % 100 {
            10 => return Ok(()), // dropped connection, no answer
            30 => {
                let wait = if n == 30 { "1" } else { "0" };
                respond(
                    &mut out,
                    "429 Too Many Requests",
                    &format!("retry-after: {wait}\r\n"),
                    b"slow down",
                )?;
                continue;
            }
            50 => {
                respond(&mut out, "500 Internal Server Error", "", b"oops")?;
                continue;
            }
            90 => {
                // a JSON-RPC level rate limit inside an HTTP 200
                let id = serde_json::from_slice::<Value>(&body)
                    .map(|v| v["id"].clone())
                    .unwrap_or(Value::Null);
                let reply = json!({"jsonrpc": "2.0", "id": id,
                    "error": {"code": -32005, "message": "request rate limit exceeded"}});
                respond(&mut out, "200 OK", "", reply.to_string().as_bytes())?;
                continue;
            }
            _ => {}
        }
        let up_stream = up.get_mut();
        write!(
            up_stream,
            "POST / HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
            body.len()
        )?;
        up_stream.write_all(&body)?;
        let Some((head, reply)) = read_http(&mut up)? else {
            return Ok(());
        };
        let status = head.lines().next().unwrap_or("HTTP/1.1 200 OK");
        let status = status.split_once(' ').map(|x| x.1).unwrap_or("200 OK");
        if n % 100 == 70 {
            // truncated: promise the whole body, send half, hang up
            write!(
                out,
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                reply.len()
            )?;
            out.write_all(&reply[..reply.len() / 2])?;
            return Ok(());
        }
        respond(&mut out, status, "", &reply)?;
    }
    Ok(())
}

#[test]
fn anvil_record_cache_and_faults() {
    if !npm_available() {
        eprintln!("SKIPPED: npm is not installed; the anvil tests fetch anvil with npm");
        return;
    }
    let t0 = Instant::now();
    let (_, generated) = small_window_from_block_2();
    let anvil = Anvil::spawn(&options_for(&generated).unwrap()).unwrap();
    feed_window(&anvil.url(), &generated).unwrap();
    eprintln!("anvil fed in {:.1} s", t0.elapsed().as_secs_f64());

    // (a) record from anvil, then an offline replay: same history, same opportunities.
    let cache = temp_dir("rpc", "cache");
    let t1 = Instant::now();
    let first_run = record(&anvil.url(), &cache, &generated, RetryPolicy::default()).unwrap();
    let first_seconds = t1.elapsed().as_secs_f64();
    assert!(first_run.requests > 100, "{} requests", first_run.requests);
    assert_eq!(
        first_run.fidelity.receipts_matched, first_run.fidelity.transactions,
        "{:?}",
        first_run.fidelity.first_divergence
    );
    assert_same_history(&first_run.window, &generated);
    let dir = temp_dir("rpc", "recorded");
    write_dataset(&dir, &first_run.window).unwrap();
    let offline = read_dataset(&dir).unwrap();
    let t_offline = Instant::now();
    let replayed = liqsim::app::run::replay_window(&offline, true, false).unwrap();
    eprintln!(
        "offline replay of the recorded dataset in {:.2} s",
        t_offline.elapsed().as_secs_f64()
    );
    let reference = liqsim::app::run::replay_window(&generated, true, false).unwrap();
    assert_eq!(replayed.fidelity, reference.fidelity);
    assert_eq!(replayed.opportunities, reference.opportunities);
    assert_eq!(replayed.liquidations_by, reference.liquidations_by);
    assert!(!reference.opportunities.is_empty());
    assert!(offline.storage.len() <= generated.storage.len() + offline.accounts.len() * 64);
    recorded_window_missing_state_is_an_error(&offline);

    // (b) the second run is served from the cache: one request (the node's hash of the last
    // block, checking that the cache holds this node's history), same window.
    let t2 = Instant::now();
    let second = record(&anvil.url(), &cache, &generated, RetryPolicy::default()).unwrap();
    let cached_seconds = t2.elapsed().as_secs_f64();
    assert_eq!(second.requests, 1);
    assert_eq!(second.window, first_run.window);
    eprintln!(
        "first run {} requests in {first_seconds:.2} s; cached run {} requests in {cached_seconds:.2} s",
        first_run.requests, second.requests
    );
    // (b') another node with the same chain id but another history shares nothing with it
    other_node_same_chain_id(&anvil, &cache, &generated, &first_run);

    // the same through the command line (ETH_RPC_URL from the environment), served from the cache
    let market = temp_dir("rpc", "generated");
    write_dataset(&market, &generated).unwrap();
    let out = temp_dir("rpc", "cli-recorded");
    let cli = std::process::Command::new(env!("CARGO_BIN_EXE_liqsim"))
        .env("ETH_RPC_URL", anvil.url())
        .env("LIQSIM_CACHE_DIR", &cache)
        .arg("record")
        .args([
            "--pool",
            &generated.manifest.protocol.addresses["pool"].to_string(),
        ])
        .args(["--from", &generated.manifest.first_block.to_string()])
        .args(["--to", &generated.manifest.last_block.to_string()])
        .arg("--out")
        .arg(&out)
        .arg("--market-from")
        .arg(&market)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&cli.stdout);
    assert!(
        cli.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&cli.stderr)
    );
    assert!(stdout.contains(" 1 RPC requests"), "{stdout}");
    let from_cli = read_dataset(&out).unwrap();
    assert_eq!(from_cli.storage, first_run.window.storage);
    assert_eq!(from_cli.accounts, first_run.window.accounts);
    assert_eq!(from_cli.receipts, first_run.window.receipts);

    // `liqsim run` through RPC (a scenario naming the node, market and users discovered) gives
    // the same outputs as `liqsim run` on the generated dataset.
    run_through_rpc_matches_dataset(&anvil, &cache, &generated);

    // the users lookback: eth_getLogs on the Pool's Supply/Borrow events, cached per chunk
    let source = RpcSource::open(&anvil.url(), &cache, None, RetryPolicy::default()).unwrap();
    let pool = generated.manifest.protocol.addresses["pool"];
    let events = lookback_events();
    let last = generated.manifest.last_block;
    let before = source.client().stats().requests();
    let topics = source.pool_logs(pool, &events, 2, last).unwrap();
    assert!(source.client().stats().requests() > before);
    let expected: Vec<Vec<B256>> = generated
        .logs
        .iter()
        .filter(|l| l.address == pool && l.topics.first().is_some_and(|t| events.contains(t)))
        .map(|l| l.topics.clone())
        .collect();
    assert!(!expected.is_empty());
    assert_eq!(topics, expected);
    let requests = source.client().stats().requests();
    assert_eq!(source.pool_logs(pool, &events, 2, last).unwrap(), topics);
    assert_eq!(source.client().stats().requests(), requests);
    let users = users_in_logs(pool, topics.iter().map(|t| (pool, t.as_slice())));
    let at_start = WindowDetails::from_manifest(&generated.manifest)
        .unwrap()
        .users_at_start;
    assert!(!users.is_empty() && users.iter().all(|u| at_start.contains(u)));

    // a cache of another chain is refused
    match RpcSource::open(&anvil.url(), &cache, Some(1), RetryPolicy::default()) {
        Err(Error::ChainMismatch {
            expected, actual, ..
        }) => assert_eq!((expected, actual), (1, generated.manifest.chain_id)),
        other => panic!("expected a chain mismatch, got {:?}", other.err()),
    }

    // (c) through a fault-injecting proxy: identical results.
    let proxy = FaultProxy::start(anvil.port);
    let proxied = format!("http://127.0.0.1:{}", proxy.port);
    let faulty = record(
        &proxied,
        &temp_dir("rpc", "cache-faults"),
        &generated,
        fast_policy(),
    )
    .unwrap();
    assert!(faulty.retries >= 5, "{} retries", faulty.retries);
    eprintln!(
        "through the fault proxy: {} requests ({} retries) in {:.2} s; window: {} transactions, pre-state {} accounts, {} slots (generated: {} slots)",
        faulty.requests,
        faulty.retries,
        faulty.seconds,
        generated.transactions.len(),
        faulty.window.accounts.len(),
        faulty.window.storage.len(),
        generated.storage.len()
    );
    assert_eq!(faulty.window, first_run.window);

    // persistent failure: a clear error naming the method, never the credentials
    proxy.mode.store(ALWAYS_500, Ordering::SeqCst);
    let secret_url = format!(
        "http://alice:hunter2@127.0.0.1:{}/v3/key123?apikey=zzz",
        proxy.port
    );
    let mut policy = fast_policy();
    policy.max_retries = 2;
    let err = match RpcSource::open(&secret_url, &temp_dir("rpc", "cache-500"), None, policy) {
        Err(e) => e,
        Ok(_) => panic!("a node answering 500 was accepted"),
    };
    let text = err.to_string();
    assert!(matches!(err, Error::Rpc { .. }), "{text}");
    assert!(
        text.contains("500") && text.contains("eth_chainId"),
        "{text}"
    );
    for secret in ["alice", "hunter2", "key123", "zzz"] {
        assert!(!text.contains(secret), "{text}");
    }

    // a node without the historical state: an archive node is needed
    proxy.mode.store(NOT_ARCHIVE, Ordering::SeqCst);
    let err = match record(
        &proxied,
        &temp_dir("rpc", "cache-archive"),
        &generated,
        fast_policy(),
    ) {
        Err(e) => e,
        Ok(_) => panic!("a pruned node was accepted"),
    };
    assert!(err.to_string().contains("archive node"), "{err}");
    assert!(proxy.seen.load(Ordering::SeqCst) > 0);
    eprintln!("anvil tests took {:.1} s", t0.elapsed().as_secs_f64());
}

/// Complete state or a clear error: the recorded window without one slot it read (the manifest
/// re-hashed) no longer replays or referees: the error names the account and the slot. As a devnet
/// window (complete by construction), the same pre-state reads the slot as zero and replays.
fn recorded_window_missing_state_is_an_error(recorded: &Window) {
    let pool = recorded.manifest.protocol.addresses["pool"];
    let mut broken = recorded.clone();
    let at = broken
        .storage
        .iter()
        .position(|s| s.address == pool && !s.value.is_zero())
        .expect("the recording read the Pool's storage");
    let removed = broken.storage.remove(at);
    let dir = temp_dir("rpc", "missing-slot");
    write_dataset(&dir, &broken).unwrap();
    let broken = read_dataset(&dir).unwrap();
    for err in [
        liqsim::app::run::replay_window(&broken, false, false).err(),
        liqsim::app::run::check_window(&broken, false).err(),
    ] {
        let text = err
            .expect("a recorded window missing a slot replayed")
            .to_string();
        eprintln!("recorded window without one slot: {text}");
        assert!(
            text.contains(&removed.address.to_string())
                && text.contains(&format!("{:#x}", removed.slot))
                && text.contains("liqsim record"),
            "{text}"
        );
    }
    // an account the replay reads, removed: named too
    let mut no_account = recorded.clone();
    no_account.accounts.retain(|a| a.address != pool);
    no_account.storage.retain(|s| s.address != pool);
    let err = match liqsim::app::run::replay_window(&no_account, false, false) {
        Ok(_) => panic!("a recorded window missing the Pool replayed"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains(&pool.to_string()), "{err}");
    // the same pre-state as a devnet window's reads the slot as zero: no error
    let mut devnet = read_dataset(&dir).unwrap();
    devnet.manifest.provenance.kind = "devnet".into();
    assert!(liqsim::app::run::replay_window(&devnet, false, false).is_ok());
}

/// Cache identity: a second anvil with the same chain id, fed the same window but with one more
/// ether on the first block's fee recipient (an account the replay reads), has other block hashes.
/// Recording it through the first node's cache must not use the first node's blocks or state
/// (it makes as many requests as a fresh cache would, and records its own balance); afterwards
/// both histories live side by side: each node's cached run makes one request (the hash check).
fn other_node_same_chain_id(a: &Anvil, cache: &Path, generated: &Window, first: &RecordReport) {
    let coinbase = generated.blocks[0].beneficiary;
    let mut other = generated.clone();
    let extra = alloy_primitives::U256::from(10u64).pow(alloy_primitives::U256::from(18u64));
    match other.accounts.iter_mut().find(|x| x.address == coinbase) {
        Some(account) => account.balance += extra,
        None => other.accounts.push(liqsim::data::records::AccountRecord {
            address: coinbase,
            balance: extra,
            nonce: 0,
            code_hash: revm::primitives::KECCAK_EMPTY,
        }),
    }
    let b = Anvil::spawn(&options_for(&other).unwrap()).unwrap();
    feed_window(&b.url(), &other).unwrap();
    let from = generated.manifest.first_block;
    let node_a = RpcSource::open(&a.url(), cache, None, RetryPolicy::default()).unwrap();
    let node_b = RpcSource::open(&b.url(), cache, None, RetryPolicy::default()).unwrap();
    assert_eq!(node_a.chain_id(), node_b.chain_id());
    let (hash_a, hash_b) = (
        node_a.block_hash(from - 1).unwrap(),
        node_b.block_hash(from - 1).unwrap(),
    );
    assert_ne!(
        hash_a, hash_b,
        "the two nodes' state blocks have the same hash"
    );

    let fresh = record(
        &b.url(),
        &temp_dir("rpc", "cache-b"),
        &other,
        RetryPolicy::default(),
    )
    .unwrap();
    let shared = record(&b.url(), cache, &other, RetryPolicy::default()).unwrap();
    eprintln!(
        "same chain id, other node: {} requests through the shared cache ({} with a fresh one)",
        shared.requests, fresh.requests
    );
    assert_eq!(shared.window, fresh.window);
    assert!(
        shared.requests + 2 >= fresh.requests,
        "{} requests",
        shared.requests
    );
    let balance = |w: &Window| {
        w.accounts
            .iter()
            .find(|x| x.address == coinbase)
            .map(|x| x.balance)
            .unwrap_or_default()
    };
    assert_eq!(balance(&shared.window), balance(&first.window) + extra);
    // both histories are cached now, each under its own hash
    let again_b = record(&b.url(), cache, &other, RetryPolicy::default()).unwrap();
    assert_eq!((again_b.requests, &again_b.window), (1, &shared.window));
    let again_a = record(&a.url(), cache, generated, RetryPolicy::default()).unwrap();
    assert_eq!((again_a.requests, &again_a.window), (1, &first.window));
}

/// Reads a Parquet file into a frame.
fn frame(path: &Path) -> polars::prelude::DataFrame {
    use polars::prelude::{ParquetReader, SerReader};
    let file = std::fs::File::open(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    ParquetReader::new(file).finish().unwrap()
}

fn run_cli(args: &[&std::ffi::OsStr], envs: &[(&str, &str)]) -> (String, String) {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_liqsim"));
    cmd.env("CI", "1").args(args);
    for (k, v) in envs {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout).to_string(),
        String::from_utf8_lossy(&out.stderr).to_string(),
    );
    assert!(out.status.success(), "{stdout}{stderr}");
    (stdout, stderr)
}

fn run_through_rpc_matches_dataset(anvil: &Anvil, cache: &Path, generated: &Window) {
    let t = Instant::now();
    let root = temp_dir("rpc", "run-rpc");
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/small-crash.toml");
    // the devnet side: the generated window is the scenario's dataset (same scenario hash)
    write_dataset(&root.join("devnet/small-crash"), generated).unwrap();
    let out_devnet = root.join("out-devnet");
    run_cli(
        &[
            "run".as_ref(),
            fixture.as_os_str(),
            "--datasets".as_ref(),
            root.join("devnet").as_os_str(),
            "--out".as_ref(),
            out_devnet.as_os_str(),
        ],
        &[],
    );
    // the RPC side: a scenario naming the node (by environment variable), the Pool and the window
    let details = WindowDetails::from_manifest(&generated.manifest).unwrap();
    let users: Vec<String> = details
        .users_at_start
        .iter()
        .map(|u| u.to_string())
        .collect();
    std::fs::write(root.join("users.txt"), users.join("\n")).unwrap();
    let fixture_text = std::fs::read_to_string(&fixture).unwrap();
    let strategies = &fixture_text[fixture_text.find("[[strategies]]").unwrap()..];
    let scenario = format!(
        "name = \"small-crash-rpc\"\n\n[source]\nkind = \"rpc\"\nrpc_url_env = \"LIQSIM_TEST_NODE\"\npool = \"{}\"\nfrom_block = {}\nto_block = {}\nusers_file = \"users.txt\"\n\n{strategies}",
        details.market.as_aave_v3().unwrap().pool, generated.manifest.first_block, generated.manifest.last_block
    );
    let scenario_path = root.join("rpc.toml");
    std::fs::write(&scenario_path, scenario).unwrap();
    let secret_url = format!("http://alice:hunter2@127.0.0.1:{}", anvil.port);
    let out_rpc = root.join("out-rpc");
    let (stdout, stderr) = run_cli(
        &[
            "run".as_ref(),
            scenario_path.as_os_str(),
            "--datasets".as_ref(),
            root.join("rpc").as_os_str(),
            "--out".as_ref(),
            out_rpc.as_os_str(),
        ],
        &[
            ("LIQSIM_TEST_NODE", &secret_url),
            ("LIQSIM_CACHE_DIR", cache.to_str().unwrap()),
            ("RUST_LOG", "info"),
        ],
    );
    assert!(stderr.contains("recording dataset"), "{stderr}");
    for secret in ["alice", "hunter2"] {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "{stderr}"
        );
    }
    // the discovered market is the generated one; the users are the file's
    let recorded = liqsim::data::dataset::read_manifest(&root.join("rpc/small-crash-rpc")).unwrap();
    assert_eq!(recorded.provenance.kind, "rpc");
    let found = WindowDetails::from_manifest(&recorded).unwrap();
    assert_eq!(found.market, details.market);
    assert_eq!(found.users_at_start, details.users_at_start);
    assert_eq!(
        recorded.protocol.addresses,
        generated.manifest.protocol.addresses
    );
    // same outputs, row for row
    let mut compared = 0;
    for name in [
        "opportunities.parquet",
        "actions.parquet",
        "missed.parquet",
        "summary.parquet",
        "blocks.parquet",
    ] {
        let (a, b) = (frame(&out_devnet.join(name)), frame(&out_rpc.join(name)));
        if name == "opportunities.parquet" || name == "blocks.parquet" {
            assert!(a.height() > 0, "{name} is empty");
        }
        assert!(a.equals_missing(&b), "{name} differs:\n{a}\n{b}");
        compared += a.height();
    }
    assert!(compared > 0);
    let json = |dir: &Path| -> Value {
        let mut v: Value =
            serde_json::from_slice(&std::fs::read(dir.join("summary.json")).unwrap()).unwrap();
        v.as_object_mut().unwrap().remove("scenario");
        v
    };
    assert_eq!(json(&out_devnet), json(&out_rpc));
    eprintln!(
        "liqsim run through RPC = liqsim run on the dataset ({compared} rows compared) in {:.1} s",
        t.elapsed().as_secs_f64()
    );

    // `liqsim record` with only the PoolAddressesProvider (no --market-from): the same
    // discovered description, served entirely from the cache
    let out = root.join("record-provider");
    let (stdout, _) = run_cli(
        &[
            "record".as_ref(),
            "--provider".as_ref(),
            details
                .market
                .as_aave_v3()
                .unwrap()
                .addresses_provider
                .to_string()
                .as_ref(),
            "--from".as_ref(),
            generated.manifest.first_block.to_string().as_ref(),
            "--to".as_ref(),
            generated.manifest.last_block.to_string().as_ref(),
            "--users-file".as_ref(),
            root.join("users.txt").as_os_str(),
            "--out".as_ref(),
            out.as_os_str(),
        ],
        &[
            ("ETH_RPC_URL", &secret_url),
            ("LIQSIM_CACHE_DIR", cache.to_str().unwrap()),
        ],
    );
    assert!(stdout.contains(" 1 RPC requests"), "{stdout}");
    let by_provider = liqsim::data::dataset::read_manifest(&out).unwrap();
    assert_eq!(by_provider.protocol, recorded.protocol);
}

/// Discovery against an in-memory market: the description equals the deployed one, from the
/// Pool or from the PoolAddressesProvider alone.
#[test]
fn discovery_reads_the_deployed_market() {
    let prepared = default_market();
    let mut evm = liqsim::evm::executor::Evm::from_cache_db(
        prepared.state.clone(),
        prepared.market.config.chain_id,
    );
    evm.set_block(prepared.block.clone());
    let from_pool = discover_market(&mut evm, Some(prepared.market.pool), None, None).unwrap();
    assert_eq!(from_pool, prepared.market);
    let from_provider = discover_market(
        &mut evm,
        None,
        Some(prepared.market.addresses_provider),
        None,
    )
    .unwrap();
    assert_eq!(from_provider, prepared.market);
    // a native asset that is not listed, and an address that is no Pool (a token; the oracle,
    // which has an ADDRESSES_PROVIDER too), are refused by name
    let err = discover_market(&mut evm, Some(prepared.market.pool), None, Some("HYPE"))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("native_asset") && err.contains("HYPE"),
        "{err}"
    );
    let err = discover_market(
        &mut evm,
        Some(prepared.market.reserves[0].underlying),
        None,
        None,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("pool") && err.contains("Pool"), "{err}");
    let err = discover_market(&mut evm, Some(prepared.market.oracle), None, None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("lists the Pool"), "{err}");
}
