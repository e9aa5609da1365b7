//! Pools on the chain itself (`tests/fixtures/small-crash-chain-pools.toml`): each pool's own
//! price lags the oracle by `[dex] arbitrage_lag_blocks` during the crash and converges after it,
//! a competitor's sale through a pool lowers what a later what-if sale gets (the pool's own quote
//! on the same state, to the wei), and the referee finds no mismatch on such a window.

use alloy_primitives::{Address, U256};
use liqsim::app::run::{check_window, open_window, real_dexes_on};
use liqsim::data::records::{BlockRecord, Window};
use liqsim::engine::replay::{replay, replay_until, ReplayHooks, ReplayStart};
use liqsim::engine::whatif::{what_if_sale, WhatIfAt};
use liqsim::evm::executor::Evm;
use liqsim::evm::keys::actor;
use liqsim::evm::tx::SignedTx;
use liqsim::protocol::aave_v3::abi::IAaveOracle;
use liqsim::protocol::dex::arbitrage::{deviation_bps, oracle_price_wad, pool_price_wad};
use liqsim::protocol::dex::RealDex;
use liqsim::protocol::window::WindowDetails;
use liqsim::protocol::{LendingMarket, MarketState};
use liqsim::scenario::{DexConfig, LoadedScenario};
use revm::database::EmptyDB;

use crate::common::aave_v3_artifacts;

const FIXTURE: &str = "tests/fixtures/small-crash-chain-pools.toml";
/// The fixture's `arbitrage_lag_blocks`.
const LAG: usize = 3;

fn fixture_text() -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(FIXTURE);
    std::fs::read_to_string(path).unwrap()
}

fn build(text: &str) -> (Window, DexConfig) {
    let loaded = LoadedScenario::from_text(text, FIXTURE, None).unwrap();
    let dex = loaded.scenario.dex.clone();
    let window = liqsim::source::devnet::build_window(&loaded, aave_v3_artifacts(), None)
        .unwrap()
        .window;
    (window, dex)
}

/// The fixture's window (Uniswap V3, 0.3%).
fn v3_window() -> &'static (Window, DexConfig) {
    static W: std::sync::OnceLock<(Window, DexConfig)> = std::sync::OnceLock::new();
    W.get_or_init(|| build(&fixture_text()))
}

/// The fixture's window on Uniswap V2.
fn v2_window() -> &'static (Window, DexConfig) {
    static W: std::sync::OnceLock<(Window, DexConfig)> = std::sync::OnceLock::new();
    W.get_or_init(|| {
        let text = fixture_text().replacen(
            "kind = \"uniswap-v3\"\nfee_tier = 3000",
            "kind = \"uniswap-v2\"",
            1,
        );
        assert!(text.contains("uniswap-v2"));
        build(&text)
    })
}

/// The chain's DEX of a window, as what-ifs use it.
fn chain_dex(window: &Window, dex: &DexConfig) -> (WindowDetails, RealDex) {
    let details = WindowDetails::from_manifest(&window.manifest).unwrap();
    let chain = details
        .chain_dex
        .clone()
        .expect("a window with pools on the chain");
    let dexes = real_dexes_on(dex, &details.market, Some(&chain), &[]).unwrap();
    let real = (*dexes[0]).clone();
    assert!(real.is_on_chain());
    (details, real)
}

/// Reads, at the end of every block, each pool's own price and the oracle's price of the pair.
struct PriceLog<'a> {
    dex: &'a RealDex,
    oracle: Address,
    pairs: Vec<(usize, usize)>,
    /// Per block, per pair: (pool price, oracle price), whole tokens with 18 decimals.
    rows: Vec<Vec<(U256, U256)>>,
}

impl ReplayHooks<EmptyDB> for PriceLog<'_> {
    fn on_block_end(&mut self, evm: &mut Evm<EmptyDB>, _block: &BlockRecord) -> liqsim::Result<()> {
        let mut row = Vec::new();
        for &(c, d) in &self.pairs {
            let pool = pool_price_wad(evm, self.dex, c, d)?;
            let price = |evm: &mut Evm<EmptyDB>, i: usize| -> liqsim::Result<U256> {
                let asset = self.dex.asset(i)?.token;
                evm.view(
                    self.oracle,
                    &IAaveOracle::getAssetPriceCall { asset },
                    "getAssetPrice",
                )
            };
            let (pc, pd) = (price(evm, c)?, price(evm, d)?);
            row.push((pool, oracle_price_wad(pc, pd)?));
        }
        self.rows.push(row);
        Ok(())
    }
}

