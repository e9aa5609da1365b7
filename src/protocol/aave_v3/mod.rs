//! Aave V3 (and its forks: HopeLend, Bend, HypurrFi) on its published bytecode: deployment, a typed
//! API over the EVM, event decoding, and the shared math's prediction of each liquidation.

pub mod abi;
pub mod book;
pub mod config;
pub mod deploy;
pub mod differential;
pub mod discovery;
pub mod errors;
pub mod market;
pub mod oracle;

use alloy_primitives::{Address, Log, TxKind, I256, U256};
use alloy_sol_types::{SolCall, SolEvent};
use revm::database_interface::DBErrorMarker;
use revm::DatabaseRef;
use serde::{Deserialize, Serialize};

use self::abi::{IAaveOracle, IERC20Mintable, IPool, IScaledBalanceToken};
use self::config::MarketConfig;
use crate::error::{Error, Result};
use crate::evm::executor::{Evm, TxOutcome};
use crate::math::aave::{self as aave_math, AccountData, ReserveConfig, UserReserve};
use crate::math::fixed::ray_div;
use crate::protocol::price_feed::SettablePriceFeed;
use crate::protocol::tokens::TokenBytecode;

pub use crate::evm::executor::USER_TX_GAS_LIMIT;
pub use crate::protocol::market::LiquidationRequest;

/// Variable-rate interest mode.
const VARIABLE_RATE: u64 = 2;

/// One listed reserve and its token addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reserve {
    /// Underlying symbol.
    pub symbol: String,
    /// Underlying decimals.
    pub decimals: u8,
    /// Underlying token.
    pub underlying: Address,
    /// The contract the oracle keeper's price transactions call (`[market] oracle`): the
    /// settable feed the oracle reads (the default), the aggregator behind the oracle's proxy
    /// (`chainlink-proxy`), the base aggregator of the rate adapter (`adapter`), the source
    /// swapper (`source-swap`), the fallback oracle (`fallback`), the push oracle (`push`).
    pub price_feed: Address,
    /// aToken.
    pub a_token: Address,
    /// Variable debt token.
    pub variable_debt_token: Address,
    /// Stable debt token.
    pub stable_debt_token: Address,
    /// The exchange-rate contract of the reserve's rate adapter (`oracle = "adapter"` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_source: Option<Address>,
}

/// A deployed Aave V3 market: its addresses and the config it was built from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AaveV3Market {
    /// What was deployed.
    pub config: MarketConfig,
    /// Pool admin, risk admin and price-feed owner.
    pub admin: Address,
    /// Receives reserve factor and liquidation protocol fees.
    pub treasury: Address,
    /// PoolAddressesProvider.
    pub addresses_provider: Address,
    /// ACLManager.
    pub acl_manager: Address,
    /// Pool proxy.
    pub pool: Address,
    /// PoolConfigurator proxy.
    pub pool_configurator: Address,
    /// AaveOracle.
    pub oracle: Address,
    /// AaveProtocolDataProvider.
    pub data_provider: Address,
    /// Reserves in reserve-list order.
    pub reserves: Vec<Reserve>,
}

/// A decoded Pool event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PoolEvent {
    /// `Supply`.
    Supply(IPool::Supply),
    /// `Withdraw`.
    Withdraw(IPool::Withdraw),
    /// `Borrow`.
    Borrow(IPool::Borrow),
    /// `Repay`.
    Repay(IPool::Repay),
    /// `ReserveUsedAsCollateralEnabled`.
    CollateralEnabled(IPool::ReserveUsedAsCollateralEnabled),
    /// `ReserveUsedAsCollateralDisabled`.
    CollateralDisabled(IPool::ReserveUsedAsCollateralDisabled),
    /// `LiquidationCall`.
    LiquidationCall(IPool::LiquidationCall),
    /// A price feed's `AnswerUpdated` (Chainlink event).
    PriceUpdated {
        /// The feed that moved.
        feed: Address,
        /// The new answer.
        answer: I256,
    },
}

