//! `POST /webhooks/bandwidth` (and `/webhooks/sms`): Bandwidth Messaging v2 callbacks,
//! a JSON array of events, each handled on its own: one that can never be stored is
//! kept aside and does not hold up the others. Optional Basic credentials in
//! Bandwidth's challenge flow: no `Authorization` → 401 with `WWW-Authenticate`, then
//! the retry carries them.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::Deserialize;

use super::{EventError, Handled, Outcome, Refusal, same};
use crate::domain::{self, Carrier, CarrierMessageId, PhoneNumber};
use crate::http::AppState;
use crate::store::{MessageStatus, Recorded};

/// One Bandwidth Messaging v2 callback event.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = BandwidthEvent)]
struct Event {
    #[serde(rename = "type")]
    /// `message-received`, `message-delivered`, `message-failed`, `message-sending`.
    kind: String,
    message: Option<Message>,
    #[serde(default)]
    error_code: Option<i64>,
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(as = BandwidthMessage)]
struct Message {
    id: String,
    #[serde(default)]
    direction: String,
    #[serde(default)]
    from: String,
    #[serde(default)]
    text: String,
    /// Read leniently: a count that is not a number is not worth a person's text.
    #[serde(default)]
    #[schema(value_type = Option<u32>)]
    segment_count: Option<serde_json::Value>,
    /// On our own messages' reports: the outbox id they were sent under.
    #[serde(default)]
    tag: Option<String>,
}

/// What a delivery of callbacks is answered.
struct Answers;

impl utoipa::IntoResponses for Answers {
    fn responses() -> crate::http::docs::Responses {
        let mut answers = crate::http::docs::refusals(&[
            (
                "400",
                "Not a JSON array, or no event could be stored (the reasons)",
            ),
            (
                "403",
                "Wrong credentials, or none configured outside development",
            ),
            ("503", "The store failed; Bandwidth retries"),
        ]);
        for (code, what) in [
            ("204", "Every event that could be stored was stored"),
            (
                "401",
                "No credentials: the challenge (`WWW-Authenticate: Basic`)",
            ),
        ] {
            let response = utoipa::openapi::ResponseBuilder::new()
                .description(what)
                .build();
            answers.insert(code.to_string(), response.into());
        }
        answers
    }
}

fn check_credentials(state: &AppState, headers: &HeaderMap) -> Result<(), Box<Response>> {
    let Some((user, password)) = &state.ingress.bandwidth_credentials else {
        if state.ingress.bandwidth_open {
            return Ok(());
        }
        return Err(Box::new(
            Refusal(
                StatusCode::FORBIDDEN,
                "Bandwidth callbacks are refused: BANDWIDTH_WEBHOOK_USERNAME and BANDWIDTH_WEBHOOK_PASSWORD are not set".into(),
            )
            .into_response(),
        ));
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

/// Bandwidth Messaging v2 callbacks.
///
/// A JSON array of events: received texts are stored and answered by text later;
/// delivery reports settle Jules's own messages. Each event is handled on its own: one
/// that can never be stored is kept aside with its reason and does not hold up the
/// others. Set as the application's inbound and status callback URL, with Basic
/// credentials (Bandwidth's challenge flow: no `Authorization` → 401, then the retry
/// carries them).
#[utoipa::path(post, path = "/webhooks/bandwidth", operation_id = "bandwidth", tag = "webhooks",
    request_body(content = Vec<Event>, content_type = "application/json"),
    security(("bandwidth_basic" = [])), responses(Answers))]
pub async fn receive(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    if let Err(r) = check_credentials(&state, &headers) {
        return *r;
    }
    match handle(&state, &body).await {
        Ok(()) => StatusCode::NO_CONTENT.into_response(),
        Err(r) => r.into_response(),
    }
}