/// Worst deviation (bps) of the pools at block `b` from the oracle at block `b - shift`.
fn worst(rows: &[Vec<(U256, U256)>], start: &[(U256, U256)], shift: usize, b: usize) -> U256 {
    rows[b]
        .iter()
        .enumerate()
        .map(|(k, (pool, _))| {
            let oracle = match b.checked_sub(shift) {
                Some(j) => rows[j][k].1,
                None => start[k].1,
            };
            deviation_bps(*pool, oracle)
        })
        .max()
        .unwrap_or_default()
}

fn lag_and_convergence(window: &Window, dex: &DexConfig) {
    let (details, real) = chain_dex(window, dex);
    let chain = details.chain_dex.as_ref().unwrap();
    let market = details.market.as_aave_v3().unwrap();
    let tokens = details.market.asset_addresses();
    let index = |t: Address| tokens.iter().position(|x| *x == t).unwrap();
    let pairs: Vec<(usize, usize)> = chain
        .pools
        .iter()
        .map(|p| (index(p.sell), index(p.buy)))
        .collect();
    assert_eq!(pairs.len(), 4, "WETH and WBTC against USDC and DAI");
    let (_, mut evm) = open_window(window).unwrap();
    // The pools at the window's start sit at the oracle.
    let mut start_log = PriceLog {
        dex: &real,
        oracle: market.oracle,
        pairs: pairs.clone(),
        rows: Vec::new(),
    };
    start_log.on_block_end(&mut evm, &window.blocks[0]).unwrap();
    let start = start_log.rows.remove(0);
    for (pool, oracle) in &start {
        assert!(
            deviation_bps(*pool, *oracle) <= U256::from(1u64),
            "{pool} vs {oracle}"
        );
    }
    let mut log = PriceLog {
        dex: &real,
        oracle: market.oracle,
        pairs,
        rows: Vec::new(),
    };
    replay(&mut evm, window, true, &mut log, None).unwrap();
    let rows = &log.rows;
    assert_eq!(rows.len(), window.blocks.len());
    // Within the pool's fee (30 bps) of the oracle LAG blocks before, at the end of every block
    // (the arbitrageur trades last in its block); the fee-inclusive V2 input leaves a few bps.
    let band = U256::from(36u64);
    for b in 0..rows.len() {
        let w = worst(rows, &start, LAG, b);
        assert!(
            w <= band,
            "block {b}: {w} bps from the oracle of {LAG} blocks before"
        );
    }
    // ... and not within it of the oracle one block more or less before: the lag is LAG.
    for shift in [LAG - 1, LAG + 1, 0] {
        let off = (0..rows.len())
            .map(|b| worst(rows, &start, shift, b))
            .max()
            .unwrap();
        assert!(
            off > U256::from(100u64),
            "a lag of {shift} fits too ({off} bps at worst)"
        );
    }
    // During the crash the pools lag the current oracle by far more than their fee.
    let crash_lag = (30..70).map(|b| worst(rows, &start, 0, b)).max().unwrap();
    assert!(crash_lag > U256::from(150u64), "{crash_lag} bps");
    // After it (flat from block 70), the arbitrage brings them back to the oracle.
    let last = rows.len() - 1;
    assert!(worst(rows, &start, 0, last) <= band);
    // The arbitrageur's swaps are real signed transactions that succeeded.
    let arb = actor(liqsim::source::pools::ARBITRAGEUR);
    let mut swaps = 0;
    for (t, r) in window.transactions.iter().zip(&window.receipts) {
        if SignedTx::decode(&t.raw).unwrap().sender == arb {
            assert!(
                r.success,
                "arbitrage at block {} index {}",
                t.block, t.index
            );
            swaps += 1;
        }
    }
    assert!(swaps > 20, "{swaps} arbitrage swaps");
}

#[test]
fn chain_pools_lag_the_oracle_by_the_arbitrage_lag_and_converge_uniswap_v3() {
    let (window, dex) = v3_window();
    lag_and_convergence(window, dex);
}

#[test]
fn chain_pools_lag_the_oracle_by_the_arbitrage_lag_and_converge_uniswap_v2() {
    let (window, dex) = v2_window();
    lag_and_convergence(window, dex);
}

