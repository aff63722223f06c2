//! Crisis review on the embedded store, as on Postgres.

use std::time::SystemTime;

use rusqlite::{OptionalExtension, Row, TransactionBehavior, params};
use uuid::Uuid;

use super::{SqliteStore, now_ms, opt_time};
use crate::store::types::*;

const COLUMNS: &str = "id, user_id, message_id, severity, categories, bundle_digest, fallback,
    review_state, created_at, reviewed_by, reviewed_at, review_outcome, review_note";

type Raw = (CrisisReviewRow, String, String, Option<String>);

fn raw(r: &Row<'_>) -> rusqlite::Result<Raw> {
    Ok((
        CrisisReviewRow {
            event: CrisisEventRow {
                id: r.get(0)?,
                user_id: r.get(1)?,
                message_id: r.get(2)?,
                severity: r.get(3)?,
                categories: Vec::new(),
                bundle_digest: r.get(5)?,
                fallback: r.get(6)?,
                review_state: ReviewState::Pending,
            },
            created_at: from_millis(r.get(8)?),
            reviewed_by: r.get(9)?,
            reviewed_at: opt_time(r.get(10)?),
            outcome: None,
            note: r.get(12)?,
        },
        r.get(4)?,
        r.get(7)?,
        r.get(11)?,
    ))
}

fn parse((mut row, categories, state, outcome): Raw) -> Result<CrisisReviewRow, StoreError> {
    row.event.categories = serde_json::from_str(&categories).map_err(|_| StoreError::Corrupt {
        what: "crisis categories",
        value: categories.clone(),
    })?;
    row.event.review_state = ReviewState::parse(&state)?;
    row.outcome = outcome.as_deref().map(ReviewOutcome::parse).transpose()?;
    Ok(row)
}

impl SqliteStore {
    pub async fn open_crisis_events(&self, limit: i64) -> Result<Vec<CrisisReviewRow>, StoreError> {
        self.with(move |c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {COLUMNS} FROM crisis_events WHERE review_state IN ('pending', 'in-review')
                 ORDER BY created_at DESC, rowid DESC LIMIT ?1"
            ))?;
            let rows = stmt.query_map([limit], raw)?;
            rows.map(|r| parse(r?)).collect()
        })
        .await
    }

    pub async fn crisis_event(&self, id: Uuid) -> Result<Option<CrisisReviewRow>, StoreError> {
        self.with(move |c| {
            c.query_row(
                &format!("SELECT {COLUMNS} FROM crisis_events WHERE id = ?1"),
                [id],
                raw,
            )
            .optional()?
            .map(parse)
            .transpose()
        })
        .await
    }

    pub async fn record_crisis_access(
        &self,
        id: Uuid,
        subject: &str,
        action: &str,
    ) -> Result<(), StoreError> {
        let (subject, action) = (subject.to_string(), action.to_string());
        self.with(move |c| {
            c.execute(
                "INSERT INTO crisis_event_access (event_id, subject, action, at)
                 VALUES (?1, ?2, ?3, ?4)",
                params![id, subject, action, now_ms()],
            )?;
            Ok(())
        })
        .await
    }

    pub async fn close_crisis_event(
        &self,
        id: Uuid,
        subject: &str,
        outcome: ReviewOutcome,
        note: Option<&[u8]>,
        at: SystemTime,
    ) -> Result<bool, StoreError> {
        let state = outcome.closes_as();
        let (subject, note) = (subject.to_string(), note.map(<[u8]>::to_vec));
        self.with(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let n = tx.execute(
                "UPDATE crisis_events SET review_state = ?2, reviewed_by = ?3, reviewed_at = ?4,
                     review_outcome = ?5, review_note = ?6
                 WHERE id = ?1 AND review_state IN ('pending', 'in-review')",
                params![
                    id,
                    state.as_str(),
                    subject,
                    millis(at),
                    outcome.as_str(),
                    note
                ],
            )?;
            if n == 1 {
                tx.execute(
                    "INSERT INTO crisis_event_access (event_id, subject, action, at)
                     VALUES (?1, ?2, 'close', ?3)",
                    params![id, subject, now_ms()],
                )?;
            }
            tx.commit()?;
            Ok(n == 1)
        })
        .await
    }

    pub async fn crisis_access(&self, id: Uuid) -> Result<Vec<CrisisAccess>, StoreError> {
        self.with(move |c| {
            let mut stmt = c.prepare(
                "SELECT subject, action, at FROM crisis_event_access WHERE event_id = ?1 ORDER BY id",
            )?;
            let rows = stmt.query_map([id], |r| {
                Ok(CrisisAccess {
                    subject: r.get(0)?,
                    action: r.get(1)?,
                    at: from_millis(r.get(2)?),
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }
}
