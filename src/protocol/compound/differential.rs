//! Differential proof for the Compound-style pool: random positions on the real Venus
//! isolated-pools bytecode, each checked against the shared math — liquidity and shortfall against
//! `getAccountLiquidity` / `getBorrowingPower`, seize tokens against
//! `liquidateCalculateSeizeTokens`, and every amount `liquidateBorrow` moves (debt repaid, vTokens
//! seized, liquidator's share, protocol share sent as underlying), or the error it reverts with.

use std::time::Instant;

use alloy_primitives::{Address, U256};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use revm::context::BlockEnv;
use revm::database::EmptyDB;

use super::abi::{IMockToken, IVToken};
use super::config::{AssetConfig, MarketConfig};
use super::deploy::deploy_market;
use super::{revert_name, CompoundMarket};
use crate::error::{Error, Result};
use crate::evm::executor::Evm;
use crate::evm::keys::actor;
use crate::protocol::artifacts::ArtifactStore;
use crate::units::DecimalText;

pub use crate::evm::state::MemDb;

/// What a differential run found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DifferentialReport {
    /// Liquidation cases checked (each also checks the liquidity snapshots and seize tokens).
    pub cases: u64,
    /// Random positions built.
    pub positions: u64,
    /// Distinct random pools deployed.
    pub markets: u64,
    /// Cases where the protocol reverted and the math predicted the same error.
    pub predicted_reverts: u64,
    /// Of those, `MinimalCollateralViolated` (the Venus small-account rule).
    pub min_collateral_reverts: u64,
    /// Successful liquidations with a non-zero protocol seize share.
    pub with_protocol_share: u64,
    /// Successful liquidations.
    pub liquidated: u64,
    /// Disagreements, each naming its reproducing seed and position.
    pub mismatches: Vec<String>,
    /// Wall time in seconds.
    pub seconds: f64,
}

/// Liquidation attempts made on each random position (each on its own fork).
const ATTEMPTS_PER_POSITION: u64 = 4;

/// Blocks between seeding and the positions, so exchange rates and borrow indexes move.
const INTEREST_BLOCKS: u64 = 500_000;

/// A randomly parameterised pool: decimals from 2 to 27, prices from 1e-6 to 1e9 USD.
pub fn random_market(rng: &mut ChaCha8Rng, index: usize) -> MarketConfig {
    let decimals_choices = [2u8, 6, 8, 9, 12, 18, 18, 24, 27];
    let incentive: u16 = rng.gen_range(10_000..=11_500);
    let mut assets = Vec::new();
    for i in 0..4 {
        let decimals = *decimals_choices.choose(rng).unwrap_or(&18);
        let exp = rng.gen_range(-6i32..=9);
        let mantissa: u64 = rng.gen_range(100_000_000..1_000_000_000);
        // price in units of 1e-8 USD = mantissa × 10^exp (at least 1), written with 8 decimals
        let units: u128 = if exp >= 0 {
            u128::from(mantissa) * 10u128.pow(exp as u32)
        } else {
            (u128::from(mantissa) / 10u128.pow((-exp) as u32)).max(1)
        };
        let price = format!("{}.{:08}", units / 100_000_000, units % 100_000_000);
        let cf: u16 = if rng.gen_bool(0.1) {
            0
        } else {
            rng.gen_range(1000..=9000)
        };
        let lt: u16 = rng.gen_range(cf.max(500)..=(cf + 1500).min(10_000));
        let share: u16 = if rng.gen_bool(0.3) {
            0
        } else {
            rng.gen_range(0..=incentive - 10_000)
        };
        let rate: u32 = rng.gen_range(1_000_000..100_000_000);
        assets.push(AssetConfig {
            symbol: format!("T{index}x{i}"),
            decimals,
            price_usd: DecimalText(price),
            collateral_factor_bps: cf,
            liquidation_threshold_bps: lt,
            protocol_seize_share_bps: share,
            reserve_factor_bps: rng.gen_range(0..=3000),
            initial_exchange_rate: DecimalText(format!("0.{rate:0>9}")),
        });
    }
    MarketConfig {
        protocol: super::config::PROTOCOL_KIND.into(),
        market_id: format!("compound-differential-{index}"),
        chain_id: 31337,
        close_factor_bps: rng.gen_range(500..=9000),
        liquidation_incentive_bps: incentive,
        min_liquidatable_collateral_usd: DecimalText(
            ["0", "10", "100", "1000"]
                .choose(rng)
                .unwrap_or(&"0")
                .to_string(),
        ),
        native_asset: None,
        assets,
        tokens: crate::protocol::tokens::TokenBytecode::Mintable,
        oracle: crate::protocol::oracles::OracleMechanism::Settable,
    }
}

