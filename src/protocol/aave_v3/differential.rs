//! Differential proof: random positions on the real Aave V3 bytecode, each checked against the
//! shared math — health factor against `getUserAccountData`, and predicted liquidation amounts
//! against what `liquidationCall` actually transfers, to the wei.

use std::time::Instant;

use alloy_primitives::{Address, U256};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rayon::prelude::*;
use revm::context::BlockEnv;
use revm::database::EmptyDB;

use super::config::{AssetConfig, MarketConfig, RateStrategyConfig};
use super::deploy::deploy_market;
use super::{errors, AaveV3Market, LiquidationIndexes, LiquidationPrediction, LiquidationRequest};
use crate::error::{Error, Result};
use crate::evm::executor::Evm;
use crate::evm::keys::actor;
use crate::math::aave as aave_math;
use crate::math::fixed::ray_div;
use crate::protocol::artifacts::ArtifactStore;
use crate::units::DecimalText;

pub use crate::evm::state::MemDb;

/// What a differential run found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DifferentialReport {
    /// Liquidation cases checked (each also checks the health factor).
    pub cases: u64,
    /// Random positions built (each yields several cases).
    pub positions: u64,
    /// Distinct random markets deployed.
    pub markets: u64,
    /// Cases where the protocol reverted and the math predicted the same error code.
    pub predicted_reverts: u64,
    /// Cases whose liquidation hit the collateral cap branch.
    pub capped: u64,
    /// Cases liquidated at the 100% close factor.
    pub full_close_factor: u64,
    /// Cases with `receiveAToken = true`.
    pub receive_a_token: u64,
    /// Cases with a non-zero protocol fee.
    pub with_protocol_fee: u64,
    /// Disagreements, each naming its reproducing seed.
    pub mismatches: Vec<String>,
    /// Wall time in seconds.
    pub seconds: f64,
}

/// Liquidation attempts made on each random position (each on its own fork).
const ATTEMPTS_PER_POSITION: u64 = 4;

/// A randomly parameterised market: decimals from 2 to 27, prices from 1e-6 to 1e9 USD.
pub fn random_market(rng: &mut ChaCha8Rng, index: usize) -> MarketConfig {
    let decimals_choices = [2u8, 6, 8, 9, 12, 18, 18, 24, 27];
    let price_exponents = -6i32..=9;
    let mut assets = Vec::new();
    for i in 0..4 {
        let decimals = *decimals_choices.choose(rng).unwrap_or(&18);
        let exp = rng.gen_range(price_exponents.clone());
        // price = mantissa × 10^exp, written as an exact decimal with ≤ 8 decimals
        let mantissa: u64 = rng.gen_range(100_000_000..1_000_000_000);
        let price_units = if exp >= 0 {
            U256::from(mantissa) * U256::from(10u64).pow(U256::from(exp as u64))
        } else {
            U256::from(mantissa) / U256::from(10u64).pow(U256::from((-exp) as u64))
        };
        let price_units = price_units.max(U256::from(1));
        let lt: u16 = rng.gen_range(3000..=9300);
        let ltv: u16 = if rng.gen_bool(0.1) {
            0
        } else {
            rng.gen_range(1000..lt)
        };
        let max_bonus = ((100_000_000u64 - 5_000) / lt as u64).min(12_500) as u16;
        let bonus: u16 = rng.gen_range(10_001..=max_bonus.max(10_001));
        let fee: u16 = if rng.gen_bool(0.4) {
            0
        } else {
            rng.gen_range(1..=5_000)
        };
        assets.push(AssetConfig {
            symbol: format!("T{index}x{i}"),
            decimals,
            price_usd: DecimalText(crate::units::format_units(price_units, 8)),
            ltv_bps: ltv,
            liquidation_threshold_bps: lt,
            liquidation_bonus_bps: bonus,
            liquidation_protocol_fee_bps: fee,
            reserve_factor_bps: rng.gen_range(0..3000),
            borrowing_enabled: true,
            rates: RateStrategyConfig::default(),
        });
    }
    MarketConfig {
        market_id: format!("differential-{index}"),
        chain_id: 31337,
        native_asset: assets[0].symbol.clone(),
        flash_loan_premium_bps: 9,
        flash_loans_enabled: false,
        assets,
        tokens: crate::protocol::tokens::TokenBytecode::Mintable,
        oracle: crate::protocol::oracles::OracleMechanism::Settable,
    }
}

