//! Compound-style lending pools on their real bytecode: Venus Protocol's isolated pools
//! (`@venusprotocol/isolated-pools` 4.4.0, a maintained Compound V2 fork), deployed from the
//! published artifacts, with a typed API and the liquidation rules predicted by `math::compound`.
//!
//! # Where this fork differs from Compound V2
//!
//! Read from the package's `Comptroller.sol` and `VToken.sol`, and proven by [`differential`]:
//!
//! * **Liquidation threshold separate from the collateral factor.** Borrowing is limited by the
//!   collateral factor (`getBorrowingPower`), but `getAccountLiquidity` and `liquidateBorrow`
//!   measure shortfall against the liquidation threshold (≥ collateral factor, ≤ 100%).
//! * **Different truncation order** in the liquidity sum: `weight · (exchangeRate · price)`
//!   instead of Compound's `(collateralFactor · exchangeRate) · price`
//!   ([`crate::math::compound::venus_liquidity_snapshot`]).
//! * **`minLiquidatableCollateral`.** When the account's total *unweighted* collateral (USD,
//!   1e18) is at or below it, `liquidateBorrow` reverts `MinimalCollateralViolated`; such accounts
//!   go through `Comptroller.liquidateAccount` (all debt at once, only if the collateral covers
//!   debt × incentive) or `healAccount` (bad debt socialised).
//! * **Protocol seize share scaled by the incentive**, paid out of the market as underlying to the
//!   protocol share reserve (total supply shrinks), not added to reserves
//!   ([`crate::math::compound::venus_split_seize_tokens`]). It is per market, default 5%, and
//!   `share + 1 ≤ incentive`.
//! * **Custom errors instead of error codes**: the Comptroller and VToken revert with
//!   `TooMuchRepay()`, `InsufficientShortfall()`, `MinimalCollateralViolated(min, actual)`, ...;
//!   functions still return `NO_ERROR` (0) for compatibility. A seize above the borrower's balance
//!   is `require(..., "LIQUIDATE_SEIZE_TOO_MUCH")`, as in Compound.
//! * **Bounds**: close factor 5%..90%, collateral factor ≤ 95%; `repayAmount = type(uint256).max`
//!   is refused (`LiquidateCloseAmountIsUintMax`) instead of meaning "all"; supply and borrow caps
//!   default to 0 and must be set; prices come from a Resilient-oracle interface scaled
//!   1e(36 − decimals); forced liquidation (`isForcedLiquidationEnabled`) skips the shortfall check.
//!
//! The seize-token formula (`liquidateCalculateSeizeTokens`) and the close-factor cap are
//! Compound V2's unchanged.

pub mod abi;
pub mod config;
pub mod deploy;
pub mod differential;
pub mod market;
pub mod oracle;

use alloy_primitives::{Address, Log, U256};
use alloy_sol_types::{SolCall, SolEvent, SolInterface};
use revm::database_interface::DBErrorMarker;
use revm::DatabaseRef;

use crate::error::{Error, Result};
use crate::evm::executor::{decode_revert_reason, Evm, TxOutcome};
use crate::math::compound::{
    liquidate_calculate_seize_tokens, max_repay, venus_liquidity_snapshot,
    venus_split_seize_tokens, VenusAccountAsset, VenusLiquiditySnapshot,
};
use crate::protocol::oracles::OracleMechanism;
use crate::protocol::tokens::TokenBytecode;
use abi::{IComptroller, IMockToken, IVToken, VenusErrors};

/// One listed market: an underlying token and its vToken.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct VMarket {
    /// Underlying symbol.
    pub symbol: String,
    /// Underlying decimals.
    pub decimals: u8,
    /// Underlying token (the package's `MockToken`, or a real token: `protocol::tokens`).
    pub underlying: Address,
    /// The vToken (a `BeaconProxy` to `VToken`).
    pub vtoken: Address,
}

