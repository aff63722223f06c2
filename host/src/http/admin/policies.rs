//! `/admin/v1/policies/...` and `/admin/v1/bundles`: what the CLI does against the
//! store, for callers holding a token; every change carries the token's subject.

use std::time::{Duration, SystemTime};

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use jules_policy_model::World;
use serde::Deserialize;
use serde_json::{Value, json};

use super::auth::Permission;
use super::{Answer, Reply, body, caller, refused, unavailable};
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

/// Each world's desired state and what every live host serves (viewer).
#[utoipa::path(get, path = "/admin/v1/policies", operation_id = "policy_status", tag = "policies",
    security(("admin_token" = [])),
    responses((status = 200, description = "`{agreed, worlds: [{world, desired, hosts, agreed}]}`", content_type = "application/json"), super::Denied))]
pub async fn status(State(state): State<AppState>, headers: HeaderMap) -> Answer {
    caller(&state, &headers, Permission::Read)?;
    let worlds = control::status(state.pipeline.store.db())
        .await
        .map_err(unavailable)?;
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
    Ok((
        StatusCode::OK,
        Json(json!({ "agreed": agreed, "worlds": worlds })),
    ))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct HistoryQuery {
    /// Only this world's changes.
    world: Option<String>,
    /// At most this many, newest first (default 100, at most 1000).
    limit: Option<i64>,
}

/// Every change of the desired state, newest first (viewer).
#[utoipa::path(get, path = "/admin/v1/policies/history", operation_id = "policy_history", tag = "policies", params(HistoryQuery),
    security(("admin_token" = [])),
    responses((status = 200, description = "`{history: [{id, world, action, source, digest, previous_digest, subject, reason, at}]}`", content_type = "application/json"), super::Denied))]
pub async fn history(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<HistoryQuery>,
) -> Answer {
    caller(&state, &headers, Permission::Read)?;
    if let Some(w) = &q.world {
        world(w)?;
    }
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let rows = state
        .pipeline
        .store
        .db()
        .policy_history(q.world.as_deref(), limit)
        .await
        .map_err(unavailable)?;
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
    Ok((StatusCode::OK, Json(json!({ "history": rows }))))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct DecisionsQuery {
    /// How far back (default 24, at most 2160).
    hours: Option<u64>,
}

/// Decisions per bundle digest per hour (viewer).
#[utoipa::path(get, path = "/admin/v1/policies/decisions", operation_id = "policy_decisions", tag = "policies", params(DecisionsQuery),
    security(("admin_token" = [])),
    responses((status = 200, description = "Counts per world, digest and hour", content_type = "application/json"), super::Denied))]
pub async fn decisions(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<DecisionsQuery>,
) -> Answer {
    caller(&state, &headers, Permission::Read)?;
    let hours = q.hours.unwrap_or(24).clamp(1, 24 * 90);
    let since = SystemTime::now() - Duration::from_secs(hours * 3600);
    let rows = state
        .pipeline
        .store
        .db()
        .decision_counts(since)
        .await
        .map_err(unavailable)?;
    let rows: Vec<Value> = rows
        .iter()
        .map(|r| {
            json!({
                "hour": time(r.hour), "world": r.world, "digest": r.digest,
                "decisions": r.decisions, "fallbacks": r.fallbacks,
            })
        })
        .collect();
    Ok((
        StatusCode::OK,
        Json(json!({ "hours": hours, "decisions": rows })),
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeBody {
    /// Activation only: a registry reference or a folder the hosts can read.
    source: Option<String>,
    /// Recorded in the history.
    reason: String,
    /// Activation only: why a crisis regression is accepted.
    accept_regression: Option<String>,
    /// How long to wait for every live host to serve it (default 60, at most 240).
    wait_seconds: Option<u64>,
}

fn answer(result: Result<Applied, ControlError>) -> Answer {
    let a = result.map_err(|e| {
        let code = match &e {
            ControlError::Bundle(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ControlError::NotPrepared { .. }
            | ControlError::Refused(_)
            | ControlError::Regression(_) => StatusCode::CONFLICT,
            ControlError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
        };
        refused(code, e)
    })?;
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
    Ok((
        StatusCode::OK,
        Json(json!({
            "desired": desired(&a.desired),
            "hosts": hosts,
            "converged": a.converged(),
            "converged_after_ms": a.converged_after.map(|d| d.as_millis() as u64),
        })),
    ))
}

/// `activate` (with a source) or `rollback`: the caller, the world and the body.
fn change(
    state: &AppState,
    headers: &HeaderMap,
    world_name: &str,
    b: Result<Json<ChangeBody>, JsonRejection>,
) -> Result<(String, World, ChangeBody, Duration), Reply> {
    let claims = caller(state, headers, Permission::Change)?;
    let w = world(world_name)?;
    let b = body(b)?;
    let wait = Duration::from_secs(b.wait_seconds.unwrap_or(60).min(240));
    Ok((claims.sub, w, b, wait))
}

/// Make a bundle the world's active one on every host (approver).
///
/// Every live host prepares it first; the desired state changes only when all have,
/// then the call waits for them to serve it. A crisis bundle that would lose an
/// escalation needs `accept_regression`.
#[utoipa::path(post, path = "/admin/v1/policies/{world}/activate", operation_id = "activate", tag = "policies",
    params(("world" = String, Path, description = "`crisis`, `compliance` or `prompt`")), request_body = ChangeBody,
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "Active; `{desired, hosts, converged, converged_after_ms}`", content_type = "application/json"),
        (status = 404, description = "No such world", body = crate::http::docs::Error),
        (status = 409, description = "A host could not prepare it, the guard rail refused it, or a regression was not accepted", body = crate::http::docs::Error),
        (status = 422, description = "The source or bundle is invalid (unsigned in production, untrusted key, wrong contract…)", body = crate::http::docs::Error),
        super::Denied))]
