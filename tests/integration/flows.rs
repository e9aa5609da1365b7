//! The liquidator contract's Compound-style path (`liquidateBorrow`, the seized vTokens
//! redeemed, the underlying sold through the real pool) and the backstop pool's flow (repaying
//! from the pool's own balance), checked against the protocol's and the pool's own figures; the
//! report's gas-per-flow and slippage charts on a small real-DEX run.

use alloy_primitives::{Address, U256};
use liqsim::app::run::run_strategies;
use liqsim::engine::whatif::{
    what_if_contract_bundle, what_if_liquidations, BundleOutcome, BundlePlan, WhatIfAt,
};
use liqsim::evm::executor::Evm;
use liqsim::evm::keys::actor;
use liqsim::protocol::aave_v3::LiquidationRequest;
use liqsim::protocol::compound::abi::IVToken;
use liqsim::protocol::compound::differential::amount_for_value;
use liqsim::protocol::dex::{DexKind, Route};
use liqsim::protocol::{AnyMarket, Position, PositionBook};
use liqsim::strategy::{expand, Funding, MissReason, StrategySpec};
use revm::database::EmptyDB;

use crate::dex::{config, dex_for_market};

/// A liquidatable borrower with everything a what-if of it needs.
pub(crate) struct Case {
    /// The state, the borrower in it.
    pub(crate) evm: Evm<EmptyDB>,
    /// The market.
    pub(crate) market: AnyMarket,
    /// The borrower's position, from the book.
    pub(crate) position: Box<dyn Position>,
    /// The borrower.
    pub(crate) user: Address,
    /// USD prices (8 decimals) of the collateral and the debt asset.
    pub(crate) prices: (U256, U256),
}

/// A borrower of the default Compound-style pool in shortfall: $10,000 of ETH (LT 80%), $7,000
/// of USDT borrowed, ETH down 20%.
pub(crate) fn compound_liquidatable(name: &str) -> Case {
    let p = crate::compound::default_pool();
    let m = &p.market;
    let mut evm = Evm::from_cache_db(p.state.clone(), p.config.chain_id);
    evm.set_block(p.block.clone());
    let borrower = actor(name);
    let eth = amount_for_value(1_000_000, p.config.price(0).unwrap());
    m.fund(&mut evm, 0, borrower, eth).unwrap();
    m.supply(&mut evm, borrower, 0, eth).unwrap();
    m.enter_markets(&mut evm, borrower, &[0]).unwrap();
    m.borrow(&mut evm, borrower, 2, U256::from(7_000_000_000u64))
        .unwrap();
    let price = p.config.price(0).unwrap() * U256::from(8u8) / U256::from(10u8);
    m.set_price(&mut evm, 0, price).unwrap();
    let book =
        liqsim::protocol::compound::market::CompoundBook::new(m, &mut evm, &[borrower]).unwrap();
    let position = book.position(&borrower).unwrap().unwrap();
    let prices = (book.usd_price(0), book.usd_price(2));
    Case {
        evm,
        market: AnyMarket::Compound(m.clone()),
        position,
        user: borrower,
        prices,
    }
}

/// ETH collateral (market 0), USDT debt (market 2), as much as the close factor allows.
pub(crate) const COMPOUND_REQUEST: LiquidationRequest = LiquidationRequest {
    collateral: 0,
    debt: 2,
    debt_to_cover: U256::MAX,
    receive_shares: false,
};

fn at<'a>(evm: &'a Evm<EmptyDB>, market: &'a AnyMarket) -> WhatIfAt<'a, EmptyDB> {
    WhatIfAt {
        state: evm.db(),
        block: evm.block(),
        chain_id: evm.chain_id(),
        market,
    }
}

/// The vTokens a plain `liquidateBorrow` of `repay` from an account pays it: its `balanceOf`
/// after the call, on a copy of the state.
fn vtokens_a_plain_liquidation_pays(
    evm: &Evm<EmptyDB>,
    user: Address,
    repay: U256,
) -> (U256, U256) {
    let p = crate::compound::default_pool();
    let m = &p.market;
    let mut copy = Evm::from_cache_db(evm.db().clone(), evm.chain_id());
    copy.set_block(evm.block().clone());
    let account = actor("flows-plain-liquidator");
    m.fund(&mut copy, 2, account, repay).unwrap();
    let receipt = m
        .liquidate_borrow(&mut copy, account, user, 2, repay, 0)
        .unwrap();
    let shares = copy
        .view(
            m.market(0).unwrap().vtoken,
            &IVToken::balanceOfCall { owner: account },
            "VToken.balanceOf",
        )
        .unwrap();
    (shares, receipt.event.seizeTokens)
}

