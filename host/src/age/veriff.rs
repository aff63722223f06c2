//! Veriff's API as WIRE.md gives it: sessions are created with `X-AUTH-CLIENT`, and
//! decisions arrive signed with `X-HMAC-SIGNATURE` (lowercase hex HMAC-SHA256 of the raw
//! body under the shared secret).

use std::time::Duration;

use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::json;
use sha2::Sha256;
use uuid::Uuid;

/// The settings `VERIFF_API_KEY`, `VERIFF_SHARED_SECRET`, `VERIFF_BASE_URL`.
#[derive(Debug, Clone)]
pub struct VeriffSettings {
    pub base_url: String,
    pub api_key: String,
    pub shared_secret: String,
    /// Where the person's browser goes when they finish (`PUBLIC_URL`), if set.
    pub callback: Option<String>,
}

/// A verification session: its id and the link the person opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    pub id: String,
    pub url: String,
}

#[derive(Debug, thiserror::Error)]
pub enum VeriffError {
    #[error("Veriff could not be reached: {0}")]
    Unreachable(String),
    #[error("Veriff answered {status}: {reason}")]
    Refused { status: u16, reason: String },
    #[error("Veriff's answer had no session: {0}")]
    Unreadable(String),
}

#[derive(Clone)]
pub struct Veriff {
    pub settings: VeriffSettings,
    http: reqwest::Client,
}

impl std::fmt::Debug for Veriff {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Veriff")
            .field("base_url", &self.settings.base_url)
            .finish_non_exhaustive()
    }
}

#[derive(Deserialize)]
struct Created {
    verification: Option<CreatedSession>,
}

#[derive(Deserialize)]
struct CreatedSession {
    id: String,
    url: String,
}

impl Veriff {
    pub fn new(settings: VeriffSettings) -> Veriff {
        Veriff {
            settings,
            http: crate::net::client(Duration::from_secs(10)),
        }
    }

    /// Open a session for the check `vendor_data` (an id of ours that names nobody).
    pub async fn create_session(&self, vendor_data: Uuid) -> Result<Session, VeriffError> {
        let mut verification = json!({
            "vendorData": vendor_data.to_string(),
            "timestamp": chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        });
        if let Some(callback) = &self.settings.callback {
            verification["callback"] = json!(callback);
        }
        let response = self
            .http
            .post(format!("{}/v1/sessions", self.settings.base_url))
            .header("X-AUTH-CLIENT", &self.settings.api_key)
            .json(&json!({ "verification": verification }))
            .send()
            .await
            .map_err(|e| VeriffError::Unreachable(crate::net::describe(&e)))?;
        let status = response.status();
        let body = response
            .bytes()
            .await
            .map_err(|e| VeriffError::Unreachable(crate::net::describe(&e)))?;
        if !status.is_success() {
            // Veriff's errors are `{"status":"fail","code":…,"message":…}`; nothing personal.
            let reason = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v["message"].as_str().map(str::to_string))
                .unwrap_or_else(|| "no reason given".into());
            return Err(VeriffError::Refused {
                status: status.as_u16(),
                reason,
            });
        }
        let created: Created =
            serde_json::from_slice(&body).map_err(|e| VeriffError::Unreadable(e.to_string()))?;
        let session = created
            .verification
            .ok_or_else(|| VeriffError::Unreadable("no `verification`".into()))?;
        if !session.url.starts_with("https://") && !session.url.starts_with("http://") {
            return Err(VeriffError::Unreadable(
                "the session's url is not a link".into(),
            ));
        }
        Ok(Session {
            id: session.id,
            url: session.url,
        })
    }
}

/// `X-HMAC-SIGNATURE` for `body`.
pub fn signature(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("any key length");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Whether `given` is the signature of `body`, compared in constant time.
pub fn signed(secret: &str, body: &[u8], given: &str) -> bool {
    let expected = signature(secret, body);
    crate::http::webhooks::same(
        given.trim().to_ascii_lowercase().as_bytes(),
        expected.as_bytes(),
    )
}

/// A decision webhook (`{"status":"success","verification":{…}}`). Veriff's event
/// webhooks (started, submitted) have no `verification` and decide nothing.
#[derive(Debug, Deserialize)]
pub struct Notice {
    pub verification: Option<Decided>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Decided {
    pub id: String,
    pub status: String,
    #[serde(default)]
    pub code: Option<i64>,
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub vendor_data: Option<String>,
    #[serde(default)]
    pub decision_time: Option<String>,
    #[serde(default)]
    pub person: Option<Person>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Person {
    #[serde(default)]
    pub date_of_birth: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_are_lowercase_hex_hmac_of_the_raw_body() {
        // HMAC-SHA256("key", "The quick brown fox jumps over the lazy dog").
        let s = signature("key", b"The quick brown fox jumps over the lazy dog");
        assert_eq!(
            s,
            "f7bc83f430538424b13298e6aa6fb143ef4d59a14946175997479dbc2d1a3cd8"
        );
        assert!(signed(
            "key",
            b"The quick brown fox jumps over the lazy dog",
            &s.to_uppercase()
        ));
        assert!(!signed(
            "key",
            b"The quick brown fox jumps over the lazy cat",
            &s
        ));
        assert!(!signed(
            "other",
            b"The quick brown fox jumps over the lazy dog",
            &s
        ));
    }
}
