//! Aave V2 behind the protocol abstraction: positions with `math::aave` (account data, in ETH)
//! and `math::aave_v2` (the collateral manager's sizing), a book kept from the LendingPool's
//! events, and `LendingPool.liquidationCall`.
//!
//! The book holds scaled balances and each reserve's indexes and rates (from `getReserveData`,
//! then from every `ReserveDataUpdated` event), so balances at any timestamp are computed exactly
//! as the aTokens and debt tokens compute them. Stable-rate debt is read as a balance when the user
//! is touched (devnet windows borrow at the variable rate only). USD values use the oracle's
//! `getEthUsdPrice` (8 decimals).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use alloy_primitives::{Address, Log, B256, U256};
use alloy_sol_types::{SolCall, SolEvent};
use revm::database_interface::DBErrorMarker;
use revm::DatabaseRef;

use super::abi::{ILendingPool, IPriceOracle, IScaledBalanceToken};
use super::{decode_liquidation_calls, explain_code, AaveV2Market};
use crate::error::{Error, Result};
use crate::evm::executor::{decode_revert_reason, Evm};
use crate::evm::replayed::ReplayedTx;
use crate::evm::watch::SlotWatch;
use crate::math::aave::{
    self as aave_math, LiquidationOutcome, ReserveConfig, ReserveIndexes, UserReserve,
};
use crate::math::aave_v2::{
    liquidation_outcome_v2, LiquidationInputV2, LIQUIDATION_CLOSE_FACTOR_PERCENT,
};
use crate::math::fixed::{ray_mul, WAD};
use crate::protocol::aave_v3::market::{config_exposure, holdings_of, reserves_after};
use crate::protocol::devnet::{DevnetMarket, DevnetState};
use crate::protocol::market::{
    BookUpdates, Call, Holding, LendingMarket, LiquidationEvent, LiquidationRequest, MarketState,
    Position, PositionBook, ProtocolHealth,
};

/// Aave V2's flash-loan premium (`FLASHLOAN_PREMIUM_TOTAL` in `LendingPool` 1.0.1), bps.
pub const FLASH_LOAN_PREMIUM_BPS: u16 = 9;

/// An Aave V2 position: reserves priced in ETH as `math::aave` takes them.
#[derive(Debug, Clone)]
pub struct V2Position {
    reserves: Vec<UserReserve>,
    bonus: Arc<Vec<u16>>,
    holdings: Vec<Holding>,
    health_factor: U256,
    available_borrows_eth: U256,
    eth_usd: U256,
}

impl V2Position {
    /// A position from ETH-priced reserves, per-reserve bonuses, USD prices (8 decimals) and the
    /// USD price of ETH (8 decimals).
    pub fn new(
        reserves: Vec<UserReserve>,
        bonus: Arc<Vec<u16>>,
        usd: &[U256],
        eth_usd: U256,
    ) -> Result<Self> {
        let account = aave_math::user_account_data(&reserves)?;
        let holdings = holdings_of(&reserves, |i| usd.get(i).copied().unwrap_or_default());
        Ok(Self {
            reserves,
            bonus,
            holdings,
            health_factor: account.health_factor,
            available_borrows_eth: account.available_borrows_base,
            eth_usd,
        })
    }
}

impl Position for V2Position {
    fn holdings(&self) -> &[Holding] {
        &self.holdings
    }

    fn health_factor(&self) -> Result<U256> {
        Ok(self.health_factor)
    }

    fn available_borrows_usd(&self) -> Result<U256> {
        Ok(self.available_borrows_eth * self.eth_usd / WAD)
    }

