//! The outbox on the embedded store: as on Postgres, one open row per person at a time,
//! each attempt on record before the carrier is called. The write transaction is
//! exclusive, so two workers never claim the same row.

use std::time::{Duration, SystemTime};

use rusqlite::{TransactionBehavior, params};
use uuid::Uuid;

use super::{SqliteStore, now_ms, opt_time};
use crate::store::types::*;

impl SqliteStore {
    /// As the Postgres backend: due rows whose person has no earlier open row, leased,
    /// the attempt recorded as started; in message id order.
    pub async fn claim(&self, limit: i64, lease: Duration) -> Result<Vec<Claimed>, StoreError> {
        let lease_ms = lease.as_millis() as i64;
        self.with(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let now = now_ms();
            let due: Vec<(Uuid, Option<i64>)> = {
                let mut stmt = tx.prepare(
                    "SELECT o.id, o.in_doubt_since FROM outbox o
                     WHERE o.sent_at IS NULL AND o.dead_lettered_at IS NULL
                       AND o.next_attempt_at <= ?2
                       AND o.message_id = (
                           SELECT e.message_id FROM outbox e
                           WHERE e.user_id = o.user_id
                             AND coalesce(e.sent_at, e.dead_lettered_at) IS NULL
                           ORDER BY e.message_id LIMIT 1)
                     ORDER BY o.next_attempt_at LIMIT ?1",
                )?;
                let rows = stmt.query_map(params![limit, now], |r| Ok((r.get(0)?, r.get(1)?)))?;
                rows.collect::<Result<_, _>>()?
            };
            let mut out = Vec::with_capacity(due.len());
            for (id, in_doubt_since) in due {
                tx.execute(
                    "UPDATE outbox SET attempts = attempts + 1, next_attempt_at = ?2 + ?3,
                            in_doubt_since = coalesce(in_doubt_since, ?2)
                     WHERE id = ?1",
                    params![id, now, lease_ms],
                )?;
                let (row, status) = tx.query_row(
                    "SELECT o.id, o.message_id, o.user_id, o.carrier, o.attempts, m.body, u.phone,
                            u.status, coalesce(m.purpose, 'reply')
                     FROM outbox o JOIN messages m ON m.id = o.message_id
                                   JOIN users u ON u.id = o.user_id
                     WHERE o.id = ?1",
                    params![id],
                    |r| {
                        Ok((
                            Claimed {
                                id: r.get(0)?,
                                message_id: r.get(1)?,
                                user_id: r.get(2)?,
                                carrier: r.get(3)?,
                                attempts: r.get(4)?,
                                body: r.get(5)?,
                                phone: r.get(6)?,
                                user_status: UserStatus::Active,
                                purpose: Purpose::Reply,
                                in_doubt_since: opt_time(in_doubt_since),
                            },
                            (r.get::<_, String>(7)?, r.get::<_, String>(8)?),
                        ))
                    },
                )?;
                out.push(Claimed {
                    user_status: UserStatus::parse(&status.0)?,
                    purpose: Purpose::parse(&status.1)?,
                    ..row
                });
            }
            tx.commit()?;
            out.sort_by_key(|c| c.message_id);
            Ok(out)
        })
        .await
    }

    /// As the Postgres backend: rows already settled are left as they are.
    pub async fn mark_sent(&self, sent: &[(Uuid, Option<String>)]) -> Result<(), StoreError> {
        let sent = sent.to_vec();
        self.with(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let now = now_ms();
            for (id, carrier_id) in sent {
                let settled = tx.execute(
                    "UPDATE outbox SET sent_at = ?2, dead_lettered_at = NULL, in_doubt_since = NULL
                     WHERE id = ?1 AND sent_at IS NULL",
                    params![id, now],
                )?;
                if settled == 0 {
                    continue;
                }
                tx.execute(
                    "UPDATE messages SET status = 'sent', updated_at = ?2,
                            carrier_message_id = CASE
                                WHEN EXISTS (SELECT 1 FROM messages x WHERE x.carrier = messages.carrier
                                               AND x.carrier_message_id = ?3)
                                THEN carrier_message_id
                                ELSE coalesce(?3, carrier_message_id) END
                     WHERE id = (SELECT message_id FROM outbox WHERE id = ?1)",
                    params![id, now, carrier_id],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    pub async fn crisis_resources_since(
        &self,
        user: Uuid,
        since: SystemTime,
    ) -> Result<bool, StoreError> {
        let since = millis(since);
        self.with(move |c| {
            Ok(c.query_row(
                "SELECT EXISTS (SELECT 1 FROM messages
                                WHERE user_id = ?1 AND created_at >= ?2 AND direction = 'out'
                                  AND purpose = 'crisis-resources')",
                params![user, since],
                |r| r.get(0),
            )?)
        })
        .await
    }

    pub async fn known_carrier_ids(
        &self,
        carrier: &str,
        ids: &[String],
    ) -> Result<Vec<String>, StoreError> {
        let (carrier, ids) = (carrier.to_owned(), ids.to_vec());
        self.with(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT 1 FROM messages WHERE carrier = ?1 AND carrier_message_id = ?2",
            )?;
            let mut known = Vec::new();
            for id in ids {
                if stmt.exists(params![carrier, id])? {
                    known.push(id);
                }
            }
            Ok(known)
        })
        .await
    }

    pub async fn retry_at(
        &self,
        id: Uuid,
        error: &str,
        at: SystemTime,
        in_doubt: bool,
    ) -> Result<(), StoreError> {
        let (error, at) = (error.to_owned(), millis(at));
        self.with(move |c| {
            c.execute(
                "UPDATE outbox SET last_error = ?2, next_attempt_at = ?3,
                        in_doubt_since = CASE WHEN ?4 THEN in_doubt_since END
                 WHERE id = ?1 AND sent_at IS NULL",
                params![id, error, at, in_doubt],
            )?;
            Ok(())
        })
        .await
    }

    pub async fn resend(&self, id: Uuid) -> Result<bool, StoreError> {
        self.with(move |c| {
            let n = c.execute(
                "UPDATE outbox SET in_doubt_since = ?2
                 WHERE id = ?1 AND sent_at IS NULL AND dead_lettered_at IS NULL",
                params![id, now_ms()],
            )?;
            Ok(n == 1)
        })
        .await
    }

    pub async fn dead_letter(&self, id: Uuid, error: &str) -> Result<(), StoreError> {
        let error = error.to_owned();
        self.with(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let now = now_ms();
            let dead = tx.execute(
                "UPDATE outbox SET last_error = ?2, dead_lettered_at = ?3
                 WHERE id = ?1 AND sent_at IS NULL",
                params![id, error, now],
            )?;
            if dead == 1 {
                tx.execute(
                    "UPDATE messages SET status = 'failed', updated_at = ?2
                     WHERE id = (SELECT message_id FROM outbox WHERE id = ?1)",
                    params![id, now],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    pub async fn dead_letters(&self) -> Result<Vec<(Uuid, String)>, StoreError> {
        self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT id, coalesce(last_error, '') FROM outbox
                 WHERE dead_lettered_at IS NOT NULL ORDER BY dead_lettered_at",
            )?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }
}
