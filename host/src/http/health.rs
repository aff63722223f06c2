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
                "signature": match &b.provenance {
                    crate::policy::Provenance::Signed { key_id } => json!({ "key_id": key_id }),
                    crate::policy::Provenance::Unsigned => json!("unsigned (development only)"),
                    crate::policy::Provenance::NotChecked => json!("not checked"),
                },
                "calls": load(&stats.calls),
                "fallbacks": load(&stats.fallbacks),
                // Whose config answers when the component fails.
                "fallback_config": if b.fallback_digest == b.digest {
                    json!("bundle")
                } else {
                    json!({ "builtin": b.fallback_digest.to_string() })
                },
            }),
            None => {
                all_components = false;
                json!({ "mode": "native-baseline", "calls": load(&stats.calls) })
            }
        };
        checks.insert(world.to_string(), entry);
    }
    // The desired state this host could not reach: it keeps serving what it has.
    for (world, failure) in state.rollout.failures() {
        all_components = false;
        if let Some(Value::Object(entry)) = checks.get_mut(world.as_str()) {
            entry.insert(
                "rollout_error".into(),
                json!({ "digest": failure.digest, "error": failure.error }),
            );
        }
    }
    for world in World::ALL {
        if let (Some(shadow), Some(Value::Object(entry))) =
            (state.policies.shadow(world), checks.get_mut(world.as_str()))
        {
            let s = state.policies.shadow_stats(world);
            let load =
                |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
            entry.insert(
                "shadow".into(),
                json!({
                    "digest": shadow.bundle.digest.to_string(),
                    "sample": shadow.sample,
                    "sampled": load(&s.sampled),
                    "dropped": load(&s.dropped),
                    "failed": load(&s.failed),
                    "agreed": load(&s.agreed),
                    "disagreed": load(&s.disagreed),
                }),
            );
        }
        if let (Some(desired), Some(Value::Object(entry))) = (
            state.rollout.desired_digest(world),
            checks.get_mut(world.as_str()),
        ) {
            entry.insert("desired".into(), json!(desired));
        }
    }
    (Value::Object(checks), all_components)
}

fn llm_check(state: &AppState) -> Value {
    let responder = &state.pipeline.responder;
    let providers: Vec<Value> = responder
        .stats()
        .into_iter()
        .map(|(name, calls, failures, open)| {
            json!({"provider": name, "calls": calls, "failures": failures, "circuit": if open { "open" } else { "closed" }})
        })
        .collect();
    json!({
        "mode": responder.mode(),
        "providers": providers,
        "canned_replies": responder.canned.load(std::sync::atomic::Ordering::Relaxed),
    })
}

/// Bound a check: a hung dependency makes /health answer "down", not hang.
async fn checked<E: std::fmt::Display>(
    f: impl std::future::Future<Output = Result<(), E>>,
) -> Result<(), String> {
    match tokio::time::timeout(CHECK_TIMEOUT, f).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {CHECK_TIMEOUT:?}")),
    }
}

const CHECK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

/// The host's health and what it is running.
///
/// `status` is `healthy`, `degraded` (Redis down, a world on the native baseline, a
/// rollout this host could not reach) or `unhealthy` (the database is down, 503).
/// `checks` names each dependency and the mode of each provider, so a development
/// stand-in (console carrier, offline responder, age stand-in) is visible.
#[utoipa::path(get, path = "/health", tag = "health",
    responses(
        (status = 200, description = "Healthy or degraded", content_type = "application/json"),
        (status = 503, description = "Unhealthy: the database does not answer", content_type = "application/json"),
    ))]
pub async fn health(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    let (policies, all_components) = policy_checks(&state);
    let db = state.pipeline.store.db();
    let (database, memory, rejected) = tokio::join!(
        checked(db.ping()),
        checked(state.pipeline.memory.ping()),
        tokio::time::timeout(CHECK_TIMEOUT, db.rejected_count()),
    );
    // Events a carrier sent that could never be stored (kept aside, sealed).
    let rejected = match rejected {
        Ok(Ok(n)) => json!(n),
        _ => Value::Null,
    };
    let stats = state.pipeline.memory.stats();
    let load = |c: &std::sync::atomic::AtomicU64| c.load(std::sync::atomic::Ordering::Relaxed);
    let database_check = json!({
        "status": if database.is_ok() { "up" } else { "down" },
        "backend": db.kind(),
        "error": database.as_ref().err(),
    });
    let memory_check = json!({
        "status": if memory.is_ok() { "up" } else { "down" },
        "mode": state.pipeline.memory.mode(),
        "hits": load(&stats.hits),
        "misses": load(&stats.misses),
        "failures": load(&stats.failures),
        "error": memory.as_ref().err(),
    });
    // The database is required: without it nothing can be stored before the 2xx.
    // Memory and components are not: the store answers for Redis, and the native
    // baseline keeps every decision safe, so their loss degrades the service.
    let (code, status) = if database.is_err() {
        (StatusCode::SERVICE_UNAVAILABLE, "unhealthy")
    } else if all_components && memory.is_ok() {
        (StatusCode::OK, "healthy")
    } else {
        (StatusCode::OK, "degraded")
    };
    (
        code,
        Json(json!({
            "status": status,
            "service": "jules",
            "version": env!("CARGO_PKG_VERSION"),
            "host": state.rollout.host_id,
            "checks": {
                "database": database_check,
                "redis": memory_check,
                "policies": policies,
                "llm": llm_check(&state),
                "carrier": { "mode": state.pipeline.carriers.mode() },
                "age_verification": { "mode": state.pipeline.age.describe() },
                "billing": { "mode": if state.pipeline.stripe.is_some() { "stripe" } else { "off" } },
                "webhooks": { "rejected_events": rejected },
            },
        })),
    )
}

/// Whether to route webhooks here.
///
/// 503 from the moment the host is told to stop (SIGTERM), so load balancers move
/// traffic before it exits; webhooks that still arrive are stored and acknowledged.
#[utoipa::path(get, path = "/ready", tag = "health",
    responses(
        (status = 200, description = "`{\"ready\": true}`", content_type = "application/json"),
        (status = 503, description = "`{\"ready\": false, \"reason\": \"shutting down\"}`", content_type = "application/json"),
    ))]
pub async fn ready(State(state): State<AppState>) -> (StatusCode, Json<Value>) {
    if state.stopping.load(std::sync::atomic::Ordering::Relaxed) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            Json(json!({ "ready": false, "reason": "shutting down" })),
        );
    }
    (StatusCode::OK, Json(json!({ "ready": true })))
}