/// Bandwidth callbacks at the path the previous service used.
///
/// The same as `/webhooks/bandwidth`, for numbers still configured with this URL.
#[utoipa::path(post, path = "/webhooks/sms", operation_id = "bandwidth_sms", tag = "webhooks",
    request_body(content = Vec<Event>, content_type = "application/json"),
    security(("bandwidth_basic" = [])), responses(Answers))]
pub async fn receive_sms(state: State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    receive(state, headers, body).await
}

async fn handle(state: &AppState, body: &[u8]) -> Result<(), Refusal> {
    let events: Vec<serde_json::Value> = serde_json::from_slice(body).map_err(|e| {
        Refusal(
            StatusCode::BAD_REQUEST,
            format!("expected a JSON array of Bandwidth events: {e}"),
        )
    })?;
    let mut outcome = Outcome::default();
    for (i, raw) in events.iter().enumerate() {
        match event(state, i, raw).await {
            Ok(handled) => outcome.handled(handled),
            Err(EventError::Invalid(reason)) => {
                let raw = raw.to_string();
                outcome
                    .reject(state, Carrier::Bandwidth, reason, raw.as_bytes())
                    .await?
            }
            Err(EventError::Store(e)) => return Err(e.into()),
        }
    }
    outcome.answer(state)
}

/// One event: stored, settled or ignored; or why it can never be stored.
async fn event(state: &AppState, i: usize, raw: &serde_json::Value) -> Result<Handled, EventError> {
    let invalid = |what: &str, why: &dyn std::fmt::Display| {
        EventError::Invalid(format!("[{i}]{what}: {why}"))
    };
    // Field errors are named, never quoted: a value may be someone's number.
    let event: Event = serde_json::from_value(raw.clone()).map_err(|_| {
        invalid(
            "",
            &"not a Bandwidth event (a field is missing or of the wrong type)",
        )
    })?;
    let Some(m) = &event.message else {
        return Err(invalid(".message", &"missing"));
    };
    let id = CarrierMessageId::parse(&m.id).map_err(|e| invalid(".message.id", &e))?;
    match event.kind.as_str() {
        "message-received" if m.direction == "out" => {
            tracing::info!("bandwidth: an outbound message echoed back; never answered");
            Ok(Handled::Ignored)
        }
        "message-received" => {
            let from = PhoneNumber::parse(&m.from).map_err(|e| invalid(".message.from", &e))?;
            let segments = domain::segments(m.segment_count.as_ref().and_then(|n| n.as_i64()));
            let now = state.pipeline.clock.now();
            let (recorded, _) = state
                .store
                .record_inbound(Carrier::Bandwidth, &id, &from, &m.text, segments, now)
                .await?;
            Ok(match recorded {
                Recorded::Stored { .. } => Handled::Stored,
                Recorded::Duplicate => {
                    tracing::info!("bandwidth: a repeated delivery; already stored");
                    Handled::Ignored
                }
            })
        }
        "message-sending" | "message-sent" => {
            super::settle_sent(state, m.tag.as_deref(), id.as_str()).await?;
            tracing::info!(kind = %event.kind, "bandwidth progress report");
            Ok(Handled::Ignored)
        }
        "message-delivered" | "message-failed" => {
            super::settle_sent(state, m.tag.as_deref(), id.as_str()).await?;
            let key = format!("{id}:{}", event.kind);
            if !state.store.db().first_delivery("bandwidth", &key).await? {
                return Ok(Handled::Ignored);
            }
            let status = if event.kind == "message-delivered" {
                MessageStatus::Delivered
            } else {
                MessageStatus::Failed
            };
            let known = state
                .store
                .db()
                .delivery_update("bandwidth", id.as_str(), status)
                .await?;
            tracing::info!(kind = %event.kind, known, error_code = ?event.error_code, "bandwidth delivery report");
            Ok(Handled::Ignored)
        }
        other => {
            tracing::info!(kind = other, "bandwidth event ignored");
            Ok(Handled::Ignored)
        }
    }
}
