//! Age checks on the embedded store, as on Postgres.

use rusqlite::{OptionalExtension, Row, TransactionBehavior, params};
use uuid::Uuid;

use super::{SqliteStore, opt_time};
use crate::store::types::*;

const COLUMNS: &str =
    "id, user_id, session_id, url, carrier, status, created_at, expires_at, decided_at";

fn raw(r: &Row<'_>) -> rusqlite::Result<(AgeCheckRow, String)> {
    Ok((
        AgeCheckRow {
            id: r.get(0)?,
            user_id: r.get(1)?,
            session_id: r.get(2)?,
            url: r.get(3)?,
            carrier: r.get(4)?,
            status: CheckStatus::Created,
            created_at: from_millis(r.get(6)?),
            expires_at: from_millis(r.get(7)?),
            decided_at: opt_time(r.get(8)?),
        },
        r.get(5)?,
    ))
}

impl SqliteStore {
    pub async fn latest_age_check(&self, user_id: Uuid) -> Result<Option<AgeCheckRow>, StoreError> {
        self.with(move |c| {
            let found = c
                .query_row(
                    &format!(
                        "SELECT {COLUMNS} FROM age_checks WHERE user_id = ?1
                         ORDER BY created_at DESC, id DESC LIMIT 1"
                    ),
                    [user_id],
                    raw,
                )
                .optional()?;
            found
                .map(|(mut row, status)| {
                    row.status = CheckStatus::parse(&status)?;
                    Ok(row)
                })
                .transpose()
        })
        .await
    }

    pub async fn add_age_check(&self, c: &AgeCheckRow) -> Result<(), StoreError> {
        let c = c.clone();
        self.with(move |conn| {
            conn.execute(
                "INSERT INTO age_checks (id, user_id, provider, session_id, url, carrier, status,
                                         created_at, expires_at)
                 VALUES (?1, ?2, 'veriff', ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    c.id,
                    c.user_id,
                    c.session_id,
                    c.url,
                    c.carrier,
                    c.status.as_str(),
                    millis(c.created_at),
                    millis(c.expires_at)
                ],
            )?;
            Ok(())
        })
        .await
    }

    pub async fn apply_age_decision(
        &self,
        d: &AgeDecision<'_>,
    ) -> Result<DecisionApplied, StoreError> {
        let (delivery, check_id, session_id) =
            (d.delivery.to_owned(), d.check_id, d.session_id.to_owned());
        let (status, decided_at, age, detail) =
            (d.status, millis(d.decided_at), d.age, d.detail.to_owned());
        let (reply, erase) = (d.reply.cloned(), d.erase);
        self.with(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if !super::first_delivery_in(&tx, "veriff", &delivery)? {
                return Ok(DecisionApplied::Repeat);
            }
            let Some((user_id, carrier, was_decided, newest)) = tx
                .query_row(
                    "SELECT c.user_id, c.carrier, c.decided_at,
                            c.id = (SELECT id FROM age_checks WHERE user_id = c.user_id
                                    ORDER BY created_at DESC, id DESC LIMIT 1)
                     FROM age_checks c WHERE c.id = ?1 AND c.session_id = ?2",
                    params![check_id, session_id],
                    |r| {
                        Ok((
                            r.get::<_, Uuid>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, Option<i64>>(2)?,
                            r.get::<_, bool>(3)?,
                        ))
                    },
                )
                .optional()?
            else {
                return Ok(DecisionApplied::UnknownCheck);
            };
            if was_decided.is_some_and(|t| t > decided_at) {
                tx.commit()?;
                return Ok(DecisionApplied::Stale);
            }
            tx.execute(
                "UPDATE age_checks SET status = ?2, decided_at = ?3 WHERE id = ?1",
                params![check_id, status.as_str(), decided_at],
            )?;
            if newest {
                if let Some(age) = age {
                    tx.execute(
                        "UPDATE users SET age_status = ?2, updated_at = ?3 WHERE id = ?1",
                        params![user_id, age.as_str(), super::now_ms()],
                    )?;
                }
                tx.execute(
                    "INSERT INTO compliance_log (user_id, event, detail, occurred_at)
                     VALUES (?1, 'age-decision', ?2, ?3)",
                    params![user_id, detail, decided_at],
                )?;
                if erase {
                    super::erase::erase_in(&tx, user_id, from_millis(decided_at), CHILD_ERASED)?;
                }
                if let Some(r) = &reply {
                    super::erase::queue_in(&tx, user_id, &carrier, r)?;
                }
            }
            tx.commit()?;
            Ok(DecisionApplied::Applied {
                user_id,
                carrier,
                newest,
            })
        })
        .await
    }
}
