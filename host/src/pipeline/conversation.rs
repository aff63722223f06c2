//! One claimed conversation: every unanswered text of one person, in order, answered
//! as one turn. Crisis resources go out before anything else can fail.

use std::time::SystemTime;

use jules_policy_model::{
    Action, AgeStatus as PolicyAge, Assessment, Inbound, MemoryFact, Role, Tier as PolicyTier,
    Turn as PolicyTurn, UserContext,
};
use serde_json::json;
use uuid::Uuid;

use super::Pipeline;
use crate::policy::{Decided, PromptInput};
use crate::store::{
    AgeStatus, ComplianceEvent, NewCrisisEvent, NewPolicyDecision, Purpose, StoreError, Tier, Turn,
    User, UserStatus,
};

fn policy_age(a: AgeStatus) -> PolicyAge {
    match a {
        AgeStatus::Unknown => PolicyAge::Unknown,
        AgeStatus::Pending => PolicyAge::Pending,
        AgeStatus::Adult => PolicyAge::Adult,
        AgeStatus::Minor => PolicyAge::Minor,
        AgeStatus::Child => PolicyAge::Child,
        AgeStatus::Declined => PolicyAge::Declined,
    }
}

fn policy_turn(t: &Turn) -> PolicyTurn {
    PolicyTurn {
        role: if t.inbound {
            Role::User
        } else {
            Role::Assistant
        },
        text: t.text.clone(),
        at: t.at_ms,
    }
}

/// Where the day began (UTC) for the free tier's daily count.
fn start_of_day(now: SystemTime) -> SystemTime {
    let ms = crate::store::millis(now);
    crate::store::from_millis(ms - ms.rem_euclid(86_400_000))
}

fn facts(preferences: &serde_json::Value) -> Vec<MemoryFact> {
    let Some(map) = preferences.as_object() else {
        return Vec::new();
    };
    map.iter()
        .map(|(k, v)| MemoryFact {
            key: k.clone(),
            value: v
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| v.to_string()),
        })
        .collect()
}

impl Pipeline {
    /// Answer everything `user_id` sent that is not answered yet, then release the
    /// conversation. An error leaves the messages pending: the lease runs out and the
    /// conversation is processed again, queuing nothing twice.
    pub async fn process(&self, user_id: Uuid) -> Result<(), StoreError> {
        let answered = self.answer(user_id).await;
        if !matches!(answered, Ok(true)) {
            self.store.db().release_conversation(user_id).await?;
        }
        answered.map(drop)
    }

