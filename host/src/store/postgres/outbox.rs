//! The outbox on Postgres: claimed with `FOR UPDATE SKIP LOCKED` under a lease, one
//! open row per person at a time (so one person's messages leave in queue order across
//! hosts and retries), each attempt on record before the carrier is called.

use std::time::{Duration, SystemTime};

use uuid::Uuid;

use super::PgStore;
use crate::store::types::*;

impl PgStore {
    /// Claim up to `limit` due rows for `lease`: rows locked by another worker are
    /// skipped, a row waits while an earlier row of its person is open, and a claimed
    /// row is not due again until its lease ends (a worker that dies mid-send leaves it
    /// to the next, in doubt). The claim records the attempt as started
    /// (`in_doubt_since`) and returns when the earliest attempt not known to have failed
    /// began, if any. Returned in message id order (time-ordered: the order queued).
    pub async fn claim(&self, limit: i64, lease: Duration) -> Result<Vec<Claimed>, StoreError> {
        let lease_ms = lease.as_millis() as f64;
        let rows = self
            .rows(
                "WITH due AS (
                     SELECT o.id, o.in_doubt_since FROM outbox o
                     WHERE o.sent_at IS NULL AND o.dead_lettered_at IS NULL
                       AND o.next_attempt_at <= now()
                       AND o.message_id = (
                           SELECT e.message_id FROM outbox e
                           WHERE e.user_id = o.user_id
                             AND coalesce(e.sent_at, e.dead_lettered_at) IS NULL
                           ORDER BY e.message_id LIMIT 1)
                     ORDER BY o.next_attempt_at
                     FOR UPDATE SKIP LOCKED
                     LIMIT $1),
                 claimed AS (
                     UPDATE outbox o SET attempts = o.attempts + 1,
                            next_attempt_at = now() + $2::float8 * interval '1 millisecond',
                            in_doubt_since = coalesce(o.in_doubt_since, now())
                     FROM due WHERE o.id = due.id
                     RETURNING o.id, o.message_id, o.user_id, o.carrier, o.attempts,
                               due.in_doubt_since)
                 SELECT c.id, c.message_id, c.user_id, c.carrier, c.attempts, m.body, u.phone,
                        u.status, coalesce(m.purpose, 'reply'), c.in_doubt_since
                 FROM claimed c JOIN messages m ON m.id = c.message_id
                                JOIN users u ON u.id = c.user_id
                 ORDER BY c.message_id",
                &[&limit, &lease_ms],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Claimed {
                    id: r.get(0),
                    message_id: r.get(1),
                    user_id: r.get(2),
                    carrier: r.get(3),
                    attempts: r.get(4),
                    body: r.get(5),
                    phone: r.get(6),
                    user_status: UserStatus::parse(r.get(7))?,
                    purpose: Purpose::parse(r.get(8))?,
                    in_doubt_since: r.get(9),
                })
            })
            .collect()
    }

    /// The carrier took these messages (each under the carrier's id, when it gave one):
    /// one statement for the batch. A row already settled is left as it is, so a late
    /// record never undoes a delivery report; a dead-lettered row the carrier turns out
    /// to have taken is sent after all. A carrier id already recorded for another
    /// message is not recorded again (it would fail the whole batch).
    pub async fn mark_sent(&self, sent: &[(Uuid, Option<String>)]) -> Result<(), StoreError> {
        let ids: Vec<Uuid> = sent.iter().map(|(id, _)| *id).collect();
        let carrier_ids: Vec<Option<&str>> = sent.iter().map(|(_, c)| c.as_deref()).collect();
        self.exec(
            "WITH sent AS (
                 UPDATE outbox o SET sent_at = now(), dead_lettered_at = NULL,
                        in_doubt_since = NULL
                 FROM unnest($1::uuid[], $2::text[]) AS x(id, carrier_id)
                 WHERE o.id = x.id AND o.sent_at IS NULL
                 RETURNING o.message_id, x.carrier_id)
             UPDATE messages m SET status = 'sent', updated_at = now(),
                    carrier_message_id = CASE
                        WHEN EXISTS (SELECT 1 FROM messages x WHERE x.carrier = m.carrier
                                       AND x.carrier_message_id = sent.carrier_id)
                        THEN m.carrier_message_id
                        ELSE coalesce(sent.carrier_id, m.carrier_message_id) END
             FROM sent WHERE m.id = sent.message_id",
            &[&ids, &carrier_ids],
        )
        .await?;
        Ok(())
    }

    pub async fn crisis_resources_since(
        &self,
        user: Uuid,
        since: SystemTime,
    ) -> Result<bool, StoreError> {
        Ok(self
            .row(
                "SELECT EXISTS (SELECT 1 FROM messages
                                WHERE user_id = $1 AND created_at >= $2 AND direction = 'out'
                                  AND purpose = 'crisis-resources')",
                &[&user, &since],
            )
            .await?
            .get(0))
    }

    pub async fn known_carrier_ids(
        &self,
        carrier: &str,
        ids: &[String],
    ) -> Result<Vec<String>, StoreError> {
        let rows = self
            .rows(
                "SELECT carrier_message_id FROM messages
                 WHERE carrier = $1 AND carrier_message_id = ANY($2)",
                &[&carrier, &ids],
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    /// The attempt failed; try again at `at`. `in_doubt`: the carrier may have taken it
    /// (the next attempt asks first); otherwise it certainly did not.
    pub async fn retry_at(
        &self,
        id: Uuid,
        error: &str,
        at: SystemTime,
        in_doubt: bool,
    ) -> Result<(), StoreError> {
        self.exec(
            "UPDATE outbox SET last_error = $2, next_attempt_at = $3,
                    in_doubt_since = CASE WHEN $4 THEN in_doubt_since END
             WHERE id = $1 AND sent_at IS NULL",
            &[&id, &error, &at, &in_doubt],
        )
        .await?;
        Ok(())
    }

    /// The carrier has no trace of the earlier attempts: record a new one as started.
    /// False when the row was settled meanwhile (a delivery report): do not send.
    pub async fn resend(&self, id: Uuid) -> Result<bool, StoreError> {
        let n = self
            .exec(
                "UPDATE outbox SET in_doubt_since = now()
                 WHERE id = $1 AND sent_at IS NULL AND dead_lettered_at IS NULL",
                &[&id],
            )
            .await?;
        Ok(n == 1)
    }

    /// Give up on a row: it is kept, marked dead, and its message marked failed.
    pub async fn dead_letter(&self, id: Uuid, error: &str) -> Result<(), StoreError> {
        self.exec(
            "WITH dead AS (UPDATE outbox SET last_error = $2, dead_lettered_at = now()
                               WHERE id = $1 AND sent_at IS NULL RETURNING message_id)
                 UPDATE messages SET status = 'failed', updated_at = now()
                 WHERE id = (SELECT message_id FROM dead)",
            &[&id, &error],
        )
        .await?;
        Ok(())
    }

    pub async fn dead_letters(&self) -> Result<Vec<(Uuid, String)>, StoreError> {
        let rows = self
            .rows(
                "SELECT id, coalesce(last_error, '') FROM outbox
                 WHERE dead_lettered_at IS NOT NULL ORDER BY dead_lettered_at",
                &[],
            )
            .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }
}