/// Decodes the Pool and price-feed events among `logs` (others are skipped).
pub fn decode_events(pool: Address, logs: &[Log]) -> Vec<PoolEvent> {
    let mut events = Vec::new();
    for log in logs {
        let Some(topic0) = log.topics().first() else {
            continue;
        };
        if *topic0 == SettablePriceFeed::AnswerUpdated::SIGNATURE_HASH {
            if let Ok(e) = SettablePriceFeed::AnswerUpdated::decode_log(log) {
                events.push(PoolEvent::PriceUpdated {
                    feed: log.address,
                    answer: e.data.current,
                });
            }
            continue;
        }
        if log.address != pool {
            continue;
        }
        macro_rules! try_event {
            ($ty:ty, $variant:ident) => {
                if *topic0 == <$ty>::SIGNATURE_HASH {
                    if let Ok(e) = <$ty>::decode_log(log) {
                        events.push(PoolEvent::$variant(e.data));
                    }
                    continue;
                }
            };
        }
        try_event!(IPool::Supply, Supply);
        try_event!(IPool::Withdraw, Withdraw);
        try_event!(IPool::Borrow, Borrow);
        try_event!(IPool::Repay, Repay);
        try_event!(IPool::ReserveUsedAsCollateralEnabled, CollateralEnabled);
        try_event!(IPool::ReserveUsedAsCollateralDisabled, CollateralDisabled);
        try_event!(IPool::LiquidationCall, LiquidationCall);
    }
    events
}

/// What a `liquidationCall` did, read from the EVM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiquidationReceipt {
    /// Gas used by the transaction.
    pub gas_used: u64,
    /// The `LiquidationCall` event.
    pub event: IPool::LiquidationCall,
    /// Every decoded Pool event of the transaction.
    pub events: Vec<PoolEvent>,
}

/// The shared math's prediction for a `liquidationCall`: either what it transfers, or the Aave
/// error code it reverts with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LiquidationPrediction {
    /// The call succeeds with these amounts.
    Executes(aave_math::LiquidationOutcome),
    /// The call reverts with this Aave error code.
    Reverts(u16),
}

/// Aave error code: health factor not below 1.
pub const ERR_HEALTH_FACTOR_NOT_BELOW_THRESHOLD: u16 = 45;
/// Aave error code: the collateral is not enabled as collateral.
pub const ERR_COLLATERAL_CANNOT_BE_LIQUIDATED: u16 = 46;
/// Aave error code: the user has no debt in the debt asset.
pub const ERR_SPECIFIED_CURRENCY_NOT_BORROWED_BY_USER: u16 = 47;
/// Aave error code: a burn rounds to zero scaled units.
pub const ERR_INVALID_BURN_AMOUNT: u16 = 25;
/// Aave error code: an amount of zero.
pub const ERR_INVALID_AMOUNT: u16 = 26;

impl AaveV3Market {
    /// Index of `symbol` in the reserve list.
    pub fn asset(&self, symbol: &str) -> Result<usize> {
        self.config.asset_index(symbol)
    }

    /// Reserve `i`.
    pub fn reserve(&self, i: usize) -> Result<&Reserve> {
        self.reserves.get(i).ok_or_else(|| Error::Unknown {
            kind: "reserve index",
            name: i.to_string(),
            known: format!("0..{}", self.reserves.len()),
        })
    }

    fn pool_tx<DB, C>(&self, evm: &mut Evm<DB>, from: Address, call: C) -> Result<TxOutcome>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
        C: SolCall,
    {
        let outcome = evm.send(
            from,
            TxKind::Call(self.pool),
            call.abi_encode().into(),
            U256::ZERO,
            USER_TX_GAS_LIMIT,
        )?;
        explain_revert(outcome.into_result(format!("Pool.{}", C::SIGNATURE)))
    }

