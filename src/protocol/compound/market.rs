//! Compound-style pools (Venus isolated pools) behind the protocol abstraction: positions with
//! `math::compound` (Venus' liquidity snapshot, close-factor cap, seize tokens and seize split), a
//! book kept from the vTokens' and Comptroller's events, and `VToken.liquidateBorrow`.
//!
//! The health factor of a Compound-style account is defined here as weighted collateral (at the
//! liquidation thresholds) over borrows, both as Venus' `getAccountLiquidity` sums them: it is below
//! 1 exactly when the account has a shortfall. Borrow balances between reads are scaled by the
//! market's `borrowIndex` (from `AccrueInterest`), as `borrowBalanceStored` is. The protocol's own
//! refusals are kept: `MinimalCollateralViolated` (total collateral at or below
//! `minLiquidatableCollateral`, the accounts Venus sends to `liquidateAccount`/`healAccount`),
//! `InsufficientShortfall`, `TooMuchRepay` (never sent: repays are capped by the close factor) and
//! `LIQUIDATE_SEIZE_TOO_MUCH` (never sent: repays are capped so the seize fits the balance).
//! There are no flash loans.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use alloy_primitives::{Address, Log, B256, U256};
use alloy_sol_types::{SolCall, SolEvent};
use revm::database_interface::DBErrorMarker;
use revm::DatabaseRef;

use super::abi::{IComptroller, IMockPriceOracle, IMockToken, IVToken};
use super::{explain_revert, AccountMarket, AccountState, CompoundMarket, PoolParams};
use crate::error::Result;
use crate::evm::executor::Evm;
use crate::evm::replayed::ReplayedTx;
use crate::evm::watch::SlotWatch;
use crate::math::aave::LiquidationOutcome;
use crate::math::compound::{
    ctokens_to_underlying, liquidate_calculate_seize_tokens, max_repay, venus_split_seize_tokens,
};
use crate::math::fixed::WAD;
use crate::protocol::devnet::{DevnetMarket, DevnetState};
use crate::protocol::market::{
    BookUpdates, Call, Holding, LendingMarket, LiquidationEvent, LiquidationRequest, MarketState,
    Position, PositionBook, ProtocolHealth,
};

/// USD (8 decimals) of an oracle price mantissa (USD × 1e(36 − decimals)).
pub fn usd_of_mantissa(mantissa: U256, decimals: u8) -> U256 {
    let unit = U256::from(10u64).pow(U256::from(decimals));
    mantissa * unit / U256::from(10u64).pow(U256::from(28u64))
}

/// The oracle price mantissa (USD × 1e(36 − decimals)) of a USD price with 8 decimals.
pub fn mantissa_of_usd(usd: U256, decimals: u8) -> U256 {
    if decimals <= 28 {
        usd * U256::from(10u64).pow(U256::from(28 - decimals))
    } else {
        usd / U256::from(10u64).pow(U256::from(decimals - 28))
    }
}

/// A Compound-style account with Venus' math.
#[derive(Debug, Clone)]
pub struct CompoundPosition {
    state: AccountState,
    decimals: Arc<Vec<u8>>,
    holdings: Vec<Holding>,
    health_factor: U256,
    total_collateral: U256,
    shortfall: U256,
    borrowing_power: U256,
}

impl CompoundPosition {
    /// A position from an account state and the markets' decimals.
    pub fn new(state: AccountState, decimals: Arc<Vec<u8>>) -> Result<Self> {
        let snap = state.liquidation_snapshot()?;
        let health_factor = if snap.borrows.is_zero() {
            U256::MAX
        } else {
            snap.weighted_collateral * WAD / snap.borrows
        };
        let holdings = state
            .markets
            .iter()
            .enumerate()
            .map(|(i, m)| {
                Ok(Holding {
                    collateral: ctokens_to_underlying(m.vtoken_balance, m.exchange_rate_mantissa)?,
                    debt: m.borrow_balance,
                    price: usd_of_mantissa(m.oracle_price_mantissa, decimals[i]),
                    decimals: decimals[i],
                    collateral_enabled: state.order.contains(&i)
                        && !m.liquidation_threshold_mantissa.is_zero(),
                    borrowing: !m.borrow_balance.is_zero(),
                })
            })
            .collect::<Result<_>>()?;
        let borrowing_power = state.borrowing_snapshot()?.liquidity;
        Ok(Self {
            health_factor,
            borrowing_power,
            total_collateral: snap.total_collateral,
            shortfall: snap.shortfall,
            state,
            decimals,
            holdings,
        })
    }

