//! Carrier and provider webhooks. Each delivery is authenticated, parsed, stored durably and
//! deduplicated before the 2xx; the pipeline answers asynchronously. Every field is
//! validated before storage; an event that can never be stored is kept aside (sealed,
//! with the reason) and never blocks the events beside it. A 4xx names the problem;
//! 503 only for a store that failed. Nothing from a message (text, number) is logged.

pub mod bandwidth;
pub mod stripe;
pub mod twilio;
pub mod veriff;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::domain::Carrier;

/// Carrier credentials the webhooks check.
#[derive(Debug, Clone, Default)]
pub struct IngressSettings {
    /// Basic credentials Bandwidth must present (its challenge flow).
    pub bandwidth_credentials: Option<(String, String)>,
    /// With no credentials configured, accept Bandwidth callbacks that carry none
    /// (development); otherwise they are refused.
    pub bandwidth_open: bool,
    /// Verifies `X-Twilio-Signature`; None refuses Twilio callbacks.
    pub twilio_auth_token: Option<String>,
    /// The public base URL Twilio calls (signatures cover the full URL).
    pub public_url: Option<String>,
}

/// A 4xx/5xx with a JSON reason.
pub struct Refusal(pub StatusCode, pub String);

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        (self.0, Json(json!({"error": self.1}))).into_response()
    }
}

impl From<crate::store::StoreError> for Refusal {
    fn from(e: crate::store::StoreError) -> Refusal {
        tracing::error!(error = %e, "webhook not stored; the carrier will retry");
        Refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            "the message could not be stored; retry".into(),
        )
    }
}

/// Equal, compared in time independent of where the inputs differ (credentials and
/// signatures).
pub fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What became of one event of a delivery.
pub(super) enum Handled {
    /// A new inbound text, stored.
    Stored,
    /// Nothing to store: a report, a repeat, an echo, an event type we do not act on.
    Ignored,
}

/// Why one event was not handled.
pub(super) enum EventError {
    /// It can never be stored (the reason names the field and rule): kept aside.
    Invalid(String),
    /// The store failed: the carrier should deliver again.
    Store(crate::store::StoreError),
}

impl From<crate::store::StoreError> for EventError {
    fn from(e: crate::store::StoreError) -> EventError {
        EventError::Store(e)
    }
}

/// A delivery's events, tallied: 2xx when every event that could be stored was, 4xx
/// with the reasons when none could.
#[derive(Default)]
pub(super) struct Outcome {
    handled: usize,
    stored: bool,
    rejected: Vec<String>,
}

impl Outcome {
    pub(super) fn handled(&mut self, h: Handled) {
        self.handled += 1;
        self.stored |= matches!(h, Handled::Stored);
    }

    /// Keep an event that can never be stored, sealed, with its reason.
    pub(super) async fn reject(
        &mut self,
        state: &crate::http::AppState,
        carrier: Carrier,
        reason: String,
        raw: &[u8],
    ) -> Result<(), Refusal> {
        let new = state.store.record_rejected(carrier, &reason, raw).await?;
        tracing::warn!(%carrier, reason = %reason, new, "webhook event rejected and kept aside");
        self.rejected.push(reason);
        Ok(())
    }

    pub(super) fn answer(self, state: &crate::http::AppState) -> Result<(), Refusal> {
        if self.stored {
            state.pipeline.inbound_ready.notify_one();
        }
        if self.handled == 0 && !self.rejected.is_empty() {
            return Err(Refusal(StatusCode::BAD_REQUEST, self.rejected.join("; ")));
        }
        Ok(())
    }
}

/// A carrier's report on one of our messages proves it took the message: the outbox
/// row it names (Bandwidth's `tag`, the `outbox` of Twilio's callback URL) is settled
/// as sent, even when the send's own answer never arrived.
async fn settle_sent(
    state: &crate::http::AppState,
    outbox: Option<&str>,
    carrier_message_id: &str,
) -> Result<(), crate::store::StoreError> {
    let Some(id) = outbox.and_then(|o| uuid::Uuid::parse_str(o).ok()) else {
        return Ok(());
    };
    state
        .store
        .db()
        .mark_sent(&[(id, Some(carrier_message_id.to_string()))])
        .await?;
    Ok(())
}