    fn refusal(&self, c: usize, d: usize) -> Result<Option<&'static str>> {
        let (Some(cr), Some(dr)) = (self.reserves.get(c), self.reserves.get(d)) else {
            return Ok(Some("reserve index out of range"));
        };
        Ok(if !aave_math::is_liquidatable(self.health_factor) {
            Some("42 (LPCM_HEALTH_FACTOR_NOT_BELOW_THRESHOLD)")
        } else if !cr.usage_as_collateral || cr.liquidation_threshold == 0 {
            Some("43 (LPCM_COLLATERAL_CANNOT_BE_LIQUIDATED)")
        } else if dr.debt_balance.is_zero() {
            Some("44 (LPCM_SPECIFIED_CURRENCY_NOT_BORROWED_BY_USER)")
        } else {
            None
        })
    }

    fn liquidation(&self, c: usize, d: usize, debt_to_cover: U256) -> Result<LiquidationOutcome> {
        let r = &self.reserves;
        let o = liquidation_outcome_v2(&LiquidationInputV2 {
            user_debt: r[d].debt_balance,
            debt_to_cover,
            user_collateral_balance: r[c].collateral_balance,
            collateral_price: r[c].price,
            collateral_decimals: r[c].decimals,
            debt_price: r[d].price,
            debt_decimals: r[d].decimals,
            liquidation_bonus: self.bonus[c],
        })?;
        Ok(LiquidationOutcome {
            max_liquidatable_debt: o.max_liquidatable_debt,
            debt_repaid: o.debt_repaid,
            collateral_to_liquidator: o.collateral_to_liquidator,
            protocol_fee: U256::ZERO,
            collateral_capped: o.collateral_capped,
            close_factor: LIQUIDATION_CLOSE_FACTOR_PERCENT,
        })
    }

    fn after(&self, c: usize, d: usize, o: &LiquidationOutcome) -> Result<Box<dyn Position>> {
        // no protocol fee in V2: the collateral loses exactly what the liquidator receives
        let r = reserves_after(&self.reserves, c, d, o);
        let usd: Vec<U256> = self.holdings.iter().map(|h| h.price).collect();
        Ok(Box::new(V2Position::new(
            r,
            self.bonus.clone(),
            &usd,
            self.eth_usd,
        )?))
    }
}

/// One user as the book holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct V2User {
    config: U256,
    scaled_collateral: Vec<U256>,
    scaled_variable_debt: Vec<U256>,
    stable_debt: Vec<U256>,
}

/// Every borrower of an Aave V2 market.
#[derive(Debug, Clone)]
pub struct AaveV2Book {
    market: AaveV2Market,
    configs: Vec<ReserveConfig>,
    bonus: Arc<Vec<u16>>,
    users: BTreeMap<Address, V2User>,
    data: Vec<ReserveIndexes>,
    income: Vec<U256>,
    debt_index: Vec<U256>,
    prices_eth: Vec<U256>,
    eth_usd: U256,
    now: u64,
    /// Storage the oracle's price reads touched: a transaction writing it moved a price.
    price_slots: SlotWatch,
}

fn view_err(what: &str) -> impl Fn(Error) -> Error + '_ {
    move |e| Error::Database(format!("{what}: {e}"))
}

