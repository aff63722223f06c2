//! HTTP: the routes and the one place that maps results to responses. Handlers hold
//! no state of their own; what they need comes from `AppState`. Every request gets an
//! id (`x-request-id`, kept if the caller sent one), a time limit and a body limit.

pub mod admin;
pub mod docs;
mod health;
pub mod webhooks;

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request, StatusCode};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::pipeline::Pipeline;
use crate::policy::PolicyRuntime;
pub use webhooks::IngressSettings;

#[derive(Clone)]
pub struct AppState {
    pub policies: Arc<PolicyRuntime>,
    /// Ingress's own connections: a busy pipeline never delays an acknowledgement.
    pub store: crate::store::Store,
    pub pipeline: Pipeline,
    pub ingress: Arc<IngressSettings>,
    /// This host's side of policy rollouts (for /health and the admin API).
    pub rollout: Arc<crate::rollout::Agent>,
    /// How admin API tokens are checked; `None`: the admin API is off.
    pub admin: Option<Arc<admin::auth::TokenKey>>,
    /// Set once the host is shutting down: `/ready` answers 503 so load balancers stop
    /// routing here. Webhooks that still arrive are stored and acknowledged (a carrier
    /// that does not retry would lose them otherwise); the next host answers them.
    pub stopping: Arc<std::sync::atomic::AtomicBool>,
}

#[derive(Debug, Clone)]
pub struct HttpSettings {
    pub max_body_bytes: usize,
    pub timeout: Duration,
}

impl Default for HttpSettings {
    fn default() -> Self {
        HttpSettings {
            max_body_bytes: 256 * 1024,
            timeout: Duration::from_secs(10),
        }
    }
}

/// The main address's routes, each registered with its description (`docs`).
pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(health::health))
        .routes(routes!(health::ready))
        .routes(routes!(webhooks::bandwidth::receive))
        .routes(routes!(webhooks::bandwidth::receive_sms))
        .routes(routes!(webhooks::twilio::receive))
        .routes(routes!(webhooks::twilio::receive_status))
        .routes(routes!(webhooks::veriff::receive))
        .routes(routes!(webhooks::stripe::receive))
        .routes(routes!(docs::openapi_json))
        .routes(routes!(docs::docs_page))
}

pub fn router(state: AppState, settings: &HttpSettings) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    let (routes, _) = routes().split_for_parts();
    routes
        .route_layer(axum::middleware::from_fn(crate::telemetry::http))
        .with_state(state)
        .layer(DefaultBodyLimit::max(settings.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            settings.timeout,
        ))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(
            TraceLayer::new_for_http().make_span_with(|req: &Request<_>| {
                let id = req
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                // Method, path and id only: query strings and bodies may hold numbers.
                tracing::info_span!("request", id = %id, method = %req.method(), path = %req.uri().path())
            }),
        )
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}
