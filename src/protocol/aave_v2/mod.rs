//! Aave V2 lending pools on their real bytecode (`@aave/protocol-v2` 1.0.1): deployment from the
//! published artifacts, a typed API, and the liquidation predicted by `math::aave` (account data,
//! shared with V3) and `math::aave_v2` (the collateral manager's rules).
//!
//! V2 rules that differ from V3 (see [`crate::math::aave_v2`]): prices in ETH (wei), close factor
//! always 50%, no liquidation protocol fee, the bonus applied before the division by the collateral
//! price, and refusals returned by `LendingPoolCollateralManager` as numeric codes that
//! `LendingPool` re-raises as the revert message: `42` health factor not below 1, `43` collateral
//! not enabled, `44` debt asset not borrowed, `45` not enough underlying in the aToken.

pub mod abi;
pub mod config;
pub mod deploy;
pub mod differential;
pub mod market;

use alloy_primitives::{Address, Log, U256};
use alloy_sol_types::{SolCall, SolEvent};
use revm::database_interface::DBErrorMarker;
use revm::DatabaseRef;

use crate::error::{Error, Result};
use crate::evm::executor::{Evm, TxOutcome};
use crate::math::aave::{self as aave_math, AccountData, UserReserve};
use crate::math::aave_v2::{liquidation_outcome_v2, LiquidationInputV2, LiquidationOutcomeV2};
use crate::math::fixed::ray_div;
use crate::protocol::oracles::OracleMechanism;
use crate::protocol::tokens::TokenBytecode;
use abi::{ILendingPool, IMintableERC20, IPriceOracle, IScaledBalanceToken};

/// One reserve of the market.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ReserveV2 {
    /// Symbol.
    pub symbol: String,
    /// Decimals.
    pub decimals: u8,
    /// Underlying token (`MintableERC20`, or a real token: `protocol::tokens`).
    pub underlying: Address,
    /// aToken proxy.
    pub a_token: Address,
    /// Stable debt token proxy.
    pub stable_debt_token: Address,
    /// Variable debt token proxy.
    pub variable_debt_token: Address,
    /// LTV in bps.
    pub ltv_bps: u16,
    /// Liquidation threshold in bps.
    pub liquidation_threshold_bps: u16,
    /// Liquidation bonus in bps.
    pub liquidation_bonus_bps: u16,
    /// The contract the keeper's price transactions call under a mechanism behind `AaveOracle`
    /// (`protocol::oracles`: the aggregator behind the proxy, the source swapper, the fallback
    /// mock, the push oracle, the adapter's base feed); `None` under `settable`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_mover: Option<Address>,
    /// The exchange-rate contract of the reserve's rate adapter (`oracle = "adapter"` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_source: Option<Address>,
}

/// A deployed Aave V2 market.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct AaveV2Market {
    /// Symbol of the asset that prices gas.
    pub native_asset: String,
    /// `LendingPoolAddressesProvider`.
    pub provider: Address,
    /// `LendingPool` proxy.
    pub pool: Address,
    /// `LendingPoolConfigurator` proxy.
    pub configurator: Address,
    /// `LendingPoolCollateralManager` (runs by delegatecall from the pool).
    pub collateral_manager: Address,
    /// The market's price oracle (what the provider's `getPriceOracle` returns): the mock
    /// `PriceOracle` (ETH prices in wei) under `settable`, else Aave V2's `AaveOracle`.
    pub oracle: Address,
    /// Under a mechanism behind `AaveOracle`: the mock `PriceOracle`, its fallback oracle and the
    /// source of the ETH/USD price liqsim values ETH in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price_oracle_mock: Option<Address>,
    /// How the devnet's oracle is wired and moved (`[market] oracle`).
    #[serde(default, skip_serializing_if = "OracleMechanism::is_settable")]
    pub oracle_mechanism: OracleMechanism,
    /// Pool admin.
    pub admin: Address,
    /// Reserve treasury.
    pub treasury: Address,
    /// Reserves, in config order.
    pub reserves: Vec<ReserveV2>,
    /// Token bytecode the market was deployed with (real tokens are funded by storage).
    #[serde(default, skip_serializing_if = "TokenBytecode::is_mintable")]
    pub tokens: TokenBytecode,
}

/// A decoded `LiquidationCall` event.
pub type LiquidationCallEvent = ILendingPool::LiquidationCall;

