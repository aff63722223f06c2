//! The admin API, `/admin/v1/...`: policy rollouts (state, history, decisions,
//! push, activate, rollback) and crisis review, behind JWT roles. It can be bound to
//! an address of its own (`ADMIN_ADDR`) so it need not face the internet; `/metrics`
//! is served beside it.

pub mod auth;
mod crisis;
mod policies;
mod shadow;

use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::routing::{get, post};
use serde_json::{Value, json};
use tower_http::timeout::TimeoutLayer;

use super::AppState;

/// A bundle upload holds a component and a config (each up to a few MB, base64).
const MAX_BODY: usize = 32 << 20;
/// Activation waits for the hosts (up to `wait_seconds`).
const TIME_LIMIT: Duration = Duration::from_secs(300);

pub type Reply = (StatusCode, Json<Value>);
/// What a handler answers: a success, or a refusal with its reason.
pub type Answer = Result<Reply, Reply>;

pub fn refused(code: StatusCode, error: impl std::fmt::Display) -> Reply {
    (code, Json(json!({ "error": error.to_string() })))
}

/// The caller's claims when they may do `needs`.
pub fn caller(
    state: &AppState,
    headers: &axum::http::HeaderMap,
    needs: auth::Permission,
) -> Result<auth::Claims, Reply> {
    auth::authorize(state.admin.as_deref(), headers, needs).map_err(|(code, e)| refused(code, e))
}

/// A JSON body, or 400 naming what is wrong with it.
pub fn body<T>(body: Result<Json<T>, axum::extract::rejection::JsonRejection>) -> Result<T, Reply> {
    body.map(|Json(b)| b)
        .map_err(|e| refused(StatusCode::BAD_REQUEST, e.body_text()))
}

/// A store failure: the service cannot answer now.
pub fn unavailable(e: impl std::fmt::Display) -> Reply {
    refused(StatusCode::SERVICE_UNAVAILABLE, e)
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/admin/v1/policies", get(policies::status))
        .route("/admin/v1/policies/history", get(policies::history))
        .route("/admin/v1/policies/decisions", get(policies::decisions))
        .route(
            "/admin/v1/policies/{world}/activate",
            post(policies::activate),
        )
        .route(
            "/admin/v1/policies/{world}/rollback",
            post(policies::rollback),
        )
        .route("/admin/v1/policies/{world}/shadow", post(shadow::set))
        .route(
            "/admin/v1/policies/{world}/shadow-report",
            get(shadow::report),
        )
        .route("/admin/v1/policies/{world}/promote", post(shadow::promote))
        .route("/admin/v1/bundles", post(policies::push))
        .route("/admin/v1/crisis-events", get(crisis::list))
        .route("/admin/v1/crisis-events/{id}", get(crisis::show))
        .route("/admin/v1/crisis-events/{id}/close", post(crisis::close))
        // Beside the admin API: on ADMIN_ADDR when set, never facing carriers then.
        .route("/metrics", get(crate::telemetry::scrape))
        .route_layer(axum::middleware::from_fn(crate::telemetry::http))
        .with_state(state)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            TIME_LIMIT,
        ))
}
