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
use crate::protocol::dex::{token_balance, RealDex, SwapOutcome};
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
    Ok(what_if_bundle(at, liquidator, user, position, steps, priority_fee, None)?.steps)
}

/// A sale of the seized collateral through a real DEX right after the liquidations, on the same
/// overlay: the pool is seeded at the oracle prices given, then the liquidator sells what it
/// received (its balance delta of the collateral token) for at least `min_out`.
#[derive(Debug, Clone, Copy)]
pub struct SaleRequest<'a> {
    /// The DEX.
    pub dex: &'a RealDex,
    /// USD price (8 decimals) of the sold asset (the collateral), to seed the pool at.
    pub usd_sell: U256,
    /// USD price (8 decimals) of the bought asset (the debt asset).
    pub usd_buy: U256,
    /// Minimum output of the swap, debt-asset units (0: any).
    pub min_out: U256,
}

/// What a what-if bundle did: the liquidations, then the sale when one was asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WhatIfBundle {
    /// One result per liquidation step, stopping at the first failure.
    pub steps: Vec<WhatIfLiquidation>,
    /// The sale, when asked for and every liquidation succeeded.
    pub sale: Option<SaleResult>,
}

/// A sale's outcome with the DEX's own quote for it on the same state, just before it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SaleResult {
    /// What the swap did.
    pub swap: SwapOutcome,
    /// The DEX's quote for the same amount on the same state (`getAmountsOut`, QuoterV2).
    pub quote: U256,
}

/// [`what_if_liquidations`], then (when `sale` is given and every step succeeded) the sale of the
/// collateral received through the real DEX, on the same overlay.
pub fn what_if_bundle<DB>(
    at: &WhatIfAt<'_, DB>,
    liquidator: Address,
    user: Address,
    position: &dyn Position,
    steps: &[LiquidationRequest],
    priority_fee: u128,
    sale: Option<&SaleRequest<'_>>,
) -> Result<WhatIfBundle>
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    run_steps(at, liquidator, user, position, steps, priority_fee, sale).map_err(|e| {
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
    sale: Option<&SaleRequest<'_>>,
) -> Result<WhatIfBundle>
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
    let assets = market.asset_addresses();
    let sold = match (sale, steps.first()) {
        (Some(req), Some(first)) if first.collateral != first.debt && !first.receive_shares => {
            req.dex.install(&mut overlay)?;
            let token = *assets.get(first.collateral).ok_or_else(|| {
                crate::error::Error::config("collateral", first.collateral, "a market asset")
            })?;
            Some((
                first.collateral,
                first.debt,
                token,
                token_balance(&mut overlay, token, liquidator)?,
            ))
        }
        _ => None,
    };
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
    let all_ok = results.len() == steps.len() && results.iter().all(|r| r.success);
    let sale = match (sale, sold) {
        (Some(req), Some((collateral, debt, token, before))) if all_ok => {
            let amount_in = token_balance(&mut overlay, token, liquidator)?.saturating_sub(before);
            if amount_in.is_zero() {
                return Err(crate::error::Error::config(
                    "dex sale",
                    format!("0 of token {token} received"),
                    "seized collateral held as the underlying token (shares such as aTokens or \
                     Compound vTokens cannot be sold through the DEX)",
                ));
            }
            req.dex
                .seed(&mut overlay, collateral, debt, req.usd_sell, req.usd_buy)?;
            let quote = req.dex.quote(&mut overlay, collateral, debt, amount_in)?;
            let swap = req.dex.sell(
                &mut overlay,
                liquidator,
                collateral,
                debt,
                amount_in,
                req.min_out,
                priority_fee,
            )?;
            Some(SaleResult { swap, quote })
        }
        _ => None,
    };
    Ok(WhatIfBundle {
        steps: results,
        sale,
    })
}

