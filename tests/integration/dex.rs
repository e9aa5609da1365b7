//! Real AMMs in the what-if EVM: Uniswap V2 and V3 from their published bytecode sell exactly what
//! their own quoters say on the same state, refuse a too-tight minimum output, and carry a
//! strategy's sale in a replayed run.

use alloy_primitives::{Address, U256};
use alloy_sol_types::sol;
use liqsim::app::run::{real_dex, run_strategies};
use liqsim::engine::whatif::{
    what_if_bundle, what_if_contract_bundle, what_if_liquidations, BundlePlan, SaleRequest,
    WhatIfAt,
};
use liqsim::evm::executor::Evm;
use liqsim::evm::keys::actor;
use liqsim::math::aave as aave_math;
use liqsim::protocol::aave_v3::market::V3Position;
use liqsim::protocol::aave_v3::LiquidationRequest;
use liqsim::protocol::dex::{uniswap_v2, DexKind, RealDex, Route};
use liqsim::protocol::AnyMarket;
use liqsim::scenario::DexConfig;
use liqsim::strategy::{expand, StrategySpec};

use crate::common::{aave_v3_artifacts, default_market};

/// The small window (`tests/fixtures/small-crash.toml`) on a market with flash loans enabled.
fn flash_window() -> &'static liqsim::data::records::Window {
    static WINDOW: std::sync::OnceLock<liqsim::data::records::Window> = std::sync::OnceLock::new();
    WINDOW.get_or_init(|| {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures/small-crash.toml");
        let text = std::fs::read_to_string(&path).unwrap().replacen(
            "flash_loan_premium_bps = 9",
            "flash_loan_premium_bps = 9\nflash_loans_enabled = true",
            1,
        );
        let loaded = liqsim::scenario::LoadedScenario::from_text(&text, "flash", None).unwrap();
        liqsim::source::devnet::build_window(&loaded, aave_v3_artifacts(), None)
            .unwrap()
            .window
    })
}

pub(crate) fn usd(v: u64) -> U256 {
    U256::from(v) * U256::from(100_000_000u64)
}

pub(crate) fn config(kind: DexKind, fee_tier: Option<u32>) -> DexConfig {
    DexConfig {
        kind,
        fee_tier,
        ..DexConfig::default()
    }
}

fn dex_for(kind: DexKind, fee_tier: Option<u32>) -> RealDex {
    let any = AnyMarket::AaveV3(default_market().market.clone());
    let dex = real_dex(&config(kind, fee_tier), &any).unwrap().unwrap();
    (*dex).clone()
}

/// The default market's state with `dex` installed and a seller holding 100 WETH.
fn market_with(dex: &RealDex) -> (Evm<revm::database::EmptyDB>, usize, usize, Address) {
    let prepared = default_market();
    let market = &prepared.market;
    let mut evm = Evm::from_cache_db(prepared.state.clone(), market.config.chain_id);
    evm.set_block(prepared.block.clone());
    let (weth, usdc) = (market.asset("WETH").unwrap(), market.asset("USDC").unwrap());
    dex.install(&mut evm).unwrap();
    let seller = actor("dex-test-seller");
    let eth = U256::from(10u64).pow(U256::from(18u64));
    market
        .fund(&mut evm, weth, seller, U256::from(100u64) * eth)
        .unwrap();
    evm.set_balance(seller, eth * U256::from(10u64)).unwrap();
    (evm, weth, usdc, seller)
}

