//! `/admin/v1/policies/{world}/shadow`, `.../shadow-report` and `.../promote`.

use std::time::Duration;

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
use crate::rollout::control::ControlError;
use crate::rollout::{Source, shadow};

fn world(name: &str) -> Result<World, Reply> {
    name.parse()
        .map_err(|_| refused(StatusCode::NOT_FOUND, format!("no world {name:?}")))
}

fn control_error(e: ControlError) -> Reply {
    let code = match &e {
        ControlError::Bundle(_) => StatusCode::UNPROCESSABLE_ENTITY,
        ControlError::Store(_) => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::CONFLICT,
    };
    refused(code, e)
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShadowBody {
    /// The candidate: a registry reference or a folder the hosts can read.
    source: Option<String>,
    /// The share of messages also given to the candidate, 0 to 1 (default 0.25).
    sample: Option<f64>,
    /// Stop the world's shadow instead.
    #[serde(default)]
    stop: bool,
    /// Recorded in the history.
    reason: Option<String>,
}

/// Set or stop a world's shadow (author).
///
/// The candidate is given sampled messages after the active decision, off the reply
/// path; it never answers anyone.
#[utoipa::path(post, path = "/admin/v1/policies/{world}/shadow", operation_id = "set_shadow", tag = "policies",
    params(("world" = String, Path, description = "`crisis`, `compliance` or `prompt`")), request_body = ShadowBody,
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "`{world, shadow: {source, digest, sample} | null}`", content_type = "application/json"),
        (status = 404, description = "No such world", body = crate::http::docs::Error),
        (status = 409, description = "A host could not prepare the candidate", body = crate::http::docs::Error),
        (status = 422, description = "The source or bundle is invalid", body = crate::http::docs::Error),
        super::Denied))]
pub async fn set(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    b: Result<Json<ShadowBody>, JsonRejection>,
) -> Answer {
    let claims = caller(&state, &headers, Permission::Push)?;
    let w = world(&name)?;
    let b = body(b)?;
    let reason = b.reason.as_deref().unwrap_or("shadow");
    let agent = state.rollout.clone();
    let told = move || agent.wake();
    let db = state.pipeline.store.db();
    match (&b.source, b.stop) {
        (None, true) => {
            shadow::stop(db, w, &claims.sub, reason, &told)
                .await
                .map_err(unavailable)?;
            Ok((
                StatusCode::OK,
                Json(json!({ "world": w.as_str(), "shadow": null })),
            ))
        }
        (Some(source), false) => {
            let source =
                Source::parse(source).map_err(|e| refused(StatusCode::UNPROCESSABLE_ENTITY, e))?;
            let sample = b.sample.unwrap_or(0.25);
            let bundle = shadow::start(db, w, &source, sample, &claims.sub, reason, &told)
                .await
                .map_err(control_error)?;
            Ok((
                StatusCode::OK,
                Json(json!({
                    "world": w.as_str(),
                    "shadow": { "source": bundle.source, "digest": bundle.digest, "sample": sample },
                })),
            ))
        }
        _ => Err(refused(
            StatusCode::BAD_REQUEST,
            "give `source` (and `sample`) or `stop: true`",
        )),
    }
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// How far back, in hours (default 24, at most 2160).
    since_hours: Option<u64>,
    /// At most this many disagreements, newest first (default 20, at most 500).
    limit: Option<usize>,
    /// The disagreements' texts (approver; each opening is recorded).
    #[serde(default)]
    show_text: bool,
}

/// What the shadow saw (viewer; approver with `show_text`).
///
/// A confusion table of active against candidate per label, the agreement rate and
/// the disagreements by message id, newest first.
#[utoipa::path(get, path = "/admin/v1/policies/{world}/shadow-report", operation_id = "shadow_report", tag = "policies",
    params(("world" = String, Path, description = "`crisis`, `compliance` or `prompt`"), ReportQuery),
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "The report", content_type = "application/json"),
        (status = 404, description = "No such world", body = crate::http::docs::Error),
        super::Denied))]