    fn seize(&self, c: usize, d: usize, repay: U256) -> Result<U256> {
        let (cm, dm) = (&self.state.markets[c], &self.state.markets[d]);
        liquidate_calculate_seize_tokens(
            dm.oracle_price_mantissa,
            cm.oracle_price_mantissa,
            cm.exchange_rate_mantissa,
            self.state.pool.liquidation_incentive_mantissa,
            repay,
        )
    }
}

impl Position for CompoundPosition {
    fn holdings(&self) -> &[Holding] {
        &self.holdings
    }

    fn health_factor(&self) -> Result<U256> {
        Ok(self.health_factor)
    }

    /// Venus' borrowing power left (`getBorrowingPower` liquidity, USD 1e18) in USD 8 decimals.
    fn available_borrows_usd(&self) -> Result<U256> {
        Ok(self.borrowing_power / U256::from(10_000_000_000u64))
    }

    fn refusal(&self, c: usize, d: usize) -> Result<Option<&'static str>> {
        let (Some(cm), Some(dm)) = (self.state.markets.get(c), self.state.markets.get(d)) else {
            return Ok(Some("market index out of range"));
        };
        Ok(
            if self.total_collateral <= self.state.pool.min_liquidatable_collateral {
                Some("MinimalCollateralViolated (only liquidateAccount/healAccount)")
            } else if self.shortfall.is_zero() {
                Some("InsufficientShortfall")
            } else if dm.borrow_balance.is_zero() {
                Some("LiquidateCloseAmountIsZero")
            } else if !self.state.order.contains(&c) {
                Some("MarketNotCollateral")
            } else if cm.vtoken_balance.is_zero() || cm.oracle_price_mantissa.is_zero() {
                Some("LIQUIDATE_SEIZE_TOO_MUCH")
            } else {
                None
            },
        )
    }

    fn liquidation(&self, c: usize, d: usize, debt_to_cover: U256) -> Result<LiquidationOutcome> {
        let (cm, dm) = (&self.state.markets[c], &self.state.markets[d]);
        let cap = max_repay(dm.borrow_balance, self.state.pool.close_factor_mantissa)?;
        let mut repay = debt_to_cover.min(cap);
        let mut capped = false;
        if self.seize(c, d, repay)? > cm.vtoken_balance {
            // the largest repay whose seize fits the balance (seize grows with repay)
            capped = true;
            let (mut lo, mut hi) = (U256::ZERO, repay);
            while lo < hi {
                let mid = hi - (hi - lo) / U256::from(2u64);
                if self.seize(c, d, mid)? <= cm.vtoken_balance {
                    lo = mid;
                } else {
                    hi = mid - U256::from(1u64);
                }
            }
            repay = lo;
        }
        let seize = self.seize(c, d, repay)?;
        let (liquidator_tokens, _, protocol_underlying) = venus_split_seize_tokens(
            seize,
            cm.protocol_seize_share_mantissa,
            self.state.pool.liquidation_incentive_mantissa,
            cm.exchange_rate_mantissa,
        )?;
        Ok(LiquidationOutcome {
            max_liquidatable_debt: cap,
            debt_repaid: repay,
            collateral_to_liquidator: ctokens_to_underlying(
                liquidator_tokens,
                cm.exchange_rate_mantissa,
            )?,
            protocol_fee: protocol_underlying,
            collateral_capped: capped,
            close_factor: self.state.pool.close_factor_mantissa
                / U256::from(100_000_000_000_000u64),
        })
    }

    fn after(&self, c: usize, d: usize, o: &LiquidationOutcome) -> Result<Box<dyn Position>> {
        let seize = self.seize(c, d, o.debt_repaid)?;
        let mut state = self.state.clone();
        state.markets[c].vtoken_balance = state.markets[c].vtoken_balance.saturating_sub(seize);
        state.markets[d].borrow_balance = state.markets[d]
            .borrow_balance
            .saturating_sub(o.debt_repaid);
        Ok(Box::new(CompoundPosition::new(
            state,
            self.decimals.clone(),
        )?))
    }
}