/// A deployed Venus isolated pool.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CompoundMarket {
    /// Symbol of the asset that prices gas.
    pub native_asset: String,
    /// The Comptroller (a `BeaconProxy`).
    pub comptroller: Address,
    /// The comptroller's oracle: the package's settable `MockPriceOracle` under `settable`,
    /// else Venus' `ResilientOracle` (`oracle::VenusOracles`).
    pub oracle: Address,
    /// `AccessControlManager`.
    pub access_control_manager: Address,
    /// Where the protocol's seize share goes (as underlying).
    pub protocol_share_reserve: Address,
    /// Owner and permitted admin.
    pub admin: Address,
    /// Markets, in config order.
    pub markets: Vec<VMarket>,
    /// Token bytecode the pool was deployed with (real tokens are funded by storage).
    #[serde(default, skip_serializing_if = "TokenBytecode::is_mintable")]
    pub tokens: TokenBytecode,
    /// How the devnet's oracle is wired and moved (`[market] oracle`).
    #[serde(default, skip_serializing_if = "OracleMechanism::is_settable")]
    pub oracle_mechanism: OracleMechanism,
    /// Venus' oracle stack behind `oracle` under any mechanism but `settable`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub venus_oracles: Option<oracle::VenusOracles>,
}

/// A decoded `LiquidateBorrow` event.
pub type LiquidateBorrowEvent = IVToken::LiquidateBorrow;

/// What a successful `liquidateBorrow` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LiquidationReceipt {
    /// Gas used.
    pub gas_used: u64,
    /// The `LiquidateBorrow` event.
    pub event: LiquidateBorrowEvent,
    /// `ProtocolSeize` amount (underlying sent to the protocol share reserve), if emitted.
    pub protocol_seize_amount: Option<U256>,
}

/// Human-readable name of a Venus revert: a decoded custom error (`TooMuchRepay(...)`), else an
/// `Error(string)` text or panic code.
pub fn explain_revert(data: &[u8]) -> String {
    match VenusErrors::VenusErrorsErrors::abi_decode(data) {
        Ok(e) => format!("{e:?}"),
        Err(_) => decode_revert_reason(data),
    }
}

/// The error name of a revert reason produced by [`explain_revert`] (`TooMuchRepay`, ...).
pub fn revert_name(reason: &str) -> &str {
    reason.split('(').next().unwrap_or(reason)
}

fn explained(result: Result<TxOutcome>) -> Result<TxOutcome> {
    result.map_err(|e| match e {
        Error::Reverted {
            call,
            data,
            gas_used,
            ..
        } => Error::Reverted {
            call,
            reason: explain_revert(&data),
            data,
            gas_used,
        },
        other => other,
    })
}

/// Decodes every `LiquidateBorrow` event among `logs`.
pub fn decode_liquidate_borrow(logs: &[Log]) -> Vec<LiquidateBorrowEvent> {
    logs.iter()
        .filter_map(|l| IVToken::LiquidateBorrow::decode_log(l).ok().map(|d| d.data))
        .collect()
}

impl CompoundMarket {
    /// Market `i`.
    pub fn market(&self, i: usize) -> Result<&VMarket> {
        self.markets.get(i).ok_or_else(|| Error::Unknown {
            kind: "market index",
            name: i.to_string(),
            known: format!("0..{}", self.markets.len()),
        })
    }