#[test]
fn uniswap_v2_sells_exactly_its_router_quote_and_the_published_formula() {
    let dex = dex_for(DexKind::UniswapV2, None);
    let (mut evm, weth, usdc, seller) = market_with(&dex);
    let pool = dex.seed(&mut evm, weth, usdc, usd(3_400), usd(1)).unwrap();
    let weth_token = default_market().market.reserves[weth].underlying;
    let (r_in, r_out) = uniswap_v2::reserves(&mut evm, pool, weth_token).unwrap();
    // 50,000,000 USD a side at 3,400 USD/ETH and 1 USD/USDC
    assert_eq!(r_out, U256::from(50_000_000u64) * U256::from(1_000_000u64));
    let eth = U256::from(10u64).pow(U256::from(18u64));
    let amount_in = U256::from(100u64) * eth;
    assert_eq!(r_in, U256::from(50_000_000u64) * eth / U256::from(3_400u64));
    let quote = dex.quote(&mut evm, weth, usdc, amount_in).unwrap();
    assert_eq!(quote, uniswap_v2::amount_out(amount_in, r_in, r_out));

    // Too tight by one wei: the router refuses, nothing is sold.
    let mut tight = evm.fork();
    let refused = dex
        .sell(
            &mut tight,
            seller,
            weth,
            usdc,
            amount_in,
            quote + U256::from(1u64),
            0,
        )
        .unwrap();
    assert!(!refused.success);
    assert!(
        refused
            .revert_reason
            .as_deref()
            .unwrap_or_default()
            .contains("INSUFFICIENT_OUTPUT_AMOUNT"),
        "{refused:?}"
    );
    assert_eq!(refused.amount_out, U256::ZERO);

    let sold = dex
        .sell(&mut evm, seller, weth, usdc, amount_in, quote, 0)
        .unwrap();
    assert!(sold.success, "{sold:?}");
    assert_eq!(
        sold.amount_out, quote,
        "the swap pays its own quote to the wei"
    );
    assert_eq!(sold.route, Route::UniswapV2);
    assert!(sold.gas_used > 50_000, "{sold:?}");

    // A deeper collateral (`depth_usd_by_symbol`): both sides hold its depth, at the oracle.
    let deep = DexConfig {
        depth_usd_by_symbol: [(
            "WETH".to_string(),
            liqsim::units::DecimalText("120000000".into()),
        )]
        .into(),
        ..config(DexKind::UniswapV2, None)
    };
    let any = AnyMarket::AaveV3(default_market().market.clone());
    let dex = (*real_dex(&deep, &any).unwrap().unwrap()).clone();
    let (mut evm, weth, usdc, _) = market_with(&dex);
    let pool = dex.seed(&mut evm, weth, usdc, usd(3_400), usd(1)).unwrap();
    let (r_in, r_out) = uniswap_v2::reserves(&mut evm, pool, weth_token).unwrap();
    assert_eq!(r_out, U256::from(120_000_000u64) * U256::from(1_000_000u64));
    assert_eq!(
        r_in,
        U256::from(120_000_000u64) * eth / U256::from(3_400u64)
    );
}

#[test]
fn uniswap_v3_sells_exactly_its_quoter_v2_quote() {
    for fee in [500u32, 3000] {
        let dex = dex_for(DexKind::UniswapV3, Some(fee));
        let (mut evm, weth, usdc, seller) = market_with(&dex);
        dex.seed(&mut evm, weth, usdc, usd(3_400), usd(1)).unwrap();
        let eth = U256::from(10u64).pow(U256::from(18u64));
        let amount_in = U256::from(100u64) * eth;
        let quote = dex.quote(&mut evm, weth, usdc, amount_in).unwrap();
        // Below the oracle value less the fee (price impact), above it less 1% more.
        let oracle = U256::from(340_000u64) * U256::from(1_000_000u64);
        let after_fee = oracle * U256::from(1_000_000 - fee) / U256::from(1_000_000u64);
        assert!(quote < after_fee, "fee {fee}: {quote} vs {after_fee}");
        assert!(
            quote > after_fee * U256::from(99u64) / U256::from(100u64),
            "{quote}"
        );

        let mut tight = evm.fork();
        let refused = dex
            .sell(
                &mut tight,
                seller,
                weth,
                usdc,
                amount_in,
                quote + U256::from(1u64),
                0,
            )
            .unwrap();
        assert!(!refused.success);
        assert!(
            refused
                .revert_reason
                .as_deref()
                .unwrap_or_default()
                .contains("Too little received"),
            "{refused:?}"
        );
        let sold = dex
            .sell(&mut evm, seller, weth, usdc, amount_in, quote, 0)
            .unwrap();
        assert!(sold.success, "{sold:?}");
        assert_eq!(
            sold.amount_out, quote,
            "fee {fee}: the swap pays QuoterV2's quote"
        );
        assert_eq!(sold.route, Route::UniswapV3 { fee });
    }
}

