//! Funding by storage (`evm::deal`) on real token bytecode fetched from npm (WETH9, an
//! OpenZeppelin ERC-20 without mint, the upgradeable one behind an ERC-1967 proxy), the clear
//! error on a token without a balance slot, and what-if liquidations on an Aave V3 market whose
//! tokens have no mint.

use std::path::Path;
use std::sync::{Arc, OnceLock};

use alloy_primitives::{Address, Bytes, TxKind, U256};
use alloy_sol_types::{sol, SolCall};
use liqsim::app::run::run_strategies;
use liqsim::engine::whatif::what_if_liquidation;
use liqsim::evm::deal::{balance_of, deal, find_balance_slot, BalanceSlot};
use liqsim::evm::executor::Evm;
use liqsim::evm::keys::actor;
use liqsim::protocol::aave_v3::config::MarketConfig;
use liqsim::protocol::aave_v3::differential::{amount_for_value, prepare_market, PreparedMarket};
use liqsim::protocol::aave_v3::market::V3Position;
use liqsim::protocol::aave_v3::{AaveV3Market, LiquidationRequest};
use liqsim::protocol::tokens::{
    deploy_fixed_supply, deploy_proxied_fixed_supply, deploy_weth9, TokenBytecode,
};
use liqsim::protocol::{AnyMarket, Position};
use liqsim::scenario::LoadedScenario;
use liqsim::source::devnet::build_window;
use liqsim::Error;
use revm::context::BlockEnv;
use revm::database::EmptyDB;

use crate::common::aave_v3_artifacts;

sol! {
    interface IToken {
        function transfer(address to, uint256 amount) external returns (bool);
        function totalSupply() external view returns (uint256);
        function mint(address account, uint256 amount) external;
    }
}

fn e18(n: u64) -> U256 {
    U256::from(n) * U256::from(10u64).pow(U256::from(18u64))
}

fn fresh_evm() -> (Evm<EmptyDB>, Address) {
    let mut evm = Evm::new(EmptyDB::default(), 31337);
    evm.set_block(BlockEnv {
        number: U256::from(1u64),
        timestamp: U256::from(1_700_000_000u64),
        gas_limit: 60_000_000,
        basefee: 0,
        ..BlockEnv::default()
    });
    let deployer = actor("funding-deployer");
    evm.set_balance(deployer, e18(1_000)).unwrap();
    (evm, deployer)
}

/// Deals to two holders, checks `balanceOf` returns exactly what was dealt, and that the dealt
/// tokens move with an ordinary `transfer`.
fn deal_and_transfer(evm: &mut Evm<EmptyDB>, token: Address) {
    let alice = actor("funding-alice");
    let bob = actor("funding-bob");
    evm.set_balance(alice, e18(1)).unwrap();
    deal(evm, token, alice, e18(1_234)).unwrap();
    assert_eq!(balance_of(evm, token, alice).unwrap(), e18(1_234));
    // a second holder (the learnt mapping covers it) and a lower value
    deal(evm, token, bob, U256::from(7u64)).unwrap();
    assert_eq!(balance_of(evm, token, bob).unwrap(), U256::from(7u64));
    deal(evm, token, alice, e18(1_000)).unwrap();
    assert_eq!(balance_of(evm, token, alice).unwrap(), e18(1_000));
    let sent = evm
        .send(
            alice,
            TxKind::Call(token),
            IToken::transferCall {
                to: bob,
                amount: e18(400),
            }
            .abi_encode()
            .into(),
            U256::ZERO,
            200_000,
        )
        .unwrap();
    assert!(sent.success, "transfer of dealt tokens failed: {sent:?}");
    assert_eq!(balance_of(evm, token, alice).unwrap(), e18(600));
    assert_eq!(
        balance_of(evm, token, bob).unwrap(),
        e18(400) + U256::from(7u64)
    );
}

#[test]
fn deal_funds_canonical_weth9() {
    let (mut evm, deployer) = fresh_evm();
    let weth = deploy_weth9(&mut evm, deployer).unwrap();
    // WETH9 has no mint: calling it runs the fallback (a zero deposit) and credits nothing.
    let holder = actor("funding-alice");
    evm.send(
        holder,
        TxKind::Call(weth),
        IToken::mintCall {
            account: holder,
            amount: e18(5),
        }
        .abi_encode()
        .into(),
        U256::ZERO,
        200_000,
    )
    .unwrap();
    assert_eq!(balance_of(&mut evm, weth, holder).unwrap(), U256::ZERO);
    deal_and_transfer(&mut evm, weth);
    // WETH9 keeps `balanceOf` at slot 3 (after name, symbol, decimals).
    assert_eq!(
        find_balance_slot(&evm, weth, holder).unwrap(),
        BalanceSlot::Mapping {
            storage: weth,
            base: U256::from(3u64),
            vyper: false
        }
    );
}

