//! Aave V3 behind the protocol abstraction: positions with `math::aave`, the borrower index as the
//! market's book, and `Pool.liquidationCall`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use alloy_primitives::{Address, Log, B256, U256};
use alloy_sol_types::{SolCall, SolEvent};
use revm::database_interface::DBErrorMarker;
use revm::DatabaseRef;

use super::abi::IPool;
use super::{decode_events, errors, AaveV3Market, PoolEvent};
use crate::error::Result;
use crate::evm::executor::{decode_revert_reason, Evm};
use crate::evm::replayed::ReplayedTx;
use crate::math::aave::{
    self as aave_math, LiquidationInput, LiquidationOutcome, ReserveConfig, UserReserve,
};
use crate::math::fixed::WAD;
use crate::protocol::aave_v3::book::BorrowerIndex;
use crate::protocol::devnet::{DevnetMarket, DevnetState};
use crate::protocol::market::{
    BookUpdates, Call, Holding, LendingMarket, LiquidationEvent, LiquidationRequest, MarketState,
    Position, PositionBook, ProtocolHealth,
};

/// An Aave V3 position: the user's reserves as `math::aave` takes them.
#[derive(Debug, Clone)]
pub struct V3Position {
    reserves: Vec<UserReserve>,
    configs: Arc<Vec<ReserveConfig>>,
    holdings: Vec<Holding>,
    health_factor: U256,
    available_borrows: U256,
}

/// Holdings of Aave-style reserves (V3 and V2), with the USD price of reserve `i` from `usd`.
pub fn holdings_of(reserves: &[UserReserve], usd: impl Fn(usize) -> U256) -> Vec<Holding> {
    reserves
        .iter()
        .enumerate()
        .map(|(i, r)| Holding {
            collateral: r.collateral_balance,
            debt: r.debt_balance,
            price: usd(i),
            decimals: r.decimals,
            collateral_enabled: r.usage_as_collateral && r.liquidation_threshold != 0,
            borrowing: r.borrowing,
        })
        .collect()
}

/// Aave-style reserves after liquidation `o` of pair (c, d): the collateral loses what went to
/// the liquidator and the protocol fee, the debt what was repaid, and emptied flags are cleared.
pub fn reserves_after(
    reserves: &[UserReserve],
    c: usize,
    d: usize,
    o: &LiquidationOutcome,
) -> Vec<UserReserve> {
    let mut r = reserves.to_vec();
    r[c].collateral_balance = r[c]
        .collateral_balance
        .saturating_sub(o.collateral_to_liquidator + o.protocol_fee);
    r[d].debt_balance = r[d].debt_balance.saturating_sub(o.debt_repaid);
    if r[d].debt_balance.is_zero() {
        r[d].borrowing = false;
    }
    if r[c].collateral_balance.is_zero() {
        r[c].usage_as_collateral = false;
    }
    r
}

/// Collateral and debt bitmasks (bit i = reserve i) of an Aave user-configuration bitmap over
/// `reserves` reserves (bit 2i borrowing, 2i+1 collateral).
pub fn config_exposure(config: U256, reserves: usize) -> (u64, u64) {
    let (mut collateral, mut debt) = (0u64, 0u64);
    for i in 0..reserves.min(64) {
        if config.bit(2 * i + 1) {
            collateral |= 1 << i;
        }
        if config.bit(2 * i) {
            debt |= 1 << i;
        }
    }
    (collateral, debt)
}

impl V3Position {
    /// A position from the user's reserves and the market's reserve configurations.
    pub fn new(reserves: Vec<UserReserve>, configs: Arc<Vec<ReserveConfig>>) -> Result<Self> {
        let account = aave_math::user_account_data(&reserves)?;
        let (health_factor, available_borrows) =
            (account.health_factor, account.available_borrows_base);
        let holdings = holdings_of(&reserves, |i| reserves[i].price);
        Ok(Self {
            reserves,
            configs,
            holdings,
            health_factor,
            available_borrows,
        })
    }

