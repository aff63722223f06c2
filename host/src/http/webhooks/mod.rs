//! Carrier webhooks. Each delivery is authenticated, parsed, stored durably and
//! deduplicated before the 2xx; the pipeline answers asynchronously. Bad input is a
//! 4xx naming the problem, and nothing from a message (text, number) is logged.

pub mod bandwidth;
pub mod twilio;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

/// Carrier credentials the webhooks check.
#[derive(Debug, Clone, Default)]
pub struct IngressSettings {
    /// Basic credentials Bandwidth must present (its challenge flow); None accepts
    /// unauthenticated callbacks.
    pub bandwidth_credentials: Option<(String, String)>,
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

/// A plausible phone number or short code: `+` and digits, or digits only.
pub fn valid_number(n: &str) -> bool {
    let digits = n.strip_prefix('+').unwrap_or(n);
    (3..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
}

/// A carrier's report on one of our messages proves it took the message: the outbox
/// row it names (Bandwidth's `tag`, the `outbox` of Twilio's callback URL) is settled
/// as sent, even when the send's own answer never arrived.
async fn settle_sent(
    state: &crate::http::AppState,
    outbox: Option<&str>,
    carrier_message_id: &str,
) -> Result<(), Refusal> {
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