fn plan(dex: &liqsim::protocol::dex::RealDex, prices: (U256, U256)) -> BundlePlan<'_> {
    BundlePlan {
        dex,
        flash_loan: false,
        sell: true,
        usd_sell: prices.0,
        usd_buy: prices.1,
        max_slippage_bps: 100,
        min_out: None,
        funds: None,
    }
}

/// One wei more than the sale paid: the whole transaction reverts with the router's reason and
/// repays nothing.
fn one_wei_too_tight(
    at: &WhatIfAt<'_, EmptyDB>,
    b: &BundleOutcome,
    user: Address,
    position: &dyn Position,
    request: &LiquidationRequest,
    mut plan: BundlePlan<'_>,
) {
    plan.min_out = Some(b.amount_out + U256::from(1u64));
    let tight =
        what_if_contract_bundle(at, actor("flows-bot"), user, position, request, 0, &plan).unwrap();
    assert!(!tight.success, "{tight:?}");
    let reason = tight.revert_reason.unwrap_or_default();
    assert!(
        reason.contains("INSUFFICIENT_OUTPUT_AMOUNT") || reason.contains("Too little received"),
        "{reason}"
    );
    assert_eq!(tight.debt_repaid, U256::ZERO);
    assert_eq!(tight.amount_out, U256::ZERO);
}

#[test]
fn compound_bundles_redeem_the_vtokens_liquidate_borrow_paid_and_sell_at_the_pools_quote() {
    let Case {
        evm,
        market,
        position,
        user,
        prices,
    } = compound_liquidatable("flows-compound");
    let at = at(&evm, &market);
    let request = COMPOUND_REQUEST;
    let plain = what_if_liquidations(&at, actor("flows-eoa"), user, &*position, &[request], 0)
        .unwrap()
        .remove(0);
    assert!(plain.success, "{plain:?}");
    let (shares, seize_tokens) = vtokens_a_plain_liquidation_pays(&evm, user, plain.debt_repaid);
    // ETH has a 5% protocol seize share: the liquidator gets less than the event's seizeTokens.
    assert!(
        !shares.is_zero() && shares < seize_tokens,
        "{shares} {seize_tokens}"
    );
    for (kind, tier) in [(DexKind::UniswapV2, None), (DexKind::UniswapV3, Some(3000))] {
        let dex = dex_for_market(&market, kind, tier);
        let p = plan(&dex, prices);
        let b = what_if_contract_bundle(&at, actor("flows-bot"), user, &*position, &request, 0, &p)
            .unwrap();
        assert!(b.success, "{kind:?}: {b:?}");
        // The same liquidation as the plain call: the vTokens it paid, all redeemed, for the
        // underlying the protocol's event values them at.
        assert_eq!(b.debt_repaid, plain.debt_repaid);
        assert_eq!(b.shares_redeemed, shares, "{kind:?}");
        assert_eq!(b.collateral_received, plain.collateral_received, "{kind:?}");
        assert_eq!(
            b.event.map(|e| e.collateral_received),
            Some(plain.collateral_received)
        );
        // The sale pays the pool's own quote (getAmountsOut / QuoterV2) for what the redeem paid,
        // on the state it met, to the wei.
        assert_eq!(Some(b.amount_out), b.quote, "{kind:?}");
        assert!(b.amount_out >= b.min_out && !b.min_out.is_zero());
        assert_eq!(b.route, Some(dex.route()));
        // liquidateBorrow, redeem, approve and swap in one transaction: more gas than the plain
        // liquidateBorrow's receipt; the liquidation's part measured inside is a share of it.
        assert!(
            b.gas_used > plain.gas_used,
            "{} vs {}",
            b.gas_used,
            plain.gas_used
        );
        assert!(
            b.liquidation_gas > 0 && b.liquidation_gas < b.gas_used,
            "{b:?}"
        );
        one_wei_too_tight(&at, &b, user, &*position, &request, p);
    }
    // Compound-style markets have no flash loans: a flash-loan plan is refused by name.
    let dex = dex_for_market(&market, DexKind::UniswapV2, None);
    let flash = BundlePlan {
        flash_loan: true,
        ..plan(&dex, prices)
    };
    let err = what_if_contract_bundle(
        &at,
        actor("flows-bot"),
        user,
        &*position,
        &request,
        0,
        &flash,
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("flash") && err.contains("compound"), "{err}");
}

