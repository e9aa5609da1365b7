//! Aave V3 (core v1.19.3) protocol math: reserve-config bitmap, account data / health factor, liquidation sizing and aToken rounding.
//!
//! Everything here is a line-by-line port of the Solidity in `GenericLogic.sol`,
//! `LiquidationLogic.sol`, `ReserveConfiguration.sol`, `ScaledBalanceTokenBase.sol` and
//! `AToken.sol`, keeping the same operation order and the same rounding (half-up
//! `percentMul`/`percentDiv`/`wadDiv`/`rayMul`/`rayDiv`, truncating plain `/`). Anything that
//! would revert on chain returns [`crate::error::Error::Math`].

use alloy_primitives::U256;

use crate::error::Result;
use crate::math::fixed::{
    checked_add, checked_div, checked_mul, checked_sub, math_err, percent_div, percent_mul, pow10,
    ray_div, ray_mul, wad_div, RAY, WAD,
};

/// Health factor at or below which the close factor becomes 100 % (`LiquidationLogic.CLOSE_FACTOR_HF_THRESHOLD` = 0.95e18).
pub const CLOSE_FACTOR_HF_THRESHOLD: U256 = U256::from_limbs([950_000_000_000_000_000, 0, 0, 0]);
/// Close factor (bps) used when the health factor is strictly above [`CLOSE_FACTOR_HF_THRESHOLD`]: 50.00 %.
pub const DEFAULT_LIQUIDATION_CLOSE_FACTOR: U256 = U256::from_limbs([5_000, 0, 0, 0]);
/// Close factor (bps) used when the health factor is at or below [`CLOSE_FACTOR_HF_THRESHOLD`]: 100.00 %.
pub const MAX_LIQUIDATION_CLOSE_FACTOR: U256 = U256::from_limbs([10_000, 0, 0, 0]);
/// A position is liquidatable when its health factor is strictly below this (1e18), `ValidationLogic.HEALTH_FACTOR_LIQUIDATION_THRESHOLD`.
pub const HEALTH_FACTOR_LIQUIDATION_THRESHOLD: U256 = WAD;
/// `ReserveConfiguration.MAX_RESERVES_COUNT`: `UserConfiguration` reverts for reserve indices at or above this.
pub const MAX_RESERVES_COUNT: usize = 128;

// Bit positions from ReserveConfiguration.sol (LTV starts at bit 0).
const LIQUIDATION_THRESHOLD_START_BIT_POSITION: usize = 16;
const LIQUIDATION_BONUS_START_BIT_POSITION: usize = 32;
const RESERVE_DECIMALS_START_BIT_POSITION: usize = 48;
const IS_ACTIVE_START_BIT_POSITION: usize = 56;
const IS_FROZEN_START_BIT_POSITION: usize = 57;
const BORROWING_ENABLED_START_BIT_POSITION: usize = 58;
const STABLE_BORROWING_ENABLED_START_BIT_POSITION: usize = 59;
const IS_PAUSED_START_BIT_POSITION: usize = 60;
const BORROWABLE_IN_ISOLATION_START_BIT_POSITION: usize = 61;
const SILOED_BORROWING_START_BIT_POSITION: usize = 62;
const FLASHLOAN_ENABLED_START_BIT_POSITION: usize = 63;
const RESERVE_FACTOR_START_BIT_POSITION: usize = 64;
const BORROW_CAP_START_BIT_POSITION: usize = 80;
const SUPPLY_CAP_START_BIT_POSITION: usize = 116;
const LIQUIDATION_PROTOCOL_FEE_START_BIT_POSITION: usize = 152;
const EMODE_CATEGORY_START_BIT_POSITION: usize = 168;
const UNBACKED_MINT_CAP_START_BIT_POSITION: usize = 176;
const DEBT_CEILING_START_BIT_POSITION: usize = 212;

/// Largest borrow cap / supply cap / unbacked mint cap the bitmap can hold (36 bits, `MAX_VALID_BORROW_CAP`).
pub const MAX_VALID_CAP: u64 = 68_719_476_735;
/// Largest debt ceiling the bitmap can hold (40 bits, `MAX_VALID_DEBT_CEILING`).
pub const MAX_VALID_DEBT_CEILING: u64 = 1_099_511_627_775;

/// Reads `width` bits (`width <= 64`) starting at `pos`.
fn field(bitmap: U256, pos: usize, width: usize) -> u64 {
    let mask = (U256::from(1u8) << width) - U256::from(1u8);
    ((bitmap >> pos) & mask).as_limbs()[0]
}

/// Reads one flag bit at `pos`.
fn flag(bitmap: U256, pos: usize) -> bool {
    bitmap.bit(pos)
}

/// Places the low `width` bits of `value` at `pos`.
fn put(value: u64, pos: usize, width: usize) -> U256 {
    let mask = (U256::from(1u8) << width) - U256::from(1u8);
    (U256::from(value) & mask) << pos
}

/// Decoded `DataTypes.ReserveConfigurationMap` (the `configuration` word of `getReserveData`).
///
/// Layout (bit ranges inclusive), identical to `ReserveConfiguration.sol`:
/// ltv 0-15, liquidation threshold 16-31, liquidation bonus 32-47, decimals 48-55,
/// active 56, frozen 57, borrowing enabled 58, stable borrowing enabled 59, paused 60,
/// borrowable in isolation 61, siloed borrowing 62, flash loan enabled 63,
/// reserve factor 64-79, borrow cap 80-115, supply cap 116-151,
/// liquidation protocol fee 152-167, eMode category 168-175, unbacked mint cap 176-211,
/// debt ceiling 212-251 (bits 252-255 unused).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReserveConfig {
    /// Loan-to-value in bps (1e4 = 100 %).
    pub ltv: u16,
    /// Liquidation threshold in bps.
    pub liquidation_threshold: u16,
    /// Liquidation bonus in bps, including the principal (e.g. 10500 = 5 % bonus).
    pub liquidation_bonus: u16,
    /// Decimals of the underlying asset.
    pub decimals: u8,
    /// Reserve is active.
    pub active: bool,
    /// Reserve is frozen.
    pub frozen: bool,
    /// Borrowing is enabled.
    pub borrowing_enabled: bool,
    /// Stable-rate borrowing is enabled.
    pub stable_borrowing_enabled: bool,
    /// Reserve is paused.
    pub paused: bool,
    /// Asset can be borrowed in isolation mode.
    pub borrowable_in_isolation: bool,
    /// Siloed borrowing is enabled.
    pub siloed_borrowing: bool,
    /// Flash loans are enabled.
    pub flashloan_enabled: bool,
    /// Reserve factor in bps.
    pub reserve_factor: u16,
    /// Borrow cap in whole tokens (0 = none), 36 bits.
    pub borrow_cap: u64,
    /// Supply cap in whole tokens (0 = none), 36 bits.
    pub supply_cap: u64,
    /// Share of the liquidation bonus taken by the protocol, bps.
    pub liquidation_protocol_fee: u16,
    /// eMode category id.
    pub emode_category: u8,
    /// Unbacked mint cap in whole tokens, 36 bits.
    pub unbacked_mint_cap: u64,
    /// Isolation-mode debt ceiling with 2 decimals, 40 bits.
    pub debt_ceiling: u64,
}