#[test]
fn a_fee_tier_that_does_not_exist_is_refused_by_name() {
    let err = config(DexKind::UniswapV3, Some(100))
        .route()
        .unwrap_err()
        .to_string();
    assert!(err.contains("dex.fee_tier") && err.contains("100"), "{err}");
    let err = config(DexKind::UniswapV2, Some(3000))
        .route()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("dex.fee_tier") && err.contains("uniswap-v2"),
        "{err}"
    );
    assert_eq!(config(DexKind::Formula, None).route().unwrap(), None);
}

/// A WETH-collateral, USDC-debt borrower of the default market made liquidatable (WETH at 3,200
/// USD: health factor 100 × 3,200 × 0.825 / 270,000 ≈ 0.98).
fn liquidatable(
    name: &str,
) -> (
    Evm<revm::database::EmptyDB>,
    V3Position,
    Address,
    usize,
    usize,
) {
    let prepared = default_market();
    let market = &prepared.market;
    let mut evm = Evm::from_cache_db(prepared.state.clone(), market.config.chain_id);
    evm.set_block(prepared.block.clone());
    let (weth, usdc) = (market.asset("WETH").unwrap(), market.asset("USDC").unwrap());
    let user = actor(name);
    let eth = U256::from(10u64).pow(U256::from(18u64));
    market
        .fund(&mut evm, weth, user, U256::from(100u64) * eth)
        .unwrap();
    market
        .supply(&mut evm, user, weth, U256::from(100u64) * eth)
        .unwrap();
    market
        .borrow(
            &mut evm,
            user,
            usdc,
            U256::from(270_000u64) * U256::from(1_000_000u64),
        )
        .unwrap();
    market.set_price(&mut evm, weth, usd(3_200)).unwrap();
    let reserves = market.user_reserves(&mut evm, user).unwrap();
    let configs: Vec<_> = (0..market.reserves.len())
        .map(|i| market.reserve_config(&mut evm, i).unwrap())
        .collect();
    let position = V3Position::new(reserves, std::sync::Arc::new(configs)).unwrap();
    (evm, position, user, weth, usdc)
}

#[test]
fn a_what_if_liquidation_sells_its_seized_collateral_through_the_real_pool() {
    let (evm, position, user, weth, usdc) = liquidatable("dex-sale-target");
    let any = AnyMarket::AaveV3(default_market().market.clone());
    let at = WhatIfAt {
        state: evm.db(),
        block: evm.block(),
        chain_id: evm.chain_id(),
        market: &any,
    };
    let request = LiquidationRequest {
        collateral: weth,
        debt: usdc,
        debt_to_cover: U256::MAX,
        receive_shares: false,
    };
    let dex = dex_for(DexKind::UniswapV2, None);
    let sale = SaleRequest {
        dex: &dex,
        usd_sell: usd(3_200),
        usd_buy: usd(1),
        min_out: U256::ZERO,
    };
    let liquidator = actor("dex-sale-liquidator");
    let bundle =
        what_if_bundle(&at, liquidator, user, &position, &[request], 0, Some(&sale)).unwrap();
    assert!(bundle.steps[0].success, "{:?}", bundle.steps[0]);
    let sold = bundle.sale.expect("a sale after the liquidation");
    assert!(sold.swap.success, "{sold:?}");
    assert_eq!(sold.swap.amount_in, bundle.steps[0].collateral_received);
    assert_eq!(sold.swap.amount_out, sold.quote);
    // Seeded at the oracle: the sale loses the 30 bps fee and a little price impact.
    let value = aave_math::collateral_value_base(sold.swap.amount_in, usd(3_200), 18).unwrap();
    let proceeds = aave_math::debt_value_base(sold.swap.amount_out, usd(1), 6).unwrap();
    assert!(proceeds < value * U256::from(9_970u64) / U256::from(10_000u64));
    assert!(proceeds > value * U256::from(9_900u64) / U256::from(10_000u64));
}