#[test]
fn deal_funds_an_openzeppelin_erc20_without_mint() {
    let (mut evm, deployer) = fresh_evm();
    let token =
        deploy_fixed_supply(&mut evm, deployer, "Fixed", "FIX", e18(1_000_000), deployer).unwrap();
    let minted = evm
        .send(
            deployer,
            TxKind::Call(token),
            IToken::mintCall {
                account: deployer,
                amount: e18(5),
            }
            .abi_encode()
            .into(),
            U256::ZERO,
            200_000,
        )
        .unwrap();
    assert!(!minted.success, "the OpenZeppelin preset has no mint");
    deal_and_transfer(&mut evm, token);
    // the owner's pre-existing balance is overwritten exactly
    deal(&mut evm, token, deployer, U256::from(42u64)).unwrap();
    assert_eq!(
        balance_of(&mut evm, token, deployer).unwrap(),
        U256::from(42u64)
    );
}

#[test]
fn deal_writes_the_proxys_storage_for_an_upgradeable_token() {
    let (mut evm, deployer) = fresh_evm();
    let proxy =
        deploy_proxied_fixed_supply(&mut evm, deployer, "Proxied", "PRX", e18(1_000), deployer)
            .unwrap();
    let holder = actor("funding-alice");
    let found = find_balance_slot(&evm, proxy, holder).unwrap();
    // balanceOf runs in the implementation's code, on the proxy's storage.
    match found {
        BalanceSlot::Mapping { storage, .. } => assert_eq!(storage, proxy),
        other => panic!("expected a mapping in the proxy's storage, found {other:?}"),
    }
    deal_and_transfer(&mut evm, proxy);
    let supply = evm
        .view(proxy, &IToken::totalSupplyCall {}, "totalSupply")
        .unwrap();
    assert_eq!(supply, e18(1_000), "deal leaves totalSupply as it is");
}

/// Runtime code `return(sload(0) * 2)` for any call: a balance computed from a share count.
fn computed_balance_token(evm: &mut Evm<EmptyDB>, deployer: Address) -> Address {
    let runtime = [
        0x60, 0x00, 0x54, 0x60, 0x02, 0x02, 0x60, 0x00, 0x52, 0x60, 0x20, 0x60, 0x00, 0xf3,
    ];
    let mut init = vec![
        0x60,
        runtime.len() as u8,
        0x60,
        12,
        0x60,
        0x00,
        0x39,
        0x60,
        runtime.len() as u8,
        0x60,
        0x00,
        0xf3,
    ];
    init.extend_from_slice(&runtime);
    evm.deploy(deployer, Bytes::from(init), "computed-balance token")
        .unwrap()
}