impl ReserveConfig {
    /// Decodes the configuration bitmap exactly as the `ReserveConfiguration` getters do
    /// (`(data & ~MASK) >> START_BIT_POSITION`). Bits 252-255 are ignored.
    pub fn decode(bitmap: U256) -> Self {
        // Narrowing casts are exact: each field is masked to its width first.
        Self {
            ltv: field(bitmap, 0, 16) as u16,
            liquidation_threshold: field(bitmap, LIQUIDATION_THRESHOLD_START_BIT_POSITION, 16)
                as u16,
            liquidation_bonus: field(bitmap, LIQUIDATION_BONUS_START_BIT_POSITION, 16) as u16,
            decimals: field(bitmap, RESERVE_DECIMALS_START_BIT_POSITION, 8) as u8,
            active: flag(bitmap, IS_ACTIVE_START_BIT_POSITION),
            frozen: flag(bitmap, IS_FROZEN_START_BIT_POSITION),
            borrowing_enabled: flag(bitmap, BORROWING_ENABLED_START_BIT_POSITION),
            stable_borrowing_enabled: flag(bitmap, STABLE_BORROWING_ENABLED_START_BIT_POSITION),
            paused: flag(bitmap, IS_PAUSED_START_BIT_POSITION),
            borrowable_in_isolation: flag(bitmap, BORROWABLE_IN_ISOLATION_START_BIT_POSITION),
            siloed_borrowing: flag(bitmap, SILOED_BORROWING_START_BIT_POSITION),
            flashloan_enabled: flag(bitmap, FLASHLOAN_ENABLED_START_BIT_POSITION),
            reserve_factor: field(bitmap, RESERVE_FACTOR_START_BIT_POSITION, 16) as u16,
            borrow_cap: field(bitmap, BORROW_CAP_START_BIT_POSITION, 36),
            supply_cap: field(bitmap, SUPPLY_CAP_START_BIT_POSITION, 36),
            liquidation_protocol_fee: field(bitmap, LIQUIDATION_PROTOCOL_FEE_START_BIT_POSITION, 16)
                as u16,
            emode_category: field(bitmap, EMODE_CATEGORY_START_BIT_POSITION, 8) as u8,
            unbacked_mint_cap: field(bitmap, UNBACKED_MINT_CAP_START_BIT_POSITION, 36),
            debt_ceiling: field(bitmap, DEBT_CEILING_START_BIT_POSITION, 40),
        }
    }

    /// Encodes into the bitmap layout the `ReserveConfiguration` setters produce.
    ///
    /// The 36/40-bit fields are masked to their width; the Solidity setters would instead
    /// revert for out-of-range values, so check [`ReserveConfig::fits_bitmap`] first when that
    /// matters. For in-range configs `decode(encode(c)) == c`.
    pub fn encode(&self) -> U256 {
        put(u64::from(self.ltv), 0, 16)
            | put(
                u64::from(self.liquidation_threshold),
                LIQUIDATION_THRESHOLD_START_BIT_POSITION,
                16,
            )
            | put(
                u64::from(self.liquidation_bonus),
                LIQUIDATION_BONUS_START_BIT_POSITION,
                16,
            )
            | put(
                u64::from(self.decimals),
                RESERVE_DECIMALS_START_BIT_POSITION,
                8,
            )
            | put(u64::from(self.active), IS_ACTIVE_START_BIT_POSITION, 1)
            | put(u64::from(self.frozen), IS_FROZEN_START_BIT_POSITION, 1)
            | put(
                u64::from(self.borrowing_enabled),
                BORROWING_ENABLED_START_BIT_POSITION,
                1,
            )
            | put(
                u64::from(self.stable_borrowing_enabled),
                STABLE_BORROWING_ENABLED_START_BIT_POSITION,
                1,
            )
            | put(u64::from(self.paused), IS_PAUSED_START_BIT_POSITION, 1)
            | put(
                u64::from(self.borrowable_in_isolation),
                BORROWABLE_IN_ISOLATION_START_BIT_POSITION,
                1,
            )
            | put(
                u64::from(self.siloed_borrowing),
                SILOED_BORROWING_START_BIT_POSITION,
                1,
            )
            | put(
                u64::from(self.flashloan_enabled),
                FLASHLOAN_ENABLED_START_BIT_POSITION,
                1,
            )
            | put(
                u64::from(self.reserve_factor),
                RESERVE_FACTOR_START_BIT_POSITION,
                16,
            )
            | put(self.borrow_cap, BORROW_CAP_START_BIT_POSITION, 36)
            | put(self.supply_cap, SUPPLY_CAP_START_BIT_POSITION, 36)
            | put(
                u64::from(self.liquidation_protocol_fee),
                LIQUIDATION_PROTOCOL_FEE_START_BIT_POSITION,
                16,
            )
            | put(
                u64::from(self.emode_category),
                EMODE_CATEGORY_START_BIT_POSITION,
                8,
            )
            | put(
                self.unbacked_mint_cap,
                UNBACKED_MINT_CAP_START_BIT_POSITION,
                36,
            )
            | put(self.debt_ceiling, DEBT_CEILING_START_BIT_POSITION, 40)
    }

    /// True when every wide field is within the `MAX_VALID_*` bound its Solidity setter enforces
    /// (caps ≤ [`MAX_VALID_CAP`], debt ceiling ≤ [`MAX_VALID_DEBT_CEILING`]).
    pub fn fits_bitmap(&self) -> bool {
        self.borrow_cap <= MAX_VALID_CAP
            && self.supply_cap <= MAX_VALID_CAP
            && self.unbacked_mint_cap <= MAX_VALID_CAP
            && self.debt_ceiling <= MAX_VALID_DEBT_CEILING
    }
}

/// One reserve of a user, in the Pool's reserves-list order, as `calculateUserAccountData` sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UserReserve {
    /// aToken `balanceOf(user)` (= `scaledBalanceOf.rayMul(normalizedIncome)`).
    pub collateral_balance: U256,
    /// Variable debt `balanceOf` + stable debt `balanceOf`.
    pub debt_balance: U256,
    /// Oracle price in the base currency (`getAssetPrice`).
    pub price: U256,
    /// Asset decimals (from the reserve configuration).
    pub decimals: u8,
    /// Reserve LTV in bps.
    pub ltv: u16,
    /// Reserve liquidation threshold in bps.
    pub liquidation_threshold: u16,
    /// `UserConfiguration.isUsingAsCollateral` bit.
    pub usage_as_collateral: bool,
    /// `UserConfiguration.isBorrowing` bit.
    pub borrowing: bool,
}

