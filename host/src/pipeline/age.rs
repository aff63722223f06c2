//! The age prompt of a turn, with what verifying needs: the person's open Veriff link
//! (a new session when they have none open), or in development the stand-in's
//! instructions — and, when the stand-in's person texted a date of birth, its decision.

use std::time::SystemTime;

use super::Pipeline;
use super::conversation::{ComplianceLog, Gathered};
use crate::age::{AgeVerifier, SESSION_LIFETIME, Veriff, birth, outcome_text, texts};
use crate::store::{
    AgeStatus, CHILD_ERASED, CheckStatus, ComplianceEvent, NewCheck, StoreError, TurnOutcome,
};

/// What a person waiting for an age check is sent besides the prompt.
enum Link {
    Open(String),
    /// Veriff is reviewing their attempt: no new session.
    InReview,
    /// Veriff could not make a session (counted and logged).
    Failed,
}

impl Pipeline {
    /// The text answering a turn the compliance policy met with `prompt`. An error
    /// reading or writing the store fails the turn (it is tried again); a provider
    /// that fails leaves the prompt saying how to get the link later.
    pub(super) async fn age_prompt(
        &self,
        turn: &Gathered,
        prompt: &str,
        out: &mut TurnOutcome,
        log: &ComplianceLog,
    ) -> Result<String, StoreError> {
        match &*self.age {
            AgeVerifier::Veriff(veriff) => Ok(match self.veriff_link(veriff, turn).await? {
                Link::Open(url) => format!("{prompt}\n{}{url}", texts::LINK),
                // Veriff is deciding: the bundle's pending text says so.
                Link::InReview => prompt.to_string(),
                Link::Failed => format!("{prompt}\n{}", texts::NO_LINK_YET),
            }),
            AgeVerifier::StandIn => Ok(self
                .stand_in(turn, out, log)
                .map(str::to_string)
                .unwrap_or_else(|| format!("{prompt}\n{}", texts::STAND_IN))),
            AgeVerifier::Missing => {
                tracing::error!(
                    "the compliance policy asks for age verification but no provider is configured (VERIFF_API_KEY): the prompt goes out without a link"
                );
                Ok(prompt.to_string())
            }
        }
    }

    /// The person's open link, or a new session's.
    async fn veriff_link(&self, veriff: &Veriff, turn: &Gathered) -> Result<Link, StoreError> {
        let user = turn.user.id;
        let latest = Box::pin(self.store.latest_age_check(user)).await?;
        match latest {
            Some(check) if check.open_at(turn.now) => return Ok(Link::Open(check.url)),
            Some(check) if check.status == CheckStatus::Review => return Ok(Link::InReview),
            _ => {}
        }
        let id = uuid::Uuid::new_v4();
        let session = match veriff.create_session(id).await {
            Ok(session) => session,
            Err(e) => {
                metrics::counter!("jules_age_checks_total", "provider" => "veriff", "outcome" => "failed")
                    .increment(1);
                tracing::warn!(error = %e, "no Veriff session: the person is told to ask again");
                return Ok(Link::Failed);
            }
        };
        Box::pin(self.store.add_age_check(&NewCheck {
            id,
            user_id: user,
            session_id: &session.id,
            url: &session.url,
            carrier: turn.carrier,
            at: SystemTime::now(),
            expires_at: SystemTime::now() + SESSION_LIFETIME,
        }))
        .await?;
        metrics::counter!("jules_age_checks_total", "provider" => "veriff", "outcome" => "created")
            .increment(1);
        Ok(Link::Open(session.url))
    }

    /// Development: a pending person's text that is a date of birth decides their age.
    fn stand_in(
        &self,
        turn: &Gathered,
        out: &mut TurnOutcome,
        log: &ComplianceLog,
    ) -> Option<&'static str> {
        if turn.user.age_status != AgeStatus::Pending {
            return None;
        }
        let born = birth::parse(&turn.asked.inbound.text)?;
        let today = chrono::DateTime::<chrono::Utc>::from(turn.now).date_naive();
        let age = birth::status(born, today)?;
        out.age_status = Some(age);
        if age == AgeStatus::Child {
            out.erase = Some(CHILD_ERASED.to_string());
        }
        log.record(
            out,
            ComplianceEvent::AgeDecision,
            &format!("development stand-in: {age}"),
        );
        outcome_text(age)
    }
}