    fn tx<DB, C: SolCall>(
        &self,
        evm: &mut Evm<DB>,
        from: Address,
        to: Address,
        call: &C,
        what: &str,
    ) -> Result<TxOutcome>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        explained(evm.send_call(from, to, call, what))
    }

    /// Mints `amount` of market `i`'s underlying to `to` (the mock token's faucet; by storage when
    /// the pool has real tokens) and gives it gas money.
    pub fn fund<DB>(&self, evm: &mut Evm<DB>, i: usize, to: Address, amount: U256) -> Result<()>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        let m = self.market(i)?;
        if self.tokens == TokenBytecode::Real {
            return crate::protocol::tokens::fund_by_storage(evm, m.underlying, to, amount);
        }
        if evm.account(to)?.balance.is_zero() {
            evm.set_balance(to, U256::from(10u64).pow(U256::from(21u64)))?;
        }
        self.tx(
            evm,
            to,
            m.underlying,
            &IMockToken::faucetCall { amount },
            "MockToken.faucet",
        )?;
        Ok(())
    }

    /// Approves market `i`'s vToken to pull `user`'s underlying.
    pub fn approve<DB>(&self, evm: &mut Evm<DB>, user: Address, i: usize) -> Result<()>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        let m = self.market(i)?;
        let call = IMockToken::approveCall {
            spender: m.vtoken,
            amount: U256::MAX,
        };
        self.tx(evm, user, m.underlying, &call, "MockToken.approve")?;
        Ok(())
    }

    /// Supplies `amount` of underlying to market `i` (`approve` + `VToken.mint`).
    pub fn supply<DB>(&self, evm: &mut Evm<DB>, user: Address, i: usize, amount: U256) -> Result<()>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        self.approve(evm, user, i)?;
        let m = self.market(i)?;
        let call = IVToken::mintCall { mintAmount: amount };
        self.tx(evm, user, m.vtoken, &call, "VToken.mint")?;
        Ok(())
    }

    /// `Comptroller.enterMarkets` for the given market indexes (makes them count as collateral).
    pub fn enter_markets<DB>(
        &self,
        evm: &mut Evm<DB>,
        user: Address,
        indexes: &[usize],
    ) -> Result<()>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        let vtokens = indexes
            .iter()
            .map(|&i| self.market(i).map(|m| m.vtoken))
            .collect::<Result<Vec<_>>>()?;
        let call = IComptroller::enterMarketsCall { vTokens: vtokens };
        self.tx(
            evm,
            user,
            self.comptroller,
            &call,
            "Comptroller.enterMarkets",
        )?;
        Ok(())
    }

    /// `VToken.borrow` on market `i`.
    pub fn borrow<DB>(&self, evm: &mut Evm<DB>, user: Address, i: usize, amount: U256) -> Result<()>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        let m = self.market(i)?;
        let call = IVToken::borrowCall {
            borrowAmount: amount,
        };
        self.tx(evm, user, m.vtoken, &call, "VToken.borrow")?;
        Ok(())
    }

    /// `VToken.repayBorrow` on market `i` (after approving).
    pub fn repay<DB>(&self, evm: &mut Evm<DB>, user: Address, i: usize, amount: U256) -> Result<()>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        self.approve(evm, user, i)?;
        let m = self.market(i)?;
        let call = IVToken::repayBorrowCall {
            repayAmount: amount,
        };
        self.tx(evm, user, m.vtoken, &call, "VToken.repayBorrow")?;
        Ok(())
    }

    /// `VToken.accrueInterest` on market `i`.
    pub fn accrue_interest<DB>(&self, evm: &mut Evm<DB>, i: usize) -> Result<()>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        let m = self.market(i)?;
        self.tx(
            evm,
            self.admin,
            m.vtoken,
            &IVToken::accrueInterestCall {},
            "VToken.accrueInterest",
        )?;
        Ok(())
    }

    /// Sets market `i`'s oracle price mantissa (USD × 1e(36 − decimals)).
    pub fn set_price<DB>(&self, evm: &mut Evm<DB>, i: usize, price: U256) -> Result<()>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        if !self.oracle_mechanism.is_settable() {
            return Err(Error::config(
                "market.oracle",
                self.oracle_mechanism.as_str(),
                "\"settable\" to set a price mantissa directly (other mechanisms move prices with the keeper's price_calls)",
            ));
        }
        let m = self.market(i)?;
        let call = abi::IMockPriceOracle::setPriceCall {
            asset: m.underlying,
            price,
        };
        self.tx(
            evm,
            self.admin,
            self.oracle,
            &call,
            "MockPriceOracle.setPrice",
        )?;
        Ok(())
    }

    /// `VToken(debt).liquidateBorrow(borrower, repayAmount, vToken(collateral))` from `liquidator`
    /// (who must hold the debt underlying; this approves it). A refusal surfaces as
    /// [`Error::Reverted`] whose reason is the decoded custom error, e.g. `TooMuchRepay(...)`.
    pub fn liquidate_borrow<DB>(
        &self,
        evm: &mut Evm<DB>,
        liquidator: Address,
        borrower: Address,
        debt: usize,
        repay_amount: U256,
        collateral: usize,
    ) -> Result<LiquidationReceipt>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        self.approve(evm, liquidator, debt)?;
        let call = IVToken::liquidateBorrowCall {
            borrower,
            repayAmount: repay_amount,
            vTokenCollateral: self.market(collateral)?.vtoken,
        };
        let outcome = self.tx(
            evm,
            liquidator,
            self.market(debt)?.vtoken,
            &call,
            "VToken.liquidateBorrow",
        )?;
        let event = decode_liquidate_borrow(&outcome.logs)
            .into_iter()
            .next()
            .ok_or_else(|| Error::Decode {
                what: "LiquidateBorrow event".into(),
                message: "liquidateBorrow succeeded without emitting it".into(),
            })?;
        let protocol_seize_amount = outcome.logs.iter().find_map(|l| {
            IVToken::ProtocolSeize::decode_log(l)
                .ok()
                .map(|d| d.data.amount)
        });
        Ok(LiquidationReceipt {
            gas_used: outcome.gas_used,
            event,
            protocol_seize_amount,
        })
    }

    /// `Comptroller.getAccountLiquidity` (against liquidation thresholds): `(liquidity, shortfall)`.
    pub fn account_liquidity<DB>(&self, evm: &mut Evm<DB>, account: Address) -> Result<(U256, U256)>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        let r = evm.view(
            self.comptroller,
            &IComptroller::getAccountLiquidityCall { account },
            "Comptroller.getAccountLiquidity",
        )?;
        Ok((r.liquidity, r.shortfall))
    }

    /// `Comptroller.getBorrowingPower` (against collateral factors): `(liquidity, shortfall)`.
    pub fn borrowing_power<DB>(&self, evm: &mut Evm<DB>, account: Address) -> Result<(U256, U256)>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        let r = evm.view(
            self.comptroller,
            &IComptroller::getBorrowingPowerCall { account },
            "Comptroller.getBorrowingPower",
        )?;
        Ok((r.liquidity, r.shortfall))
    }

    /// `Comptroller.liquidateCalculateSeizeTokens(debt, collateral, repay)`.
    pub fn seize_tokens<DB>(
        &self,
        evm: &mut Evm<DB>,
        debt: usize,
        collateral: usize,
        repay: U256,
    ) -> Result<U256>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        let r = evm.view(
            self.comptroller,
            &IComptroller::liquidateCalculateSeizeTokensCall {
                vTokenBorrowed: self.market(debt)?.vtoken,
                vTokenCollateral: self.market(collateral)?.vtoken,
                actualRepayAmount: repay,
            },
            "Comptroller.liquidateCalculateSeizeTokens",
        )?;
        Ok(r.tokensToSeize)
    }

    /// `VToken.exchangeRateStored` of market `i`.
    pub fn exchange_rate<DB>(&self, evm: &mut Evm<DB>, i: usize) -> Result<U256>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        evm.view(
            self.market(i)?.vtoken,
            &IVToken::exchangeRateStoredCall {},
            "VToken.exchangeRateStored",
        )
    }

    /// Reads everything the shared math needs about `account` and the pool, from the chain state.
    pub fn read_account<DB>(&self, evm: &mut Evm<DB>, account: Address) -> Result<AccountState>
    where
        DB: DatabaseRef,
        DB::Error: DBErrorMarker + std::fmt::Display,
    {
        let pool = PoolParams {
            close_factor_mantissa: evm.view(
                self.comptroller,
                &IComptroller::closeFactorMantissaCall {},
                "Comptroller.closeFactorMantissa",
            )?,
            liquidation_incentive_mantissa: evm.view(
                self.comptroller,
                &IComptroller::liquidationIncentiveMantissaCall {},
                "Comptroller.liquidationIncentiveMantissa",
            )?,
            min_liquidatable_collateral: evm.view(
                self.comptroller,
                &IComptroller::minLiquidatableCollateralCall {},
                "Comptroller.minLiquidatableCollateral",
            )?,
        };
        let assets_in = evm.view(
            self.comptroller,
            &IComptroller::getAssetsInCall { account },
            "Comptroller.getAssetsIn",
        )?;
        let mut markets = Vec::with_capacity(self.markets.len());
        for m in &self.markets {
            let snap = evm.view(
                m.vtoken,
                &IVToken::getAccountSnapshotCall { account },
                "VToken.getAccountSnapshot",
            )?;
            let config = evm.view(
                self.comptroller,
                &IComptroller::marketsCall { vToken: m.vtoken },
                "Comptroller.markets",
            )?;
            markets.push(AccountMarket {
                entered: assets_in.contains(&m.vtoken),
                vtoken_balance: snap.vTokenBalance,
                borrow_balance: snap.borrowBalance,
                exchange_rate_mantissa: snap.exchangeRate,
                oracle_price_mantissa: evm.view(
                    self.oracle,
                    &abi::IMockPriceOracle::getUnderlyingPriceCall { vToken: m.vtoken },
                    "MockPriceOracle.getUnderlyingPrice",
                )?,
                collateral_factor_mantissa: config.collateralFactorMantissa,
                liquidation_threshold_mantissa: config.liquidationThresholdMantissa,
                protocol_seize_share_mantissa: evm.view(
                    m.vtoken,
                    &IVToken::protocolSeizeShareMantissaCall {},
                    "VToken.protocolSeizeShareMantissa",
                )?,
            });
        }
        // the Comptroller iterates in accountAssets order
        let order = assets_in
            .iter()
            .filter_map(|a| self.markets.iter().position(|m| m.vtoken == *a))
            .collect();
        Ok(AccountState {
            pool,
            markets,
            order,
        })
    }
}

