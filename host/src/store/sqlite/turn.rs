//! A conversation turn on the embedded store: as on Postgres, claimed in batches, read
//! together and written in one transaction when it ends.

use std::time::{Duration, SystemTime};

use rusqlite::{OptionalExtension, TransactionBehavior, params};
use uuid::Uuid;

use super::{SqliteStore, USER_COLUMNS, now_ms, parse_user, user_row};
use crate::store::types::*;

impl SqliteStore {
    /// As the Postgres backend: one worker per user, due after `quiet`; the claimed
    /// users' waiting texts are marked processing.
    pub async fn claim_conversations(
        &self,
        limit: i64,
        lease: Duration,
        quiet: Duration,
    ) -> Result<Vec<Uuid>, StoreError> {
        let (lease_ms, quiet_ms) = (lease.as_millis() as i64, quiet.as_millis() as i64);
        self.with(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let now = now_ms();
            let ids: Vec<Uuid> = {
                let mut stmt = tx.prepare(
                    "UPDATE users SET busy_until = ?1 + ?2
                     WHERE id IN (
                         SELECT m.user_id FROM messages m JOIN users u ON u.id = m.user_id
                         WHERE m.direction = 'in' AND m.status = 'received'
                           AND (u.busy_until IS NULL OR u.busy_until < ?1)
                         GROUP BY m.user_id
                         HAVING max(m.created_at) <= ?1 - ?3 OR min(m.created_at) <= ?1 - 4 * ?3
                         ORDER BY min(m.created_at)
                         LIMIT ?4)
                       AND (busy_until IS NULL OR busy_until < ?1)
                     RETURNING id",
                )?;
                let ids = stmt.query_map(params![now, lease_ms, quiet_ms, limit], |r| r.get(0))?;
                ids.collect::<Result<_, _>>()?
            };
            for id in &ids {
                tx.execute(
                    "UPDATE messages SET status = 'processing', updated_at = ?2
                     WHERE user_id = ?1 AND direction = 'in' AND status = 'received'",
                    params![id, now],
                )?;
            }
            tx.commit()?;
            Ok(ids)
        })
        .await
    }

    pub async fn release_conversation(
        &self,
        user: Uuid,
        retry_in: Duration,
    ) -> Result<(), StoreError> {
        let retry_ms = retry_in.as_millis() as i64;
        self.with(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let now = now_ms();
            tx.execute(
                "UPDATE messages SET status = 'received', updated_at = ?2
                 WHERE user_id = ?1 AND direction = 'in' AND status = 'processing'",
                params![user, now],
            )?;
            let until = (retry_ms > 0).then_some(now + retry_ms);
            tx.execute(
                "UPDATE users SET busy_until = ?2 WHERE id = ?1",
                params![user, until],
            )?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    pub async fn recover_conversations(&self) -> Result<u64, StoreError> {
        self.with(move |c| {
            let n = c.execute(
                "UPDATE messages SET status = 'received', updated_at = ?1
                 WHERE direction = 'in' AND status = 'processing'
                   AND user_id IN (SELECT id FROM users
                                   WHERE busy_until IS NULL OR busy_until < ?1)",
                params![now_ms()],
            )?;
            Ok(n as u64)
        })
        .await
    }

    /// As the Postgres backend: the user, their unanswered texts, their inbound count
    /// since `since` and whether they have other messages.
    pub async fn open_turn(
        &self,
        user: Uuid,
        since: SystemTime,
    ) -> Result<Option<TurnRow>, StoreError> {
        let since = millis(since);
        self.with(move |c| {
            let tx = c.transaction()?;
            let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = ?1");
            let Some(row) = tx.query_row(&sql, params![user], user_row).optional()? else {
                return Ok(None);
            };
            let pending = {
                let mut stmt = tx.prepare(
                    "SELECT id, body, created_at, carrier FROM messages
                     WHERE user_id = ?1 AND direction = 'in'
                       AND status IN ('received', 'processing')
                     ORDER BY created_at, rowid",
                )?;
                let rows = stmt.query_map(params![user], |r| {
                    Ok(MessageRow {
                        id: r.get(0)?,
                        direction: Direction::In,
                        body: r.get(1)?,
                        status: MessageStatus::Processing,
                        created_at: from_millis(r.get(2)?),
                        carrier: r.get(3)?,
                    })
                })?;
                rows.collect::<Result<Vec<_>, _>>()?
            };
            let (today, history) = tx.query_row(
                "SELECT (SELECT count(*) FROM messages
                         WHERE user_id = ?1 AND direction = 'in'
                           AND created_at >= ?2 - 86400000
                           AND coalesce(received_at, created_at) >= ?2),
                        EXISTS (SELECT 1 FROM messages WHERE user_id = ?1
                                AND NOT (direction = 'in' AND status IN ('received', 'processing')))",
                params![user, since],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            Ok(Some(TurnRow {
                user: parse_user(row)?,
                pending,
                inbound_since: today,
                has_history: history,
            }))
        })
        .await
    }

    /// As the Postgres backend: the turn recorded and the conversation released in
    /// one transaction; returns the ids of the replies queued.
    pub async fn close_turn(&self, t: &TurnOutcome) -> Result<Vec<Uuid>, StoreError> {
        let t = t.clone();
        self.with(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let (now, at, first) = (now_ms(), millis(t.at), t.texts.first().copied());
            for d in &t.decisions {
                tx.execute(
                    "INSERT INTO policy_decisions
                         (message_id, world, bundle_digest, fallback, summary)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![
                        first,
                        d.world,
                        d.bundle_digest,
                        d.fallback,
                        d.summary.to_string()
                    ],
                )?;
            }
            let mut queued = Vec::new();
            for r in &t.replies {
                let inserted = tx.execute(
                    "INSERT INTO messages (id, user_id, direction, carrier, body, status,
                                           segments, reply_to, purpose)
                     VALUES (?1, ?2, 'out', ?3, ?4, 'queued', ?5, ?6, ?7)
                     ON CONFLICT (reply_to, purpose) WHERE reply_to IS NOT NULL DO NOTHING",
                    params![
                        r.message_id,
                        t.user_id,
                        t.carrier.as_str(),
                        r.body,
                        r.segments,
                        first,
                        r.purpose.as_str()
                    ],
                )?;
                if inserted == 1 {
                    tx.execute(
                        "INSERT INTO outbox (id, message_id, user_id, carrier)
                         VALUES (?1, ?2, ?3, ?4)",
                        params![Uuid::new_v4(), r.message_id, t.user_id, t.carrier.as_str()],
                    )?;
                    queued.push(r.message_id);
                }
            }
            for e in &t.compliance {
                tx.execute(
                    "INSERT INTO compliance_log (user_id, event, detail, bundle_digest, occurred_at)
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                    params![t.user_id, e.event.as_str(), e.detail, e.bundle_digest, at],
                )?;
            }
            for id in &t.texts {
                tx.execute(
                    "UPDATE messages SET status = 'replied', updated_at = ?2 WHERE id = ?1",
                    params![id, now],
                )?;
            }
            tx.execute(
                "UPDATE users SET busy_until = NULL,
                        status = coalesce(?2, status),
                        opted_out_at = CASE WHEN ?2 = 'opted-out' THEN ?3 ELSE opted_out_at END,
                        opted_in_at = CASE WHEN ?2 = 'active' AND status = 'opted-out' THEN ?3
                                           ELSE opted_in_at END,
                        -- A decision that landed during the turn outranks its 'pending'.
                        age_status = CASE WHEN ?4 = 'pending' AND age_status <> 'unknown'
                                          THEN age_status ELSE coalesce(?4, age_status) END,
                        last_disclosure_at = CASE WHEN ?5 THEN ?3 ELSE last_disclosure_at END,
                        updated_at = ?6
                 WHERE id = ?1",
                params![
                    t.user_id,
                    t.status.map(|s| s.as_str()),
                    at,
                    t.age_status.map(|a| a.as_str()),
                    t.disclosed,
                    now
                ],
            )?;
            if let Some(detail) = &t.erase {
                super::erase::erase_in(&tx, t.user_id, t.at, detail)?;
            }
            tx.commit()?;
            Ok(queued)
        })
        .await
    }
}
