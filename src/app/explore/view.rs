//! What the explorer shows at a point: every tracked position (amounts, USD, health factor,
//! liquidation prices) and the "liquidate here" what-if, with what happened historically and what
//! each strategy of a run did.

use alloy_primitives::{Address, I256, U256};
use serde::Serialize;

use crate::app::explore::run_outputs::RunOutputs;
use crate::app::explore::state::{invalid, not_found, ExploreResult, Explorer, Point, StateAt};
use crate::engine::whatif::what_if_liquidation;
use crate::math::aave::{collateral_value_base, debt_value_base, is_liquidatable};
use crate::math::profit::to_f64_lossy;
use crate::protocol::market::{best_liquidation, LiquidationRequest};
use crate::protocol::{LendingMarket, Position, PositionBook};
use crate::units::{format_units, parse_units};

/// The what-if liquidator: the one every what-if is sent from
/// ([`crate::engine::whatif::what_if_liquidator`]), so that a recording's probes cover it.
pub fn explorer_liquidator() -> Address {
    crate::engine::whatif::what_if_liquidator()
}

/// One asset of a position.
#[derive(Debug, Clone, Serialize)]
pub struct AssetRow {
    /// Symbol.
    pub symbol: String,
    /// Oracle price, USD.
    pub price_usd: f64,
    /// Collateral held (decimal text, asset units).
    pub collateral: String,
    /// Its USD value.
    pub collateral_usd: f64,
    /// Counts as collateral.
    pub collateral_enabled: bool,
    /// Debt owed (decimal text, asset units).
    pub debt: String,
    /// Its USD value.
    pub debt_usd: f64,
    /// The price of this collateral at which the health factor reaches 1, the other prices
    /// unchanged (collateral weights taken in proportion to value); `None` when no price of it
    /// alone makes the position liquidatable.
    pub liquidation_price_usd: Option<f64>,
}

/// The best liquidation a position offers (`debtToCover = max`).
#[derive(Debug, Clone, Serialize)]
pub struct BestPair {
    /// Collateral symbol.
    pub collateral: String,
    /// Debt symbol.
    pub debt: String,
    /// Collateral value received minus debt value repaid, USD.
    pub bonus_usd: f64,
    /// The close factor's amount of debt (decimal text).
    pub close_factor_amount: String,
}

/// One tracked borrower at a point.
#[derive(Debug, Clone, Serialize)]
pub struct PositionRow {
    /// The borrower.
    pub user: Address,
    /// Health factor (`None`: no debt, infinite).
    pub health_factor: Option<f64>,
    /// Exact health factor, WAD.
    pub health_factor_wad: String,
    /// Health factor below 1.
    pub liquidatable: bool,
    /// Collateral value, USD.
    pub collateral_usd: f64,
    /// Debt value, USD.
    pub debt_usd: f64,
    /// Assets held or owed, in market order.
    pub assets: Vec<AssetRow>,
    /// The most valuable liquidation, when liquidatable.
    pub best: Option<BestPair>,
}

/// The positions at a point.
#[derive(Debug, Clone, Serialize)]
pub struct PositionsAt {
    /// The point.
    pub point: Point,
    /// Block timestamp.
    pub timestamp: u64,
    /// Base fee, gwei.
    pub base_fee_gwei: f64,
    /// Oracle prices, USD, in market order.
    pub prices_usd: Vec<f64>,
    /// Symbols, in market order.
    pub symbols: Vec<String>,
    /// Milliseconds the jump took (checkpoint + short replay).
    pub jump_ms: f64,
    /// Blocks and transactions replayed from the checkpoint.
    pub replayed: (usize, usize),
    /// Every tracked borrower.
    pub positions: Vec<PositionRow>,
}

fn usd(amount: U256, price: U256, decimals: u8) -> f64 {
    let value = collateral_value_base(amount, price, decimals).unwrap_or(U256::MAX);
    to_f64_lossy(value, 8)
}

/// Signed 8-decimal USD as text.
fn signed_usd(v: I256) -> String {
    let (sign, abs) = v.into_sign_and_abs();
    let text = format_units(abs, 8);
    if sign.is_negative() && !abs.is_zero() {
        format!("-{text}")
    } else {
        text
    }
}

