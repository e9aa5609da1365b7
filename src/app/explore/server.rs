//! The explorer's HTTP server: the embedded page and a JSON API over one opened window. Every
//! query parameter is user input: a bad one is answered with a status and a message, never a
//! crash.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use alloy_primitives::Address;
use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

use crate::app::explore::run_outputs::RunOutputs;
use crate::app::explore::state::{
    invalid, not_found, BadInput, ExploreError, ExploreResult, Explorer, Point,
};
use crate::app::explore::view::{
    position_row, positions, what_if, Amount, WhatIfFunding, WhatIfRequest,
};
use crate::error::{Error, Result};
use crate::protocol::{LendingMarket, PositionBook};

/// The page (plain HTML and JavaScript, no build step).
const PAGE: &str = include_str!("page.html");

/// What the server holds: the opened window and, optionally, a run's outputs.
pub struct ExplorerApp {
    /// The window.
    pub explorer: Explorer,
    /// The run's outputs (`--run`).
    pub run: Option<RunOutputs>,
}

type Shared = Arc<ExplorerApp>;
type Params = HashMap<String, String>;

/// The router: `/`, `/api/window`, `/api/positions`, `/api/position`, `/api/whatif`.
pub fn router(app: Shared) -> Router {
    Router::new()
        .route("/", get(page))
        .route("/api/window", get(window))
        .route("/api/positions", get(positions_at))
        .route("/api/position", get(position_at))
        .route("/api/whatif", get(whatif))
        .fallback(|| async {
            error_response(
                StatusCode::NOT_FOUND,
                "no such page; the API is /api/window, /api/positions, /api/position, /api/whatif",
            )
        })
        .with_state(app)
}

/// Serves `app` on `host:port` (port 0: any free port) until the process ends; `ready` is told
/// the bound address first.
pub fn serve(
    app: ExplorerApp,
    host: IpAddr,
    port: u16,
    ready: impl FnOnce(SocketAddr),
) -> Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|source| Error::Io {
            action: "starting the server runtime",
            path: "explore".into(),
            source,
        })?;
    runtime.block_on(async move {
        let address = SocketAddr::new(host, port);
        let listener = tokio::net::TcpListener::bind(address)
            .await
            .map_err(|source| Error::Io {
                action: "binding",
                path: address.to_string().into(),
                source,
            })?;
        let bound = listener.local_addr().map_err(|source| Error::Io {
            action: "binding",
            path: address.to_string().into(),
            source,
        })?;
        tracing::info!(%bound, "explorer listening");
        ready(bound);
        axum::serve(listener, router(Arc::new(app)))
            .await
            .map_err(|source| Error::Io {
                action: "serving",
                path: bound.to_string().into(),
                source,
            })
    })
}

fn error_response(status: StatusCode, message: &str) -> Response {
    (status, Json(json!({ "error": message }))).into_response()
}

fn explore_error(e: ExploreError) -> Response {
    match e {
        ExploreError::Bad(BadInput::Invalid(m)) => error_response(StatusCode::BAD_REQUEST, &m),
        ExploreError::Bad(BadInput::NotFound(m)) => error_response(StatusCode::NOT_FOUND, &m),
        ExploreError::Internal(e) => {
            tracing::warn!(error = %e, "explorer request failed");
            error_response(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string())
        }
    }
}

/// Runs blocking work off the async threads; a panic becomes a 500, not a dead server.
async fn blocking<F>(app: Shared, work: F) -> Response
where
    F: FnOnce(&ExplorerApp) -> ExploreResult<Response> + Send + 'static,
{
    match tokio::task::spawn_blocking(move || work(&app)).await {
        Ok(Ok(response)) => response,
        Ok(Err(e)) => explore_error(e),
        Err(e) => error_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("the request failed inside liqsim: {e}"),
        ),
    }
}

async fn page() -> Response {
    ([(header::CACHE_CONTROL, "no-store")], Html(PAGE)).into_response()
}

