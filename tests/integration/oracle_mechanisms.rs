//! Aave V2 and Compound-style devnet windows under each oracle mechanism of `[market] oracle`:
//! Aave V2 behind its own `AaveOracle` (`@aave/protocol-v2`), Venus' isolated pool behind Venus'
//! `ResilientOracle` over its `ChainlinkOracle` (`@venusprotocol/oracle`). Each window replays
//! with every receipt matched, after every transaction each reserve's price in the book equals the
//! protocol oracle's own view executed in the EVM (`AaveOracle.getAssetPrice`,
//! `ResilientOracle.getUnderlyingPrice`), the referee finds 0 mismatches, and the window really
//! holds its mechanism (its events, its sources); on the push windows a book that waits for
//! `AnswerUpdated` is caught by the referee.

use std::collections::BTreeSet;
use std::path::Path;

use alloy_primitives::{Address, B256, U256};
use alloy_sol_types::SolEvent;
use liqsim::data::records::Window;
use liqsim::evm::executor::Evm;
use liqsim::protocol::aave_v2::abi::{IAaveOracleV2, IPriceOracle};
use liqsim::protocol::aave_v2::AaveV2Market;
use liqsim::protocol::compound::abi::IMockPriceOracle;
use liqsim::protocol::compound::oracle::{IVenusChainlinkOracle, IVenusResilientOracle};
use liqsim::protocol::compound::CompoundMarket;
use liqsim::protocol::oracles::{
    IAaveOracleEvents, IExchangeRate, IPushOracle, ISettableAggregator, OracleMechanism,
};
use liqsim::protocol::{AnyMarket, ProtocolKind};
use liqsim::scenario::{apply_overrides, LoadedScenario};
use liqsim::source::devnet::build_window;
use revm::database::EmptyDB;

use crate::common::artifacts;
use crate::oracles::{at_start, event_only_mismatches, logs_with, refereed};

/// Price moves a window must hold at least under its mechanism.
const MIN_MOVES: usize = 10;

/// Seconds from the fixtures' first block to the end of their crash.
const CRASH_SECONDS: u64 = 2_880;

/// Blocks and borrowers of the Compound-style windows: the crash in 36-second blocks, 15
/// borrowers (the pool has eleven markets, and each price read goes through three contracts of
/// Venus' oracle stack).
const COMPOUND_WINDOW: (u64, u64) = (80, 15);

/// `fixture` with `oracle = mechanism`, shortened to the crash's end (2,880 s: 240 blocks of
/// 12 s, or `blocks` blocks as long as that) with `borrowers` borrowers of health factors 1.05
/// to 1.6.
fn scenario(
    fixture: &str,
    mechanism: OracleMechanism,
    blocks: u64,
    borrowers: u64,
) -> LoadedScenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(fixture);
    let text = std::fs::read_to_string(&path).unwrap();
    let sets = [
        format!("market.oracle=\"{}\"", mechanism.as_str()),
        format!("borrowers.count={borrowers}"),
        format!("window.blocks={blocks}"),
        format!("window.block_time_seconds={}", CRASH_SECONDS / blocks),
        "borrowers.health_factor_max=\"1.6\"".to_string(),
    ];
    let text = apply_overrides(&text, &path.display().to_string(), &sets).unwrap();
    LoadedScenario::from_text(&text, &path.display().to_string(), None).unwrap()
}

fn build(
    kind: ProtocolKind,
    fixture: &str,
    mechanism: OracleMechanism,
    (blocks, borrowers): (u64, u64),
) -> (Window, AnyMarket) {
    let loaded = scenario(fixture, mechanism, blocks, borrowers);
    let started = std::time::Instant::now();
    let built = build_window(&loaded, artifacts(kind), None).unwrap_or_else(|e| {
        panic!(
            "building the {} {} window: {e}",
            kind.as_str(),
            mechanism.as_str()
        )
    });
    eprintln!(
        "{} {}: built in {:.1} s",
        kind.as_str(),
        mechanism.as_str(),
        started.elapsed().as_secs_f64()
    );
    (built.window, built.market)
}

