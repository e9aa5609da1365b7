//! Complete state or a clear error for what-ifs on recorded windows: the small devnet window fed
//! to anvil and recorded over RPC with the recorder's probes, then `liqsim run` offline on the
//! recording (every what-if executes, the outputs equal the devnet run's); recorded without the
//! probes, the run fails naming the account and slot a what-if reads, unless `--rpc` names a node
//! to fetch it from.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use alloy_primitives::{Address, U256};
use liqsim::analytics::result::StrategyRun;
use liqsim::app::anvil::{feed_window, options_for, Anvil};
use liqsim::app::run::{lazy_state, run_strategies, run_strategies_lazy};
use liqsim::data::dataset::{read_dataset, write_dataset};
use liqsim::data::records::Window;
use liqsim::node::rpc::{RetryPolicy, RpcSource};
use liqsim::protocol::window::WindowDetails;
use liqsim::scenario::AnyScenario;
use liqsim::source::discovery::DiscoveryOptions;
use liqsim::source::record::{record_window, RecordOptions, RecordReport};
use liqsim::Error;

use crate::common::{npm_available, small_window_from_block_2, temp_dir};

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/small-crash.toml")
}

/// Records `w` from `url` through a fresh cache, probing or not.
fn record(url: &str, w: &Window, probe: bool) -> RecordReport {
    let cache = temp_dir("strict", if probe { "cache-probed" } else { "cache-plain" });
    let source = Arc::new(RpcSource::open(url, &cache, None, RetryPolicy::default()).unwrap());
    let options = RecordOptions {
        max_blocks: liqsim::source::record::DEFAULT_MAX_BLOCKS,
        name: "small-crash-rpc".into(),
        from: w.manifest.first_block,
        to: w.manifest.last_block,
        pool: Some(w.manifest.protocol.addresses["pool"]),
        protocol: Some(w.manifest.protocol.clone()),
        discovery: DiscoveryOptions::default(),
        probe,
    };
    let report = record_window(source, &options).unwrap();
    // written and read back, as `liqsim run` reads a dataset
    let dir = temp_dir("strict", if probe { "probed" } else { "plain" });
    write_dataset(&dir, &report.window).unwrap();
    RecordReport {
        window: read_dataset(&dir).unwrap(),
        ..report
    }
}

/// The run's results that outputs are made of (not its timings).
fn assert_same_run(run: &StrategyRun, reference: &StrategyRun, what: &str) {
    assert_eq!(run.fidelity, reference.fidelity, "{what}: fidelity");
    assert_eq!(
        run.opportunities, reference.opportunities,
        "{what}: opportunities"
    );
    assert_eq!(run.actions, reference.actions, "{what}: actions");
    assert_eq!(run.misses, reference.misses, "{what}: misses");
    assert_eq!(run.summary, reference.summary, "{what}: summary");
    assert_eq!(run.blocks, reference.blocks, "{what}: blocks");
    assert_eq!(run.capital, reference.capital, "{what}: capital");
    assert_eq!(run.what_ifs, reference.what_ifs, "{what}: what-ifs");
}

/// `(account, slot)` named by a [`Error::MissingState`] message.
fn named_state(text: &str) -> (Address, Option<U256>) {
    let at = text
        .find("does not hold account ")
        .unwrap_or_else(|| panic!("no account named: {text}"))
        + "does not hold account ".len();
    let address: Address = text[at..at + 42].parse().unwrap();
    let rest = &text[at + 42..];
    let slot = rest.strip_prefix(" slot ").map(|s| {
        let end = s.find(',').unwrap();
        U256::from_str_radix(s[..end].trim_start_matches("0x"), 16).unwrap()
    });
    (address, slot)
}