/// Pool-wide liquidation parameters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolParams {
    /// `closeFactorMantissa`.
    pub close_factor_mantissa: U256,
    /// `liquidationIncentiveMantissa`.
    pub liquidation_incentive_mantissa: U256,
    /// `minLiquidatableCollateral` (USD × 1e18).
    pub min_liquidatable_collateral: U256,
}

/// One market as seen for one account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct AccountMarket {
    /// Whether the account entered it (`getAssetsIn`).
    pub entered: bool,
    /// vToken balance.
    pub vtoken_balance: U256,
    /// Stored borrow balance.
    pub borrow_balance: U256,
    /// `exchangeRateStored`.
    pub exchange_rate_mantissa: U256,
    /// Oracle price mantissa.
    pub oracle_price_mantissa: U256,
    /// Collateral factor mantissa.
    pub collateral_factor_mantissa: U256,
    /// Liquidation threshold mantissa.
    pub liquidation_threshold_mantissa: U256,
    /// `protocolSeizeShareMantissa`.
    pub protocol_seize_share_mantissa: U256,
}

/// An account's position and the pool parameters, as the shared math consumes them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AccountState {
    /// Pool parameters.
    pub pool: PoolParams,
    /// Every market, in pool order.
    pub markets: Vec<AccountMarket>,
    /// Entered market indexes in the Comptroller's `accountAssets` order.
    pub order: Vec<usize>,
}