/// What a window must show of its mechanism, whatever the protocol.
struct Evidence {
    /// The contracts the keeper's price transactions call, per reserve.
    movers: Vec<Address>,
    /// Each reserve's source (feed) at the window's start (`address(0)`: none).
    sources: Vec<Address>,
    /// The event a source swap emits, and the contract that emits it.
    swap: (B256, Address),
    /// The event a fallback price move emits.
    fallback_moved: B256,
    /// The adapters' exchange-rate contracts.
    rate_sources: Vec<Address>,
}

/// Asserts `w` holds `mechanism` as `e` describes it.
fn holds(w: &Window, mechanism: OracleMechanism, e: &Evidence) {
    let movers: BTreeSet<Address> = e.movers.iter().copied().collect();
    let sources: BTreeSet<Address> = e.sources.iter().copied().filter(|a| !a.is_zero()).collect();
    let answer_updated = logs_with(w, ISettableAggregator::AnswerUpdated::SIGNATURE_HASH);
    let count = |topic: B256| logs_with(w, topic).len();
    match mechanism {
        OracleMechanism::Settable => unreachable!("the settable windows are tested elsewhere"),
        OracleMechanism::ChainlinkProxy => {
            assert!(
                answer_updated.len() >= MIN_MOVES,
                "{}",
                answer_updated.len()
            );
            assert!(answer_updated.iter().all(|l| movers.contains(&l.address)));
            assert!(
                movers.is_disjoint(&sources),
                "the keeper moves the aggregators"
            );
            assert!(
                w.logs.iter().all(|l| !sources.contains(&l.address)),
                "a proxy emitted a log"
            );
        }
        OracleMechanism::SourceSwap => {
            let swaps = logs_with(w, e.swap.0);
            assert!(swaps.len() >= MIN_MOVES, "{} source swaps", swaps.len());
            assert!(swaps.iter().all(|l| l.address == e.swap.1));
            assert!(answer_updated.is_empty(), "no source emits AnswerUpdated");
        }
        OracleMechanism::Fallback => {
            assert!(count(e.fallback_moved) >= MIN_MOVES);
            assert!(answer_updated.is_empty());
            assert_eq!(movers.len(), 1, "one fallback oracle moves every price");
            assert!(e.sources.iter().step_by(2).all(|s| s.is_zero()));
            assert!(e.sources.iter().skip(1).step_by(2).all(|s| !s.is_zero()));
        }
        OracleMechanism::Push => {
            let updates = logs_with(w, IPushOracle::PriceFeedUpdate::SIGNATURE_HASH);
            assert!(updates.len() >= MIN_MOVES);
            assert!(updates.iter().all(|l| movers.contains(&l.address)));
            assert!(
                answer_updated.is_empty(),
                "a push oracle emits no AnswerUpdated"
            );
        }
        OracleMechanism::Adapter => {
            let rates: BTreeSet<Address> = e.rate_sources.iter().copied().collect();
            assert_eq!(rates.len(), e.movers.len(), "one rate per reserve");
            let accruals = logs_with(w, IExchangeRate::RateUpdated::SIGNATURE_HASH);
            assert!(accruals.len() >= MIN_MOVES);
            assert!(accruals.iter().all(|l| rates.contains(&l.address)));
            // Some accruals land in a transaction that moves no base answer: only the rate's
            // storage tells the book.
            let answer_txs: BTreeSet<(u64, u32)> = answer_updated
                .iter()
                .map(|l| (l.block, l.tx_index))
                .collect();
            assert!(accruals
                .iter()
                .any(|l| !answer_txs.contains(&(l.block, l.tx_index))));
        }
    }
}

fn v2_window(mechanism: OracleMechanism) -> (Window, AaveV2Market) {
    let (w, market) = build(
        ProtocolKind::AaveV2,
        "tests/fixtures/small-hadouken-v2.toml",
        mechanism,
        (240, 30),
    );
    let AnyMarket::AaveV2(market) = market else {
        panic!("expected an Aave V2 market");
    };
    assert_eq!(market.oracle_mechanism, mechanism);
    (w, market)
}

