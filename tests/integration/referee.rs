//! The protocol referee against the protocol's own views (`getUserAccountData` executed in the EVM):
//! it passes on a devnet window, it fails when the book is made stale, and the book follows an
//! oracle source swap, a price move that emits no `AnswerUpdated`.

use alloy_primitives::{keccak256, Address, Bytes, U256};
use alloy_sol_types::SolCall;
use liqsim::app::run::{check_window, open_window};
use liqsim::data::records::Window;
use liqsim::engine::opportunities::OpportunityTracker;
use liqsim::engine::referee::{CheckPoint, Referee};
use liqsim::engine::replay::{replay, ReplayHooks};
use liqsim::evm::executor::Evm;
use liqsim::evm::keys::{actor, actor_signer};
use liqsim::evm::replayed::ReplayedTx;
use liqsim::evm::tx::{sign_call, CallRequest};
use liqsim::protocol::aave_v3::abi::IAaveOracle;
use liqsim::protocol::price_feed::runtime_code;
use liqsim::protocol::window::WindowDetails;
use liqsim::protocol::PositionBook;
use revm::database::EmptyDB;
use revm::state::{AccountInfo, Bytecode};

use crate::strategies::window;

/// The first `blocks` blocks of `window`, with their transactions, receipts and logs.
fn head(window: &Window, blocks: usize) -> Window {
    let mut w = window.clone();
    w.blocks.truncate(blocks);
    let last = w.blocks.last().map(|b| b.number).unwrap_or(0);
    w.transactions.retain(|t| t.block <= last);
    w.receipts.retain(|r| r.block <= last);
    w.logs.retain(|l| l.block <= last);
    w.manifest.last_block = last;
    w
}

/// An EVM at the window's pre-state and a referee over its book.
fn start(w: &Window) -> (Evm<EmptyDB>, Referee, WindowDetails) {
    let (details, mut evm) = open_window(w).unwrap();
    let tracker =
        OpportunityTracker::new(&details.market, &mut evm, &details.users_at_start).unwrap();
    (evm, Referee::new(tracker), details)
}

#[test]
fn the_referee_passes_on_a_devnet_window() {
    let w = head(window(), 60);
    let report = check_window(&w, false).unwrap();
    assert!(
        report.comparisons > 5_000,
        "{} comparisons",
        report.comparisons
    );
    assert!(report.points >= 60);
    let shown: Vec<String> = report.mismatches.iter().map(|m| m.to_string()).collect();
    assert!(shown.is_empty(), "{}", shown.join("\n"));
}

#[test]
fn the_referee_fails_when_the_book_is_stale() {
    let w = head(window(), 20);
    let (mut evm, mut referee, details) = start(&w);
    replay(&mut evm, &w, true, &mut referee, None).unwrap();
    assert!(referee.mismatches.is_empty());
    // WETH's feed answer rewritten behind the book's back: $500 (8 decimals), so many positions
    // fall below 1 for the protocol, not for the book.
    let market = details.market.as_aave_v3().unwrap();
    let weth = market.reserves.iter().find(|r| r.symbol == "WETH").unwrap();
    let answer = U256::from(500u64) * U256::from(100_000_000u64);
    evm.db_mut()
        .insert_account_storage(weth.price_feed, U256::ZERO, answer)
        .unwrap();
    let at = w.blocks.last().unwrap().number;
    referee.check(&mut evm, at, CheckPoint::BlockEnd).unwrap();
    let m = &referee.mismatches;
    assert!(!m.is_empty(), "a stale book went unnoticed");
    assert!(m
        .iter()
        .all(|m| (m.block, m.point) == (at, CheckPoint::BlockEnd)));
    assert!(m.iter().any(|m| m.what == "health factor"));
    assert!(
        m.iter().any(|m| m.what == "ledger"),
        "the ledger missed the new opportunities"
    );
}

#[test]
fn the_book_follows_an_oracle_source_swap() {
    let w = head(window(), 40);
    let (mut evm, mut referee, details) = start(&w);
    replay(&mut evm, &w, true, &mut referee, None).unwrap();
    assert!(referee.mismatches.is_empty());
    let market = details.market.as_aave_v3().unwrap();
    let i = market
        .reserves
        .iter()
        .position(|r| r.symbol == "WETH")
        .unwrap();
    let before = referee.tracker.book.usd_price(i);

    // A new aggregator for WETH at 60% of the price, installed by the pool admin: the oracle's
    // `setAssetSources` emits `AssetSourceUpdated`, no feed emits `AnswerUpdated`.
    let admin = actor("aave-v3-admin");
    let crashed = before * U256::from(6u64) / U256::from(10u64);
    let feed = Address::repeat_byte(0xfe);
    let code = Bytes::from(runtime_code());
    evm.db_mut().insert_account_info(
        feed,
        AccountInfo {
            code_hash: keccak256(&code),
            code: Some(Bytecode::new_raw(code)),
            ..AccountInfo::default()
        },
    );
    evm.db_mut()
        .insert_account_storage(feed, U256::ZERO, crashed)
        .unwrap();
    evm.db_mut()
        .insert_account_storage(feed, U256::from(1u64), admin.into_word().into())
        .unwrap();
    let last = w.blocks.last().unwrap().clone();
    let nonce = evm.account(admin).unwrap().nonce;
    let tx = sign_call(
        &actor_signer("aave-v3-admin"),
        w.manifest.chain_id,
        nonce,
        &CallRequest {
            to: market.oracle,
            input: IAaveOracle::setAssetSourcesCall {
                assets: vec![market.reserves[i].underlying],
                sources: vec![feed],
            }
            .abi_encode()
            .into(),
            gas_limit: 300_000,
            max_fee_per_gas: u128::from(last.base_fee) * 2 + 1_000_000_000,
            max_priority_fee_per_gas: 1_000_000_000,
        },
    )
    .unwrap();
    let outcome = evm.execute(tx.tx_env(), true).unwrap();
    assert!(outcome.success, "setAssetSources failed: {outcome:?}");
    let replayed = ReplayedTx::new(99, &tx, &outcome);
    assert!(
        replayed.price_updates.is_empty(),
        "a source swap emits no AnswerUpdated: watching that event alone misses it"
    );
    ReplayHooks::<EmptyDB>::on_transaction(&mut referee, &mut evm, &last, &replayed).unwrap();
    assert!(
        ReplayHooks::<EmptyDB>::moves_prices(&referee, &replayed),
        "the swap wrote the oracle's source mapping, which the price read depends on"
    );
    ReplayHooks::<EmptyDB>::on_price_update(&mut referee, &mut evm, &last, &replayed).unwrap();
    assert_eq!(referee.tracker.book.usd_price(i), crashed);
    let shown: Vec<String> = referee.mismatches.iter().map(|m| m.to_string()).collect();
    assert!(shown.is_empty(), "{}", shown.join("\n"));
    assert!(
        referee.tracker.ledger.open().count() > 0,
        "a 40% crash opens opportunities at once"
    );
}