/// The backstop pool's flow on `market`: the contract holds the pool's balance (`funds`, less
/// than the position offers), the liquidation repays exactly that, the seized collateral is sold
/// at the pool's quote; one wei less in the pool than the repay asked for, or a minimum output
/// one wei too high, reverts the whole transaction.
fn backstop_flow(
    evm: &Evm<EmptyDB>,
    market: &AnyMarket,
    position: &dyn Position,
    user: Address,
    (c, d): (usize, usize),
    prices: (U256, U256),
) {
    let at = at(evm, market);
    let full = position.liquidation(c, d, U256::MAX).unwrap().debt_repaid;
    let balance = full / U256::from(3u8);
    let request = LiquidationRequest {
        collateral: c,
        debt: d,
        debt_to_cover: balance,
        receive_shares: false,
    };
    let plain = what_if_liquidations(&at, actor("flows-eoa"), user, position, &[request], 0)
        .unwrap()
        .remove(0);
    assert!(plain.success, "{plain:?}");
    assert_eq!(plain.debt_repaid, balance);
    for (kind, tier) in [(DexKind::UniswapV2, None), (DexKind::UniswapV3, Some(500))] {
        let dex = dex_for_market(market, kind, tier);
        let p = BundlePlan {
            funds: Some(balance),
            ..plan(&dex, prices)
        };
        let b = what_if_contract_bundle(&at, actor("flows-pool"), user, position, &request, 0, &p)
            .unwrap();
        assert!(b.success, "{kind:?}: {b:?}");
        assert_eq!(b.debt_repaid, balance);
        assert_eq!(b.collateral_received, plain.collateral_received);
        assert_eq!(Some(b.amount_out), b.quote, "{kind:?}");
        assert!(
            b.gas_used > plain.gas_used,
            "{} vs {}",
            b.gas_used,
            plain.gas_used
        );
        assert!(b.liquidation_gas > 0 && b.liquidation_gas < b.gas_used);
        assert!(b.premium.is_zero() && b.flash_amount.is_zero());
        one_wei_too_tight(&at, &b, user, position, &request, p);
        // The pool repays from what it holds: one wei short, and the liquidation cannot pull it.
        let short = BundlePlan {
            funds: Some(balance - U256::from(1u64)),
            ..p
        };
        let s = what_if_contract_bundle(
            &at,
            actor("flows-pool"),
            user,
            position,
            &request,
            0,
            &short,
        )
        .unwrap();
        assert!(!s.success, "{s:?}");
        assert!(s.revert_reason.is_some_and(|r| !r.is_empty()));
    }
}

#[test]
fn backstop_pools_repay_from_their_own_balance_and_sell_at_the_pools_quote() {
    // Aave V2 (the Hadouken-style market the backstop pools run on).
    {
        use liqsim::protocol::aave_v2::differential::amount_for_value;
        let p = crate::aave_v2::default_market();
        let m = &p.market;
        let mut evm = Evm::<EmptyDB>::from_cache_db(p.state.clone(), p.config.chain_id);
        evm.set_block(p.block.clone());
        let user = actor("flows-backstop-v2");
        let weth = amount_for_value(10_000, p.config.price(0).unwrap(), 18);
        m.fund(&mut evm, 0, user, weth).unwrap();
        m.deposit(&mut evm, user, 0, weth).unwrap();
        m.borrow(&mut evm, user, 2, U256::from(15_000_000_000u64))
            .unwrap();
        m.set_price(&mut evm, 2, U256::from(600_000_000_000_000u64))
            .unwrap();
        let book =
            liqsim::protocol::aave_v2::market::AaveV2Book::new(m, &mut evm, &[user]).unwrap();
        let position = book.position(&user).unwrap().unwrap();
        let prices = (book.usd_price(0), book.usd_price(2));
        let market = AnyMarket::AaveV2(m.clone());
        backstop_flow(&evm, &market, &*position, user, (0, 2), prices);
    }
    // Compound-style: the pool's stablecoins repay, the vTokens are redeemed, then sold.
    let Case {
        evm,
        market,
        position,
        user,
        prices,
    } = compound_liquidatable("flows-backstop-compound");
    backstop_flow(&evm, &market, &*position, user, (0, 2), prices);
}

