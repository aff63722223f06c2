//! A conversation turn on Postgres: claimed in batches, read in one statement, written
//! in one statement when it ends.

use std::time::{Duration, SystemTime};

use uuid::Uuid;

use super::{PgStore, USER_COLUMNS, user_row};
use crate::store::types::*;

impl PgStore {
    /// Claim up to `limit` users with inbound messages waiting, for `lease`: one worker
    /// per user at a time (a concurrent claimer re-checks `busy_until` after the row
    /// lock and loses). A user is due once no text arrived for `quiet` (so a burst is
    /// one turn), or when the oldest waiting text is 4 × `quiet` old. The claimed
    /// users' waiting texts are marked processing in the same statement.
    pub async fn claim_conversations(
        &self,
        limit: i64,
        lease: Duration,
        quiet: Duration,
    ) -> Result<Vec<Uuid>, StoreError> {
        let (lease_ms, quiet_ms) = (lease.as_millis() as f64, quiet.as_millis() as f64);
        let rows = self
            .rows(
                "WITH claimed AS (
                     UPDATE users SET busy_until = now() + $2::float8 * interval '1 millisecond'
                     WHERE id IN (
                         SELECT m.user_id FROM messages m JOIN users u ON u.id = m.user_id
                         WHERE m.direction = 'in' AND m.status = 'received'
                           AND (u.busy_until IS NULL OR u.busy_until < now())
                         GROUP BY m.user_id
                         HAVING max(m.created_at) <= now() - $3::float8 * interval '1 millisecond'
                             OR min(m.created_at) <= now() - 4 * $3::float8 * interval '1 millisecond'
                         ORDER BY min(m.created_at)
                         LIMIT $1)
                       AND (busy_until IS NULL OR busy_until < now())
                     RETURNING id),
                 taken AS (
                     UPDATE messages SET status = 'processing', updated_at = now()
                     WHERE user_id IN (SELECT id FROM claimed)
                       AND direction = 'in' AND status = 'received')
                 SELECT id FROM claimed",
                &[&limit, &lease_ms, &quiet_ms],
            )
            .await?;
        Ok(rows.iter().map(|r| r.get(0)).collect())
    }

    pub async fn release_conversation(
        &self,
        user: Uuid,
        retry_in: Duration,
    ) -> Result<(), StoreError> {
        let retry_ms = retry_in.as_millis() as f64;
        self.exec(
            "WITH back AS (
                 UPDATE messages SET status = 'received', updated_at = now()
                 WHERE user_id = $1 AND direction = 'in' AND status = 'processing')
             UPDATE users SET busy_until = CASE WHEN $2::float8 > 0
                 THEN now() + $2::float8 * interval '1 millisecond' END
             WHERE id = $1",
            &[&user, &retry_ms],
        )
        .await?;
        Ok(())
    }

    pub async fn recover_conversations(&self) -> Result<u64, StoreError> {
        self.exec(
            "UPDATE messages m SET status = 'received', updated_at = now()
             FROM users u
             WHERE m.user_id = u.id AND m.direction = 'in' AND m.status = 'processing'
               AND (u.busy_until IS NULL OR u.busy_until < now())",
            &[],
        )
        .await
    }

    /// The user, their unanswered texts (oldest first), their inbound count since
    /// `since` and whether they have other messages: one read, no write. The count goes
    /// by when each text was received on the pipeline's clock (as the disclosure does),
    /// bounded by the database's own time so the index serves it.
    pub async fn open_turn(
        &self,
        user: Uuid,
        since: SystemTime,
    ) -> Result<Option<TurnRow>, StoreError> {
        let sql = format!(
            "SELECT {USER_COLUMNS},
                    (SELECT count(*) FROM messages
                     WHERE user_id = $1 AND direction = 'in'
                       AND created_at >= $2::timestamptz - interval '1 day'
                       AND coalesce(received_at, created_at) >= $2) AS today,
                    EXISTS (SELECT 1 FROM messages
                            WHERE user_id = $1
                              AND NOT (direction = 'in' AND status IN ('received', 'processing')))
                        AS history,
                    p.ids, p.bodies, p.created, p.carriers
             FROM users u, LATERAL (
                 SELECT coalesce(array_agg(id ORDER BY created_at, id), '{{}}') AS ids,
                        coalesce(array_agg(body ORDER BY created_at, id), '{{}}') AS bodies,
                        coalesce(array_agg(created_at ORDER BY created_at, id), '{{}}') AS created,
                        coalesce(array_agg(carrier ORDER BY created_at, id), '{{}}') AS carriers
                 FROM messages
                 WHERE user_id = $1 AND direction = 'in' AND status IN ('received', 'processing')
             ) p
             WHERE u.id = $1"
        );
        let Some(r) = self.row_opt(&sql, &[&user, &since]).await? else {
            return Ok(None);
        };
        let ids: Vec<Uuid> = r.get("ids");
        let bodies: Vec<Vec<u8>> = r.get("bodies");
        let created: Vec<SystemTime> = r.get("created");
        let carriers: Vec<String> = r.get("carriers");
        let pending = ids
            .into_iter()
            .zip(bodies)
            .zip(created)
            .zip(carriers)
            .map(|(((id, body), created_at), carrier)| MessageRow {
                id,
                direction: Direction::In,
                carrier,
                body,
                status: MessageStatus::Processing,
                created_at,
            })
            .collect();
        Ok(Some(TurnRow {
            user: user_row(&r)?,
            pending,
            inbound_since: r.get("today"),
            has_history: r.get("history"),
        }))
    }

    /// Record the turn and release the conversation, in one statement (so one round
    /// trip and one transaction). Returns the ids of the replies queued; a reply of a
    /// purpose already queued for the first text is skipped.
    pub async fn close_turn(&self, t: &TurnOutcome) -> Result<Vec<Uuid>, StoreError> {
        let first = t.texts.first().copied();
        let worlds: Vec<&str> = t.decisions.iter().map(|d| d.world).collect();
        let digests: Vec<Option<&str>> = t
            .decisions
            .iter()
            .map(|d| d.bundle_digest.as_deref())
            .collect();
        let fallbacks: Vec<Option<&str>> =
            t.decisions.iter().map(|d| d.fallback.as_deref()).collect();
        let summaries: Vec<String> = t.decisions.iter().map(|d| d.summary.to_string()).collect();
        let reply_ids: Vec<Uuid> = t.replies.iter().map(|r| r.message_id).collect();
        let bodies: Vec<&[u8]> = t.replies.iter().map(|r| r.body.as_slice()).collect();
        let segments: Vec<i32> = t.replies.iter().map(|r| r.segments).collect();
        let purposes: Vec<&str> = t.replies.iter().map(|r| r.purpose.as_str()).collect();
        let events: Vec<&str> = t.compliance.iter().map(|c| c.event.as_str()).collect();
        let details: Vec<&str> = t.compliance.iter().map(|c| c.detail.as_str()).collect();
        let log_digests: Vec<Option<&str>> = t
            .compliance
            .iter()
            .map(|c| c.bundle_digest.as_deref())
            .collect();
        let status = t.status.map(|s| s.as_str());
        let age = t.age_status.map(|a| a.as_str());
        let params: &[&(dyn tokio_postgres::types::ToSql + Sync)] = &[
            &first,
            &worlds,
            &digests,
            &fallbacks,
            &summaries,
            &t.user_id,
            &t.carrier.as_str(),
            &reply_ids,
            &bodies,
            &segments,
            &purposes,
            &t.at,
            &events,
            &details,
            &log_digests,
            &t.texts,
            &status,
            &age,
            &t.disclosed,
        ];
        let row = match &t.erase {
            None => self.row(CLOSE_TURN, params).await?,
            // Rare (a child's texts): its own transaction, so the turn and the erasure
            // are written together.
            Some(detail) => {
                let mut client = self.client().await?;
                let tx = client.transaction().await?;
                let row = tx.query_one(CLOSE_TURN, params).await?;
                super::erase::erase_in(&tx, t.user_id, t.at, detail).await?;
                tx.commit().await?;
                row
            }
        };
        let queued: Vec<Uuid> = row.get(0);
        // In the order asked for, not the order the database returned them.
        Ok(reply_ids
            .into_iter()
            .filter(|i| queued.contains(i))
            .collect())
    }
}

