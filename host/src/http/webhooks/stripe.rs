//! `POST /webhooks/stripe`: Stripe's subscription events. Signed (`Stripe-Signature`,
//! any `v1`, 300 s either way: missing 401, wrong or stale 403), deduplicated on the
//! event id, and order-safe: whatever the event, the subscription it names is re-read
//! from Stripe and its status now decides the person's tier, so an older event arriving
//! after a newer one changes nothing.

use std::time::SystemTime;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use super::Refusal;
use crate::billing::stripe::{REFERENCE_KEY, verify};
use crate::billing::tier_of;
use crate::http::AppState;
use crate::store::{SubscriptionApplied, SubscriptionState};

#[derive(Deserialize)]
struct Event {
    id: String,
    #[serde(rename = "type")]
    kind: String,
    data: Data,
}

#[derive(Deserialize)]
struct Data {
    object: Value,
}

/// The subscription an event is about, and the reference its checkout carried.
fn named(kind: &str, object: &Value) -> Option<(String, Option<String>)> {
    let text = |v: &Value| v.as_str().map(str::to_string);
    match kind {
        "checkout.session.completed" => Some((
            text(&object["subscription"])?,
            text(&object["client_reference_id"]),
        )),
        "customer.subscription.created"
        | "customer.subscription.updated"
        | "customer.subscription.deleted"
        | "customer.subscription.paused"
        | "customer.subscription.resumed" => Some((text(&object["id"])?, None)),
        // Older API versions name it at the top; newer ones under `parent`.
        "invoice.paid" | "invoice.payment_failed" | "invoice.payment_action_required" => {
            let id = text(&object["subscription"])
                .or_else(|| text(&object["parent"]["subscription_details"]["subscription"]))?;
            Some((id, None))
        }
        _ => None,
    }
}

/// Stripe's subscription events.
///
/// Set as a webhook endpoint for `checkout.session.completed`,
/// `customer.subscription.*` and `invoice.paid` / `invoice.payment_failed` /
/// `invoice.payment_action_required`. The subscription an event names is re-read from
/// Stripe and its status now sets the person's tier, so order does not matter.
/// Deduplicated on the event id.
#[utoipa::path(post, path = "/webhooks/stripe", operation_id = "stripe", tag = "webhooks",
    request_body(content = serde_json::Value, content_type = "application/json",
        description = "A Stripe event (`id`, `type`, `data.object`)"),
    security(("stripe_signature" = [])),
    responses(
        (status = 200, description = "Applied, a repeat, or an event type Jules does not act on", content_type = "application/json"),
        (status = 400, description = "Not a Stripe event", body = crate::http::docs::Error),
        (status = 401, description = "`Stripe-Signature` is missing", body = crate::http::docs::Error),
        (status = 403, description = "Wrong or stale signature, or Stripe is not configured", body = crate::http::docs::Error),
        (status = 404, description = "No person has the subscription's reference", body = crate::http::docs::Error),
        (status = 503, description = "The subscription could not be read from Stripe, or the store failed; Stripe retries", body = crate::http::docs::Error),
    ))]
pub async fn receive(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    match handle(&state, &headers, &body).await {
        Ok(answer) => (StatusCode::OK, Json(answer)).into_response(),
        Err(r) => r.into_response(),
    }
}

async fn handle(state: &AppState, headers: &HeaderMap, body: &[u8]) -> Result<Value, Refusal> {
    let Some(stripe) = &state.pipeline.stripe else {
        return Err(Refusal(
            StatusCode::FORBIDDEN,
            "Stripe events are refused: STRIPE_SECRET_KEY and STRIPE_WEBHOOK_SECRET are not set"
                .into(),
        ));
    };
    let Some(signature) = headers
        .get("stripe-signature")
        .and_then(|v| v.to_str().ok())
    else {
        return Err(Refusal(
            StatusCode::UNAUTHORIZED,
            "Stripe-Signature is required".into(),
        ));
    };
    verify(
        &stripe.settings.webhook_secret,
        signature,
        body,
        SystemTime::now(),
    )
    .map_err(|e| {
        tracing::warn!(error = %e, "stripe event refused");
        Refusal(StatusCode::FORBIDDEN, e.to_string())
    })?;
    let event: Event = serde_json::from_slice(body)
        .map_err(|e| Refusal(StatusCode::BAD_REQUEST, format!("not a Stripe event: {e}")))?;
    let Some((subscription_id, checkout_reference)) = named(&event.kind, &event.data.object) else {
        return Ok(json!({"status": "ignored"}));
    };
    let subscription = stripe.subscription(&subscription_id).await.map_err(|e| {
        tracing::warn!(error = %e, "a Stripe event's subscription could not be read; Stripe will retry");
        Refusal(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the subscription could not be read from Stripe ({e}); retry"),
        )
    })?;
    let reference = subscription
        .metadata
        .get(REFERENCE_KEY)
        .cloned()
        .or(checkout_reference)
        .and_then(|r| Uuid::parse_str(&r).ok());
    let Some(reference) = reference else {
        // A subscription Jules did not start (no reference of ours): not ours to act on.
        return Ok(json!({"status": "ignored"}));
    };
    let tier = tier_of(&subscription.status);
    let applied = state
        .store
        .db()
        .apply_subscription(&SubscriptionState {
            event_id: &event.id,
            reference,
            customer_id: &subscription.customer,
            subscription_id: &subscription.id,
            status: &subscription.status,
            tier,
        })
        .await?;
    tracing::info!(kind = %event.kind, status = %subscription.status, outcome = ?applied, "stripe event");
    match applied {
        SubscriptionApplied::Repeat => Ok(json!({"status": "repeat"})),
        SubscriptionApplied::UnknownReference => Err(Refusal(
            StatusCode::NOT_FOUND,
            "no person has this subscription's reference".into(),
        )),
        SubscriptionApplied::Applied { was, now, .. } => {
            if was != now {
                metrics::counter!("jules_tier_changes_total", "tier" => now.as_str()).increment(1);
            }
            Ok(json!({"status": "applied", "tier": now.as_str()}))
        }
    }
}