fn v2_source(evm: &mut Evm<EmptyDB>, m: &AaveV2Market, i: usize) -> Address {
    evm.view(
        m.oracle,
        &IAaveOracleV2::getSourceOfAssetCall {
            asset: m.reserves[i].underlying,
        },
        "getSourceOfAsset",
    )
    .unwrap()
}

/// An Aave V2 window under `mechanism` behind `AaveOracle`: built, checked, refereed.
fn v2(mechanism: OracleMechanism) -> (Window, AaveV2Market, Evm<EmptyDB>) {
    let (w, m) = v2_window(mechanism);
    let mut start = at_start(&w);
    let mock = m.price_oracle_mock.expect("AaveOracle's fallback oracle");
    let fallback: Address = start
        .view(
            m.oracle,
            &IAaveOracleV2::getFallbackOracleCall {},
            "getFallbackOracle",
        )
        .unwrap();
    assert_eq!(fallback, mock);
    let weth: Address = start
        .view(m.oracle, &IAaveOracleV2::WETHCall {}, "WETH")
        .unwrap();
    assert_eq!(
        weth, m.reserves[0].underlying,
        "the native asset is AaveOracle's WETH"
    );
    let evidence = Evidence {
        movers: m.reserves.iter().filter_map(|r| r.price_mover).collect(),
        sources: (0..m.reserves.len())
            .map(|i| v2_source(&mut start, &m, i))
            .collect(),
        swap: (
            IAaveOracleEvents::AssetSourceUpdated::SIGNATURE_HASH,
            m.oracle,
        ),
        fallback_moved: IPriceOracle::AssetPriceUpdated::SIGNATURE_HASH,
        rate_sources: m.reserves.iter().filter_map(|r| r.rate_source).collect(),
    };
    assert_eq!(evidence.movers.len(), m.reserves.len());
    holds(&w, mechanism, &evidence);
    let end = refereed(&w, &format!("aave-v2 {}", mechanism.as_str()), &|evm, i| {
        m.price(evm, i)
    });
    (w, m, end)
}

#[test]
fn oracle_mechanism_v2_chainlink_proxy() {
    v2(OracleMechanism::ChainlinkProxy);
}

#[test]
fn oracle_mechanism_v2_source_swap() {
    let (w, m, mut end) = v2(OracleMechanism::SourceSwap);
    let mut start = at_start(&w);
    let wbtc = 1;
    assert_ne!(
        v2_source(&mut start, &m, wbtc),
        v2_source(&mut end, &m, wbtc),
        "WBTC's source was swapped"
    );
}

#[test]
fn oracle_mechanism_v2_fallback() {
    let (_, m, mut end) = v2(OracleMechanism::Fallback);
    let mock = m.price_oracle_mock.unwrap();
    for (i, r) in m.reserves.iter().enumerate().skip(1) {
        let theirs: U256 = end
            .view(
                mock,
                &IPriceOracle::getAssetPriceCall {
                    asset: r.underlying,
                },
                "getAssetPrice",
            )
            .unwrap();
        assert_eq!(m.price(&mut end, i).unwrap(), theirs, "{}", r.symbol);
    }
}

#[test]
fn oracle_mechanism_v2_push() {
    let (w, _, _) = v2(OracleMechanism::Push);
    let (mismatches, points) = event_only_mismatches(&w, "health factor");
    eprintln!("aave-v2 push, event-only book: {mismatches} mismatches over {points} points");
}

#[test]
fn oracle_mechanism_v2_adapter() {
    v2(OracleMechanism::Adapter);
}

fn compound_window(mechanism: OracleMechanism) -> (Window, CompoundMarket) {
    let (w, market) = build(
        ProtocolKind::Compound,
        "tests/fixtures/small-pippi.toml",
        mechanism,
        COMPOUND_WINDOW,
    );
    let AnyMarket::Compound(market) = market else {
        panic!("expected a Compound-style market");
    };
    assert_eq!(market.oracle_mechanism, mechanism);
    (w, market)
}