pub async fn activate(
    State(state): State<AppState>,
    Path(world_name): Path<String>,
    headers: HeaderMap,
    b: Result<Json<ChangeBody>, JsonRejection>,
) -> Answer {
    let (sub, w, b, wait) = change(&state, &headers, &world_name, b)?;
    let Some(source) = &b.source else {
        return Err(refused(StatusCode::BAD_REQUEST, "`source` is missing"));
    };
    let source = Source::parse(source).map_err(|e| refused(StatusCode::UNPROCESSABLE_ENTITY, e))?;
    let agent = state.rollout.clone();
    let told = move || agent.wake();
    let db = state.pipeline.store.db();
    let activation = control::Activation {
        world: w,
        source: &source,
        subject: &sub,
        reason: &b.reason,
        accept_regression: b.accept_regression.as_deref(),
        wait,
    };
    answer(control::activate(db, &activation, &told).await)
}

/// Make the world's previous bundle active again (approver).
#[utoipa::path(post, path = "/admin/v1/policies/{world}/rollback", operation_id = "rollback", tag = "policies",
    params(("world" = String, Path, description = "`crisis`, `compliance` or `prompt`")), request_body = ChangeBody,
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "Rolled back; `{desired, hosts, converged, converged_after_ms}`", content_type = "application/json"),
        (status = 404, description = "No such world", body = crate::http::docs::Error),
        (status = 409, description = "Nothing to roll back to, or a host could not prepare it", body = crate::http::docs::Error),
        super::Denied))]
pub async fn rollback(
    State(state): State<AppState>,
    Path(world_name): Path<String>,
    headers: HeaderMap,
    b: Result<Json<ChangeBody>, JsonRejection>,
) -> Answer {
    let (sub, w, b, wait) = change(&state, &headers, &world_name, b)?;
    let agent = state.rollout.clone();
    let told = move || agent.wake();
    let db = state.pipeline.store.db();
    answer(control::rollback(db, w, &sub, &b.reason, wait, &told).await)
}

#[derive(Deserialize, utoipa::ToSchema)]
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

/// Push a bundle sent in the body to an OCI registry (author).
#[utoipa::path(post, path = "/admin/v1/bundles", operation_id = "push_bundle", tag = "policies", request_body = PushBody,
    security(("admin_token" = [])),
    responses(
        (status = 201, description = "Pushed; `{reference}` pinned by digest", content_type = "application/json"),
        (status = 422, description = "Not a valid bundle", body = crate::http::docs::Error),
        (status = 502, description = "The registry refused or did not answer", body = crate::http::docs::Error),
        super::Denied))]
pub async fn push(
    State(state): State<AppState>,
    headers: HeaderMap,
    b: Result<Json<PushBody>, JsonRejection>,
) -> Answer {
    use base64::Engine as _;
    let claims = caller(&state, &headers, Permission::Push)?;
    let b = body(b)?;
    let component = base64::engine::general_purpose::STANDARD
        .decode(b.component.trim())
        .map_err(|_| refused(StatusCode::BAD_REQUEST, "`component` is not base64"))?;
    let dir = tempfile::tempdir().map_err(unavailable)?;
    // The manifest names the component's and config's files; they are written under
    // those names, which must stay in this folder.
    let manifest: crate::policy::Manifest = toml::from_str(&b.manifest).map_err(|e| {
        refused(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!("bad manifest: {e}"),
        )
    })?;
    for path in [&manifest.component, &manifest.config] {
        if path.components().count() != 1 || path.file_name().is_none() {
            return Err(refused(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("the manifest names {} outside the bundle", path.display()),
            ));
        }
    }
    let mut files = vec![
        (
            dir.path().join(crate::policy::MANIFEST_FILE),
            b.manifest.into_bytes(),
        ),
        (dir.path().join(&manifest.component), component),
        (dir.path().join(&manifest.config), b.config.into_bytes()),
    ];
    if let Some(s) = b.signature {
        files.push((
            dir.path().join(crate::policy::SIGNATURE_FILE),
            s.into_bytes(),
        ));
    }
    for (path, bytes) in files {
        std::fs::write(&path, bytes).map_err(unavailable)?;
    }
    let pinned = crate::rollout::registry::push(dir.path(), &b.reference)
        .await
        .map_err(|e| match e {
            crate::rollout::registry::PushError::Bundle(e) => {
                refused(StatusCode::UNPROCESSABLE_ENTITY, e)
            }
            crate::rollout::registry::PushError::Registry(e) => refused(StatusCode::BAD_GATEWAY, e),
        })?;
    tracing::info!(subject = %claims.sub, reference = %pinned, "bundle pushed");
    Ok((StatusCode::CREATED, Json(json!({ "reference": pinned }))))
}
