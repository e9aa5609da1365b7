//! One protocol abstraction: what the replay, the opportunity ledger, the strategies and the devnet
//! builder need from a lending protocol, behind one small trait per concern.
//!
//! * [`Position`]: one borrower's position in the protocol's own exact units, with the protocol's
//!   own health factor and liquidation sizing (the shared math proven equal to the bytecode).
//! * [`PositionBook`]: every borrower of a market, kept up to date from the replayed state (read
//!   only through revm's `DatabaseRef`) and the protocol's events.
//! * [`LendingMarket`] / [`MarketState`]: a deployed market as the engine sees it: its assets,
//!   how to fund a liquidator, how to build the liquidation transaction (`liquidationCall` or
//!   `liquidateBorrow`), how to decode its result and refusals. What the devnet builder needs
//!   besides (deployment aside) is in [`crate::protocol::devnet`].
//!
//! Values strategies compare across assets are in USD with 8 decimals ([`Holding::price`]); every
//! protocol decision (health factor, close factor, seized collateral) is made in the protocol's
//! own units and rounding.

use std::collections::BTreeSet;

use alloy_primitives::{Address, Bytes, Log, I256, U256};
use revm::database_interface::DBErrorMarker;
use revm::DatabaseRef;

use crate::error::Result;
use crate::evm::executor::Evm;
use crate::evm::replayed::ReplayedTx;
use crate::math::aave::LiquidationOutcome;
use crate::math::profit::{liquidation_profit, ProfitInput};

/// `1e18`: a health factor of exactly 1.
pub const HEALTH_FACTOR_ONE: U256 = U256::from_limbs([1_000_000_000_000_000_000, 0, 0, 0]);

/// One asset of a position as strategies see it: exact amounts in the asset's own units, and a
/// USD price for valuing them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Holding {
    /// Collateral held, underlying units (Compound: vTokens × exchange rate).
    pub collateral: U256,
    /// Debt owed, underlying units.
    pub debt: U256,
    /// USD per whole token, 8 decimals (valuation only).
    pub price: U256,
    /// Underlying decimals.
    pub decimals: u8,
    /// Counts as collateral and can be seized.
    pub collateral_enabled: bool,
    /// Borrowed.
    pub borrowing: bool,
}

/// A borrower's position with the protocol's own math.
pub trait Position: Send + Sync + std::fmt::Debug {
    /// Per asset, in market order.
    fn holdings(&self) -> &[Holding];
    /// Health factor, WAD: below 1e18 the protocol lets anyone liquidate (Compound-style markets:
    /// weighted collateral / borrows, below 1 exactly when there is a shortfall).
    fn health_factor(&self) -> Result<U256>;
    /// Whether the protocol would accept a liquidation of pair (collateral `c`, debt `d`) now, or
    /// why not (the protocol's own error name).
    fn refusal(&self, c: usize, d: usize) -> Result<Option<&'static str>>;
    /// The protocol's amounts for repaying `debt_to_cover` (`U256::MAX`: as much as allowed) of
    /// debt `d` against collateral `c`, collateral in underlying units.
    fn liquidation(&self, c: usize, d: usize, debt_to_cover: U256) -> Result<LiquidationOutcome>;
    /// How much more it may borrow now, USD 8 decimals (its borrowing power left).
    fn available_borrows_usd(&self) -> Result<U256>;
    /// The position after liquidation `o` of pair (c, d).
    fn after(&self, c: usize, d: usize, o: &LiquidationOutcome) -> Result<Box<dyn Position>>;
}

/// The most valuable liquidation a position offers right now (by bonus value).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BestLiquidation {
    /// Collateral asset index.
    pub collateral: usize,
    /// Debt asset index.
    pub debt: usize,
    /// The protocol's outcome with `debtToCover = max`.
    pub outcome: LiquidationOutcome,
    /// Collateral value received minus debt value repaid (USD, 8 decimals).
    pub bonus_value_base: I256,
}

/// Collateral value received minus debt value repaid by outcome `o` of pair (c, d), USD 8 decimals.
pub fn bonus_value(
    holdings: &[Holding],
    c: usize,
    d: usize,
    o: &LiquidationOutcome,
) -> Result<I256> {
    let (cr, dr) = (&holdings[c], &holdings[d]);
    Ok(liquidation_profit(&ProfitInput {
        collateral_received: o.collateral_to_liquidator,
        collateral_price: cr.price,
        collateral_decimals: cr.decimals,
        debt_repaid: o.debt_repaid,
        debt_price: dr.price,
        debt_decimals: dr.decimals,
        gas_used: 0,
        gas_price_wei: U256::ZERO,
        eth_price: U256::from(1u64),
        flash_loan_premium_bps: U256::ZERO,
    })?
    .bonus_value_base)
}

