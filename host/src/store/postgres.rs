//! The Postgres store (production): a deadpool of tokio-postgres connections. Values
//! arrive sealed and ids arrive made (sealing binds a value to its row id), so this
//! code never sees keys or plaintext.

use std::time::Duration;

use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("DATABASE_URL: {0}")]
    Url(String),
    #[error("the database pool: {0}")]
    Pool(#[from] deadpool_postgres::PoolError),
    #[error("the database: {0}")]
    Database(#[from] tokio_postgres::Error),
}

/// An inbound SMS to record. `message_id` and `new_user_id` are made by the caller,
/// which sealed `phone` for `users.phone` of `new_user_id` and `body` for
/// `messages.body` of `message_id`.
#[derive(Debug, Clone)]
pub struct NewInbound<'a> {
    pub carrier: &'a str,
    pub carrier_message_id: &'a str,
    pub message_id: Uuid,
    pub new_user_id: Uuid,
    pub phone_index: &'a [u8],
    pub phone: &'a [u8],
    pub body: &'a [u8],
    pub segments: i32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// Stored; the user was created by this message when `new_user`.
    Stored { user_id: Uuid, new_user: bool },
    /// The carrier delivered this message before; nothing was written.
    Duplicate,
}

/// An outbox row claimed by one worker until its lease ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    pub id: Uuid,
    pub message_id: Uuid,
    pub user_id: Uuid,
    pub carrier: String,
    pub attempts: i32,
}

#[derive(Clone)]
pub struct PgStore {
    pool: Pool,
}

impl PgStore {
    pub fn connect(url: &str, pool_size: usize) -> Result<PgStore, StoreError> {
        let config: tokio_postgres::Config =
            url.parse().map_err(|e| StoreError::Url(format!("{e}")))?;
        let manager = Manager::from_config(
            config,
            tokio_postgres::NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(pool_size)
            .build()
            .map_err(|e| StoreError::Url(e.to_string()))?;
        Ok(PgStore { pool })
    }

    /// Store an inbound message durably, once: the user is found by blind index or
    /// created, and a repeated (carrier, carrier message id) writes nothing.
    pub async fn record_inbound(&self, m: &NewInbound<'_>) -> Result<Recorded, StoreError> {
        let mut client = self.pool.get().await?;
        let tx = client.transaction().await?;
        let user = tx
            .query_one(
                "INSERT INTO users (id, phone_index, phone) VALUES ($1, $2, $3)
                 ON CONFLICT (phone_index) DO UPDATE SET updated_at = now()
                 RETURNING id, (xmax = 0) AS created",
                &[&m.new_user_id, &m.phone_index, &m.phone],
            )
            .await?;
        let (user_id, new_user): (Uuid, bool) = (user.get(0), user.get(1));
        let inserted = tx
            .execute(
                "INSERT INTO messages (id, user_id, direction, carrier, carrier_message_id, body,
                                       status, segments, received_at)
                 VALUES ($1, $2, 'in', $3, $4, $5, 'received', $6, now())
                 ON CONFLICT (carrier, carrier_message_id) DO NOTHING",
                &[
                    &m.message_id,
                    &user_id,
                    &m.carrier,
                    &m.carrier_message_id,
                    &m.body,
                    &m.segments,
                ],
            )
            .await?;
        if inserted == 0 {
            // Roll back: a user created by a duplicate would be a second identity.
            tx.rollback().await?;
            return Ok(Recorded::Duplicate);
        }
        tx.commit().await?;
        Ok(Recorded::Stored { user_id, new_user })
    }

    /// Queue a reply for sending.
    pub async fn enqueue(
        &self,
        message_id: Uuid,
        user_id: Uuid,
        carrier: &str,
    ) -> Result<Uuid, StoreError> {
        let client = self.pool.get().await?;
        let row = client
            .query_one(
                "INSERT INTO outbox (message_id, user_id, carrier) VALUES ($1, $2, $3) RETURNING id",
                &[&message_id, &user_id, &carrier],
            )
            .await?;
        Ok(row.get(0))
    }

    /// Claim up to `limit` due rows for `lease`: rows locked by another worker are
    /// skipped, and a claimed row is not due again until its lease ends (so a worker
    /// that dies mid-send is retried, not lost).
    pub async fn claim(&self, limit: i64, lease: Duration) -> Result<Vec<Claimed>, StoreError> {
        let client = self.pool.get().await?;
        let lease_ms = lease.as_millis() as f64;
        let rows = client
            .query(
                "UPDATE outbox SET attempts = attempts + 1,
                        next_attempt_at = now() + $2::float8 * interval '1 millisecond'
                 WHERE id IN (
                     SELECT id FROM outbox
                     WHERE sent_at IS NULL AND dead_lettered_at IS NULL AND next_attempt_at <= now()
                     ORDER BY next_attempt_at
                     FOR UPDATE SKIP LOCKED
                     LIMIT $1)
                 RETURNING id, message_id, user_id, carrier, attempts",
                &[&limit, &lease_ms],
            )
            .await?;
        Ok(rows
            .iter()
            .map(|r| Claimed {
                id: r.get(0),
                message_id: r.get(1),
                user_id: r.get(2),
                carrier: r.get(3),
                attempts: r.get(4),
            })
            .collect())
    }

    pub async fn mark_sent(&self, id: Uuid) -> Result<(), StoreError> {
        let client = self.pool.get().await?;
        client
            .execute("UPDATE outbox SET sent_at = now() WHERE id = $1", &[&id])
            .await?;
        Ok(())
    }
}
