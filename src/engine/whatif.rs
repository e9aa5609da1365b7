//! What-if executor: runs a candidate transaction at a hook point on a throwaway overlay of the
//! replayed state (never committed), returning what the EVM did.

use alloy_primitives::{Address, TxKind, U256};
use alloy_sol_types::SolCall;
use revm::context::{BlockEnv, TxEnv};
use revm::database::CacheDB;
use revm::database_interface::DBErrorMarker;
use revm::DatabaseRef;

use crate::engine::evm::{decode_revert_reason, Evm};
use crate::error::Result;
use crate::protocol::aave_v3::{
    decode_events, errors, AaveV3Market, LiquidationRequest, PoolEvent, USER_TX_GAS_LIMIT,
};

/// What a what-if liquidation did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhatIfLiquidation {
    /// True when `liquidationCall` succeeded.
    pub success: bool,
    /// Gas used by the `liquidationCall` transaction (from the EVM).
    pub gas_used: u64,
    /// Decoded revert reason (Aave codes explained) when it failed.
    pub revert_reason: Option<String>,
    /// Debt repaid (`LiquidationCall.debtToCover`).
    pub debt_repaid: U256,
    /// Collateral received (`liquidatedCollateralAmount`).
    pub collateral_received: U256,
    /// Decoded Pool events.
    pub events: Vec<PoolEvent>,
}

/// Runs `liquidationCall` of `user`'s position from `liquidator` on an overlay of `evm`'s current
/// state: the liquidator is funded with the debt asset (devnet tokens are mintable) and ether,
/// then the call executes at the current block with `priority_fee` per gas. Nothing reaches `evm`.
pub fn what_if_liquidation<DB>(
    evm: &Evm<DB>,
    market: &AaveV3Market,
    liquidator: Address,
    user: Address,
    request: &LiquidationRequest,
    priority_fee: u128,
) -> Result<WhatIfLiquidation>
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    let mut steps = what_if_liquidations(
        evm.db(),
        evm.block(),
        evm.chain_id(),
        market,
        liquidator,
        user,
        std::slice::from_ref(request),
        priority_fee,
    )?;
    Ok(steps.remove(0))
}

/// Runs several `liquidationCall`s in sequence (each sees the previous one) on a throwaway overlay
/// of `state` at `block`; one result per step. Safe to call from many threads at once.
#[allow(clippy::too_many_arguments)]
pub fn what_if_liquidations<DB>(
    state: &CacheDB<DB>,
    block: &BlockEnv,
    chain_id: u64,
    market: &AaveV3Market,
    liquidator: Address,
    user: Address,
    steps: &[LiquidationRequest],
    priority_fee: u128,
) -> Result<Vec<WhatIfLiquidation>>
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    let mut overlay: Evm<&CacheDB<DB>> = Evm::new(state, chain_id);
    let base_fee = block.basefee as u128;
    overlay.set_block(block.clone());
    overlay.set_balance(liquidator, U256::from(10u64).pow(U256::from(22u64)))?;
    let mut results = Vec::with_capacity(steps.len());
    for request in steps {
        // Enough of the debt asset for any debtToCover the protocol can accept.
        let debt = market.reserve(request.debt)?;
        let debt_in_pool = market.balance_of(&mut overlay, debt.underlying, debt.a_token)?;
        let funding = debt_in_pool
            .saturating_mul(U256::from(2u64))
            .max(U256::from(10u64).pow(U256::from(30u64)));
        market.fund(&mut overlay, request.debt, liquidator, funding)?;
        let call = market.liquidation_calldata(
            request.collateral,
            request.debt,
            user,
            request.debt_to_cover,
            request.receive_a_token,
        )?;
        let nonce = overlay.account(liquidator)?.nonce;
        let tx = TxEnv {
            tx_type: 2,
            caller: liquidator,
            gas_limit: USER_TX_GAS_LIMIT,
            gas_price: base_fee + priority_fee,
            gas_priority_fee: Some(priority_fee),
            kind: TxKind::Call(market.pool),
            data: call.abi_encode().into(),
            nonce,
            chain_id: Some(chain_id),
            ..TxEnv::default()
        };
        let outcome = overlay.execute(tx, true)?;
        let events = decode_events(market.pool, &outcome.logs);
        let (debt_repaid, collateral_received) = events
            .iter()
            .find_map(|e| match e {
                PoolEvent::LiquidationCall(l) => {
                    Some((l.debtToCover, l.liquidatedCollateralAmount))
                }
                _ => None,
            })
            .unwrap_or_default();
        let failed = !outcome.success;
        results.push(WhatIfLiquidation {
            success: outcome.success,
            gas_used: outcome.gas_used,
            revert_reason: failed.then(|| {
                outcome
                    .halt
                    .clone()
                    .unwrap_or_else(|| errors::explain(&decode_revert_reason(&outcome.output)))
            }),
            debt_repaid,
            collateral_received,
            events,
        });
        if failed {
            break;
        }
    }
    Ok(results)
}