/// Sells `amount_in` of asset `sell` for asset `buy` through `dex` from `seller` (funded with it
/// by storage) on a throwaway overlay of `at.state`: the DEX's quote on that state, then the
/// seller's approve and swap for at least `min_out`. With the chain's own pools
/// ([`RealDex::on_chain`]) the sale meets the pool as the hook's state left it (after every
/// earlier seller); otherwise the pool is seeded at `usd_sell` / `usd_buy`. Nothing reaches
/// `at.state`.
#[allow(clippy::too_many_arguments)]
pub fn what_if_sale<DB>(
    at: &WhatIfAt<'_, DB>,
    dex: &RealDex,
    seller: Address,
    sell: usize,
    buy: usize,
    amount_in: U256,
    min_out: U256,
    prices: (U256, U256),
) -> Result<SaleResult>
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    let run = || -> Result<SaleResult> {
        let mut overlay: Evm<&CacheDB<DB>> = Evm::new(at.state, at.chain_id);
        overlay.set_block(at.block.clone());
        overlay.set_balance(seller, U256::from(10u64).pow(U256::from(22u64)))?;
        dex.install(&mut overlay)?;
        dex.seed(&mut overlay, sell, buy, prices.0, prices.1)?;
        let token = dex.asset(sell)?.token;
        crate::evm::deal::deal_add(&mut overlay, token, seller, amount_in)?;
        let quote = dex.quote(&mut overlay, sell, buy, amount_in)?;
        let swap = dex.sell(&mut overlay, seller, sell, buy, amount_in, min_out, 0)?;
        Ok(SaleResult { swap, quote })
    };
    run().map_err(|e| {
        e.reading(format_args!(
            "the what-if sale of {amount_in} of asset {sell} at block {} (seller {seller})",
            at.block.number
        ))
    })
}

/// A decision sent as ONE transaction through liqsim's liquidator contract
/// (`contracts/liquidator/Liquidator.sol`): funded from the contract's own balance (own funds, or
/// a backstop pool's balance: `funds`) or an Aave flash loan, redeeming the seized vTokens on
/// Compound-style markets, optionally selling the seized collateral through a real DEX.
#[derive(Debug, Clone, Copy)]
pub struct BundlePlan<'a> {
    /// The DEX (installed into the overlay; sales go through its router).
    pub dex: &'a RealDex,
    /// Flash-borrow the debt the protocol's math says the liquidation repays.
    pub flash_loan: bool,
    /// Sell the seized collateral for the debt asset (always, with a flash loan: it repays it).
    pub sell: bool,
    /// USD price (8 decimals) of the collateral, to seed the pool at.
    pub usd_sell: U256,
    /// USD price (8 decimals) of the debt asset.
    pub usd_buy: U256,
    /// Minimum output as a tolerance below the pool's quote for the expected seizure, bps.
    pub max_slippage_bps: u16,
    /// An explicit minimum output instead (debt-asset units).
    pub min_out: Option<U256>,
    /// The debt-asset balance the contract repays from (a backstop pool's stablecoins, debt-asset
    /// units): the liquidation can repay no more. `None`: the protocol's funding for any repay it
    /// accepts (own funds). Ignored with a flash loan.
    pub funds: Option<U256>,
}

/// What a bundle did, from the EVM: the receipt's gas, the contract's `Executed` event (the
/// premium the pool asked for, the swap's output as a balance delta), the protocol's event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleOutcome {
    /// True when the transaction succeeded.
    pub success: bool,
    /// Decoded revert reason when it failed.
    pub revert_reason: Option<String>,
    /// Gas of the whole transaction (the receipt's).
    pub gas_used: u64,
    /// Gas the liquidation call inside used (measured by the contract).
    pub liquidation_gas: u64,
    /// Debt repaid (the protocol's event).
    pub debt_repaid: U256,
    /// Collateral received, underlying units (the protocol's event; on Compound-style markets
    /// what the redeem of the seized vTokens paid, the contract's balance delta).
    pub collateral_received: U256,
    /// vTokens the liquidation paid and the contract redeemed (0 on Aave).
    pub shares_redeemed: U256,
    /// The sale's output, debt-asset units (the contract's balance delta).
    pub amount_out: U256,
    /// The minimum output the sale was sent with.
    pub min_out: U256,
    /// Flash-loan amount (0 with own funds).
    pub flash_amount: U256,
    /// Flash-loan premium the pool charged (0 with own funds).
    pub premium: U256,
    /// The DEX's own quote for the collateral seized, on the state the sale met.
    pub quote: Option<U256>,
    /// The pool the sale went through.
    pub route: Option<crate::protocol::dex::Route>,
    /// The decoded liquidation, when it succeeded.
    pub event: Option<LiquidationEvent>,
}