    /// True when the turn was answered and the conversation released.
    async fn answer(&self, user_id: Uuid) -> Result<bool, StoreError> {
        let pending = self.store.take_pending(user_id).await?;
        let Some((first, carrier)) = pending.first().map(|(t, c)| (t.message_id, c.clone())) else {
            return Ok(false);
        };
        let ids: Vec<Uuid> = pending.iter().map(|(t, _)| t.message_id).collect();
        let Some(user) = self.store.user(user_id).await? else {
            return Ok(false);
        };
        let now = self.clock.now();
        let text = pending
            .iter()
            .map(|(t, _)| t.text.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        let inbound = Inbound {
            text,
            // The pipeline's clock (injectable), not the database's.
            received_at: crate::store::millis(now),
        };
        let history: Vec<Turn> = self
            .memory
            .recent_turns(user_id)
            .await?
            .into_iter()
            .filter(|t| !ids.contains(&t.message_id))
            .collect();
        // Remember this turn's texts now, so the reply lands after them.
        for (turn, _) in &pending {
            self.memory.remember(user_id, turn).await;
        }
        let recent: Vec<PolicyTurn> = history.iter().map(policy_turn).collect();
        let today = self
            .store
            .db()
            .inbound_since(user_id, start_of_day(now))
            .await?;
        let context = UserContext {
            age: policy_age(user.age_status),
            opted_out: user.status == UserStatus::OptedOut,
            tier: if user.tier == Tier::Premium {
                PolicyTier::Premium
            } else {
                PolicyTier::Free
            },
            last_disclosure_at: user.last_disclosure_at.map(crate::store::millis),
            first_contact: history.is_empty() && user.last_disclosure_at.is_none(),
            locale: user.locale.clone(),
            // Texts before this turn: the daily limit counts what was already answered.
            messages_today: (today - ids.len() as i64).max(0) as u32,
        };
        let job = Job {
            user: &user,
            first,
            carrier: &carrier,
            now,
        };

        let assessment = self.policies.assess(&inbound, &context, &recent);
        self.decided(first, "crisis-detector", &assessment, |a| {
            json!({"severity": a.severity.as_str(), "categories": a.categories, "evidence": a.evidence.len()})
        })
        .await?;
        self.escalate_if_needed(&job, &assessment).await?;

        let decision = self.policies.evaluate(&inbound, &context);
        self.decided(
            first,
            "compliance-policy",
            &decision,
            |d| json!({"actions": d.actions.iter().map(|a| a.name()).collect::<Vec<_>>()}),
        )
        .await?;
        let digest = decision.bundle.map(|d| d.to_string());
        let mut disclose = false;
        for action in &decision.value.actions {
            match action {
                Action::OptOut(confirmation) => {
                    if user.status != UserStatus::OptedOut {
                        self.store
                            .db()
                            .set_status(user_id, UserStatus::OptedOut, now)
                            .await?;
                        self.log(&job, ComplianceEvent::OptOut, "keyword", &digest)
                            .await?;
                        self.send(&job, Purpose::OptOutConfirmation, confirmation)
                            .await?;
                    }
                }
                Action::OptIn(confirmation) => {
                    self.store
                        .db()
                        .set_status(user_id, UserStatus::Active, now)
                        .await?;
                    self.log(&job, ComplianceEvent::OptIn, "keyword", &digest)
                        .await?;
                    self.send(&job, Purpose::OptInConfirmation, confirmation)
                        .await?;
                }
                Action::Help(text) => {
                    self.log(&job, ComplianceEvent::HelpSent, "keyword", &digest)
                        .await?;
                    self.send(&job, Purpose::Help, text).await?;
                }
                Action::Block(blocked) => {
                    let reason = serde_json::to_value(blocked.reason).unwrap_or_default();
                    let reason = reason.as_str().unwrap_or("blocked").to_string();
                    self.log(&job, ComplianceEvent::Blocked, &reason, &digest)
                        .await?;
                    if let Some(reply) = &blocked.reply
                        && user.status != UserStatus::OptedOut
                    {
                        self.send(&job, Purpose::Blocked, reply).await?;
                    }
                }
                Action::RequireAgeVerification(prompt) => {
                    if user.age_status == AgeStatus::Unknown {
                        self.store
                            .db()
                            .set_age_status(user_id, AgeStatus::Pending)
                            .await?;
                    }
                    self.log(&job, ComplianceEvent::AgeVerificationRequired, "", &digest)
                        .await?;
                    self.send(&job, Purpose::AgeVerification, prompt).await?;
                }
                Action::DisclosureDue => disclose = true,
                Action::CallLlm => {
                    self.chat(
                        &job,
                        &inbound,
                        &context,
                        &recent,
                        &assessment.value,
                        disclose,
                        &digest,
                    )
                    .await?;
                }
            }
        }
        self.store.db().finish_conversation(user_id, &ids).await?;
        Ok(true)
    }

    #[allow(clippy::too_many_arguments)]
    async fn chat(
        &self,
        job: &Job<'_>,
        inbound: &Inbound,
        context: &UserContext,
        recent: &[PolicyTurn],
        assessment: &Assessment,
        disclose: bool,
        digest: &Option<String>,
    ) -> Result<(), StoreError> {
        // The user row was just read: its preferences are the freshest copy.
        let preferences = job.user.preferences.clone().unwrap_or_default();
        let facts = facts(&preferences);
        let request = self.policies.build(&PromptInput {
            message: inbound,
            user: context,
            recent,
            facts: &facts,
            crisis: assessment,
        });
        self.decided(job.first, "prompt-builder", &request, |r| {
            json!({"crisis-mode": r.crisis_mode, "messages": r.messages.len(), "max-tokens": r.max_tokens})
        })
        .await?;
        let reply = self.responder.reply(&request.value).await;
        tracing::info!(source = reply.source.as_str(), "reply written");
        let shaped = self.policies.shape(&reply.text, disclose);
        let queued = self
            .store
            .queue_answer(
                job.user.id,
                Some(job.first),
                Purpose::Reply,
                job.carrier,
                &shaped.value.text,
                shaped.value.segments as i32,
            )
            .await?;
        if let Some((message_id, _)) = queued {
            self.outbox_ready.notify_one();
            let turn = Turn {
                message_id,
                inbound: false,
                text: shaped.value.text.clone(),
                at_ms: crate::store::millis(job.now),
            };
            self.memory.remember(job.user.id, &turn).await;
            if disclose {
                self.store.db().mark_disclosed(job.user.id, job.now).await?;
                self.log(job, ComplianceEvent::DisclosureSent, "with reply", digest)
                    .await?;
            }
        }
        Ok(())
    }

    /// At or above the bundle's escalation severity: resources at once, an event for
    /// review, and the optional alert.
    async fn escalate_if_needed(
        &self,
        job: &Job<'_>,
        assessment: &Decided<Assessment>,
    ) -> Result<(), StoreError> {
        let response = self.policies.crisis_response();
        let a = &assessment.value;
        if a.severity < response.escalate_at {
            return Ok(());
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
        if job.user.status != UserStatus::OptedOut {
            let lang = if job.user.locale.starts_with("es") {
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
            self.send(job, Purpose::CrisisResources, &text).await?;
        }
        let event = self
            .store
            .db()
            .record_crisis_event(&NewCrisisEvent {
                user_id: job.user.id,
                message_id: Some(job.first),
                severity: a.severity.as_str(),
                categories: &categories,
                bundle_digest: &digest,
                fallback: assessment.fallback.is_some(),
            })
            .await?;
        tracing::warn!(event = %event, severity = a.severity.as_str(), "crisis escalated for human review");
        if let Some(url) = self.settings.crisis_alert_url.clone() {
            let body = json!({
                "event_id": event,
                "user_id": job.user.id,
                "message_id": job.first,
                "severity": a.severity.as_str(),
                "categories": categories,
            });
            let http = self.http.clone();
            tokio::spawn(async move {
                if let Err(e) = http
                    .post(&url)
                    .json(&body)
                    .send()
                    .await
                    .and_then(|r| r.error_for_status())
                {
                    tracing::error!(error = %e, "crisis alert not delivered");
                }
            });
        }
        Ok(())
    }

    /// Queue a message answering the conversation's first pending text.
    async fn send(&self, job: &Job<'_>, purpose: Purpose, text: &str) -> Result<(), StoreError> {
        let shaped = self.policies.shape(text, false).value;
        let queued = self
            .store
            .queue_answer(
                job.user.id,
                Some(job.first),
                purpose,
                job.carrier,
                &shaped.text,
                shaped.segments as i32,
            )
            .await?;
        if queued.is_some() {
            self.outbox_ready.notify_one();
        }
        Ok(())
    }

    async fn log(
        &self,
        job: &Job<'_>,
        event: ComplianceEvent,
        detail: &str,
        digest: &Option<String>,
    ) -> Result<(), StoreError> {
        self.store
            .db()
            .log_compliance(job.user.id, event, detail, digest.as_deref(), job.now)
            .await
    }

    async fn decided<T>(
        &self,
        message_id: Uuid,
        world: &str,
        decided: &Decided<T>,
        summary: impl FnOnce(&T) -> serde_json::Value,
    ) -> Result<(), StoreError> {
        let digest = decided.bundle.map(|d| d.to_string());
        let fallback = decided.fallback.as_ref().map(|f| format!("{f:?}"));
        self.store
            .db()
            .record_policy_decision(&NewPolicyDecision {
                message_id,
                world,
                bundle_digest: digest.as_deref(),
                fallback: fallback.as_deref(),
                summary: &summary(&decided.value),
            })
            .await
    }
}

struct Job<'a> {
    user: &'a User,
    /// The first pending text: what every answer of this turn answers.
    first: Uuid,
    carrier: &'a str,
    now: SystemTime,
}
