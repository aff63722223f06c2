//! One claimed conversation: every unanswered text of one person, in order, answered
//! as one turn. Crisis resources go out before anything else can fail.

use std::time::{Duration, SystemTime};

use jules_policy_model::{
    Action, AgeStatus as PolicyAge, Assessment, Inbound, MemoryFact, Role, Tier as PolicyTier,
    Turn as PolicyTurn, UserContext,
};
use serde_json::json;
use uuid::Uuid;

use super::Pipeline;
use crate::policy::{Decided, PromptInput};
use crate::store::{
    AgeStatus, ComplianceEntry, ComplianceEvent, Decision, NewCrisisEvent, OpenTurn, Purpose,
    StoreError, Tier, Turn, TurnOutcome, User, UserStatus,
};

/// How long a person whose turn failed waits before their texts are claimed again.
const FAILED_TURN_RETRY: Duration = Duration::from_secs(5);

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
    /// conversation. An error leaves the messages pending: they are claimed again after
    /// `FAILED_TURN_RETRY` (or, if this worker died, after its lease), and the turn
    /// processed again queues nothing twice.
    pub async fn process(&self, user_id: Uuid) -> Result<(), StoreError> {
        let answered = self.answer(user_id).await;
        let retry_in = match answered {
            Ok(true) => None,
            // Nothing to answer: let go at once.
            Ok(false) => Some(Duration::ZERO),
            // A failed turn waits before it is tried again, so a lasting failure is
            // not retried in a tight loop.
            Err(_) => Some(FAILED_TURN_RETRY),
        };
        if let Some(retry_in) = retry_in {
            Box::pin(self.store.db().release_conversation(user_id, retry_in)).await?;
        }
        answered.map(drop)
    }

    /// True when the turn was answered and the conversation released. The turn is read
    /// in one go and written in one transaction at its end; only crisis resources (and
    /// the crisis event) are written the moment they are known.
    ///
    /// The store's and memory's calls are boxed: their futures are large (2–4 KB, the
    /// database and Redis clients'), and a task is as large as its largest await.
    /// Conversations spend their time waiting on the model, whose call is small: a
    /// conversation's task went from 4.9 to 2.8 KB (21 MB less at 10,000 in flight).
    async fn answer(&self, user_id: Uuid) -> Result<bool, StoreError> {
        let now = self.clock.now();
        let Some(OpenTurn {
            user,
            pending,
            inbound_since,
            has_history,
        }) = Box::pin(self.store.open_turn(user_id, start_of_day(now))).await?
        else {
            return Ok(false);
        };
        let Some(carrier) = pending.first().map(|(_, c)| c.clone()) else {
            return Ok(false);
        };
        let ids: Vec<Uuid> = pending.iter().map(|(t, _)| t.message_id).collect();
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
        let history: Vec<Turn> = if has_history {
            Box::pin(self.memory.recent_turns(user_id))
                .await?
                .into_iter()
                .filter(|t| !ids.contains(&t.message_id))
                .collect()
        } else {
            Vec::new()
        };
        // Remember this turn's texts now, so the reply lands after them.
        for (turn, _) in &pending {
            Box::pin(self.memory.remember(user_id, turn)).await;
        }
        let recent: Vec<PolicyTurn> = history.iter().map(policy_turn).collect();
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
            messages_today: (inbound_since - ids.len() as i64).max(0) as u32,
        };
        let mut out = TurnOutcome {
            user_id,
            carrier,
            texts: ids,
            at: now,
            decisions: Vec::new(),
            replies: Vec::new(),
            compliance: Vec::new(),
            status: None,
            age_status: None,
            disclosed: false,
        };

        let assessment = self.policies.assess(&inbound, &context, &recent);
        out.decisions.push(decision("crisis-detector", &assessment, |a| {
            json!({"severity": a.severity.as_str(), "categories": a.categories, "evidence": a.evidence.len()})
        }));
        // Compliance is a pure decision (a failing component is answered by the
        // baseline): deciding it first delays nothing and tells the crisis resources
        // whether they are the first text this person gets.
        let decided = self.policies.evaluate(&inbound, &context);
        out.decisions.push(decision(
            "compliance-policy",
            &decided,
            |d| json!({"actions": d.actions.iter().map(|a| a.name()).collect::<Vec<_>>()}),
        ));
        let digest = decided.bundle.map(|d| d.to_string());
        let log = |out: &mut TurnOutcome, event, detail: &str| {
            out.compliance.push(ComplianceEntry {
                event,
                detail: detail.to_string(),
                bundle_digest: digest.clone(),
            })
        };
        // The AI disclosure, when due, goes with the turn's first text, whatever it is.
        // A person's very first text always carries it: the host holds to that even
        // where a policy's keyword answers (HELP, STOP) leave it out.
        let mut disclose = user.last_disclosure_at.is_none()
            || decided
                .value
                .actions
                .iter()
                .any(|a| matches!(a, Action::DisclosureDue));
        match Box::pin(self.escalate_if_needed(&user, &mut out, &assessment, disclose)).await? {
            Escalated::No => {}
            Escalated::Event {
                resources,
                disclosed,
            } => {
                if disclosed {
                    disclose = false;
                    out.disclosed = true;
                    log(
                        &mut out,
                        ComplianceEvent::DisclosureSent,
                        "with crisis resources",
                    );
                }
                if resources && user.status == UserStatus::OptedOut {
                    log(
                        &mut out,
                        ComplianceEvent::CrisisResourcesAfterOptOut,
                        "crisis language after opting out: the resources answer their own message, nothing else is sent",
                    );
                }
            }
        }
        let mut chatted = None;
        let mut fixed: Option<(Purpose, &String)> = None;
        for action in &decided.value.actions {
            match action {
                Action::OptOut(confirmation) => {
                    if user.status != UserStatus::OptedOut {
                        out.status = Some(UserStatus::OptedOut);
                        log(&mut out, ComplianceEvent::OptOut, "keyword");
                        fixed = Some((Purpose::OptOutConfirmation, confirmation));
                    }
                }
                Action::OptIn(confirmation) => {
                    out.status = Some(UserStatus::Active);
                    log(&mut out, ComplianceEvent::OptIn, "keyword");
                    fixed = Some((Purpose::OptInConfirmation, confirmation));
                }
                Action::Help(text) => {
                    log(&mut out, ComplianceEvent::HelpSent, "keyword");
                    fixed = Some((Purpose::Help, text));
                }
                Action::Block(blocked) => {
                    let reason = serde_json::to_value(blocked.reason).unwrap_or_default();
                    let reason = reason.as_str().unwrap_or("blocked").to_string();
                    log(&mut out, ComplianceEvent::Blocked, &reason);
                    if let Some(reply) = &blocked.reply
                        && user.status != UserStatus::OptedOut
                    {
                        fixed = Some((Purpose::Blocked, reply));
                    }
                }
                Action::RequireAgeVerification(prompt) => {
                    if user.age_status == AgeStatus::Unknown {
                        out.age_status = Some(AgeStatus::Pending);
                    }
                    log(&mut out, ComplianceEvent::AgeVerificationRequired, "");
                    fixed = Some((Purpose::AgeVerification, prompt));
                }
                Action::DisclosureDue => {}
                Action::CallLlm => {
                    let prompt = Prompt {
                        inbound: &inbound,
                        context: &context,
                        recent: &recent,
                        assessment: &assessment.value,
                    };
                    let reply = self.chat(&user, &prompt, disclose, &mut out).await;
                    if disclose {
                        disclose = false;
                        out.disclosed = true;
                        log(&mut out, ComplianceEvent::DisclosureSent, "with reply");
                    }
                    chatted = Some(reply);
                }
            }
            if let Some((purpose, text)) = fixed.take() {
                self.reply(&mut out, purpose, text, disclose);
                if disclose {
                    disclose = false;
                    out.disclosed = true;
                    log(&mut out, ComplianceEvent::DisclosureSent, purpose.as_str());
                }
            }
        }
        let queued = Box::pin(self.store.db().close_turn(&out)).await?;
        if !queued.is_empty() {
            self.outbox_ready.notify_one();
        }
        if let Some((message_id, text)) = chatted
            && queued.contains(&message_id)
        {
            let turn = Turn {
                message_id,
                inbound: false,
                text,
                at_ms: crate::store::millis(now),
            };
            Box::pin(self.memory.remember(user_id, &turn)).await;
        }
        Ok(true)
    }

    /// Ask the model; the reply (shaped, with the disclosure when due) joins the turn's
    /// answers. Returns its message id and text.
    async fn chat(
        &self,
        user: &User,
        prompt: &Prompt<'_>,
        disclose: bool,
        out: &mut TurnOutcome,
    ) -> (Uuid, String) {
        // The user row was just read: its preferences are the freshest copy.
        let facts = user.preferences.as_ref().map(facts).unwrap_or_default();
        let request = self.policies.build(&PromptInput {
            message: prompt.inbound,
            user: prompt.context,
            recent: prompt.recent,
            facts: &facts,
            crisis: prompt.assessment,
        });
        out.decisions.push(decision("prompt-builder", &request, |r| {
            json!({"crisis-mode": r.crisis_mode, "messages": r.messages.len(), "max-tokens": r.max_tokens})
        }));
        let reply = self.responder.reply(&request.value).await;
        tracing::info!(source = reply.source.as_str(), "reply written");
        let shaped = self.policies.shape(&reply.text, disclose).value;
        let sealed = self
            .store
            .sealed_reply(Purpose::Reply, &shaped.text, shaped.segments as i32);
        let id = sealed.message_id;
        out.replies.push(sealed);
        (id, shaped.text)
    }

    /// Add a fixed answer (opt-out confirmation, HELP, …) to the turn's answers, with
    /// the disclosure when it is due.
    fn reply(&self, out: &mut TurnOutcome, purpose: Purpose, text: &str, disclose: bool) {
        let shaped = self.policies.shape(text, disclose).value;
        out.replies.push(
            self.store
                .sealed_reply(purpose, &shaped.text, shaped.segments as i32),
        );
    }

    /// At or above the bundle's escalation severity: resources at once, an event for
    /// review, and the optional alert.
    async fn escalate_if_needed(
        &self,
        user: &User,
        out: &mut TurnOutcome,
        assessment: &Decided<Assessment>,
        disclose: bool,
    ) -> Result<Escalated, StoreError> {
        let response = self.policies.crisis_response();
        let a = &assessment.value;
        if a.severity < response.escalate_at {
            return Ok(Escalated::No);
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
        let answered = user.status != UserStatus::OptedOut
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
            self.send(out, Purpose::CrisisResources, &text, disclose)
                .await?;
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
        Ok(Escalated::Event {
            resources: answered,
            disclosed: answered && disclose,
        })
    }

    /// Queue a message answering the conversation's first pending text, now.
    async fn send(
        &self,
        out: &TurnOutcome,
        purpose: Purpose,
        text: &str,
        disclose: bool,
    ) -> Result<(), StoreError> {
        let shaped = self.policies.shape(text, disclose).value;
        let queued = self
            .store
            .queue_answer(
                out.user_id,
                out.texts.first().copied(),
                purpose,
                &out.carrier,
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

/// What a crisis assessment led to.
enum Escalated {
    /// Below the bundle's escalation severity.
    No,
    /// Escalated for review; `resources`: the resources were queued (an opted-out
    /// person gets them at most once a day), `disclosed`: with the AI disclosure.
    Event { resources: bool, disclosed: bool },
}

/// How often a person who opted out is sent the crisis resources at most.
const RESOURCES_AFTER_OPT_OUT: Duration = Duration::from_secs(24 * 3600);

/// A policy decision for the turn's record: which bundle (or fallback) and a summary.
fn decision<T>(
    world: &'static str,
    decided: &Decided<T>,
    summary: impl FnOnce(&T) -> serde_json::Value,
) -> Decision {
    Decision {
        world,
        bundle_digest: decided.bundle.map(|d| d.to_string()),
        fallback: decided.fallback.as_ref().map(|f| format!("{f:?}")),
        summary: summary(&decided.value),
    }
}

/// What the prompt is built from.
struct Prompt<'a> {
    inbound: &'a Inbound,
    context: &'a UserContext,
    recent: &'a [PolicyTurn],
    assessment: &'a Assessment,
}
