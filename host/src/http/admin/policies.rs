//! `/admin/v1/policies/...` and `/admin/v1/bundles`: what the CLI does against the
//! store, for callers holding a token; every change carries the token's subject.

use std::time::{Duration, SystemTime};

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use jules_policy_model::World;
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::{Permission, authorize};
use super::{Reply, refused};
use crate::http::AppState;
use crate::rollout::Source;
use crate::rollout::control::{self, Applied, ControlError, HostState};
use crate::store::{BundleRef, DesiredRow, HostRow};

fn time(t: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339()
}

fn bundle(b: &Option<BundleRef>) -> Value {
    b.as_ref().map_or(
        Value::Null,
        |b| json!({ "source": b.source, "digest": b.digest }),
    )
}

fn desired(d: &DesiredRow) -> Value {
    json!({
        "world": d.world,
        "active": bundle(&d.active),
        "previous": bundle(&d.previous),
        "candidate": bundle(&d.candidate),
        "revision": d.revision,
        "set_by": d.set_by,
        "set_at": time(d.set_at),
        "reason": d.reason,
    })
}

fn host(h: &HostRow) -> Value {
    json!({
        "host": h.host_id,
        "serving": h.report.serving,
        "prepared": h.report.prepared,
        "error": h.report.error,
        "error_digest": h.report.error_digest,
        "seen_at": time(h.seen_at),
        "started_at": time(h.started_at),
    })
}

fn world(name: &str) -> Result<World, Reply> {
    name.parse()
        .map_err(|_| refused(StatusCode::NOT_FOUND, format!("no world {name:?}")))
}

pub async fn status(State(state): State<AppState>, headers: HeaderMap) -> Reply {
    if let Err((code, e)) = authorize(state.admin.as_deref(), &headers, Permission::Read) {
        return refused(code, e);
    }
    match control::status(state.pipeline.store.db()).await {
        Ok(worlds) => {
            let agreed = worlds.iter().all(|w| w.agreed());
            let worlds: Vec<Value> = worlds
                .iter()
                .map(|w| {
                    json!({
                        "world": w.world.as_str(),
                        "desired": w.desired.as_ref().map(desired),
                        "hosts": w.hosts.iter().map(host).collect::<Vec<_>>(),
                        "agreed": w.agreed(),
                    })
                })
                .collect();
            (
                StatusCode::OK,
                Json(json!({ "agreed": agreed, "worlds": worlds })),
            )
        }
        Err(e) => refused(StatusCode::SERVICE_UNAVAILABLE, e),
    }
}

#[derive(Deserialize)]
pub struct HistoryQuery {
    world: Option<String>,
    limit: Option<i64>,
}

pub async fn history(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<HistoryQuery>,
) -> Reply {
    if let Err((code, e)) = authorize(state.admin.as_deref(), &headers, Permission::Read) {
        return refused(code, e);
    }
    if let Some(w) = &q.world
        && let Err(r) = world(w)
    {
        return r;
    }
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    match state
        .pipeline
        .store
        .db()
        .policy_history(q.world.as_deref(), limit)
        .await
    {
        Ok(rows) => {
            let rows: Vec<Value> = rows
                .iter()
                .map(|h| {
                    json!({
                        "id": h.id, "world": h.world, "action": h.action, "source": h.source,
                        "digest": h.digest, "previous_digest": h.previous_digest,
                        "subject": h.subject, "reason": h.reason, "at": time(h.at),
                    })
                })
                .collect();
            (StatusCode::OK, Json(json!({ "history": rows })))
        }
        Err(e) => refused(StatusCode::SERVICE_UNAVAILABLE, e),
    }
}

#[derive(Deserialize)]
pub struct DecisionsQuery {
    hours: Option<u64>,
}

