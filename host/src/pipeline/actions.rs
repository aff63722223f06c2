//! What the compliance decision asks for, in its order: keyword answers, blocks, the
//! age prompt, or a reply from the model — each shaped, with the disclosure when due.

use std::sync::Arc;

use jules_policy_model::{Action, Assessment, Outbound, World};
use serde_json::json;
use uuid::Uuid;

use super::Pipeline;
use super::conversation::{ComplianceLog, Gathered, decision, facts};
use super::shadow::Asking;
use crate::policy::PromptInput;
use crate::store::{AgeStatus, ComplianceEvent, Purpose, StoreError, TurnOutcome, UserStatus};

/// The model's reply of a turn: its message id, its text as sent, the calls made for it.
pub(super) struct Chatted {
    pub id: Uuid,
    pub text: String,
    pub attempts: Vec<crate::llm::Attempt>,
}

impl Pipeline {
    /// Apply `actions`; returns the model's reply if one was written. Fails only when the store does (opening an age check).
    pub(super) async fn act(
        &self,
        turn: &Gathered,
        actions: &[Action],
        assessment: &Assessment,
        mut disclose: bool,
        out: &mut TurnOutcome,
        log: &ComplianceLog,
    ) -> Result<Option<Chatted>, StoreError> {
        if let Some(answer) = self.account_request(turn, actions, out, log).await? {
            let shaped = self.shape(&answer, disclose).await;
            out.replies.push(self.store.sealed_reply(
                Purpose::Reply,
                &shaped.text,
                shaped.segments as i32,
            ));
            if disclose {
                out.disclosed = true;
                log.record(
                    out,
                    ComplianceEvent::DisclosureSent,
                    "with an account answer",
                );
            }
            return Ok(None);
        }
        let user = &turn.user;
        let mut chatted = None;
        let mut age_text: String;
        for action in actions {
            let fixed: Option<(Purpose, &String)> = match action {
                Action::OptOut(confirmation) => (user.status != UserStatus::OptedOut).then(|| {
                    out.status = Some(UserStatus::OptedOut);
                    log.record(out, ComplianceEvent::OptOut, "keyword");
                    (Purpose::OptOutConfirmation, confirmation)
                }),
                Action::OptIn(confirmation) => {
                    out.status = Some(UserStatus::Active);
                    log.record(out, ComplianceEvent::OptIn, "keyword");
                    Some((Purpose::OptInConfirmation, confirmation))
                }
                Action::Help(text) => {
                    log.record(out, ComplianceEvent::HelpSent, "keyword");
                    Some((Purpose::Help, text))
                }
                Action::Block(blocked) => {
                    let reason = serde_json::to_value(blocked.reason).unwrap_or_default();
                    log.record(
                        out,
                        ComplianceEvent::Blocked,
                        reason.as_str().unwrap_or("blocked"),
                    );
                    blocked
                        .reply
                        .as_ref()
                        .filter(|_| user.status != UserStatus::OptedOut)
                        .map(|reply| (Purpose::Blocked, reply))
                }
                Action::RequireAgeVerification(prompt) => {
                    if user.age_status == AgeStatus::Unknown {
                        out.age_status = Some(AgeStatus::Pending);
                    }
                    log.record(out, ComplianceEvent::AgeVerificationRequired, "");
                    age_text = self.age_prompt(turn, prompt, out, log).await?;
                    Some((Purpose::AgeVerification, &age_text))
                }
                Action::DisclosureDue => None,
                Action::CallLlm => {
                    chatted = Some(self.chat(turn, assessment, disclose, out).await);
                    if disclose {
                        disclose = false;
                        out.disclosed = true;
                        log.record(out, ComplianceEvent::DisclosureSent, "with reply");
                    }
                    None
                }
            };
            if let Some((purpose, text)) = fixed {
                let shaped = self.shape(text, disclose).await;
                out.replies.push(self.store.sealed_reply(
                    purpose,
                    &shaped.text,
                    shaped.segments as i32,
                ));
                if disclose {
                    disclose = false;
                    out.disclosed = true;
                    log.record(out, ComplianceEvent::DisclosureSent, purpose.as_str());
                }
            }
        }
        Ok(chatted)
    }

    /// Ask the model; the reply (shaped, with the disclosure when due) joins the turn's
    /// answers. Returns its message id and text.
    async fn chat(
        &self,
        turn: &Gathered,
        assessment: &Assessment,
        disclose: bool,
        out: &mut TurnOutcome,
    ) -> Chatted {
        // The user row was just read: its preferences are the freshest copy.
        // Shared with a prompt shadow, when there is one, without a copy.
        let facts: Arc<Vec<_>> = Arc::new(
            turn.user
                .preferences
                .as_ref()
                .map(facts)
                .unwrap_or_default(),
        );
        let (asked, crisis, built_on) = (turn.asked.clone(), assessment.clone(), facts.clone());
        let request = self
            .policies
            .offload(move |p| {
                p.build(&PromptInput {
                    message: &asked.inbound,
                    user: &asked.context,
                    recent: &asked.recent,
                    facts: &built_on,
                    crisis: &crisis,
                })
            })
            .await;
        if let Some(&last) = turn.ids.last() {
            self.shadow.offer(
                last,
                &turn.asked,
                || Asking::Prompt {
                    facts,
                    crisis: assessment.clone(),
                    active: request.value.clone(),
                },
                World::PromptBuilder,
                request.bundle.map(|d| d.to_string()),
            );
        }
        out.decisions.push(decision("prompt-builder", &request, |r| {
            json!({"crisis-mode": r.crisis_mode, "messages": r.messages.len(), "max-tokens": r.max_tokens})
        }));
        let reply = self.responder.reply(&request.value).await;
        tracing::info!(source = reply.source.as_str(), "reply written");
        let shaped = self.shape(&reply.text, disclose).await;
        let sealed = self
            .store
            .sealed_reply(Purpose::Reply, &shaped.text, shaped.segments as i32);
        let id = sealed.message_id;
        out.replies.push(sealed);
        Chatted {
            id,
            text: shaped.text,
            attempts: reply.attempts,
        }
    }

    /// A text as it goes out: the compliance policy's shaping, with the disclosure when
    /// `disclose`.
    pub async fn shape(&self, text: &str, disclose: bool) -> Outbound {
        let text = text.to_owned();
        self.policies
            .offload(move |p| p.shape(&text, disclose).value)
            .await
    }
}
