//! A pool's own price (Uniswap V2 `getReserves`, V3 `slot0`) against the oracle's, and the
//! arbitrage trade that brings it back to a target price: V2 by the constant product (the input
//! that moves the reserves to the target ratio, fee included), V3 by a swap through the router
//! with the target as its `sqrtPriceLimitX96` (the pool stops there).

use alloy_primitives::aliases::U160;
use alloy_primitives::{Address, Bytes, U256, U512};
use revm::database_interface::DBErrorMarker;
use revm::DatabaseRef;

use super::{side_amount, token_balance, uniswap_v2, uniswap_v3, DexAsset, RealDex, Route};
use crate::error::{Error, Result};
use crate::evm::executor::Evm;

/// The priority fee of a devnet chain's arbitrageur (0.5 gwei): after the oracle updates, users
/// and competitors of its block, so it trades on what they left, before the background traffic.
pub const ARBITRAGE_PRIORITY_FEE: u128 = 500_000_000;

/// 10^18: prices below are whole bought tokens per whole sold token, 18 decimals.
fn wad() -> U512 {
    U512::from(10u64).pow(U512::from(18u64))
}

fn ten_pow(decimals: u8) -> U512 {
    U512::from(10u64).pow(U512::from(decimals))
}

fn to_u256(v: U512, what: &str) -> Result<U256> {
    U256::checked_from_limbs_slice(&v.as_limbs()[..4])
        .filter(|_| v.as_limbs()[4..].iter().all(|l| *l == 0))
        .ok_or_else(|| Error::Decode {
            what: what.into(),
            message: format!("{v} does not fit 256 bits"),
        })
}

/// The oracle's price of `sell` in `buy` (USD prices with 8 decimals), whole tokens, 18 decimals.
pub fn oracle_price_wad(usd_sell: U256, usd_buy: U256) -> Result<U256> {
    if usd_buy.is_zero() {
        return Err(Error::config(
            "dex pool price",
            "0",
            "an oracle price above 0 for the bought asset",
        ));
    }
    to_u256(
        U512::from(usd_sell) * wad() / U512::from(usd_buy),
        "oracle price",
    )
}

/// The pool's own price of asset `sell` in asset `buy` on `evm`'s state (whole tokens, 18
/// decimals): V2 from `getReserves`, V3 from `slot0().sqrtPriceX96`.
pub fn pool_price_wad<DB>(evm: &mut Evm<DB>, dex: &RealDex, sell: usize, buy: usize) -> Result<U256>
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    let (s, b) = (dex.asset(sell)?, dex.asset(buy)?);
    let pool = dex.pool(evm, s.token, b.token)?;
    if pool.is_zero() {
        return Err(Error::config(
            "dex pool",
            format!("{} / {}", s.token, b.token),
            "a pool the factory knows",
        ));
    }
    let (num, den) = match dex.route() {
        Route::UniswapV2 => {
            let (rs, rb) = uniswap_v2::reserves(evm, pool, s.token)?;
            (
                U512::from(rb) * ten_pow(s.decimals),
                U512::from(rs) * ten_pow(b.decimals),
            )
        }
        Route::UniswapV3 { .. } => {
            let p = U512::from(uniswap_v3::sqrt_price(evm, pool)?);
            let q192 = U512::from(1u64) << 192;
            if s.token < b.token {
                (p * p * ten_pow(s.decimals), q192 * ten_pow(b.decimals))
            } else {
                (q192 * ten_pow(s.decimals), p * p * ten_pow(b.decimals))
            }
        }
    };
    if den.is_zero() {
        return Err(Error::config("dex pool", pool, "a pool holding liquidity"));
    }
    to_u256(num * wad() / den, "pool price")
}

/// How far `price` is from `target`, bps (rounded down).
pub fn deviation_bps(price: U256, target: U256) -> U256 {
    if target.is_zero() {
        return U256::MAX;
    }
    price.abs_diff(target) * U256::from(10_000u64) / target
}

/// One arbitrage swap: sell `amount_in` of asset `sell` for asset `buy` through the router
/// (`call`, paying `recipient`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArbitrageTrade {
    /// Asset sold into the pool.
    pub sell: usize,
    /// Asset bought from it.
    pub buy: usize,
    /// Most it sells (V3 takes only what reaching the target needs).
    pub amount_in: U256,
    /// The router calldata.
    pub call: Bytes,
}

