//! Conversation memory on the machine's Redis, on a private Redis that is stopped
//! mid-run, and in process.

#[path = "../../tests/support/mod.rs"]
mod support;

use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime};

use jules::domain::Carrier;
use jules::memory::{Memory, MemorySettings};
use jules::store::{Recorded, Turn};
use support::redis::{PrivateRedis, dump, persist, prefix, shared, ttl};
use support::store::Fixture;
use uuid::Uuid;

fn settings(turns: usize) -> MemorySettings {
    MemorySettings {
        turns,
        ttl: Duration::from_secs(600),
        local_users: 100,
        key_prefix: prefix(),
    }
}

async fn user(f: &Fixture, phone: &str, text: &str) -> Uuid {
    let id = format!("m-{}", rand::random::<u64>());
    match f
        .store
        .record_inbound(
            jules::domain::Carrier::Twilio,
            &jules::domain::CarrierMessageId::parse(&id).unwrap(),
            &jules::domain::PhoneNumber::parse(phone).unwrap(),
            text,
            1,
            SystemTime::now(),
        )
        .await
        .unwrap()
    {
        (Recorded::Stored { user_id, .. }, _) => user_id,
        other => panic!("stored: {other:?}"),
    }
}

/// A turn the store holds (the pipeline stores first, then remembers).
async fn said(f: &Fixture, memory: &Memory, user: Uuid, text: &str) {
    let (message_id, _) = f
        .store
        .queue_reply(user, Carrier::Twilio, text, 1)
        .await
        .unwrap();
    let turn = Turn {
        message_id,
        inbound: false,
        text: text.into(),
        at_ms: 0,
    };
    memory.remember(user, &turn).await;
}

fn texts(turns: &[Turn]) -> Vec<&str> {
    turns.iter().map(|t| t.text.as_str()).collect()
}

#[tokio::test]
async fn redis_keeps_recent_turns_bounded_with_a_ttl() {
    let f = Fixture::postgres().await;
    let url = shared().await;
    let s = settings(4);
    let prefix = s.key_prefix.clone();
    let memory = Memory::new(Some(&url), f.store.clone(), s).unwrap();
    assert_eq!(memory.mode(), "redis");
    let u = user(&f, "+15552220001", "first").await;
    assert_eq!(texts(&memory.recent_turns(u).await.unwrap()), ["first"]);
    assert_eq!(memory.stats().misses.load(Ordering::Relaxed), 1);
    for i in 0..5 {
        said(&f, &memory, u, &format!("reply {i}")).await;
    }
    let turns = memory.recent_turns(u).await.unwrap();
    assert_eq!(texts(&turns), ["reply 1", "reply 2", "reply 3", "reply 4"]);
    assert_eq!(
        memory.stats().hits.load(Ordering::Relaxed),
        1,
        "served by redis"
    );
    let left = ttl(&url, &format!("{prefix}turns:{u}")).await;
    assert!((590..=600).contains(&left), "ttl {left}");
    assert_eq!(memory.stats().failures.load(Ordering::Relaxed), 0);
}

