//! Stripe's API as WIRE.md gives it: form-encoded POSTs with the secret key as a Bearer
//! token and an `Idempotency-Key`, JSON answers, `{"error":{…}}` on failure; webhooks
//! signed `Stripe-Signature: t=…,v1=…` (HMAC-SHA256 of `{t}.{body}` under the endpoint
//! secret).

use std::time::{Duration, SystemTime};

use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;
use uuid::Uuid;

/// `STRIPE_SECRET_KEY`, `STRIPE_PRICE_ID`, `STRIPE_WEBHOOK_SECRET`, `STRIPE_RETURN_URL`,
/// `STRIPE_API_URL`.
#[derive(Debug, Clone)]
pub struct StripeSettings {
    pub api_url: String,
    pub secret_key: String,
    pub price_id: String,
    pub webhook_secret: String,
    /// Where Checkout and the Portal send the person back to.
    pub return_url: String,
}

#[derive(Debug, thiserror::Error)]
pub enum StripeError {
    #[error("Stripe could not be reached: {0}")]
    Unreachable(String),
    #[error("Stripe answered {status}: {reason}")]
    Refused { status: u16, reason: String },
    #[error("Stripe's answer could not be read: {0}")]
    Unreadable(String),
}

/// A subscription as Stripe holds it now.
#[derive(Debug, Clone, Deserialize)]
pub struct Subscription {
    pub id: String,
    pub status: String,
    pub customer: String,
    #[serde(default)]
    pub metadata: std::collections::BTreeMap<String, String>,
}

/// The metadata key carrying the person's billing reference.
pub const REFERENCE_KEY: &str = "jules_ref";

#[derive(Clone)]
pub struct Stripe {
    pub settings: StripeSettings,
    http: reqwest::Client,
}

impl std::fmt::Debug for Stripe {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Stripe")
            .field("api_url", &self.settings.api_url)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct WithUrl {
    url: String,
}

impl Stripe {
    pub fn new(settings: StripeSettings) -> Stripe {
        Stripe {
            settings,
            http: crate::net::client(Duration::from_secs(10)),
        }
    }

    /// A Checkout Session in subscription mode for the person with `reference`; its URL.
    pub async fn checkout(&self, reference: Uuid) -> Result<String, StripeError> {
        let reference = reference.to_string();
        let s = &self.settings;
        let form = [
            ("mode", "subscription"),
            ("line_items[0][price]", s.price_id.as_str()),
            ("line_items[0][quantity]", "1"),
            ("success_url", s.return_url.as_str()),
            ("cancel_url", s.return_url.as_str()),
            ("client_reference_id", reference.as_str()),
            ("subscription_data[metadata][jules_ref]", reference.as_str()),
        ];
        let made: WithUrl = self.post("/v1/checkout/sessions", &form).await?;
        Ok(made.url)
    }

    /// A Customer Portal session for `customer`; its URL.
    pub async fn portal(&self, customer: &str) -> Result<String, StripeError> {
        let form = [
            ("customer", customer),
            ("return_url", self.settings.return_url.as_str()),
        ];
        let made: WithUrl = self.post("/v1/billing_portal/sessions", &form).await?;
        Ok(made.url)
    }

    /// The subscription as it is now (whatever order its events came in).
    pub async fn subscription(&self, id: &str) -> Result<Subscription, StripeError> {
        let request = self
            .http
            .get(format!("{}/v1/subscriptions/{id}", self.settings.api_url))
            .bearer_auth(&self.settings.secret_key);
        read(request).await
    }

    /// Cancel a subscription at once (`DELETE /v1/subscriptions/{id}`).
    pub async fn cancel(&self, id: &str) -> Result<Subscription, StripeError> {
        let request = self
            .http
            .delete(format!("{}/v1/subscriptions/{id}", self.settings.api_url))
            .bearer_auth(&self.settings.secret_key)
            .header("Idempotency-Key", Uuid::new_v4().to_string());
        read(request).await
    }