#[test]
fn backstop_pool_sells_through_uniswap_in_a_replayed_run() {
    #[derive(serde::Deserialize)]
    struct W {
        strategies: Vec<StrategySpec>,
    }
    let instances = expand(
        &toml::from_str::<W>("[[strategies]]\nkind = \"backstop-pool\"\n")
            .unwrap()
            .strategies,
    )
    .unwrap();
    let window = crate::strategies::window();
    let formula = run_strategies(window, &instances, &DexConfig::default(), true, false).unwrap();
    let real = run_strategies(
        window,
        &instances,
        &config(DexKind::UniswapV2, None),
        true,
        false,
    )
    .unwrap();
    let (f, r) = (&formula.actions[0], &real.actions[0]);
    assert!(!r.is_empty(), "the backstop pool acted");
    assert!(f
        .iter()
        .all(|a| a.route.is_none() && a.amount_out.is_zero()));
    for a in r {
        assert_eq!(a.route, Some(Route::UniswapV2), "{a:?}");
        assert!(!a.amount_out.is_zero(), "{a:?}");
        assert!(
            a.liquidation_gas > 0 && a.gas_used > a.liquidation_gas,
            "{a:?}"
        );
        assert!(
            a.flash_premium.is_zero() && a.price_impact_bps >= 30,
            "{a:?}"
        );
    }
    // The formula model's error against the real pools on the same reserves (both centred on
    // the oracle, both sides worth the depth, 30 bps): the same liquidations, sold through
    // Uniswap V2 and through a full-range Uniswap V3 position of the 0.3% tier.
    let v3 = run_strategies(
        window,
        &instances,
        &config(DexKind::UniswapV3, Some(3000)),
        true,
        false,
    )
    .unwrap();
    for (name, real) in [("uniswap-v2", r), ("uniswap-v3-3000", &v3.actions[0])] {
        let pairs: Vec<_> = f
            .iter()
            .filter_map(|a| {
                real.iter()
                    .find(|b| {
                        b.opportunity_id == a.opportunity_id
                            && b.collateral_received == a.collateral_received
                    })
                    .map(|b| (a, b))
            })
            .collect();
        assert!(!pairs.is_empty(), "{name}");
        let mut worst = 0f64;
        for (a, b) in &pairs {
            let (fs, rs) = (a.slippage_base, b.slippage_base);
            let diff = if fs > rs { fs - rs } else { rs - fs };
            assert!(
                diff * U256::from(1000u64) <= rs,
                "{name}: formula {fs} vs pool {rs}"
            );
            let lossy = |v: U256| liqsim::math::profit::to_f64_lossy(v, 0);
            worst = worst.max(lossy(diff) / lossy(rs));
        }
        println!(
            "formula vs {name}: {} sales, worst slippage error {:.4}% of the pool's",
            pairs.len(),
            worst * 100.0
        );
    }
}

sol! {
    /// The Aave V3 Pool's flash-loan premium, read from the pool itself.
    interface IPremium {
        function FLASHLOAN_PREMIUM_TOTAL() external view returns (uint128);
    }
}

#[test]
fn a_flash_loan_bundle_uses_more_gas_than_its_liquidation_pays_the_pools_premium_and_sells_at_the_quote(
) {
    let (mut evm, position, user, weth, usdc) = liquidatable("dex-flash-target");
    let market = &default_market().market;
    // Real Aave V3 markets list reserves with flash loans on; the devnet's are off by default.
    evm.send_call(
        market.admin,
        market.pool_configurator,
        &liqsim::protocol::aave_v3::abi::IPoolConfigurator::setReserveFlashLoaningCall {
            asset: market.reserves[usdc].underlying,
            enabled: true,
        },
        "setReserveFlashLoaning",
    )
    .unwrap();
    let premium_bps = evm
        .view(
            market.pool,
            &IPremium::FLASHLOAN_PREMIUM_TOTALCall {},
            "Pool.FLASHLOAN_PREMIUM_TOTAL",
        )
        .unwrap();
    assert!(premium_bps > 0);
    let any = AnyMarket::AaveV3(market.clone());
    let at = WhatIfAt {
        state: evm.db(),
        block: evm.block(),
        chain_id: evm.chain_id(),
        market: &any,
    };
    let request = LiquidationRequest {
        collateral: weth,
        debt: usdc,
        debt_to_cover: U256::MAX,
        receive_shares: false,
    };
    let plain = what_if_liquidations(&at, actor("dex-plain"), user, &position, &[request], 0)
        .unwrap()
        .remove(0);
    assert!(plain.success, "{plain:?}");
    for (kind, tier) in [(DexKind::UniswapV2, None), (DexKind::UniswapV3, Some(500))] {
        let dex = dex_for(kind, tier);
        let mut plan = BundlePlan {
            dex: &dex,
            flash_loan: true,
            sell: true,
            usd_sell: usd(3_200),
            usd_buy: usd(1),
            max_slippage_bps: 100,
            min_out: None,
            funds: None,
        };
        let bot = actor("dex-flash-bot");
        let b = what_if_contract_bundle(&at, bot, user, &position, &request, 0, &plan).unwrap();
        assert!(b.success, "{kind:?}: {b:?}");
        // The same liquidation as the plain call, inside a bigger transaction.
        assert_eq!(b.debt_repaid, plain.debt_repaid);
        assert_eq!(b.collateral_received, plain.collateral_received);
        assert!(
            b.gas_used > plain.gas_used,
            "{} vs {}",
            b.gas_used,
            plain.gas_used
        );
        assert!(
            b.liquidation_gas < b.gas_used && b.liquidation_gas > 0,
            "{b:?}"
        );
        // Aave's percentMul: half up.
        assert_eq!(b.flash_amount, plain.debt_repaid);
        let expected = (b.flash_amount * U256::from(premium_bps) + U256::from(5_000u64))
            / U256::from(10_000u64);
        assert_eq!(b.premium, expected, "the pool's premium to the wei");
        assert_eq!(
            Some(b.amount_out),
            b.quote,
            "the sale pays the DEX's own quote"
        );
        assert!(b.amount_out >= b.min_out && !b.min_out.is_zero());
        // One wei too demanding: the whole bundle reverts with the router's reason.
        plan.min_out = Some(b.amount_out + U256::from(1u64));
        let tight = what_if_contract_bundle(&at, bot, user, &position, &request, 0, &plan).unwrap();
        assert!(!tight.success);
        let reason = tight.revert_reason.unwrap_or_default();
        assert!(
            reason.contains("INSUFFICIENT_OUTPUT_AMOUNT") || reason.contains("Too little received"),
            "{reason}"
        );
        assert_eq!(tight.debt_repaid, U256::ZERO);
    }
}