/// The six values of `IPool.getUserAccountData`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AccountData {
    /// Total collateral in base currency.
    pub total_collateral_base: U256,
    /// Total debt in base currency.
    pub total_debt_base: U256,
    /// `percentMul(totalCollateral, ltv) - totalDebt`, floored at 0.
    pub available_borrows_base: U256,
    /// Collateral-weighted average liquidation threshold (bps, truncated).
    pub current_liquidation_threshold: U256,
    /// Collateral-weighted average LTV (bps, truncated; zero-LTV collateral counts in the denominator only).
    pub ltv: U256,
    /// Health factor in wad; `U256::MAX` when there is no debt.
    pub health_factor: U256,
}

/// Full result of `GenericLogic.calculateUserAccountData` (non-eMode), including the
/// `hasZeroLtvCollateral` flag that `getUserAccountData` drops.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UserAccountCalc {
    /// Total collateral in base currency.
    pub total_collateral_base: U256,
    /// Total debt in base currency.
    pub total_debt_base: U256,
    /// Average LTV in bps.
    pub avg_ltv: U256,
    /// Average liquidation threshold in bps.
    pub avg_liquidation_threshold: U256,
    /// Health factor in wad.
    pub health_factor: U256,
    /// True if some enabled collateral (liquidation threshold != 0) has LTV 0.
    pub has_zero_ltv_collateral: bool,
}

/// `_getUserBalanceInBaseCurrency` / `collateral value`: `amount * price / 10^decimals` (truncating).
///
/// Solidity multiplies balance by price first (checked), then divides by the asset unit.
pub fn collateral_value_base(amount: U256, price: U256, decimals: u8) -> Result<U256> {
    let unit = pow10(decimals)?;
    checked_div(
        "collateral_value_base",
        checked_mul("collateral_value_base", amount, price)?,
        unit,
    )
}

/// `_getUserDebtInBaseCurrency`: `price * debt / 10^decimals` (truncating; Solidity writes `assetPrice * userTotalDebt`).
pub fn debt_value_base(debt: U256, price: U256, decimals: u8) -> Result<U256> {
    let unit = pow10(decimals)?;
    checked_div(
        "debt_value_base",
        checked_mul("debt_value_base", price, debt)?,
        unit,
    )
}

/// Port of `GenericLogic.calculateUserAccountData` for a user **not** in eMode.
///
/// For each reserve (reserves-list order) that is used as collateral or borrowed:
/// * if `liquidation_threshold != 0 && usage_as_collateral`:
///   `value = balance * price / 10^decimals`; `totalCollateral += value`;
///   `avgLtv += value * ltv` when `ltv != 0`, otherwise `hasZeroLtvCollateral = true`;
///   `avgLiquidationThreshold += value * liquidationThreshold`;
/// * if `borrowing`: `totalDebt += price * debt / 10^decimals`.
///
/// Then `avgLtv /= totalCollateral`, `avgLiquidationThreshold /= totalCollateral` (0 if no
/// collateral, truncating) and
/// `healthFactor = totalDebt == 0 ? MAX : wadDiv(percentMul(totalCollateral, avgLiquidationThreshold), totalDebt)`.
/// More than [`MAX_RESERVES_COUNT`] entries is an error (the Solidity `require` on the reserve index,
/// which runs for every index of the loop).
pub fn calculate_user_account_data(reserves: &[UserReserve]) -> Result<UserAccountCalc> {
    const OP: &str = "calculate_user_account_data";
    let mut total_collateral = U256::ZERO;
    let mut total_debt = U256::ZERO;
    let mut avg_ltv = U256::ZERO;
    let mut avg_lt = U256::ZERO;
    let mut has_zero_ltv_collateral = false;

    // `isUsingAsCollateralOrBorrowing(i)` requires `i < MAX_RESERVES_COUNT` for every index
    // of the loop, before looking at the user's bits.
    if reserves.len() > MAX_RESERVES_COUNT {
        return Err(math_err(OP, "reserve index >= MAX_RESERVES_COUNT"));
    }
    for r in reserves {
        if !(r.usage_as_collateral || r.borrowing) {
            continue;
        }
        if r.liquidation_threshold != 0 && r.usage_as_collateral {
            let value = collateral_value_base(r.collateral_balance, r.price, r.decimals)?;
            total_collateral = checked_add(OP, total_collateral, value)?;
            if r.ltv != 0 {
                avg_ltv = checked_add(OP, avg_ltv, checked_mul(OP, value, U256::from(r.ltv))?)?;
            } else {
                has_zero_ltv_collateral = true;
            }
            avg_lt = checked_add(
                OP,
                avg_lt,
                checked_mul(OP, value, U256::from(r.liquidation_threshold))?,
            )?;
        }
        if r.borrowing {
            let value = debt_value_base(r.debt_balance, r.price, r.decimals)?;
            total_debt = checked_add(OP, total_debt, value)?;
        }
    }

    let (avg_ltv, avg_lt) = if total_collateral.is_zero() {
        (U256::ZERO, U256::ZERO)
    } else {
        (avg_ltv / total_collateral, avg_lt / total_collateral)
    };
    let health_factor = if total_debt.is_zero() {
        U256::MAX
    } else {
        wad_div(percent_mul(total_collateral, avg_lt)?, total_debt)?
    };
    Ok(UserAccountCalc {
        total_collateral_base: total_collateral,
        total_debt_base: total_debt,
        avg_ltv,
        avg_liquidation_threshold: avg_lt,
        health_factor,
        has_zero_ltv_collateral,
    })
}

/// `GenericLogic.calculateAvailableBorrows`: `max(percentMul(totalCollateral, ltv) - totalDebt, 0)`.
pub fn calculate_available_borrows(
    total_collateral_base: U256,
    total_debt_base: U256,
    ltv: U256,
) -> Result<U256> {
    let available = percent_mul(total_collateral_base, ltv)?;
    Ok(available.saturating_sub(total_debt_base))
}

