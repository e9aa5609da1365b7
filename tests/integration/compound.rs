//! The Compound-style pool (Venus isolated pools) in revm, and the shared math proven equal to it.

use std::sync::OnceLock;

use alloy_primitives::U256;
use liqsim::evm::executor::Evm;
use liqsim::evm::keys::actor;
use liqsim::protocol::artifacts::ArtifactStore;
use liqsim::protocol::compound::config::MarketConfig;
use liqsim::protocol::compound::differential::{
    self, amount_for_value, prepare_market, PreparedMarket,
};
use liqsim::protocol::compound::revert_name;
use liqsim::Error;
use revm::database::EmptyDB;

/// The published `@venusprotocol/isolated-pools` artifacts, fetched with npm on first use.
pub(crate) fn venus_artifacts() -> &'static ArtifactStore {
    crate::common::artifacts(liqsim::protocol::ProtocolKind::Compound)
}

pub(crate) fn default_pool() -> &'static PreparedMarket {
    static POOL: OnceLock<PreparedMarket> = OnceLock::new();
    POOL.get_or_init(|| {
        prepare_market(venus_artifacts(), &MarketConfig::default_devnet())
            .unwrap_or_else(|e| panic!("deploying the default pool: {e}"))
    })
}

fn pool_evm() -> Evm<EmptyDB> {
    let p = default_pool();
    let mut evm = Evm::from_cache_db(p.state.clone(), p.config.chain_id);
    evm.set_block(p.block.clone());
    evm
}

#[test]
fn liquidate_borrow_end_to_end_with_decoded_refusals() {
    let p = default_pool();
    let m = &p.market;
    let mut evm = pool_evm();
    let borrower = actor("compound-test-borrower");
    let liquidator = actor("compound-test-liquidator");
    // $10,000 of ETH as collateral (CF 75%, LT 80%), borrow $7,000 of USDT.
    let eth = amount_for_value(1_000_000, p.config.price(0).unwrap());
    m.fund(&mut evm, 0, borrower, eth).unwrap();
    m.supply(&mut evm, borrower, 0, eth).unwrap();
    m.enter_markets(&mut evm, borrower, &[0]).unwrap();
    let usdt = U256::from(7_000_000_000u64);
    m.borrow(&mut evm, borrower, 2, usdt).unwrap();
    // Healthy: liquidation refused with the decoded custom error.
    m.fund(&mut evm, 2, liquidator, usdt).unwrap();
    match m.liquidate_borrow(
        &mut evm,
        liquidator,
        borrower,
        2,
        U256::from(1_000_000u64),
        0,
    ) {
        Err(Error::Reverted { reason, .. }) => {
            assert_eq!(revert_name(&reason), "InsufficientShortfall")
        }
        other => panic!("{other:?}"),
    }
    // ETH -20%: collateral $8,000 × 80% = $6,400 < $7,000.
    let price = p.config.price(0).unwrap() * U256::from(8u8) / U256::from(10u8);
    m.set_price(&mut evm, 0, price).unwrap();
    let (_, shortfall) = m.account_liquidity(&mut evm, borrower).unwrap();
    assert!(shortfall > U256::ZERO);
    // More than the 50% close factor: TooMuchRepay.
    match m.liquidate_borrow(&mut evm, liquidator, borrower, 2, usdt, 0) {
        Err(Error::Reverted { reason, .. }) => assert_eq!(revert_name(&reason), "TooMuchRepay"),
        other => panic!("{other:?}"),
    }
    let state = m.read_account(&mut evm, borrower).unwrap();
    let repay = U256::from(1_000_000_000u64);
    let predicted = state
        .predict_liquidate_borrow(2, 0, repay)
        .unwrap()
        .unwrap();
    let receipt = m
        .liquidate_borrow(&mut evm, liquidator, borrower, 2, repay, 0)
        .unwrap();
    assert_eq!(receipt.event.borrower, borrower);
    assert_eq!(receipt.event.repayAmount, repay);
    assert_eq!(receipt.event.seizeTokens, predicted.seize_tokens);
    assert_eq!(
        receipt.protocol_seize_amount,
        Some(predicted.protocol_underlying)
    );
    assert!(predicted.protocol_tokens > U256::ZERO); // ETH has a 5% protocol seize share
}

#[test]
fn small_accounts_must_use_liquidate_account() {
    // minLiquidatableCollateral is $100: a $50 account in shortfall is refused by liquidateBorrow.
    let p = default_pool();
    let m = &p.market;
    let mut evm = pool_evm();
    let borrower = actor("compound-test-small");
    let liquidator = actor("compound-test-liquidator");
    let eth = amount_for_value(5_000, p.config.price(0).unwrap());
    m.fund(&mut evm, 0, borrower, eth).unwrap();
    m.supply(&mut evm, borrower, 0, eth).unwrap();
    m.enter_markets(&mut evm, borrower, &[0]).unwrap();
    m.borrow(&mut evm, borrower, 2, U256::from(35_000_000u64))
        .unwrap();
    m.set_price(&mut evm, 0, p.config.price(0).unwrap() / U256::from(2u8))
        .unwrap();
    m.fund(&mut evm, 2, liquidator, U256::from(10_000_000u64))
        .unwrap();
    let state = m.read_account(&mut evm, borrower).unwrap();
    assert_eq!(
        state
            .predict_liquidate_borrow(2, 0, U256::from(1_000_000u64))
            .unwrap(),
        Err("MinimalCollateralViolated")
    );
    match m.liquidate_borrow(
        &mut evm,
        liquidator,
        borrower,
        2,
        U256::from(1_000_000u64),
        0,
    ) {
        Err(Error::Reverted { reason, .. }) => {
            assert_eq!(
                revert_name(&reason),
                "MinimalCollateralViolated",
                "{reason}"
            )
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn differential_compound_math_equals_the_protocol_on_1000_random_cases() {
    let report = differential::run(venus_artifacts(), 20_261_121, 1_000, 4, None).unwrap();
    eprintln!("{report:?}");
    assert!(report.cases >= 1_000);
    assert!(
        report.mismatches.is_empty(),
        "{} mismatches, first: {:?}",
        report.mismatches.len(),
        report.mismatches.iter().take(5).collect::<Vec<_>>()
    );
    assert!(report.liquidated > 100, "{report:?}");
    assert!(report.predicted_reverts > 100, "{report:?}");
    assert!(report.min_collateral_reverts > 0, "{report:?}");
    assert!(report.with_protocol_share > 0, "{report:?}");
}