/// One market's pool-wide state as the book holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct MarketNow {
    exchange_rate: U256,
    borrow_index: U256,
    price: U256,
    collateral_factor: U256,
    liquidation_threshold: U256,
    protocol_seize_share: U256,
}

/// One account as the book holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Account {
    vtokens: Vec<U256>,
    borrows: Vec<U256>,
    borrow_index_then: Vec<U256>,
    order: Vec<usize>,
}

/// Every borrower of a Compound-style pool.
#[derive(Debug, Clone)]
pub struct CompoundBook {
    market: CompoundMarket,
    pool: PoolParams,
    decimals: Arc<Vec<u8>>,
    markets: Vec<MarketNow>,
    users: BTreeMap<Address, Account>,
    /// Storage the oracle's price reads touched: a transaction writing it moved a price.
    price_slots: SlotWatch,
}

impl CompoundBook {
    /// A book over `market`, seeded with `users`, read from `evm`'s state.
    pub fn new<DB>(market: &CompoundMarket, evm: &mut Evm<DB>, users: &[Address]) -> Result<Self>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        let c = market.comptroller;
        let pool = PoolParams {
            close_factor_mantissa: evm.view(
                c,
                &IComptroller::closeFactorMantissaCall {},
                "Comptroller.closeFactorMantissa",
            )?,
            liquidation_incentive_mantissa: evm.view(
                c,
                &IComptroller::liquidationIncentiveMantissaCall {},
                "Comptroller.liquidationIncentiveMantissa",
            )?,
            min_liquidatable_collateral: evm.view(
                c,
                &IComptroller::minLiquidatableCollateralCall {},
                "Comptroller.minLiquidatableCollateral",
            )?,
        };
        let mut book = Self {
            market: market.clone(),
            pool,
            decimals: Arc::new(market.markets.iter().map(|m| m.decimals).collect()),
            markets: vec![MarketNow::default(); market.markets.len()],
            users: BTreeMap::new(),
            price_slots: SlotWatch::new(),
        };
        for i in 0..market.markets.len() {
            let vtoken = market.markets[i].vtoken;
            let config = evm.view(
                c,
                &IComptroller::marketsCall { vToken: vtoken },
                "Comptroller.markets",
            )?;
            book.markets[i].collateral_factor = config.collateralFactorMantissa;
            book.markets[i].liquidation_threshold = config.liquidationThresholdMantissa;
            book.markets[i].protocol_seize_share = evm.view(
                vtoken,
                &IVToken::protocolSeizeShareMantissaCall {},
                "VToken.protocolSeizeShareMantissa",
            )?;
            book.read_market(evm, i)?;
        }
        book.read_prices(evm)?;
        for user in users {
            book.read_user(evm, *user)?;
        }
        Ok(book)
    }

    fn read_market<DB>(&mut self, evm: &mut Evm<DB>, i: usize) -> Result<()>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        let vtoken = self.market.markets[i].vtoken;
        self.markets[i].exchange_rate = evm.view(
            vtoken,
            &IVToken::exchangeRateStoredCall {},
            "VToken.exchangeRateStored",
        )?;
        self.markets[i].borrow_index =
            evm.view(vtoken, &IVToken::borrowIndexCall {}, "VToken.borrowIndex")?;
        Ok(())
    }

    fn read_prices<DB>(&mut self, evm: &mut Evm<DB>) -> Result<()>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        self.price_slots.clear();
        for (i, m) in self.market.markets.iter().enumerate() {
            let (price, reads) = evm.view_with_reads(
                self.market.oracle,
                &IMockPriceOracle::getUnderlyingPriceCall { vToken: m.vtoken },
                "MockPriceOracle.getUnderlyingPrice",
            )?;
            self.markets[i].price = price;
            self.price_slots.extend(reads);
        }
        Ok(())
    }

    fn read_user<DB>(&mut self, evm: &mut Evm<DB>, user: Address) -> Result<()>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        let assets_in = evm.view(
            self.market.comptroller,
            &IComptroller::getAssetsInCall { account: user },
            "Comptroller.getAssetsIn",
        )?;
        let n = self.market.markets.len();
        let mut account = Account {
            vtokens: vec![U256::ZERO; n],
            borrows: vec![U256::ZERO; n],
            borrow_index_then: vec![U256::ZERO; n],
            order: assets_in
                .iter()
                .filter_map(|a| self.market.markets.iter().position(|m| m.vtoken == *a))
                .collect(),
        };
        for (i, m) in self.market.markets.iter().enumerate() {
            let snap = evm.view(
                m.vtoken,
                &IVToken::getAccountSnapshotCall { account: user },
                "VToken.getAccountSnapshot",
            )?;
            account.vtokens[i] = snap.vTokenBalance;
            account.borrows[i] = snap.borrowBalance;
            account.borrow_index_then[i] = self.markets[i].borrow_index;
        }
        if account.borrows.iter().all(|b| b.is_zero()) && account.order.is_empty() {
            self.users.remove(&user);
        } else {
            self.users.insert(user, account);
        }
        Ok(())
    }

    fn market_of(&self, address: Address) -> Option<usize> {
        self.market.markets.iter().position(|m| m.vtoken == address)
    }
}