/// `IPool.getUserAccountData` (`PoolLogic.executeGetUserAccountData`) for a user not in eMode.
///
/// Note: `hasZeroLtvCollateral` is *not* applied here — the returned `ltv` is the plain
/// weighted average (zero-LTV collateral adds to the denominator only), and
/// `available_borrows_base` is computed from it, exactly as on chain. The flag only matters to
/// borrow/withdraw validation; see [`calculate_user_account_data`].
///
/// Worked example (base currency USD with 8 decimals):
/// * WETH: 10e18 collateral, price 2000e8, 18 decimals, LTV 8000, LT 8250 →
///   value `10e18 * 2000e8 / 1e18 = 2_000_000_000_000`.
/// * USDC: 5000e6 collateral and 16000e6 debt, price 1.0001e8 = 100_010_000, 6 decimals,
///   LTV 7700, LT 8700 → collateral `500_050_000_000`, debt `1_600_160_000_000`.
/// * total collateral `2_500_050_000_000`; avgLtv = `(2e12*8000 + 500_050_000_000*7700) / 2_500_050_000_000`
///   = `19_850_385_000_000_000 / 2_500_050_000_000` = 7939 (truncated from 7939.99);
///   avgLT = `20_850_435_000_000_000 / 2_500_050_000_000` = 8340.
/// * HF = `wadDiv(percentMul(2_500_050_000_000, 8340) = 2_085_041_700_000, 1_600_160_000_000)`
///   = `1_303_020_760_423_957_604` (remainder below half → rounds down).
/// * available = `percentMul(2_500_050_000_000, 7939) - 1_600_160_000_000` = `1_984_789_695_000 - 1_600_160_000_000` = `384_629_695_000`.
pub fn user_account_data(reserves: &[UserReserve]) -> Result<AccountData> {
    let calc = calculate_user_account_data(reserves)?;
    let available = calculate_available_borrows(
        calc.total_collateral_base,
        calc.total_debt_base,
        calc.avg_ltv,
    )?;
    Ok(AccountData {
        total_collateral_base: calc.total_collateral_base,
        total_debt_base: calc.total_debt_base,
        available_borrows_base: available,
        current_liquidation_threshold: calc.avg_liquidation_threshold,
        ltv: calc.avg_ltv,
        health_factor: calc.health_factor,
    })
}

/// Close factor in bps: 5000 when `health_factor > 0.95e18` (strictly), else 10000 (`_calculateDebt`).
pub fn close_factor(health_factor: U256) -> U256 {
    if health_factor > CLOSE_FACTOR_HF_THRESHOLD {
        DEFAULT_LIQUIDATION_CLOSE_FACTOR
    } else {
        MAX_LIQUIDATION_CLOSE_FACTOR
    }
}

/// `validateLiquidationCall`'s health check: liquidatable iff `hf < 1e18` (strictly).
pub fn is_liquidatable(hf: U256) -> bool {
    hf < HEALTH_FACTOR_LIQUIDATION_THRESHOLD
}

/// Inputs of one Aave V3 `liquidationCall` (non-eMode prices and bonus).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LiquidationInput {
    /// User health factor (wad) from `calculateUserAccountData`.
    pub health_factor: U256,
    /// User's total debt in the debt asset (stable + variable), after `updateState`.
    pub user_debt: U256,
    /// `debtToCover` argument; may be `U256::MAX`.
    pub debt_to_cover: U256,
    /// Collateral aToken `balanceOf(user)`.
    pub user_collateral_balance: U256,
    /// Oracle price of the collateral asset.
    pub collateral_price: U256,
    /// Collateral asset decimals.
    pub collateral_decimals: u8,
    /// Oracle price of the debt asset.
    pub debt_price: U256,
    /// Debt asset decimals.
    pub debt_decimals: u8,
    /// Collateral reserve liquidation bonus in bps (e.g. 10500).
    pub liquidation_bonus: u16,
    /// Collateral reserve liquidation protocol fee in bps of the bonus.
    pub liquidation_protocol_fee: u16,
}

/// Result of `_calculateDebt` + `_calculateAvailableCollateralToLiquidate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct LiquidationOutcome {
    /// `percentMul(userTotalDebt, closeFactor)`.
    pub max_liquidatable_debt: U256,
    /// `actualDebtToLiquidate` after the collateral cap (the `debtToCover` of the event).
    pub debt_repaid: U256,
    /// `actualCollateralToLiquidate` (the `liquidatedCollateralAmount` of the event), net of protocol fee.
    pub collateral_to_liquidator: U256,
    /// `liquidationProtocolFeeAmount`, in collateral units (before the treasury-transfer cap, see [`cap_protocol_fee`]).
    pub protocol_fee: U256,
    /// True when `maxCollateralToLiquidate > userCollateralBalance` (whole balance seized, debt recomputed).
    pub collateral_capped: bool,
    /// Close factor applied, in bps.
    pub close_factor: U256,
}

/// Liquidation sizing = `LiquidationLogic._calculateDebt` + `_calculateAvailableCollateralToLiquidate`.
///
/// ```text
/// closeFactor          = hf > 0.95e18 ? 5000 : 10000
/// maxLiquidatableDebt  = percentMul(userTotalDebt, closeFactor)
/// actualDebt           = min(debtToCover, maxLiquidatableDebt)
/// baseCollateral       = (debtPrice * actualDebt * collUnit) / (collPrice * debtUnit)
/// maxCollateral        = percentMul(baseCollateral, bonus)
/// if maxCollateral > userCollateralBalance:
///     collateralAmount = userCollateralBalance
///     debtNeeded       = percentDiv((collPrice * collateralAmount * debtUnit) / (debtPrice * collUnit), bonus)
/// else:
///     collateralAmount = maxCollateral; debtNeeded = actualDebt
/// if protocolFee != 0:
///     bonusCollateral  = collateralAmount - percentDiv(collateralAmount, bonus)
///     fee              = percentMul(bonusCollateral, protocolFee)
///     → (collateralAmount - fee, debtNeeded, fee)
/// else → (collateralAmount, debtNeeded, 0)
/// ```
/// Does not check `hf < 1` (see [`is_liquidatable`]).
pub fn liquidation_outcome(input: &LiquidationInput) -> Result<LiquidationOutcome> {
    const OP: &str = "liquidation_outcome";
    let close_factor = close_factor(input.health_factor);
    let max_liquidatable_debt = percent_mul(input.user_debt, close_factor)?;
    let actual_debt = input.debt_to_cover.min(max_liquidatable_debt);

    let collateral_unit = pow10(input.collateral_decimals)?;
    let debt_unit = pow10(input.debt_decimals)?;
    let bonus = U256::from(input.liquidation_bonus);
    let fee_pct = U256::from(input.liquidation_protocol_fee);

    let base_collateral = checked_div(
        OP,
        checked_mul(
            OP,
            checked_mul(OP, input.debt_price, actual_debt)?,
            collateral_unit,
        )?,
        checked_mul(OP, input.collateral_price, debt_unit)?,
    )?;
    let max_collateral = percent_mul(base_collateral, bonus)?;

    let collateral_capped = max_collateral > input.user_collateral_balance;
    let (collateral_amount, debt_needed) = if collateral_capped {
        let collateral_amount = input.user_collateral_balance;
        let debt_needed = percent_div(
            checked_div(
                OP,
                checked_mul(
                    OP,
                    checked_mul(OP, input.collateral_price, collateral_amount)?,
                    debt_unit,
                )?,
                checked_mul(OP, input.debt_price, collateral_unit)?,
            )?,
            bonus,
        )?;
        (collateral_amount, debt_needed)
    } else {
        (max_collateral, actual_debt)
    };

    let (collateral_to_liquidator, protocol_fee) = if fee_pct.is_zero() {
        (collateral_amount, U256::ZERO)
    } else {
        let bonus_collateral = checked_sub(
            OP,
            collateral_amount,
            percent_div(collateral_amount, bonus)?,
        )?;
        let fee = percent_mul(bonus_collateral, fee_pct)?;
        (checked_sub(OP, collateral_amount, fee)?, fee)
    };

    Ok(LiquidationOutcome {
        max_liquidatable_debt,
        debt_repaid: debt_needed,
        collateral_to_liquidator,
        protocol_fee,
        collateral_capped,
        close_factor,
    })
}

