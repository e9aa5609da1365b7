//! The window explorer: jumps from checkpoints equal a long replay, bad input is refused with a
//! status and a message (library and HTTP API) without stopping the server, and the page, driven in
//! Debian's Chromium, shows the same what-if as the command line.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command as Process;
use std::sync::OnceLock;

use alloy_primitives::Address;
use clap::Parser;
use liqsim::app::cli::{open_explorer, what_if_text, Cli, Command, ExploreArgs};
use liqsim::app::explore::server::{serve, ExplorerApp};
use liqsim::app::explore::state::{BadInput, ExploreError, Explorer, Point};
use liqsim::app::explore::view::{positions, what_if, Amount, WhatIfFunding, WhatIfRequest};
use liqsim::protocol::artifacts::cache_root;

use crate::strategies::window;

/// The pinned playwright-core the browser test drives Chromium with.
const PLAYWRIGHT_CORE: &str = "playwright-core@1.65.1";

fn dataset() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = Path::new(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("explore-small-crash-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        liqsim::data::dataset::write_dataset(&dir, window()).unwrap();
        dir
    })
}

fn explorer() -> &'static Explorer {
    static EXPLORER: OnceLock<Explorer> = OnceLock::new();
    EXPLORER.get_or_init(|| Explorer::open(window().clone(), 10).unwrap())
}

fn request(point: Point, user: Address) -> WhatIfRequest {
    WhatIfRequest {
        point,
        user,
        collateral: None,
        debt: None,
        amount: Amount::Max,
        funding: WhatIfFunding::Own,
        tip_gwei: "2".into(),
    }
}

/// A point and a user whose what-if liquidation succeeds there (top of a block).
fn liquidatable_point() -> (Point, Address) {
    let e = explorer();
    for o in &e.opportunities {
        for block in [o.first_block + 1, o.first_block] {
            let point = Point { block, tx: None };
            if block > o.last_block || e.check_point(point).is_err() {
                continue;
            }
            let Ok(v) = what_if(e, None, &request(point, o.user)) else {
                continue;
            };
            if v.success {
                return (point, o.user);
            }
        }
    }
    panic!("no liquidatable point in the fixture window");
}

/// The positions at a point, without the timing fields.
fn positions_json(e: &Explorer, point: Point) -> serde_json::Value {
    let state = e.state_at(point).unwrap();
    let mut v = serde_json::to_value(positions(e, &state).unwrap()).unwrap();
    let o = v.as_object_mut().unwrap();
    o.remove("jump_ms");
    o.remove("replayed");
    v
}

#[test]
fn a_jump_from_a_checkpoint_equals_a_replay_from_the_start() {
    let near = explorer();
    let far = Explorer::open(window().clone(), 1_000_000).unwrap();
    let first = window().manifest.first_block;
    let (liquidatable, _) = liquidatable_point();
    let busy = near
        .blocks
        .iter()
        .rev()
        .find(|b| b.transactions > 2)
        .unwrap();
    let points = [
        Point {
            block: first,
            tx: None,
        },
        Point {
            block: first + 10,
            tx: None,
        },
        Point {
            block: first + 37,
            tx: Some(0),
        },
        liquidatable,
        Point {
            block: busy.number,
            tx: Some(busy.transactions - 1),
        },
        Point {
            block: busy.number,
            tx: Some(0),
        },
    ];
    for point in points {
        let state = near.state_at(point).unwrap();
        assert!(
            state.replayed_blocks <= 10,
            "{point:?}: {} blocks",
            state.replayed_blocks
        );
        assert_eq!(
            positions_json(near, point),
            positions_json(&far, point),
            "state at {point:?}"
        );
    }
    // after a transaction is not the top of the block
    let top = positions_json(
        near,
        Point {
            block: busy.number,
            tx: None,
        },
    );
    let after = positions_json(
        near,
        Point {
            block: busy.number,
            tx: Some(busy.transactions - 1),
        },
    );
    assert_ne!(top["positions"], after["positions"]);
}

fn bad(e: ExploreError) -> BadInput {
    match e {
        ExploreError::Bad(b) => b,
        ExploreError::Internal(e) => panic!("expected bad input, got {e}"),
    }
}

