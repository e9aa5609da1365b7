//! Liquidator profit accounting in base currency and wei (bonus − gas − flash-loan premium), plus report-only float conversion.
//!
//! All protocol-facing arithmetic is integer (`U256`/`I256`, checked). Formulas
//! (`unit(d) = 10^d`, all divisions floor unless stated):
//!
//! ```text
//! collateral_value_base  = collateral_received * collateral_price / unit(collateral_decimals)
//! debt_value_base        = debt_repaid * debt_price / unit(debt_decimals)
//! bonus_value_base       = collateral_value_base - debt_value_base            (signed)
//! gas_cost_wei           = gas_used * gas_price_wei
//! gas_cost_base          = gas_cost_wei * eth_price / 1e18
//! flash_loan_premium     = percentMul(debt_repaid, flash_loan_premium_bps)    (Aave half-up, as FlashLoanLogic)
//! flash_loan_premium_base= flash_loan_premium * debt_price / unit(debt_decimals)
//! net_profit_base        = bonus_value_base - gas_cost_base - flash_loan_premium_base
//! net_profit_wei         = net_profit_base * 1e18 / eth_price                 (truncating toward zero)
//! ```
//! Only [`to_f64_lossy`] / [`i256_to_f64_lossy`] produce floats, for reports.

use alloy_primitives::{I256, U256};

use crate::error::Result;
use crate::math::aave::{collateral_value_base, debt_value_base};
use crate::math::fixed::{checked_div, checked_mul, math_err, percent_mul, WAD};

/// Inputs of one liquidation's profit computation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProfitInput {
    /// Collateral received by the liquidator, in collateral-asset units.
    pub collateral_received: U256,
    /// Base-currency price of the collateral asset.
    pub collateral_price: U256,
    /// Collateral asset decimals.
    pub collateral_decimals: u8,
    /// Debt repaid by the liquidator, in debt-asset units.
    pub debt_repaid: U256,
    /// Base-currency price of the debt asset.
    pub debt_price: U256,
    /// Debt asset decimals.
    pub debt_decimals: u8,
    /// Gas used by the liquidation transaction.
    pub gas_used: u64,
    /// Effective gas price in wei (base fee + priority fee).
    pub gas_price_wei: U256,
    /// Base-currency price of ETH, same units as the other prices.
    pub eth_price: U256,
    /// Flash-loan premium in bps (1e4 = 100 %); 0 when self-funded.
    pub flash_loan_premium_bps: U256,
}

/// Profit breakdown of one liquidation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Profit {
    /// Value of collateral received minus value of debt repaid, base currency.
    pub bonus_value_base: I256,
    /// `gas_used * gas_price_wei`.
    pub gas_cost_wei: U256,
    /// Gas cost in base currency: `gas_cost_wei * eth_price / 1e18`.
    pub gas_cost_base: U256,
    /// Flash-loan premium in debt-asset units: `percentMul(debt_repaid, premium_bps)`.
    pub flash_loan_premium: U256,
    /// Flash-loan premium in base currency.
    pub flash_loan_premium_base: U256,
    /// `bonus_value_base - gas_cost_base - flash_loan_premium_base`.
    pub net_profit_base: I256,
    /// `net_profit_base * 1e18 / eth_price`, truncated toward zero.
    pub net_profit_wei: I256,
}

/// Converts to `I256`, `Err` if the value exceeds `I256::MAX`.
fn to_i256(op: &'static str, v: U256) -> Result<I256> {
    I256::try_from(v).map_err(|_| math_err(op, "value exceeds I256::MAX"))
}

