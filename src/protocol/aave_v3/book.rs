//! The Aave V3 borrower index (that market's `PositionBook`): which users hold positions (learnt
//! from protocol events), their scaled balances (read from protocol state), and their health
//! factors from the shared math at current prices.

use std::collections::{BTreeMap, BTreeSet};

use alloy_primitives::{Address, Log, I256, U256};
use revm::database_interface::DBErrorMarker;
use revm::DatabaseRef;

use crate::error::Result;
use crate::evm::executor::Evm;
use crate::evm::replayed::ReplayedTx;
use crate::evm::watch::SlotWatch;
use crate::math::aave::{self as aave_math, AccountData, ReserveConfig, UserReserve};
use crate::math::fixed::ray_mul;
use crate::protocol::aave_v3::market::V3Position;
use crate::protocol::aave_v3::{decode_events, AaveV3Market, PoolEvent};
pub use crate::protocol::market::BestLiquidation;

/// Prices and indexes of one reserve at a point in time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ReserveState {
    /// Oracle price (8 decimals).
    pub price: U256,
    /// `getReserveNormalizedIncome`.
    pub liquidity_index: U256,
    /// `getReserveNormalizedVariableDebt`.
    pub variable_debt_index: U256,
}

/// One user's position as scaled balances (balance = scaled × index).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct UserPosition {
    /// aToken scaled balance per reserve.
    pub scaled_collateral: Vec<U256>,
    /// Variable-debt scaled balance per reserve.
    pub scaled_debt: Vec<U256>,
    /// User configuration bitmap (bit 2i borrowing, 2i+1 collateral).
    pub config: U256,
}

/// Tracks every borrower of one Aave V3 market.
#[derive(Debug, Clone)]
pub struct BorrowerIndex {
    market: AaveV3Market,
    configs: std::sync::Arc<Vec<ReserveConfig>>,
    users: BTreeMap<Address, std::sync::Arc<UserPosition>>,
    /// The same positions by hash (lookups; `users` keeps the address order).
    by_user: alloy_primitives::map::AddressMap<std::sync::Arc<UserPosition>>,
    reserves: Vec<ReserveState>,
    data: Vec<aave_math::ReserveIndexes>,
    now: u64,
    layout: Option<StorageLayout>,
    reserve_layout: Option<ReserveLayout>,
    /// Per reserve, the price source the oracle reads when it is the market's own feed
    /// (`getSourceOfAsset`): its `AnswerUpdated` events then carry the new price.
    feeds: Vec<Option<Address>>,
    /// Every storage slot the oracle's price reads touched when prices were last read: a
    /// transaction writing one of them moved a price, by whatever mechanism.
    price_slots: SlotWatch,
}

/// Where the Pool keeps `mapping(address => ReserveData)`: once learnt (and verified against
/// `getReserveData` for every reserve), the rates and indexes a Pool action moves are read
/// straight from storage instead of through the view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReserveLayout {
    /// Slot of the Pool's `_reserves` mapping.
    pub reserves: U256,
}

