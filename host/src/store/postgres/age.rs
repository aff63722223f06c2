//! Age checks on Postgres: a person's checks, and a provider's decision applied in one
//! transaction.

use tokio_postgres::Row;
use uuid::Uuid;

use super::PgStore;
use crate::store::types::*;

const COLUMNS: &str =
    "id, user_id, session_id, url, carrier, status, created_at, expires_at, decided_at";

fn check_row(r: &Row) -> Result<AgeCheckRow, StoreError> {
    Ok(AgeCheckRow {
        id: r.get(0),
        user_id: r.get(1),
        session_id: r.get(2),
        url: r.get(3),
        carrier: r.get(4),
        status: CheckStatus::parse(r.get(5))?,
        created_at: r.get(6),
        expires_at: r.get(7),
        decided_at: r.get(8),
    })
}

impl PgStore {
    pub async fn latest_age_check(&self, user_id: Uuid) -> Result<Option<AgeCheckRow>, StoreError> {
        let sql = format!(
            "SELECT {COLUMNS} FROM age_checks WHERE user_id = $1
             ORDER BY created_at DESC, id DESC LIMIT 1"
        );
        self.row_opt(&sql, &[&user_id])
            .await?
            .as_ref()
            .map(check_row)
            .transpose()
    }

    pub async fn add_age_check(&self, c: &AgeCheckRow) -> Result<(), StoreError> {
        self.exec(
            "INSERT INTO age_checks (id, user_id, provider, session_id, url, carrier, status,
                                     created_at, expires_at)
             VALUES ($1, $2, 'veriff', $3, $4, $5, $6, $7, $8)",
            &[
                &c.id,
                &c.user_id,
                &c.session_id,
                &c.url,
                &c.carrier,
                &c.status.as_str(),
                &c.created_at,
                &c.expires_at,
            ],
        )
        .await?;
        Ok(())
    }

    pub async fn apply_age_decision(
        &self,
        d: &AgeDecision<'_>,
    ) -> Result<DecisionApplied, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        if !super::first_delivery_in(&tx, "veriff", d.delivery).await? {
            return Ok(DecisionApplied::Repeat);
        }
        let Some(check) = tx
            .query_opt(
                "SELECT c.user_id, c.carrier, c.decided_at,
                        c.id = (SELECT id FROM age_checks WHERE user_id = c.user_id
                                ORDER BY created_at DESC, id DESC LIMIT 1)
                 FROM age_checks c WHERE c.id = $1 AND c.session_id = $2 FOR UPDATE",
                &[&d.check_id, &d.session_id],
            )
            .await?
        else {
            // Not remembered: a check recorded later (never, in practice) may still take it.
            return Ok(DecisionApplied::UnknownCheck);
        };
        let (user_id, carrier): (Uuid, String) = (check.get(0), check.get(1));
        let decided_at: Option<std::time::SystemTime> = check.get(2);
        let newest: bool = check.get(3);
        if decided_at.is_some_and(|t| t > d.decided_at) {
            tx.commit().await?;
            return Ok(DecisionApplied::Stale);
        }
        tx.execute(
            "UPDATE age_checks SET status = $2, decided_at = $3 WHERE id = $1",
            &[&d.check_id, &d.status.as_str(), &d.decided_at],
        )
        .await?;
        if newest {
            if let Some(age) = d.age {
                tx.execute(
                    "UPDATE users SET age_status = $2, updated_at = now() WHERE id = $1",
                    &[&user_id, &age.as_str()],
                )
                .await?;
            }
            tx.execute(
                "INSERT INTO compliance_log (user_id, event, detail, occurred_at)
                 VALUES ($1, 'age-decision', $2, $3)",
                &[&user_id, &d.detail, &d.decided_at],
            )
            .await?;
            if d.erase {
                super::erase::erase_in(&tx, user_id, d.decided_at, CHILD_ERASED).await?;
            }
            if let Some(r) = d.reply {
                super::erase::queue_in(&tx, user_id, &carrier, r).await?;
            }
        }
        tx.commit().await?;
        Ok(DecisionApplied::Applied {
            user_id,
            carrier,
            newest,
        })
    }
}
