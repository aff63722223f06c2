//! One claimed conversation: every unanswered text of one person, in order, answered
//! as one turn in named steps — gather, decide, escalate, act, close. Crisis resources
//! go out before anything else can fail.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use jules_policy_model::{
    Action, AgeStatus as PolicyAge, Assessment, Inbound, MemoryFact, Role, Tier as PolicyTier,
    Turn as PolicyTurn, UserContext, World,
};
use serde_json::json;
use uuid::Uuid;

use super::Pipeline;
use super::actions::Chatted;
use super::shadow::Asking;
use crate::domain::Carrier;
use crate::policy::Decided;
use crate::store::{
    AgeStatus, CHILD_ERASED, ComplianceEntry, ComplianceEvent, Decision, OpenTurn, StoreError,
    Tier, Turn, TurnOutcome, User, UserStatus,
};

/// How long a person whose turn failed waits before their texts are claimed again.
const FAILED_TURN_RETRY: Duration = Duration::from_secs(5);

/// A claimed turn, read from the store and memory.
pub(super) struct Gathered {
    pub user: User,
    /// The turn's texts, oldest first.
    pub ids: Vec<Uuid>,
    /// The carrier the answers go out through (the first text's).
    pub carrier: Carrier,
    pub now: SystemTime,
    /// When the turn's first text was stored.
    pub first_at: SystemTime,
    pub asked: Arc<Asked>,
}

/// What the policies are asked about: owned, and shared with the blocking threads that
/// run the policy calls.
pub(super) struct Asked {
    pub inbound: Inbound,
    pub context: UserContext,
    pub recent: Vec<PolicyTurn>,
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
    async fn answer(&self, user_id: Uuid) -> Result<bool, StoreError> {
        let Some(turn) = self.gather(user_id).await? else {
            return Ok(false);
        };
        let (assessment, decided) = self.decide(&turn.asked).await;
        if let Some(&last) = turn.ids.last() {
            self.shadow.offer(
                last,
                &turn.asked,
                || Asking::Crisis(assessment.value.clone()),
                World::CrisisDetector,
                assessment.bundle.map(|d| d.to_string()),
            );
            self.shadow.offer(
                last,
                &turn.asked,
                || Asking::Compliance(decided.value.clone()),
                World::CompliancePolicy,
                decided.bundle.map(|d| d.to_string()),
            );
        }
        let mut out = TurnOutcome {
            user_id,
            carrier: turn.carrier,
            texts: turn.ids.clone(),
            at: turn.now,
            decisions: vec![
                decision(
                    "crisis-detector",
                    &assessment,
                    |a| json!({"severity": a.severity.as_str(), "categories": a.categories, "evidence": a.evidence.len()}),
                ),
                decision(
                    "compliance-policy",
                    &decided,
                    |d| json!({"actions": d.actions.iter().map(|a| a.name()).collect::<Vec<_>>()}),
                ),
            ],
            replies: Vec::new(),
            compliance: Vec::new(),
            status: None,
            age_status: None,
            disclosed: false,
            // A child's texts are answered (crisis resources, the block), then not kept.
            erase: (turn.user.age_status == AgeStatus::Child).then(|| CHILD_ERASED.to_string()),
        };
        let log = ComplianceLog {
            digest: decided.bundle.map(|d| d.to_string()),
        };
        // The AI disclosure, when due, goes with the turn's first text, whatever it is.
        // A person's very first text always carries it: the host holds to that even
        // where a policy's keyword answers (HELP, STOP) leave it out.
        let disclose = turn.user.last_disclosure_at.is_none()
            || decided
                .value
                .actions
                .iter()
                .any(|a| matches!(a, Action::DisclosureDue));
        let disclose =
            Box::pin(self.escalate_if_needed(&turn, &mut out, &assessment, disclose, &log)).await?;
        let chatted = self
            .act(
                &turn,
                &decided.value.actions,
                &assessment.value,
                disclose,
                &mut out,
                &log,
            )
            .await?;
        self.close(&turn, &out, chatted).await?;
        Ok(true)
    }

    /// Read the turn: the person, their unanswered texts, and what the policies see of
    /// their history. The turn's texts join memory now, so the reply lands after them.
    ///
    /// The store's and memory's calls are boxed: their futures are large (2–4 KB, the
    /// database and Redis clients'), and a task is as large as its largest await.
    /// Conversations spend their time waiting on the model, whose call is small: a
    /// conversation's task went from 4.9 to 2.8 KB (21 MB less at 10,000 in flight).
    async fn gather(&self, user_id: Uuid) -> Result<Option<Gathered>, StoreError> {
        let now = self.clock.now();
        let Some(OpenTurn {
            user,
            pending,
            inbound_since,
            has_history,
        }) = Box::pin(self.store.open_turn(user_id, start_of_day(now))).await?
        else {
            return Ok(None);
        };
        let Some(carrier) = pending.first().map(|(_, c)| *c) else {
            return Ok(None);
        };
        let ids: Vec<Uuid> = pending.iter().map(|(t, _)| t.message_id).collect();
        let text = pending
            .iter()
            .map(|(t, _)| t.text.as_str())
            .collect::<Vec<_>>()
            .join("\n");
        let history: Vec<Turn> = if has_history {
            Box::pin(self.memory.recent_turns(user_id))
                .await?
                .into_iter()
                .filter(|t| !ids.contains(&t.message_id))
                .collect()
        } else {
            Vec::new()
        };
        for (turn, _) in &pending {
            Box::pin(self.memory.remember(user_id, turn)).await;
        }
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
        let asked = Asked {
            inbound: Inbound {
                text,
                // The pipeline's clock (injectable), not the database's.
                received_at: crate::store::millis(now),
            },
            context,
            recent: history.iter().map(policy_turn).collect(),
        };
        let first_at = pending
            .iter()
            .map(|(t, _)| t.at_ms)
            .min()
            .map_or(now, crate::store::from_millis);
        Ok(Some(Gathered {
            user,
            ids,
            carrier,
            now,
            first_at,
            asked: Arc::new(asked),
        }))
    }

