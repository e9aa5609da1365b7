//! Compound V2 (and forks) liquidation math: account liquidity, close-factor cap, seize tokens and the protocol seize share.
//!
//! Ported from Compound V2's `Comptroller.sol`, `CToken.sol` and `ExponentialNoError.sol`
//! (`expScale = 1e18`, every `Exp` operation truncates). The relevant primitives are:
//!
//! ```text
//! mul_(Exp a, Exp b)                      = Exp(a.mantissa * b.mantissa / 1e18)
//! mul_(uint a, Exp b)                     = a * b.mantissa / 1e18
//! div_(Exp a, Exp b)                      = Exp(a.mantissa * 1e18 / b.mantissa)
//! mul_ScalarTruncate(Exp a, uint s)       = a.mantissa * s / 1e18
//! mul_ScalarTruncateAddUInt(Exp a, s, x)  = a.mantissa * s / 1e18 + x
//! ```
//! Solidity ≥0.8 checked arithmetic reverts on overflow / division by zero; those cases and
//! Comptroller's `PRICE_ERROR` (oracle price 0) return [`crate::error::Error::Math`].

use alloy_primitives::U256;

use crate::error::Result;
use crate::math::fixed::{checked_add, checked_div, checked_mul, checked_sub, math_err, EXP_SCALE};

/// `ExponentialNoError.mul_(Exp, Exp)`: `a * b / 1e18` (truncating).
pub fn mul_exp(a: U256, b: U256) -> Result<U256> {
    checked_div("mul_exp", checked_mul("mul_exp", a, b)?, EXP_SCALE)
}

/// `ExponentialNoError.div_(Exp, Exp)`: `a * 1e18 / b` (truncating); `Err` when `b == 0`.
pub fn div_exp(a: U256, b: U256) -> Result<U256> {
    checked_div("div_exp", checked_mul("div_exp", a, EXP_SCALE)?, b)
}

/// `ExponentialNoError.mul_ScalarTruncate(Exp a, uint scalar)`: `a * scalar / 1e18`.
/// (`mul_(uint, Exp)` is the same computation.)
pub fn mul_scalar_truncate(a_mantissa: U256, scalar: U256) -> Result<U256> {
    checked_div(
        "mul_scalar_truncate",
        checked_mul("mul_scalar_truncate", a_mantissa, scalar)?,
        EXP_SCALE,
    )
}

/// `ExponentialNoError.mul_ScalarTruncateAddUInt(Exp a, uint scalar, uint addend)`:
/// `a * scalar / 1e18 + addend`.
pub fn mul_scalar_truncate_add_uint(a_mantissa: U256, scalar: U256, addend: U256) -> Result<U256> {
    checked_add(
        "mul_scalar_truncate_add_uint",
        mul_scalar_truncate(a_mantissa, scalar)?,
        addend,
    )
}

/// One market the account has entered, as `getHypotheticalAccountLiquidityInternal` reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CompoundAccountAsset {
    /// cToken/vToken balance (`getAccountSnapshot` `cTokenBalance`).
    pub vtoken_balance: U256,
    /// Borrow balance in underlying units (`borrowBalanceStored`).
    pub borrow_balance: U256,
    /// `exchangeRateStored` mantissa (underlying per cToken × 1e18).
    pub exchange_rate_mantissa: U256,
    /// `oracle.getUnderlyingPrice(cToken)`: USD (or ETH) price × 1e(36 − underlying decimals).
    pub oracle_price_mantissa: U256,
    /// `markets[cToken].collateralFactorMantissa` (1e18 = 100 %).
    pub collateral_factor_mantissa: U256,
}

/// Result of `getHypotheticalAccountLiquidityInternal` plus its two running sums.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AccountLiquidity {
    /// `sumCollateral - sumBorrowPlusEffects` when positive, else 0.
    pub liquidity: U256,
    /// `sumBorrowPlusEffects - sumCollateral` when collateral does not exceed borrows, else 0.
    /// The account is liquidatable iff `shortfall > 0`.
    pub shortfall: U256,
    /// Σ truncate(collateralFactor·exchangeRate·price · cTokenBalance) — collateral-factor weighted.
    pub sum_collateral: U256,
    /// Σ truncate(price · borrowBalance).
    pub sum_borrow: U256,
}