/// A backstop pool's books balance: its capital at the end is its deposits plus every
/// liquidation's net profit (sale output − debt repaid − gas − funding, all from the EVM), to
/// the base unit; and it never repaid more than it held before the liquidation.
fn pool_accounting(
    run: &liqsim::analytics::result::StrategyRun,
    instance: usize,
    deposits_usd: u64,
) {
    use alloy_primitives::I256;
    let deposits = U256::from(deposits_usd) * U256::from(100_000_000u64);
    let rows: Vec<_> = run
        .capital
        .iter()
        .filter(|c| c.instance == instance)
        .collect();
    let end = rows.last().expect("capital rows").capital_base;
    let net: I256 = run.actions[instance]
        .iter()
        .map(|a| a.net_profit_base)
        .fold(I256::ZERO, |x, y| x + y);
    assert!(!run.actions[instance].is_empty());
    assert_eq!(
        I256::from_raw(end),
        I256::from_raw(deposits) + net,
        "instance {instance}"
    );
}

/// The backstop pool of `instances[1]` in `real` (a real-DEX run) against the same pool in
/// `formula`: every action through the contract funded by the pool (`backstop_pool`), sold
/// through `route`, the same liquidations costing more gas than the plain call; the table row
/// in `actions.parquet` says so.
fn backstop_run_checks(
    real: &liqsim::analytics::result::StrategyRun,
    formula: &liqsim::analytics::result::StrategyRun,
    route: Route,
    instances: &[liqsim::strategy::Instance],
    name: &str,
) {
    let mut paired = 0;
    for a in &real.actions[1] {
        assert_eq!(a.funding, Funding::BackstopPool);
        assert_eq!(a.route, Some(route), "{a:?}");
        assert!(
            !a.amount_out.is_zero() && a.flash_premium.is_zero(),
            "{a:?}"
        );
        assert!(
            a.gas_used > a.liquidation_gas && a.liquidation_gas > 0,
            "{a:?}"
        );
        if let Some(f) = formula.actions[1]
            .iter()
            .find(|f| f.opportunity_id == a.opportunity_id && f.debt_repaid == a.debt_repaid)
        {
            paired += 1;
            assert_eq!(f.collateral_received, a.collateral_received);
            assert!(a.gas_used > f.gas_used, "{} vs {}", a.gas_used, f.gas_used);
        }
    }
    assert!(paired > 0, "{name}: no liquidation in both runs");
    pool_accounting(real, 1, 1_000_000);
    let dir = crate::common::temp_dir("flows", name);
    liqsim::output::write_outputs(&dir, real, instances, name).unwrap();
    use polars::prelude::{ParquetReader, SerReader};
    let file = std::fs::File::open(dir.join("actions.parquet")).unwrap();
    let frame = ParquetReader::new(file).finish().unwrap();
    let text = |c: &str| -> Vec<Option<String>> {
        let col = frame.column(c).unwrap().as_materialized_series().clone();
        col.str()
            .unwrap()
            .iter()
            .map(|v| v.map(str::to_string))
            .collect()
    };
    let (strategy, funding, routes) = (text("strategy"), text("funding"), text("route"));
    let mut rows = 0;
    for k in 0..frame.height() {
        if strategy[k].as_deref() == Some("backstop-pool") {
            rows += 1;
            assert_eq!(funding[k].as_deref(), Some("backstop_pool"));
            assert_eq!(routes[k], Some(route.name()));
        }
    }
    assert_eq!(rows, real.actions[1].len());
}

#[test]
fn backstop_pools_on_aave_v2_sell_through_the_contract_in_a_replayed_run() {
    let instances = instances(
        "[[strategies]]\nkind = \"greedy\"\n\
         [[strategies]]\nkind = \"backstop-pool\"\nstablecoins = \"USDC,USDT\"\n",
    );
    let built = crate::protocols::built("small-hadouken-v2", crate::aave_v2::v2_artifacts());
    let formula = run_strategies(
        &built.window,
        &instances,
        &liqsim::scenario::DexConfig::default(),
        true,
        false,
    )
    .unwrap();
    let real = run_strategies(
        &built.window,
        &instances,
        &config(DexKind::UniswapV3, Some(3000)),
        true,
        false,
    )
    .unwrap();
    backstop_run_checks(
        &real,
        &formula,
        Route::UniswapV3 { fee: 3000 },
        &instances,
        "hadouken-uniswap",
    );
}

/// The small Compound-style window (`tests/fixtures/small-pippi.toml`).
fn pippi_window() -> &'static liqsim::data::records::Window {
    static WINDOW: std::sync::OnceLock<liqsim::source::devnet::BuiltWindow> =
        std::sync::OnceLock::new();
    &WINDOW
        .get_or_init(|| crate::protocols::built("small-pippi", crate::compound::venus_artifacts()))
        .window
}