    /// Crisis assessment and compliance, in one trip to the policy threads. Compliance
    /// is a pure decision (a failing component is answered by the baseline): deciding
    /// it beside the assessment delays nothing and tells the crisis resources whether
    /// they are the first text this person gets.
    async fn decide(
        &self,
        asked: &Arc<Asked>,
    ) -> (Decided<Assessment>, Decided<jules_policy_model::Decision>) {
        let asked = asked.clone();
        self.policies
            .offload(move |p| {
                (
                    p.assess(&asked.inbound, &asked.context, &asked.recent),
                    p.evaluate(&asked.inbound, &asked.context),
                )
            })
            .await
    }

    /// Write the turn's outcome in one transaction, wake the sender, and remember the
    /// model's reply once it is queued.
    async fn close(
        &self,
        turn: &Gathered,
        out: &TurnOutcome,
        chatted: Option<Chatted>,
    ) -> Result<(), StoreError> {
        let queued = Box::pin(self.store.db().close_turn(out)).await?;
        if !queued.is_empty() {
            self.outbox_ready.notify_one();
        }
        counted(turn, out);
        if out.erase.is_some() {
            forget(&self.memory, turn.user.id).await;
        }
        if let Some(langfuse) = &self.langfuse {
            langfuse.record(trace(
                turn,
                out,
                chatted.as_ref(),
                langfuse.captures_content(),
            ));
        }
        if let Some(Chatted { id, text, .. }) = chatted
            && queued.contains(&id)
        {
            let reply = Turn {
                message_id: id,
                inbound: false,
                text,
                at_ms: crate::store::millis(turn.now),
            };
            Box::pin(self.memory.remember(turn.user.id, &reply)).await;
        }
        Ok(())
    }
}

/// The turn as Langfuse sees it; texts only when they are to be sent (masked later).
fn trace(
    turn: &Gathered,
    out: &TurnOutcome,
    chatted: Option<&Chatted>,
    content: bool,
) -> crate::langfuse::TurnTrace {
    crate::langfuse::TurnTrace {
        id: turn.ids.first().copied().unwrap_or_default(),
        started: turn.first_at,
        ended: SystemTime::now(),
        decisions: out.decisions.clone(),
        attempts: chatted.map(|c| c.attempts.clone()).unwrap_or_default(),
        input: content.then(|| turn.asked.inbound.text.clone()),
        output: chatted.filter(|_| content).map(|c| c.text.clone()),
        name: turn.user.name.clone().filter(|_| content),
    }
}

/// Drop an erased person's memory; if Redis cannot be reached, say how long it keeps it.
pub(crate) async fn forget(memory: &crate::memory::Memory, user: Uuid) {
    if let Err(e) = Box::pin(memory.forget(user)).await {
        tracing::error!(error = %e, "an erased person's memory could not be dropped: Redis keeps it until REDIS_SESSION_TTL after its last write");
    }
}

/// Compliance events of one turn, each naming the compliance bundle that decided.
pub(super) struct ComplianceLog {
    digest: Option<String>,
}

impl ComplianceLog {
    pub fn record(&self, out: &mut TurnOutcome, event: ComplianceEvent, detail: &str) {
        out.compliance.push(ComplianceEntry {
            event,
            detail: detail.to_string(),
            bundle_digest: self.digest.clone(),
        })
    }
}

/// A closed turn in the metrics: its compliance events, and the time from its first
/// text's arrival to its answers being queued.
fn counted(turn: &Gathered, out: &TurnOutcome) {
    metrics::counter!("jules_turns_total").increment(1);
    if let Ok(waited) = SystemTime::now().duration_since(turn.first_at) {
        metrics::histogram!("jules_turn_duration_seconds").record(waited);
    }
    for entry in &out.compliance {
        metrics::counter!("jules_compliance_events_total", "event" => entry.event.as_str())
            .increment(1);
    }
}

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

/// The person's remembered preferences, as facts for the prompt.
pub(super) fn facts(preferences: &serde_json::Value) -> Vec<MemoryFact> {
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

/// A policy decision for the turn's record: which bundle (or fallback) and a summary.
pub(super) fn decision<T>(
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