#[test]
fn a_competitor_sale_through_a_chain_pool_lowers_what_a_later_what_if_sale_gets_uniswap_v3() {
    let (window, dex) = v3_window();
    second_seller_meets_the_first_ones_price(window, dex);
}

#[test]
fn a_competitor_sale_through_a_chain_pool_lowers_what_a_later_what_if_sale_gets_uniswap_v2() {
    let (window, dex) = v2_window();
    second_seller_meets_the_first_ones_price(window, dex);
}

/// The what-if sale of what a competitor seized, right before and right after its sale.
fn second_seller_meets_the_first_ones_price(window: &Window, dex: &DexConfig) {
    let (details, real) = chain_dex(window, dex);
    let bots: Vec<Address> = details.competitor_contracts.values().copied().collect();
    assert_eq!(bots.len(), 2);
    // The first competitor liquidation that sold through a pool (the contract's Executed event).
    let (_, mut evm) = open_window(window).unwrap();
    let mut found = None;
    for (t, r) in window.transactions.iter().zip(&window.receipts) {
        let tx = SignedTx::decode(&t.raw).unwrap();
        if !r.success || !tx.to().is_some_and(|to| bots.contains(&to)) {
            continue;
        }
        let logs: Vec<revm::primitives::Log> = window
            .logs
            .iter()
            .filter(|l| l.block == t.block && l.tx_index == t.index)
            .map(|l| {
                revm::primitives::Log::new_unchecked(l.address, l.topics.clone(), l.data.clone())
            })
            .collect();
        let bot = tx.to().unwrap();
        let Some(x) = liqsim::protocol::liquidator::executed(bot, &logs) else {
            continue;
        };
        if x.amountOut.is_zero() {
            continue;
        }
        let event = details.market.liquidations(&mut evm, &logs).unwrap();
        let e = event.first().copied().unwrap();
        assert_eq!(
            e.liquidator, bot,
            "the protocol names the contract as liquidator"
        );
        found = Some((t.block, t.index, e.collateral, e.debt, x.collateralSeized));
        break;
    }
    let (block, index, c, d, seized) = found.expect("a competitor sale through a chain pool");
    let position = window
        .blocks
        .iter()
        .position(|b| b.number == block)
        .unwrap();
    let first_tx = window
        .transactions
        .iter()
        .position(|t| t.block == block)
        .unwrap();
    // The state just before the competitor's transaction, and just after it.
    let state_at = |stop: Option<u32>| {
        let (_, mut evm) = open_window(window).unwrap();
        let mut none = liqsim::engine::replay::NoHooks;
        replay_until(
            &mut evm,
            window,
            ReplayStart { block: 0, tx: 0 },
            position,
            stop,
            &mut none,
        )
        .unwrap();
        evm
    };
    let before = state_at(index.checked_sub(1));
    let after = state_at(Some(index));
    assert!(first_tx < window.transactions.len());
    let seller = actor("chain pools test seller");
    let sale = |evm: &Evm<EmptyDB>| {
        let at = WhatIfAt {
            state: evm.db(),
            block: evm.block(),
            chain_id: evm.chain_id(),
            market: &details.market,
        };
        let s = what_if_sale(
            &at,
            &real,
            seller,
            c,
            d,
            seized,
            U256::ZERO,
            (U256::ZERO, U256::ZERO),
        )
        .unwrap();
        // The pool's own quote (QuoterV2 / getAmountsOut) on the replayed state itself.
        let mut fork = evm.fork();
        let direct = real.quote(&mut fork, c, d, seized).unwrap();
        (s, direct)
    };
    let (first, first_direct) = sale(&before);
    let (second, second_direct) = sale(&after);
    for (s, direct) in [(&first, first_direct), (&second, second_direct)] {
        assert!(s.swap.success, "{:?}", s.swap.revert_reason);
        assert_eq!(
            s.swap.amount_out, s.quote,
            "the sale gets the pool's quote to the wei"
        );
        assert_eq!(s.quote, direct);
        assert_eq!(s.swap.pool, first.swap.pool);
    }
    assert!(
        second.swap.amount_out < first.swap.amount_out,
        "after the competitor sold {seized}: {} vs {} before",
        second.swap.amount_out,
        first.swap.amount_out
    );
    // The pool's own price fell by the competitor's sale.
    let p = |evm: &Evm<EmptyDB>| pool_price_wad(&mut evm.fork(), &real, c, d).unwrap();
    assert!(p(&after) < p(&before));
}