/// A deployed market with deep liquidity in every reserve and non-trivial indexes.
pub struct PreparedMarket {
    /// The market.
    pub market: AaveV3Market,
    /// State after deployment and seeding.
    pub state: MemDb,
    /// Block the state is at.
    pub block: BlockEnv,
}

/// Token amount worth `value_usd_cents` at `price` (8 decimals), at least 1 unit.
pub fn amount_for_value(value_usd_cents: u128, price: U256, decimals: u8) -> U256 {
    // amount = value / price, value in cents → value_base = cents × 1e6 (8-dec base)
    let value_base = U256::from(value_usd_cents) * U256::from(1_000_000u64);
    let unit = U256::from(10u64).pow(U256::from(decimals));
    (value_base * unit / price).clamp(U256::from(1), max_amount())
}

/// Largest amount the generator uses: aToken balances are `uint128` scaled, totals included.
fn max_amount() -> U256 {
    U256::from(1u64) << 100
}

/// Deploys `config` and seeds it: a whale supplies every asset, another borrows part of each, so
/// every reserve has liquidity and its indexes grow with time.
pub fn prepare_market(artifacts: &ArtifactStore, config: &MarketConfig) -> Result<PreparedMarket> {
    let mut evm = Evm::new(EmptyDB::default(), config.chain_id);
    evm.set_block(BlockEnv {
        number: U256::from(1u64),
        timestamp: U256::from(1_700_000_000u64),
        gas_limit: 60_000_000,
        basefee: 0,
        ..BlockEnv::default()
    });
    let market = deploy_market(&mut evm, artifacts, config)?;
    let whale = actor("differential-whale");
    let borrower = actor("differential-noise-borrower");
    for i in 0..market.reserves.len() {
        let price = config.price(i)?;
        let decimals = market.reserves[i].decimals;
        let deep = amount_for_value(10_000_000_000_000, price, decimals); // $100bn
        market.fund(&mut evm, i, whale, deep)?;
        market.supply(&mut evm, whale, i, deep)?;
        let collateral = amount_for_value(20_000_000_000_000, price, decimals);
        market.fund(&mut evm, i, borrower, collateral)?;
        market.supply(&mut evm, borrower, i, collateral)?;
    }
    for i in 0..market.reserves.len() {
        let price = config.price(i)?;
        let decimals = market.reserves[i].decimals;
        let mut amount = amount_for_value(4_000_000_000_000, price, decimals);
        // halve until the noise borrower's collateral allows it
        while !amount.is_zero() && market.borrow(&mut evm, borrower, i, amount).is_err() {
            amount /= U256::from(2u64);
        }
    }
    let block = evm.block().clone();
    Ok(PreparedMarket {
        market,
        state: evm.into_db(),
        block,
    })
}

fn case_rng(seed: u64, position: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed ^ position.wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

/// Runs at least `cases` liquidation checks over `markets` random markets, in parallel; `seed`
/// makes the run reproducible and `only_position` replays one position of a seed (as a mismatch
/// message names it).
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
    // Positions that end up with no debt (zero-LTV collateral, dust) check only the health
    // factor, so keep adding positions until the requested number of liquidation cases is met.
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
                    report.capped += r.capped;
                    report.full_close_factor += r.full_close_factor;
                    report.receive_a_token += r.receive_a_token;
                    report.with_protocol_fee += r.with_protocol_fee;
                    report.mismatches.extend(r.mismatches);
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
    capped: u64,
    full_close_factor: u64,
    receive_a_token: u64,
    with_protocol_fee: u64,
    mismatches: Vec<String>,
}

/// Health-factor targets around the two thresholds, plus the wide range and deep bad debt.
fn target_health_factor(rng: &mut ChaCha8Rng) -> U256 {
    let milli = |m: u64| U256::from(m) * U256::from(10u64).pow(U256::from(15u64));
    match rng.gen_range(0..8) {
        0 => milli(1000) - U256::from(rng.gen_range(1u64..1_000_000)), // just below 1
        1 => milli(1000) + U256::from(rng.gen_range(0u64..1_000_000)), // at / just above 1
        2 => milli(950) - U256::from(rng.gen_range(1u64..1_000_000)),  // just below 0.95
        3 => milli(950) + U256::from(rng.gen_range(0u64..1_000_000)),  // at / just above 0.95
        4 => milli(rng.gen_range(900..1000)),
        5 => milli(rng.gen_range(500..1200)),
        6 => milli(rng.gen_range(1..400)), // deep underwater: collateral cap, bad debt
        _ => milli(rng.gen_range(950..1000)),
    }
}