/// The swap that brings the pool of assets `a` and `b` to the price `usd_a / usd_b` (USD
/// prices, 8 decimals), sent by `trader` from its own balances; `None` when the pool is within
/// `band_bps` of it (or the trader holds none of what it would sell).
#[allow(clippy::too_many_arguments)]
pub fn arbitrage_trade<DB>(
    evm: &mut Evm<DB>,
    dex: &RealDex,
    a: usize,
    b: usize,
    usd_a: U256,
    usd_b: U256,
    band_bps: u64,
    trader: Address,
) -> Result<Option<ArbitrageTrade>>
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    let (sa, sb) = (dex.asset(a)?, dex.asset(b)?);
    let target = oracle_price_wad(usd_a, usd_b)?;
    let price = pool_price_wad(evm, dex, a, b)?;
    if deviation_bps(price, target) <= U256::from(band_bps) {
        return Ok(None);
    }
    // The pool prices `a` above the oracle: sell `a` into it; otherwise sell `b`.
    let (sell, buy, s_asset, b_asset) = if price > target {
        (a, b, sa, sb)
    } else {
        (b, a, sb, sa)
    };
    let held = token_balance(evm, s_asset.token, trader)?;
    if held.is_zero() {
        return Ok(None);
    }
    let pool = dex.pool(evm, sa.token, sb.token)?;
    let trade = match dex.route() {
        Route::UniswapV2 => {
            let (rs, rb) = uniswap_v2::reserves(evm, pool, s_asset.token)?;
            let (usd_s, usd_b) = if sell == a {
                (usd_a, usd_b)
            } else {
                (usd_b, usd_a)
            };
            // Reserves at the target keep the product: rs'^2 = rs·rb · usd_b·10^ds / (usd_s·10^db).
            let k = U512::from(rs) * U512::from(rb);
            let num = k * U512::from(usd_b) * ten_pow(s_asset.decimals);
            let den = U512::from(usd_s) * ten_pow(b_asset.decimals);
            if den.is_zero() {
                return Ok(None);
            }
            let rs_target = (num / den).root(2);
            let rs = U512::from(rs);
            if rs_target <= rs {
                return Ok(None);
            }
            // The pool keeps 0.3% of the input: send enough for the rest to move it there.
            let amount = to_u256(
                (rs_target - rs) * U512::from(1000u64) / U512::from(997u64),
                "arbitrage amount",
            )?
            .min(held);
            if amount.is_zero() {
                return Ok(None);
            }
            ArbitrageTrade {
                sell,
                buy,
                amount_in: amount,
                call: uniswap_v2::swap_call(
                    s_asset.token,
                    b_asset.token,
                    amount,
                    U256::ZERO,
                    trader,
                ),
            }
        }
        Route::UniswapV3 { fee } => {
            // The target as the pool holds prices: token1 per token0.
            let (t0, usd0, t1, usd1) = if sa.token < sb.token {
                (sa, usd_a, sb, usd_b)
            } else {
                (sb, usd_b, sa, usd_a)
            };
            let depth = t0
                .depth_base
                .max(t1.depth_base)
                .max(U256::from(10u64).pow(U256::from(14u64)));
            let limit = uniswap_v3::sqrt_price_x96(
                side_amount(
                    DexAsset {
                        depth_base: depth,
                        ..t0
                    },
                    depth,
                    usd0,
                )?,
                side_amount(
                    DexAsset {
                        depth_base: depth,
                        ..t1
                    },
                    depth,
                    usd1,
                )?,
            )?;
            let current = uniswap_v3::sqrt_price(evm, pool)?;
            let limit_u = U256::from(limit);
            if limit_u == current {
                return Ok(None);
            }
            // Selling token0 lowers the price; the limit must lie on the side the swap moves to.
            let sells_token0 = s_asset.token == t0.token;
            if sells_token0 != (limit_u < current) {
                return Ok(None);
            }
            ArbitrageTrade {
                sell,
                buy,
                amount_in: held,
                call: uniswap_v3::swap_to_price_call(
                    fee,
                    s_asset.token,
                    b_asset.token,
                    held,
                    U160::from(limit),
                    trader,
                ),
            }
        }
    };
    Ok(Some(trade))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deviation_and_oracle_price() {
        let p = oracle_price_wad(
            U256::from(2_000u64) * U256::from(100_000_000u64),
            U256::from(100_000_000u64),
        )
        .unwrap();
        assert_eq!(
            p,
            U256::from(2_000u64) * U256::from(10u64).pow(U256::from(18u64))
        );
        assert_eq!(
            deviation_bps(U256::from(1_030u64), U256::from(1_000u64)),
            U256::from(300u64)
        );
        assert_eq!(
            deviation_bps(U256::from(970u64), U256::from(1_000u64)),
            U256::from(300u64)
        );
    }
}
