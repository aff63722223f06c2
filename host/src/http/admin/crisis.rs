//! `/admin/v1/crisis-events`: human review of crisis events. Listing shows no text;
//! opening one unseals its conversation's recent turns for that response only and
//! records who opened it; closing records an outcome and a sealed note.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::auth::{Permission, authorize};
use super::{Reply, refused};
use crate::http::AppState;
use crate::store::{CrisisReviewRow, ReviewOutcome};

/// Turns of the conversation shown with an event.
const TURNS: usize = 12;

fn time(t: std::time::SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339()
}

fn summary(r: &CrisisReviewRow) -> Value {
    let e = &r.event;
    json!({
        "id": e.id,
        "severity": e.severity,
        "categories": e.categories,
        "state": e.review_state.as_str(),
        "bundle_digest": e.bundle_digest,
        "fallback": e.fallback,
        "created_at": time(r.created_at),
        "reviewed_by": r.reviewed_by,
        "reviewed_at": r.reviewed_at.map(time),
        "outcome": r.outcome.map(|o| o.as_str()),
    })
}

#[derive(Deserialize)]
pub struct ListQuery {
    limit: Option<i64>,
}

pub async fn list(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<ListQuery>,
) -> Reply {
    if let Err((code, e)) = authorize(state.admin.as_deref(), &headers, Permission::Review) {
        return refused(code, e);
    }
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    match state.pipeline.store.db().open_crisis_events(limit).await {
        Ok(rows) => (
            StatusCode::OK,
            Json(json!({ "events": rows.iter().map(summary).collect::<Vec<_>>() })),
        ),
        Err(e) => refused(StatusCode::SERVICE_UNAVAILABLE, e),
    }
}

fn event_id(text: &str) -> Result<Uuid, Reply> {
    text.parse().map_err(|_| {
        refused(
            StatusCode::BAD_REQUEST,
            format!("{text:?} is not an event id"),
        )
    })
}

pub async fn show(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Reply {
    let claims = match authorize(state.admin.as_deref(), &headers, Permission::Review) {
        Ok(c) => c,
        Err((code, e)) => return refused(code, e),
    };
    let id = match event_id(&id) {
        Ok(id) => id,
        Err(r) => return r,
    };
    let store = &state.pipeline.store;
    let review = match store.crisis_review(id).await {
        Ok(Some(r)) => r,
        Ok(None) => return refused(StatusCode::NOT_FOUND, format!("no crisis event {id}")),
        Err(e) => return refused(StatusCode::SERVICE_UNAVAILABLE, e),
    };
    // The access is on record before any text leaves.
    if let Err(e) = store
        .db()
        .record_crisis_access(id, &claims.sub, "open")
        .await
    {
        return refused(StatusCode::SERVICE_UNAVAILABLE, e);
    }
    let turns = match store.recent_turns(review.row.event.user_id, TURNS).await {
        Ok(t) => t,
        Err(e) => return refused(StatusCode::SERVICE_UNAVAILABLE, e),
    };
    tracing::info!(event = %id, subject = %claims.sub, "crisis event opened for review");
    let turns: Vec<Value> = turns
        .iter()
        .map(|t| {
            json!({
                "direction": if t.inbound { "in" } else { "out" },
                "text": t.text,
                "flagged": Some(t.message_id) == review.row.event.message_id,
                "at_ms": t.at_ms,
            })
        })
        .collect();
    let mut body = summary(&review.row);
    body["turns"] = json!(turns);
    body["note"] = json!(review.note);
    (StatusCode::OK, Json(body))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CloseBody {
    outcome: String,
    #[serde(default)]
    note: String,
}

pub async fn close(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Result<Json<CloseBody>, axum::extract::rejection::JsonRejection>,
) -> Reply {
    let claims = match authorize(state.admin.as_deref(), &headers, Permission::Review) {
        Ok(c) => c,
        Err((code, e)) => return refused(code, e),
    };
    let id = match event_id(&id) {
        Ok(id) => id,
        Err(r) => return r,
    };
    let Json(body) = match body {
        Ok(b) => b,
        Err(e) => return refused(StatusCode::BAD_REQUEST, e.body_text()),
    };
    let Ok(outcome) = ReviewOutcome::parse(&body.outcome) else {
        return refused(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "{:?} is not an outcome (reached-out, referred, no-action-needed, false-positive)",
                body.outcome
            ),
        );
    };
    let store = &state.pipeline.store;
    match store.db().crisis_event(id).await {
        Ok(Some(_)) => {}
        Ok(None) => return refused(StatusCode::NOT_FOUND, format!("no crisis event {id}")),
        Err(e) => return refused(StatusCode::SERVICE_UNAVAILABLE, e),
    }
    match store
        .close_crisis_event(id, &claims.sub, outcome, &body.note)
        .await
    {
        Ok(true) => (
            StatusCode::OK,
            Json(json!({ "id": id, "closed": true, "outcome": outcome.as_str() })),
        ),
        Ok(false) => refused(
            StatusCode::CONFLICT,
            format!("crisis event {id} is already closed"),
        ),
        Err(e) => refused(StatusCode::SERVICE_UNAVAILABLE, e),
    }
}