#[test]
fn strict_whatifs_on_recorded_windows() {
    if !npm_available() {
        eprintln!("SKIPPED: npm is not installed; the anvil tests fetch anvil with npm");
        return;
    }
    let t0 = Instant::now();
    let (loaded, generated) = small_window_from_block_2();
    let anvil = Anvil::spawn(&options_for(&generated).unwrap()).unwrap();
    feed_window(&anvil.url(), &generated).unwrap();
    let probed = record(&anvil.url(), &generated, true);
    let plain = record(&anvil.url(), &generated, false);
    let slots = |w: &Window| w.storage.len();
    eprintln!(
        "recorded with probes: {} requests, {} accounts, {} slots, {} probe what-ifs at {} hook points, {:.1} s; without: {} requests, {} accounts, {} slots, {:.1} s",
        probed.requests,
        probed.window.accounts.len(),
        slots(&probed.window),
        probed.probe_what_ifs,
        probed.probe_hook_points,
        probed.seconds,
        plain.requests,
        plain.window.accounts.len(),
        slots(&plain.window),
        plain.seconds
    );
    assert!(probed.probe_what_ifs > 0 && probed.probe_hook_points > 0);
    assert_eq!((plain.probe_what_ifs, plain.probe_hook_points), (0, 0));
    assert!(slots(&probed.window) > slots(&plain.window));
    // the probes only add: the replay's own reads are the same
    for s in &plain.window.storage {
        assert!(probed.window.storage.contains(s), "{s:?}");
    }

    // (a) `liqsim run` offline on the probed recording: every what-if executes on recorded state
    // and the run equals the devnet run, action for action
    let dex = &loaded.scenario.dex;
    let reference = run_strategies(&generated, &loaded.instances, dex, true, false).unwrap();
    assert!(reference.what_ifs > 0 && reference.actions.iter().any(|a| !a.is_empty()));
    let t = Instant::now();
    let on_probed = run_strategies(&probed.window, &loaded.instances, dex, true, false)
        .unwrap_or_else(|e| panic!("a what-if on the probed recording failed: {e}"));
    eprintln!(
        "run on the probed recording: {} what-ifs in {:.1} s",
        on_probed.what_ifs,
        t.elapsed().as_secs_f64()
    );
    assert_same_run(&on_probed, &reference, "probed recording");
    assert_eq!(on_probed.lazy_reads, 0);

    // (b) without the probes a what-if reads state the recording lacks: an error naming the
    // account and slot (which the probes did record), never a zero
    let err = match run_strategies(&plain.window, &loaded.instances, dex, true, false) {
        Ok(_) => panic!("a run on a recording without probes read absent state silently"),
        Err(e) => e,
    };
    let text = err.to_string();
    eprintln!("run on the recording without probes: {text}");
    assert!(matches!(err, Error::MissingState { .. }), "{text}");
    assert!(
        text.contains("what-if liquidation")
            && text.contains("liqsim record")
            && text.contains("--rpc"),
        "{text}"
    );
    let (account, slot) = named_state(&text);
    match slot {
        Some(slot) => {
            let key = |w: &Window| {
                w.storage
                    .iter()
                    .any(|s| (s.address, s.slot) == (account, slot))
            };
            assert!(
                !key(&plain.window) && key(&probed.window),
                "{account} {slot:#x}"
            );
        }
        None => {
            let has = |w: &Window| w.accounts.iter().any(|a| a.address == account);
            assert!(!has(&plain.window) && has(&probed.window), "{account}");
        }
    }

    // (c) the same recording with a node to fetch what it lacks: the same run again
    let cache = temp_dir("strict", "cache-lazy");
    let lazy = lazy_state(&plain.window, &anvil.url(), &cache).unwrap();
    let on_lazy = run_strategies_lazy(
        &plain.window,
        &loaded.instances,
        dex,
        true,
        false,
        Some(lazy),
    )
    .unwrap();
    eprintln!(
        "run with --rpc on the recording without probes: {} reads fetched",
        on_lazy.lazy_reads
    );
    assert!(on_lazy.lazy_reads > 0);
    assert_same_run(&on_lazy, &reference, "lazy recording");

    // the same through the command line: a `[source]` scenario whose dataset is current (no
    // node is asked), without and with `--rpc`
    // the probed recording without the slots only the probes read (their accounts kept)
    let mut stripped = probed.window.clone();
    stripped
        .storage
        .retain(|s| plain.window.storage.contains(s));
    cli_fails_naming_the_slot_then_fetches_it(&anvil, &stripped, &probed.window, &generated);
    eprintln!(
        "strict what-if tests took {:.1} s",
        t0.elapsed().as_secs_f64()
    );
}