impl PositionBook for CompoundBook {
    fn users(&self) -> Vec<Address> {
        self.users.keys().copied().collect()
    }

    fn user_count(&self) -> usize {
        self.users.len()
    }

    fn exposure(&self, user: &Address) -> Option<(u64, u64)> {
        let a = self.users.get(user)?;
        let (mut collateral, mut debt) = (0u64, 0u64);
        for i in 0..a.vtokens.len().min(64) {
            if a.order.contains(&i) && !a.vtokens[i].is_zero() {
                collateral |= 1 << i;
            }
            if !a.borrows[i].is_zero() {
                debt |= 1 << i;
            }
        }
        Some((collateral, debt))
    }

    fn oracle_prices(&self) -> Vec<U256> {
        self.markets.iter().map(|m| m.price).collect()
    }

    fn usd_price(&self, i: usize) -> U256 {
        match (self.markets.get(i), self.decimals.get(i)) {
            (Some(m), Some(d)) => usd_of_mantissa(m.price, *d),
            _ => U256::ZERO,
        }
    }

    /// Collateral moves with the exchange rate, debt with the borrow index (both change only when
    /// a market event is applied).
    fn value_factors(&self) -> Vec<(U256, U256)> {
        self.markets
            .iter()
            .map(|m| {
                (
                    m.price.saturating_mul(m.exchange_rate),
                    m.price.saturating_mul(m.borrow_index),
                )
            })
            .collect()
    }

    fn position(&self, user: &Address) -> Result<Option<Box<dyn Position>>> {
        let Some(a) = self.users.get(user) else {
            return Ok(None);
        };
        let markets = self
            .markets
            .iter()
            .enumerate()
            .map(|(i, m)| {
                let borrow = if a.borrow_index_then[i].is_zero() {
                    a.borrows[i]
                } else {
                    a.borrows[i] * m.borrow_index / a.borrow_index_then[i]
                };
                AccountMarket {
                    entered: a.order.contains(&i),
                    vtoken_balance: a.vtokens[i],
                    borrow_balance: borrow,
                    exchange_rate_mantissa: m.exchange_rate,
                    oracle_price_mantissa: m.price,
                    collateral_factor_mantissa: m.collateral_factor,
                    liquidation_threshold_mantissa: m.liquidation_threshold,
                    protocol_seize_share_mantissa: m.protocol_seize_share,
                }
            })
            .collect();
        let state = AccountState {
            pool: self.pool,
            markets,
            order: a.order.clone(),
        };
        Ok(Some(Box::new(CompoundPosition::new(
            state,
            self.decimals.clone(),
        )?)))
    }

