//! The outbox sender: claims due rows, sends them through their carrier, and records
//! the outcome — sent, retry later (exponential backoff with jitter), or dead letter.
//! A message queued before its person opted out is not sent (only the opt-out
//! confirmation and HELP answers are).

use std::time::Duration;

use rand::Rng;
use uuid::Uuid;

use super::Pipeline;
use crate::carrier::SendError;
use crate::store::{Outgoing, Purpose, StoreError, UserStatus};

const MAX_DELAY: Duration = Duration::from_secs(300);

impl Pipeline {
    /// The wait before attempt `attempts + 1`: base · 2^(attempts − 1), capped, with
    /// jitter down to half so retries of many messages spread out.
    pub fn outbox_delay(&self, attempts: i32) -> Duration {
        let exp = 1u32 << (attempts.clamp(1, 20) - 1) as u32;
        let d = self.settings.retry_base.saturating_mul(exp).min(MAX_DELAY);
        d.mul_f64(rand::thread_rng().gen_range(0.5..=1.0))
    }

    /// Claim and send one batch; how many rows it handled. What the carriers accepted
    /// is recorded in one round trip once the batch is done.
    pub async fn send_due(&self, batch: i64) -> Result<usize, StoreError> {
        let rows = self.store.claim(batch, self.settings.lease).await?;
        let n = rows.len();
        let sends = rows.into_iter().map(|row| self.deliver(row));
        let mut sent = Vec::with_capacity(n);
        let mut failed = None;
        for r in futures::future::join_all(sends).await {
            match r {
                Ok(Some(accepted)) => sent.push(accepted),
                Ok(None) => {}
                Err(e) => failed = Some(e),
            }
        }
        self.store.db().mark_sent(&sent).await?;
        failed.map_or(Ok(n), Err)
    }

    /// Send one row: Some((outbox id, carrier's id)) when the carrier accepted it;
    /// a retry or a dead letter is recorded here.
    async fn deliver(&self, row: Outgoing) -> Result<Option<(Uuid, Option<String>)>, StoreError> {
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