#[test]
fn bad_input_is_refused_with_a_message() {
    let e = explorer();
    let first = window().manifest.first_block;
    let last = window().manifest.last_block;
    let outside = bad(e
        .state_at(Point {
            block: last + 1,
            tx: None,
        })
        .err()
        .unwrap());
    assert!(
        matches!(&outside, BadInput::Invalid(m) if m.contains("outside the window")),
        "{outside:?}"
    );
    let count = e.blocks[0].transactions;
    let past = bad(e
        .state_at(Point {
            block: first,
            tx: Some(count),
        })
        .err()
        .unwrap());
    assert!(
        matches!(&past, BadInput::Invalid(m) if m.contains("past its end")),
        "{past:?}"
    );
    let (point, user) = liquidatable_point();
    let unknown = bad(
        what_if(e, None, &request(point, Address::repeat_byte(0x42)))
            .err()
            .unwrap(),
    );
    assert!(
        matches!(&unknown, BadInput::NotFound(m) if m.contains("holds no position")),
        "{unknown:?}"
    );
    // a healthy position: the protocol itself refuses the liquidation, and says why
    let state = e.state_at(point).unwrap();
    let healthy = positions(e, &state)
        .unwrap()
        .positions
        .into_iter()
        .find(|p| !p.liquidatable && p.debt_usd > 0.0)
        .unwrap();
    let mut r = request(point, healthy.user);
    let pair = |f: fn(&liqsim::app::explore::view::AssetRow) -> bool| {
        healthy
            .assets
            .iter()
            .find(|a| f(a))
            .map(|a| a.symbol.clone())
    };
    r.collateral = pair(|a| a.collateral != "0");
    r.debt = pair(|a| a.debt != "0");
    let refused = what_if(e, None, &r).unwrap();
    assert!(!refused.success);
    let reason = refused.refusal.unwrap();
    assert!(
        reason.contains("HEALTH_FACTOR_NOT_BELOW_THRESHOLD"),
        "{reason}"
    );
    // an unknown asset and a bad amount
    let mut r = request(point, user);
    r.collateral = Some("DOGE".into());
    assert!(
        matches!(bad(what_if(e, None, &r).err().unwrap()), BadInput::Invalid(m) if m.contains("known: WETH"))
    );
    let mut r = request(point, user);
    r.amount = Amount::Custom("1.2.3".into());
    assert!(matches!(
        bad(what_if(e, None, &r).err().unwrap()),
        BadInput::Invalid(_)
    ));
}

/// `liqsim explore` as the command line parses it.
fn explore_args(extra: &[&str]) -> ExploreArgs {
    let mut argv: Vec<String> = vec!["liqsim".into(), "explore".into()];
    argv.push(dataset().display().to_string());
    argv.extend(extra.iter().map(|s| s.to_string()));
    match Cli::parse_from(argv).command {
        Command::Explore(args) => args,
        other => panic!("parsed {other:?}"),
    }
}

/// A running explorer server (the command's own code path, on a free loopback port, in a thread
/// of this process: the test binary's copy of the code, whatever else shares the target folder).
struct Server {
    url: String,
}

fn server() -> Server {
    let args = explore_args(&["--port", "0", "--checkpoint-every", "10"]);
    assert!(args.host.is_loopback(), "binds to loopback by default");
    let (explorer, run) = open_explorer(&args).unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let app = ExplorerApp { explorer, run };
        serve(app, args.host, args.port, |bound| {
            let _ = tx.send(bound);
        })
        .unwrap();
    });
    let bound = rx.recv().unwrap();
    assert!(bound.ip().is_loopback());
    Server {
        url: format!("http://{bound}/"),
    }
}

