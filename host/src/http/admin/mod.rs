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
use serde_json::{Value, json};
use tower_http::timeout::TimeoutLayer;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::AppState;

/// A bundle upload holds a component and a config (each up to a few MB, base64).
const MAX_BODY: usize = 32 << 20;
/// Activation waits for the hosts (up to `wait_seconds`).
const TIME_LIMIT: Duration = Duration::from_secs(300);

pub type Reply = (StatusCode, Json<Value>);
/// What a handler answers: a success, or a refusal with its reason.
pub type Answer = Result<Reply, Reply>;

/// The refusals any admin route can give, whatever it does.
pub struct Denied;

impl utoipa::IntoResponses for Denied {
    fn responses() -> super::docs::Responses {
        super::docs::refusals(&[
            ("400", "The body or a parameter is malformed (the reason)"),
            ("401", "No bearer token, or one that is invalid or expired"),
            ("403", "The token's role may not do this"),
            (
                "503",
                "The admin API is off (no JWT_SECRET_KEY / JWT_PUBLIC_KEY), or the store failed",
            ),
        ])
    }
}

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

/// The admin API's routes and `/metrics`, each registered with its description.
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(policies::status))
        .routes(routes!(policies::history))
        .routes(routes!(policies::decisions))
        .routes(routes!(policies::activate))
        .routes(routes!(policies::rollback))
        .routes(routes!(shadow::set))
        .routes(routes!(shadow::report))
        .routes(routes!(shadow::promote))
        .routes(routes!(policies::push))
        .routes(routes!(crisis::list))
        .routes(routes!(crisis::show))
        .routes(routes!(crisis::close))
        // Beside the admin API: on ADMIN_ADDR when set, never facing carriers then.
        .routes(routes!(crate::telemetry::scrape))
}

pub fn router(state: AppState) -> Router {
    let (routes, _) = routes().split_for_parts();
    routes
        .route_layer(axum::middleware::from_fn(crate::telemetry::http))
        .with_state(state)
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            TIME_LIMIT,
        ))
}