/// What the shared math predicts a `liquidateBorrow` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SeizePrediction {
    /// Debt repaid (the whole `repayAmount`; the mock token charges no fee).
    pub repay: U256,
    /// vTokens taken from the borrower.
    pub seize_tokens: U256,
    /// vTokens credited to the liquidator.
    pub liquidator_tokens: U256,
    /// vTokens burnt for the protocol.
    pub protocol_tokens: U256,
    /// Underlying sent to the protocol share reserve.
    pub protocol_underlying: U256,
}

impl AccountState {
    /// The liquidity snapshot against liquidation thresholds (`getAccountLiquidity`).
    pub fn liquidation_snapshot(&self) -> Result<VenusLiquiditySnapshot> {
        self.snapshot(|m| m.liquidation_threshold_mantissa)
    }

    /// The liquidity snapshot against collateral factors (`getBorrowingPower`).
    pub fn borrowing_snapshot(&self) -> Result<VenusLiquiditySnapshot> {
        self.snapshot(|m| m.collateral_factor_mantissa)
    }

    fn snapshot(&self, weight: impl Fn(&AccountMarket) -> U256) -> Result<VenusLiquiditySnapshot> {
        let assets: Vec<VenusAccountAsset> = self
            .order
            .iter()
            .filter_map(|&i| self.markets.get(i))
            .map(|m| VenusAccountAsset {
                vtoken_balance: m.vtoken_balance,
                borrow_balance: m.borrow_balance,
                exchange_rate_mantissa: m.exchange_rate_mantissa,
                oracle_price_mantissa: m.oracle_price_mantissa,
                weight_mantissa: weight(m),
            })
            .collect();
        venus_liquidity_snapshot(&assets)
    }

