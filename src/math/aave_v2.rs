//! Aave V2 (`@aave/protocol-v2` 1.0.1) liquidation math, where it differs from Aave V3.
//!
//! The account data (`GenericLogic.calculateUserAccountData`, `calculateHealthFactorFromBalances`,
//! `calculateAvailableBorrowsETH`) is the same computation as V3's outside eMode, with prices in
//! ETH (wei) instead of the USD base currency, so [`crate::math::aave::user_account_data`] is
//! reused as is. The liquidation (`LendingPoolCollateralManager.liquidationCall`) differs:
//!
//! * the close factor is always 50% (`LIQUIDATION_CLOSE_FACTOR_PERCENT = 5000`); V3 allows 100%
//!   at a health factor ≤ 0.95;
//! * the collateral for the debt applies the bonus **before** dividing by the collateral price:
//!   `debtPrice·debt·10^collDec .percentMul(bonus) / (collPrice·10^debtDec)`; V3 divides first and
//!   then applies `percentMul(bonus)`, so the two can differ by a wei or more;
//! * there is no liquidation protocol fee: all seized collateral goes to the liquidator;
//! * when the liquidator takes underlying (`receiveAToken = false`) and the collateral aToken holds
//!   less underlying than the seized amount, the call fails with code 45
//!   (`LPCM_NOT_ENOUGH_LIQUIDITY_TO_LIQUIDATE`) instead of reverting inside the transfer;
//! * refusals are returned by the collateral manager as `(code, message)` and turned into a
//!   revert with the message by `LendingPool` (`"42"`, `"43"`, `"44"`, `"45"`).

use alloy_primitives::U256;

use crate::error::Result;
use crate::math::fixed::{checked_div, checked_mul, percent_div, percent_mul, pow10};

/// `LIQUIDATION_CLOSE_FACTOR_PERCENT`: 50% of the debt, at any health factor.
pub const LIQUIDATION_CLOSE_FACTOR_PERCENT: U256 = U256::from_limbs([5_000, 0, 0, 0]);

/// What `LendingPoolCollateralManager.liquidationCall` needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiquidationInputV2 {
    /// The user's stable + variable debt in the debt asset.
    pub user_debt: U256,
    /// `debtToCover` as passed.
    pub debt_to_cover: U256,
    /// The user's collateral aToken balance.
    pub user_collateral_balance: U256,
    /// Collateral price in ETH (wei per whole token).
    pub collateral_price: U256,
    /// Collateral decimals.
    pub collateral_decimals: u8,
    /// Debt price in ETH (wei per whole token).
    pub debt_price: U256,
    /// Debt decimals.
    pub debt_decimals: u8,
    /// Collateral liquidation bonus in bps (10500 = 5%).
    pub liquidation_bonus: u16,
}

/// What the liquidation moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiquidationOutcomeV2 {
    /// `percentMul(userDebt, 5000)`.
    pub max_liquidatable_debt: U256,
    /// Debt repaid by the liquidator (`actualDebtToLiquidate`).
    pub debt_repaid: U256,
    /// Collateral to the liquidator (`maxCollateralToLiquidate`).
    pub collateral_to_liquidator: U256,
    /// Whether the user's collateral balance capped it.
    pub collateral_capped: bool,
}

