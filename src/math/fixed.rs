//! Checked fixed-point primitives replicating Aave V3's `WadRayMath` / `PercentageMath` bit for bit.
//!
//! Every function mirrors the Solidity assembly in `WadRayMath.sol` and `PercentageMath.sol`
//! (Aave V3 core v1.19.3): the same half-up rounding and the same revert conditions. Where the
//! Solidity code would `revert(0, 0)` (overflow guard, division by zero) these functions return
//! [`Error::Math`] instead of wrapping or panicking.

use alloy_primitives::{uint, U256};

use crate::error::{Error, Result};

/// 1e18, the wad unit (18 decimals of precision).
pub const WAD: U256 = U256::from_limbs([1_000_000_000_000_000_000, 0, 0, 0]);
/// 0.5e18, half a wad; added before dividing by [`WAD`] to round half up.
pub const HALF_WAD: U256 = U256::from_limbs([500_000_000_000_000_000, 0, 0, 0]);
/// 1e27, the ray unit (27 decimals of precision).
pub const RAY: U256 = uint!(1_000_000_000_000_000_000_000_000_000_U256);
/// 0.5e27, half a ray; added before dividing by [`RAY`] to round half up.
pub const HALF_RAY: U256 = uint!(500_000_000_000_000_000_000_000_000_U256);
/// 1e9, the ratio between a ray and a wad.
pub const WAD_RAY_RATIO: U256 = U256::from_limbs([1_000_000_000, 0, 0, 0]);
/// 1e4 = 100.00 %, Aave's percentage unit (basis points).
pub const PERCENTAGE_FACTOR: U256 = U256::from_limbs([10_000, 0, 0, 0]);
/// 0.5e4 = 50.00 %, added before dividing by [`PERCENTAGE_FACTOR`] to round half up.
pub const HALF_PERCENTAGE_FACTOR: U256 = U256::from_limbs([5_000, 0, 0, 0]);
/// 1e18, Compound's `expScale` (mantissa scale of `Exp`).
pub const EXP_SCALE: U256 = WAD;

/// Builds the crate's math error for operation `op`.
pub fn math_err(op: &'static str, reason: &'static str) -> Error {
    Error::Math { op, reason }
}

/// `a + b`, or `Err` on overflow (Solidity 0.8 checked addition).
pub fn checked_add(op: &'static str, a: U256, b: U256) -> Result<U256> {
    a.checked_add(b)
        .ok_or_else(|| math_err(op, "addition overflow"))
}

/// `a - b`, or `Err` on underflow (Solidity 0.8 checked subtraction).
pub fn checked_sub(op: &'static str, a: U256, b: U256) -> Result<U256> {
    a.checked_sub(b)
        .ok_or_else(|| math_err(op, "subtraction underflow"))
}

/// `a * b`, or `Err` on overflow (Solidity 0.8 checked multiplication).
pub fn checked_mul(op: &'static str, a: U256, b: U256) -> Result<U256> {
    a.checked_mul(b)
        .ok_or_else(|| math_err(op, "multiplication overflow"))
}

/// `a / b` truncating, or `Err` when `b == 0` (Solidity division by zero panics).
pub fn checked_div(op: &'static str, a: U256, b: U256) -> Result<U256> {
    a.checked_div(b)
        .ok_or_else(|| math_err(op, "division by zero"))
}

/// `floor(a * b / c)` with a 256-bit intermediate, exactly like Solidity's `a * b / c`:
/// `Err` if `a * b` overflows 256 bits or `c == 0`.
pub fn mul_div_floor(a: U256, b: U256, c: U256) -> Result<U256> {
    checked_div("mul_div_floor", checked_mul("mul_div_floor", a, b)?, c)
}

/// `10^decimals` as a `U256`; `Err` for `decimals > 77` (10^78 does not fit in 256 bits).
///
/// Solidity computes `10 ** decimals` inside `unchecked`, which would silently wrap; a wrapped
/// unit is never meaningful, so this returns an error instead.
pub fn pow10(decimals: u8) -> Result<U256> {
    if decimals > 77 {
        return Err(math_err(
            "pow10",
            "10^decimals overflows 256 bits (decimals > 77)",
        ));
    }
    static POWERS: std::sync::LazyLock<Vec<U256>> = std::sync::LazyLock::new(|| {
        std::iter::successors(Some(U256::from(1u8)), |p| Some(*p * U256::from(10u8)))
            .take(78)
            .collect()
    });
    Ok(POWERS[decimals as usize])
}

/// Aave `WadRayMath.wadMul`: `(a * b + HALF_WAD) / WAD`, rounding half up.
///
/// Reverts (`Err`) when `b != 0 && a > (U256::MAX - HALF_WAD) / b`.
pub fn wad_mul(a: U256, b: U256) -> Result<U256> {
    half_up_mul("wad_mul", a, b, WAD, HALF_WAD)
}

