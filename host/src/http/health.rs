//! `/health` (the shape operators of the previous service know, plus policy checks)
//! and `/ready`.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use jules_policy_model::World;
use serde_json::{Value, json};

use super::AppState;

fn policy_checks(state: &AppState) -> (Value, bool) {
    let mut checks = serde_json::Map::new();
    let mut all_components = true;
    for world in World::ALL {
        let stats = state.policies.stats(world);
        let load = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
        let entry = match state.policies.active(world) {
            Some(b) => json!({
                "mode": "component",
                "bundle": b.manifest.name,
                "version": b.manifest.version.to_string(),
                "digest": b.digest.to_string(),
                "calls": load(&stats.calls),
                "fallbacks": load(&stats.fallbacks),
            }),
            None => {
                all_components = false;
                json!({ "mode": "native-baseline", "calls": load(&stats.calls) })
            }
        };
        checks.insert(world.to_string(), entry);
    }
    (Value::Object(checks), all_components)
}

pub async fn health(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let (policies, all_components) = policy_checks(&state);
    // The baseline keeps every decision safe, so a missing component degrades the
    // service rather than failing it.
    let status = if all_components {
        "healthy"
    } else {
        "degraded"
    };
    (
        StatusCode::OK,
        Json(json!({
            "status": status,
            "service": "jules",
            "version": env!("CARGO_PKG_VERSION"),
            "checks": { "policies": policies },
        })),
    )
}

pub async fn ready() -> (StatusCode, Json<Value>) {
    (StatusCode::OK, Json(json!({ "ready": true })))
}