/// Port of `liquidationCall`'s amounts (after validation) and `_calculateAvailableCollateralToLiquidate`:
/// ```text
/// maxLiquidatableDebt = percentMul(stableDebt + variableDebt, 5000)
/// actualDebt          = min(debtToCover, maxLiquidatableDebt)
/// maxCollateral       = percentMul(debtPrice * actualDebt * 10^collDec, bonus) / (collPrice * 10^debtDec)
/// if maxCollateral > userCollateralBalance:
///     collateral = userCollateralBalance
///     debtNeeded = percentDiv(collPrice * collateral * 10^debtDec / (debtPrice * 10^collDec), bonus)
/// else (maxCollateral, actualDebt)
/// actualDebt = min(actualDebt, debtNeeded)
/// ```
/// Worked example: debt 1000 USDC (6 dec, 0.0005 ETH), collateral WETH (18 dec, 1 ETH), bonus
/// 10500, debt to cover 400e6: maxCollateral = `percentMul(5e14·400e6·1e18, 10500) / (1e18·1e6)`
/// = `2.1e17` (0.21 WETH).
pub fn liquidation_outcome_v2(input: &LiquidationInputV2) -> Result<LiquidationOutcomeV2> {
    const OP: &str = "liquidation_outcome_v2";
    let max_liquidatable_debt = percent_mul(input.user_debt, LIQUIDATION_CLOSE_FACTOR_PERCENT)?;
    let actual_debt = input.debt_to_cover.min(max_liquidatable_debt);
    let collateral_unit = pow10(input.collateral_decimals)?;
    let debt_unit = pow10(input.debt_decimals)?;
    let bonus = U256::from(input.liquidation_bonus);
    let max_collateral = checked_div(
        OP,
        percent_mul(
            checked_mul(
                OP,
                checked_mul(OP, input.debt_price, actual_debt)?,
                collateral_unit,
            )?,
            bonus,
        )?,
        checked_mul(OP, input.collateral_price, debt_unit)?,
    )?;
    let collateral_capped = max_collateral > input.user_collateral_balance;
    let (collateral, debt_needed) = if collateral_capped {
        let collateral = input.user_collateral_balance;
        let debt_needed = percent_div(
            checked_div(
                OP,
                checked_mul(
                    OP,
                    checked_mul(OP, input.collateral_price, collateral)?,
                    debt_unit,
                )?,
                checked_mul(OP, input.debt_price, collateral_unit)?,
            )?,
            bonus,
        )?;
        (collateral, debt_needed)
    } else {
        (max_collateral, actual_debt)
    };
    Ok(LiquidationOutcomeV2 {
        max_liquidatable_debt,
        debt_repaid: actual_debt.min(debt_needed),
        collateral_to_liquidator: collateral,
        collateral_capped,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(m: u128, x: usize) -> U256 {
        U256::from(m) * U256::from(10u8).pow(U256::from(x))
    }

    fn input() -> LiquidationInputV2 {
        LiquidationInputV2 {
            user_debt: e(1000, 6),
            debt_to_cover: e(400, 6),
            user_collateral_balance: e(1, 18),
            collateral_price: e(1, 18),
            collateral_decimals: 18,
            debt_price: e(5, 14),
            debt_decimals: 6,
            liquidation_bonus: 10_500,
        }
    }

    #[test]
    fn documented_example_and_close_factor() {
        let o = liquidation_outcome_v2(&input()).unwrap();
        assert_eq!(o.max_liquidatable_debt, e(500, 6));
        assert_eq!(o.debt_repaid, e(400, 6));
        assert_eq!(o.collateral_to_liquidator, e(21, 16));
        assert!(!o.collateral_capped);
        // above the 50% cap: clamped to 500 USDC
        let o = liquidation_outcome_v2(&LiquidationInputV2 {
            debt_to_cover: U256::MAX,
            ..input()
        })
        .unwrap();
        assert_eq!(o.debt_repaid, e(500, 6));
    }

    #[test]
    fn bonus_before_division_differs_from_v3() {
        // debt price 3, debt 1, units 1: V2 = percentMul(3, 10500) / 2 = 3 / 2 = 1
        // V3 = percentMul(3 / 2, 10500) = percentMul(1, 10500) = 1; with debt 7:
        // V2 = percentMul(21, 10500) / 2 = 22 / 2 = 11; V3 = percentMul(10, 10500) = 11 (10.5 half-up)
        // and debt 9: V2 = percentMul(27, 10500)/2 = 28/2 = 14; V3 = percentMul(13, 10500) = 14 (13.65)
        // debt 5: V2 = percentMul(15, 10500)/2 = 16/2 = 8; V3 = percentMul(7, 10500) = 7 (7.35)
        let o = liquidation_outcome_v2(&LiquidationInputV2 {
            user_debt: U256::from(100u8),
            debt_to_cover: U256::from(5u8),
            user_collateral_balance: U256::from(1000u16),
            collateral_price: U256::from(2u8),
            collateral_decimals: 0,
            debt_price: U256::from(3u8),
            debt_decimals: 0,
            liquidation_bonus: 10_500,
        })
        .unwrap();
        assert_eq!(o.collateral_to_liquidator, U256::from(8u8));
    }

    #[test]
    fn capped_by_collateral_balance() {
        let o = liquidation_outcome_v2(&LiquidationInputV2 {
            user_collateral_balance: e(1, 17),
            ..input()
        })
        .unwrap();
        assert!(o.collateral_capped);
        assert_eq!(o.collateral_to_liquidator, e(1, 17));
        // 0.1 ETH / 0.0005 = 200 USDC, / 1.05 = 190.476190 (half-up)
        assert_eq!(o.debt_repaid, U256::from(190_476_190u64));
    }
}