/// Names of the collateral manager's refusal codes.
pub fn explain_code(code: &str) -> &'static str {
    match code {
        "1" => "VL_INVALID_AMOUNT",
        "2" => "VL_NO_ACTIVE_RESERVE",
        "42" => "LPCM_HEALTH_FACTOR_NOT_BELOW_THRESHOLD",
        "43" => "LPCM_COLLATERAL_CANNOT_BE_LIQUIDATED",
        "44" => "LPCM_SPECIFIED_CURRENCY_NOT_BORROWED_BY_USER",
        "45" => "LPCM_NOT_ENOUGH_LIQUIDITY_TO_LIQUIDATE",
        "23" => "LP_LIQUIDATION_CALL_FAILED",
        _ => "unknown",
    }
}

/// Decodes every `LiquidationCall` event among `logs`.
pub fn decode_liquidation_calls(logs: &[Log]) -> Vec<LiquidationCallEvent> {
    logs.iter()
        .filter_map(|l| {
            ILendingPool::LiquidationCall::decode_log(l)
                .ok()
                .map(|d| d.data)
        })
        .collect()
}

impl AaveV2Market {
    /// Reserve `i`.
    pub fn reserve(&self, i: usize) -> Result<&ReserveV2> {
        self.reserves.get(i).ok_or_else(|| Error::Unknown {
            kind: "reserve index",
            name: i.to_string(),
            known: format!("0..{}", self.reserves.len()),
        })
    }