fn cli_fails_naming_the_slot_then_fetches_it(
    anvil: &Anvil,
    stripped: &Window,
    probed: &Window,
    generated: &Window,
) {
    let root = temp_dir("strict", "cli");
    let details = WindowDetails::from_manifest(&generated.manifest).unwrap();
    let users: Vec<String> = details
        .users_at_start
        .iter()
        .map(|u| u.to_string())
        .collect();
    std::fs::create_dir_all(&root).unwrap();
    std::fs::write(root.join("users.txt"), users.join("\n")).unwrap();
    let text = std::fs::read_to_string(fixture()).unwrap();
    let strategies = &text[text.find("[[strategies]]").unwrap()..];
    let scenario = format!(
        "name = \"small-crash-rpc\"\n\n[source]\nkind = \"rpc\"\nrpc_url_env = \"LIQSIM_STRICT_TEST_NODE\"\npool = \"{}\"\nfrom_block = {}\nto_block = {}\nusers_file = \"users.txt\"\n\n{strategies}",
        details.market.as_aave_v3().unwrap().pool,
        generated.manifest.first_block,
        generated.manifest.last_block
    );
    let path = root.join("rpc.toml");
    std::fs::write(&path, scenario).unwrap();
    let AnyScenario::Rpc(rpc) = AnyScenario::load(Some(&path), &[]).unwrap() else {
        panic!("not an RPC scenario");
    };
    let mut current = stripped.clone();
    current.manifest.provenance.scenario = Some(path.display().to_string());
    current.manifest.provenance.scenario_sha256 = Some(rpc.window_sha256.clone());
    write_dataset(&root.join("datasets/small-crash-rpc"), &current).unwrap();
    let run = |extra: &[&str], out: &str| {
        std::process::Command::new(env!("CARGO_BIN_EXE_liqsim"))
            .env("CI", "1")
            .env("LIQSIM_CACHE_DIR", root.join("cache"))
            .env_remove("LIQSIM_STRICT_TEST_NODE")
            .arg("run")
            .arg(&path)
            .arg("--datasets")
            .arg(root.join("datasets"))
            .arg("--out")
            .arg(root.join(out))
            .args(extra)
            .output()
            .unwrap()
    };
    let failed = run(&[], "out-strict");
    let stderr = String::from_utf8_lossy(&failed.stderr);
    assert!(!failed.status.success(), "{stderr}");
    assert!(
        stderr.contains("does not hold account 0x")
            && stderr.contains(" slot 0x")
            && stderr.contains("--rpc"),
        "{stderr}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
    let (account, slot) = named_state(&stderr);
    let slot = slot.unwrap_or_else(|| panic!("no slot named: {stderr}"));
    let key = |w: &Window| {
        w.storage
            .iter()
            .any(|s| (s.address, s.slot) == (account, slot))
    };
    assert!(!key(stripped) && key(probed), "{account} {slot:#x}");
    let secret_url = format!("http://alice:hunter2@127.0.0.1:{}", anvil.port);
    let fetched = run(&["--rpc", &secret_url], "out-lazy");
    let (stdout, stderr) = (
        String::from_utf8_lossy(&fetched.stdout),
        String::from_utf8_lossy(&fetched.stderr),
    );
    assert!(fetched.status.success(), "{stdout}{stderr}");
    assert!(stderr.contains("fetched from the node"), "{stderr}");
    for secret in ["alice", "hunter2"] {
        assert!(
            !stdout.contains(secret) && !stderr.contains(secret),
            "{stderr}"
        );
    }
}