    /// Venus accrues interest per block and only when a market is touched: nothing moves with
    /// time alone.
    fn set_timestamp(&mut self, _now: u64) -> Result<()> {
        Ok(())
    }
}

impl<DB> BookUpdates<DB> for CompoundBook
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    fn apply_logs(&mut self, evm: &mut Evm<DB>, logs: &[Log]) -> Result<BTreeSet<Address>> {
        let mut touched = BTreeSet::new();
        let mut markets = BTreeSet::new();
        let topic = |log: &Log, i: usize| log.topics().get(i).map(|t| Address::from_word(*t));
        for log in logs {
            let Some(topic0) = log.topics().first() else {
                continue;
            };
            if log.address == self.market.comptroller {
                if *topic0 == IComptroller::MarketEntered::SIGNATURE_HASH
                    || *topic0 == IComptroller::MarketExited::SIGNATURE_HASH
                {
                    touched.extend(topic(log, 2));
                }
                continue;
            }
            let Some(i) = self.market_of(log.address) else {
                continue;
            };
            markets.insert(i);
            match *topic0 {
                IVToken::Mint::SIGNATURE_HASH
                | IVToken::Redeem::SIGNATURE_HASH
                | IVToken::Borrow::SIGNATURE_HASH => touched.extend(topic(log, 1)),
                IVToken::RepayBorrow::SIGNATURE_HASH | IVToken::LiquidateBorrow::SIGNATURE_HASH => {
                    touched.extend(topic(log, 2))
                }
                IVToken::Transfer::SIGNATURE_HASH => {
                    for user in [topic(log, 1), topic(log, 2)].into_iter().flatten() {
                        if self.users.contains_key(&user) {
                            touched.insert(user);
                        }
                    }
                }
                _ => {}
            }
        }
        for i in markets {
            self.read_market(evm, i)?;
        }
        touched.retain(|a| self.market_of(*a).is_none() && !a.is_zero());
        for user in &touched {
            self.read_user(evm, *user)?;
        }
        Ok(touched)
    }

    fn moves_prices(&self, tx: &ReplayedTx<'_>) -> bool {
        (tx.outcome.success && tx.tx.to() == Some(self.market.oracle))
            || self.price_slots.written_by(tx.outcome)
    }

    fn apply_price_update(&mut self, evm: &mut Evm<DB>, _tx: &ReplayedTx<'_>) -> Result<()> {
        self.read_prices(evm)
    }
}