/// A deployed pool with deep liquidity in every market and accrued interest.
pub struct PreparedMarket {
    /// The pool.
    pub market: CompoundMarket,
    /// Its config.
    pub config: MarketConfig,
    /// State after deployment and seeding.
    pub state: MemDb,
    /// Block the state is at.
    pub block: BlockEnv,
}

/// Token amount worth `value_usd_cents` at oracle mantissa `price` (USD × 1e(36 − decimals)), at least 1.
pub fn amount_for_value(value_usd_cents: u128, price: U256) -> U256 {
    // value mantissa = cents × 1e16; amount = value × 1e18 / price
    let value = U256::from(value_usd_cents) * U256::from(10u64).pow(U256::from(34u64));
    (value / price).clamp(U256::from(1), U256::from(1u64) << 100)
}

/// Deploys `config` and seeds it: a whale supplies every market, another account borrows part of
/// each, then [`INTEREST_BLOCKS`] pass and interest accrues.
pub fn prepare_market(artifacts: &ArtifactStore, config: &MarketConfig) -> Result<PreparedMarket> {
    let mut evm = Evm::new(EmptyDB::default(), config.chain_id);
    let mut block = BlockEnv {
        number: U256::from(1u64),
        timestamp: U256::from(1_700_000_000u64),
        gas_limit: 60_000_000,
        basefee: 0,
        ..BlockEnv::default()
    };
    evm.set_block(block.clone());
    let market = deploy_market(&mut evm, artifacts, config)?;
    let whale = actor("compound-differential-whale");
    let noise = actor("compound-differential-noise-borrower");
    let all: Vec<usize> = (0..market.markets.len()).collect();
    for i in 0..market.markets.len() {
        let price = config.price(i)?;
        let deep = amount_for_value(10_000_000_000_000, price); // $100bn
        market.fund(&mut evm, i, whale, deep)?;
        market.supply(&mut evm, whale, i, deep)?;
        let collateral = amount_for_value(20_000_000_000_000, price);
        market.fund(&mut evm, i, noise, collateral)?;
        market.supply(&mut evm, noise, i, collateral)?;
    }
    market.enter_markets(&mut evm, noise, &all)?;
    for i in 0..market.markets.len() {
        let mut amount = amount_for_value(1_000_000_000_000, config.price(i)?);
        while !amount.is_zero() && market.borrow(&mut evm, noise, i, amount).is_err() {
            amount /= U256::from(2u64);
        }
    }
    block.number += U256::from(INTEREST_BLOCKS);
    block.timestamp += U256::from(INTEREST_BLOCKS * 3);
    evm.set_block(block.clone());
    for i in 0..market.markets.len() {
        market.accrue_interest(&mut evm, i)?;
    }
    Ok(PreparedMarket {
        market,
        config: config.clone(),
        state: evm.into_db(),
        block,
    })
}