/// Computes the [`Profit`] of a liquidation; see the module docs for the exact formulas.
///
/// `Err` on any overflow, on `eth_price == 0`, or on decimals above 77.
pub fn liquidation_profit(input: &ProfitInput) -> Result<Profit> {
    const OP: &str = "liquidation_profit";
    let collateral_value = collateral_value_base(
        input.collateral_received,
        input.collateral_price,
        input.collateral_decimals,
    )?;
    let debt_value = debt_value_base(input.debt_repaid, input.debt_price, input.debt_decimals)?;
    let bonus_value_base = to_i256(OP, collateral_value)?
        .checked_sub(to_i256(OP, debt_value)?)
        .ok_or_else(|| math_err(OP, "bonus overflow"))?;

    let gas_cost_wei = checked_mul(OP, U256::from(input.gas_used), input.gas_price_wei)?;
    let gas_cost_base = checked_div(OP, checked_mul(OP, gas_cost_wei, input.eth_price)?, WAD)?;

    let flash_loan_premium = percent_mul(input.debt_repaid, input.flash_loan_premium_bps)?;
    let flash_loan_premium_base =
        debt_value_base(flash_loan_premium, input.debt_price, input.debt_decimals)?;

    let net_profit_base = bonus_value_base
        .checked_sub(to_i256(OP, gas_cost_base)?)
        .ok_or_else(|| math_err(OP, "net profit overflow"))?
        .checked_sub(to_i256(OP, flash_loan_premium_base)?)
        .ok_or_else(|| math_err(OP, "net profit overflow"))?;

    if input.eth_price.is_zero() {
        return Err(math_err(OP, "eth_price is 0 (division by zero)"));
    }
    let net_profit_wei = net_profit_base
        .checked_mul(to_i256(OP, WAD)?)
        .ok_or_else(|| math_err(OP, "net profit wei overflow"))?
        .checked_div(to_i256(OP, input.eth_price)?)
        .ok_or_else(|| math_err(OP, "net profit wei division"))?;

    Ok(Profit {
        bonus_value_base,
        gas_cost_wei,
        gas_cost_base,
        flash_loan_premium,
        flash_loan_premium_base,
        net_profit_base,
        net_profit_wei,
    })
}

/// `value / 10^decimals` as `f64`, correctly rounded from the exact decimal string.
///
/// **Report-only**: never use the result in protocol math; it loses precision beyond ~15–17
/// significant digits.
pub fn to_f64_lossy(value: U256, decimals: u8) -> f64 {
    let digits = value.to_string();
    let d = usize::from(decimals);
    let text = if d == 0 {
        digits
    } else if digits.len() > d {
        let (int, frac) = digits.split_at(digits.len() - d);
        format!("{int}.{frac}")
    } else {
        format!("0.{}{digits}", "0".repeat(d - digits.len()))
    };
    text.parse::<f64>().unwrap_or(f64::NAN)
}

