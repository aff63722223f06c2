//! The Postgres backend (production): a deadpool of tokio-postgres connections, shared
//! safely by many replicas (unique keys for dedupe, `FOR UPDATE SKIP LOCKED` for the
//! outbox). Values arrive sealed, so this code never sees keys or plaintext.

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::Row;
use tokio_postgres::types::ToSql;
use uuid::Uuid;

use super::migrate::{self, MigrationStatus, POSTGRES};
use super::types::*;

mod age;
mod billing;
mod erase;
mod outbox;
mod review;
mod rollout;
mod turn;

pub use rollout::CHANNEL;

#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
    /// host:port/database, never the password.
    target: String,
    /// For connections outside the pool (LISTEN).
    config: std::sync::Arc<tokio_postgres::Config>,
}

fn user_row(r: &Row) -> Result<UserRow, StoreError> {
    Ok(UserRow {
        id: r.get("id"),
        phone: r.get("phone"),
        name: r.get("name"),
        email: r.get("email"),
        preferences: r.get("preferences"),
        status: UserStatus::parse(r.get("status"))?,
        age_status: AgeStatus::parse(r.get("age_status"))?,
        tier: Tier::parse(r.get("tier"))?,
        locale: r.get("locale"),
        first_contact_at: r.get("first_contact_at"),
        last_disclosure_at: r.get("last_disclosure_at"),
        opted_out_at: r.get("opted_out_at"),
        opted_in_at: r.get("opted_in_at"),
    })
}

const USER_COLUMNS: &str = "id, phone, name, email, preferences, status, age_status, tier, locale,
     first_contact_at, last_disclosure_at, opted_out_at, opted_in_at";

impl PgStore {
    /// A pooled connection; the wait for it is `jules_store_pool_wait_seconds`.
    pub(super) async fn client(
        &self,
    ) -> Result<deadpool_postgres::Object, deadpool_postgres::PoolError> {
        let started = std::time::Instant::now();
        let client = self.pool.get().await;
        metrics::histogram!("jules_store_pool_wait_seconds").record(started.elapsed());
        client
    }

    /// Run one statement (prepared once per connection) on a pooled connection.
    async fn exec(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let statement = client.prepare_cached(sql).await?;
        Ok(client.execute(&statement, params).await?)
    }

