//! The real Aave V2 market in revm, and the shared math proven equal to it.

use std::sync::OnceLock;

use alloy_primitives::U256;
use liqsim::evm::executor::Evm;
use liqsim::evm::keys::actor;
use liqsim::protocol::aave_v2::config::MarketConfig;
use liqsim::protocol::aave_v2::differential::{
    self, amount_for_value, prepare_market, PreparedMarket,
};
use liqsim::protocol::aave_v2::predict_liquidation;
use liqsim::protocol::artifacts::ArtifactStore;
use liqsim::Error;
use revm::database::EmptyDB;

/// The published `@aave/protocol-v2` artifacts.
pub(crate) fn v2_artifacts() -> &'static ArtifactStore {
    crate::common::artifacts(liqsim::protocol::ProtocolKind::AaveV2)
}

pub(crate) fn default_market() -> &'static PreparedMarket {
    static MARKET: OnceLock<PreparedMarket> = OnceLock::new();
    MARKET.get_or_init(|| {
        prepare_market(v2_artifacts(), &MarketConfig::default_devnet())
            .unwrap_or_else(|e| panic!("deploying the default V2 market: {e}"))
    })
}

#[test]
fn v2_liquidation_end_to_end_with_decoded_refusal() {
    let p = default_market();
    let m = &p.market;
    let mut evm = Evm::<EmptyDB>::from_cache_db(p.state.clone(), p.config.chain_id);
    evm.set_block(p.block.clone());
    let user = actor("aave-v2-test-user");
    let liquidator = actor("aave-v2-test-liquidator");
    // 10 WETH collateral (LT 82.5%), borrow 15,000 USDC (7.5 ETH at 0.0005).
    let weth = amount_for_value(10_000, p.config.price(0).unwrap(), 18);
    m.fund(&mut evm, 0, user, weth).unwrap();
    m.deposit(&mut evm, user, 0, weth).unwrap();
    m.borrow(&mut evm, user, 2, U256::from(15_000_000_000u64))
        .unwrap();
    m.fund(&mut evm, 2, liquidator, U256::from(10_000_000_000u64))
        .unwrap();
    match m.liquidation_call(&mut evm, liquidator, 0, 2, user, U256::MAX, false) {
        Err(Error::Reverted { reason, .. }) => {
            assert!(reason.starts_with("42 "), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    // USDC +20%: debt 9 ETH > 8.25 ETH threshold.
    m.set_price(&mut evm, 2, U256::from(600_000_000_000_000u64))
        .unwrap();
    let state = m.read_user(&mut evm, user).unwrap();
    let available = m
        .balance(&mut evm, m.reserves[0].underlying, m.reserves[0].a_token)
        .unwrap();
    let ray = U256::from(10u64).pow(U256::from(27u64));
    let predicted =
        predict_liquidation(&state, 0, 2, U256::MAX, false, 10_500, available, ray, ray)
            .unwrap()
            .unwrap();
    let (event, _) = m
        .liquidation_call(&mut evm, liquidator, 0, 2, user, U256::MAX, false)
        .unwrap();
    // close factor 50% regardless of how low the health factor is
    assert_eq!(event.debtToCover, predicted.debt_repaid);
    assert_eq!(predicted.debt_repaid, predicted.max_liquidatable_debt);
    assert_eq!(
        event.liquidatedCollateralAmount,
        predicted.collateral_to_liquidator
    );
}

#[test]
fn differential_aave_v2_math_equals_the_protocol_on_1000_random_cases() {
    let report = differential::run(v2_artifacts(), 20_261_121, 1_000, 4, None).unwrap();
    eprintln!("{report:?}");
    assert!(report.cases >= 1_000);
    assert!(
        report.mismatches.is_empty(),
        "{} mismatches, first: {:?}",
        report.mismatches.len(),
        report.mismatches.iter().take(5).collect::<Vec<_>>()
    );
    assert!(report.liquidated > 100, "{report:?}");
    assert!(report.predicted_reverts > 50, "{report:?}");
    assert!(report.capped > 0, "{report:?}");
}
