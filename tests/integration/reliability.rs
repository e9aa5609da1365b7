//! Reliability (issue 13): liqsim never destroys a user's files, never reports a diverged replay
//! as a success, never prints a secret, and does not panic on damaged input.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use liqsim::data::dataset::{read_dataset, write_dataset, DATA_FILES, MANIFEST_FILE};
use liqsim::data::folder::MARKER_FILE;
use liqsim::scenario::LoadedScenario;

fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/small-crash.toml")
}

/// A fresh folder for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("reliability-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The artifact cache the other tests use (absolute, so a CLI run in another folder finds it).
fn cache_dir() -> PathBuf {
    let root = liqsim::protocol::artifacts::cache_root();
    if root.is_absolute() {
        root
    } else {
        std::env::current_dir().unwrap().join(root)
    }
}

/// Runs the CLI in `cwd`.
fn liqsim(cwd: &Path, args: &[&str]) -> Output {
    crate::common::aave_v3_artifacts(); // fetched once, before any CLI run needs them
    Command::new(env!("CARGO_BIN_EXE_liqsim"))
        .current_dir(cwd)
        .env("CI", "1")
        .env("RUST_BACKTRACE", "0")
        .env("LIQSIM_CACHE_DIR", cache_dir())
        .args(args)
        .output()
        .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// A built small-crash dataset under `<root>/datasets` (built once per test process).
fn built_dataset() -> &'static (PathBuf, String) {
    static BUILT: OnceLock<(PathBuf, String)> = OnceLock::new();
    BUILT.get_or_init(|| {
        let root = scratch("built");
        let fixture = fixture();
        let out = liqsim(
            &root,
            &[
                "run",
                fixture.to_str().unwrap(),
                "--datasets",
                "datasets",
                "--out",
                "out",
            ],
        );
        assert!(out.status.success(), "{}", text(&out));
        (root, text(&out))
    })
}