/// The most valuable pair of a liquidatable position (`debtToCover = max`), if any.
pub fn best_liquidation(position: &dyn Position) -> Result<Option<BestLiquidation>> {
    if position.health_factor()? >= HEALTH_FACTOR_ONE {
        return Ok(None);
    }
    let holdings = position.holdings();
    let mut best: Option<BestLiquidation> = None;
    for c in 0..holdings.len() {
        if !holdings[c].collateral_enabled || holdings[c].collateral.is_zero() {
            continue;
        }
        for d in 0..holdings.len() {
            if holdings[d].debt.is_zero() || position.refusal(c, d)?.is_some() {
                continue;
            }
            let outcome = position.liquidation(c, d, U256::MAX)?;
            let candidate = BestLiquidation {
                collateral: c,
                debt: d,
                outcome,
                bonus_value_base: bonus_value(holdings, c, d, &outcome)?,
            };
            if best.is_none_or(|b| candidate.bonus_value_base > b.bonus_value_base) {
                best = Some(candidate);
            }
        }
    }
    Ok(best)
}

/// What a what-if liquidator is given of the debt asset: twice what the market holds of it (more
/// than any repay it can accept), at least 1e30 units.
pub fn liquidator_funding(held_by_market: U256) -> U256 {
    held_by_market
        .saturating_mul(U256::from(2u64))
        .max(U256::from(10u64).pow(U256::from(30u64)))
}

/// Position of `symbol` among a market's `symbols`, or an error listing them.
pub fn symbol_index(symbols: &[String], symbol: &str) -> Result<usize> {
    symbols
        .iter()
        .position(|s| s == symbol)
        .ok_or_else(|| crate::error::Error::Unknown {
            kind: "asset",
            name: symbol.to_string(),
            known: symbols.join(", "),
        })
}

/// A liquidation found in a transaction's logs, in the protocol-neutral form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiquidationEvent {
    /// The borrower.
    pub user: Address,
    /// Who liquidated.
    pub liquidator: Address,
    /// Collateral asset index.
    pub collateral: usize,
    /// Debt asset index.
    pub debt: usize,
    /// Debt repaid, debt-asset units.
    pub debt_repaid: U256,
    /// Collateral the liquidator received, underlying units.
    pub collateral_received: U256,
}

/// One liquidation request, by asset index (`liquidationCall` / `liquidateBorrow`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiquidationRequest {
    /// Collateral reserve index.
    pub collateral: usize,
    /// Debt reserve index.
    pub debt: usize,
    /// Amount of debt to cover (`U256::MAX` = as much as allowed).
    pub debt_to_cover: U256,
    /// Receive the protocol's shares (aTokens, vTokens) instead of the underlying.
    pub receive_shares: bool,
}

/// The protocol's own verdict on a borrower, from its view functions executed in the EVM (the
/// referee's truth).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ProtocolHealth {
    /// The health factor the protocol reports (Aave: `getUserAccountData`), where it has one.
    pub health_factor: Option<U256>,
    /// Whether the protocol lets anyone liquidate the borrower now.
    pub liquidatable: bool,
}

/// A transaction to send: target and calldata.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// Contract called.
    pub to: Address,
    /// ABI-encoded input.
    pub input: Bytes,
}

/// Builds a position later, exactly as the book would have built it when this was made (what it
/// needs of the book then is captured).
pub type DeferredPosition = Box<dyn FnOnce() -> Result<Box<dyn Position>> + Send + Sync>;

