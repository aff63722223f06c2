//! Erasing a person on Postgres (see migrations/postgres/0012_erasure.sql), inside the
//! caller's transaction: the turn that closes a child's texts, an age decision that
//! finds a child, or a request.

use std::time::SystemTime;

use uuid::Uuid;

use super::PgStore;
use crate::store::types::*;

/// Erase `user_id` in `tx`: the bodies of their messages, their age-check links, name,
/// email and preferences. Texts not answered yet are kept for their turn — one may be a
/// crisis, and a child's turn erases them once answered — and so are messages still
/// waiting to be sent. The log records it with `detail`.
pub(super) async fn erase_in(
    tx: &tokio_postgres::Transaction<'_>,
    user_id: Uuid,
    at: SystemTime,
    detail: &str,
) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE messages m SET body = ''::bytea, updated_at = now()
         WHERE m.user_id = $1 AND octet_length(m.body) > 0
           AND m.status NOT IN ('received', 'processing')
           AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.message_id = m.id
                           AND o.sent_at IS NULL AND o.dead_lettered_at IS NULL)",
        &[&user_id],
    )
    .await?;
    tx.execute(
        "UPDATE age_checks SET url = ''::bytea WHERE user_id = $1",
        &[&user_id],
    )
    .await?;
    tx.execute(
        "UPDATE users SET name = NULL, email = NULL, preferences = NULL, erased_at = $2,
                updated_at = now()
         WHERE id = $1",
        &[&user_id, &at],
    )
    .await?;
    tx.execute(
        "INSERT INTO compliance_log (user_id, event, detail, occurred_at)
         VALUES ($1, 'erased', $2, $3)",
        &[&user_id, &detail, &at],
    )
    .await?;
    Ok(())
}

impl PgStore {
    /// Erase a person on request, and queue `notice` (through the carrier of their last
    /// text) after. False when no such person exists.
    pub async fn erase_person(
        &self,
        user_id: Uuid,
        at: SystemTime,
        detail: &str,
        notice: Option<&SealedReply>,
    ) -> Result<bool, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let Some(person) = tx
            .query_opt(
                "SELECT (SELECT carrier FROM messages WHERE user_id = u.id AND direction = 'in'
                         ORDER BY created_at DESC LIMIT 1)
                 FROM users u WHERE u.id = $1 FOR UPDATE",
                &[&user_id],
            )
            .await?
        else {
            return Ok(false);
        };
        let carrier: Option<String> = person.get(0);
        erase_in(&tx, user_id, at, detail).await?;
        if let (Some(r), Some(carrier)) = (notice, carrier) {
            queue_in(&tx, user_id, &carrier, r).await?;
        }
        tx.commit().await?;
        Ok(true)
    }
}

/// Queue `r` for `user_id` through `carrier`, answering nothing in particular.
pub(super) async fn queue_in(
    tx: &tokio_postgres::Transaction<'_>,
    user_id: Uuid,
    carrier: &str,
    r: &SealedReply,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO messages (id, user_id, direction, carrier, body, status, segments, purpose)
         VALUES ($1, $2, 'out', $3, $4, 'queued', $5, $6)",
        &[
            &r.message_id,
            &user_id,
            &carrier,
            &r.body,
            &r.segments,
            &r.purpose.as_str(),
        ],
    )
    .await?;
    tx.execute(
        "INSERT INTO outbox (id, message_id, user_id, carrier) VALUES ($1, $2, $3, $4)",
        &[&Uuid::new_v4(), &r.message_id, &user_id, &carrier],
    )
    .await?;
    Ok(())
}