fn check_position(prepared: &PreparedMarket, seed: u64, position: u64) -> Result<PositionResult> {
    let mut rng = case_rng(seed, position);
    let market = &prepared.market;
    let n = market.reserves.len();
    let mut evm = Evm::from_cache_db(prepared.state.clone(), market.config.chain_id);
    let mut block = prepared.block.clone();
    block.number += U256::from(1u64);
    evm.set_block(block.clone());

    let user = actor(&format!("differential-user-{position}"));
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rng);
    let n_collateral = rng.gen_range(1..=2usize);
    let n_debt = rng.gen_range(1..=2usize);
    let collaterals = order[..n_collateral].to_vec();
    let debts = order[n_collateral..(n_collateral + n_debt).min(n)].to_vec();

    for &c in &collaterals {
        let price = market.price(&mut evm, c)?;
        let cents = 10u128.pow(rng.gen_range(0..11u32)) * rng.gen_range(1..100u128);
        let amount = amount_for_value(cents, price, market.reserves[c].decimals);
        market.fund(&mut evm, c, user, amount)?;
        market.supply(&mut evm, user, c, amount)?;
    }
    // Some positions carry an extra supply that is not used as collateral (flag edge case).
    if rng.gen_bool(0.15) {
        if let Some(&extra) = order.get(n_collateral + n_debt) {
            let price = market.price(&mut evm, extra)?;
            let amount = amount_for_value(50_000, price, market.reserves[extra].decimals);
            market.fund(&mut evm, extra, user, amount)?;
            market.supply(&mut evm, user, extra, amount)?;
            let _ = market.set_use_as_collateral(&mut evm, user, extra, false);
        }
    }
    // Borrow a random share of what LTV allows, split over the debt assets.
    let account = market.account_data(&mut evm, user)?;
    let mut borrowed_any = false;
    for &d in &debts {
        let share_bps = rng.gen_range(3_000..9_990u64);
        let base = account.available_borrows_base * U256::from(share_bps)
            / U256::from(10_000u64 * debts.len() as u64);
        let price = market.price(&mut evm, d)?;
        let unit = U256::from(10u64).pow(U256::from(market.reserves[d].decimals));
        let amount = base * unit / price;
        if amount.is_zero() {
            continue;
        }
        if market.borrow(&mut evm, user, d, amount).is_ok() {
            borrowed_any = true;
        }
    }
    if !borrowed_any {
        // zero-LTV collateral or dust: nothing to liquidate; still check the health factor
        return check_health_factor(market, &mut evm, user, seed, position)
            .map(|_| PositionResult::default());
    }

    // Let interest accrue so indexes are not 1 RAY, then move collateral prices to the target HF.
    block.number += U256::from(1u64);
    block.timestamp += U256::from(rng.gen_range(0..400u64 * 86_400));
    evm.set_block(block.clone());
    let reserves = market.user_reserves(&mut evm, user)?;
    let now = aave_math::user_account_data(&reserves)?;
    if !now.total_debt_base.is_zero() && now.health_factor != U256::MAX {
        let target = target_health_factor(&mut rng);
        for &c in &collaterals {
            let price = reserves[c].price;
            let new_price = (price * target / now.health_factor).max(U256::from(1u64));
            market.set_price(&mut evm, c, new_price)?;
        }
    }
    check_health_factor(market, &mut evm, user, seed, position)?;

    // Several liquidation attempts on forks of this state.
    let mut result = PositionResult::default();
    let reserves = market.user_reserves(&mut evm, user)?;
    for attempt in 0..ATTEMPTS_PER_POSITION {
        let collateral = if rng.gen_bool(0.9) {
            *collaterals.choose(&mut rng).unwrap_or(&0)
        } else {
            rng.gen_range(0..n)
        };
        let debt = if rng.gen_bool(0.9) {
            *debts.choose(&mut rng).unwrap_or(&0)
        } else {
            rng.gen_range(0..n)
        };
        let user_debt = reserves[debt].debt_balance;
        let debt_to_cover = match rng.gen_range(0..6) {
            0 => U256::MAX,
            1 => U256::from(1u64),
            2 => user_debt / U256::from(2u64),
            3 => user_debt,
            4 => user_debt * U256::from(rng.gen_range(1..150u64)) / U256::from(100u64),
            _ => user_debt * U256::from(rng.gen_range(1..10_000u64)) / U256::from(10_000u64),
        };
        let receive_a_token = rng.gen_bool(0.5);
        let mut fork = evm.fork();
        let case = CaseInput {
            user,
            collateral,
            debt,
            debt_to_cover,
            receive_a_token,
        };
        match check_liquidation(market, &mut fork, &reserves, &case) {
            Ok(stats) => {
                result.cases += 1;
                result.predicted_reverts += stats.reverted as u64;
                result.capped += stats.capped as u64;
                result.full_close_factor += stats.full_close as u64;
                result.receive_a_token += receive_a_token as u64;
                result.with_protocol_fee += stats.fee as u64;
            }
            Err(e) => {
                result.cases += 1;
                result.mismatches.push(format!(
                    "seed {seed} position {position} attempt {attempt} ({}): {e}",
                    case.describe(market)
                ));
            }
        }
    }
    Ok(result)
}