/// One position as a row.
pub fn position_row(
    user: Address,
    position: &dyn Position,
    symbols: &[String],
) -> ExploreResult<PositionRow> {
    let hf = position.health_factor()?;
    let holdings = position.holdings();
    let hf_f64 = (hf != U256::MAX).then(|| to_f64_lossy(hf, 18));
    let collateral_usd: f64 = holdings
        .iter()
        .filter(|h| h.collateral_enabled)
        .map(|h| usd(h.collateral, h.price, h.decimals))
        .sum();
    let debt_usd: f64 = holdings
        .iter()
        .map(|h| usd(h.debt, h.price, h.decimals))
        .sum();
    let mut assets = Vec::new();
    for (i, h) in holdings.iter().enumerate() {
        if h.collateral.is_zero() && h.debt.is_zero() {
            continue;
        }
        let c_usd = usd(h.collateral, h.price, h.decimals);
        let price = to_f64_lossy(h.price, 8);
        let liquidation_price_usd = match hf_f64 {
            Some(hf) if h.collateral_enabled && c_usd > 0.0 && collateral_usd > 0.0 => {
                let share = c_usd / collateral_usd;
                let p = price * (1.0 - (1.0 - 1.0 / hf) / share);
                (p > 0.0 && p.is_finite()).then_some(p)
            }
            _ => None,
        };
        assets.push(AssetRow {
            symbol: symbols.get(i).cloned().unwrap_or_default(),
            price_usd: price,
            collateral: format_units(h.collateral, h.decimals),
            collateral_usd: c_usd,
            collateral_enabled: h.collateral_enabled,
            debt: format_units(h.debt, h.decimals),
            debt_usd: usd(h.debt, h.price, h.decimals),
            liquidation_price_usd,
        });
    }
    let best = if is_liquidatable(hf) {
        best_liquidation(position)?.map(|b| BestPair {
            collateral: symbols.get(b.collateral).cloned().unwrap_or_default(),
            debt: symbols.get(b.debt).cloned().unwrap_or_default(),
            bonus_usd: crate::math::profit::i256_to_f64_lossy(b.bonus_value_base, 8),
            close_factor_amount: format_units(
                b.outcome.max_liquidatable_debt,
                holdings.get(b.debt).map(|h| h.decimals).unwrap_or(18),
            ),
        })
    } else {
        None
    };
    Ok(PositionRow {
        user,
        health_factor: hf_f64,
        health_factor_wad: hf.to_string(),
        liquidatable: is_liquidatable(hf),
        collateral_usd,
        debt_usd,
        assets,
        best,
    })
}

/// Every tracked borrower's position at `state`.
pub fn positions(explorer: &Explorer, state: &StateAt) -> ExploreResult<PositionsAt> {
    let symbols = explorer.market.symbols();
    let mut rows = Vec::new();
    for user in state.book.users() {
        if let Some(p) = state.book.position(&user)? {
            rows.push(position_row(user, &*p, &symbols)?);
        }
    }
    let block = state.evm.block();
    Ok(PositionsAt {
        point: state.point,
        timestamp: block.timestamp.saturating_to(),
        base_fee_gwei: block.basefee as f64 / 1e9,
        prices_usd: (0..symbols.len())
            .map(|i| to_f64_lossy(state.book.usd_price(i), 8))
            .collect(),
        symbols,
        jump_ms: state.seconds * 1e3,
        replayed: (state.replayed_blocks, state.replayed_transactions),
        positions: rows,
    })
}

/// How much debt a what-if repays.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Amount {
    /// As much as the protocol allows (`debtToCover = max`).
    Max,
    /// Exactly the close factor's share of the debt.
    CloseFactor,
    /// A decimal amount of the debt asset.
    Custom(String),
}

impl Amount {
    /// `max`, `close-factor` or a decimal amount.
    pub fn parse(text: &str) -> Self {
        match text.trim() {
            "max" | "" => Amount::Max,
            "close-factor" | "close_factor" => Amount::CloseFactor,
            other => Amount::Custom(other.to_string()),
        }
    }

    fn text(&self) -> String {
        match self {
            Amount::Max => "max".into(),
            Amount::CloseFactor => "close-factor".into(),
            Amount::Custom(t) => t.clone(),
        }
    }
}