#[test]
fn a_token_without_a_balance_slot_is_a_clear_error() {
    let (mut evm, deployer) = fresh_evm();
    let token = computed_balance_token(&mut evm, deployer);
    let holder = actor("funding-alice");
    let err = deal(&mut evm, token, holder, e18(1)).unwrap_err();
    assert!(matches!(err, Error::Deal { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains(&token.to_string()), "{text}");
    assert!(text.contains("none of the 1 storage slots"), "{text}");
    assert!(text.contains("use another debt asset"), "{text}");
    assert_eq!(balance_of(&mut evm, token, holder).unwrap(), U256::ZERO);

    let nowhere = actor("funding-no-contract");
    let err = deal(&mut evm, nowhere, holder, e18(1))
        .unwrap_err()
        .to_string();
    assert!(
        err.contains(&nowhere.to_string()) && err.contains("no contract"),
        "{err}"
    );
}

/// The default devnet market on real tokens: WETH9, and OpenZeppelin ERC-20s (WBTC and DAI
/// fixed-supply, USDC behind an ERC-1967 proxy), all 18 decimals; set up by storage funding.
fn real_market() -> &'static PreparedMarket {
    static MARKET: OnceLock<PreparedMarket> = OnceLock::new();
    MARKET.get_or_init(|| {
        let mut config = MarketConfig::default_devnet();
        config.tokens = TokenBytecode::Real;
        for asset in &mut config.assets {
            asset.decimals = 18;
        }
        prepare_market(aave_v3_artifacts(), &config)
            .unwrap_or_else(|e| panic!("deploying the real-token market: {e}"))
    })
}

fn position(market: &AaveV3Market, evm: &mut Evm<EmptyDB>, user: Address) -> V3Position {
    let reserves = market.user_reserves(evm, user).unwrap();
    let configs = (0..market.reserves.len())
        .map(|i| market.reserve_config(evm, i).unwrap())
        .collect();
    V3Position::new(reserves, Arc::new(configs)).unwrap()
}

/// Opens a position at the collateral's LTV less 1%, drops the collateral's price by 15% and
/// runs the what-if liquidation; returns it.
fn what_if_on_real_tokens(collateral: &str, debt: &str) {
    let prepared = real_market();
    let market = &prepared.market;
    let mut evm = Evm::from_cache_db(prepared.state.clone(), market.config.chain_id);
    evm.set_block(prepared.block.clone());
    let c = market.asset(collateral).unwrap();
    let d = market.asset(debt).unwrap();
    let user = actor(&format!("real-token-borrower-{collateral}-{debt}"));
    let value_cents = 100_000_000u128; // $1m
    let c_price = market.config.price(c).unwrap();
    let supplied = amount_for_value(value_cents, c_price, 18);
    market.fund(&mut evm, c, user, supplied).unwrap();
    market.supply(&mut evm, user, c, supplied).unwrap();
    let ltv = u128::from(market.config.assets[c].ltv_bps - 100);
    let borrowed = amount_for_value(
        value_cents * ltv / 10_000,
        market.config.price(d).unwrap(),
        18,
    );
    market.borrow(&mut evm, user, d, borrowed).unwrap();
    market
        .set_price(
            &mut evm,
            c,
            c_price * U256::from(85u64) / U256::from(100u64),
        )
        .unwrap();
    let position = position(market, &mut evm, user);
    assert!(position.health_factor().unwrap() < e18(1));

    // The old way (mint) cannot fund a liquidator on these tokens.
    let mut minting = market.clone();
    minting.config.tokens = TokenBytecode::Mintable;
    let liquidator = actor("real-token-liquidator");
    let mut probe = evm.fork();
    let minted = minting.fund(&mut probe, d, liquidator, e18(1));
    let funded = minted.is_ok()
        && balance_of(&mut probe, market.reserves[d].underlying, liquidator).unwrap() > U256::ZERO;
    assert!(!funded, "{debt} was funded by mint: not a real token");

    let request = LiquidationRequest {
        collateral: c,
        debt: d,
        debt_to_cover: U256::MAX,
        receive_shares: false,
    };
    let result = what_if_liquidation(
        &evm,
        &AnyMarket::AaveV3(market.clone()),
        liquidator,
        user,
        &position,
        &request,
        1_000_000_000,
    )
    .unwrap();
    assert!(result.success, "{result:?}");
    let expected = position.liquidation(c, d, U256::MAX).unwrap();
    assert_eq!(result.debt_repaid, expected.debt_repaid);
    assert_eq!(
        result.collateral_received,
        expected.collateral_to_liquidator
    );
    assert!(result.gas_used > 100_000, "gas {}", result.gas_used);
}

#[test]
fn what_if_repays_weth9_debt_funded_by_storage() {
    what_if_on_real_tokens("WBTC", "WETH");
}

#[test]
fn what_if_repays_openzeppelin_fixed_supply_debt_funded_by_storage() {
    what_if_on_real_tokens("WETH", "DAI");
}

#[test]
fn what_if_repays_proxied_upgradeable_debt_funded_by_storage() {
    what_if_on_real_tokens("WETH", "USDC");
}

/// Point 7's acceptance for funding: a devnet window whose tokens have no mint builds (actors
/// funded by storage), replays with every receipt matched, and its strategies' what-ifs execute,
/// funded by storage.
#[test]
fn a_window_on_real_tokens_builds_and_runs_with_what_ifs_funded_by_storage() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/small-real-tokens.toml");
    let loaded = LoadedScenario::from_file(&path).unwrap();
    let built = build_window(&loaded, aave_v3_artifacts(), None)
        .unwrap_or_else(|e| panic!("building small-real-tokens: {e}"));
    let AnyMarket::AaveV3(market) = &built.market else {
        panic!("expected an Aave V3 market");
    };
    assert_eq!(market.config.tokens, TokenBytecode::Real);
    assert!(
        built.competitor_liquidations > 0,
        "no historical liquidation"
    );
    let run = run_strategies(
        &built.window,
        &loaded.instances,
        &loaded.scenario.dex,
        true,
        false,
    )
    .unwrap();
    let f = &run.fidelity;
    assert_eq!(f.receipts_matched, f.transactions, "{f:?}");
    assert!(!run.opportunities.is_empty(), "no opportunity");
    let actions: Vec<_> = run.actions.iter().flatten().collect();
    assert!(actions.len() > 10, "{} what-ifs executed", actions.len());
    for a in actions {
        assert!(a.gas_used > 100_000, "{a:?}");
        assert!(!a.debt_repaid.is_zero() && !a.collateral_received.is_zero());
    }
    let captured: f64 = run.summary.iter().map(|s| s.captured_bonus_usd).sum();
    assert!(captured > 0.0, "nothing captured");
}