/// Every borrower of one market, kept up to date along the replay.
pub trait PositionBook: Send + Sync {
    /// Users holding positions, in address order.
    fn users(&self) -> Vec<Address>;
    /// Number of users tracked.
    fn user_count(&self) -> usize;
    /// Bitmasks of the assets `user` holds as collateral and borrows (bit i = asset i).
    fn exposure(&self, user: &Address) -> Option<(u64, u64)>;
    /// Oracle prices in the protocol's own scale, per asset (the skip filter takes their ratios).
    fn oracle_prices(&self) -> Vec<U256>;
    /// Per asset, what one unit of a user's recorded collateral and of its recorded debt is worth
    /// now, as `(price × collateral index, price × debt index)` in the protocol's own scales
    /// (index 1 where balances do not move between events). Any user's collateral term of an asset
    /// moves by the ratio of its first factor over time and its debt term by the ratio of the
    /// second: the skip filter bounds health factors by these ratios.
    fn value_factors(&self) -> Vec<(U256, U256)>;
    /// USD price (8 decimals) of asset `i`.
    fn usd_price(&self, i: usize) -> U256;
    /// `user`'s position now (None when it holds none).
    fn position(&self, user: &Address) -> Result<Option<Box<dyn Position>>>;
    /// `users`' positions now, each built when called (a book whose state is cheap to capture
    /// defers the work; by default they are built now).
    fn deferred_positions(&self, users: &[Address]) -> Result<Vec<Option<DeferredPosition>>> {
        users
            .iter()
            .map(|user| {
                Ok(self.position(user)?.map(|p| {
                    let ready: DeferredPosition = Box::new(move || Ok(p));
                    ready
                }))
            })
            .collect()
    }
    /// Moves to a new block timestamp (interest accrues natively where the protocol allows).
    fn set_timestamp(&mut self, now: u64) -> Result<()>;
}

/// The state-reading half of a book (generic over the replay's database).
pub trait BookUpdates<DB>
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    /// Refreshes what the events in `logs` touched; returns the users whose position may have
    /// changed.
    fn apply_logs(&mut self, evm: &mut Evm<DB>, logs: &[Log]) -> Result<BTreeSet<Address>>;
    /// True when `tx` moved an oracle price this market reads.
    fn moves_prices(&self, tx: &ReplayedTx<'_>) -> bool;
    /// Re-reads prices after such a transaction.
    fn apply_price_update(&mut self, evm: &mut Evm<DB>, tx: &ReplayedTx<'_>) -> Result<()>;
}

/// A deployed market of one protocol as the engine sees it: its assets, its liquidation call, its
/// events and refusals. `AnyMarket` dispatches to every registered protocol's.
pub trait LendingMarket: Send + Sync {
    /// Asset symbols, in market order.
    fn symbols(&self) -> Vec<String>;
    /// Asset decimals, in market order.
    fn decimals(&self) -> Vec<u8>;
    /// Asset (underlying token) addresses, in market order.
    fn asset_addresses(&self) -> Vec<Address>;
    /// Index of the asset that prices gas.
    fn native_asset(&self) -> Result<usize>;
    /// Flash-loan premium in bps, `None` on a market without flash loans.
    fn flash_loan_premium_bps(&self) -> Option<u16>;
    /// Named contract addresses (the manifest's `protocol.addresses`).
    fn addresses(&self) -> std::collections::BTreeMap<String, Address>;
    /// The oracle contract whose own logs (or, when the flag is set because it emits none, the
    /// transactions sent to it) mark price updates besides the feeds' `AnswerUpdated` events.
    fn price_oracle(&self) -> Option<(Address, bool)>;
    /// `(borrower, liquidator)` of a liquidation log (`LiquidationCall` / `LiquidateBorrow`) of
    /// this market.
    fn liquidation_log(
        &self,
        address: Address,
        topics: &[alloy_primitives::B256],
        data: &[u8],
    ) -> Option<(Address, Address)>;
    /// Users whose positions a log of this market names (for inspection).
    fn log_users(&self, address: Address, topics: &[alloy_primitives::B256]) -> Vec<Address>;
    /// The liquidation transaction of `request` (a `debt_to_cover` of `U256::MAX`: as much as the
    /// protocol allows for `position`) on `user`'s position.
    fn liquidation_tx(
        &self,
        position: &dyn Position,
        user: Address,
        request: &LiquidationRequest,
    ) -> Result<Call>;
    /// A failed liquidation's revert data, decoded with the protocol's error names.
    fn explain_revert(&self, output: &[u8]) -> String;
}

/// What the engine does to a market's state (generic over the database it runs on).
pub trait MarketState<DB>
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    /// Gives a what-if liquidator enough of debt asset `d` for any repay the protocol accepts.
    fn fund_liquidator(&self, evm: &mut Evm<DB>, d: usize, who: Address) -> Result<()>;
    /// The protocol's own verdict on `user` now, from its views (`getUserAccountData`,
    /// `getAccountLiquidity`).
    fn protocol_health(&self, evm: &mut Evm<DB>, user: Address) -> Result<ProtocolHealth>;
    /// The liquidations among a successful transaction's logs, read with the state after it.
    fn liquidations(&self, evm: &mut Evm<DB>, logs: &[Log]) -> Result<Vec<LiquidationEvent>>;
}
