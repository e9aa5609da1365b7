//! Differential proof for Aave V2: random positions on the real `@aave/protocol-v2` bytecode,
//! each checked against the shared math — the six `getUserAccountData` values, and the refusal
//! code or the amounts `liquidationCall` moves (debt pulled from the liquidator, collateral or
//! aTokens received, the event), to the wei.

use std::time::Instant;

use alloy_primitives::U256;
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use revm::context::BlockEnv;
use revm::database::EmptyDB;

use super::abi::{ILendingPool, IScaledBalanceToken};
use super::config::{AssetConfig, MarketConfig};
use super::deploy::deploy_market;
use super::{predict_liquidation, AaveV2Market};
use crate::error::{Error, Result};
use crate::evm::executor::Evm;
use crate::evm::keys::actor;
use crate::math::aave as aave_math;
use crate::protocol::artifacts::ArtifactStore;
use crate::units::DecimalText;

pub use crate::evm::state::MemDb;

/// What a differential run found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DifferentialReport {
    /// Liquidation cases checked (each position also checks `getUserAccountData`).
    pub cases: u64,
    /// Random positions built.
    pub positions: u64,
    /// Markets deployed.
    pub markets: u64,
    /// Refusals predicted with the right code.
    pub predicted_reverts: u64,
    /// Successful liquidations.
    pub liquidated: u64,
    /// Liquidations capped by the user's collateral.
    pub capped: u64,
    /// Liquidations taking aTokens.
    pub receive_a_token: u64,
    /// Disagreements, each naming its reproducing seed and position.
    pub mismatches: Vec<String>,
    /// Wall time in seconds.
    pub seconds: f64,
}

const ATTEMPTS_PER_POSITION: u64 = 4;

/// A randomly parameterised market: decimals from 2 to 27, prices from 1e-9 to 1e4 ETH.
pub fn random_market(rng: &mut ChaCha8Rng, index: usize) -> MarketConfig {
    let decimals_choices = [2u8, 6, 8, 9, 12, 18, 18, 24, 27];
    let mut assets = Vec::new();
    for i in 0..4 {
        let exp = rng.gen_range(-9i32..=4);
        let mantissa: u64 = rng.gen_range(100_000_000..1_000_000_000);
        // price in units of 1e-8 ETH... written with up to 17 decimals
        let units: u128 = if exp >= 0 {
            u128::from(mantissa) * 10u128.pow(exp as u32)
        } else {
            (u128::from(mantissa) / 10u128.pow((-exp) as u32)).max(1)
        };
        let price = format!("{}.{:08}", units / 100_000_000, units % 100_000_000);
        let lt: u16 = rng.gen_range(3000..=9300);
        let ltv: u16 = if rng.gen_bool(0.1) {
            0
        } else {
            rng.gen_range(1000..=lt)
        };
        let max_bonus = ((100_000_000u64 - 5_000) / lt as u64).min(12_500) as u16;
        let bonus: u16 = rng.gen_range(10_001..=max_bonus.max(10_001));
        assets.push(AssetConfig {
            symbol: format!("V{index}x{i}"),
            decimals: *decimals_choices.choose(rng).unwrap_or(&18),
            price_eth: DecimalText(price),
            ltv_bps: ltv,
            liquidation_threshold_bps: lt,
            liquidation_bonus_bps: bonus,
            reserve_factor_bps: rng.gen_range(0..=3000),
        });
    }
    MarketConfig {
        protocol: super::config::PROTOCOL_KIND.into(),
        market_id: format!("aave-v2-differential-{index}"),
        chain_id: 31337,
        native_asset: None,
        eth_usd: DecimalText("2000".into()),
        assets,
        tokens: crate::protocol::tokens::TokenBytecode::Mintable,
        oracle: crate::protocol::oracles::OracleMechanism::Settable,
    }
}

/// A deployed market with deep liquidity and grown indexes.
pub struct PreparedMarket {
    /// The market.
    pub market: AaveV2Market,
    /// Its config.
    pub config: MarketConfig,
    /// State after deployment and seeding.
    pub state: MemDb,
    /// Block the state is at.
    pub block: BlockEnv,
}

/// Amount worth `value_milli_eth` thousandths of ETH at `price` (wei per whole token), at least 1.
pub fn amount_for_value(value_milli_eth: u128, price: U256, decimals: u8) -> U256 {
    let value = U256::from(value_milli_eth) * U256::from(10u64).pow(U256::from(15u64));
    let unit = U256::from(10u64).pow(U256::from(decimals));
    (value * unit / price).clamp(U256::from(1), U256::from(1u64) << 100)
}

