//! Costs of a liquidation: gas (EVM gas used × (base fee + priority fee)) in ETH and USD, the
//! flash-loan premium, and a constant-product DEX model for selling seized collateral.

use alloy_primitives::U256;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::math::fixed::{percent_mul, WAD};

/// Gas cost of a transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GasCost {
    /// Effective gas price, wei per gas.
    pub gas_price_wei: U256,
    /// Cost in wei.
    pub wei: U256,
    /// Cost in base currency (USD, 8 decimals) at the native asset's oracle price.
    pub base: U256,
}

/// Gas cost of `gas_used` at `base_fee + priority_fee`, priced at `native_price` (8 decimals).
pub fn gas_cost(gas_used: u64, base_fee: u64, priority_fee: u128, native_price: U256) -> GasCost {
    let gas_price_wei = U256::from(base_fee) + U256::from(priority_fee);
    let wei = U256::from(gas_used) * gas_price_wei;
    GasCost {
        gas_price_wei,
        wei,
        base: wei * native_price / WAD,
    }
}

/// Flash-loan premium on `amount` (Aave: `amount.percentMul(premiumBps)`).
pub fn flash_loan_premium(amount: U256, premium_bps: u16) -> Result<U256> {
    percent_mul(amount, U256::from(premium_bps))
}

/// A constant-product pool (x·y = k) between a collateral asset and the USD stablecoin side, with
/// a swap fee; depth is given as the USD value of each side.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConstantProductPool {
    /// USD value of each side of the pool (8 decimals).
    pub depth_base: U256,
    /// Swap fee in basis points (30 = 0.3%).
    pub fee_bps: u16,
}

/// The result of selling collateral through the pool.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SaleOutcome {
    /// USD received (8 decimals).
    pub proceeds_base: U256,
    /// Oracle value of what was sold minus what was received (8 decimals).
    pub slippage_base: U256,
}

impl ConstantProductPool {
    /// Sells collateral worth `value_base` at the oracle price into a pool centred on the oracle
    /// price: out = y·x_in/(x + x_in) after the fee, all in USD units.
    pub fn sell(&self, value_base: U256) -> Result<SaleOutcome> {
        if self.depth_base.is_zero() {
            return Err(Error::config("dex depth", 0, "a pool depth above 0"));
        }
        let after_fee = value_base * U256::from(10_000u64 - self.fee_bps.min(10_000) as u64)
            / U256::from(10_000u64);
        let proceeds = self.depth_base * after_fee / (self.depth_base + after_fee);
        Ok(SaleOutcome {
            proceeds_base: proceeds,
            slippage_base: value_base.saturating_sub(proceeds),
        })
    }
}

/// Where seized collateral is sold: one constant-product pool per reserve (against USD), centred
/// on the oracle price at each sale (arbitrageurs re-centre it between liquidations).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DexModel {
    /// Pool per reserve index (`None`: that asset cannot be sold).
    pub pools: Vec<Option<ConstantProductPool>>,
}

impl DexModel {
    /// The same pool for every one of `reserves` reserves.
    pub fn uniform(reserves: usize, pool: ConstantProductPool) -> Self {
        Self {
            pools: vec![Some(pool); reserves],
        }
    }

    /// Sells collateral of reserve `reserve` worth `value_base` at the oracle; `None` when that
    /// asset has no pool.
    pub fn sell(&self, reserve: usize, value_base: U256) -> Result<Option<SaleOutcome>> {
        match self.pools.get(reserve).copied().flatten() {
            Some(pool) => pool.sell(value_base).map(Some),
            None => Ok(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gas_cost_in_eth_and_usd() {
        // 300k gas at 100 gwei = 0.03 ETH; at 2000 USD/ETH = 60 USD
        let c = gas_cost(
            300_000,
            90_000_000_000,
            10_000_000_000,
            U256::from(2_000u64) * U256::from(100_000_000u64),
        );
        assert_eq!(c.wei, U256::from(30_000_000_000_000_000u64));
        assert_eq!(c.base, U256::from(6_000_000_000u64));
    }

    #[test]
    fn constant_product_slippage_grows_with_size() {
        let pool = ConstantProductPool {
            depth_base: U256::from(1_000_000u64) * U256::from(100_000_000u64),
            fee_bps: 0,
        };
        let small = pool
            .sell(U256::from(1_000u64) * U256::from(100_000_000u64))
            .unwrap();
        let large = pool
            .sell(U256::from(100_000u64) * U256::from(100_000_000u64))
            .unwrap();
        // selling 10% of depth loses 1/11 ≈ 9.09%
        assert_eq!(
            large.proceeds_base,
            U256::from(100_000u64) * U256::from(100_000_000u64) * U256::from(10u64)
                / U256::from(11u64)
        );
        assert!(small.slippage_base * U256::from(100u64) < large.slippage_base);
    }

    #[test]
    fn flash_premium_rounds_like_aave() {
        assert_eq!(
            flash_loan_premium(U256::from(1_000_000u64), 9).unwrap(),
            U256::from(900u64)
        );
        assert_eq!(
            flash_loan_premium(U256::from(5_556u64), 9).unwrap(),
            U256::from(5u64)
        );
    }
}