/// Compound V2 `Comptroller.getHypotheticalAccountLiquidityInternal(account, address(0), 0, 0)`.
///
/// For each asset (in `accountAssets` order):
/// ```text
/// if oraclePrice == 0: PRICE_ERROR
/// tokensToDenom   = mul_(mul_(collateralFactor, exchangeRate), oraclePrice)
/// sumCollateral   = mul_ScalarTruncateAddUInt(tokensToDenom, cTokenBalance, sumCollateral)
/// sumBorrowPlusEffects = mul_ScalarTruncateAddUInt(oraclePrice, borrowBalance, sumBorrowPlusEffects)
/// ```
/// then `sumCollateral > sumBorrow ? (sumCollateral - sumBorrow, 0) : (0, sumBorrow - sumCollateral)`.
pub fn account_liquidity(assets: &[CompoundAccountAsset]) -> Result<AccountLiquidity> {
    let mut sum_collateral = U256::ZERO;
    let mut sum_borrow = U256::ZERO;
    for a in assets {
        if a.oracle_price_mantissa.is_zero() {
            return Err(math_err(
                "account_liquidity",
                "PRICE_ERROR: oracle price is 0",
            ));
        }
        let tokens_to_denom = mul_exp(
            mul_exp(a.collateral_factor_mantissa, a.exchange_rate_mantissa)?,
            a.oracle_price_mantissa,
        )?;
        sum_collateral =
            mul_scalar_truncate_add_uint(tokens_to_denom, a.vtoken_balance, sum_collateral)?;
        sum_borrow =
            mul_scalar_truncate_add_uint(a.oracle_price_mantissa, a.borrow_balance, sum_borrow)?;
    }
    let (liquidity, shortfall) = if sum_collateral > sum_borrow {
        (sum_collateral - sum_borrow, U256::ZERO)
    } else {
        (U256::ZERO, sum_borrow - sum_collateral)
    };
    Ok(AccountLiquidity {
        liquidity,
        shortfall,
        sum_collateral,
        sum_borrow,
    })
}

/// `liquidateBorrowAllowed`'s cap: `maxClose = mul_ScalarTruncate(Exp(closeFactorMantissa), borrowBalance)`;
/// a `repayAmount` above it is `TOO_MUCH_REPAY`.
pub fn max_repay(borrow_balance: U256, close_factor_mantissa: U256) -> Result<U256> {
    mul_scalar_truncate(close_factor_mantissa, borrow_balance)
}

/// Compound V2 `Comptroller.liquidateCalculateSeizeTokens`:
///
/// ```text
/// if priceBorrowed == 0 || priceCollateral == 0: PRICE_ERROR
/// numerator   = mul_(Exp(liquidationIncentive), Exp(priceBorrowed))
/// denominator = mul_(Exp(priceCollateral), Exp(exchangeRate))
/// ratio       = div_(numerator, denominator)
/// seizeTokens = mul_ScalarTruncate(ratio, actualRepayAmount)
/// ```
/// Each step truncates. Example: repay 100 USDC (`100e6`, price `1e30`), cETH exchange rate
/// `2e26`, ETH price `2000e18`, incentive `1.08e18`: numerator `1.08e30`, denominator `4e29`,
/// ratio `2.7e18`, seize `2.7e8` = 2.7 cETH (worth 0.054 ETH = $108).
pub fn liquidate_calculate_seize_tokens(
    price_borrowed_mantissa: U256,
    price_collateral_mantissa: U256,
    exchange_rate_mantissa: U256,
    liquidation_incentive_mantissa: U256,
    actual_repay_amount: U256,
) -> Result<U256> {
    if price_borrowed_mantissa.is_zero() || price_collateral_mantissa.is_zero() {
        return Err(math_err(
            "liquidate_calculate_seize_tokens",
            "PRICE_ERROR: oracle price is 0",
        ));
    }
    let numerator = mul_exp(liquidation_incentive_mantissa, price_borrowed_mantissa)?;
    let denominator = mul_exp(price_collateral_mantissa, exchange_rate_mantissa)?;
    let ratio = div_exp(numerator, denominator)?;
    mul_scalar_truncate(ratio, actual_repay_amount)
}