#[test]
fn flash_loans_through_the_contract_pay_the_evms_premium_and_a_pool_too_thin_to_repay_reverts() {
    #[derive(serde::Deserialize)]
    struct W {
        strategies: Vec<StrategySpec>,
    }
    let instances = expand(
        &toml::from_str::<W>("[[strategies]]\nkind = \"flash-loan\"\n")
            .unwrap()
            .strategies,
    )
    .unwrap();
    let window = flash_window();
    let deep = run_strategies(
        window,
        &instances,
        &config(DexKind::UniswapV3, Some(500)),
        true,
        false,
    )
    .unwrap();
    let actions = &deep.actions[0];
    assert!(!actions.is_empty(), "the flash-loan strategy acted");
    for a in actions {
        assert_eq!(a.route, Some(Route::UniswapV3 { fee: 500 }), "{a:?}");
        assert!(
            !a.flash_premium.is_zero() && !a.funding_cost_base.is_zero(),
            "{a:?}"
        );
        // premium = debt repaid × 9 bps, half up (the scenario's FLASHLOAN_PREMIUM_TOTAL)
        let expected =
            (a.debt_repaid * U256::from(9u64) + U256::from(5_000u64)) / U256::from(10_000u64);
        assert_eq!(a.flash_premium, expected, "{a:?}");
        assert!(a.gas_used > a.liquidation_gas, "{a:?}");
    }
    let thin = DexConfig {
        depth_usd: liqsim::units::DecimalText("1000".into()),
        ..config(DexKind::UniswapV2, None)
    };
    let starved = run_strategies(window, &instances, &thin, true, false).unwrap();
    // Without flash loans enabled on the reserves (Aave V3 lists them off), the pool refuses.
    let disabled = run_strategies(
        crate::strategies::window(),
        &instances,
        &config(DexKind::UniswapV2, None),
        true,
        false,
    )
    .unwrap();
    assert!(disabled.actions[0].is_empty());
    assert!(disabled.misses.iter().any(|m| matches!(
        &m.reason,
        liqsim::strategy::MissReason::Reverted(r) if r.contains("FLASHLOAN_DISABLED")
    )));
    assert!(starved.actions[0].is_empty(), "{:?}", starved.actions[0]);
    let reverted: Vec<_> = starved
        .misses
        .iter()
        .filter(|m| m.reason.as_str() == "reverted")
        .collect();
    assert!(!reverted.is_empty());
    for m in reverted {
        let liqsim::strategy::MissReason::Reverted(reason) = &m.reason else {
            unreachable!()
        };
        assert!(reason.contains("cannot repay the flash loan"), "{reason}");
    }
}