#[test]
fn the_referee_passes_on_a_window_with_chain_pools_arbitrage_and_competitor_sales() {
    let (window, _) = v3_window();
    let details = WindowDetails::from_manifest(&window.manifest).unwrap();
    let bots: Vec<Address> = details.competitor_contracts.values().copied().collect();
    let arb = actor(liqsim::source::pools::ARBITRAGEUR);
    let (mut sales, mut swaps) = (0, 0);
    for (t, r) in window.transactions.iter().zip(&window.receipts) {
        let tx = SignedTx::decode(&t.raw).unwrap();
        if r.success && tx.to().is_some_and(|to| bots.contains(&to)) {
            sales += 1;
        }
        if tx.sender == arb {
            swaps += 1;
        }
    }
    assert!(
        sales > 5 && swaps > 5,
        "{sales} competitor sales, {swaps} arbitrage swaps"
    );
    let report = check_window(window, false).unwrap();
    assert!(
        report.comparisons > 1_000,
        "{} comparisons",
        report.comparisons
    );
    let shown: Vec<String> = report.mismatches.iter().map(|m| m.to_string()).collect();
    assert!(shown.is_empty(), "{}", shown.join("\n"));
}

alloy_sol_types::sol! {
    interface IV3FactoryCreate {
        function createPool(address tokenA, address tokenB, uint24 fee) external returns (address pool);
    }
}

#[test]
fn named_pools_are_checked_against_the_chains_factory_by_field_and_address() {
    use liqsim::protocol::dex::{check_named_pools, ChainDex};
    let (window, dex) = v3_window();
    let details = WindowDetails::from_manifest(&window.manifest).unwrap();
    let chain = details.chain_dex.clone().unwrap();
    // [dex] naming the chain's own DEX, as a recorded window's scenario does.
    let named = DexConfig {
        factory: Some(chain.contracts.factory),
        router: Some(chain.contracts.router),
        quoter: chain.contracts.quoter,
        pools: vec![chain.pools[0].pool],
        ..dex.clone()
    };
    let contracts = named.chain_contracts().unwrap().unwrap();
    assert_eq!(contracts.factory, chain.contracts.factory);
    let found = ChainDex {
        route: chain.route,
        contracts,
        pools: Vec::new(),
    };
    let real = (*real_dexes_on(&named, &details.market, Some(&found), &[]).unwrap()[0]).clone();
    let (_, mut evm) = open_window(window).unwrap();
    let ok = check_named_pools(&mut evm, &real, &named.pools).unwrap();
    assert_eq!(ok[0].pool, chain.pools[0].pool);
    // An address with no pool there.
    let nowhere = Address::repeat_byte(0x42);
    let err = check_named_pools(&mut evm, &real, &[chain.pools[0].pool, nowhere])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("dex.pools[1]")
            && err.contains(&nowhere.to_string())
            && err.contains("no code"),
        "{err}"
    );
    // A pool the factory lists without liquidity (WETH/WBTC: created, never funded).
    let tokens = details.market.asset_addresses();
    let (weth, wbtc) = (tokens[0], tokens[1]);
    let err = real.chain_pool(&mut evm, 0, 1).unwrap_err().to_string();
    assert!(
        err.contains("returned 0") && err.contains("dex pool"),
        "{err}"
    );
    evm.set_balance(actor("someone"), U256::from(10u64).pow(U256::from(21u64)))
        .unwrap();
    evm.send_call(
        actor("someone"),
        chain.contracts.factory,
        &IV3FactoryCreate::createPoolCall {
            tokenA: weth,
            tokenB: wbtc,
            fee: alloy_primitives::aliases::U24::from(3000u32),
        },
        "createPool",
    )
    .unwrap();
    let empty = real.pool(&mut evm, weth, wbtc).unwrap();
    assert!(!empty.is_zero());
    let err = check_named_pools(&mut evm, &real, &[empty])
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("dex.pools[0]")
            && err.contains(&empty.to_string())
            && err.contains("liquidity"),
        "{err}"
    );
    // An incomplete [dex] is refused naming the field; a devnet window refuses a named factory.
    let err = DexConfig {
        quoter: None,
        ..named.clone()
    }
    .chain_contracts()
    .unwrap_err()
    .to_string();
    assert!(err.contains("dex.quoter"), "{err}");
    let err = liqsim::app::run::run_strategies(window, &[], &named, true, false)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(
        err.contains("dex.factory") && err.contains("recorded window"),
        "{err}"
    );
}