    fn tx<DB, C: SolCall>(
        &self,
        evm: &mut Evm<DB>,
        from: Address,
        to: Address,
        call: &C,
        what: &str,
    ) -> Result<TxOutcome>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        evm.send_call(from, to, call, what).map_err(|e| match e {
            Error::Reverted {
                call,
                reason,
                data,
                gas_used,
            } => Error::Reverted {
                call,
                reason: format!("{reason} ({})", explain_code(&reason)),
                data,
                gas_used,
            },
            other => other,
        })
    }

    /// Mints `amount` of reserve `i`'s underlying to `to` (by storage when the market has real
    /// tokens) and approves the pool.
    pub fn fund<DB>(&self, evm: &mut Evm<DB>, i: usize, to: Address, amount: U256) -> Result<()>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        if self.tokens == TokenBytecode::Real {
            return self.fund_by_storage(evm, i, to, amount);
        }
        let r = self.reserve(i)?;
        if evm.account(to)?.balance.is_zero() {
            evm.set_balance(to, U256::from(10u64).pow(U256::from(21u64)))?;
        }
        self.tx(
            evm,
            to,
            r.underlying,
            &IMintableERC20::mintCall { value: amount },
            "MintableERC20.mint",
        )?;
        self.approve_pool(evm, i, to)
    }

    /// Adds `amount` of reserve `i`'s underlying to `to`'s balance by writing the token's balance
    /// slot (`evm::deal`, no `mint`: works on any token) and approves the pool.
    pub fn fund_by_storage<DB>(
        &self,
        evm: &mut Evm<DB>,
        i: usize,
        to: Address,
        amount: U256,
    ) -> Result<()>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        let r = self.reserve(i)?;
        crate::protocol::tokens::fund_by_storage(evm, r.underlying, to, amount)?;
        self.approve_pool(evm, i, to)
    }

    /// `approve(pool, max)` from `to` on reserve `i`'s underlying.
    fn approve_pool<DB>(&self, evm: &mut Evm<DB>, i: usize, to: Address) -> Result<()>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        let r = self.reserve(i)?;
        self.tx(
            evm,
            to,
            r.underlying,
            &IMintableERC20::approveCall {
                spender: self.pool,
                amount: U256::MAX,
            },
            "MintableERC20.approve",
        )?;
        Ok(())
    }

    /// `LendingPool.deposit` of `amount` of reserve `i` for `user`.
    pub fn deposit<DB>(
        &self,
        evm: &mut Evm<DB>,
        user: Address,
        i: usize,
        amount: U256,
    ) -> Result<()>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        let call = ILendingPool::depositCall {
            asset: self.reserve(i)?.underlying,
            amount,
            onBehalfOf: user,
            referralCode: 0,
        };
        self.tx(evm, user, self.pool, &call, "LendingPool.deposit")?;
        Ok(())
    }

    /// `LendingPool.borrow` at the variable rate.
    pub fn borrow<DB>(&self, evm: &mut Evm<DB>, user: Address, i: usize, amount: U256) -> Result<()>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        let call = ILendingPool::borrowCall {
            asset: self.reserve(i)?.underlying,
            amount,
            interestRateMode: U256::from(2u8),
            referralCode: 0,
            onBehalfOf: user,
        };
        self.tx(evm, user, self.pool, &call, "LendingPool.borrow")?;
        Ok(())
    }

    /// The mock `PriceOracle` holding the ETH/USD price (the market's oracle under `settable`).
    pub fn eth_usd_oracle(&self) -> Address {
        self.price_oracle_mock.unwrap_or(self.oracle)
    }

    /// The keeper's transaction moving reserve `i`'s price to `price` (wei per whole token):
    /// `setAssetPrice` on the mock under `settable`, else the mechanism's move
    /// (`protocol::oracles::price_move_call`, 18 decimals).
    pub fn price_call(&self, i: usize, price: U256) -> Result<crate::protocol::market::Call> {
        let r = self.reserve(i)?;
        match (self.oracle_mechanism, r.price_mover) {
            (OracleMechanism::Settable, _) => Ok(crate::protocol::market::Call {
                to: self.oracle,
                input: IPriceOracle::setAssetPriceCall {
                    asset: r.underlying,
                    price,
                }
                .abi_encode()
                .into(),
            }),
            (mechanism, Some(mover)) => crate::protocol::oracles::price_move_call(
                mechanism,
                mover,
                r.underlying,
                &r.symbol,
                price,
                18,
            ),
            (mechanism, None) => Err(Error::config(
                "market.oracle",
                mechanism.as_str(),
                format!("a deployment recording {}'s price mover", r.symbol),
            )),
        }
    }

    /// The market oracle's `getAssetPrice` of reserve `i` (wei per whole token).
    pub fn price<DB>(&self, evm: &mut Evm<DB>, i: usize) -> Result<U256>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        evm.view(
            self.oracle,
            &IPriceOracle::getAssetPriceCall {
                asset: self.reserve(i)?.underlying,
            },
            "getAssetPrice",
        )
    }

    /// Sets reserve `i`'s price in wei per whole token (a transaction from the admin).
    pub fn set_price<DB>(&self, evm: &mut Evm<DB>, i: usize, price: U256) -> Result<()>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        if self.oracle_mechanism.is_settable() {
            let call = IPriceOracle::setAssetPriceCall {
                asset: self.reserve(i)?.underlying,
                price,
            };
            self.tx(
                evm,
                self.admin,
                self.oracle,
                &call,
                "PriceOracle.setAssetPrice",
            )?;
            return Ok(());
        }
        let call = self.price_call(i, price)?;
        let gas = self
            .oracle_mechanism
            .price_call_gas()
            .unwrap_or(crate::protocol::oracles::MECHANISM_GAS);
        evm.send(
            self.admin,
            alloy_primitives::TxKind::Call(call.to),
            call.input,
            U256::ZERO,
            gas,
        )?
        .into_result(format!("moving the price of {}", self.reserve(i)?.symbol))?;
        Ok(())
    }

    /// `LendingPool.liquidationCall` from `liquidator` (holding and having approved the debt
    /// asset). A refusal is [`Error::Reverted`] whose reason is the code and its name, e.g.
    /// `42 (LPCM_HEALTH_FACTOR_NOT_BELOW_THRESHOLD)`.
    #[allow(clippy::too_many_arguments)]
    pub fn liquidation_call<DB>(
        &self,
        evm: &mut Evm<DB>,
        liquidator: Address,
        collateral: usize,
        debt: usize,
        user: Address,
        debt_to_cover: U256,
        receive_a_token: bool,
    ) -> Result<(LiquidationCallEvent, u64)>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        let call = ILendingPool::liquidationCallCall {
            collateralAsset: self.reserve(collateral)?.underlying,
            debtAsset: self.reserve(debt)?.underlying,
            user,
            debtToCover: debt_to_cover,
            receiveAToken: receive_a_token,
        };
        let outcome = self.tx(
            evm,
            liquidator,
            self.pool,
            &call,
            "LendingPool.liquidationCall",
        )?;
        let event = decode_liquidation_calls(&outcome.logs)
            .into_iter()
            .next()
            .ok_or_else(|| Error::Decode {
                what: "LiquidationCall event".into(),
                message: "liquidationCall succeeded without emitting it".into(),
            })?;
        Ok((event, outcome.gas_used))
    }

    /// `LendingPool.getUserAccountData`.
    pub fn account_data<DB>(&self, evm: &mut Evm<DB>, user: Address) -> Result<AccountData>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        let r = evm.view(
            self.pool,
            &ILendingPool::getUserAccountDataCall { user },
            "getUserAccountData",
        )?;
        Ok(AccountData {
            total_collateral_base: r.totalCollateralETH,
            total_debt_base: r.totalDebtETH,
            available_borrows_base: r.availableBorrowsETH,
            current_liquidation_threshold: r.currentLiquidationThreshold,
            ltv: r.ltv,
            health_factor: r.healthFactor,
        })
    }

    /// ERC-20 `balanceOf` of `token`.
    pub fn balance<DB>(&self, evm: &mut Evm<DB>, token: Address, owner: Address) -> Result<U256>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        evm.view(
            token,
            &IScaledBalanceToken::balanceOfCall { owner },
            "balanceOf",
        )
    }

    /// Reads the user's balances, prices and collateral flags as the shared math consumes them.
    pub fn read_user<DB>(&self, evm: &mut Evm<DB>, user: Address) -> Result<Vec<UserReserve>>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        let config = evm.view(
            self.pool,
            &ILendingPool::getUserConfigurationCall { user },
            "getUserConfiguration",
        )?;
        let mut out = Vec::with_capacity(self.reserves.len());
        for (i, r) in self.reserves.iter().enumerate() {
            let debt = self.balance(evm, r.variable_debt_token, user)?
                + self.balance(evm, r.stable_debt_token, user)?;
            out.push(UserReserve {
                collateral_balance: self.balance(evm, r.a_token, user)?,
                debt_balance: debt,
                price: evm.view(
                    self.oracle,
                    &IPriceOracle::getAssetPriceCall {
                        asset: r.underlying,
                    },
                    "getAssetPrice",
                )?,
                decimals: r.decimals,
                ltv: r.ltv_bps,
                liquidation_threshold: r.liquidation_threshold_bps,
                usage_as_collateral: config.data.bit(2 * i + 1),
                borrowing: config.data.bit(2 * i),
            });
        }
        Ok(out)
    }
}

