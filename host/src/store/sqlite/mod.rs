//! The embedded backend: one SQLite file (WAL, synchronous = FULL, so a commit is on
//! disk before it returns) under the data directory, for running without Postgres.
//! One connection serializes writers, which is what SQLite does anyway; calls run on
//! tokio's blocking pool. Same operations and behaviour as the Postgres backend.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime};

use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params};
use uuid::Uuid;

use super::migrate::{Migration, MigrationError, MigrationStatus, SQLITE};
use super::types::*;

mod age;
mod billing;
mod erase;
mod outbox;
mod review;
mod rollout;
mod turn;

#[derive(Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
    path: Arc<PathBuf>,
}

fn now_ms() -> i64 {
    millis(SystemTime::now())
}

fn opt_time(ms: Option<i64>) -> Option<SystemTime> {
    ms.map(from_millis)
}

fn user_row(r: &Row<'_>) -> rusqlite::Result<(UserRow, [String; 3])> {
    Ok((
        UserRow {
            id: r.get("id")?,
            phone: r.get("phone")?,
            name: r.get("name")?,
            email: r.get("email")?,
            preferences: r.get("preferences")?,
            status: UserStatus::Active,
            age_status: AgeStatus::Unknown,
            tier: Tier::Free,
            locale: r.get("locale")?,
            first_contact_at: from_millis(r.get("first_contact_at")?),
            last_disclosure_at: opt_time(r.get("last_disclosure_at")?),
            opted_out_at: opt_time(r.get("opted_out_at")?),
            opted_in_at: opt_time(r.get("opted_in_at")?),
        },
        [r.get("status")?, r.get("age_status")?, r.get("tier")?],
    ))
}

fn parse_user((mut u, [status, age, tier]): (UserRow, [String; 3])) -> Result<UserRow, StoreError> {
    u.status = UserStatus::parse(&status)?;
    u.age_status = AgeStatus::parse(&age)?;
    u.tier = Tier::parse(&tier)?;
    Ok(u)
}

const USER_COLUMNS: &str = "id, phone, name, email, preferences, status, age_status, tier, locale,
     first_contact_at, last_disclosure_at, opted_out_at, opted_in_at";

