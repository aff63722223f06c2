//! Desired policy state on Postgres. Every change takes the world's row lock, writes
//! its history row in the same transaction and notifies `jules_policy`, which Postgres
//! delivers to the listening hosts when the transaction commits.

use std::time::SystemTime;

use deadpool_postgres::GenericClient;
use tokio_postgres::Row;

use super::PgStore;
use crate::store::rollout::*;
use crate::store::types::StoreError;

/// The channel hosts LISTEN on; the payload is the world that changed.
pub const CHANNEL: &str = "jules_policy";

const DESIRED_COLUMNS: &str = "world, active_source, active_digest, previous_source,
    previous_digest, candidate_source, candidate_digest, revision, set_by, set_at, reason,
    shadow_source, shadow_digest, shadow_sample";

fn desired_row(r: &Row) -> DesiredRow {
    DesiredRow {
        world: r.get(0),
        active: BundleRef::from_columns(r.get(1), r.get(2)),
        previous: BundleRef::from_columns(r.get(3), r.get(4)),
        candidate: BundleRef::from_columns(r.get(5), r.get(6)),
        shadow: BundleRef::from_columns(r.get(11), r.get(12)).map(|bundle| ShadowRef {
            bundle,
            sample: r.get::<_, Option<f64>>(13).unwrap_or(0.0),
        }),
        revision: r.get(7),
        set_by: r.get(8),
        set_at: r.get(9),
        reason: r.get(10),
    }
}

async fn locked(tx: &impl GenericClient, world: &str) -> Result<Option<DesiredRow>, StoreError> {
    let sql = format!("SELECT {DESIRED_COLUMNS} FROM policy_desired WHERE world = $1 FOR UPDATE");
    Ok(tx
        .query_opt(&sql, &[&world])
        .await?
        .as_ref()
        .map(desired_row))
}

async fn record(
    tx: &impl GenericClient,
    change: &Change<'_>,
    action: RolloutAction,
    bundle: &BundleRef,
    previous: Option<&str>,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO policy_history (world, action, source, digest, previous_digest, subject, reason)
         VALUES ($1, $2, $3, $4, $5, $6, $7)",
        &[
            &change.world,
            &action.as_str(),
            &bundle.source,
            &bundle.digest,
            &previous,
            &change.subject,
            &change.reason,
        ],
    )
    .await?;
    tx.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &change.world])
        .await?;
    Ok(())
}

/// Move the active bundle to previous and `to` to active (commit and rollback alike).
async fn replace_active(
    tx: &impl GenericClient,
    c: &Change<'_>,
    to: &BundleRef,
    from: Option<&BundleRef>,
) -> Result<DesiredRow, StoreError> {
    let sql = format!(
        "UPDATE policy_desired SET previous_source = $2, previous_digest = $3,
             active_source = $4, active_digest = $5, candidate_source = NULL,
             candidate_digest = NULL, revision = revision + 1, set_by = $6, set_at = now(),
             reason = $7
         WHERE world = $1 RETURNING {DESIRED_COLUMNS}"
    );
    let row = tx
        .query_one(
            &sql,
            &[
                &c.world,
                &from.map(|b| &b.source),
                &from.map(|b| &b.digest),
                &to.source,
                &to.digest,
                &c.subject,
                &c.reason,
            ],
        )
        .await?;
    Ok(desired_row(&row))
}

impl PgStore {
    pub async fn desired(&self) -> Result<Vec<DesiredRow>, StoreError> {
        let sql = format!("SELECT {DESIRED_COLUMNS} FROM policy_desired ORDER BY world");
        Ok(self
            .rows(&sql, &[])
            .await?
            .iter()
            .map(desired_row)
            .collect())
    }