/// Runs `request` on `user` as one transaction from `liquidator` through a fresh liquidator
/// contract on an overlay of `at.state`, as `plan` says. Nothing reaches `at.state`.
pub fn what_if_contract_bundle<DB>(
    at: &WhatIfAt<'_, DB>,
    liquidator: Address,
    user: Address,
    position: &dyn Position,
    request: &LiquidationRequest,
    priority_fee: u128,
    plan: &BundlePlan<'_>,
) -> Result<BundleOutcome>
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    run_bundle(at, liquidator, user, position, request, priority_fee, plan).map_err(|e| {
        e.reading(format_args!(
            "the what-if liquidation bundle of {user} at block {} (liquidator {liquidator})",
            at.block.number
        ))
    })
}

fn run_bundle<DB>(
    at: &WhatIfAt<'_, DB>,
    liquidator: Address,
    user: Address,
    position: &dyn Position,
    request: &LiquidationRequest,
    priority_fee: u128,
    plan: &BundlePlan<'_>,
) -> Result<BundleOutcome>
where
    DB: DatabaseRef,
    DB::Error: DBErrorMarker + std::fmt::Display,
{
    use crate::protocol::liquidator as contract;
    let market = at.market;
    let (c, d) = (request.collateral, request.debt);
    let assets = market.asset_addresses();
    let token = |i: usize| {
        assets
            .get(i)
            .copied()
            .ok_or_else(|| crate::error::Error::config("asset", i, "a market asset"))
    };
    let (collateral, debt) = (token(c)?, token(d)?);
    if !contract::supports(market) || request.receive_shares || c == d {
        return Err(crate::error::Error::config(
            "dex.kind",
            market.kind().as_str(),
            "a market the liquidator contract supports (Aave V3, Aave V2, Compound-style) and a \
             liquidation of two different assets paying the underlying",
        ));
    }
    let shares = contract::seized_shares(market, c)?;
    let mut overlay: Evm<&CacheDB<DB>> = Evm::new(at.state, at.chain_id);
    let base_fee = at.block.basefee as u128;
    overlay.set_block(at.block.clone());
    overlay.set_balance(liquidator, U256::from(10u64).pow(U256::from(22u64)))?;
    plan.dex.install(&mut overlay)?;
    let bot = contract::deploy(&mut overlay, liquidator)?;
    let expected = position.liquidation(c, d, request.debt_to_cover)?;
    let sell = plan.sell || plan.flash_loan;
    let mut req = *request;
    let (flash_kind, flash_pool, flash_amount) = if plan.flash_loan {
        req.debt_to_cover = expected.debt_repaid;
        let call = market.liquidation_tx(position, user, &req)?;
        let (kind, pool) = contract::flash_source(market, &call).ok_or_else(|| {
            crate::error::Error::config(
                "strategies.kind",
                "flash-loan",
                format!(
                    "a market with flash loans ({} has none)",
                    market.kind().as_str()
                ),
            )
        })?;
        (kind, pool, expected.debt_repaid)
    } else {
        let funded = match plan.funds {
            // A backstop pool's balance, held by the contract.
            Some(funds) => funds,
            None => {
                // The protocol's funding (a mint on test tokens is sent by the funded account
                // itself, so it goes to the liquidator's account), moved to the contract by
                // storage.
                let before = token_balance(&mut overlay, debt, liquidator)?;
                market.fund_liquidator(&mut overlay, d, liquidator)?;
                let funded = token_balance(&mut overlay, debt, liquidator)?.saturating_sub(before);
                crate::evm::deal::deal(&mut overlay, debt, liquidator, before)?;
                funded
            }
        };
        crate::evm::deal::deal_add(&mut overlay, debt, bot, funded)?;
        (0, Address::ZERO, U256::ZERO)
    };
    let call = market.liquidation_tx(position, user, &req)?;
    let mut min_out = U256::ZERO;
    let mut before_sale = None;
    if sell {
        plan.dex
            .seed(&mut overlay, c, d, plan.usd_sell, plan.usd_buy)?;
        min_out = match plan.min_out {
            Some(m) => m,
            None => {
                let q = plan
                    .dex
                    .quote(&mut overlay, c, d, expected.collateral_to_liquidator)?;
                q * U256::from(10_000u64 - u64::from(plan.max_slippage_bps.min(10_000)))
                    / U256::from(10_000u64)
            }
        };
        before_sale = Some(overlay.fork());
    }
    let job = contract::ILiquidator::Job {
        liqTarget: call.to,
        liqData: call.input,
        collateral,
        shares,
        debt,
        flashKind: flash_kind,
        flashPool: flash_pool,
        flashAmount: flash_amount,
        sale: contract::sale(sell.then_some(plan.dex), min_out),
    };
    let nonce = overlay.account(liquidator)?.nonce;
    let tx = TxEnv {
        tx_type: 2,
        caller: liquidator,
        gas_limit: USER_TX_GAS_LIMIT,
        gas_price: base_fee + priority_fee,
        gas_priority_fee: Some(priority_fee),
        kind: TxKind::Call(bot),
        data: contract::execute_call(job),
        nonce,
        chain_id: Some(at.chain_id),
        ..TxEnv::default()
    };
    let outcome = overlay.execute(tx, true)?;
    let executed = outcome
        .success
        .then(|| contract::executed(bot, &outcome.logs))
        .flatten();
    let event = match outcome.success {
        true => market
            .liquidations(&mut overlay, &outcome.logs)?
            .into_iter()
            .find(|e| e.user == user),
        false => None,
    };
    if outcome.success && (executed.is_none() || event.is_none()) {
        return Err(crate::error::Error::Decode {
            what: "the liquidator contract's transaction".into(),
            message: format!(
                "it succeeded without {} among its {} logs",
                if executed.is_none() {
                    "the contract's Executed event"
                } else {
                    "the protocol's liquidation event for the borrower"
                },
                outcome.logs.len()
            ),
        });
    }
    let quote = match (&executed, before_sale) {
        (Some(x), Some(mut pre)) if !x.collateralSeized.is_zero() => {
            Some(plan.dex.quote(&mut pre, c, d, x.collateralSeized)?)
        }
        _ => None,
    };
    let gas = |g: U256| u64::try_from(g).unwrap_or(u64::MAX);
    Ok(BundleOutcome {
        success: outcome.success,
        revert_reason: (!outcome.success).then(|| {
            outcome
                .halt
                .clone()
                .unwrap_or_else(|| market.explain_revert(&outcome.output))
        }),
        gas_used: outcome.gas_used,
        liquidation_gas: executed
            .as_ref()
            .map(|x| gas(x.liquidationGas))
            .unwrap_or(0),
        debt_repaid: event.map(|e| e.debt_repaid).unwrap_or_default(),
        collateral_received: match (&executed, shares.is_zero()) {
            (Some(x), false) => x.collateralSeized,
            _ => event.map(|e| e.collateral_received).unwrap_or_default(),
        },
        shares_redeemed: executed
            .as_ref()
            .map(|x| x.sharesRedeemed)
            .unwrap_or_default(),
        amount_out: executed.as_ref().map(|x| x.amountOut).unwrap_or_default(),
        min_out,
        flash_amount: executed.as_ref().map(|x| x.flashAmount).unwrap_or_default(),
        premium: executed.as_ref().map(|x| x.premium).unwrap_or_default(),
        quote,
        route: sell.then(|| plan.dex.route()),
        event,
    })
}
