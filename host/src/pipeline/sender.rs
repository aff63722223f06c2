//! The outbox sender: sends claimed rows through their carrier and records the
//! outcome — sent (in batches), retry later (exponential backoff with jitter), or dead
//! letter. A message queued before its person opted out is not sent (only the opt-out
//! confirmation and HELP answers are).

use std::time::Duration;

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

    /// Record what the carriers accepted, in batches, until every sender has gone. A
    /// failed write is tried again (backing off, within a quarter of the lease); rows
    /// whose write never succeeds are sent again when their lease ends.
    pub(super) async fn record_sent(self, mut accepted: UnboundedReceiver<Accepted>) {
        let mut batch = Vec::new();
        while accepted.recv_many(&mut batch, RECORD_BATCH).await > 0 {
            let mut wait = Duration::from_millis(100);
            while let Err(e) = self.store.db().mark_sent(&batch).await {
                if wait > self.settings.lease / 4 {
                    tracing::error!(messages = batch.len(), error = %e, "cannot record sent messages; they are sent again when their lease ends");
                    break;
                }
                tracing::warn!(messages = batch.len(), error = %e, ?wait, "cannot record sent messages yet");
                tokio::time::sleep(wait).await;
                wait *= 2;
            }
            batch.clear();
        }
    }

    /// Send one row: Some((outbox id, carrier's id)) when the carrier accepted it;
    /// a retry or a dead letter is recorded here.
    pub(super) async fn deliver(&self, row: Outgoing) -> Result<Option<Accepted>, StoreError> {
        let db = self.store.db();
        // After an opt-out only its confirmation and HELP answers (carriers require
        // those) go out.
        let allowed_after_opt_out =
            matches!(row.purpose, Purpose::OptOutConfirmation | Purpose::Help);
        if row.user_status == UserStatus::OptedOut && !allowed_after_opt_out {
            db.dead_letter(row.outbox_id, "the person opted out before it was sent")
                .await?;
            return Ok(None);
        }
        if row.user_status == UserStatus::Blocked {
            db.dead_letter(row.outbox_id, "the person is blocked")
                .await?;
            return Ok(None);
        }
        match self.carriers.send(&row.carrier, &row.to, &row.text).await {
            Ok(carrier_id) => {
                tracing::info!(outbox = %row.outbox_id, carrier = %row.carrier, attempts = row.attempts, "sent");
                Ok(Some((row.outbox_id, carrier_id.filter(|s| !s.is_empty()))))
            }
            Err(SendError::Retryable(reason)) if row.attempts < self.settings.max_attempts => {
                // The real clock: the database compares due times with its own now().
                let wait = self.outbox_delay(row.attempts);
                tracing::warn!(outbox = %row.outbox_id, attempts = row.attempts, reason = %reason, ?wait, "send failed; will retry");
                db.retry_at(row.outbox_id, &reason, std::time::SystemTime::now() + wait)
                    .await?;
                Ok(None)
            }
            Err(e) => {
                tracing::error!(outbox = %row.outbox_id, attempts = row.attempts, error = %e, "dead-lettered");
                db.dead_letter(row.outbox_id, &e.to_string()).await?;
                Ok(None)
            }
        }
    }
}