/// Deploys `config`, seeds every reserve and lets a year of interest accrue.
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
    let whale = actor("aave-v2-differential-whale");
    let noise = actor("aave-v2-differential-noise-borrower");
    for i in 0..market.reserves.len() {
        let price = config.price(i)?;
        let d = market.reserves[i].decimals;
        let deep = amount_for_value(50_000_000_000, price, d); // 50M ETH
        market.fund(&mut evm, i, whale, deep)?;
        market.deposit(&mut evm, whale, i, deep)?;
        let collateral = amount_for_value(100_000_000_000, price, d);
        market.fund(&mut evm, i, noise, collateral)?;
        market.deposit(&mut evm, noise, i, collateral)?;
    }
    for i in 0..market.reserves.len() {
        let mut amount = amount_for_value(
            20_000_000_000,
            config.price(i)?,
            market.reserves[i].decimals,
        );
        while !amount.is_zero() && market.borrow(&mut evm, noise, i, amount).is_err() {
            amount /= U256::from(2u64);
        }
    }
    block.number += U256::from(1_000u64);
    block.timestamp += U256::from(31_536_000u64);
    evm.set_block(block.clone());
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

/// Runs at least `cases` liquidation checks over `markets` markets (the default devnet one plus
/// random ones) in parallel; a mismatch names `seed` and position, `only_position` replays one.
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
                (
                    p,
                    check_position(&prepared[(p as usize) % prepared.len()], seed, p),
                )
            })
            .collect();
        for (p, result) in results {
            report.positions += 1;
            match result {
                Ok(r) => {
                    report.cases += r.cases;
                    report.predicted_reverts += r.predicted_reverts;
                    report.liquidated += r.liquidated;
                    report.capped += r.capped;
                    report.receive_a_token += r.receive_a_token;
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
                        .push(format!("seed {seed} position {p}: {e}"));
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
    liquidated: u64,
    capped: u64,
    receive_a_token: u64,
    mismatches: Vec<String>,
}

fn same(what: &str, expected: U256, actual: U256, out: &mut Vec<String>) {
    if expected != actual {
        out.push(format!("{what}: math {expected}, protocol {actual}"));
    }
}

fn check_position(prepared: &PreparedMarket, seed: u64, position: u64) -> Result<PositionResult> {
    let mut rng = case_rng(seed, position);
    let market = &prepared.market;
    let n = market.reserves.len();
    let mut evm = Evm::from_cache_db(prepared.state.clone(), prepared.config.chain_id);
    evm.set_block(prepared.block.clone());
    let user = actor(&format!("aave-v2-borrower-{}", position % 64));

    let mut collateral: Vec<usize> = (0..n).collect();
    collateral.shuffle(&mut rng);
    collateral.truncate(rng.gen_range(1..=3));
    for &i in &collateral {
        let milli = 10f64.powf(rng.gen_range(0.0..7.0)) as u128;
        let amount = amount_for_value(
            milli,
            prepared.config.price(i)?,
            market.reserves[i].decimals,
        );
        market.fund(&mut evm, i, user, amount)?;
        market.deposit(&mut evm, user, i, amount)?;
    }
    let mut debts: Vec<usize> = (0..n).collect();
    debts.shuffle(&mut rng);
    debts.truncate(rng.gen_range(1..=2));
    let available = market.account_data(&mut evm, user)?.available_borrows_base;
    let share_bps: u64 = rng.gen_range(8000..=9990);
    for &i in &debts {
        let value = available * U256::from(share_bps) / U256::from(10_000u64 * debts.len() as u64);
        let unit = U256::from(10u64).pow(U256::from(market.reserves[i].decimals));
        let mut amount = value * unit / prepared.config.price(i)?;
        while !amount.is_zero() && market.borrow(&mut evm, user, i, amount).is_err() {
            amount /= U256::from(2u64);
        }
    }
    let before = market.read_user(&mut evm, user)?;
    for (i, reserve) in before.iter().enumerate() {
        let bps: u64 = if collateral.contains(&i) {
            rng.gen_range(5000..=10_200)
        } else {
            rng.gen_range(9800..=16_000)
        };
        let price = (reserve.price * U256::from(bps) / U256::from(10_000u64)).max(U256::from(1u8));
        market.set_price(&mut evm, i, price)?;
    }
    let state = market.read_user(&mut evm, user)?;

    let mut result = PositionResult::default();
    let mut out = Vec::new();
    let expected = aave_math::user_account_data(&state)?;
    let actual = market.account_data(&mut evm, user)?;
    for (what, e, a) in [
        (
            "totalCollateralETH",
            expected.total_collateral_base,
            actual.total_collateral_base,
        ),
        (
            "totalDebtETH",
            expected.total_debt_base,
            actual.total_debt_base,
        ),
        (
            "availableBorrowsETH",
            expected.available_borrows_base,
            actual.available_borrows_base,
        ),
        (
            "currentLiquidationThreshold",
            expected.current_liquidation_threshold,
            actual.current_liquidation_threshold,
        ),
        ("ltv", expected.ltv, actual.ltv),
        ("healthFactor", expected.health_factor, actual.health_factor),
    ] {
        same(&format!("getUserAccountData.{what}"), e, a, &mut out);
    }

    let liquidator = actor("aave-v2-differential-liquidator");
    for attempt in 0..ATTEMPTS_PER_POSITION {
        result.cases += 1;
        let debt = *debts.choose(&mut rng).unwrap_or(&0);
        let coll = if rng.gen_bool(0.9) {
            *collateral.choose(&mut rng).unwrap_or(&0)
        } else {
            rng.gen_range(0..n)
        };
        let receive_a_token = rng.gen_bool(0.5);
        let max = crate::math::fixed::percent_mul(
            state[debt].debt_balance,
            crate::math::aave_v2::LIQUIDATION_CLOSE_FACTOR_PERCENT,
        )?;
        let to_cover = match rng.gen_range(0..6) {
            0 => U256::MAX,
            1 => max,
            2 => max + U256::from(1u8),
            _ => max * U256::from(rng.gen_range(1u64..=10_000)) / U256::from(10_000u64),
        };
        let tag = format!("attempt {attempt} (collateral {coll}, debt {debt}, cover {to_cover}, receiveAToken {receive_a_token})");
        let c = market.reserve(coll)?.clone();
        let d = market.reserve(debt)?.clone();
        let available_underlying = market.balance(&mut evm, c.underlying, c.a_token)?;
        let debt_index = evm.view(
            market.pool,
            &ILendingPool::getReserveNormalizedVariableDebtCall {
                asset: d.underlying,
            },
            "getReserveNormalizedVariableDebt",
        )?;
        let coll_index = evm.view(
            market.pool,
            &ILendingPool::getReserveNormalizedIncomeCall {
                asset: c.underlying,
            },
            "getReserveNormalizedIncome",
        )?;
        let prediction = predict_liquidation(
            &state,
            coll,
            debt,
            to_cover,
            receive_a_token,
            c.liquidation_bonus_bps,
            available_underlying,
            debt_index,
            coll_index,
        )?;
        let mut fork = evm.fork();
        let funding = to_cover.min(max).max(U256::from(1u8));
        market.fund(&mut fork, debt, liquidator, funding)?;
        let debt_before = market.balance(&mut fork, d.underlying, liquidator)?;
        let coll_before = market.balance(&mut fork, c.underlying, liquidator)?;
        let a_scaled_before = fork.view(
            c.a_token,
            &IScaledBalanceToken::scaledBalanceOfCall { owner: liquidator },
            "scaledBalanceOf",
        )?;
        let a_before = market.balance(&mut fork, c.a_token, liquidator)?;
        let index = fork.view(
            market.pool,
            &ILendingPool::getReserveNormalizedIncomeCall {
                asset: c.underlying,
            },
            "getReserveNormalizedIncome",
        )?;
        let outcome = market.liquidation_call(
            &mut fork,
            liquidator,
            coll,
            debt,
            user,
            to_cover,
            receive_a_token,
        );
        match (prediction, outcome) {
            (Err(code), Err(Error::Reverted { reason, .. })) => {
                if reason.split(' ').next() != Some(code) {
                    out.push(format!(
                        "{tag}: math predicts {code}, protocol reverted {reason}"
                    ));
                } else {
                    result.predicted_reverts += 1;
                }
            }
            (Err(code), other) => {
                out.push(format!("{tag}: math predicts {code}, protocol {other:?}"))
            }
            (Ok(_), Err(e)) => {
                out.push(format!("{tag}: math predicts a liquidation, protocol: {e}"))
            }
            (Ok(p), Ok((event, _))) => {
                result.liquidated += 1;
                result.capped += u64::from(p.collateral_capped);
                result.receive_a_token += u64::from(receive_a_token);
                same(
                    &format!("{tag} event debtToCover"),
                    p.debt_repaid,
                    event.debtToCover,
                    &mut out,
                );
                same(
                    &format!("{tag} event liquidatedCollateralAmount"),
                    p.collateral_to_liquidator,
                    event.liquidatedCollateralAmount,
                    &mut out,
                );
                let debt_after = market.balance(&mut fork, d.underlying, liquidator)?;
                let coll_after = market.balance(&mut fork, c.underlying, liquidator)?;
                if receive_a_token || coll != debt {
                    same(
                        &format!("{tag} debt asset paid by liquidator"),
                        p.debt_repaid,
                        debt_before - debt_after,
                        &mut out,
                    );
                } else {
                    // same asset, collateral taken as underlying: net change
                    let net = (coll_after + p.debt_repaid)
                        .checked_sub(coll_before)
                        .unwrap_or_default();
                    same(
                        &format!("{tag} net underlying to liquidator"),
                        p.collateral_to_liquidator,
                        net,
                        &mut out,
                    );
                }
                if receive_a_token {
                    let expected = aave_math::balance_delta_after_scaled_transfer(
                        a_scaled_before,
                        p.collateral_to_liquidator,
                        index,
                    )?;
                    let a_after = market.balance(&mut fork, c.a_token, liquidator)?;
                    same(
                        &format!("{tag} aTokens to liquidator"),
                        expected,
                        a_after - a_before,
                        &mut out,
                    );
                } else if coll != debt {
                    same(
                        &format!("{tag} collateral to liquidator"),
                        p.collateral_to_liquidator,
                        coll_after - coll_before,
                        &mut out,
                    );
                }
            }
        }
    }
    result.mismatches = out;
    Ok(result)
}