impl AaveV2Book {
    /// A book over `market`, seeded with `users`, read from `evm`'s state.
    pub fn new<DB>(market: &AaveV2Market, evm: &mut Evm<DB>, users: &[Address]) -> Result<Self>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        let mut configs = Vec::new();
        let mut data = Vec::new();
        for r in &market.reserves {
            let d = evm.view(
                market.pool,
                &ILendingPool::getReserveDataCall {
                    asset: r.underlying,
                },
                "LendingPool.getReserveData",
            )?;
            configs.push(ReserveConfig::decode(d.configuration.data));
            data.push(ReserveIndexes {
                liquidity_index: U256::from(d.liquidityIndex),
                current_liquidity_rate: U256::from(d.currentLiquidityRate),
                variable_borrow_index: U256::from(d.variableBorrowIndex),
                current_variable_borrow_rate: U256::from(d.currentVariableBorrowRate),
                last_update_timestamp: d.lastUpdateTimestamp.to::<u64>(),
            });
        }
        let n = market.reserves.len();
        let mut book = Self {
            market: market.clone(),
            bonus: Arc::new(configs.iter().map(|c| c.liquidation_bonus).collect()),
            configs,
            users: BTreeMap::new(),
            data,
            income: vec![U256::ZERO; n],
            debt_index: vec![U256::ZERO; n],
            prices_eth: vec![U256::ZERO; n],
            eth_usd: U256::ZERO,
            now: u64::MAX,
            price_slots: SlotWatch::new(),
        };
        book.read_prices(evm)?;
        let now: u64 = evm.block().timestamp.saturating_to();
        PositionBook::set_timestamp(&mut book, now)?;
        for user in users {
            book.read_user(evm, *user)?;
        }
        Ok(book)
    }

    fn read_prices<DB>(&mut self, evm: &mut Evm<DB>) -> Result<()>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        self.price_slots.clear();
        for (i, r) in self.market.reserves.iter().enumerate() {
            let (price, reads) = evm.view_with_reads(
                self.market.oracle,
                &IPriceOracle::getAssetPriceCall {
                    asset: r.underlying,
                },
                "PriceOracle.getAssetPrice",
            )?;
            self.prices_eth[i] = price;
            self.price_slots.extend(reads);
        }
        let (eth_usd, reads) = evm.view_with_reads(
            self.market.eth_usd_oracle(),
            &IPriceOracle::getEthUsdPriceCall {},
            "PriceOracle.getEthUsdPrice",
        )?;
        self.eth_usd = eth_usd;
        self.price_slots.extend(reads);
        Ok(())
    }

    fn read_user<DB>(&mut self, evm: &mut Evm<DB>, user: Address) -> Result<()>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        let config = evm
            .view(
                self.market.pool,
                &ILendingPool::getUserConfigurationCall { user },
                "LendingPool.getUserConfiguration",
            )?
            .data;
        if config.is_zero() {
            self.users.remove(&user);
            return Ok(());
        }
        let n = self.market.reserves.len();
        let mut u = V2User {
            config,
            scaled_collateral: vec![U256::ZERO; n],
            scaled_variable_debt: vec![U256::ZERO; n],
            stable_debt: vec![U256::ZERO; n],
        };
        let scaled = |evm: &mut Evm<DB>, token: Address| {
            evm.view(
                token,
                &IScaledBalanceToken::scaledBalanceOfCall { owner: user },
                "scaledBalanceOf",
            )
        };
        for (i, r) in self.market.reserves.iter().enumerate() {
            if config.bit(2 * i + 1) || config.bit(2 * i) {
                u.scaled_collateral[i] = scaled(evm, r.a_token)?;
            }
            if config.bit(2 * i) {
                u.scaled_variable_debt[i] = scaled(evm, r.variable_debt_token)?;
                u.stable_debt[i] = evm.view(
                    r.stable_debt_token,
                    &IScaledBalanceToken::balanceOfCall { owner: user },
                    "StableDebtToken.balanceOf",
                )?;
            }
        }
        self.users.insert(user, u);
        Ok(())
    }

    fn usd(&self) -> Vec<U256> {
        (0..self.prices_eth.len())
            .map(|i| self.usd_price(i))
            .collect()
    }

    fn reserve_of(&self, asset: Address) -> Option<usize> {
        self.market
            .reserves
            .iter()
            .position(|r| r.underlying == asset)
    }
}

impl PositionBook for AaveV2Book {
    fn users(&self) -> Vec<Address> {
        self.users.keys().copied().collect()
    }

    fn user_count(&self) -> usize {
        self.users.len()
    }

    fn exposure(&self, user: &Address) -> Option<(u64, u64)> {
        let config = self.users.get(user)?.config;
        Some(config_exposure(config, self.configs.len()))
    }

    fn oracle_prices(&self) -> Vec<U256> {
        self.prices_eth.clone()
    }

    fn usd_price(&self, i: usize) -> U256 {
        self.prices_eth.get(i).copied().unwrap_or_default() * self.eth_usd / WAD
    }

    /// Stable debt is held at its last read (it does not accrue in the book between events), so
    /// the variable index bounds every debt's growth.
    fn value_factors(&self) -> Vec<(U256, U256)> {
        self.prices_eth
            .iter()
            .zip(self.income.iter().zip(&self.debt_index))
            .map(|(p, (income, debt))| (p.saturating_mul(*income), p.saturating_mul(*debt)))
            .collect()
    }