    /// Mints `amount` of reserve `asset`'s underlying to `to` (by storage when the market has real
    /// tokens) and approves the Pool for it.
    pub fn fund<DB>(&self, evm: &mut Evm<DB>, asset: usize, to: Address, amount: U256) -> Result<()>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        if self.config.tokens == TokenBytecode::Real {
            return self.fund_by_storage(evm, asset, to, amount);
        }
        let token = self.reserve(asset)?.underlying;
        if evm.account(to)?.balance.is_zero() {
            evm.set_balance(to, U256::from(10u64).pow(U256::from(21u64)))?;
        }
        evm.send_call(
            to,
            token,
            &IERC20Mintable::mintCall {
                account: to,
                value: amount,
            },
            "mint",
        )?;
        self.approve_pool(evm, asset, to)
    }

    /// Adds `amount` of reserve `asset`'s underlying to `to`'s balance by writing the token's
    /// balance slot (`evm::deal`, no `mint`: works on any token) and approves the Pool for it.
    pub fn fund_by_storage<DB>(
        &self,
        evm: &mut Evm<DB>,
        asset: usize,
        to: Address,
        amount: U256,
    ) -> Result<()>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        let token = self.reserve(asset)?.underlying;
        crate::protocol::tokens::fund_by_storage(evm, token, to, amount)?;
        self.approve_pool(evm, asset, to)
    }

    /// `approve(Pool, max)` from `owner` on reserve `asset`'s underlying.
    fn approve_pool<DB>(&self, evm: &mut Evm<DB>, asset: usize, owner: Address) -> Result<()>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        let token = self.reserve(asset)?.underlying;
        let to = owner;
        evm.send_call(
            to,
            token,
            &IERC20Mintable::approveCall {
                spender: self.pool,
                amount: U256::MAX,
            },
            "approve",
        )?;
        Ok(())
    }

    /// `Pool.supply` of `amount` on the user's own behalf.
    pub fn supply<DB>(
        &self,
        evm: &mut Evm<DB>,
        user: Address,
        asset: usize,
        amount: U256,
    ) -> Result<TxOutcome>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        let call = IPool::supplyCall {
            asset: self.reserve(asset)?.underlying,
            amount,
            onBehalfOf: user,
            referralCode: 0,
        };
        self.pool_tx(evm, user, call)
    }

    /// `Pool.borrow` at the variable rate.
    pub fn borrow<DB>(
        &self,
        evm: &mut Evm<DB>,
        user: Address,
        asset: usize,
        amount: U256,
    ) -> Result<TxOutcome>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        let call = IPool::borrowCall {
            asset: self.reserve(asset)?.underlying,
            amount,
            interestRateMode: U256::from(VARIABLE_RATE),
            referralCode: 0,
            onBehalfOf: user,
        };
        self.pool_tx(evm, user, call)
    }

    /// `Pool.repay` of variable debt (`U256::MAX` repays all).
    pub fn repay<DB>(
        &self,
        evm: &mut Evm<DB>,
        user: Address,
        asset: usize,
        amount: U256,
    ) -> Result<TxOutcome>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        let call = IPool::repayCall {
            asset: self.reserve(asset)?.underlying,
            amount,
            interestRateMode: U256::from(VARIABLE_RATE),
            onBehalfOf: user,
        };
        self.pool_tx(evm, user, call)
    }

    /// `Pool.withdraw` to the user (`U256::MAX` withdraws all).
    pub fn withdraw<DB>(
        &self,
        evm: &mut Evm<DB>,
        user: Address,
        asset: usize,
        amount: U256,
    ) -> Result<TxOutcome>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        let call = IPool::withdrawCall {
            asset: self.reserve(asset)?.underlying,
            amount,
            to: user,
        };
        self.pool_tx(evm, user, call)
    }

    /// `Pool.setUserUseReserveAsCollateral`.
    pub fn set_use_as_collateral<DB>(
        &self,
        evm: &mut Evm<DB>,
        user: Address,
        asset: usize,
        enabled: bool,
    ) -> Result<TxOutcome>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        let call = IPool::setUserUseReserveAsCollateralCall {
            asset: self.reserve(asset)?.underlying,
            useAsCollateral: enabled,
        };
        self.pool_tx(evm, user, call)
    }

    /// Moves reserve `asset`'s price to `price` (8 decimals) through the market's oracle
    /// mechanism: real transactions from the admin (under the default mechanism, `setAnswer` on
    /// the settable feed, emitting `AnswerUpdated`); the outcome of the last one.
    pub fn set_price<DB>(&self, evm: &mut Evm<DB>, asset: usize, price: U256) -> Result<TxOutcome>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        let answer = I256::try_from(price)
            .map_err(|_| Error::config("price", price, "a price below 2^255"))?;
        if answer <= I256::ZERO {
            return Err(Error::config("price", price, "a price above 0"));
        }
        let mut last = None;
        for call in self.oracle_calls(asset, price)? {
            let gas = evm.block().gas_limit.max(30_000_000);
            let what = format!("moving the price of {}", self.reserve(asset)?.symbol);
            last = Some(
                evm.send(
                    self.admin,
                    TxKind::Call(call.to),
                    call.input,
                    U256::ZERO,
                    gas,
                )?
                .into_result(what)?,
            );
        }
        last.ok_or_else(|| {
            Error::config(
                "oracle",
                self.config.oracle.as_str(),
                "a mechanism with a price transaction",
            )
        })
    }

    /// Builds the calldata of `Pool.liquidationCall`.
    pub fn liquidation_calldata(
        &self,
        collateral: usize,
        debt: usize,
        user: Address,
        debt_to_cover: U256,
        receive_a_token: bool,
    ) -> Result<IPool::liquidationCallCall> {
        Ok(IPool::liquidationCallCall {
            collateralAsset: self.reserve(collateral)?.underlying,
            debtAsset: self.reserve(debt)?.underlying,
            user,
            debtToCover: debt_to_cover,
            receiveAToken: receive_a_token,
        })
    }

    /// Executes `Pool.liquidationCall` from `liquidator` (who must hold and have approved the debt
    /// asset). A revert surfaces as [`Error::Reverted`] with the decoded Aave error code.
    #[allow(clippy::too_many_arguments)]
    pub fn liquidation_call<DB>(
        &self,
        evm: &mut Evm<DB>,
        liquidator: Address,
        collateral: usize,
        debt: usize,
        user: Address,
        debt_to_cover: U256,
        receive_a_token: bool,
    ) -> Result<LiquidationReceipt>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        let call =
            self.liquidation_calldata(collateral, debt, user, debt_to_cover, receive_a_token)?;
        let outcome = self.pool_tx(evm, liquidator, call)?;
        let events = decode_events(self.pool, &outcome.logs);
        let event = events
            .iter()
            .find_map(|e| match e {
                PoolEvent::LiquidationCall(l) => Some(l.clone()),
                _ => None,
            })
            .ok_or_else(|| Error::Decode {
                what: "LiquidationCall event".into(),
                message: "liquidationCall succeeded without emitting it".into(),
            })?;
        Ok(LiquidationReceipt {
            gas_used: outcome.gas_used,
            event,
            events,
        })
    }

    /// `Pool.getUserAccountData`, as the protocol computes it.
    pub fn account_data<DB>(&self, evm: &mut Evm<DB>, user: Address) -> Result<AccountData>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        let r = evm.view(
            self.pool,
            &IPool::getUserAccountDataCall { user },
            "getUserAccountData",
        )?;
        Ok(AccountData {
            total_collateral_base: r.totalCollateralBase,
            total_debt_base: r.totalDebtBase,
            available_borrows_base: r.availableBorrowsBase,
            current_liquidation_threshold: r.currentLiquidationThreshold,
            ltv: r.ltv,
            health_factor: r.healthFactor,
        })
    }

    /// `Pool.getReserveData`.
    pub fn reserve_data<DB>(&self, evm: &mut Evm<DB>, asset: usize) -> Result<abi::ReserveData>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        let asset = self.reserve(asset)?.underlying;
        evm.view(
            self.pool,
            &IPool::getReserveDataCall { asset },
            "getReserveData",
        )
    }

    /// The reserve's configuration bitmap, decoded.
    pub fn reserve_config<DB>(&self, evm: &mut Evm<DB>, asset: usize) -> Result<ReserveConfig>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        let asset = self.reserve(asset)?.underlying;
        let map = evm.view(
            self.pool,
            &IPool::getConfigurationCall { asset },
            "getConfiguration",
        )?;
        Ok(ReserveConfig::decode(map.data))
    }

    /// The user's configuration bitmap (bit 2i borrowing, bit 2i+1 collateral, for reserve i).
    pub fn user_config<DB>(&self, evm: &mut Evm<DB>, user: Address) -> Result<U256>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        Ok(evm
            .view(
                self.pool,
                &IPool::getUserConfigurationCall { user },
                "getUserConfiguration",
            )?
            .data)
    }

    /// Oracle price of reserve `asset` (8 decimals).
    pub fn price<DB>(&self, evm: &mut Evm<DB>, asset: usize) -> Result<U256>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        let asset = self.reserve(asset)?.underlying;
        evm.view(
            self.oracle,
            &IAaveOracle::getAssetPriceCall { asset },
            "getAssetPrice",
        )
    }

    /// Oracle price of reserve `asset` (8 decimals), and every storage slot the oracle's read
    /// touched (its source mapping, the feed, whatever proxy or adapter stands between).
    pub fn price_with_reads<DB>(
        &self,
        evm: &mut Evm<DB>,
        asset: usize,
    ) -> Result<(U256, Vec<crate::evm::executor::StorageKey>)>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        let asset = self.reserve(asset)?.underlying;
        evm.view_with_reads(
            self.oracle,
            &IAaveOracle::getAssetPriceCall { asset },
            "getAssetPrice",
        )
    }

    /// ERC-20 `balanceOf`.
    pub fn balance_of<DB>(&self, evm: &mut Evm<DB>, token: Address, who: Address) -> Result<U256>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        evm.view(
            token,
            &IERC20Mintable::balanceOfCall { account: who },
            "balanceOf",
        )
    }

    /// aToken `scaledBalanceOf`.
    pub fn scaled_balance_of<DB>(
        &self,
        evm: &mut Evm<DB>,
        token: Address,
        who: Address,
    ) -> Result<U256>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        evm.view(
            token,
            &IScaledBalanceToken::scaledBalanceOfCall { user: who },
            "scaledBalanceOf",
        )
    }

    /// `Pool.getReserveNormalizedIncome` (the aToken liquidity index now).
    pub fn normalized_income<DB>(&self, evm: &mut Evm<DB>, asset: usize) -> Result<U256>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        let asset = self.reserve(asset)?.underlying;
        evm.view(
            self.pool,
            &IPool::getReserveNormalizedIncomeCall { asset },
            "getReserveNormalizedIncome",
        )
    }

    /// Everything the shared math needs about one user, read from protocol state: per reserve,
    /// aToken and debt balances, oracle price, decimals, LTV/threshold and the user's flags.
    pub fn user_reserves<DB>(&self, evm: &mut Evm<DB>, user: Address) -> Result<Vec<UserReserve>>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        let user_config = self.user_config(evm, user)?;
        let mut out = Vec::with_capacity(self.reserves.len());
        for (i, r) in self.reserves.iter().enumerate() {
            let borrowing = user_config.bit(2 * i);
            let usage_as_collateral = user_config.bit(2 * i + 1);
            let config = self.reserve_config(evm, i)?;
            let collateral_balance = if usage_as_collateral {
                self.balance_of(evm, r.a_token, user)?
            } else {
                U256::ZERO
            };
            let debt_balance = if borrowing {
                self.balance_of(evm, r.variable_debt_token, user)?
                    + self.balance_of(evm, r.stable_debt_token, user)?
            } else {
                U256::ZERO
            };
            let price = if borrowing || usage_as_collateral {
                self.price(evm, i)?
            } else {
                U256::ZERO
            };
            out.push(UserReserve {
                collateral_balance,
                debt_balance,
                price,
                decimals: config.decimals,
                ltv: config.ltv,
                liquidation_threshold: config.liquidation_threshold,
                usage_as_collateral,
                borrowing,
            });
        }
        Ok(out)
    }

    /// The shared math's prediction of `liquidationCall(collateral, debt, user, debt_to_cover, …)`
    /// from the user's reserves (as [`Self::user_reserves`] returns them), the collateral's
    /// configuration and the current indexes (scaled burns that round to zero revert).
    pub fn predict_liquidation(
        reserves: &[UserReserve],
        request: &LiquidationRequest,
        collateral_config: &ReserveConfig,
        indexes: &LiquidationIndexes,
    ) -> Result<LiquidationPrediction> {
        let account = aave_math::user_account_data(reserves)?;
        if !aave_math::is_liquidatable(account.health_factor) {
            return Ok(LiquidationPrediction::Reverts(
                ERR_HEALTH_FACTOR_NOT_BELOW_THRESHOLD,
            ));
        }
        let c = reserves
            .get(request.collateral)
            .ok_or_else(|| Error::config("collateral", request.collateral, "a reserve index"))?;
        let d = reserves
            .get(request.debt)
            .ok_or_else(|| Error::config("debt", request.debt, "a reserve index"))?;
        if collateral_config.liquidation_threshold == 0 || !c.usage_as_collateral {
            return Ok(LiquidationPrediction::Reverts(
                ERR_COLLATERAL_CANNOT_BE_LIQUIDATED,
            ));
        }
        if d.debt_balance.is_zero() {
            return Ok(LiquidationPrediction::Reverts(
                ERR_SPECIFIED_CURRENCY_NOT_BORROWED_BY_USER,
            ));
        }
        let outcome = aave_math::liquidation_outcome(&aave_math::LiquidationInput {
            health_factor: account.health_factor,
            user_debt: d.debt_balance,
            debt_to_cover: request.debt_to_cover,
            user_collateral_balance: c.collateral_balance,
            collateral_price: c.price,
            collateral_decimals: c.decimals,
            debt_price: d.price,
            debt_decimals: d.decimals,
            liquidation_bonus: collateral_config.liquidation_bonus,
            liquidation_protocol_fee: collateral_config.liquidation_protocol_fee,
        })?;
        // The variable-debt burn, and the aToken burn when the underlying is paid out, revert
        // when the amount scales down to zero units.
        let debt_burn_is_zero =
            ray_div(outcome.debt_repaid, indexes.debt_variable_index)?.is_zero();
        let collateral_burn_is_zero = !request.receive_shares
            && ray_div(
                outcome.collateral_to_liquidator,
                indexes.collateral_liquidity_index,
            )?
            .is_zero();
        if debt_burn_is_zero || collateral_burn_is_zero {
            return Ok(LiquidationPrediction::Reverts(ERR_INVALID_BURN_AMOUNT));
        }
        Ok(LiquidationPrediction::Executes(outcome))
    }
}

