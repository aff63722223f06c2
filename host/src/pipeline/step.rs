//! Stepping the pipeline by hand, in the calling task, for tests: everything due now is
//! answered and sent, one at a time, and nothing runs after it returns — so a test sees
//! the pipeline's whole effect of its input, and an extra send it should not make would
//! have been made already (zero2prod's `dispatch_all_pending_emails`).

use super::Pipeline;
use crate::store::StoreError;

/// What one `run_until_idle` did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stepped {
    /// Conversations claimed (each answered, or released to wait).
    pub conversations: usize,
    /// Outbox rows claimed (each sent, retried later, settled or dead-lettered).
    pub sends: usize,
}

/// Claimed at once at most, per step.
const BATCH: i64 = 64;

impl Pipeline {
    /// Answer every conversation and deliver every outbox row that is due now, then
    /// whatever that queued, until a step finds nothing due. Work scheduled for later (a
    /// retry's backoff, a quiet window, a lease) is left; the background workers
    /// (`spawn`) must not be running.
    pub async fn run_until_idle(&self) -> Result<Stepped, StoreError> {
        let (db, s) = (self.store.db(), &self.settings);
        let mut total = Stepped::default();
        loop {
            db.recover_conversations().await?;
            let users = db.claim_conversations(BATCH, s.lease, s.quiet).await?;
            for user in &users {
                // As in the workers: a failed turn is released to be tried again later.
                if let Err(e) = self.process(*user).await {
                    tracing::error!(user = %user, error = %e, "conversation failed");
                }
            }
            let rows = self.store.claim(BATCH, s.lease).await?;
            let claimed = rows.len();
            let mut accepted = Vec::new();
            for row in rows {
                accepted.extend(self.deliver(row).await?);
            }
            if !accepted.is_empty() {
                db.mark_sent(&accepted).await?;
            }
            if users.is_empty() && claimed == 0 {
                return Ok(total);
            }
            total.conversations += users.len();
            total.sends += claimed;
        }
    }
}