impl LendingMarket for CompoundMarket {
    fn decimals(&self) -> Vec<u8> {
        self.markets.iter().map(|r| r.decimals).collect()
    }
    fn asset_addresses(&self) -> Vec<Address> {
        self.markets.iter().map(|r| r.underlying).collect()
    }
    fn price_oracle(&self) -> Option<(Address, bool)> {
        Some((self.oracle, true))
    }
    fn symbols(&self) -> Vec<String> {
        self.markets.iter().map(|m| m.symbol.clone()).collect()
    }
    fn native_asset(&self) -> Result<usize> {
        crate::protocol::market::symbol_index(&self.symbols(), &self.native_asset)
    }
    fn flash_loan_premium_bps(&self) -> Option<u16> {
        None
    }
    fn addresses(&self) -> BTreeMap<String, Address> {
        let mut out = BTreeMap::from([
            ("comptroller".to_string(), self.comptroller),
            ("price_oracle".to_string(), self.oracle),
            (
                "access_control_manager".to_string(),
                self.access_control_manager,
            ),
            (
                "protocol_share_reserve".to_string(),
                self.protocol_share_reserve,
            ),
        ]);
        for m in &self.markets {
            out.insert(format!("v{}", m.symbol), m.vtoken);
        }
        if let Some(stack) = &self.venus_oracles {
            out.insert("chainlink_oracle".to_string(), stack.chainlink);
        }
        out
    }
    fn liquidation_log(
        &self,
        address: Address,
        topics: &[B256],
        _data: &[u8],
    ) -> Option<(Address, Address)> {
        if topics.first() != Some(&IVToken::LiquidateBorrow::SIGNATURE_HASH)
            || !self.markets.iter().any(|m| m.vtoken == address)
        {
            return None;
        }
        let at = |i: usize| topics.get(i).map(|t| Address::from_word(*t));
        Some((at(2)?, at(1)?))
    }
    fn log_users(&self, address: Address, topics: &[B256]) -> Vec<Address> {
        if !self.markets.iter().any(|m| m.vtoken == address) {
            return Vec::new();
        }
        let at = |i: usize| topics.get(i).map(|t| Address::from_word(*t));
        match topics.first().copied() {
            Some(IVToken::Mint::SIGNATURE_HASH)
            | Some(IVToken::Redeem::SIGNATURE_HASH)
            | Some(IVToken::Borrow::SIGNATURE_HASH) => at(1).into_iter().collect(),
            Some(IVToken::RepayBorrow::SIGNATURE_HASH)
            | Some(IVToken::LiquidateBorrow::SIGNATURE_HASH) => at(2).into_iter().collect(),
            _ => Vec::new(),
        }
    }
    /// `VToken(debt).liquidateBorrow(user, repay, VToken(collateral))`; `U256::MAX` (which Venus
    /// refuses) becomes the largest repay the close factor and the collateral allow.
    fn liquidation_tx(
        &self,
        position: &dyn Position,
        user: Address,
        request: &LiquidationRequest,
    ) -> Result<Call> {
        let LiquidationRequest {
            collateral: c,
            debt: d,
            debt_to_cover,
            receive_shares: _,
        } = *request;
        let repay = if debt_to_cover == U256::MAX {
            position.liquidation(c, d, U256::MAX)?.debt_repaid
        } else {
            debt_to_cover
        };
        Ok(Call {
            to: self.market(d)?.vtoken,
            input: IVToken::liquidateBorrowCall {
                borrower: user,
                repayAmount: repay,
                vTokenCollateral: self.market(c)?.vtoken,
            }
            .abi_encode()
            .into(),
        })
    }
    fn explain_revert(&self, output: &[u8]) -> String {
        explain_revert(output)
    }
}

impl DevnetMarket for CompoundMarket {
    fn supply_call(&self, _user: Address, i: usize, amount: U256) -> Result<Call> {
        Ok(Call {
            to: self.market(i)?.vtoken,
            input: IVToken::mintCall { mintAmount: amount }.abi_encode().into(),
        })
    }
    fn borrow_call(&self, _user: Address, i: usize, amount: U256) -> Result<Call> {
        Ok(Call {
            to: self.market(i)?.vtoken,
            input: IVToken::borrowCall {
                borrowAmount: amount,
            }
            .abi_encode()
            .into(),
        })
    }
    fn repay_call(&self, _user: Address, i: usize, amount: U256) -> Result<Call> {
        Ok(Call {
            to: self.market(i)?.vtoken,
            input: IVToken::repayBorrowCall {
                repayAmount: amount,
            }
            .abi_encode()
            .into(),
        })
    }
    fn price_calls(&self, i: usize, usd_prices: &[U256]) -> Result<Vec<Call>> {
        let m = self.market(i)?;
        let usd = usd_prices.get(i).copied().unwrap_or_default();
        if let Some(call) = self.mechanism_price_call(i, usd)? {
            return Ok(vec![call]);
        }
        Ok(vec![Call {
            to: self.oracle,
            input: IMockPriceOracle::setPriceCall {
                asset: m.underlying,
                price: mantissa_of_usd(usd, m.decimals),
            }
            .abi_encode()
            .into(),
        }])
    }

    fn price_call_gas(&self) -> Option<u64> {
        self.oracle_mechanism.price_call_gas()
    }

