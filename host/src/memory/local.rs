//! The in-process memory (no `REDIS_URL`): bounded LRU maps with a time to live. One
//! host only; lost on restart, when reads fill it again from the store.

use std::num::NonZeroUsize;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use lru::LruCache;
use uuid::Uuid;

use crate::store::Turn;

struct Entry<T> {
    value: T,
    expires: Instant,
}

pub struct LocalCache {
    turns: Mutex<LruCache<Uuid, Entry<Vec<Turn>>>>,
    preferences: Mutex<LruCache<Uuid, Entry<serde_json::Value>>>,
    ttl: Duration,
    keep: usize,
}

fn get<T: Clone>(map: &Mutex<LruCache<Uuid, Entry<T>>>, user: Uuid) -> Option<T> {
    let mut map = map.lock().unwrap_or_else(PoisonError::into_inner);
    match map.get(&user) {
        Some(e) if e.expires > Instant::now() => Some(e.value.clone()),
        Some(_) => {
            map.pop(&user);
            None
        }
        None => None,
    }
}

impl LocalCache {
    /// At most `users` users are kept (least recently used go first), each with at
    /// most `keep` turns, for `ttl` after their last write.
    pub fn new(users: usize, keep: usize, ttl: Duration) -> LocalCache {
        let cap = NonZeroUsize::new(users.max(1)).expect("at least one");
        LocalCache {
            turns: Mutex::new(LruCache::new(cap)),
            preferences: Mutex::new(LruCache::new(cap)),
            ttl,
            keep,
        }
    }

    pub fn turns(&self, user: Uuid) -> Option<Vec<Turn>> {
        get(&self.turns, user)
    }

    /// Append to a cached conversation; a conversation not cached stays uncached (the
    /// next read loads it whole from the store).
    pub fn append(&self, user: Uuid, turn: &Turn) {
        let mut map = self.turns.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(e) = map.get_mut(&user) {
            e.value.push(turn.clone());
            let excess = e.value.len().saturating_sub(self.keep);
            e.value.drain(..excess);
            e.expires = Instant::now() + self.ttl;
        }
    }

    pub fn fill(&self, user: Uuid, turns: &[Turn]) {
        let start = turns.len().saturating_sub(self.keep);
        let entry = Entry {
            value: turns[start..].to_vec(),
            expires: Instant::now() + self.ttl,
        };
        self.turns
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .put(user, entry);
    }

    pub fn forget(&self, user: Uuid) {
        self.turns
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop(&user);
        self.preferences
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop(&user);
    }

    pub fn preferences(&self, user: Uuid) -> Option<serde_json::Value> {
        get(&self.preferences, user)
    }

    pub fn set_preferences(&self, user: Uuid, value: &serde_json::Value) {
        let entry = Entry {
            value: value.clone(),
            expires: Instant::now() + self.ttl,
        };
        self.preferences
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .put(user, entry);
    }
}
