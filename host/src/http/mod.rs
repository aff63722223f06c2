//! HTTP: the routes and the one place that maps results to responses. Handlers hold
//! no state of their own; what they need comes from `AppState`.

mod health;

use std::sync::Arc;

use axum::Router;
use axum::routing::get;

use crate::memory::Memory;
use crate::policy::PolicyRuntime;
use crate::store::Store;

#[derive(Clone)]
pub struct AppState {
    pub policies: Arc<PolicyRuntime>,
    pub store: Store,
    pub memory: Memory,
}

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .with_state(state)
}