/// The treasury-fee adjustment in `executeLiquidationCall`: if `rayDiv(fee, index)` exceeds the
/// user's remaining scaled aToken balance (after the liquidator's share left), the fee becomes
/// `rayMul(userScaledBalance, index)`; otherwise it is unchanged. A zero fee is returned as is.
pub fn cap_protocol_fee(
    protocol_fee: U256,
    user_scaled_balance_after: U256,
    liquidity_index: U256,
) -> Result<U256> {
    if protocol_fee.is_zero() {
        return Ok(protocol_fee);
    }
    let scaled_fee = ray_div(protocol_fee, liquidity_index)?;
    if scaled_fee > user_scaled_balance_after {
        ray_mul(user_scaled_balance_after, liquidity_index)
    } else {
        Ok(protocol_fee)
    }
}

/// aToken `balanceOf` from its scaled balance: `rayMul(scaled, normalizedIncome)`.
pub fn scaled_balance_to_balance(scaled: U256, index: U256) -> Result<U256> {
    ray_mul(scaled, index)
}

/// Scaled amount moved by `AToken._transfer` / `transferOnLiquidation` for an underlying
/// `amount`: `amount.rayDiv(index)` (half-up), then `toUint128` (reverts above `u128::MAX`).
pub fn scaled_transfer_amount(amount: U256, index: U256) -> Result<U256> {
    let scaled = ray_div(amount, index)?;
    if scaled > U256::from(u128::MAX) {
        return Err(math_err(
            "scaled_transfer_amount",
            "SafeCast toUint128 overflow",
        ));
    }
    Ok(scaled)
}

/// Receiver's `balanceOf` increase from an aToken transfer of `amount` (as in
/// `transferOnLiquidation` → `ScaledBalanceTokenBase._transfer`):
/// `rayMul(scaledBefore + rayDiv(amount, index), index) - rayMul(scaledBefore, index)`.
///
/// Scaled balances are `uint128` on chain, so a post-transfer scaled balance above
/// `u128::MAX` is an error (checked `uint128` addition reverts).
pub fn balance_delta_after_scaled_transfer(
    receiver_scaled_before: U256,
    amount: U256,
    index: U256,
) -> Result<U256> {
    const OP: &str = "balance_delta_after_scaled_transfer";
    let scaled = scaled_transfer_amount(amount, index)?;
    let after = checked_add(OP, receiver_scaled_before, scaled)?;
    if after > U256::from(u128::MAX) {
        return Err(math_err(OP, "uint128 scaled balance overflow"));
    }
    checked_sub(
        OP,
        ray_mul(after, index)?,
        ray_mul(receiver_scaled_before, index)?,
    )
}