/// One flow's gas, as the EVM measured it.
pub(crate) struct Flow {
    pub(crate) name: String,
    pub(crate) bundle: u64,
    pub(crate) liquidation: u64,
}

/// How a flow is funded: the contract's own funds, an Aave flash loan, a backstop pool's balance
/// (exactly the debt the liquidation repays, held by the contract).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Funds {
    Own,
    FlashLoan,
    Backstop,
}

/// Every flow through the liquidator contract on one liquidation: collateral kept, own funds,
/// a flash loan (when `flash`: the market lends), a backstop pool's balance, each selling
/// through Uniswap V2 and V3 (500, 3000); every sale pays the pool's own quote.
pub(crate) fn bundle_flows(
    at: &WhatIfAt<'_, revm::database::EmptyDB>,
    position: &dyn liqsim::protocol::Position,
    user: Address,
    request: &LiquidationRequest,
    prices: (U256, U256),
    protocol: &str,
    flash: bool,
) -> Vec<Flow> {
    let mut flows = Vec::new();
    let repaid = position
        .liquidation(request.collateral, request.debt, request.debt_to_cover)
        .unwrap()
        .debt_repaid;
    for (kind, tier) in [
        (DexKind::UniswapV2, None),
        (DexKind::UniswapV3, Some(500)),
        (DexKind::UniswapV3, Some(3000)),
    ] {
        let dex = dex_for_market(at.market, kind, tier);
        for (funds, sell) in [
            (Funds::Own, false),
            (Funds::Own, true),
            (Funds::FlashLoan, true),
            (Funds::Backstop, true),
        ] {
            if funds == Funds::Own && !sell && kind != DexKind::UniswapV2 {
                continue; // keeps the collateral: no DEX involved
            }
            if funds == Funds::FlashLoan && !flash {
                continue;
            }
            let flash_loan = funds == Funds::FlashLoan;
            let plan = BundlePlan {
                dex: &dex,
                flash_loan,
                sell,
                usd_sell: prices.0,
                usd_buy: prices.1,
                max_slippage_bps: 100,
                min_out: None,
                funds: (funds == Funds::Backstop).then_some(repaid),
            };
            let b = what_if_contract_bundle(
                at,
                actor("dex-flow-bot"),
                user,
                position,
                request,
                0,
                &plan,
            )
            .unwrap();
            assert!(b.success, "{protocol} {kind:?} {flash_loan} {sell}: {b:?}");
            if flash_loan {
                assert!(!b.premium.is_zero(), "{b:?}");
            }
            if sell {
                assert_eq!(Some(b.amount_out), b.quote, "{b:?}");
            }
            let funding = match funds {
                Funds::Own => "own funds",
                Funds::FlashLoan => "flash loan",
                Funds::Backstop => "backstop pool's balance",
            };
            let name = match sell {
                false if protocol == "compound" => {
                    format!("{protocol}: contract, {funding}, vTokens redeemed, collateral kept")
                }
                false => format!("{protocol}: contract, {funding}, collateral kept"),
                true => format!(
                    "{protocol}: contract, {funding}, sale through {}",
                    b.route.map(|r| r.name()).unwrap_or_default()
                ),
            };
            flows.push(Flow {
                name,
                bundle: b.gas_used,
                liquidation: b.liquidation_gas,
            });
        }
    }
    flows
}

pub(crate) fn dex_for_market(market: &AnyMarket, kind: DexKind, fee_tier: Option<u32>) -> RealDex {
    (*real_dex(&config(kind, fee_tier), market).unwrap().unwrap()).clone()
}