/// Every way a key is written leaves it expiring: a key without a TTL would keep a
/// person's sealed conversation in Redis for ever. Before each write the key's TTL is
/// removed, so only that write can have set it.
#[tokio::test]
async fn every_redis_write_path_sets_the_ttl() {
    let f = Fixture::postgres().await;
    let url = shared().await;
    let s = settings(4);
    let prefix = s.key_prefix.clone();
    let memory = Memory::new(Some(&url), f.store.clone(), s).unwrap();
    let u = user(&f, "+15552220009", "first").await;
    let (turns, prefs) = (format!("{prefix}turns:{u}"), format!("{prefix}prefs:{u}"));
    let expiring = async |key: &str, path: &str| {
        let left = ttl(&url, key).await;
        assert!((590..=600).contains(&left), "{path}: ttl {left}");
        persist(&url, key).await;
    };

    memory.recent_turns(u).await.unwrap();
    expiring(&turns, "a fill on a miss").await;
    said(&f, &memory, u, "a reply").await;
    expiring(&turns, "a turn appended").await;
    memory.preferences(u).await.unwrap();
    expiring(&prefs, "preferences cached on a miss").await;
    memory
        .set_preferences(u, &serde_json::json!({"nickname": "Wren"}))
        .await
        .unwrap();
    expiring(&prefs, "preferences set").await;
    assert_eq!(memory.stats().failures.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn a_turn_for_an_uncached_user_is_loaded_whole_later() {
    let f = Fixture::embedded().await;
    let url = shared().await;
    let memory = Memory::new(Some(&url), f.store.clone(), settings(10)).unwrap();
    let u = user(&f, "+15552220002", "hello").await;
    // Remembered before anything was cached: not a one-turn "conversation".
    said(&f, &memory, u, "hi there").await;
    let turns = memory.recent_turns(u).await.unwrap();
    assert_eq!(texts(&turns), ["hello", "hi there"]);
    // Remembered after a fill that already loaded it: not twice.
    let (message_id, _) = f
        .store
        .queue_reply(u, Carrier::Twilio, "again", 1)
        .await
        .unwrap();
    memory.recent_turns(u).await.unwrap();
    let turn = Turn {
        message_id,
        inbound: false,
        text: "again".into(),
        at_ms: 0,
    };
    memory.remember(u, &turn).await;
    assert_eq!(
        texts(&memory.recent_turns(u).await.unwrap()),
        ["hello", "hi there", "again"]
    );
}

#[tokio::test]
async fn redis_holds_nothing_personal_in_the_clear() {
    let f = Fixture::postgres().await;
    let url = shared().await;
    let s = settings(10);
    let prefix = s.key_prefix.clone();
    let memory = Memory::new(Some(&url), f.store.clone(), s).unwrap();
    let u = user(&f, "+15557654321", "i can't sleep again").await;
    memory.recent_turns(u).await.unwrap();
    said(&f, &memory, u, "I'm here. What's keeping you up?").await;
    memory
        .set_preferences(u, &serde_json::json!({"nickname": "Marigold"}))
        .await
        .unwrap();
    let keys = dump(&url, &prefix).await;
    assert_eq!(keys.len(), 2, "turns and preferences: {keys:?}");
    for (key, values) in keys {
        assert!(!key.contains("5557654321"), "{key}");
        for v in values {
            let text = String::from_utf8_lossy(&v);
            for needle in ["5557654321", "sleep", "keeping you up", "Marigold"] {
                assert!(!text.contains(needle), "{key} holds {needle:?}");
            }
        }
    }
    assert_eq!(
        memory.preferences(u).await.unwrap(),
        serde_json::json!({"nickname": "Marigold"})
    );
}

#[tokio::test]
async fn forgetting_a_person_drops_their_keys_and_no_one_elses() {
    let f = Fixture::postgres().await;
    let url = shared().await;
    let s = settings(10);
    let prefix = s.key_prefix.clone();
    let memory = Memory::new(Some(&url), f.store.clone(), s).unwrap();
    let (gone, kept) = (
        user(&f, "+15557650001", "forget me").await,
        user(&f, "+15557650002", "remember me").await,
    );
    for u in [gone, kept] {
        memory.recent_turns(u).await.unwrap();
        memory
            .set_preferences(u, &serde_json::json!({"n": 1}))
            .await
            .unwrap();
    }
    assert_eq!(dump(&url, &prefix).await.len(), 4);
    memory.forget(gone).await.unwrap();
    let keys: Vec<String> = dump(&url, &prefix)
        .await
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(keys.len(), 2, "{keys:?}");
    assert!(
        keys.iter().all(|k| k.ends_with(&kept.to_string())),
        "{keys:?}"
    );
}

#[tokio::test]
async fn redis_stopped_mid_run_falls_back_to_the_store_and_recovers() {
    let f = Fixture::postgres().await;
    let mut redis = PrivateRedis::start();
    let memory = Memory::new(Some(&redis.url()), f.store.clone(), settings(10)).unwrap();
    let u = user(&f, "+15552220003", "before").await;
    assert_eq!(texts(&memory.recent_turns(u).await.unwrap()), ["before"]);
    memory.ping().await.expect("redis answers");

    redis.stop();
    said(&f, &memory, u, "during").await; // must not fail
    memory
        .set_preferences(u, &serde_json::json!({"tone": "gentle"}))
        .await
        .expect("preferences are stored durably even without redis");
    let turns = memory.recent_turns(u).await.expect("the store answers");
    assert_eq!(texts(&turns), ["before", "during"]);
    assert_eq!(
        memory.preferences(u).await.unwrap(),
        serde_json::json!({"tone": "gentle"})
    );
    assert!(memory.ping().await.is_err());
    let failures = memory.stats().failures.load(Ordering::Relaxed);
    assert!(failures >= 3, "failures counted: {failures}");

    redis.restart();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while memory.ping().await.is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "memory reconnects to redis"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let hits = memory.stats().hits.load(Ordering::Relaxed);
    memory.recent_turns(u).await.unwrap(); // a miss: the restarted redis is empty
    assert_eq!(
        texts(&memory.recent_turns(u).await.unwrap()),
        ["before", "during"]
    );
    assert_eq!(
        memory.stats().hits.load(Ordering::Relaxed),
        hits + 1,
        "cached again"
    );
}

#[tokio::test]
async fn redis_unreachable_from_the_start_still_serves_from_the_store() {
    let f = Fixture::embedded().await;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("redis://127.0.0.1:{port}/");
    let memory = Memory::new(Some(&url), f.store.clone(), settings(10)).unwrap();
    let u = user(&f, "+15552220004", "anyone?").await;
    assert_eq!(texts(&memory.recent_turns(u).await.unwrap()), ["anyone?"]);
    said(&f, &memory, u, "yes").await;
    assert_eq!(
        texts(&memory.recent_turns(u).await.unwrap()),
        ["anyone?", "yes"]
    );
    assert!(memory.stats().failures.load(Ordering::Relaxed) >= 2);
}

#[tokio::test]
async fn the_in_process_cache_is_bounded_and_expires() {
    let f = Fixture::embedded().await;
    let memory = Memory::new(
        None,
        f.store.clone(),
        MemorySettings {
            turns: 3,
            ttl: Duration::from_millis(300),
            local_users: 2,
            key_prefix: String::new(),
        },
    )
    .unwrap();
    assert_eq!(memory.mode(), "in-process");
    let hits = |m: &Memory| m.stats().hits.load(Ordering::Relaxed);
    let a = user(&f, "+15552220005", "a").await;
    let b = user(&f, "+15552220006", "b").await;
    let c = user(&f, "+15552220007", "c").await;
    memory.recent_turns(a).await.unwrap();
    for i in 0..4 {
        said(&f, &memory, a, &format!("to a {i}")).await;
    }
    assert_eq!(
        texts(&memory.recent_turns(a).await.unwrap()),
        ["to a 1", "to a 2", "to a 3"]
    );
    assert_eq!(hits(&memory), 1);
    memory.recent_turns(b).await.unwrap();
    memory.recent_turns(c).await.unwrap(); // evicts a, the least recently used
    memory.recent_turns(a).await.unwrap();
    assert_eq!(hits(&memory), 1, "a was evicted");
    memory.recent_turns(a).await.unwrap();
    assert_eq!(hits(&memory), 2);
    tokio::time::sleep(Duration::from_millis(400)).await;
    memory.recent_turns(a).await.unwrap();
    assert_eq!(hits(&memory), 2, "expired");
    memory
        .set_preferences(a, &serde_json::json!({"x": 1}))
        .await
        .unwrap();
    assert_eq!(
        memory.preferences(a).await.unwrap(),
        serde_json::json!({"x": 1})
    );
    assert_eq!(hits(&memory), 3);
}