/// Sender's `balanceOf` decrease from an aToken transfer (or `_burnScaled`) of `amount`:
/// `rayMul(scaledBefore, index) - rayMul(scaledBefore - rayDiv(amount, index), index)`;
/// `Err` if the sender's scaled balance is insufficient (checked `uint128` subtraction).
pub fn sender_balance_delta_after_scaled_transfer(
    sender_scaled_before: U256,
    amount: U256,
    index: U256,
) -> Result<U256> {
    const OP: &str = "sender_balance_delta_after_scaled_transfer";
    let scaled = scaled_transfer_amount(amount, index)?;
    let after = checked_sub(OP, sender_scaled_before, scaled)?;
    checked_sub(
        OP,
        ray_mul(sender_scaled_before, index)?,
        ray_mul(after, index)?,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use crate::math::fixed::RAY;

    fn u(v: u128) -> U256 {
        U256::from(v)
    }

    fn hex(s: &str) -> U256 {
        U256::from_str_radix(s, 16).expect("hex literal")
    }

    /// splitmix64, deterministic PRNG for property tests.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^ (z >> 31)
        }
        fn u256(&mut self) -> U256 {
            U256::from_limbs([self.next(), self.next(), self.next(), self.next()])
        }
    }

    // Masks copied verbatim from ReserveConfiguration.sol; `!MASK` is the field's bit range.
    const MASKS: [(&str, &str); 19] = [
        (
            "ltv",
            "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF0000",
        ),
        (
            "lt",
            "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF0000FFFF",
        ),
        (
            "bonus",
            "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF0000FFFFFFFF",
        ),
        (
            "decimals",
            "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF00FFFFFFFFFFFF",
        ),
        (
            "active",
            "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFFFFFFFFFF",
        ),
        (
            "frozen",
            "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFDFFFFFFFFFFFFFF",
        ),
        (
            "borrowing",
            "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFBFFFFFFFFFFFFFF",
        ),
        (
            "stable",
            "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF7FFFFFFFFFFFFFF",
        ),
        (
            "paused",
            "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFFFFFFFFFFF",
        ),
        (
            "isolation",
            "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFDFFFFFFFFFFFFFFF",
        ),
        (
            "siloed",
            "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFBFFFFFFFFFFFFFFF",
        ),
        (
            "flashloan",
            "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF7FFFFFFFFFFFFFFF",
        ),
        (
            "reserve_factor",
            "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF0000FFFFFFFFFFFFFFFF",
        ),
        (
            "borrow_cap",
            "FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF000000000FFFFFFFFFFFFFFFFFFFF",
        ),
        (
            "supply_cap",
            "FFFFFFFFFFFFFFFFFFFFFFFFFF000000000FFFFFFFFFFFFFFFFFFFFFFFFFFFFF",
        ),
        (
            "protocol_fee",
            "FFFFFFFFFFFFFFFFFFFFFF0000FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF",
        ),
        (
            "emode",
            "FFFFFFFFFFFFFFFFFFFF00FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF",
        ),
        (
            "unbacked",
            "FFFFFFFFFFF000000000FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF",
        ),
        (
            "debt_ceiling",
            "F0000000000FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF",
        ),
    ];

    fn only_field_all_ones(name: &str) -> ReserveConfig {
        let mut c = ReserveConfig::default();
        match name {
            "ltv" => c.ltv = u16::MAX,
            "lt" => c.liquidation_threshold = u16::MAX,
            "bonus" => c.liquidation_bonus = u16::MAX,
            "decimals" => c.decimals = u8::MAX,
            "active" => c.active = true,
            "frozen" => c.frozen = true,
            "borrowing" => c.borrowing_enabled = true,
            "stable" => c.stable_borrowing_enabled = true,
            "paused" => c.paused = true,
            "isolation" => c.borrowable_in_isolation = true,
            "siloed" => c.siloed_borrowing = true,
            "flashloan" => c.flashloan_enabled = true,
            "reserve_factor" => c.reserve_factor = u16::MAX,
            "borrow_cap" => c.borrow_cap = MAX_VALID_CAP,
            "supply_cap" => c.supply_cap = MAX_VALID_CAP,
            "protocol_fee" => c.liquidation_protocol_fee = u16::MAX,
            "emode" => c.emode_category = u8::MAX,
            "unbacked" => c.unbacked_mint_cap = MAX_VALID_CAP,
            "debt_ceiling" => c.debt_ceiling = MAX_VALID_DEBT_CEILING,
            other => panic!("unknown field {other}"),
        }
        c
    }

    #[test]
    fn bitmap_fields_match_solidity_masks() {
        for (name, mask) in MASKS {
            let c = only_field_all_ones(name);
            assert_eq!(c.encode(), !hex(mask), "field {name}");
            assert_eq!(ReserveConfig::decode(!hex(mask)), c, "field {name}");
        }
    }

    #[test]
    fn bitmap_known_positions() {
        let c = ReserveConfig {
            liquidation_protocol_fee: 1000,
            ..Default::default()
        };
        // 1000 << 152
        assert_eq!(c.encode(), u(1000) << 152);
        let c = ReserveConfig {
            liquidation_protocol_fee: u16::MAX,
            ..Default::default()
        };
        let word = c.encode();
        assert!(!word.bit(151) && word.bit(152) && word.bit(167) && !word.bit(168));
        // A typical WETH-like config: ltv 8050, lt 8300, bonus 10500, 18 dec, active,
        // borrowing, flashloan, reserve factor 1500, protocol fee 1000.
        let weth = ReserveConfig {
            ltv: 8050,
            liquidation_threshold: 8300,
            liquidation_bonus: 10500,
            decimals: 18,
            active: true,
            borrowing_enabled: true,
            flashloan_enabled: true,
            reserve_factor: 1500,
            borrow_cap: 1_400_000,
            supply_cap: 1_800_000,
            liquidation_protocol_fee: 1000,
            ..Default::default()
        };
        let expected = u(8050)
            | (u(8300) << 16)
            | (u(10500) << 32)
            | (u(18) << 48)
            | (u(1) << 56)
            | (u(1) << 58)
            | (u(1) << 63)
            | (u(1500) << 64)
            | (u(1_400_000) << 80)
            | (u(1_800_000) << 116)
            | (u(1000) << 152);
        assert_eq!(weth.encode(), expected);
        assert_eq!(ReserveConfig::decode(expected), weth);
        // Bits 252..=255 are unused and ignored by decode.
        assert_eq!(ReserveConfig::decode(expected | (u(0xF) << 252)), weth);
    }

    #[test]
    fn bitmap_random_round_trip() {
        let mut rng = Rng(0x5eed);
        let used = (U256::from(1u8) << 252) - U256::from(1u8);
        for _ in 0..1000 {
            let word = rng.u256() & used;
            let c = ReserveConfig::decode(word);
            assert!(c.fits_bitmap());
            assert_eq!(c.encode(), word);
            assert_eq!(ReserveConfig::decode(c.encode()), c);
        }
    }

    fn worked_example() -> [UserReserve; 2] {
        [
            UserReserve {
                collateral_balance: u(10_000_000_000_000_000_000),
                debt_balance: U256::ZERO,
                price: u(200_000_000_000),
                decimals: 18,
                ltv: 8000,
                liquidation_threshold: 8250,
                usage_as_collateral: true,
                borrowing: false,
            },
            UserReserve {
                collateral_balance: u(5_000_000_000),
                debt_balance: u(16_000_000_000),
                price: u(100_010_000),
                decimals: 6,
                ltv: 7700,
                liquidation_threshold: 8700,
                usage_as_collateral: true,
                borrowing: true,
            },
        ]
    }

    #[test]
    fn two_asset_account_data_by_hand() {
        let d = user_account_data(&worked_example()).unwrap();
        assert_eq!(d.total_collateral_base, u(2_500_050_000_000));
        assert_eq!(d.total_debt_base, u(1_600_160_000_000));
        assert_eq!(d.ltv, u(7939));
        assert_eq!(d.current_liquidation_threshold, u(8340));
        assert_eq!(d.health_factor, u(1_303_020_760_423_957_604));
        assert_eq!(d.available_borrows_base, u(384_629_695_000));
        assert!(!is_liquidatable(d.health_factor));
    }

    #[test]
    fn account_data_flags_and_edge_cases() {
        // Empty user config: (0, 0, 0, 0, MAX).
        let d = user_account_data(&[]).unwrap();
        assert_eq!(d.health_factor, U256::MAX);
        assert_eq!(d.total_collateral_base, U256::ZERO);
        let mut r = worked_example();
        r[0].usage_as_collateral = false;
        r[1].usage_as_collateral = false;
        r[1].borrowing = false;
        assert_eq!(
            user_account_data(&r).unwrap(),
            AccountData {
                health_factor: U256::MAX,
                ..Default::default()
            }
        );

        // Liquidation threshold 0 → not counted as collateral even if enabled.
        let mut r = worked_example();
        r[0].liquidation_threshold = 0;
        let d = user_account_data(&r).unwrap();
        assert_eq!(d.total_collateral_base, u(500_050_000_000));
        assert_eq!(d.ltv, u(7700));

        // Zero-LTV collateral: counts in the denominator of avgLtv only and sets the flag.
        let mut r = worked_example();
        r[0].ltv = 0;
        let c = calculate_user_account_data(&r).unwrap();
        assert!(c.has_zero_ltv_collateral);
        // 500_050_000_000 * 7700 / 2_500_050_000_000 = 1540.1... -> 1540
        assert_eq!(c.avg_ltv, u(1540));
        assert_eq!(c.avg_liquidation_threshold, u(8340));
        let d = user_account_data(&r).unwrap();
        assert_eq!(d.ltv, u(1540));
        // percentMul(2_500_050_000_000, 1540) = 385_007_700_000 < debt -> 0
        assert_eq!(d.available_borrows_base, U256::ZERO);

        // Debt only where borrowing: turning borrowing off gives MAX HF.
        let mut r = worked_example();
        r[1].borrowing = false;
        assert_eq!(user_account_data(&r).unwrap().health_factor, U256::MAX);

        // Overflow in balance * price -> Err.
        let mut r = worked_example();
        r[0].collateral_balance = U256::MAX;
        assert!(matches!(user_account_data(&r), Err(Error::Math { .. })));
        // Too many reserves in use -> Err.
        let mut many = vec![UserReserve::default(); 129];
        assert!(user_account_data(&many).is_err());
        many.truncate(128);
        many[127] = worked_example()[1];
        assert!(user_account_data(&many).is_ok());
    }

    #[test]
    fn close_factor_switch_at_threshold() {
        let t = u(950_000_000_000_000_000);
        assert_eq!(CLOSE_FACTOR_HF_THRESHOLD, t);
        assert_eq!(close_factor(t), u(10_000));
        assert_eq!(close_factor(t + u(1)), u(5_000));
        assert_eq!(close_factor(t - u(1)), u(10_000));
        assert_eq!(close_factor(U256::ZERO), u(10_000));
        assert!(is_liquidatable(WAD - u(1)));
        assert!(!is_liquidatable(WAD));
    }

    fn weth_usdc_input() -> LiquidationInput {
        LiquidationInput {
            health_factor: u(960_000_000_000_000_000),
            user_debt: u(10_000_000_000),
            debt_to_cover: U256::MAX,
            user_collateral_balance: u(10_000_000_000_000_000_000),
            collateral_price: u(200_000_000_000),
            collateral_decimals: 18,
            debt_price: u(100_000_000),
            debt_decimals: 6,
            liquidation_bonus: 10500,
            liquidation_protocol_fee: 1000,
        }
    }

    #[test]
    fn liquidation_uncapped_with_fee_and_max_debt_to_cover() {
        // HF 0.96 > 0.95 -> 50 %: max debt = 5000 USDC; base collateral =
        // 1e8 * 5000e6 * 1e18 / (2000e8 * 1e6) = 2.5e18; with bonus 2.625e18;
        // bonus part = 2.625e18 - percentDiv(2.625e18, 10500) = 0.125e18; fee 10 % = 0.0125e18.
        let o = liquidation_outcome(&weth_usdc_input()).unwrap();
        assert_eq!(o.close_factor, u(5000));
        assert_eq!(o.max_liquidatable_debt, u(5_000_000_000));
        assert_eq!(o.debt_repaid, u(5_000_000_000));
        assert!(!o.collateral_capped);
        assert_eq!(o.protocol_fee, u(12_500_000_000_000_000));
        assert_eq!(o.collateral_to_liquidator, u(2_612_500_000_000_000_000));

        // Exactly at 0.95 -> 100 %.
        let mut i = weth_usdc_input();
        i.health_factor = CLOSE_FACTOR_HF_THRESHOLD;
        let o = liquidation_outcome(&i).unwrap();
        assert_eq!(o.max_liquidatable_debt, u(10_000_000_000));
        assert_eq!(o.debt_repaid, u(10_000_000_000));
        assert_eq!(
            o.collateral_to_liquidator + o.protocol_fee,
            u(5_250_000_000_000_000_000)
        );

        // A smaller debt_to_cover is used as is.
        let mut i = weth_usdc_input();
        i.debt_to_cover = u(1_000_000);
        let o = liquidation_outcome(&i).unwrap();
        assert_eq!(o.debt_repaid, u(1_000_000));
        // 1 USDC -> 0.0005 ETH, *1.05 = 525e12; bonus 25e12; fee 2.5e12
        assert_eq!(o.protocol_fee, u(2_500_000_000_000));
        assert_eq!(o.collateral_to_liquidator, u(522_500_000_000_000));

        // No protocol fee.
        let mut i = weth_usdc_input();
        i.liquidation_protocol_fee = 0;
        let o = liquidation_outcome(&i).unwrap();
        assert_eq!(o.protocol_fee, U256::ZERO);
        assert_eq!(o.collateral_to_liquidator, u(2_625_000_000_000_000_000));
    }

    #[test]
    fn liquidation_collateral_cap_recomputes_debt() {
        // 1 ETH collateral, 3000 USDC debt, HF 0.9 -> 100 %; base = 1.5e18, *1.05 = 1.575e18 > 1e18.
        // debtNeeded = percentDiv(2000e8 * 1e18 * 1e6 / (1e8 * 1e18) = 2000e6, 10500)
        //            = (2000e6 * 1e4 + 5250) / 10500 = 1_904_761_905 (1904761904.76 -> half-up numerator).
        // bonus part = 1e18 - percentDiv(1e18, 10500) = 1e18 - 952_380_952_380_952_381 = 47_619_047_619_047_619
        // fee = percentMul(47_619_047_619_047_619, 1000) = 4_761_904_761_904_762 (…1.9 -> …2).
        let i = LiquidationInput {
            health_factor: u(900_000_000_000_000_000),
            user_debt: u(3_000_000_000),
            user_collateral_balance: u(1_000_000_000_000_000_000),
            ..weth_usdc_input()
        };
        let o = liquidation_outcome(&i).unwrap();
        assert!(o.collateral_capped);
        assert_eq!(o.close_factor, u(10_000));
        assert_eq!(o.max_liquidatable_debt, u(3_000_000_000));
        assert_eq!(o.debt_repaid, u(1_904_761_905));
        assert_eq!(o.protocol_fee, u(4_761_904_761_904_762));
        assert_eq!(o.collateral_to_liquidator, u(995_238_095_238_095_238));
        assert_eq!(
            o.collateral_to_liquidator + o.protocol_fee,
            i.user_collateral_balance
        );
    }

    #[test]
    fn liquidation_reverting_inputs() {
        let mut i = weth_usdc_input();
        i.collateral_price = U256::ZERO;
        assert!(liquidation_outcome(&i).is_err());
        let mut i = weth_usdc_input();
        i.liquidation_bonus = 0; // percentDiv by 0 in the fee branch
        assert!(liquidation_outcome(&i).is_err());
        let mut i = weth_usdc_input();
        i.liquidation_bonus = 9000; // bonus < 100 % -> bonusCollateral underflows
        assert!(liquidation_outcome(&i).is_err());
        let mut i = weth_usdc_input();
        i.user_debt = U256::MAX / u(2);
        assert!(liquidation_outcome(&i).is_err());
        let mut i = weth_usdc_input();
        i.debt_decimals = 78;
        assert!(liquidation_outcome(&i).is_err());
    }

    #[test]
    fn protocol_fee_treasury_cap() {
        let index = u(1_300_000_000_000_000_000_000_000_000);
        assert_eq!(
            cap_protocol_fee(U256::ZERO, U256::ZERO, index).unwrap(),
            U256::ZERO
        );
        // fee 13 -> scaled 10 <= 10: unchanged
        assert_eq!(cap_protocol_fee(u(13), u(10), index).unwrap(), u(13));
        // fee 14 -> scaled rayDiv(14, 1.3) = 10.77 -> 11 > 10: fee = rayMul(10, 1.3) = 13
        assert_eq!(cap_protocol_fee(u(14), u(10), index).unwrap(), u(13));
    }

    #[test]
    fn atoken_scaled_transfer_rounding() {
        let index = u(1_300_000_000_000_000_000_000_000_000); // 1.3 ray
        assert_eq!(scaled_balance_to_balance(u(10), index).unwrap(), u(13));
        // 2 / 1.3 = 1.538 -> 2 scaled; receiver 10 -> 12 scaled: 13 -> 15.6 -> 16, delta 3 (not 2).
        assert_eq!(scaled_transfer_amount(u(2), index).unwrap(), u(2));
        assert_eq!(
            balance_delta_after_scaled_transfer(u(10), u(2), index).unwrap(),
            u(3)
        );
        assert_eq!(
            balance_delta_after_scaled_transfer(U256::ZERO, u(2), index).unwrap(),
            u(3)
        );
        // Sender 10 scaled -> 8: 13 - 10.4 -> 13 - 10 = 3.
        assert_eq!(
            sender_balance_delta_after_scaled_transfer(u(10), u(2), index).unwrap(),
            u(3)
        );
        assert!(sender_balance_delta_after_scaled_transfer(u(1), u(2), index).is_err());
        // Index exactly 1 ray: deltas equal the amount.
        assert_eq!(
            balance_delta_after_scaled_transfer(u(777), u(12345), RAY).unwrap(),
            u(12345)
        );
        // uint128 overflow of the receiver's scaled balance.
        assert!(balance_delta_after_scaled_transfer(U256::from(u128::MAX), u(1), RAY).is_err());
        assert!(scaled_transfer_amount(U256::from(u128::MAX) + u(1), RAY).is_err());
        assert!(scaled_transfer_amount(u(1), U256::ZERO).is_err());
    }

    #[test]
    fn value_helpers() {
        assert_eq!(
            collateral_value_base(u(1_500_000), u(100_000_000), 6).unwrap(),
            u(150_000_000)
        );
        // truncation: 1 wei of an 18-dec asset at 2000e8 -> 0
        assert_eq!(
            collateral_value_base(u(1), u(200_000_000_000), 18).unwrap(),
            U256::ZERO
        );
        assert!(collateral_value_base(u(1), u(1), 78).is_err());
        assert_eq!(
            debt_value_base(u(16_000_000_000), u(100_010_000), 6).unwrap(),
            u(1_600_160_000_000)
        );
    }
}

