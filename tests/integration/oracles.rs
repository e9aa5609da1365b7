//! Devnet windows under each oracle mechanism of `[market] oracle` (a Chainlink proxy over an
//! aggregator, a source swap per move, the fallback oracle, a push oracle, an exchange-rate
//! adapter): each window replays with every receipt matched, after every transaction each
//! reserve's price in the book equals `AaveOracle.getAssetPrice` executed in the EVM, the referee
//! finds 0 mismatches, and the window really holds the mechanism (its events, its sources).

use std::collections::BTreeSet;
use std::path::Path;

use alloy_primitives::{Address, B256, I256, U256};
use alloy_sol_types::SolEvent;
use liqsim::app::run::open_window;
use liqsim::data::records::{BlockRecord, Window};
use liqsim::engine::opportunities::OpportunityTracker;
use liqsim::engine::referee::Referee;
use liqsim::engine::replay::{replay, ReplayHooks};
use liqsim::evm::executor::Evm;
use liqsim::evm::replayed::ReplayedTx;
use liqsim::protocol::aave_v3::abi::IAaveOracle;
use liqsim::protocol::aave_v3::AaveV3Market;
use liqsim::protocol::oracles::{
    IAaveOracleEvents, IAggregatorProxy, IExchangeRate, IPriceOracleMock, IPushOracle,
    IRateAdapter, ISettableAggregator, OracleMechanism, RATE_INITIAL,
};
use liqsim::protocol::{AnyMarket, LendingMarket, PositionBook};
use liqsim::scenario::{apply_overrides, LoadedScenario};
use liqsim::source::devnet::build_window;
use revm::database::EmptyDB;

use crate::common::aave_v3_artifacts;

/// Opportunities a mechanism's window must open at least, so the referee compared liquidatable
/// states and not only healthy ones.
pub(crate) const MIN_OPPORTUNITIES: usize = 5;

/// `small-crash` with `oracle = mechanism` and real token bytecode, shortened to the crash's end
/// (240 blocks) with 30 borrowers of health factors 1.05 to 1.6.
fn scenario(mechanism: OracleMechanism) -> LoadedScenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/small-crash.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let sets = [
        format!("market.oracle=\"{}\"", mechanism.as_str()),
        "name=\"small-oracles\"".to_string(),
        "borrowers.count=30".to_string(),
        "window.blocks=240".to_string(),
        "borrowers.health_factor_max=\"1.6\"".to_string(),
        "market.tokens=\"real\"".to_string(),
        "market.assets[1].decimals=18".to_string(),
        "market.assets[2].decimals=18".to_string(),
    ];
    let text = apply_overrides(&text, &path.display().to_string(), &sets).unwrap();
    LoadedScenario::from_text(&text, &path.display().to_string(), None).unwrap()
}

/// The built window and its market.
fn built(mechanism: OracleMechanism) -> (Window, AaveV3Market) {
    let loaded = scenario(mechanism);
    let started = std::time::Instant::now();
    let built = build_window(&loaded, aave_v3_artifacts(), None)
        .unwrap_or_else(|e| panic!("building the {} window: {e}", mechanism.as_str()));
    let AnyMarket::AaveV3(market) = &built.market else {
        panic!("expected an Aave V3 market");
    };
    assert_eq!(market.config.oracle, mechanism);
    eprintln!(
        "{}: built in {:.1} s",
        mechanism.as_str(),
        started.elapsed().as_secs_f64()
    );
    (built.window, market.clone())
}

/// The protocol oracle's own price of reserve `i`, executed in the EVM.
pub(crate) type Truth<'a> = &'a dyn Fn(&mut Evm<EmptyDB>, usize) -> liqsim::Result<U256>;

/// Referee hooks that also compare, after every transaction, each reserve's price in the book
/// with the protocol oracle's own view (`truth`) executed in the EVM.
struct PriceCheck<'a> {
    referee: Referee,
    truth: Truth<'a>,
    symbols: Vec<String>,
    compared: u64,
    wrong: Vec<String>,
}

