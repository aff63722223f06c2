//! `POST /webhooks/bandwidth` (and `/webhooks/sms`): Bandwidth Messaging v2 callbacks,
//! a JSON array of events. Optional Basic credentials in Bandwidth's challenge flow:
//! no `Authorization` → 401 with `WWW-Authenticate`, then the retry carries them.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::Deserialize;

use super::{Refusal, same, valid_number};
use crate::http::AppState;
use crate::store::{MessageStatus, Recorded};

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Event {
    #[serde(rename = "type")]
    kind: String,
    message: Option<Message>,
    #[serde(default)]
    error_code: Option<i64>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct Message {
    id: String,
    #[serde(default)]
    direction: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    segment_count: Option<i32>,
    /// On our own messages' reports: the outbox id they were sent under.
    #[serde(default)]
    tag: Option<String>,
}

fn check_credentials(state: &AppState, headers: &HeaderMap) -> Result<(), Box<Response>> {
    let Some((user, password)) = &state.ingress.bandwidth_credentials else {
        return Ok(());
    };
    let Some(given) = headers.get(header::AUTHORIZATION) else {
        return Err(Box::new(
            (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Basic realm=\"jules\"")],
                "credentials required",
            )
                .into_response(),
        ));
    };
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
    );
    let ok = same(given.as_bytes(), expected.as_bytes());
    if ok {
        Ok(())
    } else {
        tracing::warn!("bandwidth webhook with wrong credentials");
        Err(Box::new(
            Refusal(StatusCode::FORBIDDEN, "wrong credentials".into()).into_response(),
        ))
    }
}

pub async fn receive(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = check_credentials(&state, &headers) {
        return *r;
    }
    match handle(&state, &body).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(r) => r.into_response(),
    }
}

async fn handle(state: &AppState, body: &[u8]) -> Result<(), Refusal> {
    let events: Vec<Event> = serde_json::from_slice(body).map_err(|e| {
        Refusal(
            StatusCode::BAD_REQUEST,
            format!("expected a JSON array of Bandwidth events: {e}"),
        )
    })?;
    let now = state.pipeline.clock.now();
    let mut stored = false;
    for (i, event) in events.iter().enumerate() {
        let Some(m) = &event.message else {
            return Err(Refusal(
                StatusCode::BAD_REQUEST,
                format!("[{i}].message: missing"),
            ));
        };
        if m.id.trim().is_empty() {
            return Err(Refusal(
                StatusCode::BAD_REQUEST,
                format!("[{i}].message.id: empty"),
            ));
        }
        match event.kind.as_str() {
            "message-received" if m.direction == "out" => {
                tracing::info!("bandwidth: an outbound message echoed back; never answered");
            }
            "message-received" => {
                if !valid_number(&m.from) {
                    return Err(Refusal(
                        StatusCode::BAD_REQUEST,
                        format!("[{i}].message.from: not a phone number"),
                    ));
                }
                let segments = m.segment_count.unwrap_or(1).max(0);
                let (recorded, _) = state
                    .store
                    .record_inbound("bandwidth", &m.id, &m.from, &m.text, segments, now)
                    .await?;
                match recorded {
                    Recorded::Stored { .. } => stored = true,
                    Recorded::Duplicate => {
                        tracing::info!("bandwidth: a repeated delivery; already stored")
                    }
                }
            }
            "message-sending" | "message-sent" => {
                super::settle_sent(state, m.tag.as_deref(), &m.id).await?;
                tracing::info!(kind = %event.kind, "bandwidth progress report");
            }
            "message-delivered" | "message-failed" => {
                super::settle_sent(state, m.tag.as_deref(), &m.id).await?;
                let key = format!("{}:{}", m.id, event.kind);
                if !state.store.db().first_delivery("bandwidth", &key).await? {
                    continue;
                }
                let status = if event.kind == "message-delivered" {
                    MessageStatus::Delivered
                } else {
                    MessageStatus::Failed
                };
                let known = state
                    .store
                    .db()
                    .delivery_update("bandwidth", &m.id, status)
                    .await?;
                tracing::info!(kind = %event.kind, known, error_code = ?event.error_code, "bandwidth delivery report");
            }
            other => tracing::info!(kind = other, "bandwidth event ignored"),
        }
    }
    if stored {
        state.pipeline.inbound_ready.notify_one();
    }
    Ok(())
}