/// Seconds per year in Aave's interest math (`MathUtils.SECONDS_PER_YEAR`).
pub const SECONDS_PER_YEAR: u64 = 365 * 24 * 3600;

/// The reserve fields the normalized income and debt derive from (`getReserveData`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReserveIndexes {
    /// `liquidityIndex` (ray).
    pub liquidity_index: U256,
    /// `currentLiquidityRate` (ray).
    pub current_liquidity_rate: U256,
    /// `variableBorrowIndex` (ray).
    pub variable_borrow_index: U256,
    /// `currentVariableBorrowRate` (ray).
    pub current_variable_borrow_rate: U256,
    /// `lastUpdateTimestamp`.
    pub last_update_timestamp: u64,
}

/// `MathUtils.calculateLinearInterest`: `RAY + rate·Δt / SECONDS_PER_YEAR`.
pub fn linear_interest(rate: U256, last: u64, now: u64) -> Result<U256> {
    let dt = U256::from(
        now.checked_sub(last)
            .ok_or_else(|| math_err("linear_interest", "time went backwards"))?,
    );
    let result = checked_mul("linear_interest", rate, dt)? / U256::from(SECONDS_PER_YEAR);
    checked_add("linear_interest", RAY, result)
}

/// `MathUtils.calculateCompoundedInterest`: the three-term binomial approximation of
/// `(1 + rate/SECONDS_PER_YEAR)^Δt`, with Solidity's operation order and truncations.
pub fn compounded_interest(rate: U256, last: u64, now: u64) -> Result<U256> {
    let exp = now
        .checked_sub(last)
        .ok_or_else(|| math_err("compounded_interest", "time went backwards"))?;
    if exp == 0 {
        return Ok(RAY);
    }
    let exp_u = U256::from(exp);
    let exp_minus_one = U256::from(exp - 1);
    let exp_minus_two = U256::from(exp.saturating_sub(2));
    let year = U256::from(SECONDS_PER_YEAR);
    let base_power_two = ray_mul(rate, rate)? / (year * year);
    let base_power_three = ray_mul(base_power_two, rate)? / year;
    let op = "compounded_interest";
    let second =
        checked_mul(op, checked_mul(op, exp_u, exp_minus_one)?, base_power_two)? / U256::from(2u64);
    let third = checked_mul(
        op,
        checked_mul(op, checked_mul(op, exp_u, exp_minus_one)?, exp_minus_two)?,
        base_power_three,
    )? / U256::from(6u64);
    let first = checked_mul(op, rate, exp_u)? / year;
    checked_add(
        op,
        checked_add(op, checked_add(op, RAY, first)?, second)?,
        third,
    )
}