/// How a what-if liquidator pays the debt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum WhatIfFunding {
    /// Its own funds.
    Own,
    /// A flash loan of the market (its premium is a cost).
    FlashLoan,
}

impl WhatIfFunding {
    /// `own` or `flash-loan`.
    pub fn parse(text: &str) -> ExploreResult<Self> {
        match text.trim() {
            "own" | "" => Ok(WhatIfFunding::Own),
            "flash-loan" | "flash_loan" | "flash" => Ok(WhatIfFunding::FlashLoan),
            other => invalid(format!("unknown funding `{other}`; known: own, flash-loan")),
        }
    }
}

/// A what-if request.
#[derive(Debug, Clone)]
pub struct WhatIfRequest {
    /// Where.
    pub point: Point,
    /// Whom.
    pub user: Address,
    /// Collateral symbol (default: the best pair's).
    pub collateral: Option<String>,
    /// Debt symbol (default: the best pair's).
    pub debt: Option<String>,
    /// How much.
    pub amount: Amount,
    /// Paid how.
    pub funding: WhatIfFunding,
    /// Priority fee, gwei (decimal text).
    pub tip_gwei: String,
}

/// The decoded liquidation event.
#[derive(Debug, Clone, Serialize)]
pub struct EventView {
    /// Event name, protocol-neutral.
    pub name: String,
    /// Borrower.
    pub user: Address,
    /// Liquidator.
    pub liquidator: Address,
    /// Collateral symbol.
    pub collateral: String,
    /// Debt symbol.
    pub debt: String,
    /// Debt repaid, decimal.
    pub debt_repaid: String,
    /// Collateral received, decimal.
    pub collateral_received: String,
}

/// A historical liquidation of the user at or after the point.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryRow {
    /// Block.
    pub block: u64,
    /// Transaction index.
    pub tx_index: u32,
    /// Transaction hash.
    pub tx_hash: String,
    /// Blocks after the point.
    pub blocks_later: u64,
    /// Liquidator name or address.
    pub liquidator: String,
    /// Tip, gwei.
    pub tip_gwei: f64,
    /// Debt repaid (with symbol), when the ledger holds it.
    pub debt_repaid: Option<String>,
    /// Collateral received (with symbol), when the ledger holds it.
    pub collateral_received: Option<String>,
    /// Bonus value at the oracle then, USD.
    pub bonus_usd: Option<f64>,
}

/// What a what-if did.
#[derive(Debug, Clone, Serialize)]
pub struct WhatIfView {
    /// Where.
    pub point: Point,
    /// Whom.
    pub user: Address,
    /// The what-if liquidator.
    pub liquidator: Address,
    /// Collateral symbol.
    pub collateral: String,
    /// Debt symbol.
    pub debt: String,
    /// The amount asked for (`max`, `close-factor` or decimal).
    pub amount: String,
    /// `debtToCover` sent (decimal, or `max`).
    pub debt_to_cover: String,
    /// Funding.
    pub funding: WhatIfFunding,
    /// Health factor before.
    pub health_factor: String,
    /// True when the protocol executed the liquidation.
    pub success: bool,
    /// The protocol's refusal (decoded revert reason), when it failed.
    pub refusal: Option<String>,
    /// Gas used (EVM).
    pub gas_used: u64,
    /// Gas price, gwei (base fee + tip).
    pub gas_price_gwei: String,
    /// Gas cost, USD.
    pub gas_cost_usd: String,
    /// Debt repaid (decimal, debt units).
    pub debt_repaid: String,
    /// Its value, USD.
    pub debt_repaid_usd: String,
    /// Collateral received (decimal, collateral units).
    pub collateral_received: String,
    /// Its value, USD.
    pub collateral_received_usd: String,
    /// Collateral value received minus debt value repaid, USD.
    pub bonus_usd: String,
    /// The protocol's fee taken from the seized collateral (decimal, collateral units; the shared
    /// math's sizing for this amount).
    pub protocol_fee: String,
    /// Its value, USD.
    pub protocol_fee_usd: String,
    /// Flash-loan premium, USD (0 when self-funded).
    pub funding_cost_usd: String,
    /// Bonus minus gas minus funding cost, USD.
    pub profit_after_gas_usd: String,
    /// The decoded liquidation event.
    pub event: Option<EventView>,
    /// Historical liquidations of the user at or after the point.
    pub history: Vec<HistoryRow>,
    /// What each strategy of the run did about this user (rows of `actions.parquet` and
    /// `missed.parquet`).
    pub strategies: Vec<serde_json::Value>,
}