    fn position(&self, user: &Address) -> Result<Option<Box<dyn Position>>> {
        let Some(u) = self.users.get(user) else {
            return Ok(None);
        };
        let mut reserves = Vec::with_capacity(self.configs.len());
        for (i, config) in self.configs.iter().enumerate() {
            reserves.push(UserReserve {
                collateral_balance: ray_mul(u.scaled_collateral[i], self.income[i])?,
                debt_balance: ray_mul(u.scaled_variable_debt[i], self.debt_index[i])?
                    + u.stable_debt[i],
                price: self.prices_eth[i],
                decimals: config.decimals,
                ltv: config.ltv,
                liquidation_threshold: config.liquidation_threshold,
                usage_as_collateral: u.config.bit(2 * i + 1),
                borrowing: u.config.bit(2 * i),
            });
        }
        Ok(Some(Box::new(V2Position::new(
            reserves,
            self.bonus.clone(),
            &self.usd(),
            self.eth_usd,
        )?)))
    }

    fn set_timestamp(&mut self, now: u64) -> Result<()> {
        if now == self.now {
            return Ok(());
        }
        for (i, d) in self.data.iter().enumerate() {
            self.income[i] = aave_math::normalized_income(d, now)?;
            self.debt_index[i] = aave_math::normalized_debt(d, now)?;
        }
        self.now = now;
        Ok(())
    }
}

impl<DB> BookUpdates<DB> for AaveV2Book
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    fn apply_logs(&mut self, evm: &mut Evm<DB>, logs: &[Log]) -> Result<BTreeSet<Address>> {
        let mut touched = BTreeSet::new();
        let now: u64 = evm.block().timestamp.saturating_to();
        let topic = |log: &Log, i: usize| log.topics().get(i).map(|t| Address::from_word(*t));
        for log in logs.iter().filter(|l| l.address == self.market.pool) {
            let Some(topic0) = log.topics().first() else {
                continue;
            };
            let user = match *topic0 {
                ILendingPool::Deposit::SIGNATURE_HASH | ILendingPool::Borrow::SIGNATURE_HASH => {
                    topic(log, 2)
                }
                ILendingPool::Withdraw::SIGNATURE_HASH
                | ILendingPool::Repay::SIGNATURE_HASH
                | ILendingPool::ReserveUsedAsCollateralEnabled::SIGNATURE_HASH
                | ILendingPool::ReserveUsedAsCollateralDisabled::SIGNATURE_HASH => topic(log, 2),
                ILendingPool::LiquidationCall::SIGNATURE_HASH => {
                    if let Ok(e) = ILendingPool::LiquidationCall::decode_log(log) {
                        if e.receiveAToken {
                            touched.insert(e.liquidator);
                        }
                    }
                    topic(log, 3)
                }
                ILendingPool::ReserveDataUpdated::SIGNATURE_HASH => {
                    let e = ILendingPool::ReserveDataUpdated::decode_log(log).map_err(|e| {
                        Error::Decode {
                            what: "ReserveDataUpdated".into(),
                            message: e.to_string(),
                        }
                    })?;
                    if let Some(i) = self.reserve_of(e.reserve) {
                        self.data[i] = ReserveIndexes {
                            liquidity_index: e.liquidityIndex,
                            current_liquidity_rate: e.liquidityRate,
                            variable_borrow_index: e.variableBorrowIndex,
                            current_variable_borrow_rate: e.variableBorrowRate,
                            last_update_timestamp: now,
                        };
                        self.income[i] = aave_math::normalized_income(&self.data[i], self.now)?;
                        self.debt_index[i] = aave_math::normalized_debt(&self.data[i], self.now)?;
                    }
                    None
                }
                _ => None,
            };
            touched.extend(user);
        }
        for user in &touched {
            self.read_user(evm, *user)
                .map_err(view_err("reading an Aave V2 user"))?;
        }
        Ok(touched)
    }

    fn moves_prices(&self, tx: &ReplayedTx<'_>) -> bool {
        tx.outcome
            .logs
            .iter()
            .any(|l| l.address == self.market.oracle || l.address == self.market.eth_usd_oracle())
            || self.price_slots.written_by(tx.outcome)
    }

    fn apply_price_update(&mut self, evm: &mut Evm<DB>, _tx: &ReplayedTx<'_>) -> Result<()> {
        self.read_prices(evm)
    }
}

