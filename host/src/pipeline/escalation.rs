//! Crisis escalation: at or above the bundle's escalation severity, the resources go
//! out at once (before anything else of the turn can fail), an event is recorded for
//! human review, and the optional alert is posted.

use std::time::{Duration, SystemTime};

use jules_policy_model::Assessment;
use serde_json::json;

use super::Pipeline;
use super::conversation::{ComplianceLog, Gathered};
use crate::policy::Decided;
use crate::store::{ComplianceEvent, NewCrisisEvent, Purpose, StoreError, TurnOutcome, UserStatus};

/// How often a person who opted out is sent the crisis resources at most.
const RESOURCES_AFTER_OPT_OUT: Duration = Duration::from_secs(24 * 3600);

impl Pipeline {
    /// Escalate when the assessment calls for it. Returns whether the AI disclosure is
    /// still due (it went with the resources when they were this turn's first text).
    pub(super) async fn escalate_if_needed(
        &self,
        turn: &Gathered,
        out: &mut TurnOutcome,
        assessment: &Decided<Assessment>,
        disclose: bool,
        log: &ComplianceLog,
    ) -> Result<bool, StoreError> {
        let user = &turn.user;
        let response = self.policies.crisis_response();
        let a = &assessment.value;
        if a.severity < response.escalate_at {
            return Ok(disclose);
        }
        let categories: Vec<String> = a
            .categories
            .iter()
            .map(|c| c.as_str().to_string())
            .collect();
        let digest = assessment
            .bundle
            .map(|d| d.to_string())
            .unwrap_or_else(|| "builtin".into());
        // Someone who opted out is still answered when they write crisis language: the
        // resources (at most once a day) are a direct answer to their own message.
        let opted_out = user.status == UserStatus::OptedOut;
        let answered = !opted_out
            || !Box::pin(
                self.store
                    .db()
                    .crisis_resources_since(user.id, SystemTime::now() - RESOURCES_AFTER_OPT_OUT),
            )
            .await?;
        if answered {
            let lang = if user.locale.starts_with("es") {
                "es"
            } else {
                "en"
            };
            let text = response
                .resources
                .get(lang)
                .or_else(|| response.resources.get("en"))
                .cloned()
                .unwrap_or_else(|| jules_crisis::Response::default().resources["en"].clone());
            self.queue_now(out, Purpose::CrisisResources, &text, disclose)
                .await?;
            if disclose {
                out.disclosed = true;
                log.record(
                    out,
                    ComplianceEvent::DisclosureSent,
                    "with crisis resources",
                );
            }
            if opted_out {
                log.record(
                    out,
                    ComplianceEvent::CrisisResourcesAfterOptOut,
                    "crisis language after opting out: the resources answer their own message, nothing else is sent",
                );
            }
        }
        let event = self
            .store
            .db()
            .record_crisis_event(&NewCrisisEvent {
                user_id: user.id,
                message_id: out.texts.first().copied(),
                severity: a.severity.as_str(),
                categories: &categories,
                bundle_digest: &digest,
                fallback: assessment.fallback.is_some(),
            })
            .await?;
        tracing::warn!(event = %event, severity = a.severity.as_str(), "crisis escalated for human review");
        metrics::counter!("jules_crisis_escalations_total", "severity" => a.severity.as_str())
            .increment(1);
        if let Some(url) = self.settings.crisis_alert_url.clone() {
            let body = json!({
                "event_id": event,
                "user_id": user.id,
                "message_id": out.texts.first(),
                "severity": a.severity.as_str(),
                "categories": categories,
            });
            let http = self.http.clone();
            tokio::spawn(async move {
                // Redirects are not followed: anything but a 2xx is a failed alert.
                match http.post(&url).json(&body).send().await {
                    Ok(r) if r.status().is_success() => {}
                    Ok(r) => {
                        tracing::error!(status = r.status().as_u16(), "crisis alert not delivered")
                    }
                    Err(e) => tracing::error!(error = %e, "crisis alert not delivered"),
                }
            });
        }
        Ok(disclose && !answered)
    }

    /// Queue a message answering the conversation's first pending text, now.
    async fn queue_now(
        &self,
        out: &TurnOutcome,
        purpose: Purpose,
        text: &str,
        disclose: bool,
    ) -> Result<(), StoreError> {
        let shaped = self.shape(text, disclose).await;
        let queued = self
            .store
            .queue_answer(
                out.user_id,
                out.texts.first().copied(),
                purpose,
                out.carrier,
                &shaped.text,
                shaped.segments as i32,
            )
            .await?;
        if queued.is_some() {
            self.outbox_ready.notify_one();
        }
        Ok(())
    }
}