    async fn post<T: for<'de> Deserialize<'de>>(
        &self,
        path: &str,
        form: &[(&str, &str)],
    ) -> Result<T, StripeError> {
        let request = self
            .http
            .post(format!("{}{path}", self.settings.api_url))
            .bearer_auth(&self.settings.secret_key)
            .header("Idempotency-Key", Uuid::new_v4().to_string())
            .form(form);
        read(request).await
    }
}

async fn read<T: for<'de> Deserialize<'de>>(
    request: reqwest::RequestBuilder,
) -> Result<T, StripeError> {
    let response = request
        .send()
        .await
        .map_err(|e| StripeError::Unreachable(crate::net::describe(&e)))?;
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|e| StripeError::Unreachable(crate::net::describe(&e)))?;
    if !status.is_success() {
        let reason = serde_json::from_slice::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["error"]["message"].as_str().map(str::to_string))
            .unwrap_or_else(|| "no reason given".into());
        return Err(StripeError::Refused {
            status: status.as_u16(),
            reason,
        });
    }
    serde_json::from_slice(&body).map_err(|e| StripeError::Unreadable(e.to_string()))
}

/// How far a signature's time may be from ours, either way.
pub const TOLERANCE: Duration = Duration::from_secs(300);

/// Why a webhook's signature is refused.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("Stripe-Signature has no t= or no v1=")]
    Malformed,
    #[error("the signature's time is more than 300 s from ours")]
    OutOfTolerance,
    #[error("no v1 signature matches")]
    Mismatch,
}

/// Check `Stripe-Signature` for `body` at `now`: any `v1` may match.
pub fn verify(
    secret: &str,
    header: &str,
    body: &[u8],
    now: SystemTime,
) -> Result<(), SignatureError> {
    let mut t = None;
    let mut signatures = Vec::new();
    for part in header.split(',') {
        match part.trim().split_once('=') {
            Some(("t", v)) => t = v.parse::<u64>().ok(),
            Some(("v1", v)) => signatures.push(v.to_ascii_lowercase()),
            _ => {}
        }
    }
    let (Some(t), false) = (t, signatures.is_empty()) else {
        return Err(SignatureError::Malformed);
    };
    let now = now
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs();
    if now.abs_diff(t) > TOLERANCE.as_secs() {
        return Err(SignatureError::OutOfTolerance);
    }
    let expected = sign(secret, t, body);
    let matches = signatures.iter().fold(false, |any, s| {
        any | crate::http::webhooks::same(s.as_bytes(), expected.as_bytes())
    });
    if matches {
        Ok(())
    } else {
        Err(SignatureError::Mismatch)
    }
}

/// The `v1` signature of `body` at time `t`.
pub fn sign(secret: &str, t: u64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "whsec_test";

    fn at(t: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(t)
    }

    #[test]
    fn any_v1_within_tolerance_verifies() {
        let body = br#"{"id":"evt_1"}"#;
        let good = sign(SECRET, 1_000, body);
        let header = format!("t=1000,v1={},v1={good},v0=abc", "0".repeat(64));
        assert_eq!(verify(SECRET, &header, body, at(1_000)), Ok(()));
        assert_eq!(verify(SECRET, &header, body, at(1_300)), Ok(()));
        assert_eq!(
            verify(SECRET, &header, body, at(1_301)),
            Err(SignatureError::OutOfTolerance)
        );
        assert_eq!(
            verify(SECRET, &header, body, at(699)),
            Err(SignatureError::OutOfTolerance),
            "future t"
        );
        assert_eq!(
            verify(SECRET, &header, b"{}", at(1_000)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify("whsec_other", &header, body, at(1_000)),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(SECRET, "v1=abc", body, at(1_000)),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(SECRET, "t=1000", body, at(1_000)),
            Err(SignatureError::Malformed)
        );
    }
}
