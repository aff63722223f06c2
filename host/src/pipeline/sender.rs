//! The outbox sender: sends claimed rows through their carrier and records the
//! outcome — sent (in batches), retry later (exponential backoff with jitter), or dead
//! letter. Every attempt is on record before the carrier is called (the claim), so an
//! attempt whose outcome is unknown — a timeout, a dropped connection, a host killed
//! before it recorded the send — is settled by asking the carrier before any resend:
//! at most one text per outbox row. A message queued before its person opted out is
//! not sent (only the opt-out confirmation and HELP answers are).

use std::time::{Duration, SystemTime};

use rand::Rng;
use tokio::sync::mpsc::UnboundedReceiver;
use uuid::Uuid;

use super::Pipeline;
use crate::carrier::SendError;
use crate::store::{Outgoing, Purpose, StoreError, UserStatus};

const MAX_DELAY: Duration = Duration::from_secs(300);

/// Sent marks written in one statement at most.
const RECORD_BATCH: usize = 256;

/// A message the carrier accepted: its outbox id, and the carrier's id when it gave one.
pub(super) type Accepted = (Uuid, Option<String>);

impl Pipeline {
    /// The wait before attempt `attempts + 1`: base · 2^(attempts − 1), capped, with
    /// jitter down to half so retries of many messages spread out.
    pub fn outbox_delay(&self, attempts: i32) -> Duration {
        let exp = 1u32 << (attempts.clamp(1, 20) - 1) as u32;
        let d = self.settings.retry_base.saturating_mul(exp).min(MAX_DELAY);
        d.mul_f64(rand::thread_rng().gen_range(0.5..=1.0))
    }