struct CaseInput {
    user: Address,
    collateral: usize,
    debt: usize,
    debt_to_cover: U256,
    receive_a_token: bool,
}

impl CaseInput {
    fn describe(&self, market: &AaveV3Market) -> String {
        format!(
            "collateral {} debt {} debtToCover {} receiveAToken {}",
            market.reserves[self.collateral].symbol,
            market.reserves[self.debt].symbol,
            self.debt_to_cover,
            self.receive_a_token
        )
    }
}

#[derive(Default)]
struct CaseStats {
    reverted: bool,
    capped: bool,
    full_close: bool,
    fee: bool,
}

fn check_health_factor(
    market: &AaveV3Market,
    evm: &mut Evm<EmptyDB>,
    user: Address,
    seed: u64,
    position: u64,
) -> Result<()> {
    let reserves = market.user_reserves(evm, user)?;
    let math = aave_math::user_account_data(&reserves)?;
    let protocol = market.account_data(evm, user)?;
    if math != protocol {
        return Err(Error::Mismatch(format!(
            "seed {seed} position {position}: getUserAccountData {protocol:?} but the math gives {math:?}"
        )));
    }
    Ok(())
}

fn mismatch(what: &str, expected: U256, actual: U256) -> Result<()> {
    if expected != actual {
        return Err(Error::Mismatch(format!(
            "{what}: math predicts {expected}, the protocol did {actual}"
        )));
    }
    Ok(())
}