/// GET `path`: status and body.
fn get(url: &str, path: &str) -> (u16, String) {
    let host = url.trim_start_matches("http://").trim_end_matches('/');
    let mut s = TcpStream::connect(host).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = text
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

#[test]
fn the_api_answers_bad_input_with_a_status_and_a_message_and_keeps_serving() {
    let s = server();
    let (point, user) = liquidatable_point();
    let b = point.block;
    let last = window().manifest.last_block;
    let cases = [
        (
            format!("/api/positions?block={}", last + 5),
            400,
            "outside the window",
        ),
        (
            format!("/api/positions?block={b}&tx=999"),
            400,
            "past its end",
        ),
        (
            "/api/positions?block=abc".to_string(),
            400,
            "not a block number",
        ),
        (
            "/api/positions".to_string(),
            400,
            "missing query parameter `block`",
        ),
        (
            format!("/api/positions?block={b}&tx=-1"),
            400,
            "not a number",
        ),
        (
            format!("/api/whatif?block={b}&user=0x{}", "42".repeat(20)),
            404,
            "holds no position",
        ),
        (
            format!("/api/whatif?block={b}&user=nobody"),
            400,
            "not an address",
        ),
        (
            format!("/api/whatif?block={b}&user={user}&funding=gift"),
            400,
            "unknown funding",
        ),
        (
            format!("/api/whatif?block={b}&user={user}&amount=lots"),
            400,
            "not a decimal amount",
        ),
        ("/api/nothing".to_string(), 404, "no such page"),
    ];
    for (path, status, text) in &cases {
        let (got, body) = get(&s.url, path);
        assert_eq!(got, *status, "{path}: {body}");
        assert!(body.contains(text), "{path}: {body}");
    }
    // a what-if the protocol refuses: 422 with the protocol's reason and the result
    let healthy = {
        let e = explorer();
        let state = e.state_at(point).unwrap();
        positions(e, &state)
            .unwrap()
            .positions
            .into_iter()
            .find(|p| {
                !p.liquidatable
                    && p.assets
                        .iter()
                        .any(|a| a.symbol == "WETH" && a.collateral != "0")
                    && p.assets.iter().any(|a| a.symbol == "USDC" && a.debt != "0")
            })
            .unwrap()
    };
    let (status, body) = get(
        &s.url,
        &format!(
            "/api/whatif?block={b}&user={}&collateral=WETH&debt=USDC",
            healthy.user
        ),
    );
    assert_eq!(status, 422, "{body}");
    assert!(
        body.contains("the protocol refused the liquidation"),
        "{body}"
    );
    // still serving, and the what-if agrees with the library's
    let (status, body) = get(&s.url, &format!("/api/whatif?block={b}&user={user}"));
    assert_eq!(status, 200, "{body}");
    let api: serde_json::Value = serde_json::from_str(&body).unwrap();
    let lib =
        serde_json::to_value(what_if(explorer(), None, &request(point, user)).unwrap()).unwrap();
    assert_eq!(api, lib);
    let (status, page) = get(&s.url, "/");
    assert_eq!(status, 200);
    assert!(page.contains("Liquidate (what-if)"));
    let (status, body) = get(&s.url, "/api/window");
    assert_eq!(status, 200);
    assert!(body.contains("\"liquidations\""));
}

fn chromium() -> Option<PathBuf> {
    let path = std::env::var_os("LIQSIM_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    path.is_file().then_some(path)
}

/// playwright-core, installed with npm into the git-ignored cache on first use.
pub(crate) fn playwright_core() -> PathBuf {
    let dir = cache_root().join(format!(
        "browser-test/{}",
        PLAYWRIGHT_CORE.replace('@', "-")
    ));
    let dir = std::path::absolute(&dir).unwrap();
    let module = dir.join("node_modules/playwright-core");
    if module.join("package.json").is_file() {
        return module;
    }
    std::fs::create_dir_all(&dir).unwrap();
    let status = Process::new("npm")
        .args([
            "install",
            "--no-save",
            "--no-audit",
            "--no-fund",
            "--prefix",
        ])
        .arg(&dir)
        .arg(PLAYWRIGHT_CORE)
        .status()
        .expect("npm is needed for the browser test (it also fetches the protocol artifacts)");
    assert!(status.success(), "npm install {PLAYWRIGHT_CORE}");
    module
}

#[test]
fn the_page_in_chromium_shows_the_clis_what_if() {
    let Some(chromium) = chromium() else {
        eprintln!(
            "SKIPPED the_page_in_chromium_shows_the_clis_what_if: Chromium is not installed \
             (Debian: apt-get install chromium chromium-driver; or set LIQSIM_CHROMIUM)"
        );
        return;
    };
    let (point, user) = liquidatable_point();
    // the command line's what-if at the same point
    let block = point.block.to_string();
    let user_text = user.to_string();
    let args = explore_args(&[
        "--what-if",
        "--block",
        &block,
        "--user",
        &user_text,
        "--amount",
        "max",
        "--funding",
        "own",
    ]);
    let cli: serde_json::Value = serde_json::from_str(&what_if_text(&args).unwrap()).unwrap();
    assert_eq!(cli["success"], true, "{cli}");

    let s = server();
    let module = playwright_core();
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("explore-browser-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    std::fs::create_dir_all(&tmp).unwrap();
    let shot = tmp.join("explorer.png");
    let out = Process::new("node")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser/explore.cjs"))
        .arg(&module)
        .arg(&s.url)
        .arg(point.block.to_string())
        .arg(user.to_string())
        .arg(&shot)
        .arg(tmp.join("profile"))
        .env("LIQSIM_CHROMIUM", &chromium)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "browser run failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let page: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let f = &page["fields"];
    let text = |k: &str| cli[k].as_str().unwrap().to_string();
    assert_eq!(page["status"], "executed", "{page}");
    assert_eq!(f["gas_used"], cli["gas_used"].to_string(), "{page}");
    assert_eq!(
        f["pair"],
        format!("{} / {}", text("collateral"), text("debt"))
    );
    assert_eq!(
        f["debt_repaid"],
        format!("{} {}", text("debt_repaid"), text("debt"))
    );
    assert_eq!(
        f["collateral_received"],
        format!("{} {}", text("collateral_received"), text("collateral"))
    );
    assert_eq!(
        f["protocol_fee"],
        format!("{} {}", text("protocol_fee"), text("collateral"))
    );
    for k in [
        "debt_to_cover",
        "gas_price_gwei",
        "gas_cost_usd",
        "debt_repaid_usd",
        "collateral_received_usd",
        "bonus_usd",
        "funding_cost_usd",
        "profit_after_gas_usd",
    ] {
        assert_eq!(f[k], cli[k], "{k}: page {page} cli {cli}");
    }
    assert!(page["filtered_rows"].as_u64().unwrap() > 0, "{page}");
    assert_eq!(page["filtered_healthy_rows"], 0, "HF < 1 filter: {page}");
    let message = page["bad_block_message"].as_str().unwrap();
    assert!(
        message.starts_with("400") && message.contains("outside the window"),
        "{message}"
    );
    assert!(page["after_bad_input_rows"].as_u64().unwrap() > 0, "{page}");
    assert_eq!(page["page_errors"], serde_json::json!([]));
    assert!(std::fs::metadata(&shot).unwrap().len() > 10_000);
    if let Some(keep) = std::env::var_os("LIQSIM_EXPLORER_SCREENSHOT") {
        std::fs::copy(&shot, keep).unwrap();
    }
}