/// Reserve indexes at the liquidation's block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiquidationIndexes {
    /// `getReserveNormalizedIncome(collateral)`.
    pub collateral_liquidity_index: U256,
    /// `getReserveNormalizedVariableDebt(debt)`.
    pub debt_variable_index: U256,
}

fn explain_revert(result: Result<TxOutcome>) -> Result<TxOutcome> {
    result.map_err(|e| match e {
        Error::Reverted {
            call,
            reason,
            data,
            gas_used,
        } => Error::Reverted {
            call,
            reason: errors::explain(&reason),
            data,
            gas_used,
        },
        other => other,
    })
}

/// Aave V3 in the protocol registry.
#[derive(Debug, Clone, Copy)]
pub struct AaveV3;

impl crate::protocol::spec::Protocol for AaveV3 {
    type Config = config::MarketConfig;
    type Market = AaveV3Market;
    type Book = book::BorrowerIndex;
    const CAPABILITIES: crate::protocol::spec::Capabilities = crate::protocol::spec::Capabilities {
        flash_loans: true,
        receive_shares: true,
    };
    const PACKAGE: &'static crate::protocol::artifacts::NpmPackage =
        &crate::protocol::artifacts::AAVE_V3_CORE;
    const ORACLE_KEEPER: &'static str = "aave-v3-admin";

