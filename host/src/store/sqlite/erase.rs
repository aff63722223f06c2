//! Erasing a person on the embedded store, as on Postgres.

use std::time::SystemTime;

use rusqlite::{OptionalExtension, TransactionBehavior, params};
use uuid::Uuid;

use super::{SqliteStore, now_ms};
use crate::store::types::*;

/// Erase `user_id` in `tx` (see the Postgres backend's `erase_in`).
pub(super) fn erase_in(
    tx: &rusqlite::Transaction<'_>,
    user_id: Uuid,
    at: SystemTime,
    detail: &str,
) -> Result<(), StoreError> {
    let now = now_ms();
    tx.execute(
        "UPDATE messages SET body = X'', updated_at = ?2
         WHERE user_id = ?1 AND length(body) > 0
           AND status NOT IN ('received', 'processing')
           AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.message_id = messages.id
                           AND o.sent_at IS NULL AND o.dead_lettered_at IS NULL)",
        params![user_id, now],
    )?;
    tx.execute(
        "UPDATE age_checks SET url = X'' WHERE user_id = ?1",
        params![user_id],
    )?;
    tx.execute(
        "UPDATE users SET name = NULL, email = NULL, preferences = NULL, erased_at = ?2,
                updated_at = ?3
         WHERE id = ?1",
        params![user_id, millis(at), now],
    )?;
    tx.execute(
        "INSERT INTO compliance_log (user_id, event, detail, occurred_at)
         VALUES (?1, 'erased', ?2, ?3)",
        params![user_id, detail, millis(at)],
    )?;
    Ok(())
}

/// Queue `r` for `user_id` through `carrier`, answering nothing in particular.
pub(super) fn queue_in(
    tx: &rusqlite::Transaction<'_>,
    user_id: Uuid,
    carrier: &str,
    r: &SealedReply,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO messages (id, user_id, direction, carrier, body, status, segments, purpose)
         VALUES (?1, ?2, 'out', ?3, ?4, 'queued', ?5, ?6)",
        params![
            r.message_id,
            user_id,
            carrier,
            r.body,
            r.segments,
            r.purpose.as_str()
        ],
    )?;
    tx.execute(
        "INSERT INTO outbox (id, message_id, user_id, carrier) VALUES (?1, ?2, ?3, ?4)",
        params![Uuid::new_v4(), r.message_id, user_id, carrier],
    )?;
    Ok(())
}

impl SqliteStore {
    pub async fn erase_person(
        &self,
        user_id: Uuid,
        at: SystemTime,
        detail: &str,
        notice: Option<&SealedReply>,
    ) -> Result<bool, StoreError> {
        let (detail, notice) = (detail.to_owned(), notice.cloned());
        self.with(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let Some(carrier) = tx
                .query_row(
                    "SELECT (SELECT carrier FROM messages WHERE user_id = u.id AND direction = 'in'
                             ORDER BY created_at DESC LIMIT 1)
                     FROM users u WHERE u.id = ?1",
                    params![user_id],
                    |r| r.get::<_, Option<String>>(0),
                )
                .optional()?
            else {
                return Ok(false);
            };
            erase_in(&tx, user_id, at, &detail)?;
            if let (Some(r), Some(carrier)) = (&notice, carrier) {
                queue_in(&tx, user_id, &carrier, r)?;
            }
            tx.commit()?;
            Ok(true)
        })
        .await
    }
}
