//! Desired policy state on the embedded store: as on Postgres, each change and its
//! history row in one transaction. Its single host is told in process, not notified.

use std::time::SystemTime;

use rusqlite::{OptionalExtension, Row, Transaction, TransactionBehavior, params};

use super::{SqliteStore, now_ms};
use crate::store::rollout::*;
use crate::store::types::{StoreError, from_millis, millis};

const DESIRED_COLUMNS: &str = "world, active_source, active_digest, previous_source,
    previous_digest, candidate_source, candidate_digest, revision, set_by, set_at, reason,
    shadow_source, shadow_digest, shadow_sample";

fn desired_row(r: &Row<'_>) -> rusqlite::Result<DesiredRow> {
    let sample: Option<f64> = r.get(13)?;
    let mut row = DesiredRow {
        world: r.get(0)?,
        active: BundleRef::from_columns(r.get(1)?, r.get(2)?),
        previous: BundleRef::from_columns(r.get(3)?, r.get(4)?),
        candidate: BundleRef::from_columns(r.get(5)?, r.get(6)?),
        shadow: BundleRef::from_columns(r.get(11)?, r.get(12)?).map(|bundle| ShadowRef {
            bundle,
            sample: 0.0,
        }),
        revision: r.get(7)?,
        set_by: r.get(8)?,
        set_at: from_millis(r.get(9)?),
        reason: r.get(10)?,
    };
    if let Some(s) = row.shadow.as_mut() {
        s.sample = sample.unwrap_or(0.0);
    }
    Ok(row)
}

fn current(tx: &Transaction<'_>, world: &str) -> rusqlite::Result<Option<DesiredRow>> {
    tx.query_row(
        &format!("SELECT {DESIRED_COLUMNS} FROM policy_desired WHERE world = ?1"),
        [world],
        desired_row,
    )
    .optional()
}

fn record(
    tx: &Transaction<'_>,
    change: &Change<'_>,
    action: RolloutAction,
    bundle: &BundleRef,
    previous: Option<&str>,
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT INTO policy_history (world, action, source, digest, previous_digest, subject,
                                     reason, at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            change.world,
            action.as_str(),
            bundle.source,
            bundle.digest,
            previous,
            change.subject,
            change.reason,
            now_ms()
        ],
    )?;
    Ok(())
}

struct Owned {
    world: String,
    subject: String,
    reason: String,
}

impl Owned {
    fn of(c: &Change<'_>) -> Owned {
        Owned {
            world: c.world.into(),
            subject: c.subject.into(),
            reason: c.reason.into(),
        }
    }

    fn change(&self) -> Change<'_> {
        Change {
            world: &self.world,
            subject: &self.subject,
            reason: &self.reason,
        }
    }
}

/// Move the active bundle to previous and `to` to active (commit and rollback alike).
fn replace_active(
    tx: &Transaction<'_>,
    c: &Change<'_>,
    to: &BundleRef,
    from: Option<&BundleRef>,
) -> rusqlite::Result<DesiredRow> {
    tx.execute(
        "UPDATE policy_desired SET previous_source = ?2, previous_digest = ?3,
             active_source = ?4, active_digest = ?5, candidate_source = NULL,
             candidate_digest = NULL, revision = revision + 1, set_by = ?6, set_at = ?7,
             reason = ?8
         WHERE world = ?1",
        params![
            c.world,
            from.map(|b| &b.source),
            from.map(|b| &b.digest),
            to.source,
            to.digest,
            c.subject,
            now_ms(),
            c.reason
        ],
    )?;
    Ok(current(tx, c.world)?.expect("the row was just updated"))
}