    /// `liquidateBorrow(borrower, repay, collateral)` on market `debt`, predicted: `Ok(Ok(..))`
    /// with the amounts, `Ok(Err(name))` with the error the protocol must revert with, in the
    /// order the contracts check them; `Err` for a math error (overflow, price 0).
    pub fn predict_liquidate_borrow(
        &self,
        debt: usize,
        collateral: usize,
        repay: U256,
    ) -> Result<std::result::Result<SeizePrediction, &'static str>> {
        let (Some(d), Some(c)) = (self.markets.get(debt), self.markets.get(collateral)) else {
            return Err(Error::Unknown {
                kind: "market index",
                name: format!("{debt}/{collateral}"),
                known: format!("0..{}", self.markets.len()),
            });
        };
        // Comptroller.preLiquidateHook
        let snap = self.liquidation_snapshot()?;
        if snap.total_collateral <= self.pool.min_liquidatable_collateral {
            return Ok(Err("MinimalCollateralViolated"));
        }
        if snap.shortfall.is_zero() {
            return Ok(Err("InsufficientShortfall"));
        }
        if repay > max_repay(d.borrow_balance, self.pool.close_factor_mantissa)? {
            return Ok(Err("TooMuchRepay"));
        }
        // VToken._liquidateBorrowFresh
        if repay.is_zero() {
            return Ok(Err("LiquidateCloseAmountIsZero"));
        }
        let seize_tokens = liquidate_calculate_seize_tokens(
            d.oracle_price_mantissa,
            c.oracle_price_mantissa,
            c.exchange_rate_mantissa,
            self.pool.liquidation_incentive_mantissa,
            repay,
        )?;
        if c.vtoken_balance < seize_tokens {
            return Ok(Err("LIQUIDATE_SEIZE_TOO_MUCH"));
        }
        if !self.order.contains(&collateral) {
            return Ok(Err("MarketNotCollateral"));
        }
        let (liquidator_tokens, protocol_tokens, protocol_underlying) = venus_split_seize_tokens(
            seize_tokens,
            c.protocol_seize_share_mantissa,
            self.pool.liquidation_incentive_mantissa,
            c.exchange_rate_mantissa,
        )?;
        Ok(Ok(SeizePrediction {
            repay,
            seize_tokens,
            liquidator_tokens,
            protocol_tokens,
            protocol_underlying,
        }))
    }
}

/// Compound V2-style markets (Venus isolated pools) in the protocol registry.
#[derive(Debug, Clone, Copy)]
pub struct Compound;

impl crate::protocol::spec::Protocol for Compound {
    type Config = config::MarketConfig;
    type Market = CompoundMarket;
    type Book = market::CompoundBook;
    const CAPABILITIES: crate::protocol::spec::Capabilities = crate::protocol::spec::Capabilities {
        flash_loans: false,
        receive_shares: false,
    };
    const PACKAGE: &'static crate::protocol::artifacts::NpmPackage =
        &crate::protocol::artifacts::VENUS_ISOLATED_POOLS;
    const ORACLE_KEEPER: &'static str = "venus-admin";

    fn deploy<DB>(
        evm: &mut Evm<DB>,
        artifacts: &crate::protocol::artifacts::ArtifactStore,
        config: &config::MarketConfig,
    ) -> Result<CompoundMarket>
    where
        DB: revm::DatabaseRef,
        DB::Error: revm::database_interface::DBErrorMarker + std::fmt::Display,
    {
        deploy::deploy_market(evm, artifacts, config)
    }

    fn book<DB>(
        market: &CompoundMarket,
        evm: &mut Evm<DB>,
        users: &[Address],
    ) -> Result<market::CompoundBook>
    where
        DB: revm::DatabaseRef,
        DB::Error: revm::database_interface::DBErrorMarker + std::fmt::Display,
    {
        market::CompoundBook::new(market, evm, users)
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
                "compound (venus isolated pools) differential: {} cases over {} positions in {} markets, {} mismatches, {:.1} s\n  liquidated {}, with protocol seize share {}, predicted reverts {} (MinimalCollateralViolated {})",
                report.cases,
                report.positions,
                report.markets,
                report.mismatches.len(),
                report.seconds,
                report.liquidated,
                report.with_protocol_share,
                report.predicted_reverts,
                report.min_collateral_reverts
            ),
            mismatches: report.mismatches,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloy_sol_types::{Revert, SolError};

    #[test]
    fn custom_errors_and_require_strings_are_decoded() {
        let data = VenusErrors::MinimalCollateralViolated {
            expectedGreaterThan: U256::from(100u8),
            actual: U256::from(5u8),
        }
        .abi_encode();
        let reason = explain_revert(&data);
        assert_eq!(
            revert_name(&reason),
            "MinimalCollateralViolated",
            "{reason}"
        );
        assert!(reason.contains("100"), "{reason}");
        let data = VenusErrors::TooMuchRepay {}.abi_encode();
        assert_eq!(revert_name(&explain_revert(&data)), "TooMuchRepay");
        let data = Revert::from("LIQUIDATE_SEIZE_TOO_MUCH").abi_encode();
        assert_eq!(explain_revert(&data), "LIQUIDATE_SEIZE_TOO_MUCH");
    }
}