impl PriceCheck<'_> {
    fn compare(&mut self, evm: &mut Evm<EmptyDB>, block: u64, tx: u32) {
        let book = self.referee.tracker.book.oracle_prices();
        for (i, ours) in book.iter().enumerate() {
            let truth = (self.truth)(evm, i).unwrap();
            self.compared += 1;
            if *ours != truth {
                self.wrong.push(format!(
                    "block {block} tx {tx}: {} book {ours}, oracle {truth}",
                    self.symbols[i]
                ));
            }
        }
    }
}

impl ReplayHooks<EmptyDB> for PriceCheck<'_> {
    fn on_block_start(
        &mut self,
        evm: &mut Evm<EmptyDB>,
        block: &BlockRecord,
    ) -> liqsim::Result<()> {
        self.referee.on_block_start(evm, block)
    }
    fn on_transaction(
        &mut self,
        evm: &mut Evm<EmptyDB>,
        block: &BlockRecord,
        tx: &ReplayedTx<'_>,
    ) -> liqsim::Result<()> {
        self.referee.on_transaction(evm, block, tx)?;
        if !ReplayHooks::<EmptyDB>::moves_prices(&self.referee, tx) {
            self.compare(evm, block.number, tx.index);
        }
        Ok(())
    }
    fn moves_prices(&self, tx: &ReplayedTx<'_>) -> bool {
        ReplayHooks::<EmptyDB>::moves_prices(&self.referee, tx)
    }
    fn on_price_update(
        &mut self,
        evm: &mut Evm<EmptyDB>,
        block: &BlockRecord,
        tx: &ReplayedTx<'_>,
    ) -> liqsim::Result<()> {
        self.referee.on_price_update(evm, block, tx)?;
        self.compare(evm, block.number, tx.index);
        Ok(())
    }
    fn on_block_end(&mut self, evm: &mut Evm<EmptyDB>, block: &BlockRecord) -> liqsim::Result<()> {
        self.referee.on_block_end(evm, block)
    }
}

/// The referee over a book told of price moves only by Chainlink `AnswerUpdated` events (the
/// replay's default `moves_prices`), not by the storage its price reads depend on.
struct EventOnly(Referee);

impl ReplayHooks<EmptyDB> for EventOnly {
    fn on_block_start(
        &mut self,
        evm: &mut Evm<EmptyDB>,
        block: &BlockRecord,
    ) -> liqsim::Result<()> {
        self.0.on_block_start(evm, block)
    }
    fn on_transaction(
        &mut self,
        evm: &mut Evm<EmptyDB>,
        block: &BlockRecord,
        tx: &ReplayedTx<'_>,
    ) -> liqsim::Result<()> {
        self.0.on_transaction(evm, block, tx)
    }
    fn on_price_update(
        &mut self,
        evm: &mut Evm<EmptyDB>,
        block: &BlockRecord,
        tx: &ReplayedTx<'_>,
    ) -> liqsim::Result<()> {
        self.0.on_price_update(evm, block, tx)
    }
    fn on_block_end(&mut self, evm: &mut Evm<EmptyDB>, block: &BlockRecord) -> liqsim::Result<()> {
        self.0.on_block_end(evm, block)
    }
}

/// Replays `w` strictly under the referee (what `liqsim check-window` runs) and the
/// per-transaction price check against `truth`; returns the EVM at the window's end. Asserts
/// every receipt matched, 0 mismatches, 0 wrong prices and enough opportunities.
pub(crate) fn refereed(w: &Window, label: &str, truth: Truth<'_>) -> Evm<EmptyDB> {
    let started = std::time::Instant::now();
    let (details, mut evm) = open_window(w).unwrap();
    let tracker =
        OpportunityTracker::new(&details.market, &mut evm, &details.users_at_start).unwrap();
    let symbols = details.market.symbols();
    let mut hooks = PriceCheck {
        referee: Referee::new(tracker),
        truth,
        symbols: symbols.clone(),
        compared: 0,
        wrong: Vec::new(),
    };
    let fidelity = replay(&mut evm, w, true, &mut hooks, None).unwrap();
    assert_eq!(
        fidelity.receipts_matched, fidelity.transactions,
        "{fidelity:?}"
    );
    let reserves = symbols.len() as u64;
    assert!(
        hooks.compared >= fidelity.transactions * reserves,
        "{} price comparisons for {} transactions",
        hooks.compared,
        fidelity.transactions
    );
    assert!(hooks.wrong.is_empty(), "{}", hooks.wrong.join("\n"));
    let shown: Vec<String> = hooks
        .referee
        .mismatches
        .iter()
        .map(|m| m.to_string())
        .collect();
    assert!(shown.is_empty(), "{}", shown.join("\n"));

    let opportunities = hooks.referee.tracker.ledger.all().len();
    assert!(
        opportunities >= MIN_OPPORTUNITIES,
        "{opportunities} opportunities: the referee compared too few liquidatable states"
    );
    assert!(
        hooks.referee.comparisons > 1_000,
        "{} comparisons",
        hooks.referee.comparisons
    );
    eprintln!(
        "{label}: refereed in {:.1} s: {} transactions, {} referee points, {} comparisons, {} price comparisons, {opportunities} opportunities, 0 mismatches",
        started.elapsed().as_secs_f64(),
        fidelity.transactions,
        hooks.referee.points,
        hooks.referee.comparisons,
        hooks.compared
    );
    evm
}

