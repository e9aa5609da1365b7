//! What-if executor: runs a candidate transaction at a hook point on a throwaway overlay of the
//! replayed state (never committed), returning what the EVM did.

use alloy_primitives::{Address, TxKind, U256};
use revm::context::{BlockEnv, TxEnv};
use revm::database::CacheDB;
use revm::database_interface::DBErrorMarker;
use revm::DatabaseRef;

use crate::error::Result;
use crate::evm::executor::Evm;
use crate::evm::executor::USER_TX_GAS_LIMIT;
use crate::protocol::market::LiquidationEvent;
use crate::protocol::market::LiquidationRequest;
use crate::protocol::{AnyMarket, LendingMarket, MarketState, Position};

/// The account every what-if liquidation is sent from: the strategies' (every instance of a
/// sweep: each what-if runs on its own throwaway overlay, so they cannot see each other), the
/// explorer's and the recorder's probes (`source::probe`). One fixed address, so that the state a
/// what-if reads about its liquidator (its balances, allowances, the protocol's records of it)
/// is state a recording can hold.
pub fn what_if_liquidator() -> Address {
    static LIQUIDATOR: std::sync::OnceLock<Address> = std::sync::OnceLock::new();
    *LIQUIDATOR.get_or_init(|| crate::evm::keys::actor("liqsim what-if liquidator"))
}

/// What a what-if liquidation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhatIfLiquidation {
    /// True when the liquidation succeeded.
    pub success: bool,
    /// Gas used by the liquidation transaction (from the EVM).
    pub gas_used: u64,
    /// Decoded revert reason (the protocol's error codes or custom errors) when it failed.
    pub revert_reason: Option<String>,
    /// Debt repaid (the protocol's event).
    pub debt_repaid: U256,
    /// Collateral received, underlying units (the protocol's events).
    pub collateral_received: U256,
    /// The decoded liquidation, when it succeeded.
    pub event: Option<LiquidationEvent>,
}

/// Runs the liquidation of `user`'s `position` from `liquidator` on an overlay of `evm`'s current
/// state: the liquidator is funded with the debt asset (by storage, `evm::deal`: no `mint`) and ether,
/// then the call executes at the current block with `priority_fee` per gas. Nothing reaches `evm`.
pub fn what_if_liquidation<DB>(
    evm: &Evm<DB>,
    market: &AnyMarket,
    liquidator: Address,
    user: Address,
    position: &dyn Position,
    request: &LiquidationRequest,
    priority_fee: u128,
) -> Result<WhatIfLiquidation>
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    let mut steps = what_if_liquidations(
        &WhatIfAt {
            state: evm.db(),
            block: evm.block(),
            chain_id: evm.chain_id(),
            market,
        },
        liquidator,
        user,
        position,
        std::slice::from_ref(request),
        priority_fee,
    )?;
    Ok(steps.remove(0))
}

/// Where a what-if runs: a replayed state at a block, and the market.
pub struct WhatIfAt<'a, DB> {
    /// The replayed state (read only).
    pub state: &'a CacheDB<DB>,
    /// The block environment.
    pub block: &'a BlockEnv,
    /// Chain id.
    pub chain_id: u64,
    /// The market.
    pub market: &'a AnyMarket,
}

/// Runs several liquidations in sequence (each sees the previous one) on a throwaway overlay of
/// `at.state`; one result per step, stopping at the first failure. `position` is the borrower's
/// position before the first (a `debt_to_cover` of `U256::MAX` is resolved against it where the
/// protocol needs an amount). Safe to call from many threads at once.
pub fn what_if_liquidations<DB>(
    at: &WhatIfAt<'_, DB>,
    liquidator: Address,
    user: Address,
    position: &dyn Position,
    steps: &[LiquidationRequest],
    priority_fee: u128,
) -> Result<Vec<WhatIfLiquidation>>
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    run_steps(at, liquidator, user, position, steps, priority_fee).map_err(|e| {
        e.reading(format_args!(
            "the what-if liquidation of {user} at block {} (liquidator {liquidator})",
            at.block.number
        ))
    })
}

fn run_steps<DB>(
    at: &WhatIfAt<'_, DB>,
    liquidator: Address,
    user: Address,
    position: &dyn Position,
    steps: &[LiquidationRequest],
    priority_fee: u128,
) -> Result<Vec<WhatIfLiquidation>>
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    let market = at.market;
    let mut overlay: Evm<&CacheDB<DB>> = Evm::new(at.state, at.chain_id);
    let base_fee = at.block.basefee as u128;
    overlay.set_block(at.block.clone());
    overlay.set_balance(liquidator, U256::from(10u64).pow(U256::from(22u64)))?;
    let mut results = Vec::with_capacity(steps.len());
    let mut later: Option<Box<dyn Position>> = None;
    for (k, request) in steps.iter().enumerate() {
        // Enough of the debt asset for any repay the protocol can accept.
        market.fund_liquidator(&mut overlay, request.debt, liquidator)?;
        let now: &dyn Position = later.as_deref().unwrap_or(position);
        let call = market.liquidation_tx(now, user, request)?;
        let nonce = overlay.account(liquidator)?.nonce;
        let tx = TxEnv {
            tx_type: 2,
            caller: liquidator,
            gas_limit: USER_TX_GAS_LIMIT,
            gas_price: base_fee + priority_fee,
            gas_priority_fee: Some(priority_fee),
            kind: TxKind::Call(call.to),
            data: call.input,
            nonce,
            chain_id: Some(at.chain_id),
            ..TxEnv::default()
        };
        let outcome = overlay.execute(tx, true)?;
        let event = if outcome.success {
            market
                .liquidations(&mut overlay, &outcome.logs)?
                .into_iter()
                .find(|e| e.user == user)
        } else {
            None
        };
        let failed = !outcome.success;
        results.push(WhatIfLiquidation {
            success: outcome.success,
            gas_used: outcome.gas_used,
            revert_reason: failed.then(|| {
                outcome
                    .halt
                    .clone()
                    .unwrap_or_else(|| market.explain_revert(&outcome.output))
            }),
            debt_repaid: event.map(|e| e.debt_repaid).unwrap_or_default(),
            collateral_received: event.map(|e| e.collateral_received).unwrap_or_default(),
            event,
        });
        if failed {
            break;
        }
        if k + 1 < steps.len() {
            let o = now.liquidation(request.collateral, request.debt, request.debt_to_cover)?;
            later = Some(now.after(request.collateral, request.debt, &o)?);
        }
    }
    Ok(results)
}