/// Index of a symbol, or a bad-input error listing the known ones.
fn symbol_index(symbols: &[String], symbol: &str, what: &str) -> ExploreResult<usize> {
    match symbols.iter().position(|s| s.eq_ignore_ascii_case(symbol)) {
        Some(i) => Ok(i),
        None => invalid(format!(
            "unknown {what} asset `{symbol}`; known: {}",
            symbols.join(", ")
        )),
    }
}

/// Runs a what-if liquidation at the request's point (state after its transaction), in revm.
pub fn what_if(
    explorer: &Explorer,
    run: Option<&RunOutputs>,
    request: &WhatIfRequest,
) -> ExploreResult<WhatIfView> {
    let state = explorer.state_at(request.point)?;
    let market = &explorer.market;
    let symbols = market.symbols();
    let Some(position) = state.book.position(&request.user)? else {
        return not_found(format!(
            "user {} holds no position at block {}{} (tracked users: {})",
            request.user,
            request.point.block,
            request
                .point
                .tx
                .map(|t| format!(" tx {t}"))
                .unwrap_or_default(),
            state.book.user_count()
        ));
    };
    let holdings = position.holdings();
    let best = best_liquidation(&*position)?;
    let pick = |given: &Option<String>, from_best: Option<usize>, what: &str| match given {
        Some(s) if !s.is_empty() => symbol_index(&symbols, s, what),
        _ => match from_best {
            Some(i) => Ok(i),
            None => invalid(format!(
                "the position offers no liquidation here (health factor {}): name the {what} asset",
                to_f64_lossy(position.health_factor().unwrap_or(U256::MAX), 18)
            )),
        },
    };
    let c = pick(
        &request.collateral,
        best.map(|b| b.collateral),
        "collateral",
    )?;
    let d = pick(&request.debt, best.map(|b| b.debt), "debt")?;
    let (Some(cr), Some(dr)) = (holdings.get(c), holdings.get(d)) else {
        return invalid("asset index outside the market");
    };
    let debt_to_cover = match &request.amount {
        Amount::Max => U256::MAX,
        Amount::CloseFactor => match position.liquidation(c, d, U256::MAX) {
            Ok(o) => o.max_liquidatable_debt,
            Err(e) => return invalid(format!("no close-factor amount here: {e}")),
        },
        Amount::Custom(text) => match parse_units(text, dr.decimals) {
            Ok(v) if !v.is_zero() => v,
            Ok(_) => return invalid("the amount must be above 0"),
            Err(e) => {
                return invalid(format!(
                    "amount `{text}` is not a decimal amount of {}: {e}",
                    symbols[d]
                ))
            }
        },
    };
    let premium_bps = match request.funding {
        WhatIfFunding::Own => 0,
        WhatIfFunding::FlashLoan => match market.flash_loan_premium_bps() {
            Some(bps) => bps,
            None => {
                return invalid(
                    "this market has no flash loans; fund the liquidation with own funds",
                )
            }
        },
    };
    let tip = match parse_units(&request.tip_gwei, 9) {
        Ok(v) if v <= U256::from(u64::MAX) => v.saturating_to::<u128>(),
        Ok(_) => return invalid("tip too large"),
        Err(e) => return invalid(format!("tip `{}` gwei: {e}", request.tip_gwei)),
    };
    let liquidator = explorer_liquidator();
    let result = what_if_liquidation(
        &state.evm,
        market,
        liquidator,
        request.user,
        &*position,
        &LiquidationRequest {
            collateral: c,
            debt: d,
            debt_to_cover,
            receive_shares: false,
        },
        tip,
    )?;
    let native = market.native_asset()?;
    let native_price = state.book.usd_price(native);
    let base_fee = state.evm.block().basefee;
    let gas = crate::math::cost::gas_cost(result.gas_used, base_fee, tip, native_price);
    let received = collateral_value_base(result.collateral_received, cr.price, cr.decimals)?;
    let paid = debt_value_base(result.debt_repaid, dr.price, dr.decimals)?;
    let bonus = I256::from_raw(received) - I256::from_raw(paid);
    let funding_cost = if result.success && premium_bps > 0 {
        debt_value_base(
            crate::math::cost::flash_loan_premium(result.debt_repaid, premium_bps)?,
            dr.price,
            dr.decimals,
        )?
    } else {
        U256::ZERO
    };
    let protocol_fee = if result.success {
        position
            .liquidation(c, d, debt_to_cover)
            .map(|o| o.protocol_fee)
            .unwrap_or_default()
    } else {
        U256::ZERO
    };
    let profit = bonus - I256::from_raw(gas.base) - I256::from_raw(funding_cost);
    let event = result.event.map(|e| EventView {
        name: "liquidation".into(),
        user: e.user,
        liquidator: e.liquidator,
        collateral: symbols.get(e.collateral).cloned().unwrap_or_default(),
        debt: symbols.get(e.debt).cloned().unwrap_or_default(),
        debt_repaid: format_units(e.debt_repaid, dr.decimals),
        collateral_received: format_units(e.collateral_received, cr.decimals),
    });
    Ok(WhatIfView {
        point: request.point,
        user: request.user,
        liquidator,
        collateral: symbols[c].clone(),
        debt: symbols[d].clone(),
        amount: request.amount.text(),
        debt_to_cover: if debt_to_cover == U256::MAX {
            "max".into()
        } else {
            format_units(debt_to_cover, dr.decimals)
        },
        funding: request.funding,
        health_factor: format_units(position.health_factor()?, 18),
        success: result.success,
        refusal: result.revert_reason,
        gas_used: result.gas_used,
        gas_price_gwei: format_units(gas.gas_price_wei, 9),
        gas_cost_usd: format_units(gas.base, 8),
        debt_repaid: format_units(result.debt_repaid, dr.decimals),
        debt_repaid_usd: format_units(paid, 8),
        collateral_received: format_units(result.collateral_received, cr.decimals),
        collateral_received_usd: format_units(received, 8),
        bonus_usd: signed_usd(bonus),
        protocol_fee: format_units(protocol_fee, cr.decimals),
        protocol_fee_usd: format_units(
            collateral_value_base(protocol_fee, cr.price, cr.decimals)?,
            8,
        ),
        funding_cost_usd: format_units(funding_cost, 8),
        profit_after_gas_usd: signed_usd(profit),
        event,
        history: history(explorer, request.point, request.user),
        strategies: run
            .map(|r| r.rows_of_user(&request.user))
            .unwrap_or_default(),
    })
}