    async fn rows(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, StoreError> {
        let client = self.client().await?;
        let statement = client.prepare_cached(sql).await?;
        Ok(client.query(&statement, params).await?)
    }

    async fn row(&self, sql: &str, params: &[&(dyn ToSql + Sync)]) -> Result<Row, StoreError> {
        let client = self.client().await?;
        let statement = client.prepare_cached(sql).await?;
        Ok(client.query_one(&statement, params).await?)
    }

    async fn row_opt(
        &self,
        sql: &str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, StoreError> {
        let client = self.client().await?;
        let statement = client.prepare_cached(sql).await?;
        Ok(client.query_opt(&statement, params).await?)
    }

    pub fn connect(url: &str, pool_size: usize) -> Result<PgStore, StoreError> {
        let mut config: tokio_postgres::Config =
            url.parse().map_err(|e| StoreError::Url(format!("{e}")))?;
        // Every statement here is a keyed lookup or write, prepared once per connection;
        // keep one plan for each. Left to choose, Postgres re-planned the turn's write on
        // every run (its generic plan is costed for ten-element arrays, the custom ones
        // for the actual one to three): 0.16 ms of planning for 0.34 ms of work. A plan
        // is made at first use from the tables' statistics, which autovacuum keeps
        // current. The URL's options may say otherwise.
        let options = config.get_options().unwrap_or_default().to_string();
        if !options.contains("plan_cache_mode") {
            config.options(format!("{options} -c plan_cache_mode=force_generic_plan").trim());
        }
        let target = format!(
            "{}:{}/{}",
            config
                .get_hosts()
                .first()
                .map(|h| match h {
                    tokio_postgres::config::Host::Tcp(h) => h.clone(),
                    tokio_postgres::config::Host::Unix(p) => p.display().to_string(),
                })
                .unwrap_or_default(),
            config.get_ports().first().copied().unwrap_or(5432),
            config.get_dbname().unwrap_or("")
        );
        let listen = config.clone();
        let manager = Manager::from_config(
            config,
            tokio_postgres::NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size.max(1))
            .build()
            .map_err(|e| StoreError::Url(e.to_string()))?;
        Ok(PgStore {
            pool,
            target,
            config: std::sync::Arc::new(listen),
        })
    }

    /// A server setting as this store's connections see it.
    pub async fn setting(&self, name: &str) -> Result<String, StoreError> {
        Ok(self
            .row("SELECT current_setting($1)", &[&name])
            .await?
            .get(0))
    }

    pub fn describe(&self) -> &str {
        &self.target
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        self.client().await?.simple_query("SELECT 1").await?;
        Ok(())
    }

    pub async fn migrate(&self) -> Result<Vec<String>, StoreError> {
        let mut client = self.client().await?;
        Ok(migrate::apply(&mut client, POSTGRES).await?)
    }

    pub async fn migration_status(&self) -> Result<Vec<MigrationStatus>, StoreError> {
        let client = self.client().await?;
        Ok(migrate::status(&client, POSTGRES).await?)
    }

    /// Store an inbound message durably, once: the user is found by blind index or
    /// created, and a repeated (carrier, carrier message id) writes nothing. One
    /// statement, so one round trip and one (implicit) transaction: a delivery already
    /// stored skips the user upsert, and of concurrent deliveries of one message the
    /// unique key lets one insert and the others wait for it, then do nothing.
    pub async fn record_inbound(&self, m: &NewInbound<'_>) -> Result<Recorded, StoreError> {
        let row = self
            .row_opt(
                "WITH seen AS (
                     SELECT 1 FROM messages WHERE carrier = $4 AND carrier_message_id = $5),
                 u AS (
                     INSERT INTO users (id, phone_index, phone, first_contact_at)
                     SELECT $1, $2, $3, $8 WHERE NOT EXISTS (SELECT 1 FROM seen)
                     ON CONFLICT (phone_index) DO UPDATE SET updated_at = now()
                     RETURNING id, (xmax = 0) AS created),
                 m AS (
                     INSERT INTO messages (id, user_id, direction, carrier, carrier_message_id,
                                           body, status, segments, received_at)
                     SELECT $6, u.id, 'in', $4, $5, $7, 'received', $9, $8 FROM u
                     ON CONFLICT (carrier, carrier_message_id) DO NOTHING
                     RETURNING user_id)
                 SELECT u.id, u.created FROM u JOIN m ON m.user_id = u.id",
                &[
                    &m.new_user_id,
                    &m.phone_index,
                    &m.phone,
                    &m.carrier,
                    &m.carrier_message_id,
                    &m.message_id,
                    &m.body,
                    &m.at,
                    &m.segments,
                ],
            )
            .await?;
        Ok(match row {
            Some(r) => Recorded::Stored {
                user_id: r.get(0),
                new_user: r.get(1),
            },
            None => Recorded::Duplicate,
        })
    }

    pub async fn user(&self, id: Uuid) -> Result<Option<UserRow>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE id = $1");
        self.row_opt(&sql, &[&id])
            .await?
            .map(|r| user_row(&r))
            .transpose()
    }