    /// The reserves as `math::aave` takes them.
    pub fn reserves(&self) -> &[UserReserve] {
        &self.reserves
    }
}

impl Position for V3Position {
    fn holdings(&self) -> &[Holding] {
        &self.holdings
    }

    fn health_factor(&self) -> Result<U256> {
        Ok(self.health_factor)
    }

    fn available_borrows_usd(&self) -> Result<U256> {
        Ok(self.available_borrows)
    }

    fn refusal(&self, c: usize, d: usize) -> Result<Option<&'static str>> {
        let (Some(cr), Some(dr)) = (self.reserves.get(c), self.reserves.get(d)) else {
            return Ok(Some("reserve index out of range"));
        };
        Ok(if !aave_math::is_liquidatable(self.health_factor) {
            Some("HEALTH_FACTOR_NOT_BELOW_THRESHOLD (45)")
        } else if !cr.usage_as_collateral || cr.liquidation_threshold == 0 {
            Some("COLLATERAL_CANNOT_BE_LIQUIDATED (46)")
        } else if dr.debt_balance.is_zero() {
            Some("SPECIFIED_CURRENCY_NOT_BORROWED_BY_USER (47)")
        } else {
            None
        })
    }

    fn liquidation(&self, c: usize, d: usize, debt_to_cover: U256) -> Result<LiquidationOutcome> {
        let (r, configs) = (&self.reserves, &self.configs);
        aave_math::liquidation_outcome(&LiquidationInput {
            health_factor: self.health_factor,
            user_debt: r[d].debt_balance,
            debt_to_cover,
            user_collateral_balance: r[c].collateral_balance,
            collateral_price: r[c].price,
            collateral_decimals: r[c].decimals,
            debt_price: r[d].price,
            debt_decimals: r[d].decimals,
            liquidation_bonus: configs[c].liquidation_bonus,
            liquidation_protocol_fee: configs[c].liquidation_protocol_fee,
        })
    }

    fn after(&self, c: usize, d: usize, o: &LiquidationOutcome) -> Result<Box<dyn Position>> {
        let r = reserves_after(&self.reserves, c, d, o);
        Ok(Box::new(V3Position::new(r, self.configs.clone())?))
    }
}

impl LendingMarket for AaveV3Market {
    fn decimals(&self) -> Vec<u8> {
        self.reserves.iter().map(|r| r.decimals).collect()
    }
    fn asset_addresses(&self) -> Vec<Address> {
        self.reserves.iter().map(|r| r.underlying).collect()
    }
    fn price_oracle(&self) -> Option<(Address, bool)> {
        None
    }
    fn symbols(&self) -> Vec<String> {
        self.reserves.iter().map(|r| r.symbol.clone()).collect()
    }
    fn native_asset(&self) -> Result<usize> {
        self.asset(&self.config.native_asset)
    }
    fn flash_loan_premium_bps(&self) -> Option<u16> {
        Some(self.config.flash_loan_premium_bps)
    }
    fn addresses(&self) -> BTreeMap<String, Address> {
        BTreeMap::from([
            ("pool".to_string(), self.pool),
            (
                "pool_addresses_provider".to_string(),
                self.addresses_provider,
            ),
            ("oracle".to_string(), self.oracle),
            ("pool_configurator".to_string(), self.pool_configurator),
            ("data_provider".to_string(), self.data_provider),
        ])
    }
    fn liquidation_log(
        &self,
        address: Address,
        topics: &[B256],
        data: &[u8],
    ) -> Option<(Address, Address)> {
        if address != self.pool || topics.first() != Some(&IPool::LiquidationCall::SIGNATURE_HASH) {
            return None;
        }
        let e = IPool::LiquidationCall::decode_raw_log(topics.iter().copied(), data).ok()?;
        Some((e.user, e.liquidator))
    }
    fn log_users(&self, address: Address, topics: &[B256]) -> Vec<Address> {
        if address != self.pool {
            return Vec::new();
        }
        topics
            .get(3)
            .or(topics.get(2))
            .map(|t| vec![Address::from_word(*t)])
            .unwrap_or_default()
    }
    fn liquidation_tx(
        &self,
        _position: &dyn Position,
        user: Address,
        request: &LiquidationRequest,
    ) -> Result<Call> {
        let LiquidationRequest {
            collateral: c,
            debt: d,
            debt_to_cover,
            receive_shares,
        } = *request;
        let call = self.liquidation_calldata(c, d, user, debt_to_cover, receive_shares)?;
        Ok(Call {
            to: self.pool,
            input: call.abi_encode().into(),
        })
    }
    fn explain_revert(&self, output: &[u8]) -> String {
        errors::explain(&decode_revert_reason(output))
    }
}