/// Signed variant of [`to_f64_lossy`] for `I256` values. **Report-only.**
pub fn i256_to_f64_lossy(value: I256, decimals: u8) -> f64 {
    let (sign, abs) = value.into_sign_and_abs();
    let magnitude = to_f64_lossy(abs, decimals);
    if sign.is_negative() {
        -magnitude
    } else {
        magnitude
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(v: u128) -> U256 {
        U256::from(v)
    }

    fn i(v: i128) -> I256 {
        I256::try_from(v).expect("i128 fits")
    }

    fn base_input() -> ProfitInput {
        // Base currency USD 8 decimals. Liquidator repaid 5000 USDC, got 2.6125 WETH at $2000.
        ProfitInput {
            collateral_received: u(2_612_500_000_000_000_000),
            collateral_price: u(200_000_000_000),
            collateral_decimals: 18,
            debt_repaid: u(5_000_000_000),
            debt_price: u(100_000_000),
            debt_decimals: 6,
            gas_used: 400_000,
            gas_price_wei: u(25_000_000_000), // 25 gwei
            eth_price: u(200_000_000_000),
            flash_loan_premium_bps: u(5), // 0.05 %
        }
    }

    #[test]
    fn profit_by_hand() {
        // collateral value = 2.6125e18 * 2000e8 / 1e18 = 522_500_000_000 ($5225)
        // debt value       = 5000e6 * 1e8 / 1e6       = 500_000_000_000 ($5000)
        // bonus            = 22_500_000_000 ($225)
        // gas wei          = 400_000 * 25e9 = 1e16 (0.01 ETH); base = 1e16 * 2000e8 / 1e18 = 2_000_000_000 ($20)
        // premium          = percentMul(5000e6, 5) = 2_500_000 (2.5 USDC); base = 250_000_000
        // net base         = 22_500_000_000 - 2_000_000_000 - 250_000_000 = 20_250_000_000 ($202.5)
        // net wei          = 20_250_000_000 * 1e18 / 2000e8 = 101_250_000_000_000_000 (0.10125 ETH)
        let p = liquidation_profit(&base_input()).unwrap();
        assert_eq!(p.bonus_value_base, i(22_500_000_000));
        assert_eq!(p.gas_cost_wei, u(10_000_000_000_000_000));
        assert_eq!(p.gas_cost_base, u(2_000_000_000));
        assert_eq!(p.flash_loan_premium, u(2_500_000));
        assert_eq!(p.flash_loan_premium_base, u(250_000_000));
        assert_eq!(p.net_profit_base, i(20_250_000_000));
        assert_eq!(p.net_profit_wei, i(101_250_000_000_000_000));
    }

    #[test]
    fn negative_profit_truncates_toward_zero() {
        // bonus 1 base unit, gas 0.01 ETH = 3 base units at eth_price 300 -> net -2 base;
        // net wei = -2 * 1e18 / 300 = -6_666_666_666_666_666.67 -> -6_666_666_666_666_666
        let input = ProfitInput {
            collateral_received: u(101),
            collateral_price: u(1),
            collateral_decimals: 0,
            debt_repaid: u(100),
            debt_price: u(1),
            debt_decimals: 0,
            gas_used: 1,
            gas_price_wei: u(10_000_000_000_000_000),
            eth_price: u(300),
            flash_loan_premium_bps: U256::ZERO,
        };
        let p = liquidation_profit(&input).unwrap();
        assert_eq!(p.bonus_value_base, i(1));
        assert_eq!(p.gas_cost_base, u(3));
        assert_eq!(p.flash_loan_premium, U256::ZERO);
        assert_eq!(p.net_profit_base, i(-2));
        assert_eq!(p.net_profit_wei, i(-6_666_666_666_666_666));
    }

    #[test]
    fn premium_uses_percent_mul_half_up() {
        // 5 bps of 1_000 = 0.5 -> 1 (half up); 5 bps of 999 = 0.4995 -> 0
        let mut input = base_input();
        input.debt_repaid = u(1_000);
        input.collateral_received = U256::ZERO;
        let p = liquidation_profit(&input).unwrap();
        assert_eq!(p.flash_loan_premium, u(1));
        input.debt_repaid = u(999);
        assert_eq!(
            liquidation_profit(&input).unwrap().flash_loan_premium,
            U256::ZERO
        );
    }

    #[test]
    fn profit_errors() {
        let mut input = base_input();
        input.eth_price = U256::ZERO;
        assert!(liquidation_profit(&input).is_err());
        let mut input = base_input();
        input.collateral_received = U256::MAX;
        assert!(liquidation_profit(&input).is_err());
        let mut input = base_input();
        input.gas_price_wei = U256::MAX;
        assert!(liquidation_profit(&input).is_err());
        let mut input = base_input();
        input.collateral_decimals = 200;
        assert!(liquidation_profit(&input).is_err());
    }

    #[test]
    fn float_conversion_is_report_only_but_accurate() {
        assert_eq!(to_f64_lossy(u(1_500_000), 6), 1.5);
        assert_eq!(to_f64_lossy(u(5), 3), 0.005);
        assert_eq!(to_f64_lossy(u(123), 0), 123.0);
        assert_eq!(to_f64_lossy(U256::ZERO, 18), 0.0);
        assert_eq!(to_f64_lossy(u(2_612_500_000_000_000_000), 18), 2.6125);
        assert!((to_f64_lossy(U256::MAX, 0) - 1.157_920_892_373_162e77).abs() < 1e62);
        assert_eq!(i256_to_f64_lossy(i(-20_250_000_000), 8), -202.5);
        assert_eq!(i256_to_f64_lossy(i(7), 1), 0.7);
        assert_eq!(i256_to_f64_lossy(I256::MIN, 77), -(2f64.powi(255)) / 1e77);
    }
}