impl SqliteStore {
    /// Open (or create) the store file; its folder is created if missing.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        let failed = |reason: String| StoreError::Open {
            path: path.display().to_string(),
            reason,
        };
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|e| failed(e.to_string()))?;
        }
        let conn = Connection::open(path).map_err(|e| failed(e.to_string()))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        conn.busy_timeout(Duration::from_secs(5))?;
        Ok(SqliteStore {
            conn: Arc::new(Mutex::new(conn)),
            path: Arc::new(path.to_path_buf()),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Run `f` on the connection, on the blocking pool.
    async fn with<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let conn = self.conn.clone();
        tokio::task::spawn_blocking(move || {
            let mut c = conn.lock().unwrap_or_else(PoisonError::into_inner);
            f(&mut c)
        })
        .await
        .map_err(|e| StoreError::Open {
            path: self.path.display().to_string(),
            reason: format!("the store's thread failed: {e}"),
        })?
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        self.with(|c| Ok(c.query_row("SELECT 1", [], |_| Ok(()))?))
            .await
    }

    pub async fn migrate(&self) -> Result<Vec<String>, StoreError> {
        self.with(|c| Ok(apply(c, SQLITE)?)).await
    }

    pub async fn migration_status(&self) -> Result<Vec<MigrationStatus>, StoreError> {
        self.with(|c| {
            ensure_table(c)?;
            let mut stmt = c.prepare("SELECT version FROM schema_migrations")?;
            let done: Vec<i64> = stmt
                .query_map([], |r| r.get(0))?
                .collect::<Result<_, _>>()?;
            Ok(SQLITE
                .iter()
                .map(|m| MigrationStatus {
                    label: m.label(),
                    applied: done.contains(&m.version),
                })
                .collect())
        })
        .await
    }

    pub async fn record_inbound(&self, m: &NewInbound<'_>) -> Result<Recorded, StoreError> {
        let (carrier, carrier_id) = (m.carrier.to_owned(), m.carrier_message_id.to_owned());
        let (index, phone, body) = (m.phone_index.to_vec(), m.phone.to_vec(), m.body.to_vec());
        let (message_id, new_user_id, segments, at) =
            (m.message_id, m.new_user_id, m.segments, millis(m.at));
        self.with(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let duplicate: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM messages WHERE carrier = ?1 AND carrier_message_id = ?2)",
                params![carrier, carrier_id],
                |r| r.get(0),
            )?;
            if duplicate {
                return Ok(Recorded::Duplicate);
            }
            let existing: Option<Uuid> = tx
                .query_row(
                    "SELECT id FROM users WHERE phone_index = ?1",
                    params![index],
                    |r| r.get(0),
                )
                .optional()?;
            let (user_id, new_user) = match existing {
                Some(id) => (id, false),
                None => {
                    tx.execute(
                        "INSERT INTO users (id, phone_index, phone, first_contact_at)
                         VALUES (?1, ?2, ?3, ?4)",
                        params![new_user_id, index, phone, at],
                    )?;
                    (new_user_id, true)
                }
            };
            tx.execute(
                "INSERT INTO messages (id, user_id, direction, carrier, carrier_message_id, body,
                                       status, segments, received_at)
                 VALUES (?1, ?2, 'in', ?3, ?4, ?5, 'received', ?6, ?7)",
                params![message_id, user_id, carrier, carrier_id, body, segments, at],
            )?;
            tx.commit()?;
            Ok(Recorded::Stored { user_id, new_user })
        })
        .await
    }

    async fn user_where(
        &self,
        clause: &'static str,
        key: Vec<u8>,
    ) -> Result<Option<UserRow>, StoreError> {
        self.with(move |c| {
            let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE {clause} = ?1");
            c.query_row(&sql, params![key], user_row)
                .optional()?
                .map(parse_user)
                .transpose()
        })
        .await
    }

    pub async fn user(&self, id: Uuid) -> Result<Option<UserRow>, StoreError> {
        self.user_where("id", id.as_bytes().to_vec()).await
    }

    pub async fn user_by_phone_index(&self, index: &[u8]) -> Result<Option<UserRow>, StoreError> {
        self.user_where("phone_index", index.to_vec()).await
    }

    pub async fn set_preferences(&self, id: Uuid, sealed: Option<&[u8]>) -> Result<(), StoreError> {
        let sealed = sealed.map(<[u8]>::to_vec);
        self.with(move |c| {
            c.execute(
                "UPDATE users SET preferences = ?2, updated_at = ?3 WHERE id = ?1",
                params![id, sealed, now_ms()],
            )?;
            Ok(())
        })
        .await
    }

    pub async fn recent_messages(
        &self,
        user_id: Uuid,
        limit: i64,
    ) -> Result<Vec<MessageRow>, StoreError> {
        self.with(move |c| {
            let mut stmt = c.prepare(
                "SELECT id, direction, body, status, created_at, carrier FROM (
                     SELECT rowid AS seq, * FROM messages WHERE user_id = ?1
                     ORDER BY created_at DESC, seq DESC LIMIT ?2)
                 ORDER BY created_at, seq",
            )?;
            let rows = stmt.query_map(params![user_id, limit], |r| {
                Ok((
                    r.get::<_, Uuid>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Vec<u8>>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, String>(5)?,
                ))
            })?;
            rows.map(|row| {
                let (id, direction, body, status, created, carrier) = row?;
                Ok(MessageRow {
                    id,
                    carrier,
                    direction: Direction::parse(&direction)?,
                    body,
                    status: MessageStatus::parse(&status)?,
                    created_at: from_millis(created),
                })
            })
            .collect()
        })
        .await
    }

    pub async fn queue_reply(&self, r: &NewReply<'_>) -> Result<Option<Uuid>, StoreError> {
        let (message_id, user_id, carrier) = (r.message_id, r.user_id, r.carrier.to_owned());
        let (body, segments, reply_to, purpose) =
            (r.body.to_vec(), r.segments, r.reply_to, r.purpose);
        self.with(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let inserted = tx.execute(
                "INSERT INTO messages (id, user_id, direction, carrier, body, status, segments,
                                       reply_to, purpose)
                 VALUES (?1, ?2, 'out', ?3, ?4, 'queued', ?5, ?6, ?7)
                 ON CONFLICT (reply_to, purpose) WHERE reply_to IS NOT NULL DO NOTHING",
                params![
                    message_id,
                    user_id,
                    carrier,
                    body,
                    segments,
                    reply_to,
                    purpose.as_str()
                ],
            )?;
            if inserted == 0 {
                return Ok(None);
            }
            let outbox = Uuid::new_v4();
            tx.execute(
                "INSERT INTO outbox (id, message_id, user_id, carrier) VALUES (?1, ?2, ?3, ?4)",
                params![outbox, message_id, user_id, carrier],
            )?;
            tx.commit()?;
            Ok(Some(outbox))
        })
        .await
    }

    pub async fn delivery_update(
        &self,
        carrier: &str,
        carrier_message_id: &str,
        status: MessageStatus,
    ) -> Result<bool, StoreError> {
        let (carrier, carrier_id) = (carrier.to_owned(), carrier_message_id.to_owned());
        self.with(move |c| {
            let n = c.execute(
                "UPDATE messages SET status = ?3, updated_at = ?4
                 WHERE carrier = ?1 AND carrier_message_id = ?2 AND direction = 'out'",
                params![carrier, carrier_id, status.as_str(), now_ms()],
            )?;
            Ok(n > 0)
        })
        .await
    }

    pub async fn key_checks(
        &self,
        new: &[(&str, String, Vec<u8>)],
    ) -> Result<Vec<(String, String, Vec<u8>)>, StoreError> {
        let new: Vec<(String, String, Vec<u8>)> = new
            .iter()
            .map(|(k, id, v)| (k.to_string(), id.clone(), v.clone()))
            .collect();
        self.with(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            for (kind, id, value) in new {
                tx.execute(
                    "INSERT INTO key_checks (kind, key_id, check_value) VALUES (?1, ?2, ?3)
                     ON CONFLICT DO NOTHING",
                    params![kind, id, value],
                )?;
            }
            let all = {
                let mut stmt = tx.prepare("SELECT kind, key_id, check_value FROM key_checks")?;
                let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
                rows.collect::<Result<Vec<_>, _>>()?
            };
            tx.commit()?;
            Ok(all)
        })
        .await
    }

    pub async fn record_rejected(&self, r: &NewRejected<'_>) -> Result<bool, StoreError> {
        let (id, carrier, reason) = (r.id, r.carrier.to_owned(), r.reason.to_owned());
        let (body, fingerprint) = (r.body.to_vec(), r.fingerprint.to_vec());
        self.with(move |c| {
            let n = c.execute(
                "INSERT INTO rejected_events (id, carrier, reason, body, fingerprint)
                 VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
                params![id, carrier, reason, body, fingerprint],
            )?;
            Ok(n == 1)
        })
        .await
    }

    pub async fn rejected_count(&self) -> Result<i64, StoreError> {
        self.with(|c| Ok(c.query_row("SELECT count(*) FROM rejected_events", [], |r| r.get(0))?))
            .await
    }

    pub async fn outbox_depth(&self) -> Result<i64, StoreError> {
        self.with(|c| {
            Ok(c.query_row(
                "SELECT count(*) FROM outbox WHERE sent_at IS NULL AND dead_lettered_at IS NULL",
                [],
                |r| r.get(0),
            )?)
        })
        .await
    }

    pub async fn first_delivery(&self, provider: &str, event_id: &str) -> Result<bool, StoreError> {
        let (provider, event_id) = (provider.to_owned(), event_id.to_owned());
        self.with(move |c| remember_delivery(c, &provider, &event_id))
            .await
    }

    pub async fn record_crisis_event(&self, e: &NewCrisisEvent<'_>) -> Result<Uuid, StoreError> {
        let id = Uuid::new_v4();
        let (user_id, message_id, fallback) = (e.user_id, e.message_id, e.fallback);
        let (severity, digest) = (e.severity.to_owned(), e.bundle_digest.to_owned());
        let categories = serde_json::to_string(e.categories).expect("strings serialize");
        self.with(move |c| {
            c.execute(
                "INSERT INTO crisis_events (id, user_id, message_id, severity, categories,
                                            bundle_digest, fallback)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                params![
                    id, user_id, message_id, severity, categories, digest, fallback
                ],
            )?;
            Ok(id)
        })
        .await
    }

    pub async fn crisis_events(&self, user_id: Uuid) -> Result<Vec<CrisisEventRow>, StoreError> {
        self.with(move |c| {
            let mut stmt = c.prepare(
                "SELECT id, user_id, message_id, severity, categories, bundle_digest, fallback,
                        review_state
                 FROM crisis_events WHERE user_id = ?1 ORDER BY created_at, rowid",
            )?;
            let rows = stmt.query_map(params![user_id], |r| {
                Ok((
                    CrisisEventRow {
                        id: r.get(0)?,
                        user_id: r.get(1)?,
                        message_id: r.get(2)?,
                        severity: r.get(3)?,
                        categories: Vec::new(),
                        bundle_digest: r.get(5)?,
                        fallback: r.get(6)?,
                        review_state: ReviewState::Pending,
                    },
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(7)?,
                ))
            })?;
            rows.map(|row| {
                let (row, categories, review) = row?;
                Ok(CrisisEventRow {
                    categories: serde_json::from_str(&categories).map_err(|_| {
                        StoreError::Corrupt {
                            what: "crisis categories",
                            value: categories.clone(),
                        }
                    })?,
                    review_state: ReviewState::parse(&review)?,
                    ..row
                })
            })
            .collect()
        })
        .await
    }

    pub async fn compliance_log(&self, user_id: Uuid) -> Result<Vec<ComplianceRow>, StoreError> {
        self.with(move |c| {
            let mut stmt = c.prepare(
                "SELECT event, detail, bundle_digest, occurred_at FROM compliance_log
                 WHERE user_id = ?1 ORDER BY id",
            )?;
            let rows = stmt.query_map(params![user_id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, i64>(3)?,
                ))
            })?;
            rows.map(|row| {
                let (event, detail, bundle_digest, at) = row?;
                Ok(ComplianceRow {
                    event: ComplianceEvent::parse(&event)?,
                    detail,
                    bundle_digest,
                    occurred_at: from_millis(at),
                })
            })
            .collect()
        })
        .await
    }

    pub async fn policy_decisions(
        &self,
        message_id: Uuid,
    ) -> Result<Vec<(String, Option<String>, serde_json::Value)>, StoreError> {
        self.with(move |c| {
            let mut stmt = c.prepare(
                "SELECT world, bundle_digest, summary FROM policy_decisions
                 WHERE message_id = ?1 ORDER BY id",
            )?;
            let rows = stmt.query_map(params![message_id], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })?;
            rows.map(|row| {
                let (world, digest, text) = row?;
                let summary = serde_json::from_str(&text).map_err(|_| StoreError::Corrupt {
                    what: "policy decision summary",
                    value: text.clone(),
                })?;
                Ok((world, digest, summary))
            })
            .collect()
        })
        .await
    }

    pub async fn sealed_page(
        &self,
        col: SealedColumn,
        after: Option<Uuid>,
        limit: i64,
    ) -> Result<Vec<(Uuid, Vec<u8>)>, StoreError> {
        self.with(move |c| {
            let (table, column) = (col.table, col.column);
            let mut stmt = c.prepare(&format!(
                "SELECT id, {column} FROM {table}
                 WHERE length({column}) > 0 AND (?1 IS NULL OR id > ?1)
                 ORDER BY id LIMIT ?2"
            ))?;
            let rows = stmt.query_map(params![after, limit], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    pub async fn replace_sealed(
        &self,
        col: SealedColumn,
        id: Uuid,
        old: &[u8],
        new: &[u8],
    ) -> Result<bool, StoreError> {
        let (old, new) = (old.to_vec(), new.to_vec());
        self.with(move |c| {
            let (table, column) = (col.table, col.column);
            let n = c.execute(
                &format!("UPDATE {table} SET {column} = ?3 WHERE id = ?1 AND {column} = ?2"),
                params![id, old, new],
            )?;
            Ok(n == 1)
        })
        .await
    }

    #[cfg(feature = "bench-support")]
    pub async fn raw_insert(&self, id: Uuid, payload: &[u8]) -> Result<(), StoreError> {
        let event = format!("{id}:{}", payload.len());
        self.with(move |c| {
            c.execute(
                "INSERT INTO webhook_deliveries (provider, event_id) VALUES ('raw', ?1)",
                params![event],
            )?;
            Ok(())
        })
        .await
    }
}

fn ensure_table(c: &Connection) -> rusqlite::Result<()> {
    c.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_migrations (
             version    INTEGER PRIMARY KEY,
             name       TEXT NOT NULL,
             checksum   TEXT NOT NULL,
             applied_at INTEGER NOT NULL DEFAULT (CAST(unixepoch('subsec') * 1000 AS INTEGER))
         ) STRICT",
    )
}

/// Apply pending migrations, each in its own transaction (SQLite's DDL is
/// transactional, so a failing one leaves the schema as it was).
pub fn apply(c: &mut Connection, migrations: &[Migration]) -> Result<Vec<String>, MigrationError> {
    ensure_table(c)?;
    let mut applied = Vec::new();
    for m in migrations {
        let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let recorded: Option<String> = tx
            .query_row(
                "SELECT checksum FROM schema_migrations WHERE version = ?1",
                params![m.version],
                |r| r.get(0),
            )
            .optional()?;
        if m.already_applied(recorded)? {
            continue;
        }
        let failed = |e: rusqlite::Error| MigrationError::Failed {
            migration: m.label(),
            source: Box::new(e),
        };
        tx.execute_batch(m.sql).map_err(failed)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, checksum) VALUES (?1, ?2, ?3)",
            params![m.version, m.name, m.checksum()],
        )
        .map_err(failed)?;
        tx.commit().map_err(failed)?;
        applied.push(m.label());
    }
    Ok(applied)
}

/// Remember a webhook delivery inside `tx` (it is forgotten if `tx` rolls back); true
/// the first time it is seen.
fn first_delivery_in(
    tx: &rusqlite::Transaction<'_>,
    provider: &str,
    event_id: &str,
) -> Result<bool, StoreError> {
    remember_delivery(tx, provider, event_id)
}

/// Remember a webhook delivery on `c`; true the first time it is seen.
fn remember_delivery(c: &Connection, provider: &str, event_id: &str) -> Result<bool, StoreError> {
    let n = c.execute(
        "INSERT INTO webhook_deliveries (provider, event_id) VALUES (?1, ?2)
         ON CONFLICT DO NOTHING",
        params![provider, event_id],
    )?;
    Ok(n == 1)
}