impl DevnetMarket for AaveV3Market {
    fn supply_call(&self, user: Address, i: usize, amount: U256) -> Result<Call> {
        Ok(Call {
            to: self.pool,
            input: IPool::supplyCall {
                asset: self.reserve(i)?.underlying,
                amount,
                onBehalfOf: user,
                referralCode: 0,
            }
            .abi_encode()
            .into(),
        })
    }
    fn borrow_call(&self, user: Address, i: usize, amount: U256) -> Result<Call> {
        Ok(Call {
            to: self.pool,
            input: IPool::borrowCall {
                asset: self.reserve(i)?.underlying,
                amount,
                interestRateMode: U256::from(2u64),
                referralCode: 0,
                onBehalfOf: user,
            }
            .abi_encode()
            .into(),
        })
    }
    fn repay_call(&self, user: Address, i: usize, amount: U256) -> Result<Call> {
        Ok(Call {
            to: self.pool,
            input: IPool::repayCall {
                asset: self.reserve(i)?.underlying,
                amount,
                interestRateMode: U256::from(2u64),
                onBehalfOf: user,
            }
            .abi_encode()
            .into(),
        })
    }
    fn price_calls(&self, i: usize, usd_prices: &[U256]) -> Result<Vec<Call>> {
        let price = usd_prices.get(i).copied().unwrap_or_default();
        self.oracle_calls(i, price)
    }
    fn price_call_gas(&self) -> Option<u64> {
        self.config.oracle.price_call_gas()
    }
    fn scheduled_oracle_calls(&self, offset: u64) -> Result<Vec<Call>> {
        Ok(AaveV3Market::scheduled_oracle_calls(self, offset))
    }
}

impl<DB> MarketState<DB> for AaveV3Market
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    fn protocol_health(&self, evm: &mut Evm<DB>, user: Address) -> Result<ProtocolHealth> {
        let hf = self.account_data(evm, user)?.health_factor;
        Ok(ProtocolHealth {
            health_factor: Some(hf),
            liquidatable: hf < crate::protocol::market::HEALTH_FACTOR_ONE,
        })
    }
    fn fund_liquidator(&self, evm: &mut Evm<DB>, d: usize, who: Address) -> Result<()> {
        let debt = self.reserve(d)?;
        let debt_in_pool = self.balance_of(evm, debt.underlying, debt.a_token)?;
        let funding = crate::protocol::market::liquidator_funding(debt_in_pool);
        AaveV3Market::fund_by_storage(self, evm, d, who, funding)
    }
    fn liquidations(&self, _evm: &mut Evm<DB>, logs: &[Log]) -> Result<Vec<LiquidationEvent>> {
        let position = |asset: Address| {
            self.reserves
                .iter()
                .position(|r| r.underlying == asset)
                .unwrap_or(usize::MAX)
        };
        Ok(decode_events(self.pool, logs)
            .into_iter()
            .filter_map(|e| match e {
                PoolEvent::LiquidationCall(e) => Some(LiquidationEvent {
                    user: e.user,
                    liquidator: e.liquidator,
                    collateral: position(e.collateralAsset),
                    debt: position(e.debtAsset),
                    debt_repaid: e.debtToCover,
                    collateral_received: e.liquidatedCollateralAmount,
                }),
                _ => None,
            })
            .collect())
    }
}

