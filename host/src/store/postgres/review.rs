//! Crisis review on Postgres: open events, one event, closing it, and the record of
//! who opened or closed what.

use std::time::SystemTime;

use tokio_postgres::Row;
use uuid::Uuid;

use super::PgStore;
use crate::store::types::*;

const COLUMNS: &str = "id, user_id, message_id, severity, categories, bundle_digest, fallback,
    review_state, created_at, reviewed_by, reviewed_at, review_outcome, review_note";

fn review_row(r: &Row) -> Result<CrisisReviewRow, StoreError> {
    Ok(CrisisReviewRow {
        event: CrisisEventRow {
            id: r.get(0),
            user_id: r.get(1),
            message_id: r.get(2),
            severity: r.get(3),
            categories: r.get(4),
            bundle_digest: r.get(5),
            fallback: r.get(6),
            review_state: ReviewState::parse(r.get(7))?,
        },
        created_at: r.get(8),
        reviewed_by: r.get(9),
        reviewed_at: r.get(10),
        outcome: r
            .get::<_, Option<&str>>(11)
            .map(ReviewOutcome::parse)
            .transpose()?,
        note: r.get(12),
    })
}

impl PgStore {
    /// Events nobody has closed, newest first.
    pub async fn open_crisis_events(&self, limit: i64) -> Result<Vec<CrisisReviewRow>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM crisis_events WHERE review_state IN ('pending', 'in-review')
             ORDER BY created_at DESC, id LIMIT $1"
        );
        self.rows(&sql, &[&limit])
            .await?
            .iter()
            .map(review_row)
            .collect()
    }

    pub async fn crisis_event(&self, id: Uuid) -> Result<Option<CrisisReviewRow>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM crisis_events WHERE id = $1");
        self.row_opt(&sql, &[&id])
            .await?
            .as_ref()
            .map(review_row)
            .transpose()
    }

    pub async fn record_crisis_access(
        &self,
        id: Uuid,
        subject: &str,
        action: &str,
    ) -> Result<(), StoreError> {
        self.exec(
            "INSERT INTO crisis_event_access (event_id, subject, action) VALUES ($1, $2, $3)",
            &[&id, &subject, &action],
        )
        .await?;
        Ok(())
    }

    /// Close an open event; false when it was already closed.
    pub async fn close_crisis_event(
        &self,
        id: Uuid,
        subject: &str,
        outcome: ReviewOutcome,
        note: Option<&[u8]>,
        at: SystemTime,
    ) -> Result<bool, StoreError> {
        let state = outcome.closes_as();
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let n = tx
            .execute(
                "UPDATE crisis_events SET review_state = $2, reviewed_by = $3, reviewed_at = $4,
                     review_outcome = $5, review_note = $6
                 WHERE id = $1 AND review_state IN ('pending', 'in-review')",
                &[
                    &id,
                    &state.as_str(),
                    &subject,
                    &at,
                    &outcome.as_str(),
                    &note,
                ],
            )
            .await?;
        if n == 1 {
            tx.execute(
                "INSERT INTO crisis_event_access (event_id, subject, action) VALUES ($1, $2, 'close')",
                &[&id, &subject],
            )
            .await?;
        }
        tx.commit().await?;
        Ok(n == 1)
    }

    pub async fn crisis_access(&self, id: Uuid) -> Result<Vec<CrisisAccess>, StoreError> {
        let rows = self
            .rows(
                "SELECT subject, action, at FROM crisis_event_access WHERE event_id = $1 ORDER BY id",
                &[&id],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| CrisisAccess {
                subject: r.get(0),
                action: r.get(1),
                at: r.get(2),
            })
            .collect())
    }
}