impl LendingMarket for AaveV2Market {
    fn decimals(&self) -> Vec<u8> {
        self.reserves.iter().map(|r| r.decimals).collect()
    }
    fn asset_addresses(&self) -> Vec<Address> {
        self.reserves.iter().map(|r| r.underlying).collect()
    }
    fn price_oracle(&self) -> Option<(Address, bool)> {
        Some((self.oracle, false))
    }
    fn symbols(&self) -> Vec<String> {
        self.reserves.iter().map(|r| r.symbol.clone()).collect()
    }
    fn native_asset(&self) -> Result<usize> {
        crate::protocol::market::symbol_index(&self.symbols(), &self.native_asset)
    }
    fn flash_loan_premium_bps(&self) -> Option<u16> {
        Some(FLASH_LOAN_PREMIUM_BPS)
    }
    fn addresses(&self) -> BTreeMap<String, Address> {
        BTreeMap::from([
            ("lending_pool".to_string(), self.pool),
            ("lending_pool_addresses_provider".to_string(), self.provider),
            ("lending_pool_configurator".to_string(), self.configurator),
            (
                "lending_pool_collateral_manager".to_string(),
                self.collateral_manager,
            ),
            ("price_oracle".to_string(), self.oracle),
        ])
        .into_iter()
        .chain(
            self.price_oracle_mock
                .map(|mock| ("price_oracle_fallback".to_string(), mock)),
        )
        .collect()
    }
    fn liquidation_log(
        &self,
        address: Address,
        topics: &[B256],
        data: &[u8],
    ) -> Option<(Address, Address)> {
        if address != self.pool
            || topics.first() != Some(&ILendingPool::LiquidationCall::SIGNATURE_HASH)
        {
            return None;
        }
        let e = ILendingPool::LiquidationCall::decode_raw_log(topics.iter().copied(), data).ok()?;
        Some((e.user, e.liquidator))
    }
    fn log_users(&self, address: Address, topics: &[B256]) -> Vec<Address> {
        if address != self.pool {
            return Vec::new();
        }
        let at = |i: usize| topics.get(i).map(|t| Address::from_word(*t));
        match topics.first().copied() {
            Some(ILendingPool::LiquidationCall::SIGNATURE_HASH) => at(3).into_iter().collect(),
            Some(ILendingPool::Deposit::SIGNATURE_HASH)
            | Some(ILendingPool::Borrow::SIGNATURE_HASH)
            | Some(ILendingPool::Withdraw::SIGNATURE_HASH)
            | Some(ILendingPool::Repay::SIGNATURE_HASH) => at(2).into_iter().collect(),
            _ => Vec::new(),
        }
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
        Ok(Call {
            to: self.pool,
            input: ILendingPool::liquidationCallCall {
                collateralAsset: self.reserve(c)?.underlying,
                debtAsset: self.reserve(d)?.underlying,
                user,
                debtToCover: debt_to_cover,
                receiveAToken: receive_shares,
            }
            .abi_encode()
            .into(),
        })
    }
    fn explain_revert(&self, output: &[u8]) -> String {
        let reason = decode_revert_reason(output);
        format!("{reason} ({})", explain_code(&reason))
    }
}