/// Aave `WadRayMath.wadDiv`: `(a * WAD + b / 2) / b`, rounding half up.
///
/// Reverts (`Err`) when `b == 0 || a > (U256::MAX - b / 2) / WAD`.
pub fn wad_div(a: U256, b: U256) -> Result<U256> {
    half_up_div("wad_div", a, b, WAD)
}

/// Aave `WadRayMath.rayMul`: `(a * b + HALF_RAY) / RAY`, rounding half up.
///
/// Reverts (`Err`) when `b != 0 && a > (U256::MAX - HALF_RAY) / b`.
pub fn ray_mul(a: U256, b: U256) -> Result<U256> {
    half_up_mul("ray_mul", a, b, RAY, HALF_RAY)
}

/// Aave `WadRayMath.rayDiv`: `(a * RAY + b / 2) / b`, rounding half up.
///
/// Reverts (`Err`) when `b == 0 || a > (U256::MAX - b / 2) / RAY`.
pub fn ray_div(a: U256, b: U256) -> Result<U256> {
    half_up_div("ray_div", a, b, RAY)
}

/// Aave `WadRayMath.rayToWad`: `a / 1e9`, plus one when `a % 1e9 >= 0.5e9` (half up).
///
/// Never reverts in Solidity; always `Ok` (kept fallible for a uniform API).
pub fn ray_to_wad(a: U256) -> Result<U256> {
    let b = a / WAD_RAY_RATIO;
    let remainder = a % WAD_RAY_RATIO;
    if remainder >= WAD_RAY_RATIO / U256::from(2u8) {
        checked_add("ray_to_wad", b, U256::from(1u8))
    } else {
        Ok(b)
    }
}

/// Aave `WadRayMath.wadToRay`: `a * 1e9`; `Err` on overflow.
pub fn wad_to_ray(a: U256) -> Result<U256> {
    checked_mul("wad_to_ray", a, WAD_RAY_RATIO)
}

/// Aave `PercentageMath.percentMul`: `(value * percentage + 0.5e4) / 1e4`, rounding half up.
///
/// Reverts (`Err`) when `percentage != 0 && value > (U256::MAX - HALF_PERCENTAGE_FACTOR) / percentage`.
/// `percentage == 0` yields 0.
pub fn percent_mul(value: U256, percentage: U256) -> Result<U256> {
    half_up_mul(
        "percent_mul",
        value,
        percentage,
        PERCENTAGE_FACTOR,
        HALF_PERCENTAGE_FACTOR,
    )
}

/// Aave `PercentageMath.percentDiv`: `(value * 1e4 + percentage / 2) / percentage`, rounding half up.
///
/// Reverts (`Err`) when `percentage == 0 || value > (U256::MAX - percentage / 2) / 1e4`.
pub fn percent_div(value: U256, percentage: U256) -> Result<U256> {
    half_up_div("percent_div", value, percentage, PERCENTAGE_FACTOR)
}

/// Shared body of `wadMul` / `rayMul` / `percentMul`: `(a * b + half) / unit` with the
/// Solidity guard `b != 0 && a > (MAX - half) / b` → revert.
///
/// The guard is evaluated as "`a * b + half` overflows 256 bits", which is the same condition
/// (for `b > 0`, `a > ⌊(MAX − half) / b⌋ ⇔ a·b + half > MAX`) without a 256-bit division.
fn half_up_mul(op: &'static str, a: U256, b: U256, unit: U256, half: U256) -> Result<U256> {
    // `half < unit`: a zero factor gives zero (no division needed).
    if a.is_zero() || b.is_zero() {
        return Ok(U256::ZERO);
    }
    let Some(numerator) = a.checked_mul(b).and_then(|p| p.checked_add(half)) else {
        return Err(math_err(op, "overflow"));
    };
    checked_div(op, numerator, unit)
}