pub async fn report(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    Query(q): Query<ReportQuery>,
) -> Answer {
    let needs = if q.show_text {
        Permission::Change
    } else {
        Permission::Read
    };
    let claims = caller(&state, &headers, needs)?;
    let w = world(&name)?;
    let since = Duration::from_secs(q.since_hours.unwrap_or(24).clamp(1, 24 * 90) * 3600);
    let store = &state.pipeline.store;
    let seen = shadow::report(store.db(), w, since)
        .await
        .map_err(unavailable)?;
    let limit = q.limit.unwrap_or(20).min(500);
    let disagreeing: Vec<_> = seen
        .decisions
        .iter()
        .filter(|d| !d.agreed)
        .take(limit)
        .collect();
    let texts = if q.show_text {
        let ids: Vec<uuid::Uuid> = disagreeing.iter().map(|d| d.message_id).collect();
        store
            .open_messages(&ids, &claims.sub, "shadow-report")
            .await
            .map_err(unavailable)?
            .into_iter()
            .collect::<std::collections::HashMap<_, _>>()
    } else {
        Default::default()
    };
    let rows: Vec<Value> = disagreeing
        .iter()
        .map(|d| {
            json!({
                "message_id": d.message_id,
                "active": d.active,
                "candidate": d.candidate,
                "candidate_error": d.candidate_error,
                "text": texts.get(&d.message_id),
            })
        })
        .collect();
    Ok((
        StatusCode::OK,
        Json(json!({
            "world": w.as_str(),
            "candidate": seen.candidate.as_ref().map(|c| json!({"source": c.source, "digest": c.digest})),
            "messages": seen.decisions.len(),
            "agreed": seen.agreed(),
            "failed": seen.failed,
            "extra_escalations": seen.extra_escalations().len(),
            "missed_escalations": seen.missed_escalations().len(),
            "figures": seen.figures(),
            "confusion": seen.labels.iter().map(|((a, c), n)| json!({"active": a, "candidate": c, "count": n})).collect::<Vec<_>>(),
            "parts": seen.parts.iter().map(|(name, (both, a, c))| json!({"name": name, "both": both, "active_only": a, "candidate_only": c})).collect::<Vec<_>>(),
            "disagreements": rows,
        })),
    ))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PromoteBody {
    /// Recorded in the history with the report's figures.
    reason: String,
    /// Why a crisis regression the shadow saw is accepted.
    accept_regression: Option<String>,
    /// How long to wait for every live host (default 60, at most 240).
    wait_seconds: Option<u64>,
}

/// Activate the shadow as it is, same digest (approver).
#[utoipa::path(post, path = "/admin/v1/policies/{world}/promote", operation_id = "promote", tag = "policies",
    params(("world" = String, Path, description = "`crisis`, `compliance` or `prompt`")), request_body = PromoteBody,
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "Active; `{desired, hosts, converged, converged_after_ms}`", content_type = "application/json"),
        (status = 404, description = "No such world", body = crate::http::docs::Error),
        (status = 409, description = "No shadow, a host could not prepare it, or a regression was not accepted", body = crate::http::docs::Error),
        super::Denied))]
pub async fn promote(
    State(state): State<AppState>,
    Path(name): Path<String>,
    headers: HeaderMap,
    b: Result<Json<PromoteBody>, JsonRejection>,
) -> Answer {
    let claims = caller(&state, &headers, Permission::Change)?;
    let w = world(&name)?;
    let b = body(b)?;
    let agent = state.rollout.clone();
    let told = move || agent.wake();
    let wait = Duration::from_secs(b.wait_seconds.unwrap_or(60).min(240));
    let (applied, seen) = shadow::promote(
        state.pipeline.store.db(),
        w,
        &claims.sub,
        &b.reason,
        b.accept_regression.as_deref(),
        wait,
        &told,
    )
    .await
    .map_err(control_error)?;
    Ok((
        StatusCode::OK,
        Json(json!({
            "active": applied.desired.active.as_ref().map(|a| &a.digest),
            "converged": applied.converged(),
            "figures": seen.figures(),
        })),
    ))
}