/// Logs of `w` whose first topic is `topic`.
pub(crate) fn logs_with(w: &Window, topic: B256) -> Vec<&liqsim::data::records::LogRecord> {
    w.logs
        .iter()
        .filter(|l| l.topics.first() == Some(&topic))
        .collect()
}

fn source_of(evm: &mut Evm<EmptyDB>, market: &AaveV3Market, i: usize) -> Address {
    evm.view(
        market.oracle,
        &IAaveOracle::getSourceOfAssetCall {
            asset: market.reserves[i].underlying,
        },
        "getSourceOfAsset",
    )
    .unwrap()
}

/// An EVM at the window's pre-state.
pub(crate) fn at_start(w: &Window) -> Evm<EmptyDB> {
    open_window(w).unwrap().1
}

#[test]
fn oracle_mechanism_chainlink_proxy_aggregator_emits_the_event() {
    let (w, market) = built(OracleMechanism::ChainlinkProxy);
    let mut evm = at_start(&w);
    let mut sources = BTreeSet::new();
    let mut aggregators = BTreeSet::new();
    for (i, r) in market.reserves.iter().enumerate() {
        let proxy = source_of(&mut evm, &market, i);
        let aggregator: Address = evm
            .view(proxy, &IAggregatorProxy::aggregatorCall {}, "aggregator")
            .unwrap();
        assert_eq!(
            aggregator, r.price_feed,
            "{}: the keeper moves the aggregator",
            r.symbol
        );
        assert_ne!(proxy, aggregator);
        sources.insert(proxy);
        aggregators.insert(aggregator);
    }
    let updates = logs_with(&w, ISettableAggregator::AnswerUpdated::SIGNATURE_HASH);
    assert!(updates.len() >= 20, "{} AnswerUpdated", updates.len());
    for log in &updates {
        assert!(
            aggregators.contains(&log.address),
            "AnswerUpdated from {}",
            log.address
        );
        assert!(
            !sources.contains(&log.address),
            "the proxy {} emitted",
            log.address
        );
    }
    assert!(
        w.logs.iter().all(|l| !sources.contains(&l.address)),
        "a proxy emitted a log"
    );
    let mut end = refereed(&w, market.config.oracle.as_str(), &|evm, i| {
        market.price(evm, i)
    });
    // The proxy forwards: the oracle's price is the aggregator's answer at the end too.
    for (i, r) in market.reserves.iter().enumerate() {
        let answer: I256 = end
            .view(
                r.price_feed,
                &ISettableAggregator::latestAnswerCall {},
                "latestAnswer",
            )
            .unwrap();
        assert_eq!(market.price(&mut end, i).unwrap(), answer.into_raw());
    }
}