    fn deploy<DB>(
        evm: &mut Evm<DB>,
        artifacts: &crate::protocol::artifacts::ArtifactStore,
        config: &config::MarketConfig,
    ) -> Result<AaveV3Market>
    where
        DB: revm::DatabaseRef,
        DB::Error: revm::database_interface::DBErrorMarker + std::fmt::Display,
    {
        deploy::deploy_market(evm, artifacts, config)
    }

    fn book<DB>(
        market: &AaveV3Market,
        evm: &mut Evm<DB>,
        users: &[Address],
    ) -> Result<book::BorrowerIndex>
    where
        DB: revm::DatabaseRef,
        DB::Error: revm::database_interface::DBErrorMarker + std::fmt::Display,
    {
        let mut index = book::BorrowerIndex::new(market, evm)?;
        for user in users {
            index.refresh_user(evm, *user)?;
        }
        Ok(index)
    }

    fn verify(
        artifacts: &crate::protocol::artifacts::ArtifactStore,
        seed: u64,
        cases: u64,
        markets: usize,
        only_position: Option<u64>,
    ) -> Result<crate::protocol::spec::Verification> {
        let report = differential::run(artifacts, seed, cases, markets, only_position)?;
        Ok(crate::protocol::spec::Verification {
            summary: format!(
                "aave-v3 differential: {} cases over {} positions in {} markets, {} mismatches, {:.1} s\n  predicted reverts {}, collateral-capped {}, 100% close factor {}, receiveAToken {}, with protocol fee {}",
                report.cases,
                report.positions,
                report.markets,
                report.mismatches.len(),
                report.seconds,
                report.predicted_reverts,
                report.capped,
                report.full_close_factor,
                report.receive_a_token,
                report.with_protocol_fee
            ),
            mismatches: report.mismatches,
        })
    }
}