/// A sale of a run: collateral, debt, amount sold, output, and whether a state quoted exactly it.
type Sale = (usize, usize, U256, U256, bool);

/// Per block: the sales of a run decided there.
struct SaleCheck<'a> {
    dex: &'a RealDex,
    sales: std::collections::BTreeMap<u64, Vec<Sale>>,
}

impl SaleCheck<'_> {
    fn check(&mut self, evm: &mut Evm<EmptyDB>, block: u64) -> liqsim::Result<()> {
        if let Some(list) = self.sales.get_mut(&block) {
            for (c, d, amount, out, matched) in list.iter_mut() {
                if !*matched {
                    *matched = self.dex.quote(evm, *c, *d, *amount)? == *out;
                }
            }
        }
        Ok(())
    }
}

impl ReplayHooks<EmptyDB> for SaleCheck<'_> {
    fn on_block_start(
        &mut self,
        evm: &mut Evm<EmptyDB>,
        block: &BlockRecord,
    ) -> liqsim::Result<()> {
        self.check(evm, block.number)
    }
    fn on_transaction(
        &mut self,
        evm: &mut Evm<EmptyDB>,
        block: &BlockRecord,
        _tx: &liqsim::evm::replayed::ReplayedTx<'_>,
    ) -> liqsim::Result<()> {
        self.check(evm, block.number)
    }
}

#[test]
fn strategies_sell_through_the_chains_pools_at_the_hooks_state() {
    #[derive(serde::Deserialize)]
    struct W {
        strategies: Vec<liqsim::strategy::StrategySpec>,
    }
    let (window, dex) = v2_window();
    let (_, real) = chain_dex(window, dex);
    let instances = liqsim::strategy::expand(
        &toml::from_str::<W>(
            "[[strategies]]\nkind = \"flash-loan\"\n[[strategies]]\nkind = \"backstop-pool\"\n",
        )
        .unwrap()
        .strategies,
    )
    .unwrap();
    let run = liqsim::app::run::run_strategies(window, &instances, dex, true, false).unwrap();
    let mut check = SaleCheck {
        dex: &real,
        sales: Default::default(),
    };
    let mut n = 0;
    for actions in &run.actions {
        for a in actions.iter().filter(|a| a.route.is_some()) {
            // What-ifs run on the state of the hook they were decided at.
            check.sales.entry(a.decided_block).or_default().push((
                a.collateral,
                a.debt,
                a.collateral_received,
                a.amount_out,
                false,
            ));
            n += 1;
        }
    }
    assert!(n >= 5, "{n} sales");
    let (_, mut evm) = open_window(window).unwrap();
    replay(&mut evm, window, true, &mut check, None).unwrap();
    // Each sale got exactly the chain pool's getAmountsOut at a state of its block: the pool as
    // the hook found it, not one seeded at the oracle.
    for (block, list) in &check.sales {
        for (c, d, amount, out, matched) in list {
            assert!(
                matched,
                "block {block}: {amount} of asset {c} for {out} of asset {d}"
            );
        }
    }
}

#[test]
fn liqsim_check_warns_about_a_lag_past_the_window_and_competitors_tipping_below_the_arbitrageur() {
    let findings = |text: &str| -> Vec<String> {
        let loaded = LoadedScenario::from_text(text, FIXTURE, None).unwrap();
        liqsim::scenario::check::check(&loaded)
            .iter()
            .map(|f| format!("{}: {}", f.field, f.message))
            .collect()
    };
    let quiet = findings(&fixture_text());
    assert!(!quiet.iter().any(|f| f.contains("arbitrag")), "{quiet:?}");
    let text = fixture_text()
        .replacen(
            "priority_fee_gwei = \"1.5\"",
            "priority_fee_gwei = \"0.2\"",
            1,
        )
        .replacen("arbitrage_lag_blocks = 3", "arbitrage_lag_blocks = 500", 1);
    let loud = findings(&text);
    assert!(
        loud.iter()
            .any(|f| f.starts_with("dex.arbitrage_lag_blocks: 500") && f.contains("120 blocks")),
        "{loud:?}"
    );
    assert!(
        loud.iter()
            .any(|f| f.starts_with("competitors[1].priority_fee_gwei") && f.contains("slow-keeper")),
        "{loud:?}"
    );
}