impl SqliteStore {
    pub async fn desired(&self) -> Result<Vec<DesiredRow>, StoreError> {
        self.with(|c| {
            let mut stmt = c.prepare(&format!(
                "SELECT {DESIRED_COLUMNS} FROM policy_desired ORDER BY world"
            ))?;
            let rows = stmt.query_map([], desired_row)?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    pub async fn stage(&self, change: &Change<'_>, bundle: &BundleRef) -> Result<(), StoreError> {
        let (o, bundle) = (Owned::of(change), bundle.clone());
        self.with(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let change = o.change();
            let active = current(&tx, change.world)?.and_then(|d| d.active);
            tx.execute(
                "INSERT INTO policy_desired (world, candidate_source, candidate_digest, revision,
                                             set_by, set_at, reason)
                 VALUES (?1, ?2, ?3, 1, ?4, ?5, ?6)
                 ON CONFLICT (world) DO UPDATE SET candidate_source = excluded.candidate_source,
                     candidate_digest = excluded.candidate_digest,
                     revision = policy_desired.revision + 1",
                params![
                    change.world,
                    bundle.source,
                    bundle.digest,
                    change.subject,
                    now_ms(),
                    change.reason
                ],
            )?;
            let active = active.map(|a| a.digest);
            record(
                &tx,
                &change,
                RolloutAction::Stage,
                &bundle,
                active.as_deref(),
            )?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    pub async fn commit_candidate(
        &self,
        change: &Change<'_>,
        digest: &str,
    ) -> Result<Result<DesiredRow, RolloutRefusal>, StoreError> {
        let (o, digest) = (Owned::of(change), digest.to_string());
        self.with(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let change = o.change();
            let now = current(&tx, change.world)?;
            let Some(candidate) = now
                .as_ref()
                .and_then(|d| d.candidate.clone())
                .filter(|c| c.digest == digest)
            else {
                return Ok(Err(RolloutRefusal::NotStaged {
                    world: o.world.clone(),
                    digest,
                }));
            };
            let active = now.and_then(|d| d.active);
            let row = replace_active(&tx, &change, &candidate, active.as_ref())?;
            let previous = active.map(|a| a.digest);
            record(
                &tx,
                &change,
                RolloutAction::Activate,
                &candidate,
                previous.as_deref(),
            )?;
            tx.commit()?;
            Ok(Ok(row))
        })
        .await
    }

    pub async fn abandon_candidate(
        &self,
        change: &Change<'_>,
        digest: &str,
    ) -> Result<(), StoreError> {
        let (o, digest) = (Owned::of(change), digest.to_string());
        self.with(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let change = o.change();
            let Some(desired) = current(&tx, change.world)?
                .filter(|d| d.candidate.as_ref().is_some_and(|c| c.digest == digest))
            else {
                return Ok(());
            };
            tx.execute(
                "UPDATE policy_desired SET candidate_source = NULL, candidate_digest = NULL,
                     revision = revision + 1 WHERE world = ?1",
                [change.world],
            )?;
            let candidate = desired.candidate.expect("filtered on it");
            let active = desired.active.map(|a| a.digest);
            record(
                &tx,
                &change,
                RolloutAction::Abandon,
                &candidate,
                active.as_deref(),
            )?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    pub async fn rollback(
        &self,
        change: &Change<'_>,
    ) -> Result<Result<DesiredRow, RolloutRefusal>, StoreError> {
        let o = Owned::of(change);
        self.with(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let change = o.change();
            let Some((previous, active)) =
                current(&tx, change.world)?.and_then(|d| Some((d.previous?, d.active)))
            else {
                return Ok(Err(RolloutRefusal::NoPrevious {
                    world: o.world.clone(),
                }));
            };
            let row = replace_active(&tx, &change, &previous, active.as_ref())?;
            let replaced = active.map(|a| a.digest);
            record(
                &tx,
                &change,
                RolloutAction::Rollback,
                &previous,
                replaced.as_deref(),
            )?;
            tx.commit()?;
            Ok(Ok(row))
        })
        .await
    }

    pub async fn policy_history(
        &self,
        world: Option<&str>,
        limit: i64,
    ) -> Result<Vec<HistoryRow>, StoreError> {
        let world = world.map(str::to_string);
        self.with(move |c| {
            let mut stmt = c.prepare(
                "SELECT id, world, action, source, digest, previous_digest, subject, reason, at
                 FROM policy_history WHERE (?1 IS NULL OR world = ?1)
                 ORDER BY id DESC LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![world, limit], |r| {
                Ok(HistoryRow {
                    id: r.get(0)?,
                    world: r.get(1)?,
                    action: r.get(2)?,
                    source: r.get(3)?,
                    digest: r.get(4)?,
                    previous_digest: r.get(5)?,
                    subject: r.get(6)?,
                    reason: r.get(7)?,
                    at: from_millis(r.get(8)?),
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    pub async fn heartbeat(
        &self,
        host_id: &str,
        started_at: SystemTime,
        reports: &[HostReport],
    ) -> Result<(), StoreError> {
        let (host_id, reports) = (host_id.to_string(), reports.to_vec());
        self.with(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            for r in &reports {
                tx.execute(
                    "INSERT INTO policy_hosts (host_id, world, serving, prepared, error,
                                               error_digest, started_at, seen_at)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                     ON CONFLICT (host_id, world) DO UPDATE SET serving = excluded.serving,
                         prepared = excluded.prepared, error = excluded.error,
                         error_digest = excluded.error_digest,
                         started_at = excluded.started_at, seen_at = excluded.seen_at",
                    params![
                        host_id,
                        r.world,
                        r.serving,
                        r.prepared,
                        r.error,
                        r.error_digest,
                        millis(started_at),
                        now_ms()
                    ],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    pub async fn policy_hosts(&self) -> Result<Vec<HostRow>, StoreError> {
        self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT host_id, world, serving, prepared, error, error_digest, started_at,
                        seen_at
                 FROM policy_hosts ORDER BY host_id, world",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(HostRow {
                    host_id: r.get(0)?,
                    report: HostReport {
                        world: r.get(1)?,
                        serving: r.get(2)?,
                        prepared: r.get(3)?,
                        error: r.get(4)?,
                        error_digest: r.get(5)?,
                    },
                    started_at: from_millis(r.get(6)?),
                    seen_at: from_millis(r.get(7)?),
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    pub async fn decision_counts(
        &self,
        since: SystemTime,
    ) -> Result<Vec<DecisionCount>, StoreError> {
        let since = millis(since);
        self.with(move |c| {
            let mut stmt = c.prepare(
                "SELECT decided_at / 3600000 * 3600000 AS hour, world, bundle_digest, count(*),
                        count(fallback)
                 FROM policy_decisions WHERE decided_at >= ?1
                 GROUP BY 1, 2, 3 ORDER BY 1 DESC, 2, 3",
            )?;
            let rows = stmt.query_map([since], |r| {
                Ok(DecisionCount {
                    hour: from_millis(r.get(0)?),
                    world: r.get(1)?,
                    digest: r.get(2)?,
                    decisions: r.get(3)?,
                    fallbacks: r.get(4)?,
                })
            })?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    pub async fn set_shadow(
        &self,
        change: &Change<'_>,
        shadow: Option<&ShadowRef>,
    ) -> Result<(), StoreError> {
        let (o, shadow) = (Owned::of(change), shadow.cloned());
        self.with(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let change = o.change();
            let now = current(&tx, change.world)?;
            let active = now
                .as_ref()
                .and_then(|d| d.active.clone())
                .map(|a| a.digest);
            match &shadow {
                Some(s) => {
                    tx.execute(
                        "INSERT INTO policy_desired (world, shadow_source, shadow_digest,
                                                     shadow_sample, revision, set_by, set_at,
                                                     reason)
                         VALUES (?1, ?2, ?3, ?4, 1, ?5, ?6, ?7)
                         ON CONFLICT (world) DO UPDATE SET shadow_source = excluded.shadow_source,
                             shadow_digest = excluded.shadow_digest,
                             shadow_sample = excluded.shadow_sample,
                             revision = policy_desired.revision + 1",
                        params![
                            change.world,
                            s.bundle.source,
                            s.bundle.digest,
                            s.sample,
                            change.subject,
                            now_ms(),
                            change.reason
                        ],
                    )?;
                    record(
                        &tx,
                        &change,
                        RolloutAction::Shadow,
                        &s.bundle,
                        active.as_deref(),
                    )?;
                }
                None => {
                    let Some(old) = now.and_then(|d| d.shadow) else {
                        return Ok(());
                    };
                    tx.execute(
                        "UPDATE policy_desired SET shadow_source = NULL, shadow_digest = NULL,
                             shadow_sample = NULL, revision = revision + 1 WHERE world = ?1",
                        [change.world],
                    )?;
                    record(
                        &tx,
                        &change,
                        RolloutAction::ShadowStop,
                        &old.bundle,
                        active.as_deref(),
                    )?;
                }
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    pub async fn record_shadow(&self, d: &ShadowDecision) -> Result<(), StoreError> {
        let d = d.clone();
        self.with(move |c| {
            c.execute(
                "INSERT INTO shadow_decisions (message_id, world, active_digest, candidate_digest,
                                               active, candidate, candidate_error, agreed,
                                               decided_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    d.message_id,
                    d.world,
                    d.active_digest,
                    d.candidate_digest,
                    d.active.to_string(),
                    d.candidate.as_ref().map(|c| c.to_string()),
                    d.candidate_error,
                    d.agreed,
                    now_ms()
                ],
            )?;
            Ok(())
        })
        .await
    }

    pub async fn shadow_decisions(
        &self,
        world: &str,
        since: SystemTime,
    ) -> Result<Vec<ShadowDecision>, StoreError> {
        let (world, since) = (world.to_string(), millis(since));
        self.with(move |c| {
            let mut stmt = c.prepare(
                "SELECT message_id, world, active_digest, candidate_digest, active, candidate,
                        candidate_error, agreed, decided_at
                 FROM shadow_decisions WHERE world = ?1 AND decided_at >= ?2 ORDER BY id DESC",
            )?;
            let rows = stmt.query_map(params![world, since], |r| {
                Ok((
                    r.get::<_, uuid::Uuid>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, Option<String>>(5)?,
                    r.get::<_, Option<String>>(6)?,
                    r.get::<_, bool>(7)?,
                    r.get::<_, i64>(8)?,
                ))
            })?;
            let json = |text: String| {
                serde_json::from_str(&text).map_err(|_| StoreError::Corrupt {
                    what: "shadow decision",
                    value: text,
                })
            };
            rows.map(|r| {
                let (
                    message_id,
                    world,
                    active_digest,
                    candidate_digest,
                    active,
                    candidate,
                    error,
                    agreed,
                    at,
                ) = r?;
                Ok(ShadowDecision {
                    message_id,
                    world,
                    active_digest,
                    candidate_digest,
                    active: json(active)?,
                    candidate: candidate.map(json).transpose()?,
                    candidate_error: error,
                    agreed,
                    decided_at: from_millis(at),
                })
            })
            .collect()
        })
        .await
    }

    pub async fn record_message_access(
        &self,
        messages: &[uuid::Uuid],
        subject: &str,
        purpose: &str,
    ) -> Result<(), StoreError> {
        let (messages, subject, purpose) =
            (messages.to_vec(), subject.to_string(), purpose.to_string());
        self.with(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            for id in &messages {
                tx.execute(
                    "INSERT INTO message_access (message_id, subject, purpose, at)
                     VALUES (?1, ?2, ?3, ?4)",
                    params![id, subject, purpose, now_ms()],
                )?;
            }
            tx.commit()?;
            Ok(())
        })
        .await
    }

    pub async fn message_bodies(
        &self,
        messages: &[uuid::Uuid],
    ) -> Result<Vec<(uuid::Uuid, Vec<u8>)>, StoreError> {
        let messages = messages.to_vec();
        self.with(move |c| {
            let mut out = Vec::with_capacity(messages.len());
            let mut stmt = c.prepare("SELECT id, body FROM messages WHERE id = ?1")?;
            for id in &messages {
                if let Some(row) = stmt
                    .query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))
                    .optional()?
                {
                    out.push(row);
                }
            }
            Ok(out)
        })
        .await
    }
}