/// `ReserveLogic.getNormalizedIncome` at `now`.
pub fn normalized_income(r: &ReserveIndexes, now: u64) -> Result<U256> {
    if r.last_update_timestamp == now {
        return Ok(r.liquidity_index);
    }
    ray_mul(
        linear_interest(r.current_liquidity_rate, r.last_update_timestamp, now)?,
        r.liquidity_index,
    )
}

/// `ReserveLogic.getNormalizedDebt` at `now`.
pub fn normalized_debt(r: &ReserveIndexes, now: u64) -> Result<U256> {
    if r.last_update_timestamp == now {
        return Ok(r.variable_borrow_index);
    }
    ray_mul(
        compounded_interest(r.current_variable_borrow_rate, r.last_update_timestamp, now)?,
        r.variable_borrow_index,
    )
}

#[cfg(test)]
mod interest_tests {
    use super::*;

    #[test]
    fn no_time_no_interest_and_one_year_linear() {
        let rate = RAY / U256::from(10u64); // 10% a year
        assert_eq!(linear_interest(rate, 5, 5).unwrap(), RAY);
        assert_eq!(compounded_interest(rate, 5, 5).unwrap(), RAY);
        assert_eq!(
            linear_interest(rate, 0, SECONDS_PER_YEAR).unwrap(),
            RAY + rate
        );
        // compounding a year at 10% ≈ e^0.1 − 1 = 10.517%: the 3-term approximation gives 10.5167%
        let c = compounded_interest(rate, 0, SECONDS_PER_YEAR).unwrap();
        assert!(
            c > RAY + rate
                && c < RAY + rate + rate / U256::from(10u64) * U256::from(6u64) / U256::from(10u64),
            "{c}"
        );
        assert!(linear_interest(rate, 10, 5).is_err());
    }
}