/// The user's historical liquidations at or after `point`.
pub fn history(explorer: &Explorer, point: Point, user: Address) -> Vec<HistoryRow> {
    let symbols = explorer.market.symbols();
    let decimals = explorer.market.decimals();
    let after = |block: u64, tx: u32| {
        block > point.block || (block == point.block && point.tx.is_none_or(|t| tx > t))
    };
    explorer
        .liquidations
        .iter()
        .filter(|l| l.user == user && after(l.block, l.tx_index))
        .map(|l| {
            let ledger = explorer
                .opportunities
                .iter()
                .filter(|o| o.user == user)
                .flat_map(|o| o.liquidations.iter())
                .find(|h| h.block == l.block && h.tx_index == l.tx_index);
            let amount = |v: U256, i: usize| {
                format!(
                    "{} {}",
                    format_units(v, decimals.get(i).copied().unwrap_or(18)),
                    symbols.get(i).cloned().unwrap_or_default()
                )
            };
            HistoryRow {
                block: l.block,
                tx_index: l.tx_index,
                tx_hash: l.tx_hash.to_string(),
                blocks_later: l.block.saturating_sub(point.block),
                liquidator: l.liquidator_name.clone(),
                tip_gwei: l.tip_gwei,
                debt_repaid: ledger.map(|h| amount(h.debt_repaid, h.debt)),
                collateral_received: ledger.map(|h| amount(h.collateral_received, h.collateral)),
                bonus_usd: ledger
                    .map(|h| crate::math::profit::i256_to_f64_lossy(h.bonus_value_base, 8)),
            }
        })
        .collect()
}
