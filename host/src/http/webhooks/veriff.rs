//! `POST /webhooks/veriff`: Veriff's decisions on the age checks this host opened.
//! Signed with `X-HMAC-SIGNATURE` (missing → 401, wrong → 403), deduplicated, and
//! applied in one transaction with the text telling the person (see
//! `Backend::apply_age_decision`). A decision on a check that is not the person's
//! newest is recorded on the check only; an older decision never overwrites a newer.
//! Nothing from the decision but its status and reason code is logged or kept: the
//! date of birth only decides the age status.

use std::time::SystemTime;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use uuid::Uuid;

use super::Refusal;
use crate::age::veriff::{Decided, Notice, signed};
use crate::age::{AgeVerifier, SESSION_LIFETIME, Veriff, birth, outcome_text, texts};
use crate::domain::Carrier;
use crate::http::AppState;
use crate::store::{AgeDecision, AgeStatus, CheckStatus, DecisionApplied, NewCheck, Purpose};

/// Veriff's decision and event webhooks.
///
/// Set as the integration's decision and event webhook URL. Decisions (`approved`,
/// `declined`, `resubmission_requested`, `expired`, `abandoned`, `review`) are applied
/// to the person's newest age check with the text telling them, in one transaction;
/// an older decision never overwrites a newer one. Event webhooks (started,
/// submitted) are acknowledged and ignored. Deliveries are deduplicated.
#[utoipa::path(post, path = "/webhooks/veriff", operation_id = "veriff", tag = "webhooks",
    request_body(content = serde_json::Value, content_type = "application/json",
        description = "Veriff's decision webhook (`status`, `verification` with `id`, `status`, `vendorData`, `decisionTime`, `person.dateOfBirth`) or an event webhook"),
    security(("veriff_signature" = [])),
    responses(
        (status = 200, description = "Applied, recorded, a repeat, or an event ignored (`status` says which)", content_type = "application/json"),
        (status = 400, description = "Not a Veriff webhook (the position of the fault; values are never quoted)", body = crate::http::docs::Error),
        (status = 401, description = "`X-HMAC-SIGNATURE` is missing", body = crate::http::docs::Error),
        (status = 403, description = "Wrong signature, or Veriff is not configured", body = crate::http::docs::Error),
        (status = 404, description = "A check this host never opened", body = crate::http::docs::Error),
        (status = 422, description = "A decision status Jules does not know", body = crate::http::docs::Error),
        (status = 503, description = "The store failed; Veriff retries", body = crate::http::docs::Error),
    ))]
pub async fn receive(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let AgeVerifier::Veriff(veriff) = &*state.pipeline.age else {
        return Refusal(
            StatusCode::FORBIDDEN,
            "Veriff callbacks are refused: VERIFF_API_KEY and VERIFF_SHARED_SECRET are not set"
                .into(),
        )
        .into_response();
    };
    let Some(given) = headers
        .get("x-hmac-signature")
        .and_then(|v| v.to_str().ok())
    else {
        return Refusal(
            StatusCode::UNAUTHORIZED,
            "X-HMAC-SIGNATURE is required".into(),
        )
        .into_response();
    };
    if !signed(&veriff.settings.shared_secret, &body, given) {
        tracing::warn!("veriff webhook with a wrong signature");
        return Refusal(StatusCode::FORBIDDEN, "wrong signature".into()).into_response();
    }
    // Field errors are named by position, never quoted: a value may be a birth date.
    let notice: Notice = match serde_json::from_slice(&body) {
        Ok(n) => n,
        Err(e) => {
            return Refusal(
                StatusCode::BAD_REQUEST,
                format!(
                    "not a Veriff webhook (line {} column {}: a field is missing or of the wrong type)",
                    e.line(),
                    e.column()
                ),
            )
            .into_response();
        }
    };
    let Some(decided) = notice.verification else {
        // Event webhooks (started, submitted) say where the person is, not who they are.
        return (StatusCode::OK, Json(json!({"status": "ignored"}))).into_response();
    };
    match decide(&state, veriff, &decided).await {
        Ok(status) => (StatusCode::OK, Json(json!({ "status": status }))).into_response(),
        Err(r) => r.into_response(),
    }
}

/// What a decision does: the check's new status, the person's age status (when it
/// settles it), the log's detail and the text telling them.
struct Effect {
    status: CheckStatus,
    age: Option<AgeStatus>,
    detail: String,
    text: Option<&'static str>,
}