fn check_liquidation(
    market: &AaveV3Market,
    evm: &mut Evm<EmptyDB>,
    reserves: &[aave_math::UserReserve],
    case: &CaseInput,
) -> Result<CaseStats> {
    let liquidator = actor("differential-liquidator");
    let d = &market.reserves[case.debt];
    let collateral_config = market.reserve_config(evm, case.collateral)?;
    // The liquidator holds enough of the debt asset for any debtToCover.
    let funding = reserves[case.debt].debt_balance * U256::from(2u64) + U256::from(1u64);
    market.fund(evm, case.debt, liquidator, funding)?;
    let indexes = LiquidationIndexes {
        collateral_liquidity_index: market.normalized_income(evm, case.collateral)?,
        debt_variable_index: evm.view(
            market.pool,
            &super::abi::IPool::getReserveNormalizedVariableDebtCall {
                asset: d.underlying,
            },
            "getReserveNormalizedVariableDebt",
        )?,
    };
    let collateral_index = indexes.collateral_liquidity_index;
    let request = LiquidationRequest {
        collateral: case.collateral,
        debt: case.debt,
        debt_to_cover: case.debt_to_cover,
        receive_shares: case.receive_a_token,
    };
    let prediction =
        AaveV3Market::predict_liquidation(reserves, &request, &collateral_config, &indexes)?;
    let before = Balances::read(market, evm, liquidator, case)?;

    let executed = market.liquidation_call(
        evm,
        liquidator,
        case.collateral,
        case.debt,
        case.user,
        case.debt_to_cover,
        case.receive_a_token,
    );
    let mut stats = CaseStats::default();
    match (prediction, executed) {
        (LiquidationPrediction::Reverts(code), Err(Error::Reverted { reason, .. })) => {
            if errors::code(&reason) != Some(code) {
                return Err(Error::Mismatch(format!(
                    "math predicts revert {}, the protocol reverted with {reason}",
                    errors::explain(&code.to_string())
                )));
            }
            stats.reverted = true;
        }
        (LiquidationPrediction::Reverts(code), Ok(receipt)) => {
            return Err(Error::Mismatch(format!(
                "math predicts revert {}, the protocol liquidated {:?}",
                errors::explain(&code.to_string()),
                receipt.event
            )))
        }
        (LiquidationPrediction::Executes(o), Err(e)) => {
            return Err(Error::Mismatch(format!(
                "math predicts {o:?}, the protocol failed: {e}"
            )))
        }
        (LiquidationPrediction::Executes(o), Ok(receipt)) => {
            stats.capped = o.collateral_capped;
            stats.full_close = o.close_factor == aave_math::MAX_LIQUIDATION_CLOSE_FACTOR;
            stats.fee = !o.protocol_fee.is_zero();
            mismatch(
                "event debtToCover",
                o.debt_repaid,
                receipt.event.debtToCover,
            )?;
            mismatch(
                "event liquidatedCollateralAmount",
                o.collateral_to_liquidator,
                receipt.event.liquidatedCollateralAmount,
            )?;
            let after = Balances::read(market, evm, liquidator, case)?;
            // debt side: the liquidator pays exactly debt_repaid of the debt asset
            let mut expected_underlying_debt = before.liquidator_debt_underlying - o.debt_repaid;
            if case.collateral == case.debt && !case.receive_a_token {
                expected_underlying_debt += o.collateral_to_liquidator;
            }
            mismatch(
                "liquidator debt-asset balance",
                expected_underlying_debt,
                after.liquidator_debt_underlying,
            )?;
            if case.receive_a_token {
                let delta = aave_math::balance_delta_after_scaled_transfer(
                    before.liquidator_a_token_scaled,
                    o.collateral_to_liquidator,
                    collateral_index,
                )?;
                mismatch(
                    "liquidator aToken balance",
                    before.liquidator_a_token + delta,
                    after.liquidator_a_token,
                )?;
            } else if case.collateral != case.debt {
                mismatch(
                    "liquidator collateral balance",
                    before.liquidator_collateral_underlying + o.collateral_to_liquidator,
                    after.liquidator_collateral_underlying,
                )?;
            }
            // protocol fee, with the protocol's clamp to the user's remaining scaled balance
            let user_scaled_after_transfer =
                before.user_a_token_scaled - ray_div(o.collateral_to_liquidator, collateral_index)?;
            let fee = aave_math::cap_protocol_fee(
                o.protocol_fee,
                user_scaled_after_transfer,
                collateral_index,
            )?;
            let treasury_delta = aave_math::balance_delta_after_scaled_transfer(
                before.treasury_a_token_scaled,
                fee,
                collateral_index,
            )?;
            mismatch(
                "treasury aToken balance",
                before.treasury_a_token + treasury_delta,
                after.treasury_a_token,
            )?;
        }
        (LiquidationPrediction::Reverts(_), Err(e)) => return Err(e),
    }
    Ok(stats)
}

struct Balances {
    liquidator_debt_underlying: U256,
    liquidator_collateral_underlying: U256,
    liquidator_a_token: U256,
    liquidator_a_token_scaled: U256,
    treasury_a_token: U256,
    treasury_a_token_scaled: U256,
    user_a_token_scaled: U256,
}

impl Balances {
    fn read(
        market: &AaveV3Market,
        evm: &mut Evm<EmptyDB>,
        liquidator: Address,
        case: &CaseInput,
    ) -> Result<Self> {
        let c = &market.reserves[case.collateral];
        let d = &market.reserves[case.debt];
        Ok(Self {
            liquidator_debt_underlying: market.balance_of(evm, d.underlying, liquidator)?,
            liquidator_collateral_underlying: market.balance_of(evm, c.underlying, liquidator)?,
            liquidator_a_token: market.balance_of(evm, c.a_token, liquidator)?,
            liquidator_a_token_scaled: market.scaled_balance_of(evm, c.a_token, liquidator)?,
            treasury_a_token: market.balance_of(evm, c.a_token, market.treasury)?,
            treasury_a_token_scaled: market.scaled_balance_of(evm, c.a_token, market.treasury)?,
            user_a_token_scaled: market.scaled_balance_of(evm, c.a_token, case.user)?,
        })
    }
}