/// The turn's outcome in one statement: decisions, replies and their outbox rows, the
/// compliance log, the texts marked replied, the person updated and released.
const CLOSE_TURN: &str = "WITH d AS (
                     INSERT INTO policy_decisions (message_id, world, bundle_digest, fallback, summary)
                     SELECT $1, w, b, f, s::jsonb
                     FROM unnest($2::text[], $3::text[], $4::text[], $5::text[]) AS x(w, b, f, s)),
                 r AS (
                     INSERT INTO messages (id, user_id, direction, carrier, body, status, segments,
                                           reply_to, purpose)
                     SELECT i, $6, 'out', $7, b, 'queued', s, $1, p
                     FROM unnest($8::uuid[], $9::bytea[], $10::int4[], $11::text[])
                          WITH ORDINALITY AS x(i, b, s, p, n)
                     ORDER BY n
                     ON CONFLICT (reply_to, purpose) WHERE reply_to IS NOT NULL DO NOTHING
                     RETURNING id),
                 o AS (
                     INSERT INTO outbox (message_id, user_id, carrier)
                     SELECT id, $6, $7 FROM r),
                 c AS (
                     INSERT INTO compliance_log (user_id, event, detail, bundle_digest, occurred_at)
                     SELECT $6, e, dt, b, $12
                     FROM unnest($13::text[], $14::text[], $15::text[]) AS x(e, dt, b)),
                 t AS (
                     UPDATE messages SET status = 'replied', updated_at = now()
                     WHERE id = ANY($16))
                 UPDATE users SET busy_until = NULL,
                        status = coalesce($17, status),
                        opted_out_at = CASE WHEN $17 = 'opted-out' THEN $12 ELSE opted_out_at END,
                        opted_in_at = CASE WHEN $17 = 'active' AND status = 'opted-out' THEN $12
                                           ELSE opted_in_at END,
                        -- A decision that landed during the turn outranks its 'pending'.
                        age_status = CASE WHEN $18 = 'pending' AND age_status <> 'unknown'
                                          THEN age_status ELSE coalesce($18, age_status) END,
                        last_disclosure_at = CASE WHEN $19 THEN $12 ELSE last_disclosure_at END,
                        updated_at = now()
                 WHERE id = $6
                 RETURNING (SELECT coalesce(array_agg(id), '{}') FROM r)";