fn effect(d: &Decided, decided_at: SystemTime) -> Result<Effect, Refusal> {
    let code = d.code.map(|c| format!(" (code {c})")).unwrap_or_default();
    let effect = |status, age, detail: String, text| Effect {
        status,
        age,
        detail,
        text,
    };
    Ok(match d.status.as_str() {
        "approved" => {
            let day = chrono::DateTime::<chrono::Utc>::from(decided_at).date_naive();
            let age = d
                .person
                .as_ref()
                .and_then(|p| p.date_of_birth.as_deref())
                .and_then(birth::parse)
                .and_then(|born| birth::status(born, day));
            match age {
                Some(age) => effect(
                    CheckStatus::Approved,
                    Some(age),
                    format!("veriff approved: {age}{code}"),
                    outcome_text(age),
                ),
                None => {
                    tracing::warn!(
                        "veriff approved a check without a usable date of birth: the person stays pending"
                    );
                    effect(
                        CheckStatus::NoBirthDate,
                        None,
                        format!("veriff approved without a usable date of birth{code}"),
                        Some(texts::NO_BIRTH_DATE),
                    )
                }
            }
        }
        "declined" => effect(
            CheckStatus::Declined,
            Some(AgeStatus::Declined),
            format!("veriff declined{code}"),
            outcome_text(AgeStatus::Declined),
        ),
        "resubmission_requested" => effect(
            CheckStatus::ResubmissionRequested,
            None,
            format!("veriff asked for a new attempt{code}"),
            None,
        ),
        "expired" => effect(
            CheckStatus::Expired,
            None,
            format!("veriff: expired{code}"),
            None,
        ),
        "abandoned" => effect(
            CheckStatus::Abandoned,
            None,
            format!("veriff: abandoned{code}"),
            None,
        ),
        "review" => effect(
            CheckStatus::Review,
            None,
            format!("veriff: in review{code}"),
            None,
        ),
        other => {
            return Err(Refusal(
                StatusCode::UNPROCESSABLE_ENTITY,
                format!("verification.status {other:?} is not a Veriff decision status"),
            ));
        }
    })
}

async fn decide(state: &AppState, veriff: &Veriff, d: &Decided) -> Result<&'static str, Refusal> {
    let check_id = d
        .vendor_data
        .as_deref()
        .and_then(|v| Uuid::parse_str(v).ok())
        .ok_or_else(|| {
            Refusal(
                StatusCode::BAD_REQUEST,
                "verification.vendorData is not the id of an age check".into(),
            )
        })?;
    let decided_at = match d.decision_time.as_deref() {
        None => SystemTime::now(),
        Some(t) => chrono::DateTime::parse_from_rfc3339(t)
            .map(SystemTime::from)
            .map_err(|_| {
                Refusal(
                    StatusCode::BAD_REQUEST,
                    "verification.decisionTime is not an RFC 3339 time".into(),
                )
            })?,
    };
    let effect = effect(d, decided_at)?;
    let reply = match effect.text {
        Some(text) => {
            let shaped = state.pipeline.shape(text, false).await;
            Some(state.store.sealed_reply(
                Purpose::AgeVerification,
                &shaped.text,
                shaped.segments as i32,
            ))
        }
        None => None,
    };
    let delivery = format!(
        "{}:{}:{}:{}",
        d.id,
        d.status,
        d.code.unwrap_or_default(),
        d.decision_time.as_deref().unwrap_or_default()
    );
    let applied = state
        .store
        .db()
        .apply_age_decision(&AgeDecision {
            delivery: &delivery,
            check_id,
            session_id: &d.id,
            status: effect.status,
            decided_at,
            age: effect.age,
            detail: &effect.detail,
            reply: reply.as_ref(),
            erase: effect.age == Some(AgeStatus::Child),
        })
        .await?;
    tracing::info!(status = effect.status.as_str(), outcome = ?applied, "veriff decision");
    match applied {
        DecisionApplied::Repeat => Ok("repeat"),
        DecisionApplied::Stale => Ok("stale"),
        DecisionApplied::UnknownCheck => Err(Refusal(
            StatusCode::NOT_FOUND,
            "no age check has this vendorData and verification id".into(),
        )),
        DecisionApplied::Applied {
            user_id,
            carrier,
            newest,
        } => {
            metrics::counter!("jules_age_checks_total", "provider" => "veriff", "outcome" => effect.status.as_str())
                .increment(1);
            if newest && effect.age == Some(AgeStatus::Child) {
                crate::pipeline::forget(&state.pipeline.memory, user_id).await;
            }
            if newest && effect.status == CheckStatus::ResubmissionRequested {
                resubmit(state, veriff, user_id, &carrier).await?;
            }
            state.pipeline.outbox_ready.notify_one();
            Ok(if newest { "applied" } else { "recorded" })
        }
    }
}

/// Veriff asked for a new attempt: a new session, its link texted. If Veriff cannot
/// make one now, the person is told to text for it (their next text opens one).
async fn resubmit(
    state: &AppState,
    veriff: &Veriff,
    user_id: Uuid,
    carrier: &str,
) -> Result<(), Refusal> {
    let carrier = Carrier::parse(carrier).ok_or_else(|| {
        Refusal(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the age check names an unknown carrier {carrier:?}"),
        )
    })?;
    let id = Uuid::new_v4();
    let text = match veriff.create_session(id).await {
        Ok(session) => {
            let now = SystemTime::now();
            state
                .store
                .add_age_check(&NewCheck {
                    id,
                    user_id,
                    session_id: &session.id,
                    url: &session.url,
                    carrier,
                    at: now,
                    expires_at: now + SESSION_LIFETIME,
                })
                .await?;
            format!("{}{}{}", texts::RESUBMIT, texts::LINK, session.url)
        }
        Err(e) => {
            tracing::warn!(error = %e, "no new Veriff session after a resubmission request");
            format!("{}{}", texts::RESUBMIT, texts::NO_LINK_YET)
        }
    };
    let shaped = state.pipeline.shape(&text, false).await;
    state
        .store
        .queue_answer(
            user_id,
            None,
            Purpose::AgeVerification,
            carrier,
            &shaped.text,
            shaped.segments as i32,
        )
        .await?;
    Ok(())
}