/// A point from `block` and `tx` (absent, empty or `top`: the top of the block).
pub fn parse_point(params: &Params) -> ExploreResult<Point> {
    let Some(block) = params.get("block") else {
        return invalid("missing query parameter `block`");
    };
    let Ok(block) = block.trim().parse::<u64>() else {
        return invalid(format!("block `{block}` is not a block number"));
    };
    let tx = match params.get("tx").map(|t| t.trim()) {
        None | Some("") | Some("top") => None,
        Some(t) => match t.parse::<u32>() {
            Ok(i) => Some(i),
            Err(_) => {
                return invalid(format!(
                "transaction index `{t}` is not a number (leave it out for the top of the block)"
            ))
            }
        },
    };
    Ok(Point { block, tx })
}

/// A user address from `user`.
pub fn parse_user(params: &Params) -> ExploreResult<Address> {
    let Some(user) = params.get("user") else {
        return invalid("missing query parameter `user`");
    };
    match user.trim().parse::<Address>() {
        Ok(a) => Ok(a),
        Err(_) => invalid(format!(
            "user `{user}` is not an address (0x and 40 hex digits)"
        )),
    }
}

async fn window(State(app): State<Shared>) -> Response {
    blocking(app, |app| {
        let e = &app.explorer;
        let m = &e.window.manifest;
        Ok(Json(json!({
            "name": m.name,
            "protocol": m.protocol.kind,
            "chain_id": m.chain_id,
            "first_block": m.first_block,
            "last_block": m.last_block,
            "symbols": e.market.symbols(),
            "flash_loans": e.market.flash_loan_premium_bps().is_some(),
            "flash_loan_premium_bps": e.market.flash_loan_premium_bps(),
            "checkpoint_every": e.checkpoint_every,
            "open_seconds": e.open_seconds,
            "fidelity": e.fidelity,
            "blocks": e.blocks,
            "liquidations": e.liquidations,
            "opportunities": e.opportunities.len(),
            "run": app.run.as_ref().map(|r| json!({
                "dir": r.dir.display().to_string(),
                "actions": r.actions,
                "missed": r.missed,
                "summary": r.summary,
            })),
        }))
        .into_response())
    })
    .await
}

async fn positions_at(State(app): State<Shared>, Query(params): Query<Params>) -> Response {
    blocking(app, move |app| {
        let point = parse_point(&params)?;
        let state = app.explorer.state_at(point)?;
        Ok(Json(positions(&app.explorer, &state)?).into_response())
    })
    .await
}

async fn position_at(State(app): State<Shared>, Query(params): Query<Params>) -> Response {
    blocking(app, move |app| {
        let point = parse_point(&params)?;
        let user = parse_user(&params)?;
        let state = app.explorer.state_at(point)?;
        let Some(p) = state.book.position(&user)? else {
            return not_found(format!(
                "user {user} holds no position at block {} (tracked users: {})",
                point.block,
                state.book.user_count()
            ));
        };
        let row = position_row(user, &*p, &app.explorer.market.symbols())?;
        Ok(Json(row).into_response())
    })
    .await
}

/// The what-if request of a query.
pub fn parse_what_if(params: &Params) -> ExploreResult<WhatIfRequest> {
    let text = |k: &str| params.get(k).map(|s| s.trim().to_string());
    Ok(WhatIfRequest {
        point: parse_point(params)?,
        user: parse_user(params)?,
        collateral: text("collateral").filter(|s| !s.is_empty()),
        debt: text("debt").filter(|s| !s.is_empty()),
        amount: Amount::parse(&text("amount").unwrap_or_default()),
        funding: WhatIfFunding::parse(&text("funding").unwrap_or_default())?,
        tip_gwei: text("tip_gwei")
            .filter(|s| !s.is_empty())
            .unwrap_or_else(|| "2".into()),
    })
}

async fn whatif(State(app): State<Shared>, Query(params): Query<Params>) -> Response {
    blocking(app, move |app| {
        let request = parse_what_if(&params)?;
        let view = what_if(&app.explorer, app.run.as_ref(), &request)?;
        if view.success {
            Ok(Json(view).into_response())
        } else {
            let message = format!(
                "the protocol refused the liquidation: {}",
                view.refusal.as_deref().unwrap_or("reverted")
            );
            Ok((
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(json!({ "error": message, "what_if": view })),
            )
                .into_response())
        }
    })
    .await
}
