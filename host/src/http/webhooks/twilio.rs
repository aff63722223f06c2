//! `POST /webhooks/twilio`: form-encoded messages and status callbacks, each signed
//! with `X-Twilio-Signature` = base64(HMAC-SHA1(auth token, URL + every parameter
//! sorted by name, name then value)). The URL is the configured public URL plus the
//! path and query Twilio called; it is checked with and without an explicit port.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha1::Sha1;

use super::{EventError, Handled, Outcome, Refusal, same};
use crate::domain::{self, Carrier, CarrierMessageId, PhoneNumber};
use crate::http::AppState;
use crate::store::{MessageStatus, Recorded};

const EMPTY_TWIML: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response></Response>";

/// The signature Twilio computes for `url` and `params` (HMAC-SHA1).
pub fn signature(token: &str, url: &str, params: &[(String, String)]) -> String {
    sign::<Hmac<Sha1>>(token, url, params)
}

/// The same with HMAC-SHA256, which accounts on Twilio's newer signing send.
pub fn signature_sha256(token: &str, url: &str, params: &[(String, String)]) -> String {
    sign::<Hmac<sha2::Sha256>>(token, url, params)
}

fn sign<M: Mac + hmac::digest::KeyInit>(
    token: &str,
    url: &str,
    params: &[(String, String)],
) -> String {
    let mut sorted: Vec<&(String, String)> = params.iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut mac =
        <M as hmac::digest::KeyInit>::new_from_slice(token.as_bytes()).expect("HMAC takes any key");
    mac.update(url.as_bytes());
    for (k, v) in sorted {
        mac.update(k.as_bytes());
        mac.update(v.as_bytes());
    }
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// The URL as Twilio may have signed it: as configured, and with the default port
/// added or removed.
fn candidate_urls(url: &str) -> Vec<String> {
    let mut out = vec![url.to_string()];
    for (scheme, port) in [("https://", ":443"), ("http://", ":80")] {
        let Some(rest) = url.strip_prefix(scheme) else {
            continue;
        };
        let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        if let Some(bare) = host.strip_suffix(port) {
            out.push(format!("{scheme}{bare}{path}"));
        } else if !host.contains(':') {
            out.push(format!("{scheme}{host}{port}{path}"));
        }
    }
    out
}

fn verify(
    state: &AppState,
    headers: &HeaderMap,
    uri: &Uri,
    params: &[(String, String)],
) -> Result<(), Refusal> {
    let (Some(token), Some(base)) = (&state.ingress.twilio_auth_token, &state.ingress.public_url)
    else {
        return Err(Refusal(
            StatusCode::FORBIDDEN,
            "Twilio callbacks are refused: TWILIO_AUTH_TOKEN and PUBLIC_URL must be set to verify them".into(),
        ));
    };
    let Some(given) = headers
        .get("x-twilio-signature")
        .and_then(|v| v.to_str().ok())
    else {
        return Err(Refusal(
            StatusCode::UNAUTHORIZED,
            "X-Twilio-Signature is missing".into(),
        ));
    };
    let path = uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
    let url = format!("{}{path}", base.trim_end_matches('/'));
    let good = candidate_urls(&url).iter().any(|u| {
        same(signature(token, u, params).as_bytes(), given.as_bytes())
            || same(
                signature_sha256(token, u, params).as_bytes(),
                given.as_bytes(),
            )
    });
    if good {
        Ok(())
    } else {
        tracing::warn!("twilio webhook with a bad signature");
        Err(Refusal(
            StatusCode::FORBIDDEN,
            "X-Twilio-Signature does not match".into(),
        ))
    }
}

/// The parameters Jules reads from Twilio's form (Twilio sends more; they are signed
/// and otherwise ignored).
#[derive(utoipa::ToSchema)]
#[allow(dead_code, non_snake_case)]
struct TwilioForm {
    /// The message's id (`SmsSid` on older accounts).
    MessageSid: String,
    /// The sender, E.164.
    From: Option<String>,
    /// The text (incoming messages).
    Body: Option<String>,
    /// `received` on texts; `queued`, `sent`, `delivered`, `undelivered`, `failed` on
    /// status callbacks.
    MessageStatus: Option<String>,
    NumSegments: Option<String>,
    ErrorCode: Option<String>,
}

/// What a Twilio callback is answered.
struct Answers;

impl utoipa::IntoResponses for Answers {
    fn responses() -> crate::http::docs::Responses {
        let mut answers = crate::http::docs::refusals(&[
            (
                "400",
                "Not a form, or the message can never be stored (the reason)",
            ),
            ("401", "`X-Twilio-Signature` is missing"),
            (
                "403",
                "The signature does not match, or TWILIO_AUTH_TOKEN / PUBLIC_URL are not set",
            ),
            ("503", "The store failed; Twilio retries"),
        ]);
        let twiml = utoipa::openapi::ResponseBuilder::new()
            .description("Stored, recorded or nothing to do: empty TwiML")
            .content("text/xml", utoipa::openapi::Content::default())
            .build();
        answers.insert("200".into(), twiml.into());
        answers
    }
}

/// Twilio messaging webhooks.
///
/// Incoming texts (the number's "A message comes in" URL) and status callbacks, form
/// encoded and signed with `X-Twilio-Signature` over `PUBLIC_URL` + the path and query
/// Twilio called. Answered with empty TwiML: the reply is sent later through the API.
#[utoipa::path(post, path = "/webhooks/twilio", operation_id = "twilio", tag = "webhooks",
    request_body(content = TwilioForm, content_type = "application/x-www-form-urlencoded"),
    security(("twilio_signature" = [])),
    responses(Answers))]