/// The shared math's prediction of a `liquidationCall`: `Ok(Ok(outcome))`, `Ok(Err(code))` with
/// the refusal code the protocol must return, or `Err` for a math error.
///
/// `available_underlying` is the collateral aToken's underlying balance (code 45 check); the two
/// indexes (`getReserveNormalizedVariableDebt(debt)`, `getReserveNormalizedIncome(collateral)`)
/// decide code 23 (`LP_LIQUIDATION_CALL_FAILED`): the collateral manager's delegatecall itself
/// reverts when the debt burn or, taking underlying, the aToken burn scales to 0
/// (`CT_INVALID_BURN_AMOUNT` inside), e.g. when `debtToCover` is 0, or when its SafeMath
/// overflows (`debtPrice · debt · 10^collateralDecimals` beyond 2^256 for 27-decimal collateral).
#[allow(clippy::too_many_arguments)]
pub fn predict_liquidation(
    user: &[UserReserve],
    collateral: usize,
    debt: usize,
    debt_to_cover: U256,
    receive_a_token: bool,
    collateral_bonus_bps: u16,
    available_underlying: U256,
    debt_variable_index: U256,
    collateral_liquidity_index: U256,
) -> Result<std::result::Result<LiquidationOutcomeV2, &'static str>> {
    let account = aave_math::calculate_user_account_data(user)?;
    if !aave_math::is_liquidatable(account.health_factor) {
        return Ok(Err("42"));
    }
    let (Some(c), Some(d)) = (user.get(collateral), user.get(debt)) else {
        return Err(Error::Unknown {
            kind: "reserve index",
            name: format!("{collateral}/{debt}"),
            known: format!("0..{}", user.len()),
        });
    };
    if c.liquidation_threshold == 0 || !c.usage_as_collateral {
        return Ok(Err("43"));
    }
    if d.debt_balance.is_zero() {
        return Ok(Err("44"));
    }
    // An overflow in the collateral manager's SafeMath (`mul`, `percentMul`, `percentDiv`)
    // reverts inside the delegatecall, which the pool reports as 23 (LP_LIQUIDATION_CALL_FAILED).
    let outcome = match liquidation_outcome_v2(&LiquidationInputV2 {
        user_debt: d.debt_balance,
        debt_to_cover,
        user_collateral_balance: c.collateral_balance,
        collateral_price: c.price,
        collateral_decimals: c.decimals,
        debt_price: d.price,
        debt_decimals: d.decimals,
        liquidation_bonus: collateral_bonus_bps,
    }) {
        Ok(outcome) => outcome,
        Err(Error::Math { .. }) => return Ok(Err("23")),
        Err(other) => return Err(other),
    };
    if !receive_a_token && available_underlying < outcome.collateral_to_liquidator {
        return Ok(Err("45"));
    }
    if ray_div(outcome.debt_repaid, debt_variable_index)?.is_zero()
        || (!receive_a_token
            && ray_div(outcome.collateral_to_liquidator, collateral_liquidity_index)?.is_zero())
    {
        return Ok(Err("23"));
    }
    Ok(Ok(outcome))
}