/// `CToken.seizeInternal` split (Compound V2 with `protocolSeizeShareMantissa`):
/// `protocolSeizeTokens = mul_(seizeTokens, Exp(protocolSeizeShareMantissa))` (truncating),
/// `liquidatorSeizeTokens = seizeTokens - protocolSeizeTokens`.
/// Returns `(liquidator, protocol)`; `Err` if the share exceeds 100 % (underflow).
pub fn split_seize_tokens(
    seize_tokens: U256,
    protocol_seize_share_mantissa: U256,
) -> Result<(U256, U256)> {
    let protocol = mul_scalar_truncate(protocol_seize_share_mantissa, seize_tokens)?;
    let liquidator = checked_sub("split_seize_tokens", seize_tokens, protocol)?;
    Ok((liquidator, protocol))
}

/// Underlying amount of `ctokens` at `exchange_rate_mantissa`: `mul_ScalarTruncate(exchangeRate, ctokens)`
/// (e.g. `protocolSeizeAmount` in `seizeInternal`, or what `redeem` pays out).
pub fn ctokens_to_underlying(ctokens: U256, exchange_rate_mantissa: U256) -> Result<U256> {
    mul_scalar_truncate(exchange_rate_mantissa, ctokens)
}

/// One entered market as Venus isolated pools' `_getHypotheticalLiquiditySnapshot` reads it.
///
/// `weight_mantissa` is the liquidation threshold for `getAccountLiquidity` and liquidation
/// checks, or the collateral factor for borrowing power.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VenusAccountAsset {
    /// vToken balance (`getAccountSnapshot`).
    pub vtoken_balance: U256,
    /// Borrow balance in underlying units (`borrowBalanceStored`).
    pub borrow_balance: U256,
    /// `exchangeRateStored` mantissa.
    pub exchange_rate_mantissa: U256,
    /// `oracle.getUnderlyingPrice(vToken)`: USD price × 1e(36 − underlying decimals).
    pub oracle_price_mantissa: U256,
    /// Liquidation threshold (or collateral factor) mantissa, 1e18 = 100 %.
    pub weight_mantissa: U256,
}

/// Venus isolated pools' `AccountLiquiditySnapshot` (without hypothetical effects).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VenusLiquiditySnapshot {
    /// Σ truncate(exchangeRate·price · vTokenBalance): unweighted, compared with
    /// `minLiquidatableCollateral`.
    pub total_collateral: U256,
    /// Σ truncate(weight·(exchangeRate·price) · vTokenBalance).
    pub weighted_collateral: U256,
    /// Σ truncate(price · borrowBalance).
    pub borrows: U256,
    /// `weightedCollateral - borrows` when positive, else 0.
    pub liquidity: U256,
    /// `borrows - weightedCollateral` when collateral does not exceed borrows, else 0.
    pub shortfall: U256,
}

/// Venus isolated pools (`@venusprotocol/isolated-pools` 4.4.0)
/// `Comptroller._getHypotheticalLiquiditySnapshot(account, 0, 0, 0, weight)`.
///
/// It differs from Compound V2's [`account_liquidity`] in the order of the truncating products,
/// so the two can disagree by a few wei, and it also sums the unweighted collateral:
/// ```text
/// vTokenPrice         = mul_(Exp(exchangeRate), Exp(oraclePrice))      // Compound: mul_(cf, er) first
/// weightedVTokenPrice = mul_(weight, vTokenPrice)
/// weightedCollateral  = mul_ScalarTruncateAddUInt(weightedVTokenPrice, vTokenBalance, weightedCollateral)
/// totalCollateral     = mul_ScalarTruncateAddUInt(vTokenPrice, vTokenBalance, totalCollateral)
/// borrows             = mul_ScalarTruncateAddUInt(oraclePrice, borrowBalance, borrows)
/// ```
/// An oracle price of 0 is the Comptroller's `PriceError` ([`crate::error::Error::Math`]).
pub fn venus_liquidity_snapshot(assets: &[VenusAccountAsset]) -> Result<VenusLiquiditySnapshot> {
    let mut s = VenusLiquiditySnapshot::default();
    for a in assets {
        if a.oracle_price_mantissa.is_zero() {
            return Err(math_err(
                "venus_liquidity_snapshot",
                "PriceError: oracle price is 0",
            ));
        }
        let vtoken_price = mul_exp(a.exchange_rate_mantissa, a.oracle_price_mantissa)?;
        let weighted_price = mul_exp(a.weight_mantissa, vtoken_price)?;
        s.weighted_collateral =
            mul_scalar_truncate_add_uint(weighted_price, a.vtoken_balance, s.weighted_collateral)?;
        s.total_collateral =
            mul_scalar_truncate_add_uint(vtoken_price, a.vtoken_balance, s.total_collateral)?;
        s.borrows =
            mul_scalar_truncate_add_uint(a.oracle_price_mantissa, a.borrow_balance, s.borrows)?;
    }
    if s.weighted_collateral > s.borrows {
        s.liquidity = s.weighted_collateral - s.borrows;
    } else {
        s.shortfall = s.borrows - s.weighted_collateral;
    }
    Ok(s)
}