/// `ResilientOracle.getUnderlyingPrice` of market `i`: what the comptroller prices with.
fn underlying_price(evm: &mut Evm<EmptyDB>, m: &CompoundMarket, i: usize) -> liqsim::Result<U256> {
    evm.view(
        m.oracle,
        &IMockPriceOracle::getUnderlyingPriceCall {
            vToken: m.markets[i].vtoken,
        },
        "ResilientOracle.getUnderlyingPrice",
    )
}

/// A Compound-style window under `mechanism` behind Venus' oracles: built, checked, refereed.
fn compound(mechanism: OracleMechanism) -> (Window, CompoundMarket) {
    let (w, m) = compound_window(mechanism);
    let stack = m.venus_oracles.clone().expect("Venus' oracle stack");
    let mut start = at_start(&w);
    for mk in &m.markets {
        let main = start
            .view(
                m.oracle,
                &IVenusResilientOracle::getOracleCall {
                    asset: mk.underlying,
                    role: 0,
                },
                "getOracle",
            )
            .unwrap();
        assert_eq!(
            (main.oracle, main.enabled),
            (stack.chainlink, true),
            "{}",
            mk.symbol
        );
    }
    let sources: Vec<Address> = m
        .markets
        .iter()
        .map(|mk| {
            start
                .view(
                    stack.chainlink,
                    &IVenusChainlinkOracle::tokenConfigsCall {
                        asset: mk.underlying,
                    },
                    "tokenConfigs",
                )
                .unwrap()
                .feed
        })
        .collect();
    let evidence = Evidence {
        movers: stack.movers.clone(),
        sources,
        swap: (
            IVenusChainlinkOracle::TokenConfigAdded::SIGNATURE_HASH,
            stack.chainlink,
        ),
        fallback_moved: IVenusChainlinkOracle::PricePosted::SIGNATURE_HASH,
        rate_sources: stack.rate_sources.iter().flatten().copied().collect(),
    };
    holds(&w, mechanism, &evidence);
    refereed(
        &w,
        &format!("compound {}", mechanism.as_str()),
        &|evm, i| underlying_price(evm, &m, i),
    );
    (w, m)
}

#[test]
fn oracle_mechanism_compound_chainlink_proxy() {
    compound(OracleMechanism::ChainlinkProxy);
}

#[test]
fn oracle_mechanism_compound_source_swap() {
    compound(OracleMechanism::SourceSwap);
}

#[test]
fn oracle_mechanism_compound_fallback() {
    compound(OracleMechanism::Fallback);
}

#[test]
fn oracle_mechanism_compound_push() {
    let (w, _) = compound(OracleMechanism::Push);
    let (mismatches, points) = event_only_mismatches(&w, "liquidatable");
    eprintln!("compound push, event-only book: {mismatches} mismatches over {points} points");
}

#[test]
fn oracle_mechanism_compound_adapter() {
    compound(OracleMechanism::Adapter);
}

#[test]
fn oracle_mechanism_bad_values_are_named() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/small-hadouken-v2.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let load = |sets: &[&str]| {
        let sets: Vec<String> = sets.iter().map(|s| s.to_string()).collect();
        let text = apply_overrides(&text, "fixture", &sets).unwrap();
        LoadedScenario::from_text(&text, "fixture", None).map(|_| ())
    };
    let unknown = load(&["market.oracle=\"pyth\""]).unwrap_err().to_string();
    assert!(unknown.contains("pyth"), "{unknown}");
    assert!(unknown.contains("chainlink-proxy"), "{unknown}");
    let weth = load(&[
        "market.oracle=\"push\"",
        "market.assets[0].price_eth=\"1.5\"",
    ])
    .unwrap_err()
    .to_string();
    assert!(weth.contains("assets[0].price_eth"), "{weth}");
    assert!(weth.contains("AaveOracle"), "{weth}");
}