fn case_rng(seed: u64, position: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed ^ position.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// Runs at least `cases` liquidation checks over `markets` pools (the default devnet pool plus
/// random ones), in parallel; `seed` makes the run reproducible and `only_position` replays one
/// position of a seed (as a mismatch message names it).
pub fn run(
    artifacts: &ArtifactStore,
    seed: u64,
    cases: u64,
    markets: usize,
    only_position: Option<u64>,
) -> Result<DifferentialReport> {
    let start = Instant::now();
    let mut market_rng = ChaCha8Rng::seed_from_u64(seed);
    let mut configs = vec![MarketConfig::default_devnet()];
    while configs.len() < markets.max(1) {
        let c = random_market(&mut market_rng, configs.len());
        c.validate()?;
        configs.push(c);
    }
    let prepared: Vec<PreparedMarket> = configs
        .par_iter()
        .map(|c| prepare_market(artifacts, c))
        .collect::<Result<_>>()?;
    let mut report = DifferentialReport {
        markets: prepared.len() as u64,
        ..Default::default()
    };
    let mut next_position = 0u64;
    while report.cases < cases {
        let batch = match only_position {
            Some(p) => p..p + 1,
            None => {
                let missing = (cases - report.cases).div_ceil(ATTEMPTS_PER_POSITION);
                next_position..next_position + missing
            }
        };
        next_position = batch.end;
        let results: Vec<(u64, Result<PositionResult>)> = batch
            .into_par_iter()
            .map(|p| {
                let prepared = &prepared[(p as usize) % prepared.len()];
                (p, check_position(prepared, seed, p))
            })
            .collect();
        for (p, result) in results {
            report.positions += 1;
            match result {
                Ok(r) => {
                    report.cases += r.cases;
                    report.predicted_reverts += r.predicted_reverts;
                    report.min_collateral_reverts += r.min_collateral_reverts;
                    report.with_protocol_share += r.with_protocol_share;
                    report.liquidated += r.liquidated;
                    report.mismatches.extend(
                        r.mismatches
                            .into_iter()
                            .map(|m| format!("seed {seed} position {p}: {m}")),
                    );
                }
                Err(e) => {
                    report.cases += 1;
                    report
                        .mismatches
                        .push(format!("seed {seed} position {p}: {e}"))
                }
            }
        }
        if only_position.is_some() {
            break;
        }
    }
    report.seconds = start.elapsed().as_secs_f64();
    Ok(report)
}

#[derive(Default)]
struct PositionResult {
    cases: u64,
    predicted_reverts: u64,
    min_collateral_reverts: u64,
    with_protocol_share: u64,
    liquidated: u64,
    mismatches: Vec<String>,
}

fn same(what: &str, expected: U256, actual: U256, out: &mut Vec<String>) {
    if expected != actual {
        out.push(format!("{what}: math {expected}, protocol {actual}"));
    }
}

/// Multiplies a price mantissa by `bps / 10000` (at least 1).
fn scale(price: U256, bps: u64) -> U256 {
    (price * U256::from(bps) / U256::from(10_000u64)).max(U256::from(1))
}

fn vtoken_balance(evm: &mut Evm<EmptyDB>, vtoken: Address, owner: Address) -> Result<U256> {
    evm.view(
        vtoken,
        &IVToken::balanceOfCall { owner },
        "VToken.balanceOf",
    )
}

fn check_position(prepared: &PreparedMarket, seed: u64, position: u64) -> Result<PositionResult> {
    let mut rng = case_rng(seed, position);
    let market = &prepared.market;
    let n = market.markets.len();
    let mut evm = Evm::from_cache_db(prepared.state.clone(), prepared.config.chain_id);
    evm.set_block(prepared.block.clone());
    let borrower = actor(&format!("compound-borrower-{}", position % 64));

    // Collateral: 1..=3 markets, each worth $1 to $1M (log-uniform), all entered.
    let mut collateral: Vec<usize> = (0..n).collect();
    collateral.shuffle(&mut rng);
    collateral.truncate(rng.gen_range(1..=3));
    for &i in &collateral {
        let cents = 10f64.powf(rng.gen_range(3.5..8.0)) as u128;
        let amount = amount_for_value(cents, prepared.config.price(i)?);
        market.fund(&mut evm, i, borrower, amount)?;
        market.supply(&mut evm, borrower, i, amount)?;
    }
    market.enter_markets(&mut evm, borrower, &collateral)?;

    // Debt: 1..=2 markets, a random share of the borrowing power.
    let mut debts: Vec<usize> = (0..n).collect();
    debts.shuffle(&mut rng);
    debts.truncate(rng.gen_range(1..=2));
    let (power, _) = market.borrowing_power(&mut evm, borrower)?;
    let share_bps: u64 = rng.gen_range(8000..=9990);
    for &i in &debts {
        let value = power * U256::from(share_bps) / U256::from(10_000u64 * debts.len() as u64);
        let mut amount =
            value * U256::from(10u64).pow(U256::from(18u64)) / prepared.config.price(i)?;
        while !amount.is_zero() && market.borrow(&mut evm, borrower, i, amount).is_err() {
            amount /= U256::from(2u64);
        }
    }

    // Price shock: collateral to 40%..102%, other markets to 98%..200%.
    let mut state = market.read_account(&mut evm, borrower)?;
    for i in 0..n {
        let bps = if collateral.contains(&i) {
            rng.gen_range(4000..=10_200)
        } else {
            rng.gen_range(9800..=20_000)
        };
        let price = scale(state.markets[i].oracle_price_mantissa, bps);
        market.set_price(&mut evm, i, price)?;
    }
    state = market.read_account(&mut evm, borrower)?;

    let mut result = PositionResult::default();
    let mut out = Vec::new();
    let expected = state.liquidation_snapshot()?;
    let (liquidity, shortfall) = market.account_liquidity(&mut evm, borrower)?;
    same(
        "getAccountLiquidity.liquidity",
        expected.liquidity,
        liquidity,
        &mut out,
    );
    same(
        "getAccountLiquidity.shortfall",
        expected.shortfall,
        shortfall,
        &mut out,
    );
    let expected = state.borrowing_snapshot()?;
    let (liquidity, shortfall) = market.borrowing_power(&mut evm, borrower)?;
    same(
        "getBorrowingPower.liquidity",
        expected.liquidity,
        liquidity,
        &mut out,
    );
    same(
        "getBorrowingPower.shortfall",
        expected.shortfall,
        shortfall,
        &mut out,
    );

    let liquidator = actor("compound-differential-liquidator");
    for attempt in 0..ATTEMPTS_PER_POSITION {
        result.cases += 1;
        let debt = *debts.choose(&mut rng).unwrap_or(&0);
        let coll = if rng.gen_bool(0.9) {
            *collateral.choose(&mut rng).unwrap_or(&0)
        } else {
            rng.gen_range(0..n)
        };
        let borrow = state.markets[debt].borrow_balance;
        let max_close = crate::math::compound::max_repay(borrow, state.pool.close_factor_mantissa)?;
        let repay = match rng.gen_range(0..10) {
            0 => max_close + U256::from(1u8),
            1 => U256::ZERO,
            2 | 3 => max_close,
            _ => max_close * U256::from(rng.gen_range(1u64..=10_000)) / U256::from(10_000u64),
        };
        let tag = format!("attempt {attempt} (debt {debt}, collateral {coll}, repay {repay})");
        if !repay.is_zero() {
            let expected = crate::math::compound::liquidate_calculate_seize_tokens(
                state.markets[debt].oracle_price_mantissa,
                state.markets[coll].oracle_price_mantissa,
                state.markets[coll].exchange_rate_mantissa,
                state.pool.liquidation_incentive_mantissa,
                repay,
            );
            let actual = market.seize_tokens(&mut evm, debt, coll, repay);
            match (expected, actual) {
                (Ok(e), Ok(a)) => same(
                    &format!("{tag} liquidateCalculateSeizeTokens"),
                    e,
                    a,
                    &mut out,
                ),
                (Err(_), Err(_)) => {}
                (e, a) => out.push(format!(
                    "{tag} liquidateCalculateSeizeTokens: math {e:?}, protocol {a:?}"
                )),
            }
        }
        let prediction = state.predict_liquidate_borrow(debt, coll, repay)?;
        let mut fork = evm.fork();
        market.fund(&mut fork, debt, liquidator, repay.max(U256::from(1u8)))?;
        let m_coll = market.market(coll)?.clone();
        let m_debt = market.market(debt)?.clone();
        let before_borrower = vtoken_balance(&mut fork, m_coll.vtoken, borrower)?;
        let before_liquidator = vtoken_balance(&mut fork, m_coll.vtoken, liquidator)?;
        let psr_call = IMockToken::balanceOfCall {
            owner: market.protocol_share_reserve,
        };
        let before_psr = fork.view(m_coll.underlying, &psr_call, "balanceOf")?;
        let outcome = market.liquidate_borrow(&mut fork, liquidator, borrower, debt, repay, coll);
        match (prediction, outcome) {
            (Err(name), Err(Error::Reverted { reason, .. })) => {
                if revert_name(&reason) != name {
                    out.push(format!(
                        "{tag}: math predicts {name}, protocol reverted {reason}"
                    ));
                } else {
                    result.predicted_reverts += 1;
                    if name == "MinimalCollateralViolated" {
                        result.min_collateral_reverts += 1;
                    }
                }
            }
            (Err(name), Ok(_)) => {
                out.push(format!("{tag}: math predicts {name}, protocol liquidated"))
            }
            (Ok(_), Err(e)) => {
                out.push(format!("{tag}: math predicts a liquidation, protocol: {e}"))
            }
            (Err(name), Err(e)) => out.push(format!("{tag}: math predicts {name}, protocol: {e}")),
            (Ok(p), Ok(receipt)) => {
                result.liquidated += 1;
                if !p.protocol_tokens.is_zero() {
                    result.with_protocol_share += 1;
                }
                same(
                    &format!("{tag} event repayAmount"),
                    p.repay,
                    receipt.event.repayAmount,
                    &mut out,
                );
                same(
                    &format!("{tag} event seizeTokens"),
                    p.seize_tokens,
                    receipt.event.seizeTokens,
                    &mut out,
                );
                let after_borrow = fork.view(
                    m_debt.vtoken,
                    &IVToken::borrowBalanceStoredCall { account: borrower },
                    "borrowBalanceStored",
                )?;
                same(
                    &format!("{tag} debt repaid"),
                    p.repay,
                    borrow - after_borrow,
                    &mut out,
                );
                let after_borrower = vtoken_balance(&mut fork, m_coll.vtoken, borrower)?;
                same(
                    &format!("{tag} vTokens seized from borrower"),
                    p.seize_tokens,
                    before_borrower - after_borrower,
                    &mut out,
                );
                let after_liquidator = vtoken_balance(&mut fork, m_coll.vtoken, liquidator)?;
                same(
                    &format!("{tag} vTokens to liquidator"),
                    p.liquidator_tokens,
                    after_liquidator - before_liquidator,
                    &mut out,
                );
                let after_psr = fork.view(m_coll.underlying, &psr_call, "balanceOf")?;
                same(
                    &format!("{tag} underlying to protocol share reserve"),
                    p.protocol_underlying,
                    after_psr - before_psr,
                    &mut out,
                );
                same(
                    &format!("{tag} ProtocolSeize amount"),
                    p.protocol_underlying,
                    receipt.protocol_seize_amount.unwrap_or_default(),
                    &mut out,
                );
            }
        }
    }
    result.mismatches = out;
    Ok(result)
}