/// Venus isolated pools' `VToken._seize` split, which differs from Compound V2's
/// [`split_seize_tokens`]: the protocol share is a share of the *incentive-inclusive* seize, scaled
/// back by the incentive, and it leaves the market as underlying (to the protocol share reserve),
/// not as reserves:
/// ```text
/// protocolSeizeTokens   = div_(mul_(seizeTokens, Exp(protocolSeizeShare)), Exp(liquidationIncentive))
///                       = (seizeTokens * share / 1e18) * 1e18 / incentive
/// liquidatorSeizeTokens = seizeTokens - protocolSeizeTokens
/// protocolSeizeAmount   = mul_ScalarTruncate(Exp(exchangeRateStored), protocolSeizeTokens)
/// ```
/// Returns `(liquidator_tokens, protocol_tokens, protocol_underlying)`; `Err` when the incentive is 0.
pub fn venus_split_seize_tokens(
    seize_tokens: U256,
    protocol_seize_share_mantissa: U256,
    liquidation_incentive_mantissa: U256,
    exchange_rate_mantissa: U256,
) -> Result<(U256, U256, U256)> {
    let numerator = mul_scalar_truncate(protocol_seize_share_mantissa, seize_tokens)?;
    let protocol = div_exp(numerator, liquidation_incentive_mantissa)?;
    let liquidator = checked_sub("venus_split_seize_tokens", seize_tokens, protocol)?;
    let underlying = mul_scalar_truncate(exchange_rate_mantissa, protocol)?;
    Ok((liquidator, protocol, underlying))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    fn u(v: u128) -> U256 {
        U256::from(v)
    }

    fn e(mantissa: u128, exp: usize) -> U256 {
        U256::from(mantissa) * U256::from(10u8).pow(U256::from(exp))
    }

    #[test]
    fn exponential_primitives_truncate() {
        assert_eq!(mul_exp(e(15, 17), e(15, 17)).unwrap(), e(225, 16)); // 1.5*1.5
        assert_eq!(
            mul_exp(u(1), e(999_999_999_999_999_999, 0)).unwrap(),
            U256::ZERO
        );
        assert_eq!(div_exp(u(2), u(3)).unwrap(), u(666_666_666_666_666_666)); // truncated
        assert!(div_exp(u(1), U256::ZERO).is_err());
        assert_eq!(mul_scalar_truncate(e(5, 17), u(3)).unwrap(), u(1)); // 1.5 -> 1
        assert_eq!(
            mul_scalar_truncate_add_uint(e(5, 17), u(3), u(10)).unwrap(),
            u(11)
        );
        assert!(mul_scalar_truncate(U256::MAX, u(2)).is_err());
    }

    #[test]
    fn seize_tokens_documented_example() {
        let seize = liquidate_calculate_seize_tokens(
            e(1, 30),    // USDC price (6 decimals -> 1e30)
            e(2000, 18), // ETH price
            e(2, 26),    // cETH exchange rate
            e(108, 16),  // 1.08 incentive
            e(100, 6),   // 100 USDC
        )
        .unwrap();
        assert_eq!(seize, e(27, 7)); // 2.7 cETH (8 decimals)
        assert_eq!(ctokens_to_underlying(seize, e(2, 26)).unwrap(), e(54, 15)); // 0.054 ETH
    }

    #[test]
    fn seize_tokens_truncates_each_step() {
        // priceBorrowed 1.000123456789e30, priceCollateral 1234.56789e18, exchange rate 2.0123e26,
        // incentive 1.08e18, repay 99_999_999:
        // numerator   = 1.08e18 * 1.000123456789e30 / 1e18 = 1_080_133_333_332_120_000_000_000_000_000
        // denominator = 1234.56789e18 * 2.0123e26 / 1e18   = 248_432_096_504_700_000_000_000_000_000
        // ratio       = numerator * 1e18 / denominator     = 4_347_801_063_264_324_764 (truncated)
        // seize       = ratio * 99_999_999 / 1e18          = 434_780_101 (truncated from 434_780_101.98)
        let seize = liquidate_calculate_seize_tokens(
            e(1_000_123_456_789, 18),
            e(123_456_789, 13),
            e(20_123, 22),
            e(108, 16),
            u(99_999_999),
        )
        .unwrap();
        assert_eq!(seize, u(434_780_101));
    }

    #[test]
    fn seize_tokens_intermediate_truncation_matters() {
        // numerator   = 1.1e18 * 1e18 / 1e18 = 1.1e18
        // denominator = 333_333_333_333_333_333 * 20_000_000_000_000_000_100_000_000 / 1e18
        //             = 6_666_666_666_666_666_693_333_333 (truncated)
        // ratio       = 1.1e18 * 1e18 / denominator = 164_999_999_999 (truncated from ...999.9993)
        // seize       = 164_999_999_999 * 1e24 / 1e18 = 164_999_999_999_000_000
        // A single exact mul-div would give 164_999_999_999_999_999: the step-wise truncation is the spec.
        let seize = liquidate_calculate_seize_tokens(
            e(1, 18),
            u(333_333_333_333_333_333),
            e(200_000_000_000_000_001, 8),
            e(11, 17),
            e(1, 24),
        )
        .unwrap();
        assert_eq!(seize, u(164_999_999_999_000_000));
    }

    #[test]
    fn seize_tokens_price_zero_and_overflow() {
        assert!(matches!(
            liquidate_calculate_seize_tokens(U256::ZERO, u(1), u(1), u(1), u(1)),
            Err(Error::Math { .. })
        ));
        assert!(liquidate_calculate_seize_tokens(u(1), U256::ZERO, u(1), u(1), u(1)).is_err());
        // exchange rate so small the denominator truncates to 0 -> division by zero.
        assert!(liquidate_calculate_seize_tokens(u(1), u(1), u(1), u(1), u(1)).is_err());
        assert!(
            liquidate_calculate_seize_tokens(U256::MAX, u(1), e(1, 18), e(1, 18), u(1)).is_err()
        );
    }

    #[test]
    fn close_factor_cap() {
        assert_eq!(max_repay(e(1000, 6), e(5, 17)).unwrap(), e(500, 6));
        assert_eq!(max_repay(u(3), e(5, 17)).unwrap(), u(1)); // 1.5 -> 1
        assert!(max_repay(U256::MAX, e(5, 17)).is_err());
    }

    #[test]
    fn protocol_seize_share_split() {
        // 2.8 % share: 270_000_000 * 0.028 = 7_560_000
        let (liq, prot) = split_seize_tokens(u(270_000_000), e(28, 15)).unwrap();
        assert_eq!(prot, u(7_560_000));
        assert_eq!(liq, u(262_440_000));
        // truncation: 35 * 0.028 = 0.98 -> 0
        assert_eq!(
            split_seize_tokens(u(35), e(28, 15)).unwrap(),
            (u(35), U256::ZERO)
        );
        assert_eq!(
            split_seize_tokens(u(100), U256::ZERO).unwrap(),
            (u(100), U256::ZERO)
        );
        assert!(split_seize_tokens(u(100), e(2, 18)).is_err());
    }

    #[test]
    fn account_liquidity_by_hand() {
        // cETH: 50 cETH (5e9 units), exchange rate 2e26, ETH 2000e18, CF 0.75
        //   tokensToDenom = mul_(mul_(0.75e18, 2e26) = 1.5e26, 2000e18) = 3e29
        //   collateral = 3e29 * 5e9 / 1e18 = 1.5e21 ($1500 = 1 ETH * 0.75 * 2000)
        // cUSDC: borrow 1600 USDC (1600e6) at 1e30 -> 1.6e21
        let assets = [
            CompoundAccountAsset {
                vtoken_balance: e(5, 9),
                borrow_balance: U256::ZERO,
                exchange_rate_mantissa: e(2, 26),
                oracle_price_mantissa: e(2000, 18),
                collateral_factor_mantissa: e(75, 16),
            },
            CompoundAccountAsset {
                vtoken_balance: U256::ZERO,
                borrow_balance: e(1600, 6),
                exchange_rate_mantissa: e(2, 14),
                oracle_price_mantissa: e(1, 30),
                collateral_factor_mantissa: e(8, 17),
            },
        ];
        let l = account_liquidity(&assets).unwrap();
        assert_eq!(l.sum_collateral, e(15, 20));
        assert_eq!(l.sum_borrow, e(16, 20));
        assert_eq!(l.liquidity, U256::ZERO);
        assert_eq!(l.shortfall, e(1, 20));

        let mut healthy = assets;
        healthy[1].borrow_balance = e(1000, 6);
        let l = account_liquidity(&healthy).unwrap();
        assert_eq!(l.liquidity, e(5, 20));
        assert_eq!(l.shortfall, U256::ZERO);

        // Equal sums -> liquidity 0, shortfall 0 (not liquidatable).
        let mut equal = assets;
        equal[1].borrow_balance = e(1500, 6);
        let l = account_liquidity(&equal).unwrap();
        assert_eq!((l.liquidity, l.shortfall), (U256::ZERO, U256::ZERO));

        let mut bad = assets;
        bad[1].oracle_price_mantissa = U256::ZERO;
        assert!(account_liquidity(&bad).is_err());
        assert_eq!(account_liquidity(&[]).unwrap(), AccountLiquidity::default());
    }
    #[test]
    fn venus_snapshot_order_of_truncation() {
        // exchange rate 3, price 1e18 + 1 (both tiny mantissas make truncation visible):
        // Venus: vTokenPrice = 3 * (1e18+1) / 1e18 = 3; weighted = 0.5e18 * 3 / 1e18 = 1
        // Compound V2 order: mul_(0.5e18, 3) = 1; tokensToDenom = 1 * (1e18+1) / 1e18 = 1
        let a = VenusAccountAsset {
            vtoken_balance: e(1, 18),
            borrow_balance: u(1),
            exchange_rate_mantissa: u(3),
            oracle_price_mantissa: e(1, 18) + u(1),
            weight_mantissa: e(5, 17),
        };
        let s = venus_liquidity_snapshot(&[a]).unwrap();
        assert_eq!(s.total_collateral, u(3));
        assert_eq!(s.weighted_collateral, u(1));
        assert_eq!(s.borrows, u(1));
        assert_eq!((s.liquidity, s.shortfall), (U256::ZERO, U256::ZERO));
        // a case where the two orders differ: er 3, weight 0.5: Venus 0.5*3 = 1 (trunc),
        // price 2e18: Venus vTokenPrice 6 -> weighted 3; Compound mul_(0.5,3)=1 -> *2 = 2
        let b = VenusAccountAsset {
            oracle_price_mantissa: e(2, 18),
            borrow_balance: U256::ZERO,
            ..a
        };
        assert_eq!(
            venus_liquidity_snapshot(&[b]).unwrap().weighted_collateral,
            u(3)
        );
        let compound = account_liquidity(&[CompoundAccountAsset {
            vtoken_balance: b.vtoken_balance,
            borrow_balance: U256::ZERO,
            exchange_rate_mantissa: u(3),
            oracle_price_mantissa: e(2, 18),
            collateral_factor_mantissa: e(5, 17),
        }])
        .unwrap();
        assert_eq!(compound.sum_collateral, u(2));
        let zero_price = VenusAccountAsset {
            oracle_price_mantissa: U256::ZERO,
            ..a
        };
        assert!(venus_liquidity_snapshot(&[zero_price]).is_err());
    }

    #[test]
    fn venus_protocol_share_is_scaled_by_the_incentive() {
        // seize 1_000_000, share 5 %, incentive 1.1: 50_000 * 1e18 / 1.1e18 = 45_454
        let (liq, prot, under) =
            venus_split_seize_tokens(u(1_000_000), e(5, 16), e(11, 17), e(2, 17)).unwrap();
        assert_eq!(prot, u(45_454));
        assert_eq!(liq, u(954_546));
        assert_eq!(under, u(9_090)); // 45_454 * 0.2 = 9090.8 -> 9090
        assert!(venus_split_seize_tokens(u(1), e(5, 16), U256::ZERO, u(1)).is_err());
    }
}
