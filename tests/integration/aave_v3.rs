//! The real Aave V3 market in revm, and the shared math proven equal to it.

use std::collections::HashMap;

use alloy_primitives::{Address, I256, U256};
use alloy_sol_types::SolEvent;
use liqsim::evm::executor::Evm;
use liqsim::evm::keys::actor;
use liqsim::math::aave as aave_math;
use liqsim::protocol::aave_v3::differential;
use liqsim::protocol::aave_v3::{decode_events, AaveV3Market, PoolEvent};
use liqsim::protocol::artifacts::ArtifactStore;
use liqsim::protocol::price_feed::{creation_code, SettablePriceFeed};
use liqsim::Error;
use revm::database::EmptyDB;

use crate::common::{aave_v3_artifacts, default_market};

fn market_evm() -> (&'static AaveV3Market, Evm<EmptyDB>) {
    let prepared = default_market();
    let mut evm = Evm::from_cache_db(prepared.state.clone(), prepared.market.config.chain_id);
    evm.set_block(prepared.block.clone());
    (&prepared.market, evm)
}

#[test]
fn artifacts_link_the_pool_libraries() {
    let store = aave_v3_artifacts();
    let pool = store.artifact("protocol/pool/Pool").unwrap();
    let mut libs = pool.libraries();
    libs.sort();
    assert_eq!(
        libs,
        [
            "BorrowLogic",
            "BridgeLogic",
            "EModeLogic",
            "FlashLoanLogic",
            "LiquidationLogic",
            "PoolLogic",
            "SupplyLogic"
        ]
    );
    // Linking with a library missing is refused, naming it.
    let mut partial: HashMap<String, Address> = libs
        .iter()
        .map(|l| (l.clone(), Address::repeat_byte(1)))
        .collect();
    partial.remove("LiquidationLogic");
    match pool.linked_bytecode(&partial) {
        Err(Error::Link { message, .. }) => {
            assert!(message.contains("LiquidationLogic"), "{message}")
        }
        other => panic!("expected a link error, got {other:?}"),
    }
    // FlashLoanLogic itself links BorrowLogic.
    assert_eq!(
        store.artifact("FlashLoanLogic").unwrap().libraries(),
        ["BorrowLogic"]
    );
}

#[test]
fn a_folder_without_artifacts_is_a_clear_error() {
    let dir = std::env::temp_dir().join("liqsim-no-artifacts-here");
    let _ = std::fs::create_dir_all(&dir);
    match ArtifactStore::from_dir(&dir) {
        Err(Error::Artifacts(message)) => assert!(message.contains("artifacts/"), "{message}"),
        other => panic!("expected an artifacts error, got {other:?}"),
    }
}

#[test]
fn settable_feed_answers_moves_and_emits_like_chainlink() {
    let owner = actor("feed-owner");
    let mut evm = Evm::new(EmptyDB::default(), 31337);
    evm.set_balance(owner, U256::from(10u64).pow(U256::from(20u64)))
        .unwrap();
    let feed = evm
        .deploy(
            owner,
            creation_code(I256::try_from(123_456_789u64).unwrap()),
            "feed",
        )
        .unwrap();
    let answer = evm
        .view(
            feed,
            &SettablePriceFeed::latestAnswerCall {},
            "latestAnswer",
        )
        .unwrap();
    assert_eq!(answer, I256::try_from(123_456_789u64).unwrap());
    assert_eq!(
        evm.view(feed, &SettablePriceFeed::decimalsCall {}, "decimals")
            .unwrap(),
        8
    );
    assert_eq!(
        evm.view(feed, &SettablePriceFeed::ownerCall {}, "owner")
            .unwrap(),
        owner
    );

    let new = I256::try_from(99u64).unwrap();
    let outcome = evm
        .send_call(
            owner,
            feed,
            &SettablePriceFeed::setAnswerCall { answer: new },
            "setAnswer",
        )
        .unwrap();
    assert_eq!(outcome.logs.len(), 1);
    let event = SettablePriceFeed::AnswerUpdated::decode_log(&outcome.logs[0]).unwrap();
    assert_eq!(event.data.current, new);
    assert_eq!(event.data.roundId, U256::from(1u64));
    assert_eq!(
        evm.view(
            feed,
            &SettablePriceFeed::latestAnswerCall {},
            "latestAnswer"
        )
        .unwrap(),
        new
    );
    assert_eq!(
        evm.view(feed, &SettablePriceFeed::latestRoundCall {}, "latestRound")
            .unwrap(),
        U256::from(1u64)
    );

    // Only the owner may move the price.
    let stranger = actor("stranger");
    evm.set_balance(stranger, U256::from(10u64).pow(U256::from(20u64)))
        .unwrap();
    assert!(evm
        .send_call(
            stranger,
            feed,
            &SettablePriceFeed::setAnswerCall { answer: new },
            "setAnswer"
        )
        .is_err());
}

