//! Background traffic (`[traffic]`): the small crash window with 40 background transactions per
//! block (ether and token transfers, calls to a storage-heavy contract) builds, replays with every
//! receipt matched, uses about the gas it asks for, and leaves the market exactly as it is without
//! traffic: the same opportunities, to the block, transaction index and historical liquidation.

use std::path::Path;

use liqsim::app::run::run_strategies;
use liqsim::data::records::Window;
use liqsim::scenario::{DexConfig, LoadedScenario};
use liqsim::source::devnet::build_window;

use crate::common::aave_v3_artifacts;

const TX_PER_BLOCK: u64 = 40;
const GAS_PER_BLOCK: u64 = 6_000_000;

fn small_crash(traffic: bool) -> (LoadedScenario, Window) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/small-crash.toml");
    let mut text = std::fs::read_to_string(&path).unwrap();
    if traffic {
        text.push_str(&format!(
            "\n[traffic]\ntransactions_per_block = {TX_PER_BLOCK}\ngas_per_block = {GAS_PER_BLOCK}\naccounts = 200\n"
        ));
    }
    let loaded = LoadedScenario::from_text(&text, "small-crash.toml", path.parent()).unwrap();
    let window = build_window(&loaded, aave_v3_artifacts(), None)
        .unwrap()
        .window;
    (loaded, window)
}

#[test]
fn background_traffic_fills_blocks_and_leaves_the_market_as_it_is() {
    let (plain_loaded, plain) = small_crash(false);
    let (busy_loaded, busy) = small_crash(true);
    // The traffic changes the dataset, and only when asked for: without the table the scenario
    // hashes as before.
    assert_ne!(plain_loaded.sha256, busy_loaded.sha256);
    let blocks = plain.blocks.len() as u64;
    assert_eq!(
        busy.transactions.len() as u64,
        plain.transactions.len() as u64 + blocks * TX_PER_BLOCK,
        "every background transaction fits the small window's blocks"
    );
    let failed = |w: &Window| w.receipts.iter().filter(|r| !r.success).count();
    assert_eq!(
        failed(&busy),
        failed(&plain),
        "no background transaction fails"
    );
    // About the gas asked for, per block: the window's gas minus the market's own.
    let gas = |w: &Window| -> u64 { w.receipts.iter().map(|r| r.gas_used).sum() };
    let per_block = (gas(&busy) - gas(&plain)) / blocks;
    assert!(
        per_block > GAS_PER_BLOCK * 85 / 100 && per_block < GAS_PER_BLOCK * 110 / 100,
        "background gas per block {per_block}, asked for {GAS_PER_BLOCK}"
    );

    // Replayed: every receipt matches, and the ledger is the same as without traffic.
    let plain_run = run_strategies(&plain, &[], &DexConfig::default(), true, false).unwrap();
    let busy_run = run_strategies(&busy, &[], &DexConfig::default(), true, false).unwrap();
    assert_eq!(
        busy_run.fidelity.receipts_matched,
        busy.transactions.len() as u64
    );
    assert!(!plain_run.opportunities.is_empty());
    assert_eq!(busy_run.opportunities, plain_run.opportunities);
}

#[test]
fn traffic_that_cannot_fit_the_block_is_refused_naming_the_field() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/small-crash.toml");
    let base = std::fs::read_to_string(&path).unwrap();
    for (table, field) in [
        (
            "[traffic]\ntransactions_per_block = 10\ngas_per_block = 29000000\n",
            "traffic.gas_per_block",
        ),
        (
            "[traffic]\ntransactions_per_block = 1000\n",
            "traffic.gas_per_block",
        ),
        (
            "[traffic]\ntransactions_per_block = 5000\n",
            "traffic.transactions_per_block",
        ),
        (
            "[traffic]\ntransactions_per_block = 10\naccounts = 0\n",
            "traffic.accounts",
        ),
    ] {
        let text = format!("{base}\n{table}");
        let err = LoadedScenario::from_text(&text, "small-crash.toml", path.parent())
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains(field), "{table}: {err}");
    }
}
