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

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    /// At most this many (default 100, at most 1000).
    limit: Option<i64>,
}

/// Open crisis events, without any text (reviewer).
#[utoipa::path(get, path = "/admin/v1/crisis-events", operation_id = "list_crisis_events", tag = "crisis", params(ListQuery),
    security(("admin_token" = [])),
    responses((status = 200, description = "`{events: [{id, severity, categories, state, bundle_digest, fallback, created_at, …}]}`", content_type = "application/json"), super::Denied))]
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

/// One event with its conversation's recent turns (reviewer; the opening is recorded).
#[utoipa::path(get, path = "/admin/v1/crisis-events/{id}", operation_id = "show_crisis_event", tag = "crisis", params(("id" = String, Path, description = "The crisis event's id (UUID)")),
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "The event and its recent turns", content_type = "application/json"),
        (status = 404, description = "No such event", body = crate::http::docs::Error),
        super::Denied))]
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

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CloseBody {
    /// `reached-out`, `referred`, `no-action-needed` or `false-positive`.
    outcome: String,
    /// Kept sealed.
    #[serde(default)]
    note: String,
}

/// Close an event with its outcome and a note (reviewer).
#[utoipa::path(post, path = "/admin/v1/crisis-events/{id}/close", operation_id = "close_crisis_event", tag = "crisis", params(("id" = String, Path, description = "The crisis event's id (UUID)")),
    request_body = CloseBody,
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "`{id, closed: true, outcome}`", content_type = "application/json"),
        (status = 404, description = "No such event", body = crate::http::docs::Error),
        (status = 409, description = "Already closed", body = crate::http::docs::Error),
        (status = 422, description = "Not an outcome", body = crate::http::docs::Error),
        super::Denied))]
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
