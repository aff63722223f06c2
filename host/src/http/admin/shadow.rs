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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShadowBody {
    source: Option<String>,
    sample: Option<f64>,
    #[serde(default)]
    stop: bool,
    reason: Option<String>,
}

/// Set or stop a world's shadow (authors).
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

#[derive(Deserialize)]
pub struct ReportQuery {
    since_hours: Option<u64>,
    limit: Option<usize>,
    #[serde(default)]
    show_text: bool,
}

/// What the shadow saw; with `show_text` (approvers) the disagreements' texts, each
/// opening on record.
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PromoteBody {
    reason: String,
    accept_regression: Option<String>,
    wait_seconds: Option<u64>,
}

/// Activate the shadow as it is (approvers).
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
