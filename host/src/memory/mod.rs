//! Conversation memory: each user's recent turns and preferences, kept close for the
//! prompt. Redis when `REDIS_URL` is set (shared by every host, values sealed, keys
//! expiring after `REDIS_SESSION_TTL`), else a bounded in-process cache. The store is
//! the truth: a miss loads from it, and when Redis fails reads fall back to it and
//! writes are skipped — logged and counted, never failing the pipeline.

mod local;
mod redis;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use uuid::Uuid;

pub use self::local::LocalCache;
pub use self::redis::{CacheError, RedisCache};
use crate::store::{Store, StoreError, Turn};

#[derive(Debug, Clone)]
pub struct MemorySettings {
    /// Turns kept per user.
    pub turns: usize,
    /// How long a user's memory lives after its last write (`REDIS_SESSION_TTL`).
    pub ttl: Duration,
    /// Users kept by the in-process cache.
    pub local_users: usize,
    /// Prefix of every Redis key (`REDIS_KEY_PREFIX`).
    pub key_prefix: String,
}

impl Default for MemorySettings {
    fn default() -> Self {
        MemorySettings {
            turns: 20,
            ttl: Duration::from_secs(14_400),
            local_users: 10_000,
            key_prefix: "jules:".into(),
        }
    }
}

enum Cache {
    Redis(RedisCache),
    Local(LocalCache),
}

/// Counters for /health and logs.
#[derive(Debug, Default)]
pub struct MemoryStats {
    pub hits: AtomicU64,
    pub misses: AtomicU64,
    /// Redis calls that failed (the store answered instead, or a write was skipped).
    pub failures: AtomicU64,
}

#[derive(Clone)]
pub struct Memory {
    cache: Arc<Cache>,
    store: Store,
    settings: MemorySettings,
    stats: Arc<MemoryStats>,
}

fn dedupe(turns: Vec<Turn>) -> Vec<Turn> {
    // A turn appended after a fill that already loaded it would appear twice; the
    // first occurrence is where it belongs.
    let mut seen = std::collections::HashSet::new();
    turns
        .into_iter()
        .filter(|t| seen.insert(t.message_id))
        .collect()
}

impl Memory {
    /// Redis at `redis_url` when given (checked now, connected on first use), else
    /// the in-process cache.
    pub fn new(
        redis_url: Option<&str>,
        store: Store,
        settings: MemorySettings,
    ) -> Result<Memory, CacheError> {
        let cache = match redis_url {
            Some(url) => Cache::Redis(RedisCache::new(
                url,
                &settings.key_prefix,
                settings.turns,
                settings.ttl,
            )?),
            None => Cache::Local(LocalCache::new(
                settings.local_users,
                settings.turns,
                settings.ttl,
            )),
        };
        Ok(Memory {
            cache: Arc::new(cache),
            store,
            settings,
            stats: Arc::default(),
        })
    }

    /// `redis` or `in-process`.
    pub fn mode(&self) -> &'static str {
        match *self.cache {
            Cache::Redis(_) => "redis",
            Cache::Local(_) => "in-process",
        }
    }

    pub fn stats(&self) -> &MemoryStats {
        &self.stats
    }

    /// Redis answering, for /health; the in-process cache always is.
    pub async fn ping(&self) -> Result<(), CacheError> {
        match &*self.cache {
            Cache::Redis(r) => r.ping().await,
            Cache::Local(_) => Ok(()),
        }
    }

    fn failed(&self, op: &'static str, e: &CacheError) {
        self.stats.failures.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(op, error = %e, "conversation memory unavailable; the store answers");
    }

    /// The user's recent turns, oldest first.
    pub async fn recent_turns(&self, user: Uuid) -> Result<Vec<Turn>, StoreError> {
        let ring = &self.store.secrets().ring;
        let cached = match &*self.cache {
            Cache::Local(l) => Ok(l.turns(user)),
            Cache::Redis(r) => r.turns(ring, user).await,
        };
        match cached {
            Ok(Some(turns)) => {
                self.stats.hits.fetch_add(1, Ordering::Relaxed);
                return Ok(dedupe(turns));
            }
            Ok(None) => {
                self.stats.misses.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => self.failed("read turns", &e),
        }
        let turns = self.store.recent_turns(user, self.settings.turns).await?;
        let filled = match &*self.cache {
            Cache::Local(l) => {
                l.fill(user, &turns);
                Ok(())
            }
            Cache::Redis(r) => r.fill(ring, user, &turns).await,
        };
        if let Err(e) = filled {
            self.failed("fill turns", &e);
        }
        Ok(turns)
    }

    /// Remember a turn the store already holds. Never fails: memory is a cache.
    pub async fn remember(&self, user: Uuid, turn: &Turn) {
        let done = match &*self.cache {
            Cache::Local(l) => {
                l.append(user, turn);
                Ok(())
            }
            Cache::Redis(r) => r.append(&self.store.secrets().ring, user, turn).await,
        };
        if let Err(e) = done {
            self.failed("append turn", &e);
        }
    }

    /// Drop everything kept for `user` (after their data was erased from the store).
    /// An error means Redis still holds it until its keys expire (`REDIS_SESSION_TTL`);
    /// this host's in-process cache, and only this host's, is always cleared.
    pub async fn forget(&self, user: Uuid) -> Result<(), CacheError> {
        match &*self.cache {
            Cache::Local(l) => {
                l.forget(user);
                Ok(())
            }
            Cache::Redis(r) => r.forget(user).await,
        }
    }

    /// The user's preferences (JSON null when they have none).
    pub async fn preferences(&self, user: Uuid) -> Result<serde_json::Value, StoreError> {
        let ring = &self.store.secrets().ring;
        let cached = match &*self.cache {
            Cache::Local(l) => Ok(l.preferences(user)),
            Cache::Redis(r) => r.preferences(ring, user).await,
        };
        match cached {
            Ok(Some(v)) => {
                self.stats.hits.fetch_add(1, Ordering::Relaxed);
                return Ok(v);
            }
            Ok(None) => {
                self.stats.misses.fetch_add(1, Ordering::Relaxed);
            }
            Err(e) => self.failed("read preferences", &e),
        }
        let value = self
            .store
            .user(user)
            .await?
            .and_then(|u| u.preferences)
            .unwrap_or(serde_json::Value::Null);
        self.cache_preferences(user, &value).await;
        Ok(value)
    }

    /// Store preferences durably, then cache them.
    pub async fn set_preferences(
        &self,
        user: Uuid,
        value: &serde_json::Value,
    ) -> Result<(), StoreError> {
        self.store.set_preferences(user, value).await?;
        self.cache_preferences(user, value).await;
        Ok(())
    }

    async fn cache_preferences(&self, user: Uuid, value: &serde_json::Value) {
        let done = match &*self.cache {
            Cache::Local(l) => {
                l.set_preferences(user, value);
                Ok(())
            }
            Cache::Redis(r) => {
                r.set_preferences(&self.store.secrets().ring, user, value)
                    .await
            }
        };
        if let Err(e) = done {
            self.failed("write preferences", &e);
        }
    }
}