#[test]
fn a_recorded_window_sells_through_the_pools_its_dex_names() {
    use liqsim::node::rpc::{RetryPolicy, RpcSource};
    use liqsim::source::record::{record_window, RecordOptions};
    if !crate::common::npm_available() {
        eprintln!("SKIPPED: npm is not installed; the anvil tests fetch anvil with npm");
        return;
    }
    #[derive(serde::Deserialize)]
    struct W {
        strategies: Vec<liqsim::strategy::StrategySpec>,
    }
    // The V2 fixture from block 2 (anvil's genesis is 0, block 1 holds the loaded pre-state).
    let text = fixture_text()
        .replacen(
            "kind = \"uniswap-v3\"\nfee_tier = 3000",
            "kind = \"uniswap-v2\"",
            1,
        )
        .replacen("first_block = 12460000", "first_block = 2", 1);
    let (generated, dex) = &build(&text);
    let details = WindowDetails::from_manifest(&generated.manifest).unwrap();
    let chain = details.chain_dex.clone().unwrap();
    // A node holding the devnet window's history (pools, arbitrage, competitor sales).
    let anvil =
        liqsim::app::anvil::Anvil::spawn(&liqsim::app::anvil::options_for(generated).unwrap())
            .unwrap();
    liqsim::app::anvil::feed_window(&anvil.url(), generated).unwrap();
    // Recorded from it as from any node: its manifest knows nothing of the chain's DEX.
    let mut protocol = generated.manifest.protocol.clone();
    let extra = protocol.details.as_object_mut().unwrap();
    extra.remove("chain_dex");
    extra.remove("competitor_contracts");
    let cache = crate::common::temp_dir("chain-pools", "rpc-cache");
    let source = std::sync::Arc::new(
        RpcSource::open(&anvil.url(), &cache, None, RetryPolicy::default()).unwrap(),
    );
    let recorded = record_window(
        source,
        &RecordOptions {
            max_blocks: liqsim::source::record::DEFAULT_MAX_BLOCKS,
            name: "recorded-chain-pools".into(),
            from: generated.manifest.first_block,
            to: generated.manifest.last_block,
            pool: Some(generated.manifest.protocol.addresses["pool"]),
            protocol: Some(protocol),
            discovery: Default::default(),
            probe: true,
        },
    )
    .unwrap()
    .window;
    assert!(WindowDetails::from_manifest(&recorded.manifest)
        .unwrap()
        .chain_dex
        .is_none());
    let instances = liqsim::strategy::expand(
        &toml::from_str::<W>(
            "[[strategies]]\nkind = \"flash-loan\"\n[[strategies]]\nkind = \"backstop-pool\"\n",
        )
        .unwrap()
        .strategies,
    )
    .unwrap();
    // [dex] naming the chain's own DEX (Uniswap V2: factory and router) and its pools.
    let named = DexConfig {
        factory: Some(chain.contracts.factory),
        router: Some(chain.contracts.router),
        pools: chain.pools.iter().map(|p| p.pool).collect(),
        ..dex.clone()
    };
    let lazy = liqsim::app::run::lazy_state(&recorded, &anvil.url(), &cache).unwrap();
    let on_record = liqsim::app::run::run_strategies_lazy(
        &recorded,
        &instances,
        &named,
        false,
        false,
        Some(lazy),
    )
    .unwrap();
    let on_devnet =
        liqsim::app::run::run_strategies(generated, &instances, dex, true, false).unwrap();
    let sales = |run: &liqsim::analytics::result::StrategyRun| -> Vec<(u64, Address, U256, U256)> {
        run.actions
            .iter()
            .flatten()
            .filter(|a| a.route.is_some())
            .map(|a| (a.decided_block, a.user, a.collateral_received, a.amount_out))
            .collect()
    };
    let (a, b) = (sales(&on_record), sales(&on_devnet));
    assert!(a.len() >= 5, "{} sales", a.len());
    assert_eq!(
        a, b,
        "the recorded window's sales go through the chain's pools"
    );
    // A named address that is no pool stops the run, naming it.
    let bad = DexConfig {
        pools: vec![Address::repeat_byte(0x42)],
        ..named.clone()
    };
    let lazy = liqsim::app::run::lazy_state(&recorded, &anvil.url(), &cache).unwrap();
    let err = liqsim::app::run::run_strategies_lazy(
        &recorded,
        &instances,
        &bad,
        false,
        false,
        Some(lazy),
    )
    .err()
    .map(|e| e.to_string())
    .unwrap_or_default();
    assert!(
        err.contains("dex.pools[0]") && err.contains("0x4242"),
        "{err}"
    );
}