    pub async fn stage(&self, change: &Change<'_>, bundle: &BundleRef) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let current = locked(&tx, change.world).await?;
        tx.execute(
            "INSERT INTO policy_desired (world, candidate_source, candidate_digest, revision,
                                         set_by, reason)
             VALUES ($1, $2, $3, 1, $4, $5)
             ON CONFLICT (world) DO UPDATE SET candidate_source = excluded.candidate_source,
                 candidate_digest = excluded.candidate_digest,
                 revision = policy_desired.revision + 1",
            &[
                &change.world,
                &bundle.source,
                &bundle.digest,
                &change.subject,
                &change.reason,
            ],
        )
        .await?;
        let active = current.and_then(|d| d.active).map(|a| a.digest);
        record(&tx, change, RolloutAction::Stage, bundle, active.as_deref()).await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn commit_candidate(
        &self,
        change: &Change<'_>,
        digest: &str,
    ) -> Result<Result<DesiredRow, RolloutRefusal>, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let current = locked(&tx, change.world).await?;
        let Some(candidate) = current
            .as_ref()
            .and_then(|d| d.candidate.clone())
            .filter(|c| c.digest == digest)
        else {
            return Ok(Err(RolloutRefusal::NotStaged {
                world: change.world.into(),
                digest: digest.into(),
            }));
        };
        let active = current.and_then(|d| d.active);
        let row = replace_active(&tx, change, &candidate, active.as_ref()).await?;
        let previous = active.map(|a| a.digest);
        record(
            &tx,
            change,
            RolloutAction::Activate,
            &candidate,
            previous.as_deref(),
        )
        .await?;
        tx.commit().await?;
        Ok(Ok(row))
    }

    pub async fn abandon_candidate(
        &self,
        change: &Change<'_>,
        digest: &str,
    ) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let current = locked(&tx, change.world).await?;
        let Some(desired) =
            current.filter(|d| d.candidate.as_ref().is_some_and(|c| c.digest == digest))
        else {
            return Ok(());
        };
        tx.execute(
            "UPDATE policy_desired SET candidate_source = NULL, candidate_digest = NULL,
                 revision = revision + 1 WHERE world = $1",
            &[&change.world],
        )
        .await?;
        let candidate = desired.candidate.expect("filtered on it");
        let active = desired.active.map(|a| a.digest);
        record(
            &tx,
            change,
            RolloutAction::Abandon,
            &candidate,
            active.as_deref(),
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    pub async fn rollback(
        &self,
        change: &Change<'_>,
    ) -> Result<Result<DesiredRow, RolloutRefusal>, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let current = locked(&tx, change.world).await?;
        let Some((previous, active)) = current.and_then(|d| Some((d.previous?, d.active))) else {
            return Ok(Err(RolloutRefusal::NoPrevious {
                world: change.world.into(),
            }));
        };
        let row = replace_active(&tx, change, &previous, active.as_ref()).await?;
        let replaced = active.map(|a| a.digest);
        record(
            &tx,
            change,
            RolloutAction::Rollback,
            &previous,
            replaced.as_deref(),
        )
        .await?;
        tx.commit().await?;
        Ok(Ok(row))
    }

    /// Give `shadow` (a bundle and a sample share) the world's live messages beside the
    /// active bundle, or stop the shadow (`None`).
    pub async fn set_shadow(
        &self,
        change: &Change<'_>,
        shadow: Option<&ShadowRef>,
    ) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let current = locked(&tx, change.world).await?;
        let active = current
            .as_ref()
            .and_then(|d| d.active.clone())
            .map(|a| a.digest);
        match shadow {
            Some(s) => {
                tx.execute(
                    "INSERT INTO policy_desired (world, shadow_source, shadow_digest, shadow_sample,
                                                 revision, set_by, reason)
                     VALUES ($1, $2, $3, $4, 1, $5, $6)
                     ON CONFLICT (world) DO UPDATE SET shadow_source = excluded.shadow_source,
                         shadow_digest = excluded.shadow_digest,
                         shadow_sample = excluded.shadow_sample,
                         revision = policy_desired.revision + 1",
                    &[
                        &change.world,
                        &s.bundle.source,
                        &s.bundle.digest,
                        &s.sample,
                        &change.subject,
                        &change.reason,
                    ],
                )
                .await?;
                record(
                    &tx,
                    change,
                    RolloutAction::Shadow,
                    &s.bundle,
                    active.as_deref(),
                )
                .await?;
            }
            None => {
                let Some(old) = current.and_then(|d| d.shadow) else {
                    return Ok(());
                };
                tx.execute(
                    "UPDATE policy_desired SET shadow_source = NULL, shadow_digest = NULL,
                         shadow_sample = NULL, revision = revision + 1 WHERE world = $1",
                    &[&change.world],
                )
                .await?;
                record(
                    &tx,
                    change,
                    RolloutAction::ShadowStop,
                    &old.bundle,
                    active.as_deref(),
                )
                .await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }

    /// Shadow decisions are evidence for a person deciding, not state anything depends
    /// on: their commit does not wait for the WAL flush, so they never queue the
    /// replies' commits behind theirs (a crash may lose the last few).
    pub async fn record_shadow(&self, d: &ShadowDecision) -> Result<(), StoreError> {
        let (active, candidate) = (
            d.active.to_string(),
            d.candidate.as_ref().map(|c| c.to_string()),
        );
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        tx.batch_execute("SET LOCAL synchronous_commit TO OFF")
            .await?;
        let insert = tx
            .prepare_cached(
                "INSERT INTO shadow_decisions (message_id, world, active_digest, candidate_digest,
                                               active, candidate, candidate_error, agreed)
                 VALUES ($1, $2, $3, $4, $5::text::jsonb, $6::text::jsonb, $7, $8)",
            )
            .await?;
        tx.execute(
            &insert,
            &[
                &d.message_id,
                &d.world,
                &d.active_digest,
                &d.candidate_digest,
                &active,
                &candidate,
                &d.candidate_error,
                &d.agreed,
            ],
        )
        .await?;
        tx.commit().await?;
        Ok(())
    }

    /// Record that `subject` opened the texts of `messages` (before they are read).
    pub async fn record_message_access(
        &self,
        messages: &[uuid::Uuid],
        subject: &str,
        purpose: &str,
    ) -> Result<(), StoreError> {
        self.exec(
            "INSERT INTO message_access (message_id, subject, purpose)
             SELECT id, $2, $3 FROM unnest($1::uuid[]) AS id",
            &[&messages, &subject, &purpose],
        )
        .await?;
        Ok(())
    }

    /// The sealed bodies of `messages`.
    pub async fn message_bodies(
        &self,
        messages: &[uuid::Uuid],
    ) -> Result<Vec<(uuid::Uuid, Vec<u8>)>, StoreError> {
        let rows = self
            .rows(
                "SELECT id, body FROM messages WHERE id = ANY($1::uuid[])",
                &[&messages],
            )
            .await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// A world's shadow decisions since `since`, newest first.
    pub async fn shadow_decisions(
        &self,
        world: &str,
        since: SystemTime,
    ) -> Result<Vec<ShadowDecision>, StoreError> {
        let rows = self
            .rows(
                "SELECT message_id, world, active_digest, candidate_digest, active::text,
                        candidate::text, candidate_error, agreed, decided_at
                 FROM shadow_decisions WHERE world = $1 AND decided_at >= $2
                 ORDER BY id DESC",
                &[&world, &since],
            )
            .await?;
        rows.iter()
            .map(|r| {
                let json = |text: String| {
                    serde_json::from_str(&text).map_err(|_| StoreError::Corrupt {
                        what: "shadow decision",
                        value: text,
                    })
                };
                Ok(ShadowDecision {
                    message_id: r.get(0),
                    world: r.get(1),
                    active_digest: r.get(2),
                    candidate_digest: r.get(3),
                    active: json(r.get(4))?,
                    candidate: r.get::<_, Option<String>>(5).map(json).transpose()?,
                    candidate_error: r.get(6),
                    agreed: r.get(7),
                    decided_at: r.get(8),
                })
            })
            .collect()
    }

    /// Newest first; `world` narrows it to one world.
    pub async fn policy_history(
        &self,
        world: Option<&str>,
        limit: i64,
    ) -> Result<Vec<HistoryRow>, StoreError> {
        let rows = self
            .rows(
                "SELECT id, world, action, source, digest, previous_digest, subject, reason, at
                 FROM policy_history WHERE ($1::text IS NULL OR world = $1)
                 ORDER BY id DESC LIMIT $2",
                &[&world, &limit],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| HistoryRow {
                id: r.get(0),
                world: r.get(1),
                action: r.get(2),
                source: r.get(3),
                digest: r.get(4),
                previous_digest: r.get(5),
                subject: r.get(6),
                reason: r.get(7),
                at: r.get(8),
            })
            .collect())
    }

    pub async fn heartbeat(
        &self,
        host_id: &str,
        started_at: SystemTime,
        reports: &[HostReport],
    ) -> Result<(), StoreError> {
        for r in reports {
            self.exec(
                "INSERT INTO policy_hosts (host_id, world, serving, prepared, error, error_digest,
                                           started_at, seen_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, now())
                 ON CONFLICT (host_id, world) DO UPDATE SET serving = excluded.serving,
                     prepared = excluded.prepared, error = excluded.error,
                     error_digest = excluded.error_digest, started_at = excluded.started_at,
                     seen_at = now()",
                &[
                    &host_id,
                    &r.world,
                    &r.serving,
                    &r.prepared,
                    &r.error,
                    &r.error_digest,
                    &started_at,
                ],
            )
            .await?;
        }
        Ok(())
    }

    pub async fn policy_hosts(&self) -> Result<Vec<HostRow>, StoreError> {
        let rows = self
            .rows(
                "SELECT host_id, world, serving, prepared, error, error_digest, started_at, seen_at
                 FROM policy_hosts ORDER BY host_id, world",
                &[],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| HostRow {
                host_id: r.get(0),
                report: HostReport {
                    world: r.get(1),
                    serving: r.get(2),
                    prepared: r.get(3),
                    error: r.get(4),
                    error_digest: r.get(5),
                },
                started_at: r.get(6),
                seen_at: r.get(7),
            })
            .collect())
    }

    /// Decisions per hour, world and bundle since `since`, newest hour first.
    pub async fn decision_counts(
        &self,
        since: SystemTime,
    ) -> Result<Vec<DecisionCount>, StoreError> {
        let rows = self
            .rows(
                "SELECT date_trunc('hour', decided_at), world, bundle_digest, count(*),
                        count(fallback)
                 FROM policy_decisions WHERE decided_at >= $1
                 GROUP BY 1, 2, 3 ORDER BY 1 DESC, 2, 3",
                &[&since],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| DecisionCount {
                hour: r.get(0),
                world: r.get(1),
                digest: r.get(2),
                decisions: r.get(3),
                fallbacks: r.get(4),
            })
            .collect())
    }

    /// A connection string for a dedicated LISTEN connection (not from the pool).
    pub fn listen_config(&self) -> tokio_postgres::Config {
        (*self.config).clone()
    }
}