pub async fn receive(
    State(state): State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let params: Vec<(String, String)> = match serde_urlencoded::from_bytes(&body) {
        Ok(p) => p,
        Err(e) => {
            return Refusal(
                StatusCode::BAD_REQUEST,
                format!("expected a form-encoded body: {e}"),
            )
            .into_response();
        }
    };
    if let Err(r) = verify(&state, &headers, &uri, &params) {
        return r.into_response();
    }
    let outbox = uri.query().and_then(|q| {
        serde_urlencoded::from_str::<Vec<(String, String)>>(q)
            .ok()?
            .into_iter()
            .find_map(|(k, v)| (k == "outbox").then_some(v))
    });
    match handle(&state, &params, outbox.as_deref(), &body).await {
        Ok(()) => ([(header::CONTENT_TYPE, "text/xml")], EMPTY_TWIML).into_response(),
        Err(r) => r.into_response(),
    }
}

/// Twilio status callbacks.
///
/// The `StatusCallback` URL Jules gives with each message it sends (with `?outbox=`
/// naming the message); the same handling as `/webhooks/twilio`.
#[utoipa::path(post, path = "/webhooks/twilio/status", operation_id = "twilio_status", tag = "webhooks",
    request_body(content = TwilioForm, content_type = "application/x-www-form-urlencoded"),
    params(("outbox" = Option<String>, Query, description = "The outbox id of the message reported on")),
    security(("twilio_signature" = [])),
    responses(Answers))]
pub async fn receive_status(
    state: State<AppState>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    receive(state, uri, headers, body).await
}

async fn handle(
    state: &AppState,
    params: &[(String, String)],
    outbox: Option<&str>,
    raw: &[u8],
) -> Result<(), Refusal> {
    let mut outcome = Outcome::default();
    match message(state, params, outbox).await {
        Ok(handled) => outcome.handled(handled),
        Err(EventError::Invalid(reason)) => {
            outcome.reject(state, Carrier::Twilio, reason, raw).await?
        }
        Err(EventError::Store(e)) => return Err(e.into()),
    }
    outcome.answer(state)
}

/// One delivery: an inbound text (stored) or a status callback (settles our message).
async fn message(
    state: &AppState,
    params: &[(String, String)],
    outbox: Option<&str>,
) -> Result<Handled, EventError> {
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let invalid =
        |what: &str, why: &dyn std::fmt::Display| EventError::Invalid(format!("{what}: {why}"));
    let sid = get("MessageSid")
        .or_else(|| get("SmsSid"))
        .ok_or_else(|| invalid("MessageSid", &"missing"))?;
    let sid = CarrierMessageId::parse(sid).map_err(|e| invalid("MessageSid", &e))?;
    // A status callback: MessageStatus without a Body.
    if let (Some(status), None) = (
        get("MessageStatus").or_else(|| get("SmsStatus")),
        get("Body"),
    ) {
        super::settle_sent(state, outbox, sid.as_str()).await?;
        let status = match status {
            "delivered" => MessageStatus::Delivered,
            "failed" | "undelivered" => MessageStatus::Failed,
            other => {
                tracing::info!(status = other, "twilio progress report");
                return Ok(Handled::Ignored);
            }
        };
        let key = format!("{sid}:{}", status.as_str());
        if state.store.db().first_delivery("twilio", &key).await? {
            let known = state
                .store
                .db()
                .delivery_update("twilio", sid.as_str(), status)
                .await?;
            tracing::info!(status = status.as_str(), known, "twilio delivery report");
        }
        return Ok(Handled::Ignored);
    }
    let from = PhoneNumber::parse(get("From").unwrap_or("")).map_err(|e| invalid("From", &e))?;
    let body = get("Body").ok_or_else(|| invalid("Body", &"missing"))?;
    let segments = domain::segments(get("NumSegments").and_then(|n| n.parse().ok()));
    let now = state.pipeline.clock.now();
    let (recorded, _) = state
        .store
        .record_inbound(Carrier::Twilio, &sid, &from, body, segments, now)
        .await?;
    Ok(match recorded {
        Recorded::Stored { .. } => Handled::Stored,
        Recorded::Duplicate => {
            tracing::info!("twilio: a repeated delivery; already stored");
            Handled::Ignored
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_matches_twilios_documented_example() {
        // Twilio's published vector (its SDKs' request-validator tests): token 12345,
        // this URL and these parameters, given out of order.
        let params = [
            ("Digits", "1234"),
            ("To", "+18005551212"),
            ("From", "+14158675309"),
            ("Caller", "+14158675309"),
            ("CallSid", "CA1234567890ABCDE"),
        ]
        .map(|(k, v)| (k.to_string(), v.to_string()));
        let url = "https://mycompany.com/myapp.php?foo=1&bar=2";
        assert_eq!(
            signature("12345", url, &params),
            "RSOYDt4T1cUTdK1PDd93/VVr8B8="
        );
    }

    #[test]
    fn urls_are_tried_with_and_without_the_default_port() {
        assert_eq!(
            candidate_urls("https://example.com/webhooks/twilio"),
            [
                "https://example.com/webhooks/twilio",
                "https://example.com:443/webhooks/twilio"
            ]
        );
        assert_eq!(
            candidate_urls("https://example.com:443/x"),
            ["https://example.com:443/x", "https://example.com/x"]
        );
    }
}