#[test]
fn oracle_mechanism_source_swap_moves_prices_without_answer_updated() {
    let (w, market) = built(OracleMechanism::SourceSwap);
    let swaps = logs_with(&w, IAaveOracleEvents::AssetSourceUpdated::SIGNATURE_HASH);
    assert!(swaps.len() >= 20, "{} AssetSourceUpdated", swaps.len());
    assert!(swaps.iter().all(|l| l.address == market.oracle));
    assert!(
        logs_with(&w, ISettableAggregator::AnswerUpdated::SIGNATURE_HASH).is_empty(),
        "no source in use emits AnswerUpdated"
    );
    // A new source per move: every swap names a different contract.
    let installed: BTreeSet<B256> = swaps.iter().map(|l| l.topics[2]).collect();
    assert_eq!(installed.len(), swaps.len());
    let mut start = at_start(&w);
    let first: Vec<Address> = (0..market.reserves.len())
        .map(|i| source_of(&mut start, &market, i))
        .collect();
    let mut end = refereed(&w, market.config.oracle.as_str(), &|evm, i| {
        market.price(evm, i)
    });
    let weth = market.asset("WETH").unwrap();
    let last = source_of(&mut end, &market, weth);
    assert_ne!(last, first[weth], "WETH's source was swapped");
    assert!(installed.contains(&last.into_word()));
}

#[test]
fn oracle_mechanism_fallback_prices_come_from_the_fallback_oracle() {
    let (w, market) = built(OracleMechanism::Fallback);
    let fallback = market.reserves[0].price_feed;
    let updates = logs_with(&w, IPriceOracleMock::AssetPriceUpdated::SIGNATURE_HASH);
    assert!(updates.len() >= 20, "{} AssetPriceUpdated", updates.len());
    assert!(updates.iter().all(|l| l.address == fallback));
    assert!(logs_with(&w, ISettableAggregator::AnswerUpdated::SIGNATURE_HASH).is_empty());
    let mut start = at_start(&w);
    for (i, r) in market.reserves.iter().enumerate() {
        let source = source_of(&mut start, &market, i);
        if i % 2 == 0 {
            assert_eq!(source, Address::ZERO, "{} has no source", r.symbol);
        } else {
            assert_ne!(
                source,
                Address::ZERO,
                "{} has a source answering 0",
                r.symbol
            );
        }
    }
    let mut end = refereed(&w, market.config.oracle.as_str(), &|evm, i| {
        market.price(evm, i)
    });
    for (i, r) in market.reserves.iter().enumerate() {
        let theirs: U256 = end
            .view(
                fallback,
                &IPriceOracleMock::getAssetPriceCall {
                    asset: r.underlying,
                },
                "getAssetPrice",
            )
            .unwrap();
        assert_eq!(market.price(&mut end, i).unwrap(), theirs, "{}", r.symbol);
        assert!(!theirs.is_zero());
    }
}

#[test]
fn oracle_mechanism_push_oracle_emits_no_chainlink_event() {
    let (w, market) = built(OracleMechanism::Push);
    let push = market.reserves[0].price_feed;
    let updates = logs_with(&w, IPushOracle::PriceFeedUpdate::SIGNATURE_HASH);
    assert!(updates.len() >= 20, "{} PriceFeedUpdate", updates.len());
    assert!(updates.iter().all(|l| l.address == push));
    assert!(
        logs_with(&w, ISettableAggregator::AnswerUpdated::SIGNATURE_HASH).is_empty(),
        "a push oracle emits no AnswerUpdated: the book must follow the storage it reads"
    );
    let mut start = at_start(&w);
    for i in 0..market.reserves.len() {
        assert_ne!(
            source_of(&mut start, &market, i),
            push,
            "the source is an adapter"
        );
    }
    refereed(&w, market.config.oracle.as_str(), &|evm, i| {
        market.price(evm, i)
    });
    // `liqsim inspect` counts the push oracle's updates too (one transaction each), not 0.
    let update_txs: std::collections::BTreeSet<(u64, u32)> =
        updates.iter().map(|l| (l.block, l.tx_index)).collect();
    let inspected = liqsim::app::run::inspect_window(&w).unwrap();
    assert_eq!(inspected.price_updates, update_txs.len() as u64);

    // The check can fail: a book that waits for AnswerUpdated never sees these moves, and the
    // referee says so.
    let (mismatches, points) = event_only_mismatches(&w, "health factor");
    eprintln!("push, event-only book: {mismatches} mismatches over {points} points");
}