/// Shared body of `wadDiv` / `rayDiv` / `percentDiv`: `(a * unit + b / 2) / b` with the
/// Solidity guard `b == 0 || a > (MAX - b / 2) / unit` → revert.
fn half_up_div(op: &'static str, a: U256, b: U256, unit: U256) -> Result<U256> {
    if b.is_zero() {
        return Err(math_err(op, "division by zero"));
    }
    let half_b = b / U256::from(2u8);
    // `a > ⌊(MAX − b/2) / unit⌋ ⇔ a·unit + b/2 > MAX` (unit > 0), checked without a division.
    let Some(numerator) = a.checked_mul(unit).and_then(|p| p.checked_add(half_b)) else {
        return Err(math_err(op, "overflow"));
    };
    checked_div(op, numerator, b)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(v: u128) -> U256 {
        U256::from(v)
    }

    fn dec(s: &str) -> U256 {
        s.parse().expect("decimal literal")
    }

    #[test]
    fn constants_match_solidity() {
        assert_eq!(WAD, dec("1000000000000000000"));
        assert_eq!(HALF_WAD, dec("500000000000000000"));
        assert_eq!(RAY, dec("1000000000000000000000000000"));
        assert_eq!(HALF_RAY, dec("500000000000000000000000000"));
        assert_eq!(WAD_RAY_RATIO, u(1_000_000_000));
        assert_eq!(PERCENTAGE_FACTOR, u(10_000));
        assert_eq!(HALF_PERCENTAGE_FACTOR, u(5_000));
        assert_eq!(EXP_SCALE, WAD);
    }

    #[test]
    fn wad_mul_rounds_half_up() {
        // 1.5 wei-wad * 1 wad-ish: (a*b + 0.5e18)/1e18
        assert_eq!(wad_mul(u(5), HALF_WAD / u(5)).unwrap(), u(1)); // exactly 0.5 -> 1
        assert_eq!(wad_mul(u(1), HALF_WAD - u(1)).unwrap(), u(0)); // 0.4999.. -> 0
        assert_eq!(wad_mul(u(1), HALF_WAD).unwrap(), u(1)); // 0.5 -> 1
        assert_eq!(wad_mul(u(2) * WAD, u(3) * WAD).unwrap(), u(6) * WAD);
        assert_eq!(wad_mul(U256::MAX, U256::ZERO).unwrap(), U256::ZERO);
        assert_eq!(wad_mul(U256::ZERO, U256::MAX).unwrap(), U256::ZERO);
    }

    #[test]
    fn wad_mul_overflow_boundary() {
        let b = u(7);
        let limit = (U256::MAX - HALF_WAD) / b;
        assert!(wad_mul(limit, b).is_ok());
        assert!(matches!(
            wad_mul(limit + u(1), b),
            Err(Error::Math { op: "wad_mul", .. })
        ));
        assert!(wad_mul(U256::MAX, U256::MAX).is_err());
    }

    /// The overflow guards equal Solidity's formulas (`a > (MAX - half) / b` for the muls,
    /// `a > (MAX - b / 2) / unit` for the divs) at and around the boundary, for many divisors.
    #[test]
    fn overflow_guards_equal_soliditys_formulas() {
        let mut b = u(3);
        for _ in 0..200 {
            for (unit, half) in [(WAD, HALF_WAD), (RAY, HALF_RAY)] {
                let limit = (U256::MAX - half) / b;
                for a in [limit - u(1), limit, limit + u(1)] {
                    let reverts = a > (U256::MAX - half) / b;
                    assert_eq!(
                        half_up_mul("t", a, b, unit, half).is_err(),
                        reverts,
                        "{a} {b}"
                    );
                }
                let limit = (U256::MAX - b / u(2)) / unit;
                for a in [limit - u(1), limit, limit + u(1)] {
                    let reverts = a > (U256::MAX - b / u(2)) / unit;
                    assert_eq!(half_up_div("t", a, b, unit).is_err(), reverts, "{a} {b}");
                }
            }
            b = b * u(7) + u(1);
            if b > U256::MAX / u(8) {
                b = u(5);
            }
        }
        for d in 0..=77u8 {
            assert_eq!(pow10(d).unwrap(), U256::from(10u8).pow(U256::from(d)));
        }
        assert!(pow10(78).is_err());
    }

    #[test]
    fn wad_div_rounds_half_up_and_reverts() {
        assert_eq!(wad_div(u(1), u(3) * WAD).unwrap(), u(0)); // 0.333 -> 0
        assert_eq!(wad_div(u(2), u(3) * WAD).unwrap(), u(1)); // 0.666 -> 1
        assert_eq!(wad_div(u(1), u(2) * WAD).unwrap(), u(1)); // 0.5 -> 1 (half up)
        assert_eq!(
            wad_div(u(10) * WAD, u(4) * WAD).unwrap(),
            dec("2500000000000000000")
        );
        assert!(wad_div(u(1), U256::ZERO).is_err());
        let b = u(10);
        let limit = (U256::MAX - b / u(2)) / WAD;
        assert!(wad_div(limit, b).is_ok());
        assert!(wad_div(limit + u(1), b).is_err());
    }

    #[test]
    fn ray_mul_rounds_half_up_and_reverts() {
        assert_eq!(ray_mul(u(1), HALF_RAY).unwrap(), u(1));
        assert_eq!(ray_mul(u(1), HALF_RAY - u(1)).unwrap(), u(0));
        // 3 * 1.5 ray = 4.5 -> 5 ; 3 * 1.4999.. ray -> 4
        let one_and_half = RAY + HALF_RAY;
        assert_eq!(ray_mul(u(3), one_and_half).unwrap(), u(5));
        assert_eq!(ray_mul(u(3), one_and_half - u(1)).unwrap(), u(4));
        let b = RAY;
        let limit = (U256::MAX - HALF_RAY) / b;
        assert_eq!(ray_mul(limit, b).unwrap(), limit);
        assert!(matches!(
            ray_mul(limit + u(1), b),
            Err(Error::Math { op: "ray_mul", .. })
        ));
    }

    #[test]
    fn ray_div_rounds_half_up_and_reverts() {
        // 1 / 2 ray (= 2e27) -> 0.5 -> 1
        assert_eq!(ray_div(u(1), u(2) * RAY).unwrap(), u(1));
        assert_eq!(ray_div(u(1), u(3) * RAY).unwrap(), u(0));
        assert_eq!(ray_div(u(7), RAY).unwrap(), u(7));
        // 100 / 1.1 ray = 90.909 -> 91 ; 100/1.2 = 83.33 -> 83
        assert_eq!(
            ray_div(u(100), dec("1100000000000000000000000000")).unwrap(),
            u(91)
        );
        assert_eq!(
            ray_div(u(100), dec("1200000000000000000000000000")).unwrap(),
            u(83)
        );
        assert!(ray_div(u(1), U256::ZERO).is_err());
        let limit = (U256::MAX - RAY / u(2)) / RAY;
        assert!(ray_div(limit, RAY).is_ok());
        assert!(ray_div(limit + u(1), RAY).is_err());
    }

    #[test]
    fn ray_wad_conversions() {
        assert_eq!(ray_to_wad(u(1_499_999_999)).unwrap(), u(1));
        assert_eq!(ray_to_wad(u(1_500_000_000)).unwrap(), u(2));
        assert_eq!(ray_to_wad(u(499_999_999)).unwrap(), u(0));
        assert_eq!(ray_to_wad(RAY).unwrap(), WAD);
        // MAX % 1e9 = 129_639_935 < 0.5e9, so no round-up (and no overflow).
        assert_eq!(ray_to_wad(U256::MAX).unwrap(), U256::MAX / WAD_RAY_RATIO);
        assert_eq!(wad_to_ray(WAD).unwrap(), RAY);
        assert!(wad_to_ray(U256::MAX / WAD_RAY_RATIO).is_ok());
        assert!(wad_to_ray(U256::MAX / WAD_RAY_RATIO + u(1)).is_err());
    }

    #[test]
    fn percent_math() {
        assert_eq!(percent_mul(u(10_000), u(5_000)).unwrap(), u(5_000));
        assert_eq!(percent_mul(u(1), u(5_000)).unwrap(), u(1)); // 0.5 -> 1
        assert_eq!(percent_mul(u(1), u(4_999)).unwrap(), u(0));
        assert_eq!(percent_mul(u(3), u(5_000)).unwrap(), u(2)); // 1.5 -> 2
        assert_eq!(percent_mul(u(12_345), u(10_500)).unwrap(), u(12_962)); // 12962.25
        assert_eq!(percent_mul(U256::MAX, U256::ZERO).unwrap(), U256::ZERO);
        let limit = (U256::MAX - HALF_PERCENTAGE_FACTOR) / u(10_000);
        assert!(percent_mul(limit, u(10_000)).is_ok());
        assert!(percent_mul(limit + u(1), u(10_000)).is_err());

        assert_eq!(percent_div(u(5_000), u(5_000)).unwrap(), u(10_000));
        assert_eq!(percent_div(u(10_500), u(10_500)).unwrap(), u(10_000));
        assert_eq!(percent_div(u(100), u(10_500)).unwrap(), u(95)); // 95.238
        assert_eq!(percent_div(u(1), u(20_000)).unwrap(), u(1)); // 0.5 -> 1
        assert!(percent_div(u(1), U256::ZERO).is_err());
        let limit = (U256::MAX - u(10_500) / u(2)) / PERCENTAGE_FACTOR;
        assert!(percent_div(limit, u(10_500)).is_ok());
        assert!(percent_div(limit + u(1), u(10_500)).is_err());
    }

    #[test]
    fn pow10_and_mul_div() {
        assert_eq!(pow10(0).unwrap(), u(1));
        assert_eq!(pow10(6).unwrap(), u(1_000_000));
        assert_eq!(pow10(18).unwrap(), WAD);
        assert_eq!(pow10(27).unwrap(), RAY);
        assert_eq!(
            pow10(77).unwrap(),
            dec("100000000000000000000000000000000000000000000000000000000000000000000000000000")
        );
        assert!(pow10(78).is_err());
        assert!(pow10(255).is_err());

        assert_eq!(mul_div_floor(u(7), u(3), u(2)).unwrap(), u(10));
        assert!(mul_div_floor(u(7), u(3), U256::ZERO).is_err());
        assert!(mul_div_floor(U256::MAX, u(2), u(4)).is_err());
    }
}