#[test]
fn deployed_market_carries_its_config() {
    let (market, mut evm) = market_evm();
    assert_eq!(market.reserves.len(), market.config.assets.len());
    for (i, asset) in market.config.assets.iter().enumerate() {
        let cfg = market.reserve_config(&mut evm, i).unwrap();
        assert_eq!(cfg.ltv, asset.ltv_bps, "{}", asset.symbol);
        assert_eq!(cfg.liquidation_threshold, asset.liquidation_threshold_bps);
        assert_eq!(cfg.liquidation_bonus, asset.liquidation_bonus_bps);
        assert_eq!(
            cfg.liquidation_protocol_fee,
            asset.liquidation_protocol_fee_bps
        );
        assert_eq!(cfg.decimals, asset.decimals);
        assert!(cfg.active && cfg.borrowing_enabled && !cfg.frozen && !cfg.paused);
        assert_eq!(
            market.price(&mut evm, i).unwrap(),
            market.config.price(i).unwrap()
        );
        // The bitmap decodes and re-encodes to what the Pool stores.
        let data = market.reserve_data(&mut evm, i).unwrap();
        assert_eq!(cfg.encode(), data.configuration.data);
    }
    assert!(market
        .config
        .assets
        .iter()
        .any(|a| a.liquidation_protocol_fee_bps > 0));
    // PoolConfigurator, the largest contract, fits under EIP-170.
    let code = evm.account(market.pool_configurator).unwrap();
    assert!(code.code_hash != revm::primitives::KECCAK_EMPTY);
}

#[test]
fn healthy_position_liquidation_reverts_with_code_45() {
    let (market, mut evm) = market_evm();
    let user = actor("healthy-user");
    let weth = market.asset("WETH").unwrap();
    let usdc = market.asset("USDC").unwrap();
    market
        .fund(
            &mut evm,
            weth,
            user,
            U256::from(10u64).pow(U256::from(19u64)),
        )
        .unwrap();
    market
        .supply(
            &mut evm,
            user,
            weth,
            U256::from(10u64).pow(U256::from(19u64)),
        )
        .unwrap();
    market
        .borrow(&mut evm, user, usdc, U256::from(1_000_000_000u64))
        .unwrap();
    let liquidator = actor("eager-liquidator");
    market
        .fund(&mut evm, usdc, liquidator, U256::from(1_000_000_000u64))
        .unwrap();
    let err = market
        .liquidation_call(&mut evm, liquidator, weth, usdc, user, U256::MAX, false)
        .unwrap_err();
    match err {
        Error::Reverted { reason, .. } => {
            assert_eq!(reason, "45 (HEALTH_FACTOR_NOT_BELOW_THRESHOLD)")
        }
        other => panic!("expected a revert, got {other:?}"),
    }
}

#[test]
fn price_crash_makes_the_position_liquidatable_and_events_decode() {
    let (market, mut evm) = market_evm();
    let user = actor("crash-user");
    let weth = market.asset("WETH").unwrap();
    let usdc = market.asset("USDC").unwrap();
    let one_eth = U256::from(10u64).pow(U256::from(18u64));
    market.fund(&mut evm, weth, user, one_eth).unwrap();
    market.supply(&mut evm, user, weth, one_eth).unwrap();
    // 3400 USD × 80% LTV → borrow 2700 USDC
    market
        .borrow(&mut evm, user, usdc, U256::from(2_700_000_000u64))
        .unwrap();
    let moved = market
        .set_price(
            &mut evm,
            weth,
            U256::from(3_200u64) * U256::from(100_000_000u64),
        )
        .unwrap();
    let events = decode_events(market.pool, &moved.logs);
    assert!(
        matches!(events.as_slice(), [PoolEvent::PriceUpdated { .. }]),
        "{events:?}"
    );

    let reserves = market.user_reserves(&mut evm, user).unwrap();
    let math = aave_math::user_account_data(&reserves).unwrap();
    let protocol = market.account_data(&mut evm, user).unwrap();
    assert_eq!(math, protocol);
    assert!(math.health_factor < aave_math::HEALTH_FACTOR_LIQUIDATION_THRESHOLD);

    let liquidator = actor("crash-liquidator");
    market
        .fund(&mut evm, usdc, liquidator, U256::from(10_000_000_000u64))
        .unwrap();
    let receipt = market
        .liquidation_call(&mut evm, liquidator, weth, usdc, user, U256::MAX, false)
        .unwrap();
    // 3200 × 82.5% / 2700 = 0.978: HF above 0.95 → at most half the debt is repaid.
    assert_eq!(receipt.event.debtToCover, U256::from(1_350_000_000u64));
    assert_eq!(receipt.event.user, user);
    assert!(receipt.gas_used > 100_000, "gas {}", receipt.gas_used);
    assert!(receipt
        .events
        .iter()
        .any(|e| matches!(e, PoolEvent::LiquidationCall(_))));
}

#[test]
fn differential_math_equals_the_protocol_on_1000_random_cases() {
    let report = differential::run(aave_v3_artifacts(), 20_261_121, 1_000, 6, None).unwrap();
    assert!(report.cases >= 1_000, "{report:?}");
    assert!(report.mismatches.is_empty(), "{:#?}", report.mismatches);
    // The generator must reach every branch it claims to cover.
    assert!(report.predicted_reverts > 0, "{report:?}");
    assert!(report.capped > 0, "{report:?}");
    assert!(
        report.full_close_factor > 0 && report.full_close_factor < report.cases,
        "{report:?}"
    );
    assert!(
        report.receive_a_token > 0 && report.receive_a_token < report.cases,
        "{report:?}"
    );
    assert!(report.with_protocol_fee > 0, "{report:?}");
}
