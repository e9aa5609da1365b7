//! Real deployments by name: markets of `@aave-dao/aave-address-book` (fetched with npm) resolve to
//! the addresses the package publishes, in both of its listings, and the book's chain id is held
//! against the node.

use std::process::Command;

use crate::common::npm_available;
use alloy_primitives::{address, Address};
use liqsim::app::anvil::{Anvil, AnvilOptions};
use liqsim::source::address_book::{
    address_book_dir, market_names, resolve, resolve_aave_v3, solidity_constant, BookVersion,
};

#[test]
fn address_book_resolves_aave_v3_ethereum() {
    if !npm_available() {
        eprintln!("SKIPPED: npm is not installed; the address book is fetched with npm");
        return;
    }
    // Aave V3 on Ethereum, as Aave's documentation lists it.
    let m = resolve_aave_v3("AaveV3Ethereum", None).unwrap();
    assert_eq!(m.chain_id, 1);
    assert_eq!(m.version, BookVersion::V3);
    assert_eq!(m.pool, address!("87870Bca3F3fD6335C3F4ce8392D69350B4fA4E2"));
    assert_eq!(
        m.provider,
        address!("2f39d218133AFaB8F2B819B1066c7E434Ad94E9e")
    );
    let base = resolve("AaveV3Base").unwrap();
    assert_eq!(base.chain_id, 8453);
    assert_ne!(base.pool, m.pool);
}

#[test]
fn address_book_javascript_agrees_with_solidity_for_every_market() {
    if !npm_available() {
        eprintln!("SKIPPED: npm is not installed; the address book is fetched with npm");
        return;
    }
    let dir = address_book_dir().unwrap();
    let names = market_names(&dir).unwrap();
    assert!(names.len() >= 20, "{names:?}");
    let mut compared = 0;
    for name in &names {
        let m = resolve(name).unwrap();
        let sol_path = dir.join("src").join(format!("{name}.sol"));
        let sol = std::fs::read_to_string(&sol_path)
            .unwrap_or_else(|e| panic!("{}: {e}", sol_path.display()));
        assert_eq!(solidity_constant(&sol, "POOL"), Some(m.pool), "{name} POOL");
        assert_eq!(
            solidity_constant(&sol, "POOL_ADDRESSES_PROVIDER"),
            Some(m.provider),
            "{name} POOL_ADDRESSES_PROVIDER"
        );
        assert_ne!(m.pool, Address::ZERO, "{name}");
        compared += 1;
    }
    assert_eq!(compared, names.len());
    assert!(names.iter().any(|n| n == "AaveV2Ethereum"));
    assert_eq!(resolve("AaveV2Ethereum").unwrap().version, BookVersion::V2);
}

#[test]
fn address_book_errors_name_the_market_and_what_to_do() {
    if !npm_available() {
        eprintln!("SKIPPED: npm is not installed; the address book is fetched with npm");
        return;
    }
    let err = resolve("AaveV3Etherium").unwrap_err().to_string();
    assert!(
        err.contains("AaveV3Etherium") && err.contains("source.market"),
        "{err}"
    );
    assert!(err.contains("AaveV3Ethereum"), "no list of markets: {err}");
    let err = resolve_aave_v3("AaveV2Ethereum", None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("Aave V2"), "{err}");
    let err = resolve_aave_v3("AaveV3Ethereum", Some(137))
        .unwrap_err()
        .to_string();
    assert!(err.contains("137") && err.contains("(1)"), "{err}");
}

#[test]
fn address_book_chain_id_is_held_against_the_node() {
    if !npm_available() {
        eprintln!("SKIPPED: npm is not installed; anvil and the address book come from npm");
        return;
    }
    // A node of another chain (anvil, 31337) is refused before anything is recorded: the book
    // says AaveV3Ethereum lives on chain 1.
    let anvil = Anvil::spawn(&AnvilOptions {
        chain_id: 31337,
        genesis_timestamp: 1_700_000_000,
        gas_limit: 30_000_000,
        base_fee: 1_000_000_000,
        accounts: 1,
    })
    .unwrap();
    let out_dir = std::env::temp_dir().join(format!("liqsim-book-{}", std::process::id()));
    let output = Command::new(env!("CARGO_BIN_EXE_liqsim"))
        .args([
            "record",
            "--market",
            "AaveV3Ethereum",
            "--blocks",
            "1:2",
            "-o",
        ])
        .arg(&out_dir)
        .env("ETH_RPC_URL", anvil.url())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(
        stderr.contains("expected 1,") && stderr.contains("reports 31337"),
        "the chain mismatch is not named: {stderr}"
    );
    assert!(
        !out_dir.exists(),
        "a dataset was written: {}",
        out_dir.display()
    );
}