    pub async fn user_by_phone_index(&self, index: &[u8]) -> Result<Option<UserRow>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE phone_index = $1");
        self.row_opt(&sql, &[&index])
            .await?
            .map(|r| user_row(&r))
            .transpose()
    }

    /// `sealed` is sealed for `users.preferences` of `id`.
    pub async fn set_preferences(&self, id: Uuid, sealed: Option<&[u8]>) -> Result<(), StoreError> {
        self.exec(
            "UPDATE users SET preferences = $2, updated_at = now() WHERE id = $1",
            &[&id, &sealed],
        )
        .await?;
        Ok(())
    }

    /// The user's newest `limit` messages, oldest first.
    pub async fn recent_messages(
        &self,
        user_id: Uuid,
        limit: i64,
    ) -> Result<Vec<MessageRow>, StoreError> {
        let rows = self
            .rows(
                "SELECT id, direction, body, status, created_at, carrier FROM (
                     SELECT * FROM messages WHERE user_id = $1
                     ORDER BY created_at DESC, id DESC LIMIT $2) newest
                 ORDER BY created_at, id",
                &[&user_id, &limit],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(MessageRow {
                    id: r.get(0),
                    direction: Direction::parse(r.get(1))?,
                    body: r.get(2),
                    status: MessageStatus::parse(r.get(3))?,
                    created_at: r.get(4),
                    carrier: r.get(5),
                })
            })
            .collect()
    }

    /// Queue a reply: its message row (queued) and its outbox row, in one transaction.
    /// None when this inbound message already has a reply of this purpose.
    pub async fn queue_reply(&self, r: &NewReply<'_>) -> Result<Option<Uuid>, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        let inserted = tx
            .execute(
                &tx.prepare_cached(
                    "INSERT INTO messages (id, user_id, direction, carrier, body, status, segments,
                                       reply_to, purpose)
                 VALUES ($1, $2, 'out', $3, $4, 'queued', $5, $6, $7)
                 ON CONFLICT (reply_to, purpose) WHERE reply_to IS NOT NULL DO NOTHING",
                )
                .await?,
                &[
                    &r.message_id,
                    &r.user_id,
                    &r.carrier,
                    &r.body,
                    &r.segments,
                    &r.reply_to,
                    &r.purpose.as_str(),
                ],
            )
            .await?;
        if inserted == 0 {
            return Ok(None);
        }
        let outbox: Uuid = tx
            .query_one(
                &tx.prepare_cached(
                    "INSERT INTO outbox (id, message_id, user_id, carrier) VALUES ($1, $2, $3, $4)
                 RETURNING id",
                )
                .await?,
                &[&Uuid::new_v4(), &r.message_id, &r.user_id, &r.carrier],
            )
            .await?
            .get(0);
        tx.commit().await?;
        Ok(Some(outbox))
    }

    /// A carrier's delivery report; false when no message has that carrier id.
    pub async fn delivery_update(
        &self,
        carrier: &str,
        carrier_message_id: &str,
        status: MessageStatus,
    ) -> Result<bool, StoreError> {
        let n = self
            .exec(
                "UPDATE messages SET status = $3, updated_at = now()
                 WHERE carrier = $1 AND carrier_message_id = $2 AND direction = 'out'",
                &[&carrier, &carrier_message_id, &status.as_str()],
            )
            .await?;
        Ok(n > 0)
    }

    pub async fn key_checks(
        &self,
        new: &[(&str, String, Vec<u8>)],
    ) -> Result<Vec<(String, String, Vec<u8>)>, StoreError> {
        let kinds: Vec<&str> = new.iter().map(|(k, _, _)| *k).collect();
        let ids: Vec<&str> = new.iter().map(|(_, id, _)| id.as_str()).collect();
        let values: Vec<&[u8]> = new.iter().map(|(_, _, v)| v.as_slice()).collect();
        self.exec(
            "INSERT INTO key_checks (kind, key_id, check_value)
             SELECT * FROM unnest($1::text[], $2::text[], $3::bytea[])
             ON CONFLICT DO NOTHING",
            &[&kinds, &ids, &values],
        )
        .await?;
        let rows = self
            .rows("SELECT kind, key_id, check_value FROM key_checks", &[])
            .await?;
        Ok(rows
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2)))
            .collect())
    }

    pub async fn record_rejected(&self, r: &NewRejected<'_>) -> Result<bool, StoreError> {
        let n = self
            .exec(
                "INSERT INTO rejected_events (id, carrier, reason, body, fingerprint)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING",
                &[&r.id, &r.carrier, &r.reason, &r.body, &r.fingerprint],
            )
            .await?;
        Ok(n == 1)
    }

    pub async fn rejected_count(&self) -> Result<i64, StoreError> {
        Ok(self
            .row("SELECT count(*) FROM rejected_events", &[])
            .await?
            .get(0))
    }

    pub async fn outbox_depth(&self) -> Result<i64, StoreError> {
        Ok(self
            .row(
                "SELECT count(*) FROM outbox WHERE sent_at IS NULL AND dead_lettered_at IS NULL",
                &[],
            )
            .await?
            .get(0))
    }

    /// Remember a webhook delivery; true the first time it is seen.
    pub async fn first_delivery(&self, provider: &str, event_id: &str) -> Result<bool, StoreError> {
        let n = self
            .exec(REMEMBER_DELIVERY, &[&provider, &event_id])
            .await?;
        Ok(n == 1)
    }

    pub async fn record_crisis_event(&self, e: &NewCrisisEvent<'_>) -> Result<Uuid, StoreError> {
        let id = Uuid::new_v4();
        self.exec(
            "INSERT INTO crisis_events (id, user_id, message_id, severity, categories,
                                            bundle_digest, fallback)
                 VALUES ($1, $2, $3, $4, $5, $6, $7)",
            &[
                &id,
                &e.user_id,
                &e.message_id,
                &e.severity,
                &e.categories,
                &e.bundle_digest,
                &e.fallback,
            ],
        )
        .await?;
        Ok(id)
    }

    pub async fn crisis_events(&self, user_id: Uuid) -> Result<Vec<CrisisEventRow>, StoreError> {
        let rows = self
            .rows(
                "SELECT id, user_id, message_id, severity, categories, bundle_digest, fallback,
                        review_state
                 FROM crisis_events WHERE user_id = $1 ORDER BY created_at, id",
                &[&user_id],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(CrisisEventRow {
                    id: r.get(0),
                    user_id: r.get(1),
                    message_id: r.get(2),
                    severity: r.get(3),
                    categories: r.get(4),
                    bundle_digest: r.get(5),
                    fallback: r.get(6),
                    review_state: ReviewState::parse(r.get(7))?,
                })
            })
            .collect()
    }

    pub async fn compliance_log(&self, user_id: Uuid) -> Result<Vec<ComplianceRow>, StoreError> {
        let rows = self
            .rows(
                "SELECT event, detail, bundle_digest, occurred_at FROM compliance_log
                 WHERE user_id = $1 ORDER BY id",
                &[&user_id],
            )
            .await?;
        rows.iter()
            .map(|r| {
                Ok(ComplianceRow {
                    event: ComplianceEvent::parse(r.get(0))?,
                    detail: r.get(1),
                    bundle_digest: r.get(2),
                    occurred_at: r.get(3),
                })
            })
            .collect()
    }

    /// (world, bundle digest, summary) of the decisions about one message.
    pub async fn policy_decisions(
        &self,
        message_id: Uuid,
    ) -> Result<Vec<(String, Option<String>, serde_json::Value)>, StoreError> {
        let rows = self
            .rows(
                "SELECT world, bundle_digest, summary::text FROM policy_decisions
                 WHERE message_id = $1 ORDER BY id",
                &[&message_id],
            )
            .await?;
        rows.iter()
            .map(|r| {
                let text: String = r.get(2);
                let summary = serde_json::from_str(&text).map_err(|_| StoreError::Corrupt {
                    what: "policy decision summary",
                    value: text.clone(),
                })?;
                Ok((r.get(0), r.get(1), summary))
            })
            .collect()
    }

    /// One page of a sealed column's non-null values, in id order after `after`.
    pub async fn sealed_page(
        &self,
        col: SealedColumn,
        after: Option<Uuid>,
        limit: i64,
    ) -> Result<Vec<(Uuid, Vec<u8>)>, StoreError> {
        let client = self.client().await?;
        let (table, column) = (col.table, col.column);
        let sql = format!(
            "SELECT id, {column} FROM {table}
             WHERE octet_length({column}) > 0 AND ($1::uuid IS NULL OR id > $1)
             ORDER BY id LIMIT $2"
        );
        let rows = client.query(&sql, &[&after, &limit]).await?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    /// Replace a sealed value if it is still `old` (a concurrent write wins).
    pub async fn replace_sealed(
        &self,
        col: SealedColumn,
        id: Uuid,
        old: &[u8],
        new: &[u8],
    ) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let (table, column) = (col.table, col.column);
        let sql = format!("UPDATE {table} SET {column} = $3 WHERE id = $1 AND {column} = $2");
        Ok(client.execute(&sql, &[&id, &old, &new]).await? == 1)
    }

    /// A raw single-row INSERT through the pool (the benchmark's baseline).
    #[cfg(feature = "bench-support")]
    pub async fn raw_insert(&self, id: Uuid, payload: &[u8]) -> Result<(), StoreError> {
        self.exec(
            "INSERT INTO webhook_deliveries (provider, event_id) VALUES ('raw', $1)",
            &[&format!("{id}:{}", payload.len())],
        )
        .await?;
        Ok(())
    }
}

/// Remembers a webhook delivery; one row affected the first time it is seen.
const REMEMBER_DELIVERY: &str =
    "INSERT INTO webhook_deliveries (provider, event_id) VALUES ($1, $2)
     ON CONFLICT DO NOTHING";

/// Remember a webhook delivery inside `tx` (it is forgotten if `tx` rolls back); true
/// the first time it is seen.
async fn first_delivery_in(
    tx: &tokio_postgres::Transaction<'_>,
    provider: &str,
    event_id: &str,
) -> Result<bool, StoreError> {
    let n = tx
        .execute(REMEMBER_DELIVERY, &[&provider, &event_id])
        .await?;
    Ok(n == 1)
}