impl<DB> DevnetState<DB> for AaveV3Market
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    fn fund(&self, evm: &mut Evm<DB>, i: usize, who: Address, amount: U256) -> Result<()> {
        AaveV3Market::fund(self, evm, i, who, amount)
    }
    fn supply(&self, evm: &mut Evm<DB>, user: Address, i: usize, amount: U256) -> Result<()> {
        AaveV3Market::supply(self, evm, user, i, amount).map(|_| ())
    }
    fn borrow(&self, evm: &mut Evm<DB>, user: Address, i: usize, amount: U256) -> Result<()> {
        AaveV3Market::borrow(self, evm, user, i, amount).map(|_| ())
    }
    fn borrow_for_hf(&self, evm: &mut Evm<DB>, user: Address, d: usize, hf: U256) -> Result<U256> {
        let account = self.account_data(evm, user)?;
        let wanted_base = account.total_collateral_base * account.current_liquidation_threshold
            / U256::from(10_000u64)
            * WAD
            / hf;
        let cap = account.available_borrows_base * U256::from(995u64) / U256::from(1000u64);
        let price = self.price(evm, d)?;
        let unit = U256::from(10u64).pow(U256::from(self.reserve(d)?.decimals));
        Ok(wanted_base.min(cap) * unit / price)
    }
}

impl PositionBook for BorrowerIndex {
    fn users(&self) -> Vec<Address> {
        BorrowerIndex::users(self).map(|(a, _)| *a).collect()
    }

    fn user_count(&self) -> usize {
        self.len()
    }

    fn exposure(&self, user: &Address) -> Option<(u64, u64)> {
        let config = self.position_of(user)?.config;
        Some(config_exposure(config, self.configs().len()))
    }

    fn oracle_prices(&self) -> Vec<U256> {
        self.reserves().iter().map(|r| r.price).collect()
    }

    fn usd_price(&self, i: usize) -> U256 {
        self.reserves().get(i).map(|r| r.price).unwrap_or_default()
    }

    fn value_factors(&self) -> Vec<(U256, U256)> {
        self.reserves()
            .iter()
            .map(|r| {
                (
                    r.price.saturating_mul(r.liquidity_index),
                    r.price.saturating_mul(r.variable_debt_index),
                )
            })
            .collect()
    }

    fn position(&self, user: &Address) -> Result<Option<Box<dyn Position>>> {
        if self.position_of(user).is_none() {
            return Ok(None);
        }
        Ok(Some(Box::new(V3Position::new(
            self.user_reserves(user)?,
            self.shared_configs(),
        )?)))
    }

    fn set_timestamp(&mut self, now: u64) -> Result<()> {
        BorrowerIndex::set_timestamp(self, now)
    }

    fn deferred_positions(
        &self,
        users: &[Address],
    ) -> Result<Vec<Option<crate::protocol::market::DeferredPosition>>> {
        Ok(BorrowerIndex::deferred_positions(self, users))
    }
}

impl<DB> BookUpdates<DB> for BorrowerIndex
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    fn apply_logs(&mut self, evm: &mut Evm<DB>, logs: &[Log]) -> Result<BTreeSet<Address>> {
        BorrowerIndex::apply_logs(self, evm, logs)
    }

    fn moves_prices(&self, tx: &ReplayedTx<'_>) -> bool {
        BorrowerIndex::moves_prices(self, tx)
    }

    fn apply_price_update(&mut self, evm: &mut Evm<DB>, tx: &ReplayedTx<'_>) -> Result<()> {
        BorrowerIndex::apply_price_update(self, evm, tx)
    }
}