/// Decisions per bundle digest per hour (default: the last 24 hours).
pub async fn decisions(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<DecisionsQuery>,
) -> Reply {
    if let Err((code, e)) = authorize(state.admin.as_deref(), &headers, Permission::Read) {
        return refused(code, e);
    }
    let hours = q.hours.unwrap_or(24).clamp(1, 24 * 90);
    let since = SystemTime::now() - Duration::from_secs(hours * 3600);
    match state.pipeline.store.db().decision_counts(since).await {
        Ok(rows) => {
            let rows: Vec<Value> = rows
                .iter()
                .map(|r| {
                    json!({
                        "hour": time(r.hour), "world": r.world, "digest": r.digest,
                        "decisions": r.decisions, "fallbacks": r.fallbacks,
                    })
                })
                .collect();
            (
                StatusCode::OK,
                Json(json!({ "hours": hours, "decisions": rows })),
            )
        }
        Err(e) => refused(StatusCode::SERVICE_UNAVAILABLE, e),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActivateBody {
    source: String,
    reason: String,
    wait_seconds: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RollbackBody {
    reason: String,
    wait_seconds: Option<u64>,
}

fn wait(seconds: Option<u64>) -> Duration {
    Duration::from_secs(seconds.unwrap_or(60).min(240))
}

fn applied(result: Result<Applied, ControlError>) -> Reply {
    match result {
        Ok(a) => {
            let hosts: Vec<Value> = a
                .hosts
                .iter()
                .map(|h| {
                    let (state, error) = match &h.state {
                        HostState::Serving => ("serving", None),
                        HostState::Prepared => ("prepared", None),
                        HostState::Waiting => ("waiting", None),
                        HostState::Failed(e) => ("failed", Some(e)),
                    };
                    json!({ "host": h.host_id, "state": state, "error": error })
                })
                .collect();
            (
                StatusCode::OK,
                Json(json!({
                    "desired": desired(&a.desired),
                    "hosts": hosts,
                    "converged": a.converged(),
                    "converged_after_ms": a.converged_after.map(|d| d.as_millis() as u64),
                })),
            )
        }
        Err(e @ ControlError::Bundle(_)) => refused(StatusCode::UNPROCESSABLE_ENTITY, e),
        Err(e @ (ControlError::NotPrepared { .. } | ControlError::Refused(_))) => {
            refused(StatusCode::CONFLICT, e)
        }
        Err(e @ ControlError::Store(_)) => refused(StatusCode::SERVICE_UNAVAILABLE, e),
    }
}

pub async fn activate(
    State(state): State<AppState>,
    Path(world_name): Path<String>,
    headers: HeaderMap,
    body: Result<Json<ActivateBody>, axum::extract::rejection::JsonRejection>,
) -> Reply {
    let claims = match authorize(state.admin.as_deref(), &headers, Permission::Change) {
        Ok(c) => c,
        Err((code, e)) => return refused(code, e),
    };
    let w = match world(&world_name) {
        Ok(w) => w,
        Err(r) => return r,
    };
    let Json(body) = match body {
        Ok(b) => b,
        Err(e) => return refused(StatusCode::BAD_REQUEST, e.body_text()),
    };
    let source = match Source::parse(&body.source) {
        Ok(s) => s,
        Err(e) => return refused(StatusCode::UNPROCESSABLE_ENTITY, e),
    };
    let agent = state.rollout.clone();
    applied(
        control::activate(
            state.pipeline.store.db(),
            w,
            &source,
            &claims.sub,
            &body.reason,
            wait(body.wait_seconds),
            &move || agent.wake(),
        )
        .await,
    )
}

pub async fn rollback(
    State(state): State<AppState>,
    Path(world_name): Path<String>,
    headers: HeaderMap,
    body: Result<Json<RollbackBody>, axum::extract::rejection::JsonRejection>,
) -> Reply {
    let claims = match authorize(state.admin.as_deref(), &headers, Permission::Change) {
        Ok(c) => c,
        Err((code, e)) => return refused(code, e),
    };
    let w = match world(&world_name) {
        Ok(w) => w,
        Err(r) => return r,
    };
    let Json(body) = match body {
        Ok(b) => b,
        Err(e) => return refused(StatusCode::BAD_REQUEST, e.body_text()),
    };
    let agent = state.rollout.clone();
    applied(
        control::rollback(
            state.pipeline.store.db(),
            w,
            &claims.sub,
            &body.reason,
            wait(body.wait_seconds),
            &move || agent.wake(),
        )
        .await,
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PushBody {
    /// Where: `host[:port]/repository:tag`.
    reference: String,
    /// bundle.toml's text.
    manifest: String,
    /// The component, base64.
    component: String,
    /// config.json's text.
    config: String,
    /// signature.json's text, if signed.
    signature: Option<String>,
}

/// Push a bundle sent in the body to a registry (authors).
pub async fn push(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Result<Json<PushBody>, axum::extract::rejection::JsonRejection>,
) -> Reply {
    use base64::Engine as _;
    let claims = match authorize(state.admin.as_deref(), &headers, Permission::Push) {
        Ok(c) => c,
        Err((code, e)) => return refused(code, e),
    };
    let Json(body) = match body {
        Ok(b) => b,
        Err(e) => return refused(StatusCode::BAD_REQUEST, e.body_text()),
    };
    let Ok(component) = base64::engine::general_purpose::STANDARD.decode(body.component.trim())
    else {
        return refused(StatusCode::BAD_REQUEST, "`component` is not base64");
    };
    let Ok(dir) = tempfile::tempdir() else {
        return refused(StatusCode::SERVICE_UNAVAILABLE, "no room for the upload");
    };
    // The manifest names the component and config files; they are written under the
    // names it gives, which must stay in this folder.
    let manifest: crate::policy::Manifest = match toml::from_str(&body.manifest) {
        Ok(m) => m,
        Err(e) => {
            return refused(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("bad manifest: {e}"),
            );
        }
    };
    for path in [&manifest.component, &manifest.config] {
        if path.components().count() != 1 || path.file_name().is_none() {
            return refused(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("the manifest names {} outside the bundle", path.display()),
            );
        }
    }
    let mut files = vec![
        (
            dir.path().join(crate::policy::MANIFEST_FILE),
            body.manifest.into_bytes(),
        ),
        (dir.path().join(&manifest.component), component),
        (dir.path().join(&manifest.config), body.config.into_bytes()),
    ];
    if let Some(s) = body.signature {
        files.push((
            dir.path().join(crate::policy::SIGNATURE_FILE),
            s.into_bytes(),
        ));
    }
    for (path, bytes) in files {
        if let Err(e) = std::fs::write(&path, bytes) {
            return refused(StatusCode::SERVICE_UNAVAILABLE, e);
        }
    }
    match crate::rollout::registry::push(dir.path(), &body.reference).await {
        Ok(pinned) => {
            tracing::info!(subject = %claims.sub, reference = %pinned, "bundle pushed");
            (StatusCode::CREATED, Json(json!({ "reference": pinned })))
        }
        Err(e) => refused(StatusCode::BAD_GATEWAY, e),
    }
}