    fn scheduled_oracle_calls(&self, offset: u64) -> Result<Vec<Call>> {
        Ok(crate::protocol::oracles::scheduled_calls(
            self.oracle_mechanism,
            offset,
            self.venus_oracles
                .iter()
                .flat_map(|s| s.rate_sources.iter().flatten().copied()),
        ))
    }
}

impl<DB> MarketState<DB> for CompoundMarket
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    fn protocol_health(&self, evm: &mut Evm<DB>, user: Address) -> Result<ProtocolHealth> {
        let (_, shortfall) = self.account_liquidity(evm, user)?;
        Ok(ProtocolHealth {
            health_factor: None,
            liquidatable: !shortfall.is_zero(),
        })
    }
    fn fund_liquidator(&self, evm: &mut Evm<DB>, d: usize, who: Address) -> Result<()> {
        let m = self.market(d)?;
        let cash = evm.view(
            m.underlying,
            &IMockToken::balanceOfCall { owner: m.vtoken },
            "MockToken.balanceOf",
        )?;
        let amount = crate::protocol::market::liquidator_funding(cash);
        crate::protocol::tokens::fund_by_storage(evm, m.underlying, who, amount)?;
        self.approve(evm, who, d)
    }
    fn liquidations(&self, evm: &mut Evm<DB>, logs: &[Log]) -> Result<Vec<LiquidationEvent>> {
        let index = |a: Address| self.markets.iter().position(|m| m.vtoken == a);
        let mut out = Vec::new();
        for log in logs {
            let Some(debt) = index(log.address) else {
                continue;
            };
            let Ok(e) = IVToken::LiquidateBorrow::decode_log(log) else {
                continue;
            };
            let Some(collateral) = index(e.vTokenCollateral) else {
                continue;
            };
            // vTokens the liquidator received: the collateral vToken's Transfer to it.
            let tokens: U256 = logs
                .iter()
                .filter(|l| l.address == e.vTokenCollateral)
                .filter_map(|l| IVToken::Transfer::decode_log(l).ok())
                .filter(|t| t.from == e.borrower && t.to == e.liquidator)
                .map(|t| t.amount)
                .sum();
            let rate = evm.view(
                e.vTokenCollateral,
                &IVToken::exchangeRateStoredCall {},
                "VToken.exchangeRateStored",
            )?;
            out.push(LiquidationEvent {
                user: e.borrower,
                liquidator: e.liquidator,
                collateral,
                debt,
                debt_repaid: e.repayAmount,
                collateral_received: ctokens_to_underlying(tokens, rate)?,
            });
        }
        Ok(out)
    }
}

impl<DB> DevnetState<DB> for CompoundMarket
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    /// The mock token's faucet (by storage with real tokens), then an approval of the market's
    /// vToken.
    fn fund(&self, evm: &mut Evm<DB>, i: usize, who: Address, amount: U256) -> Result<()> {
        CompoundMarket::fund(self, evm, i, who, amount)?;
        self.approve(evm, who, i)
    }
    fn supply(&self, evm: &mut Evm<DB>, user: Address, i: usize, amount: U256) -> Result<()> {
        CompoundMarket::supply(self, evm, user, i, amount)?;
        self.enter_markets(evm, user, &[i])
    }
    fn borrow(&self, evm: &mut Evm<DB>, user: Address, i: usize, amount: U256) -> Result<()> {
        CompoundMarket::borrow(self, evm, user, i, amount)
    }
    fn borrow_for_hf(&self, evm: &mut Evm<DB>, user: Address, d: usize, hf: U256) -> Result<U256> {
        let account = self.read_account(evm, user)?;
        let weighted = account.liquidation_snapshot()?.weighted_collateral;
        let power = account.borrowing_snapshot()?.liquidity;
        let wanted = weighted * WAD / hf;
        let cap = power * U256::from(995u64) / U256::from(1000u64);
        let price = account
            .markets
            .get(d)
            .map(|m| m.oracle_price_mantissa)
            .unwrap_or_default();
        if price.is_zero() {
            return Ok(U256::ZERO);
        }
        Ok(wanted.min(cap) * WAD / price)
    }
}
