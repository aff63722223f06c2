//! Conversation memory in Redis, shared by every host: a list of recent turns and the
//! preferences per user, each value sealed (AES-256-GCM, bound to the user) so Redis
//! holds no personal data in the clear. Every key expires `ttl` after its last write.
//! The connection is made lazily and remade by the connection manager; while Redis is
//! unreachable calls fail fast and the caller falls back to the store.

use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use uuid::Uuid;

use crate::crypto::{Binding, CryptoError, KeyRing, open, seal};
use crate::store::Turn;

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("redis is unreachable (next attempt in {0:?})")]
    Down(Duration),
    #[error("redis took longer than {0:?}")]
    Timeout(Duration),
    #[error("a cached value does not open: {0}")]
    Sealed(#[from] CryptoError),
    #[error("a cached value is not a turn: {0}")]
    Decode(#[from] serde_json::Error),
}

pub struct RedisCache {
    client: redis::Client,
    manager: Mutex<Option<ConnectionManager>>,
    retry_at: Mutex<Option<Instant>>,
    prefix: String,
    keep: usize,
    ttl: Duration,
    timeout: Duration,
}

fn bind<'a>(column: &'a str, row: &'a str) -> Binding<'a> {
    Binding {
        table: "memory",
        column,
        row,
    }
}

impl RedisCache {
    /// `url` is checked here; no connection is made until the first call.
    pub fn new(
        url: &str,
        prefix: &str,
        keep: usize,
        ttl: Duration,
    ) -> Result<RedisCache, redis::RedisError> {
        Ok(RedisCache {
            client: redis::Client::open(url)?,
            manager: Mutex::new(None),
            retry_at: Mutex::new(None),
            prefix: prefix.to_string(),
            keep: keep.max(1),
            ttl,
            timeout: Duration::from_millis(500),
        })
    }

    fn key(&self, kind: &str, user: Uuid) -> String {
        format!("{}{kind}:{user}", self.prefix)
    }

    async fn conn(&self) -> Result<ConnectionManager, CacheError> {
        if let Some(c) = self
            .manager
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
        {
            return Ok(c);
        }
        let now = Instant::now();
        if let Some(at) = *self.retry_at.lock().unwrap_or_else(PoisonError::into_inner)
            && at > now
        {
            return Err(CacheError::Down(at - now));
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(self.timeout)
            .set_response_timeout(self.timeout)
            .set_number_of_retries(1);
        let made = tokio::time::timeout(
            self.timeout * 2,
            ConnectionManager::new_with_config(self.client.clone(), config),
        )
        .await;
        match made {
            Ok(Ok(c)) => {
                *self.manager.lock().unwrap_or_else(PoisonError::into_inner) = Some(c.clone());
                Ok(c)
            }
            failed => {
                *self.retry_at.lock().unwrap_or_else(PoisonError::into_inner) =
                    Some(now + Duration::from_secs(1));
                match failed {
                    Ok(Err(e)) => Err(e.into()),
                    _ => Err(CacheError::Timeout(self.timeout * 2)),
                }
            }
        }
    }

    /// Bound every call: a hung Redis must not hold a message up.
    async fn run<T>(
        &self,
        f: impl AsyncFnOnce(ConnectionManager) -> redis::RedisResult<T>,
    ) -> Result<T, CacheError> {
        let conn = self.conn().await?;
        match tokio::time::timeout(self.timeout, f(conn)).await {
            Ok(r) => Ok(r?),
            Err(_) => Err(CacheError::Timeout(self.timeout)),
        }
    }

    /// Delete everything kept for `user`.
    pub async fn forget(&self, user: Uuid) -> Result<(), CacheError> {
        let keys = [self.key("turns", user), self.key("prefs", user)];
        self.run(async |mut c| c.del::<_, ()>(&keys).await).await
    }

    pub async fn ping(&self) -> Result<(), CacheError> {
        self.run(async |mut c| redis::cmd("PING").query_async::<String>(&mut c).await)
            .await
            .map(drop)
    }

    /// The cached conversation, or None when it is not cached (expired or never read).
    pub async fn turns(&self, ring: &KeyRing, user: Uuid) -> Result<Option<Vec<Turn>>, CacheError> {
        let key = self.key("turns", user);
        let items: Vec<Vec<u8>> = self.run(async |mut c| c.lrange(&key, 0, -1).await).await?;
        if items.is_empty() {
            return Ok(None);
        }
        let row = user.to_string();
        items
            .iter()
            .map(|sealed| {
                let plain = open(ring, bind("turns", &row), sealed)?;
                Ok(serde_json::from_slice(&plain)?)
            })
            .collect::<Result<Vec<Turn>, CacheError>>()
            .map(Some)
    }

    /// Append a turn to a cached conversation. An uncached one stays uncached
    /// (RPUSHX), so a partial list is never mistaken for the whole conversation.
    pub async fn append(&self, ring: &KeyRing, user: Uuid, turn: &Turn) -> Result<(), CacheError> {
        let key = self.key("turns", user);
        let plain = serde_json::to_vec(turn)?;
        let sealed = seal(ring, bind("turns", &user.to_string()), &plain);
        let keep = self.keep as isize;
        let ttl = self.ttl.as_secs().max(1) as i64;
        self.run(async |mut c| {
            redis::pipe()
                .atomic()
                .cmd("RPUSHX")
                .arg(&key)
                .arg(&sealed)
                .ignore()
                .ltrim(&key, -keep, -1)
                .ignore()
                .expire(&key, ttl)
                .ignore()
                .query_async::<()>(&mut c)
                .await
        })
        .await
    }

    /// Replace the cached conversation with `turns` (loaded from the store).
    pub async fn fill(&self, ring: &KeyRing, user: Uuid, turns: &[Turn]) -> Result<(), CacheError> {
        let key = self.key("turns", user);
        let row = user.to_string();
        let start = turns.len().saturating_sub(self.keep);
        let mut sealed = Vec::with_capacity(turns.len() - start);
        for t in &turns[start..] {
            sealed.push(seal(ring, bind("turns", &row), &serde_json::to_vec(t)?));
        }
        let ttl = self.ttl.as_secs().max(1) as i64;
        self.run(async |mut c| {
            let mut pipe = redis::pipe();
            pipe.atomic().del(&key).ignore();
            if !sealed.is_empty() {
                pipe.rpush(&key, &sealed)
                    .ignore()
                    .expire(&key, ttl)
                    .ignore();
            }
            pipe.query_async::<()>(&mut c).await
        })
        .await
    }

    pub async fn preferences(
        &self,
        ring: &KeyRing,
        user: Uuid,
    ) -> Result<Option<serde_json::Value>, CacheError> {
        let key = self.key("prefs", user);
        let sealed: Option<Vec<u8>> = self.run(async |mut c| c.get(&key).await).await?;
        let Some(sealed) = sealed else {
            return Ok(None);
        };
        let plain = open(ring, bind("preferences", &user.to_string()), &sealed)?;
        Ok(Some(serde_json::from_slice(&plain)?))
    }

    pub async fn set_preferences(
        &self,
        ring: &KeyRing,
        user: Uuid,
        value: &serde_json::Value,
    ) -> Result<(), CacheError> {
        let key = self.key("prefs", user);
        let sealed = seal(
            ring,
            bind("preferences", &user.to_string()),
            &serde_json::to_vec(value)?,
        );
        let ttl = self.ttl.as_secs().max(1);
        self.run(async |mut c| c.set_ex::<_, _, ()>(&key, &sealed, ttl).await)
            .await
    }
}