impl ReserveLayout {
    /// Reads the indexes, rates and last update of `asset` (ReserveData words 1-3: liquidity
    /// index | liquidity rate, variable index | variable rate, stable rate | uint40 timestamp).
    fn read<DB>(
        &self,
        evm: &Evm<DB>,
        pool: Address,
        asset: Address,
    ) -> Result<aave_math::ReserveIndexes>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        let base = StorageLayout::key(asset, self.reserves);
        let word = |offset: u64| -> Result<U256> {
            evm.db()
                .storage_ref(pool, base + U256::from(offset))
                .map_err(|e| {
                    crate::error::Error::Database(format!("reading storage of {pool}: {e}"))
                })
        };
        let (w1, w2, w3) = (word(1)?, word(2)?, word(3)?);
        let low = |v: U256| v & U256::from(u128::MAX);
        Ok(aave_math::ReserveIndexes {
            liquidity_index: low(w1),
            current_liquidity_rate: w1 >> 128usize,
            variable_borrow_index: low(w2),
            current_variable_borrow_rate: w2 >> 128usize,
            last_update_timestamp: ((w3 >> 128usize) & U256::from((1u64 << 40) - 1)).to::<u64>(),
        })
    }

    /// Learns the mapping slot from the first reserve's configuration word, accepting it only
    /// when every reserve's stored indexes equal `from_views` (read through `getReserveData`).
    fn discover<DB>(
        evm: &mut Evm<DB>,
        market: &AaveV3Market,
        from_views: &[aave_math::ReserveIndexes],
    ) -> Result<Option<Self>>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        let Some(first) = market.reserves.first() else {
            return Ok(None);
        };
        let configuration = market.reserve_data(evm, 0)?.configuration.data;
        if configuration.is_zero() {
            return Ok(None);
        }
        for slot in 0..PROBED_SLOTS {
            let key = StorageLayout::key(first.underlying, U256::from(slot));
            let stored = evm.db().storage_ref(market.pool, key).map_err(|e| {
                crate::error::Error::Database(format!("reading storage of {}: {e}", market.pool))
            })?;
            if stored != configuration {
                continue;
            }
            let layout = Self {
                reserves: U256::from(slot),
            };
            let mut all_equal = true;
            for (r, expected) in market.reserves.iter().zip(from_views) {
                all_equal &= layout.read(evm, market.pool, r.underlying)? == *expected;
            }
            if all_equal {
                tracing::debug!(?layout, "learnt the storage layout of reserve data");
                return Ok(Some(layout));
            }
        }
        Ok(None)
    }
}

/// Where the Pool keeps user configurations and the tokens keep scaled balances (mapping slots).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StorageLayout {
    /// Slot of the Pool's `mapping(address => UserConfigurationMap)`.
    pub user_config: U256,
    /// Slot of the aToken's `mapping(address => UserState)` (balance in the low 128 bits).
    pub a_token_balances: U256,
    /// Slot of the variable debt token's `mapping(address => UserState)`.
    pub debt_token_balances: U256,
}

/// Mapping slots probed when learning a layout.
const PROBED_SLOTS: u64 = 128;

impl StorageLayout {
    fn key(user: Address, slot: U256) -> U256 {
        let mut buf = [0u8; 64];
        buf[12..32].copy_from_slice(user.as_slice());
        buf[32..].copy_from_slice(&slot.to_be_bytes::<32>());
        U256::from_be_bytes(alloy_primitives::keccak256(buf).0)
    }

    fn read<DB>(
        &self,
        evm: &Evm<DB>,
        contract: Address,
        slot: U256,
        user: Address,
        low_128: bool,
    ) -> Result<U256>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        let value = evm
            .db()
            .storage_ref(contract, Self::key(user, slot))
            .map_err(|e| {
                crate::error::Error::Database(format!("reading storage of {contract}: {e}"))
            })?;
        Ok(if low_128 {
            value & U256::from(u128::MAX)
        } else {
            value
        })
    }

    /// Learns the layout from one user whose configuration, collateral and debt are non-zero,
    /// accepting it only when every one of that user's values read from storage equals the
    /// contracts' own views; `None` when no slot matches (views stay in use).
    fn discover<DB>(
        evm: &Evm<DB>,
        market: &AaveV3Market,
        user: Address,
        position: &UserPosition,
    ) -> Result<Option<Self>>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        let collateral = position.scaled_collateral.iter().position(|v| !v.is_zero());
        let debt = position.scaled_debt.iter().position(|v| !v.is_zero());
        let (Some(c), Some(d)) = (collateral, debt) else {
            return Ok(None);
        };
        let probe = |contract: Address, expected: U256, low: bool| -> Result<Option<U256>> {
            for slot in 0..PROBED_SLOTS {
                let candidate = Self {
                    user_config: U256::ZERO,
                    a_token_balances: U256::ZERO,
                    debt_token_balances: U256::ZERO,
                };
                if candidate.read(evm, contract, U256::from(slot), user, low)? == expected {
                    return Ok(Some(U256::from(slot)));
                }
            }
            Ok(None)
        };
        let (Some(user_config), Some(a_token_balances), Some(debt_token_balances)) = (
            probe(market.pool, position.config, false)?,
            probe(
                market.reserves[c].a_token,
                position.scaled_collateral[c],
                true,
            )?,
            probe(
                market.reserves[d].variable_debt_token,
                position.scaled_debt[d],
                true,
            )?,
        ) else {
            return Ok(None);
        };
        let layout = Self {
            user_config,
            a_token_balances,
            debt_token_balances,
        };
        for (i, r) in market.reserves.iter().enumerate() {
            if layout.read(evm, r.a_token, a_token_balances, user, true)?
                != position.scaled_collateral[i]
                && position.config.bit(2 * i + 1)
                || layout.read(evm, r.variable_debt_token, debt_token_balances, user, true)?
                    != position.scaled_debt[i]
                    && position.config.bit(2 * i)
            {
                return Ok(None);
            }
        }
        tracing::debug!(?layout, "learnt the storage layout of user positions");
        Ok(Some(layout))
    }
}