#[test]
fn a_user_file_in_out_survives_and_the_run_refuses_before_work() {
    let root = scratch("user-file");
    std::fs::create_dir_all(root.join("mine")).unwrap();
    std::fs::write(root.join("mine/thesis.tex"), b"four years of work").unwrap();
    std::fs::write(root.join("notes.txt"), b"mine too").unwrap();
    let fixture = fixture();
    let fixture = fixture.to_str().unwrap();
    for out_dir in ["mine", ".", "..", "datasets-root"] {
        std::fs::create_dir_all(root.join("datasets-root/other")).unwrap();
        let out = liqsim(
            &root,
            &[
                "run",
                fixture,
                "--datasets",
                "datasets-root",
                "--out",
                out_dir,
            ],
        );
        let all = text(&out);
        assert!(!out.status.success(), "--out {out_dir}: {all}");
        assert!(all.contains("refusing"), "--out {out_dir}: {all}");
        assert!(
            !all.contains("building dataset"),
            "refused before work: {all}"
        );
        assert!(!root.join("datasets-root/small-crash").exists());
    }
    assert_eq!(
        std::fs::read(root.join("mine/thesis.tex")).unwrap(),
        b"four years of work"
    );
    assert_eq!(std::fs::read(root.join("notes.txt")).unwrap(), b"mine too");
    assert!(root.join("datasets-root/other").is_dir());

    // `dataset build` into a foreign folder is refused too, and the folder kept.
    let out = liqsim(&root, &["dataset", "build", fixture, "--out", "mine"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(root.join("mine/thesis.tex").is_file());
}

#[test]
fn a_dataset_that_cannot_be_read_is_never_rebuilt_over() {
    let (built, _) = built_dataset();
    let root = scratch("unreadable");
    let copy = root.join("datasets/small-crash");
    std::fs::create_dir_all(&copy).unwrap();
    for f in std::fs::read_dir(built.join("datasets/small-crash")).unwrap() {
        let f = f.unwrap();
        std::fs::copy(f.path(), copy.join(f.file_name())).unwrap();
    }
    let manifest = std::fs::read_to_string(copy.join(MANIFEST_FILE)).unwrap();
    let newer = manifest.replace("\"format_version\": 1", "\"format_version\": 999");
    assert_ne!(manifest, newer);
    std::fs::write(copy.join(MANIFEST_FILE), &newer).unwrap();
    let fixture = fixture();
    let out = liqsim(
        &root,
        &[
            "run",
            fixture.to_str().unwrap(),
            "--datasets",
            "datasets",
            "--out",
            "out",
        ],
    );
    let all = text(&out);
    assert!(!out.status.success(), "{all}");
    assert!(
        all.contains("newer") && all.contains("does not rebuild"),
        "{all}"
    );
    assert_eq!(
        std::fs::read_to_string(copy.join(MANIFEST_FILE)).unwrap(),
        newer
    );
}

#[test]
fn concurrent_runs_into_one_folder_never_fail_or_corrupt_it() {
    let root = scratch("concurrent");
    let fixture = fixture();
    crate::common::aave_v3_artifacts();
    let runs: Vec<_> = (0..4)
        .map(|_| {
            Command::new(env!("CARGO_BIN_EXE_liqsim"))
                .current_dir(&root)
                .env("CI", "1")
                .env("LIQSIM_CACHE_DIR", cache_dir())
                .args([
                    "run",
                    fixture.to_str().unwrap(),
                    "--datasets",
                    "datasets",
                    "--out",
                    "out",
                ])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    let outputs: Vec<Output> = runs
        .into_iter()
        .map(|c| c.wait_with_output().unwrap())
        .collect();
    for out in &outputs {
        assert!(out.status.success(), "{}", text(out));
    }
    let built = outputs
        .iter()
        .filter(|o| text(o).contains("building dataset"))
        .count();
    assert_eq!(built, 1, "one run builds, the others wait and reuse it");
    // The dataset reads back (hash-checked), the outputs are complete, nothing is left over.
    read_dataset(&root.join("datasets/small-crash")).unwrap();
    let summary = std::fs::read(root.join("out/summary.json")).unwrap();
    serde_json::from_slice::<serde_json::Value>(&summary).unwrap();
    assert!(root.join("out").join(MARKER_FILE).is_file());
    for dir in [&root, &root.join("datasets")] {
        for e in std::fs::read_dir(dir).unwrap() {
            let name = e.unwrap().file_name().to_string_lossy().to_string();
            assert!(
                !name.contains(".tmp-") && !name.contains(".old-"),
                "left over: {name}"
            );
        }
    }
}

/// Copies the built dataset to a fresh root, lets `tamper` change the window, writes it back.
fn tampered(name: &str, tamper: impl FnOnce(&mut liqsim::data::records::Window)) -> PathBuf {
    let (built, _) = built_dataset();
    let root = scratch(name);
    let mut window = read_dataset(&built.join("datasets/small-crash")).unwrap();
    tamper(&mut window);
    write_dataset(&root.join("datasets/small-crash"), &window).unwrap();
    root
}

fn run_on(root: &Path, extra: &[&str]) -> Output {
    let fixture = fixture();
    let mut args = vec![
        "run",
        fixture.to_str().unwrap(),
        "--datasets",
        "datasets",
        "--out",
        "out",
    ];
    args.extend_from_slice(extra);
    liqsim(root, &args)
}

#[test]
fn a_tampered_receipt_makes_run_fail_naming_it() {
    let (block, index) = (std::cell::Cell::new(0), std::cell::Cell::new(0));
    let root = tampered("gas-plus-one", |w| {
        let r = &mut w.receipts[10];
        r.gas_used += 1;
        block.set(r.block);
        index.set(r.index);
    });
    let out = run_on(&root, &[]);
    let all = text(&out);
    assert!(!out.status.success(), "{all}");
    let named = format!("block {} tx {}", block.get(), index.get());
    assert!(all.contains(&named) && all.contains("gas used"), "{all}");
    assert!(!root.join("out").exists(), "no outputs for a diverged run");

    // Asked to continue: outputs are written, and the share is not rounded up to 100%.
    let out = run_on(&root, &["--allow-divergence"]);
    let all = text(&out);
    assert!(out.status.success(), "{all}");
    assert!(all.contains(&named), "{all}");
    assert!(!all.contains("(100.0%)"), "{all}");
    assert!(root.join("out/summary.json").is_file());
}

#[test]
fn every_receipt_field_and_row_set_is_checked() {
    type Tamper = fn(&mut liqsim::data::records::Window);
    let cases: [(&str, Tamper, &str); 6] = [
        (
            "cumulative",
            |w| w.receipts[3].cumulative_gas_used += 1,
            "cumulative gas",
        ),
        (
            "status",
            |w| w.receipts[5].success = !w.receipts[5].success,
            "status",
        ),
        (
            "duplicate",
            |w| {
                let r = w.receipts[7].clone();
                w.receipts.insert(8, r);
            },
            "duplicate receipt",
        ),
        (
            "missing",
            |w| {
                w.receipts.remove(4);
            },
            "no receipt",
        ),
        (
            "extra-log",
            |w| {
                let mut l = w.logs[0].clone();
                l.block += 1_000_000;
                w.logs.push(l);
            },
            "without a transaction",
        ),
        ("no-logs", |w| w.logs.clear(), "logs recorded"),
    ];
    for (name, tamper, expected) in cases {
        let root = tampered(name, tamper);
        let out = run_on(&root, &[]);
        let all = text(&out);
        assert!(!out.status.success(), "{name}: {all}");
        assert!(
            all.contains(expected),
            "{name}: expected `{expected}` in {all}"
        );
        assert!(all.contains("DIVERGENCE block "), "{name}: {all}");
    }
}

/// A fake node answering every request with `status` and `body` (each a function of the request
/// count), on a thread; returns its port.
fn fake_node(status: &'static str, body: String) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { return };
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                if line == "\r\n" {
                    break;
                }
            }
            let mut request = vec![0u8; length];
            let _ = reader.read_exact(&mut request);
            let _ = write!(
                conn,
                "HTTP/1.1 {status}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

fn files_under(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            files_under(&p, out);
        } else {
            out.push(p);
        }
    }
}

#[test]
fn a_planted_secret_appears_nowhere() {
    const USER: &str = "plantedUser";
    const PASSWORD: &str = "plantedPassw0rd";
    const KEY: &str = "plantedApiKey42";
    let root = scratch("secret");
    let cache = root.join("cache");
    let url_of =
        |port: u16| format!("http://{USER}:{PASSWORD}@127.0.0.1:{port}/v2/{KEY}?token={KEY}");
    // A node that echoes the URL in an HTTP 401 body, one that echoes it in a JSON-RPC error,
    // and one that answers a huge value.
    let echo = format!(
        "unauthorized: {} (user {USER}, password {PASSWORD})",
        url_of(1)
    );
    let unauthorized = fake_node("401 Unauthorized", echo.clone());
    let rpc_error = fake_node(
        "200 OK",
        serde_json::json!({"jsonrpc": "2.0", "id": 0, "error": {"code": -32000, "message": echo}})
            .to_string(),
    );
    let huge = fake_node(
        "200 OK",
        format!(
            "{{\"jsonrpc\":\"2.0\",\"id\":0,\"result\":\"{}{}\"}}",
            echo,
            "x".repeat(100_000)
        ),
    );
    let mut streams = String::new();
    for port in [unauthorized, rpc_error, huge] {
        let out = Command::new(env!("CARGO_BIN_EXE_liqsim"))
            .current_dir(&root)
            .env("CI", "1")
            .env("LIQSIM_CACHE_DIR", &cache)
            .args([
                "record",
                "--rpc-url",
                &url_of(port),
                "--pool",
                "0x87870Bca3F3fD6335C3F4ce8392D69350B4fA4E2",
                "--from",
                "100",
                "--to",
                "101",
                "--out",
                "recorded",
            ])
            .output()
            .unwrap();
        assert!(!out.status.success());
        let all = text(&out);
        assert!(
            all.len() < 4_000,
            "errors quote a short prefix: {} bytes",
            all.len()
        );
        streams.push_str(&all);
    }
    // A scenario whose [source] line is malformed: the TOML error must not echo it.
    let scenario = root.join("leaky.toml");
    std::fs::write(
        &scenario,
        format!(
            "name = \"leaky\"\n[source]\nkind = \"rpc\"\nrpc_url = \"{}\" oops\n",
            url_of(1)
        ),
    )
    .unwrap();
    let out = liqsim(&root, &["run", scenario.to_str().unwrap()]);
    assert!(!out.status.success());
    streams.push_str(&text(&out));
    assert!(streams.contains("401"), "{streams}");
    let mut files = Vec::new();
    files_under(&root, &mut files);
    for secret in [USER, PASSWORD, KEY] {
        assert!(!streams.contains(secret), "`{secret}` printed: {streams}");
        for f in &files {
            if f == &scenario {
                continue;
            }
            let bytes = std::fs::read(f).unwrap_or_default();
            assert!(
                !String::from_utf8_lossy(&bytes).contains(secret),
                "`{secret}` written to {}",
                f.display()
            );
        }
    }
}

/// A small seeded generator (SplitMix64): the same cases every run.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

const NASTY: &[&str] = &[
    "0",
    "-1",
    "1e30",
    "18446744073709551615",
    "9223372036854775807",
    "\"1e31\"",
    "\"100000000000000000000000000000000000000000\"",
    "\"0.0000000000000000000001\"",
    "\"\"",
    "[]",
    "[1, 1]",
    "\"-5\"",
    "nan",
    "inf",
    "\"DOGE\"",
    "{}",
    "\"x\"",
    "1.5",
    "true",
    "\"340282366920938463463374607431768211456\"",
];

/// Mutates one value, key or byte of `text`.
fn mutate(text: &str, rng: &mut Rng) -> String {
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    let i = rng.below(lines.len());
    match rng.below(4) {
        0 => {
            if let Some((key, _)) = lines[i].clone().split_once('=') {
                lines[i] = format!("{key}= {}", NASTY[rng.below(NASTY.len())]);
            }
        }
        1 => {
            lines.remove(i);
        }
        2 => {
            let j = rng.below(lines.len());
            lines.swap(i, j);
        }
        _ => {
            let mut bytes = lines[i].clone().into_bytes();
            if !bytes.is_empty() {
                let k = rng.below(bytes.len());
                bytes[k] = b"0123456789-.=\"[]e,"[rng.below(18)];
            }
            lines[i] = String::from_utf8_lossy(&bytes).to_string();
        }
    }
    lines.join("\n")
}

#[test]
fn property_no_panic_on_damaged_scenarios_price_csvs_and_datasets() {
    let mut rng = Rng(13);
    let base = std::fs::read_to_string(fixture()).unwrap();
    let dir = scratch("fuzz");
    let mut panics = Vec::new();
    // Scenario TOML: one to three mutations of the fixture each.
    for case in 0..300 {
        let mut text = base.clone();
        for _ in 0..=rng.below(3) {
            text = mutate(&text, &mut rng);
        }
        let caught = std::panic::catch_unwind(|| {
            let _ = LoadedScenario::from_text(&text, "fuzz.toml", None);
        });
        if caught.is_err() {
            panics.push(format!("scenario case {case}:\n{text}"));
        }
    }
    // Price CSV: random rows of plausible and nasty fields.
    let scenario_with_csv = base.replacen("[prices]\n", "[prices]\ncsv = \"prices.csv\"\n", 1);
    for case in 0..200 {
        let mut csv = String::from("timestamp,symbol,price_usd\n");
        for _ in 0..rng.below(6) {
            let field = |rng: &mut Rng, good: &str| -> String {
                if rng.below(3) == 0 {
                    NASTY[rng.below(NASTY.len())].to_string()
                } else {
                    good.to_string()
                }
            };
            let t = (1_621_396_800 + rng.below(4000)).to_string();
            let ts = field(&mut rng, &t);
            let s = ["WETH", "WBTC", "DAI"][rng.below(3)];
            let sym = field(&mut rng, s);
            let price = field(&mut rng, "2000.5");
            let extra = if rng.below(10) == 0 { ",x" } else { "" };
            csv.push_str(&format!("{ts},{sym},{price}{extra}\n"));
        }
        std::fs::write(dir.join("prices.csv"), &csv).unwrap();
        let caught = std::panic::catch_unwind(|| {
            let _ = LoadedScenario::from_text(&scenario_with_csv, "fuzz.toml", Some(&dir));
        });
        if caught.is_err() {
            panics.push(format!("price csv case {case}:\n{csv}"));
        }
    }
    // Dataset files: byte flips, truncations and a manifest re-hashed so the damaged Parquet
    // is parsed rather than stopped by the hash check.
    let (built, _) = built_dataset();
    let source = built.join("datasets/small-crash");
    for case in 0..60 {
        let target = scratch(&format!("fuzz-ds-{case}"));
        for f in std::fs::read_dir(&source).unwrap() {
            let f = f.unwrap();
            std::fs::copy(f.path(), target.join(f.file_name())).unwrap();
        }
        let file = if rng.below(5) == 0 {
            MANIFEST_FILE
        } else {
            DATA_FILES[rng.below(DATA_FILES.len())]
        };
        let mut bytes = std::fs::read(target.join(file)).unwrap();
        match rng.below(3) {
            0 => bytes.truncate(rng.below(bytes.len())),
            _ => {
                for _ in 0..=rng.below(8) {
                    let k = rng.below(bytes.len());
                    bytes[k] = rng.next() as u8;
                }
            }
        }
        std::fs::write(target.join(file), &bytes).unwrap();
        if file != MANIFEST_FILE {
            use sha2::Digest;
            let path = target.join(MANIFEST_FILE);
            let mut m: serde_json::Value =
                serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
            m["files"][file] = hex::encode(sha2::Sha256::digest(&bytes)).into();
            std::fs::write(&path, serde_json::to_vec_pretty(&m).unwrap()).unwrap();
        }
        let caught = std::panic::catch_unwind(|| {
            let _ = read_dataset(&target);
            let _ = liqsim::app::run::inspect(&target);
        });
        if caught.is_err() {
            panics.push(format!("dataset case {case}: {file}"));
        }
        let _ = std::fs::remove_dir_all(&target);
    }
    assert!(
        panics.is_empty(),
        "{} panics:\n{}",
        panics.len(),
        panics.join("\n\n")
    );
}