/// Aave V2 in the protocol registry.
#[derive(Debug, Clone, Copy)]
pub struct AaveV2;

impl crate::protocol::spec::Protocol for AaveV2 {
    type Config = config::MarketConfig;
    type Market = AaveV2Market;
    type Book = market::AaveV2Book;
    const CAPABILITIES: crate::protocol::spec::Capabilities = crate::protocol::spec::Capabilities {
        flash_loans: true,
        receive_shares: true,
    };
    const PACKAGE: &'static crate::protocol::artifacts::NpmPackage =
        &crate::protocol::artifacts::AAVE_V2;
    const ORACLE_KEEPER: &'static str = "aave-v2-admin";

    fn deploy<DB>(
        evm: &mut Evm<DB>,
        artifacts: &crate::protocol::artifacts::ArtifactStore,
        config: &config::MarketConfig,
    ) -> Result<AaveV2Market>
    where
        DB: revm::DatabaseRef,
        DB::Error: revm::database_interface::DBErrorMarker + std::fmt::Display,
    {
        deploy::deploy_market(evm, artifacts, config)
    }

    fn book<DB>(
        market: &AaveV2Market,
        evm: &mut Evm<DB>,
        users: &[Address],
    ) -> Result<market::AaveV2Book>
    where
        DB: revm::DatabaseRef,
        DB::Error: revm::database_interface::DBErrorMarker + std::fmt::Display,
    {
        market::AaveV2Book::new(market, evm, users)
    }

    fn verify(
        artifacts: &crate::protocol::artifacts::ArtifactStore,
        seed: u64,
        cases: u64,
        markets: usize,
        only_position: Option<u64>,
    ) -> Result<crate::protocol::spec::Verification> {
        let report = differential::run(artifacts, seed, cases, markets, only_position)?;
        Ok(crate::protocol::spec::Verification {
            summary: format!(
                "aave-v2 differential: {} cases over {} positions in {} markets, {} mismatches, {:.1} s\n  liquidated {}, collateral-capped {}, receiveAToken {}, predicted refusals {}",
                report.cases,
                report.positions,
                report.markets,
                report.mismatches.len(),
                report.seconds,
                report.liquidated,
                report.capped,
                report.receive_a_token,
                report.predicted_reverts
            ),
            mismatches: report.mismatches,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusal_codes_are_named() {
        assert_eq!(explain_code("42"), "LPCM_HEALTH_FACTOR_NOT_BELOW_THRESHOLD");
        assert_eq!(explain_code("45"), "LPCM_NOT_ENOUGH_LIQUIDITY_TO_LIQUIDATE");
        assert_eq!(explain_code("23"), "LP_LIQUIDATION_CALL_FAILED");
        assert_eq!(explain_code("999"), "unknown");
    }

    fn reserve(collateral: u128, debt: u128, price: u128) -> UserReserve {
        UserReserve {
            collateral_balance: U256::from(collateral),
            debt_balance: U256::from(debt),
            price: U256::from(price),
            decimals: 18,
            ltv: 8000,
            liquidation_threshold: 8500,
            usage_as_collateral: collateral > 0,
            borrowing: debt > 0,
        }
    }

    #[test]
    fn prediction_order_of_refusals() {
        let ray = U256::from(10u64).pow(U256::from(27u64));
        let wad = 1_000_000_000_000_000_000u128;
        // collateral 1 ETH (LT 85%), debt 0.9 ETH: HF < 1
        let user = [reserve(wad, 0, wad), reserve(0, 9 * wad / 10, wad)];
        let p = |c, d, cover: u128, available: u128| {
            predict_liquidation(
                &user,
                c,
                d,
                U256::from(cover),
                false,
                10_500,
                U256::from(available),
                ray,
                ray,
            )
            .unwrap()
        };
        assert_eq!(p(1, 1, 1, wad), Err("43")); // not collateral
        assert_eq!(p(0, 0, 1, wad), Err("44")); // not borrowed
        assert_eq!(p(0, 1, wad, 1), Err("45")); // aToken holds too little underlying
        assert_eq!(p(0, 1, 0, wad), Err("23")); // a zero burn reverts inside the manager
        let ok = p(0, 1, wad, wad).unwrap();
        assert_eq!(ok.debt_repaid, U256::from(45 * wad / 100)); // 50% close factor
        let healthy = [reserve(wad, 0, wad), reserve(0, wad / 2, wad)];
        assert_eq!(
            predict_liquidation(
                &healthy,
                0,
                1,
                U256::MAX,
                true,
                10_500,
                U256::ZERO,
                ray,
                ray
            )
            .unwrap(),
            Err("42")
        );
    }
}