impl DevnetMarket for AaveV2Market {
    fn supply_call(&self, user: Address, i: usize, amount: U256) -> Result<Call> {
        Ok(Call {
            to: self.pool,
            input: ILendingPool::depositCall {
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
            input: ILendingPool::borrowCall {
                asset: self.reserve(i)?.underlying,
                amount,
                interestRateMode: U256::from(2u8),
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
            input: ILendingPool::repayCall {
                asset: self.reserve(i)?.underlying,
                amount,
                rateMode: U256::from(2u8),
                onBehalfOf: user,
            }
            .abi_encode()
            .into(),
        })
    }

    /// The native asset is ETH itself (1 ETH): moving it moves the oracle's ETH/USD price and the
    /// ETH price of every other asset; moving another asset moves its ETH price.
    fn price_calls(&self, i: usize, usd_prices: &[U256]) -> Result<Vec<Call>> {
        let native = self.native_asset()?;
        let eth_usd = usd_prices.get(native).copied().unwrap_or_default();
        if eth_usd.is_zero() {
            return Err(Error::config("price_usd", &self.native_asset, "above 0"));
        }
        let set = |j: usize| -> Result<Call> {
            self.price_call(
                j,
                usd_prices.get(j).copied().unwrap_or_default() * WAD / eth_usd,
            )
        };
        if i != native {
            return Ok(vec![set(i)?]);
        }
        let mut calls = vec![Call {
            to: self.eth_usd_oracle(),
            input: IPriceOracle::setEthUsdPriceCall { price: eth_usd }
                .abi_encode()
                .into(),
        }];
        for j in (0..self.reserves.len()).filter(|&j| j != native) {
            calls.push(set(j)?);
        }
        Ok(calls)
    }

    fn price_call_gas(&self) -> Option<u64> {
        self.oracle_mechanism.price_call_gas()
    }

    fn scheduled_oracle_calls(&self, offset: u64) -> Result<Vec<Call>> {
        Ok(crate::protocol::oracles::scheduled_calls(
            self.oracle_mechanism,
            offset,
            self.reserves.iter().filter_map(|r| r.rate_source),
        ))
    }
}

impl<DB> MarketState<DB> for AaveV2Market
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
        let r = self.reserve(d)?;
        let in_pool = self.balance(evm, r.underlying, r.a_token)?;
        let amount = crate::protocol::market::liquidator_funding(in_pool);
        AaveV2Market::fund_by_storage(self, evm, d, who, amount)
    }
    fn liquidations(&self, _evm: &mut Evm<DB>, logs: &[Log]) -> Result<Vec<LiquidationEvent>> {
        let index = |asset: Address| {
            self.reserves
                .iter()
                .position(|r| r.underlying == asset)
                .unwrap_or(usize::MAX)
        };
        let mine: Vec<Log> = logs
            .iter()
            .filter(|l| l.address == self.pool)
            .cloned()
            .collect();
        Ok(decode_liquidation_calls(&mine)
            .into_iter()
            .map(|e| LiquidationEvent {
                user: e.user,
                liquidator: e.liquidator,
                collateral: index(e.collateralAsset),
                debt: index(e.debtAsset),
                debt_repaid: e.debtToCover,
                collateral_received: e.liquidatedCollateralAmount,
            })
            .collect())
    }
}

impl<DB> DevnetState<DB> for AaveV2Market
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    fn fund(&self, evm: &mut Evm<DB>, i: usize, who: Address, amount: U256) -> Result<()> {
        AaveV2Market::fund(self, evm, i, who, amount)
    }
    fn supply(&self, evm: &mut Evm<DB>, user: Address, i: usize, amount: U256) -> Result<()> {
        self.deposit(evm, user, i, amount)
    }
    fn borrow(&self, evm: &mut Evm<DB>, user: Address, i: usize, amount: U256) -> Result<()> {
        AaveV2Market::borrow(self, evm, user, i, amount)
    }
    fn borrow_for_hf(&self, evm: &mut Evm<DB>, user: Address, d: usize, hf: U256) -> Result<U256> {
        let account = self.account_data(evm, user)?;
        let wanted = account.total_collateral_base * account.current_liquidation_threshold
            / U256::from(10_000u64)
            * WAD
            / hf;
        let cap = account.available_borrows_base * U256::from(995u64) / U256::from(1000u64);
        let price = evm.view(
            self.oracle,
            &IPriceOracle::getAssetPriceCall {
                asset: self.reserve(d)?.underlying,
            },
            "PriceOracle.getAssetPrice",
        )?;
        let unit = U256::from(10u64).pow(U256::from(self.reserve(d)?.decimals));
        Ok(wanted.min(cap) * unit / price)
    }
}