/// Replays `w` under the referee over a book told of price moves only by `AnswerUpdated`
/// events; asserts the referee caught it (some mismatch on `what`: the health factor, or
/// Compound's shortfall) and returns (mismatches, points).
pub(crate) fn event_only_mismatches(w: &Window, what: &str) -> (usize, u64) {
    let (details, mut evm) = open_window(w).unwrap();
    let tracker =
        OpportunityTracker::new(&details.market, &mut evm, &details.users_at_start).unwrap();
    let mut blind = EventOnly(Referee::new(tracker));
    replay(&mut evm, w, true, &mut blind, None).unwrap();
    assert!(
        blind.0.mismatches.iter().any(|m| m.what == what),
        "an event-only book went unnoticed: {:?}",
        blind
            .0
            .mismatches
            .iter()
            .map(|m| m.what)
            .collect::<BTreeSet<_>>()
    );
    (blind.0.mismatches.len(), blind.0.points)
}

#[test]
fn oracle_mechanism_adapter_follows_its_exchange_rate() {
    let (w, market) = built(OracleMechanism::Adapter);
    let accruals = logs_with(&w, IExchangeRate::RateUpdated::SIGNATURE_HASH);
    let rates: BTreeSet<Address> = market
        .reserves
        .iter()
        .filter_map(|r| r.rate_source)
        .collect();
    assert_eq!(rates.len(), market.reserves.len());
    assert!(accruals.len() >= 20, "{} RateUpdated", accruals.len());
    assert!(accruals.iter().all(|l| rates.contains(&l.address)));
    // Some accruals land in a transaction that moves no base answer: only the rate's storage
    // tells the book.
    let answer_txs: BTreeSet<(u64, u32)> =
        logs_with(&w, ISettableAggregator::AnswerUpdated::SIGNATURE_HASH)
            .iter()
            .map(|l| (l.block, l.tx_index))
            .collect();
    assert!(accruals
        .iter()
        .any(|l| !answer_txs.contains(&(l.block, l.tx_index))));
    let mut end = refereed(&w, market.config.oracle.as_str(), &|evm, i| {
        market.price(evm, i)
    });
    for (i, r) in market.reserves.iter().enumerate() {
        let adapter = source_of(&mut end, &market, i);
        let base: Address = end
            .view(adapter, &IRateAdapter::baseCall {}, "base")
            .unwrap();
        assert_eq!(base, r.price_feed);
        let answer: I256 = end
            .view(
                base,
                &ISettableAggregator::latestAnswerCall {},
                "latestAnswer",
            )
            .unwrap();
        let rate: U256 = end
            .view(r.rate_source.unwrap(), &IExchangeRate::rateCall {}, "rate")
            .unwrap();
        assert!(
            rate > U256::from(RATE_INITIAL),
            "{}: the rate grew",
            r.symbol
        );
        let expected = answer.into_raw() * rate / U256::from(10u64).pow(U256::from(18u64));
        assert_eq!(market.price(&mut end, i).unwrap(), expected, "{}", r.symbol);
    }
}

#[test]
fn oracle_mechanism_contracts_compile_and_a_broken_source_is_a_clear_error() {
    let compiled = liqsim::protocol::oracles::oracle_contracts().unwrap();
    assert!(
        compiled.version.starts_with("0.8.24"),
        "{}",
        compiled.version
    );
    for name in [
        "SettableAggregator",
        "AggregatorProxy",
        "SourceSwapper",
        "StaticAggregator",
        "PushOracle",
        "PushFeedAdapter",
        "ExchangeRate",
        "RateAdapter",
    ] {
        let c = compiled.contract(name).unwrap();
        assert!(
            !c.bytecode.is_empty() && !c.deployed_bytecode.is_empty(),
            "{name}"
        );
    }
    let broken = "// SPDX-License-Identifier: MIT\npragma solidity ^0.8.0;\ncontract Broken { function f() external { undefinedName = 1; } }\n";
    match liqsim::protocol::solc::compile_sources(&[("Broken.sol", broken)]) {
        Err(liqsim::Error::Compile { message, .. }) => {
            assert!(message.contains("undefinedName"), "{message}");
            assert!(message.contains("Broken.sol"), "{message}");
        }
        other => panic!("expected a compile error, got {other:?}"),
    }
}