/// Gas per flow per protocol (README's table): `cargo test --test integration gas_per_flow --
/// --nocapture` prints it.
#[test]
fn gas_per_flow_on_aave_v3_v2_and_compound() {
    let mut table = Vec::new();
    // Aave V3: WETH collateral, USDC debt.
    {
        let (mut evm, position, user, weth, usdc) = liquidatable("dex-flow-v3");
        let market = &default_market().market;
        evm.send_call(
            market.admin,
            market.pool_configurator,
            &liqsim::protocol::aave_v3::abi::IPoolConfigurator::setReserveFlashLoaningCall {
                asset: market.reserves[usdc].underlying,
                enabled: true,
            },
            "setReserveFlashLoaning",
        )
        .unwrap();
        let any = AnyMarket::AaveV3(market.clone());
        let at = WhatIfAt {
            state: evm.db(),
            block: evm.block(),
            chain_id: evm.chain_id(),
            market: &any,
        };
        let request = LiquidationRequest {
            collateral: weth,
            debt: usdc,
            debt_to_cover: U256::MAX,
            receive_shares: false,
        };
        let plain =
            what_if_liquidations(&at, actor("dex-flow-eoa"), user, &position, &[request], 0)
                .unwrap()
                .remove(0);
        assert!(plain.success);
        table.push(Flow {
            name: "aave-v3: liquidationCall from an account".into(),
            bundle: plain.gas_used,
            liquidation: plain.gas_used,
        });
        let flows = bundle_flows(
            &at,
            &position,
            user,
            &request,
            (usd(3_200), usd(1)),
            "aave-v3",
            true,
        );
        assert!(flows.iter().all(|f| f.bundle > plain.gas_used));
        table.extend(flows);
    }
    // Aave V2: WETH collateral (reserve 0), USDC debt (reserve 2), prices in ETH.
    {
        use liqsim::protocol::aave_v2::differential::amount_for_value;
        use liqsim::protocol::PositionBook;
        let p = crate::aave_v2::default_market();
        let m = &p.market;
        let mut evm =
            Evm::<revm::database::EmptyDB>::from_cache_db(p.state.clone(), p.config.chain_id);
        evm.set_block(p.block.clone());
        let user = actor("dex-flow-v2");
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
        let any = AnyMarket::AaveV2(m.clone());
        let at = WhatIfAt {
            state: evm.db(),
            block: evm.block(),
            chain_id: evm.chain_id(),
            market: &any,
        };
        let request = LiquidationRequest {
            collateral: 0,
            debt: 2,
            debt_to_cover: U256::MAX,
            receive_shares: false,
        };
        let plain =
            what_if_liquidations(&at, actor("dex-flow-eoa"), user, &*position, &[request], 0)
                .unwrap()
                .remove(0);
        assert!(plain.success, "{plain:?}");
        table.push(Flow {
            name: "aave-v2: liquidationCall from an account".into(),
            bundle: plain.gas_used,
            liquidation: plain.gas_used,
        });
        let flows = bundle_flows(&at, &*position, user, &request, prices, "aave-v2", true);
        assert!(flows.iter().all(|f| f.bundle > plain.gas_used));
        table.extend(flows);
    }
    // Compound-style (Venus isolated pools): ETH collateral, USDT debt; no flash loans; the
    // contract redeems the seized vTokens before selling.
    {
        let crate::flows::Case {
            evm,
            market: any,
            position,
            user,
            prices,
        } = crate::flows::compound_liquidatable("dex-flow-compound");
        let at = WhatIfAt {
            state: evm.db(),
            block: evm.block(),
            chain_id: evm.chain_id(),
            market: &any,
        };
        let request = crate::flows::COMPOUND_REQUEST;
        let plain =
            what_if_liquidations(&at, actor("dex-flow-eoa"), user, &*position, &[request], 0)
                .unwrap()
                .remove(0);
        assert!(plain.success, "{plain:?}");
        table.push(Flow {
            name: "compound: liquidateBorrow from an account".into(),
            bundle: plain.gas_used,
            liquidation: plain.gas_used,
        });
        let flows = bundle_flows(&at, &*position, user, &request, prices, "compound", false);
        assert!(flows.iter().all(|f| f.bundle > plain.gas_used));
        table.extend(flows);
    }
    println!("| flow | transaction gas | the liquidation call's part |\n|---|---|---|");
    for f in &table {
        println!("| {} | {} | {} |", f.name, f.bundle, f.liquidation);
    }
}