impl BorrowerIndex {
    /// An empty index over `market`, reading reserve configurations and current prices.
    pub fn new<DB>(market: &AaveV3Market, evm: &mut Evm<DB>) -> Result<Self>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        let configs = std::sync::Arc::new(
            (0..market.reserves.len())
                .map(|i| market.reserve_config(evm, i))
                .collect::<Result<Vec<_>>>()?,
        );
        let mut index = Self {
            market: market.clone(),
            configs,
            users: BTreeMap::new(),
            by_user: Default::default(),
            reserves: Vec::new(),
            data: Vec::new(),
            now: 0,
            layout: None,
            reserve_layout: None,
            feeds: Vec::new(),
            price_slots: SlotWatch::new(),
        };
        index.refresh_reserves(evm)?;
        index.reserve_layout = ReserveLayout::discover(evm, market, &index.data)?;
        Ok(index)
    }

    /// The market.
    pub fn market(&self) -> &AaveV3Market {
        &self.market
    }

    /// Reserve configurations.
    pub fn configs(&self) -> &[ReserveConfig] {
        &self.configs
    }

    /// Reserve configurations, shared with the positions built from this index.
    pub fn shared_configs(&self) -> std::sync::Arc<Vec<ReserveConfig>> {
        self.configs.clone()
    }

    /// The scaled position of `user`, if tracked.
    pub fn position_of(&self, user: &Address) -> Option<&UserPosition> {
        self.by_user.get(user).map(|p| &**p)
    }

    /// Current reserve prices and indexes.
    pub fn reserves(&self) -> &[ReserveState] {
        &self.reserves
    }

    /// Users seen so far, in address order.
    pub fn users(&self) -> impl Iterator<Item = (&Address, &UserPosition)> {
        self.users.iter().map(|(a, p)| (a, &**p))
    }

    /// Number of users tracked.
    pub fn len(&self) -> usize {
        self.users.len()
    }

    /// True when no user is tracked.
    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// Re-reads everything from protocol state: reserve data, prices, and the indexes now.
    pub fn refresh_reserves<DB>(&mut self, evm: &mut Evm<DB>) -> Result<()>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        let all: Vec<usize> = (0..self.market.reserves.len()).collect();
        self.refresh_reserve_data(evm, &all)?;
        self.refresh_prices(evm)
    }

    /// Re-reads the oracle prices (after a price update) and the sources the oracle reads, and
    /// re-learns the storage those reads touch.
    pub fn refresh_prices<DB>(&mut self, evm: &mut Evm<DB>) -> Result<()>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        self.ensure_len();
        self.price_slots.clear();
        self.feeds.clear();
        for i in 0..self.market.reserves.len() {
            let (price, reads) = self.market.price_with_reads(evm, i)?;
            self.reserves[i].price = price;
            self.price_slots.extend(reads);
            let reserve = &self.market.reserves[i];
            let source = evm.view(
                self.market.oracle,
                &crate::protocol::aave_v3::abi::IAaveOracle::getSourceOfAssetCall {
                    asset: reserve.underlying,
                },
                "getSourceOfAsset",
            )?;
            self.feeds
                .push((source == reserve.price_feed && !source.is_zero()).then_some(source));
        }
        Ok(())
    }

    /// True when `tx` may have moved a price: it emitted a feed's `AnswerUpdated`, or it wrote
    /// storage that the oracle's price reads depend on.
    pub fn moves_prices(&self, tx: &ReplayedTx<'_>) -> bool {
        !tx.price_updates.is_empty() || self.price_slots.written_by(tx.outcome)
    }

    /// Brings prices up to date after `tx`: `AnswerUpdated` answers of the market's own feeds
    /// are taken as they are when they explain every watched write; anything else (a source
    /// swap, a proxy or adapter whose storage changed, an unknown feed) re-reads every price
    /// through the oracle.
    pub fn apply_price_update<DB>(&mut self, evm: &mut Evm<DB>, tx: &ReplayedTx<'_>) -> Result<()>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        let explained = |contract: &Address| {
            tx.price_updates
                .iter()
                .any(|(feed, _)| feed == contract && self.feeds.contains(&Some(*feed)))
        };
        let unexplained = tx.outcome.success
            && tx
                .outcome
                .storage_writes
                .iter()
                .any(|(c, slot)| self.price_slots.contains(*c, *slot) && !explained(c));
        if unexplained {
            return self.refresh_prices(evm);
        }
        self.apply_price_updates(evm, &tx.price_updates)
    }

    /// Applies oracle updates `(feed, new answer)`: a reserve whose oracle source is that feed
    /// takes the answer as its price (what `AaveOracle.getAssetPrice` returns for a positive
    /// answer); any other update (an unknown feed, a non-positive answer) re-reads every price
    /// through the oracle.
    pub fn apply_price_updates<DB>(
        &mut self,
        evm: &mut Evm<DB>,
        updates: &[(Address, I256)],
    ) -> Result<()>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        self.ensure_len();
        for (feed, answer) in updates {
            let mine: Vec<usize> = (0..self.feeds.len())
                .filter(|&i| self.feeds[i] == Some(*feed))
                .collect();
            if mine.is_empty() || *answer <= I256::ZERO {
                return self.refresh_prices(evm);
            }
            for i in mine {
                self.reserves[i].price = answer.into_raw();
            }
        }
        Ok(())
    }

    /// Re-reads the rates and indexes of `which` reserves (after a Pool action touched them) and
    /// recomputes their normalized income and debt at the EVM's block timestamp.
    pub fn refresh_reserve_data<DB>(&mut self, evm: &mut Evm<DB>, which: &[usize]) -> Result<()>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        self.ensure_len();
        let now: u64 = evm.block().timestamp.saturating_to();
        for &i in which {
            self.data[i] = match self.reserve_layout {
                Some(layout) => {
                    layout.read(evm, self.market.pool, self.market.reserve(i)?.underlying)?
                }
                None => {
                    let d = self.market.reserve_data(evm, i)?;
                    aave_math::ReserveIndexes {
                        liquidity_index: U256::from(d.liquidityIndex),
                        current_liquidity_rate: U256::from(d.currentLiquidityRate),
                        variable_borrow_index: U256::from(d.variableBorrowIndex),
                        current_variable_borrow_rate: U256::from(d.currentVariableBorrowRate),
                        last_update_timestamp: d.lastUpdateTimestamp.to::<u64>(),
                    }
                }
            };
            self.reserves[i].liquidity_index = aave_math::normalized_income(&self.data[i], now)?;
            self.reserves[i].variable_debt_index = aave_math::normalized_debt(&self.data[i], now)?;
        }
        self.now = now;
        Ok(())
    }

    /// Moves to a new block timestamp: normalized income and debt are recomputed natively from
    /// the last reserve data read (exactly what the Pool's views return), with no EVM call.
    pub fn set_timestamp(&mut self, now: u64) -> Result<()> {
        if now == self.now {
            return Ok(());
        }
        for (state, data) in self.reserves.iter_mut().zip(&self.data) {
            state.liquidity_index = aave_math::normalized_income(data, now)?;
            state.variable_debt_index = aave_math::normalized_debt(data, now)?;
        }
        self.now = now;
        Ok(())
    }

    fn ensure_len(&mut self) {
        let n = self.market.reserves.len();
        self.reserves.resize(n, ReserveState::default());
        self.data.resize(n, aave_math::ReserveIndexes::default());
    }

    /// Reserves named by the Pool `events` (whose rates and indexes those actions moved).
    pub fn touched_reserves(&self, events: &[PoolEvent]) -> Vec<usize> {
        let mut assets = BTreeSet::new();
        for event in events {
            match event {
                PoolEvent::Supply(e) => {
                    assets.insert(e.reserve);
                }
                PoolEvent::Withdraw(e) => {
                    assets.insert(e.reserve);
                }
                PoolEvent::Borrow(e) => {
                    assets.insert(e.reserve);
                }
                PoolEvent::Repay(e) => {
                    assets.insert(e.reserve);
                }
                PoolEvent::LiquidationCall(e) => {
                    assets.insert(e.collateralAsset);
                    assets.insert(e.debtAsset);
                }
                _ => {}
            }
        }
        self.market
            .reserves
            .iter()
            .enumerate()
            .filter(|(_, r)| assets.contains(&r.underlying))
            .map(|(i, _)| i)
            .collect()
    }

    /// Users whose positions the Pool `events` may have changed.
    pub fn touched_users(&self, events: &[PoolEvent]) -> BTreeSet<Address> {
        let mut users = BTreeSet::new();
        for event in events {
            match event {
                PoolEvent::Supply(e) => {
                    users.insert(e.onBehalfOf);
                }
                PoolEvent::Withdraw(e) => {
                    users.insert(e.user);
                }
                PoolEvent::Borrow(e) => {
                    users.insert(e.onBehalfOf);
                }
                PoolEvent::Repay(e) => {
                    users.insert(e.user);
                }
                PoolEvent::CollateralEnabled(e) => {
                    users.insert(e.user);
                }
                PoolEvent::CollateralDisabled(e) => {
                    users.insert(e.user);
                }
                PoolEvent::LiquidationCall(e) => {
                    users.insert(e.user);
                    if e.receiveAToken {
                        users.insert(e.liquidator);
                    }
                }
                PoolEvent::PriceUpdated { .. } => {}
            }
        }
        users
    }

    /// Re-reads one user's scaled balances and configuration from protocol state: straight from
    /// storage once the layout is known (learnt and verified against the contracts' own views on
    /// the first users), through the contracts' views until then.
    pub fn refresh_user<DB>(&mut self, evm: &mut Evm<DB>, user: Address) -> Result<()>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        let position = match self.layout {
            Some(layout) => self.read_position_from_storage(evm, user, layout)?,
            None => {
                let position = self.read_position_through_views(evm, user)?;
                self.layout = StorageLayout::discover(evm, &self.market, user, &position)?;
                position
            }
        };
        if position.config.is_zero() {
            self.users.remove(&user);
            self.by_user.remove(&user);
        } else {
            let position = std::sync::Arc::new(position);
            self.users.insert(user, position.clone());
            self.by_user.insert(user, position);
        }
        Ok(())
    }

    /// Whether positions are read straight from storage (the layout was learnt).
    pub fn reads_storage(&self) -> bool {
        self.layout.is_some()
    }

    /// Re-reads every tracked user through the contracts' views; returns the users whose stored
    /// position differs (empty when the index is exact).
    pub fn users_differing_from_views<DB>(&self, evm: &mut Evm<DB>) -> Result<Vec<Address>>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        let mut differing = Vec::new();
        for (user, position) in &self.users {
            if self.read_position_through_views(evm, *user)? != **position {
                differing.push(*user);
            }
        }
        Ok(differing)
    }

    fn read_position_through_views<DB>(
        &self,
        evm: &mut Evm<DB>,
        user: Address,
    ) -> Result<UserPosition>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        let config = self.market.user_config(evm, user)?;
        let n = self.market.reserves.len();
        let mut position = UserPosition {
            scaled_collateral: vec![U256::ZERO; n],
            scaled_debt: vec![U256::ZERO; n],
            config,
        };
        for (i, r) in self.market.reserves.iter().enumerate() {
            if config.bit(2 * i + 1) || config.bit(2 * i) {
                position.scaled_collateral[i] =
                    self.market.scaled_balance_of(evm, r.a_token, user)?;
            }
            if config.bit(2 * i) {
                position.scaled_debt[i] =
                    self.market
                        .scaled_balance_of(evm, r.variable_debt_token, user)?;
            }
        }
        Ok(position)
    }

    fn read_position_from_storage<DB>(
        &self,
        evm: &Evm<DB>,
        user: Address,
        layout: StorageLayout,
    ) -> Result<UserPosition>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        let config = layout.read(evm, self.market.pool, layout.user_config, user, false)?;
        let n = self.market.reserves.len();
        let mut position = UserPosition {
            scaled_collateral: vec![U256::ZERO; n],
            scaled_debt: vec![U256::ZERO; n],
            config,
        };
        for (i, r) in self.market.reserves.iter().enumerate() {
            if config.bit(2 * i + 1) || config.bit(2 * i) {
                position.scaled_collateral[i] =
                    layout.read(evm, r.a_token, layout.a_token_balances, user, true)?;
            }
            if config.bit(2 * i) {
                position.scaled_debt[i] = layout.read(
                    evm,
                    r.variable_debt_token,
                    layout.debt_token_balances,
                    user,
                    true,
                )?;
            }
        }
        Ok(position)
    }

    /// Refreshes every reserve and user the events in `logs` touched; returns the users.
    pub fn apply_logs<DB>(&mut self, evm: &mut Evm<DB>, logs: &[Log]) -> Result<BTreeSet<Address>>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        let events = decode_events(self.market.pool, logs);
        let reserves = self.touched_reserves(&events);
        if !reserves.is_empty() {
            self.refresh_reserve_data(evm, &reserves)?;
        }
        let touched = self.touched_users(&events);
        for user in &touched {
            self.refresh_user(evm, *user)?;
        }
        Ok(touched)
    }

    /// The user's reserves as the shared math takes them, at the current prices and indexes.
    pub fn user_reserves(&self, user: &Address) -> Result<Vec<UserReserve>> {
        let Some(position) = self.by_user.get(user) else {
            return Ok(Vec::new());
        };
        user_reserves_of(position, &self.reserves, &self.configs)
    }

    /// What builds each of `users`' positions later exactly as [`PositionBook::position`] would
    /// now (the prices and indexes now are shared by all of them; `None` for a user holding
    /// none).
    pub fn deferred_positions(
        &self,
        users: &[Address],
    ) -> Vec<Option<crate::protocol::market::DeferredPosition>> {
        let reserves = std::sync::Arc::new(self.reserves.clone());
        users
            .iter()
            .map(|user| {
                let position = self.by_user.get(user)?.clone();
                let reserves = reserves.clone();
                let configs = self.configs.clone();
                let build: crate::protocol::market::DeferredPosition = Box::new(move || {
                    let reserves = user_reserves_of(&position, &reserves, &configs)?;
                    Ok(Box::new(V3Position::new(reserves, configs)?)
                        as Box<dyn crate::protocol::market::Position>)
                });
                Some(build)
            })
            .collect()
    }

    /// The user's account data (health factor...) from the shared math.
    pub fn account_data(&self, user: &Address) -> Result<AccountData> {
        aave_math::user_account_data(&self.user_reserves(user)?)
    }

    /// The most valuable liquidation the user's position offers (debtToCover = max), if any.
    pub fn best_liquidation(&self, user: &Address) -> Result<Option<BestLiquidation>> {
        let position = V3Position::new(self.user_reserves(user)?, self.configs.clone())?;
        crate::protocol::market::best_liquidation(&position)
    }
}

/// A user's reserves as the shared math takes them, at reserve prices and indexes `reserves`.
fn user_reserves_of(
    position: &UserPosition,
    reserves: &[ReserveState],
    configs: &[ReserveConfig],
) -> Result<Vec<UserReserve>> {
    let mut out = Vec::with_capacity(configs.len());
    for (i, (config, state)) in configs.iter().zip(reserves).enumerate() {
        let scaled = |v: &[U256]| v.get(i).copied().unwrap_or_default();
        out.push(UserReserve {
            collateral_balance: ray_mul(
                scaled(&position.scaled_collateral),
                state.liquidity_index,
            )?,
            debt_balance: ray_mul(scaled(&position.scaled_debt), state.variable_debt_index)?,
            price: state.price,
            decimals: config.decimals,
            ltv: config.ltv,
            liquidation_threshold: config.liquidation_threshold,
            usage_as_collateral: position.config.bit(2 * i + 1),
            borrowing: position.config.bit(2 * i),
        });
    }
    Ok(out)
}