fn instances(text: &str) -> Vec<liqsim::strategy::Instance> {
    #[derive(serde::Deserialize)]
    struct W {
        strategies: Vec<StrategySpec>,
    }
    expand(&toml::from_str::<W>(text).unwrap().strategies).unwrap()
}

#[test]
fn a_compound_run_sells_through_real_pools_and_the_report_charts_gas_and_slippage() {
    let instances = instances(
        "[[strategies]]\nkind = \"greedy\"\nlatency_blocks = 0\n\
         [[strategies]]\nkind = \"backstop-pool\"\nstablecoins = \"USDT,HUSD\"\n",
    );
    let window = pippi_window();
    let formula = run_strategies(
        window,
        &instances,
        &liqsim::scenario::DexConfig::default(),
        true,
        false,
    )
    .unwrap();
    let real = run_strategies(
        window,
        &instances,
        &config(DexKind::UniswapV2, None),
        true,
        false,
    )
    .unwrap();
    assert!(real.actions.iter().all(|a| !a.is_empty()), "both acted");
    assert!(real
        .misses
        .iter()
        .all(|m| !matches!(&m.reason, MissReason::Reverted(_))));
    for (i, actions) in real.actions.iter().enumerate() {
        let mut paired = 0;
        for a in actions {
            // One transaction through the contract: more than the liquidation's part.
            assert!(
                a.gas_used > a.liquidation_gas && a.liquidation_gas > 0,
                "{a:?}"
            );
            assert!(!a.collateral_received.is_zero(), "{a:?}");
            // The same liquidation in the formula run (plain liquidateBorrow from an account):
            // the same repay and underlying, less gas than the bundle.
            if let Some(f) = formula.actions[i]
                .iter()
                .find(|f| f.opportunity_id == a.opportunity_id && f.debt_repaid == a.debt_repaid)
            {
                paired += 1;
                assert_eq!(f.collateral_received, a.collateral_received, "{a:?}");
                assert!(a.gas_used > f.gas_used, "{} vs {}", a.gas_used, f.gas_used);
            }
            match i {
                0 => assert!(a.route.is_none() && a.amount_out.is_zero(), "{a:?}"),
                _ => {
                    assert_eq!(a.funding, Funding::BackstopPool);
                    assert_eq!(a.route, Some(Route::UniswapV2), "{a:?}");
                    assert!(!a.amount_out.is_zero() && a.price_impact_bps >= 30, "{a:?}");
                }
            }
        }
        assert!(paired > 0, "instance {i}: no liquidation in both runs");
    }
    backstop_run_checks(
        &real,
        &formula,
        Route::UniswapV2,
        &instances,
        "pippi-backstop",
    );
    // The report: the gas-per-flow and slippage charts written and listed.
    let dir = crate::common::temp_dir("flows", "pippi-uniswap");
    liqsim::output::write_outputs(&dir, &real, &instances, "pippi-uniswap").unwrap();
    let report = std::fs::read_to_string(dir.join("report.html")).unwrap();
    for chart in ["gas_per_flow", "slippage_by_asset"] {
        assert!(dir.join(format!("{chart}.svg")).is_file(), "{chart}.svg");
        assert!(dir.join(format!("{chart}.png")).is_file(), "{chart}.png");
        assert!(
            report.contains(&format!("data-chart=\"{chart}\"")),
            "{chart} not in the report"
        );
    }
    let svg = std::fs::read_to_string(dir.join("slippage_by_asset.svg")).unwrap();
    assert!(!svg.contains("no real sales"));
    let gas = std::fs::read_to_string(dir.join("gas_per_flow.svg")).unwrap();
    assert!(
        gas.contains("backstop") && gas.contains("compound"),
        "{gas:.400}"
    );
    // Byte-identical on a rerun.
    let again = crate::common::temp_dir("flows", "pippi-uniswap-again");
    liqsim::output::write_outputs(&again, &real, &instances, "pippi-uniswap").unwrap();
    for chart in ["gas_per_flow.svg", "slippage_by_asset.svg"] {
        assert_eq!(
            std::fs::read(dir.join(chart)).unwrap(),
            std::fs::read(again.join(chart)).unwrap(),
            "{chart}"
        );
    }
    // The formula run has no real sale: the slippage chart says so.
    let plain = crate::common::temp_dir("flows", "pippi-formula");
    liqsim::output::write_outputs(&plain, &formula, &instances, "pippi").unwrap();
    let svg = std::fs::read_to_string(plain.join("slippage_by_asset.svg")).unwrap();
    assert!(svg.contains("no real sales"));
}