#[test]
fn strategies_choose_their_route_and_tolerance() {
    #[derive(serde::Deserialize)]
    struct W {
        strategies: Vec<StrategySpec>,
    }
    let instances = expand(
        &toml::from_str::<W>(
            "[[strategies]]\nkind = \"flash-loan\"\nroute = [\"uniswap-v2\", \"uniswap-v3-500\"]\n\
             [[strategies]]\nkind = \"flash-loan\"\n\
             [[strategies]]\nkind = \"greedy\"\n",
        )
        .unwrap()
        .strategies,
    )
    .unwrap();
    assert_eq!(
        instances[2].params_text(),
        "latency_blocks=1;min_profit_usd=0;priority_fee_gwei=2"
    );
    let run = run_strategies(
        flash_window(),
        &instances,
        &config(DexKind::UniswapV3, Some(3000)),
        true,
        false,
    )
    .unwrap();
    let routes: Vec<Vec<Option<Route>>> = run
        .actions
        .iter()
        .map(|a| a.iter().map(|x| x.route).collect())
        .collect();
    assert!(routes.iter().all(|r| !r.is_empty()), "{routes:?}");
    assert!(routes[0].iter().all(|r| *r == Some(Route::UniswapV2)));
    assert!(routes[1]
        .iter()
        .all(|r| *r == Some(Route::UniswapV3 { fee: 500 })));
    assert!(routes[2]
        .iter()
        .all(|r| *r == Some(Route::UniswapV3 { fee: 3000 })));
    // greedy keeps the collateral: no sale, yet one transaction through the contract
    assert!(run.actions[3]
        .iter()
        .all(|a| a.route.is_none() && a.gas_used > a.liquidation_gas));
    // The same liquidations, different pools: different proceeds.
    let (v2, v3) = (&run.actions[0][0], &run.actions[1][0]);
    assert_eq!(v2.debt_repaid, v3.debt_repaid);
    assert_ne!(v2.amount_out, v3.amount_out);

    // A route without a real DEX, a route that does not exist: errors naming them.
    let err = match run_strategies(
        flash_window(),
        &instances,
        &DexConfig::default(),
        true,
        false,
    ) {
        Ok(_) => panic!("a route with the formula model ran"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("route") && err.contains("formula"), "{err}");
    let bad = expand(
        &toml::from_str::<W>("[[strategies]]\nkind = \"backstop-pool\"\nroute = \"sushi\"\n")
            .unwrap()
            .strategies,
    )
    .unwrap_err()
    .to_string();
    assert!(bad.contains("sushi") && bad.contains("uniswap-v2"), "{bad}");
    let bad = expand(
        &toml::from_str::<W>("[[strategies]]\nkind = \"flash-loan\"\nmax_slippage_bps = 10000\n")
            .unwrap()
            .strategies,
    )
    .unwrap_err()
    .to_string();
    assert!(bad.contains("max_slippage_bps"), "{bad}");
}

#[test]
fn liqsim_check_warns_when_flash_loan_bundles_meet_reserves_without_flash_loans() {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/small-crash-uniswap.toml");
    let text = std::fs::read_to_string(&path).unwrap();
    let warns = |text: &str| {
        let loaded = liqsim::scenario::LoadedScenario::from_text(text, "x.toml", None).unwrap();
        liqsim::scenario::check::check(&loaded)
            .iter()
            .any(|f| f.to_string().contains("FLASHLOAN_DISABLED"))
    };
    assert!(!warns(&text));
    assert!(warns(&text.replacen("flash_loans_enabled = true\n", "", 1)));
    assert!(!warns(
        &text
            .replacen("flash_loans_enabled = true\n", "", 1)
            .replacen("kind = \"uniswap-v3\"\nfee_tier = 3000\n", "", 1)
    ));
}

#[test]
fn real_dex_runs_are_the_same_on_one_thread_and_on_two() {
    #[derive(serde::Deserialize)]
    struct W {
        strategies: Vec<StrategySpec>,
    }
    let instances = expand(
        &toml::from_str::<W>(
            "[[strategies]]\nkind = \"flash-loan\"\n[[strategies]]\nkind = \"backstop-pool\"\n",
        )
        .unwrap()
        .strategies,
    )
    .unwrap();
    let dex = config(DexKind::UniswapV2, None);
    let on = |threads: usize| {
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap()
            .install(|| run_strategies(flash_window(), &instances, &dex, true, false))
            .unwrap()
    };
    let (a, b) = (on(1), on(2));
    assert!(a.actions.iter().all(|x| !x.is_empty()));
    assert_eq!(a.actions, b.actions);
    assert_eq!(a.misses, b.misses);
    assert_eq!(a.summary, b.summary);
}