    /// Record what the carriers took, in batches, until every sender has gone. A failed
    /// write is tried again (backing off, within a quarter of the lease); a row whose
    /// write never succeeds is claimed again when its lease ends and settled by asking
    /// the carrier, not sent twice. A record frees its person's next message for the
    /// next claim (the poll's; waking the sender for every record cost more claims
    /// than the rare second message gains).
    pub(super) async fn record_sent(self, mut accepted: UnboundedReceiver<Accepted>) {
        let mut batch = Vec::new();
        while accepted.recv_many(&mut batch, RECORD_BATCH).await > 0 {
            let mut wait = Duration::from_millis(100);
            while let Err(e) = self.store.db().mark_sent(&batch).await {
                if wait > self.settings.lease / 4 {
                    tracing::error!(messages = batch.len(), error = %e, "cannot record sent messages; the carrier is asked about them when their lease ends");
                    break;
                }
                tracing::warn!(messages = batch.len(), error = %e, ?wait, "cannot record sent messages yet");
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
            batch.clear();
        }
    }

    /// Send one row: Some((outbox id, carrier's id)) when the carrier took it (now or
    /// in an earlier attempt whose outcome was unknown); a retry or a dead letter is
    /// recorded here.
    pub(super) async fn deliver(&self, row: Outgoing) -> Result<Option<Accepted>, StoreError> {
        let db = self.store.db();
        // After an opt-out only its confirmation and HELP answers (carriers require
        // those) go out, and crisis resources (an answer to the person's own message).
        let allowed_after_opt_out = matches!(
            row.purpose,
            Purpose::OptOutConfirmation | Purpose::Help | Purpose::CrisisResources
        );
        if row.user_status == UserStatus::OptedOut && !allowed_after_opt_out {
            counted(&row, "dead-letter", "opted-out");
            db.dead_letter(row.outbox_id, "the person opted out before it was sent")
                .await?;
            return Ok(None);
        }
        if row.user_status == UserStatus::Blocked {
            counted(&row, "dead-letter", "blocked");
            db.dead_letter(row.outbox_id, "the person is blocked")
                .await?;
            return Ok(None);
        }
        if let Some(since) = row.in_doubt_since {
            match self.settle(&row, since).await? {
                Settled::Taken(carrier_id) => return Ok(Some((row.outbox_id, carrier_id))),
                Settled::Send => {}
                Settled::Later => return Ok(None),
            }
        }
        match self
            .carriers
            .send(row.carrier, &row.to, &row.text, row.outbox_id)
            .await
        {
            Ok(carrier_id) => {
                tracing::info!(outbox = %row.outbox_id, carrier = %row.carrier, attempts = row.attempts, "sent");
                counted(&row, "sent", "");
                Ok(Some((row.outbox_id, carrier_id.filter(|s| !s.is_empty()))))
            }
            Err(SendError::NotSent(reason)) if row.attempts < self.settings.max_attempts => {
                let wait = self.outbox_delay(row.attempts);
                tracing::warn!(outbox = %row.outbox_id, attempts = row.attempts, reason = %reason, ?wait, "send failed; will retry");
                counted(&row, "retry", "");
                // The real clock: the database compares due times with its own now().
                db.retry_at(row.outbox_id, &reason, SystemTime::now() + wait, false)
                    .await?;
                Ok(None)
            }
            Err(SendError::Unknown(reason)) => {
                // Asked once the carrier has had time to list it: the next claim
                // settles it, whatever attempts are left (see `settle`).
                let wait = self
                    .outbox_delay(row.attempts)
                    .max(self.settings.settle_after);
                tracing::warn!(outbox = %row.outbox_id, attempts = row.attempts, reason = %reason, ?wait, "send outcome unknown; the carrier is asked before any resend");
                counted(&row, "unknown", "");
                db.retry_at(row.outbox_id, &reason, SystemTime::now() + wait, true)
                    .await?;
                Ok(None)
            }
            Err(e) => {
                tracing::error!(outbox = %row.outbox_id, attempts = row.attempts, error = %e, "dead-lettered");
                counted(&row, "dead-letter", "refused");
                db.dead_letter(row.outbox_id, &e.to_string()).await?;
                Ok(None)
            }
        }
    }

    /// An earlier attempt's outcome is unknown: ask the carrier whether it took the
    /// message. Never taken: sent again while attempts are left, else dead-lettered.
    /// If the carrier cannot say once the attempts are spent, a duplicate is the lesser
    /// harm only for crisis resources (sent one last time); anything else is
    /// dead-lettered with an alert rather than risk texting a person twice.
    async fn settle(&self, row: &Outgoing, since: SystemTime) -> Result<Settled, StoreError> {
        let (db, max) = (self.store.db(), self.settings.max_attempts);
        let resend = || async {
            Ok(if db.resend(row.outbox_id).await? {
                Settled::Send
            } else {
                Settled::Later
            })
        };
        let listed = self
            .carriers
            .find(row.carrier, &row.to, &row.text, since)
            .await;
        let lookup = match listed {
            Ok(ids) => {
                let known = db.known_carrier_ids(row.carrier.as_str(), &ids).await?;
                Ok(ids.into_iter().find(|id| !known.contains(id)))
            }
            Err(reason) => Err(reason),
        };
        match lookup {
            Ok(Some(carrier_id)) => {
                tracing::info!(outbox = %row.outbox_id, carrier = %row.carrier, "the carrier took it in an earlier attempt; not sent again");
                Ok(Settled::Taken(Some(carrier_id).filter(|s| !s.is_empty())))
            }
            Ok(None) if row.attempts > max => {
                tracing::error!(outbox = %row.outbox_id, attempts = row.attempts, "dead-lettered: the carrier never took it");
                counted(row, "dead-letter", "never-taken");
                db.dead_letter(row.outbox_id, "the carrier never took it; no attempts left")
                    .await?;
                Ok(Settled::Later)
            }
            Ok(None) => {
                tracing::info!(outbox = %row.outbox_id, carrier = %row.carrier, "the carrier never took it; sending again");
                resend().await
            }
            Err(reason) if row.attempts <= max => {
                let wait = self.outbox_delay(row.attempts);
                tracing::warn!(outbox = %row.outbox_id, attempts = row.attempts, reason = %reason, ?wait, "cannot ask the carrier yet");
                db.retry_at(row.outbox_id, &reason, SystemTime::now() + wait, true)
                    .await?;
                Ok(Settled::Later)
            }
            Err(reason) if row.purpose == Purpose::CrisisResources && row.attempts == max + 1 => {
                tracing::error!(alert = true, outbox = %row.outbox_id, reason = %reason, "the carrier cannot say whether it took crisis resources; sending them again (a duplicate is the lesser harm)");
                resend().await
            }
            Err(reason) => {
                tracing::error!(alert = true, outbox = %row.outbox_id, reason = %reason, "the carrier cannot say whether it took this message; dead-lettered rather than risk a duplicate");
                counted(row, "dead-letter", "outcome-unknown");
                let why =
                    format!("outcome unknown, the carrier cannot say ({reason}); not sent again");
                db.dead_letter(row.outbox_id, &why).await?;
                Ok(Settled::Later)
            }
        }
    }
}

/// What asking the carrier about an earlier attempt decided.
enum Settled {
    /// It took the message (under this id): record it as sent.
    Taken(Option<String>),
    /// It never did: send now.
    Send,
    /// Nothing to send now (retry, dead letter, or settled meanwhile).
    Later,
}

/// Counts a send attempt's outcome (`jules_sends_total`) and, for a dead letter, why
/// (`jules_dead_letters_total`).
fn counted(row: &Outgoing, outcome: &'static str, reason: &'static str) {
    let carrier = row.carrier.as_str();
    metrics::counter!("jules_sends_total", "carrier" => carrier, "outcome" => outcome).increment(1);
    if outcome == "dead-letter" {
        metrics::counter!("jules_dead_letters_total", "carrier" => carrier, "reason" => reason)
            .increment(1);
    }
}
