//! `/admin/v1/crisis-events`: human review of crisis events. Listing shows no text;
//! opening one unseals its conversation's recent turns for that response only and
//! records who opened it; closing records an outcome and a sealed note.

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::auth::Permission;
use super::{Answer, Reply, body, caller, refused, unavailable};
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
) -> Answer {
    caller(&state, &headers, Permission::Review)?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let rows = state
        .pipeline
        .store
        .db()
        .open_crisis_events(limit)
        .await
        .map_err(unavailable)?;
    let events: Vec<Value> = rows.iter().map(summary).collect();
    Ok((StatusCode::OK, Json(json!({ "events": events }))))
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
) -> Answer {
    let claims = caller(&state, &headers, Permission::Review)?;
    let id = event_id(&id)?;
    let store = &state.pipeline.store;
    let review = store
        .crisis_review(id)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| not_found(id))?;
    // The access is on record before any text leaves.
    store
        .db()
        .record_crisis_access(id, &claims.sub, "open")
        .await
        .map_err(unavailable)?;
    let turns = store
        .recent_turns(review.row.event.user_id, TURNS)
        .await
        .map_err(unavailable)?;
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
    let mut shown = summary(&review.row);
    shown["turns"] = json!(turns);
    shown["note"] = json!(review.note);
    Ok((StatusCode::OK, Json(shown)))
}

fn not_found(id: Uuid) -> Reply {
    refused(StatusCode::NOT_FOUND, format!("no crisis event {id}"))
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
    b: Result<Json<CloseBody>, axum::extract::rejection::JsonRejection>,
) -> Answer {
    let claims = caller(&state, &headers, Permission::Review)?;
    let id = event_id(&id)?;
    let b = body(b)?;
    let outcome = ReviewOutcome::parse(&b.outcome).map_err(|_| {
        refused(
            StatusCode::UNPROCESSABLE_ENTITY,
            format!(
                "{:?} is not an outcome (reached-out, referred, no-action-needed, false-positive)",
                b.outcome
            ),
        )
    })?;
    let store = &state.pipeline.store;
    store
        .db()
        .crisis_event(id)
        .await
        .map_err(unavailable)?
        .ok_or_else(|| not_found(id))?;
    let closed = store
        .close_crisis_event(id, &claims.sub, outcome, &b.note)
        .await
        .map_err(unavailable)?;
    if !closed {
        return Err(refused(
            StatusCode::CONFLICT,
            format!("crisis event {id} is already closed"),
        ));
    }
    Ok((
        StatusCode::OK,
        Json(json!({ "id": id, "closed": true, "outcome": outcome.as_str() })),
    ))
}
