//! One suite, two backends: every test below runs against a fresh Postgres database
//! on the real server and against a fresh embedded (SQLite) file.

#[path = "../../../tests/support/mod.rs"]
#[macro_use]
mod support;

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use jules::crypto::KeyRing;
use jules::domain::Carrier;
use jules::store::rotate::{census, rotate};
use jules::store::{
    ComplianceEntry, ComplianceEvent, Decision, KeyMismatch, NewCrisisEvent, Purpose, Recorded,
    ReviewState, StoreError, UserStatus,
};
use support::store::Fixture;

mod age;
mod billing;
mod erase;
mod outbox;
mod rollout;

suite!(
    inbound_round_trip,
    concurrent_deliveries_of_one_message_store_one_row,
    one_phone_is_one_user,
    recent_turns_are_the_newest_oldest_first,
    user_state_round_trip,
    records_round_trip,
    webhook_deliveries_are_seen_once,
    nothing_personal_is_stored_in_the_clear,
    a_tampered_ciphertext_is_rejected,
    ciphertexts_swapped_between_rows_are_rejected,
    rotation_reseals_everything_and_old_keys_retire,
    an_answer_is_queued_once_per_purpose,
    keys_that_do_not_match_the_stored_data_are_refused,
);

fn now() -> SystemTime {
    SystemTime::now()
}

fn id(s: &str) -> jules::domain::CarrierMessageId {
    jules::domain::CarrierMessageId::parse(s).unwrap()
}

fn phone(s: &str) -> jules::domain::PhoneNumber {
    jules::domain::PhoneNumber::parse(s).unwrap()
}

async fn inbound_round_trip(f: Fixture) {
    let (user_id, _) = f
        .user_of("+15551230001", "m1", "hello, is anyone there?")
        .await;
    let user = f.store.user(user_id).await.unwrap().expect("the user");
    assert_eq!(user.phone, "+15551230001");
    assert_eq!(user.status, UserStatus::Active);
    let by_phone = f.store.user_by_phone("+15551230001").await.unwrap();
    assert_eq!(by_phone.map(|u| u.id), Some(user_id));
    assert_eq!(f.store.user_by_phone("+15559999999").await.unwrap(), None);
    let turns = f.store.recent_turns(user_id, 10).await.unwrap();
    assert_eq!(turns.len(), 1);
    assert_eq!(turns[0].text, "hello, is anyone there?");
    assert!(turns[0].inbound);
}

async fn concurrent_deliveries_of_one_message_store_one_row(f: Fixture) {
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let store = f.store.clone();
            tokio::spawn(async move {
                store
                    .record_inbound(
                        jules::domain::Carrier::Bandwidth,
                        &id("bw-1"),
                        &phone("+15551234567"),
                        "hello",
                        1,
                        now(),
                    )
                    .await
                    .unwrap()
                    .0
            })
        })
        .collect();
    let mut stored = 0;
    for t in tasks {
        if let Recorded::Stored { .. } = t.await.unwrap() {
            stored += 1;
        }
    }
    assert_eq!(stored, 1);
    assert_eq!(f.count("messages").await, 1);
    assert_eq!(f.count("users").await, 1);
    // The same id from another carrier is another message.
    let (other, _) = f
        .store
        .record_inbound(
            jules::domain::Carrier::Twilio,
            &id("bw-1"),
            &phone("+15551234567"),
            "hello",
            1,
            now(),
        )
        .await
        .unwrap();
    assert!(matches!(
        other,
        Recorded::Stored {
            new_user: false,
            ..
        }
    ));
}

/// The second insert of one carrier message id, forced to wait on the first's
/// uncommitted row: once the first commits, the second is a duplicate, not an error
/// (which would answer the carrier 503 and have it retry for ever).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_racing_an_uncommitted_one_is_a_duplicate() {
    let f = Fixture::postgres().await;
    let (user, _) = f.user_of("+15551234568", "bw-earlier", "hi").await;
    let support::store::Raw::Postgres { client, _db: db } = &f.raw else {
        unreachable!("a Postgres fixture")
    };
    client
        .batch_execute(&format!(
            "BEGIN;
             INSERT INTO messages (user_id, direction, carrier, carrier_message_id, body, status)
             VALUES ('{user}', 'in', 'bandwidth', 'bw-race', '\\x00', 'received');"
        ))
        .await
        .unwrap();
    let store = f.store.clone();
    let second = tokio::spawn(async move {
        store
            .record_inbound(
                jules::domain::Carrier::Bandwidth,
                &id("bw-race"),
                &phone("+15551234568"),
                "hello again",
                1,
                now(),
            )
            .await
    });
    // Wait until the second insert waits on the first's row lock.
    let watcher = jules::store::migrate::connect(&db.url).await.unwrap();
    let waited = std::time::Instant::now();
    loop {
        let waiting: i64 = watcher
            .query_one(
                "SELECT count(*) FROM pg_stat_activity
                 WHERE wait_event_type = 'Lock' AND query LIKE '%INSERT INTO messages%'",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if waiting > 0 {
            break;
        }
        assert!(
            !second.is_finished() && waited.elapsed() < Duration::from_secs(10),
            "the second insert never waited on the first"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    client.batch_execute("COMMIT").await.unwrap();
    let (recorded, _) = second.await.unwrap().expect("a duplicate, not an error");
    assert!(matches!(recorded, Recorded::Duplicate), "{recorded:?}");
    let rows: i64 = client
        .query_one(
            "SELECT count(*) FROM messages WHERE carrier_message_id = 'bw-race'",
            &[],
        )
        .await
        .unwrap()
        .get(0);
    assert_eq!(rows, 1);
}

async fn one_phone_is_one_user(f: Fixture) {
    let (a, _) = f.user_of("+15550000001", "m1", "hi").await;
    let (b, _) = f.user_of("+15550000001", "m2", "again").await;
    assert_eq!(a, b);
    assert_ne!(f.user_of("+15550000002", "m3", "someone else").await.0, a);
    assert_eq!(f.count("users").await, 2);
    assert_eq!(f.count("messages").await, 3);
}

async fn recent_turns_are_the_newest_oldest_first(f: Fixture) {
    let (user, _) = f.user_of("+15550000003", "m0", "turn 0").await;
    for i in 1..6 {
        f.inbound("+15550000003", &format!("m{i}"), &format!("turn {i}"))
            .await;
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    f.store
        .queue_reply(user, Carrier::Bandwidth, "reply", 1)
        .await
        .unwrap();
    let turns = f.store.recent_turns(user, 3).await.unwrap();
    let texts: Vec<_> = turns.iter().map(|t| t.text.as_str()).collect();
    assert_eq!(texts, ["turn 4", "turn 5", "reply"]);
    assert_eq!(
        turns.iter().map(|t| t.inbound).collect::<Vec<_>>(),
        [true, true, false]
    );
}

async fn user_state_round_trip(f: Fixture) {
    let (user, _) = f.user_of("+15550000004", "m1", "hi").await;
    let t1 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let t2 = t1 + Duration::from_secs(60);
    f.set_status(user, UserStatus::OptedOut, t1).await;
    let u = f.store.user(user).await.unwrap().unwrap();
    assert_eq!(
        (u.status, u.opted_out_at, u.opted_in_at),
        (UserStatus::OptedOut, Some(t1), None)
    );
    f.set_status(user, UserStatus::Active, t2).await;
    let u = f.store.user(user).await.unwrap().unwrap();
    assert_eq!(
        (u.status, u.opted_out_at, u.opted_in_at),
        (UserStatus::Active, Some(t1), Some(t2))
    );
    let mut turn = f.outcome(user, Vec::new(), &[]);
    (turn.at, turn.disclosed) = (t2, true);
    turn.age_status = Some(jules::store::AgeStatus::Adult);
    f.store.db().close_turn(&turn).await.unwrap();
    let prefs = serde_json::json!({"name": "Sam", "quiet_hours": [22, 7]});
    f.store.set_preferences(user, &prefs).await.unwrap();
    let u = f.store.user(user).await.unwrap().unwrap();
    assert_eq!(u.last_disclosure_at, Some(t2));
    assert_eq!(u.age_status, jules::store::AgeStatus::Adult);
    assert_eq!(u.preferences, Some(prefs));
}

async fn records_round_trip(f: Fixture) {
    let (user, message) = f.user_of("+15550000005", "m1", "i want to die").await;
    let categories = vec!["suicide".to_string(), "self-harm".to_string()];
    let event = f
        .store
        .db()
        .record_crisis_event(&NewCrisisEvent {
            user_id: user,
            message_id: Some(message),
            severity: "high",
            categories: &categories,
            bundle_digest: "sha256:abc",
            fallback: false,
        })
        .await
        .unwrap();
    let events = f.store.db().crisis_events(user).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(events[0].id, event);
    assert_eq!(events[0].categories, categories);
    assert_eq!(events[0].review_state, ReviewState::Pending);
    assert_eq!(events[0].severity, "high");

    let at = SystemTime::UNIX_EPOCH + Duration::from_millis(1_800_000_000_123);
    let mut turn = f.outcome(user, Vec::new(), &[]);
    turn.at = at;
    turn.compliance = vec![
        ComplianceEntry {
            event: ComplianceEvent::DisclosureSent,
            detail: "first contact".into(),
            bundle_digest: Some("sha256:c".into()),
        },
        ComplianceEntry {
            event: ComplianceEvent::OptOut,
            detail: "STOP".into(),
            bundle_digest: None,
        },
    ];
    f.store.db().close_turn(&turn).await.unwrap();
    let log = f.store.db().compliance_log(user).await.unwrap();
    assert_eq!(
        log.iter().map(|r| r.event).collect::<Vec<_>>(),
        [ComplianceEvent::DisclosureSent, ComplianceEvent::OptOut]
    );
    assert_eq!(log[0].occurred_at, at);
    assert_eq!(log[0].bundle_digest.as_deref(), Some("sha256:c"));

    let summary = serde_json::json!({"severity": "high", "evidence": 2});
    let decide = |world: &'static str, bundle_digest: Option<&str>, summary: &serde_json::Value| {
        let mut turn = f.outcome(user, vec![message], &[]);
        turn.decisions.push(Decision {
            world,
            bundle_digest: bundle_digest.map(str::to_owned),
            fallback: None,
            summary: summary.clone(),
        });
        turn
    };
    let turn = decide("crisis-detector", Some("sha256:abc"), &summary);
    f.store.db().close_turn(&turn).await.unwrap();
    let decisions = f.store.db().policy_decisions(message).await.unwrap();
    assert_eq!(
        decisions,
        [(
            "crisis-detector".to_string(),
            Some("sha256:abc".to_string()),
            summary
        )]
    );
    // A world the schema does not know is refused, not stored.
    let bad = f
        .store
        .db()
        .close_turn(&decide("mystery", None, &serde_json::json!({})))
        .await;
    assert!(bad.is_err());
}

async fn webhook_deliveries_are_seen_once(f: Fixture) {
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let store = f.store.clone();
            tokio::spawn(async move { store.db().first_delivery("twilio", "SM1").await.unwrap() })
        })
        .collect();
    let mut firsts = 0;
    for t in tasks {
        firsts += t.await.unwrap() as i32;
    }
    assert_eq!(firsts, 1);
    assert!(
        f.store
            .db()
            .first_delivery("bandwidth", "SM1")
            .await
            .unwrap()
    );
}

async fn nothing_personal_is_stored_in_the_clear(f: Fixture) {
    let (phone, text) = ("+15557654321", "i feel so alone tonight");
    let (user, _) = f.user_of(phone, "m1", text).await;
    f.store
        .set_preferences(user, &serde_json::json!({"nickname": "Marigold"}))
        .await
        .unwrap();
    f.store
        .queue_reply(user, Carrier::Bandwidth, "I'm here with you, Marigold", 1)
        .await
        .unwrap();
    let dump = f.dump().await;
    assert!(dump.len() > 200, "the dump holds the rows");
    let digits = phone.trim_start_matches('+');
    for needle in [
        digits,
        "5557654321",
        text,
        "alone tonight",
        "Marigold",
        "here with you",
    ] {
        assert!(
            !dump.contains(needle),
            "the store holds {needle:?} in the clear"
        );
        let hex = hex::encode(needle);
        assert!(!dump.contains(&hex), "the store holds {needle:?} in hex");
    }
}

async fn a_tampered_ciphertext_is_rejected(f: Fixture) {
    let (user, message) = f.user_of("+15550000011", "m1", "private words").await;
    let mut body = f.raw_get("messages", "body", message).await;
    let last = body.len() - 1;
    body[last] ^= 1;
    f.raw_set("messages", "body", message, &body).await;
    let err = f.store.recent_turns(user, 10).await.unwrap_err();
    assert!(matches!(err, StoreError::Crypto(_)), "{err}");
    let said = err.to_string();
    assert!(
        said.contains("messages.body") && said.contains(&message.to_string()),
        "{said}"
    );
    assert!(!said.contains("private words"));
}

async fn ciphertexts_swapped_between_rows_are_rejected(f: Fixture) {
    let (a, _) = f.user_of("+15550000012", "m1", "from a").await;
    let (b, _) = f.user_of("+15550000013", "m2", "from b").await;
    let (phone_a, phone_b) = (
        f.raw_get("users", "phone", a).await,
        f.raw_get("users", "phone", b).await,
    );
    f.raw_set("users", "phone", a, &phone_b).await;
    f.raw_set("users", "phone", b, &phone_a).await;
    for id in [a, b] {
        let err = f.store.user(id).await.unwrap_err();
        assert!(err.to_string().contains("users.phone"), "{err}");
    }
    // A value moved into another column of the same row fails too.
    f.raw_set("users", "phone", a, &phone_a).await;
    f.raw_set("users", "email", a, &phone_a).await;
    let err = f.store.user(a).await.unwrap_err();
    assert!(err.to_string().contains("users.email"), "{err}");
}

async fn rotation_reseals_everything_and_old_keys_retire(f: Fixture) {
    let mut users = Vec::new();
    for i in 0..7 {
        let phone = format!("+1555000100{i}");
        let (user, _) = f
            .user_of(&phone, &format!("m{i}"), &format!("secret {i}"))
            .await;
        f.store
            .set_preferences(user, &serde_json::json!({"i": i}))
            .await
            .unwrap();
        users.push((user, phone));
    }
    let new_key = KeyRing::generate("k2").unwrap().to_spec();
    let both = format!("{new_key},{}", f.keys);
    let rotating = f.with_keys(&both);
    // Written by a host that already has the new key, before rotation runs.
    let (late, _) = rotating
        .record_inbound(
            jules::domain::Carrier::Bandwidth,
            &id("late"),
            &phone("+15550009999"),
            "late text",
            1,
            now(),
        )
        .await
        .unwrap();
    assert!(matches!(late, Recorded::Stored { .. }));
    let before = census(&rotating, 3).await.unwrap();
    assert_eq!(before.get("k1"), Some(&(7 * 3)), "{before:?}");
    assert_eq!(before.get("k2"), Some(&2), "{before:?}");

    let mut batches = 0;
    let report = rotate(&rotating, 3, |_, _| batches += 1).await.unwrap();
    assert_eq!(report.rotated(), 7 * 3);
    assert!(
        batches >= 7,
        "values are rotated in batches of 3 ({batches})"
    );
    let after = census(&rotating, 3).await.unwrap();
    assert_eq!(after.keys().collect::<Vec<_>>(), ["k2"], "{after:?}");

    // Run again (an interrupted rotation is resumed this way): nothing left to do.
    let again = rotate(&rotating, 3, |_, _| {}).await.unwrap();
    assert_eq!(again.rotated(), 0);

    // The old key retires: a host with only the new key reads everything.
    let retired = f.with_keys(&new_key);
    for (i, (user, phone)) in users.iter().enumerate() {
        let u = retired.user(*user).await.unwrap().unwrap();
        assert_eq!(&u.phone, phone);
        assert_eq!(u.preferences, Some(serde_json::json!({"i": i})));
        let turns = retired.recent_turns(*user, 5).await.unwrap();
        assert_eq!(turns[0].text, format!("secret {i}"));
    }
    // And a host that only has the old key is told which key is missing.
    let err = f.store.user(users[0].0).await.unwrap_err();
    assert!(err.to_string().contains("\"k2\""), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn rotation_runs_while_a_host_writes() {
    for f in [Fixture::postgres().await, Fixture::embedded().await] {
        let mut users = Vec::new();
        for i in 0..40 {
            let (user, _) = f
                .user_of(&format!("+155540000{i:02}"), &format!("m{i}"), "x")
                .await;
            users.push(user);
        }
        let both = format!("{},{}", KeyRing::generate("k2").unwrap().to_spec(), f.keys);
        let host = f.with_keys(&both);
        let writer = {
            let (host, users) = (host.clone(), users.clone());
            tokio::spawn(async move {
                for round in 0..5 {
                    for u in &users {
                        let v = serde_json::json!({"round": round});
                        host.set_preferences(*u, &v).await.unwrap();
                    }
                }
            })
        };
        let report = rotate(&host, 7, |_, _| {}).await.unwrap();
        writer.await.unwrap();
        rotate(&host, 7, |_, _| {}).await.unwrap();
        let counts = census(&host, 50).await.unwrap();
        assert_eq!(
            counts.keys().collect::<Vec<_>>(),
            ["k2"],
            "{counts:?} after {report:?}"
        );
        for u in &users {
            let user = host.user(*u).await.unwrap().unwrap();
            assert_eq!(
                user.preferences,
                Some(serde_json::json!({"round": 4})),
                "the host's last write stands"
            );
        }
    }
}

async fn an_answer_is_queued_once_per_purpose(f: Fixture) {
    let (u, m) = f.user_of("+15550000024", "m1", "STOP").await;
    let first = f
        .store
        .queue_answer(
            u,
            Some(m),
            Purpose::OptOutConfirmation,
            Carrier::Bandwidth,
            "You are unsubscribed.",
            1,
        )
        .await
        .unwrap();
    assert!(first.is_some());
    let again = f
        .store
        .queue_answer(
            u,
            Some(m),
            Purpose::OptOutConfirmation,
            Carrier::Bandwidth,
            "You are unsubscribed.",
            1,
        )
        .await
        .unwrap();
    assert_eq!(
        again, None,
        "a conversation processed twice queues nothing twice"
    );
    let other = f
        .store
        .queue_answer(
            u,
            Some(m),
            Purpose::CrisisResources,
            Carrier::Bandwidth,
            "988",
            1,
        )
        .await
        .unwrap();
    assert!(other.is_some());
    assert_eq!(f.count("outbox").await, 2);
    f.set_status(u, UserStatus::OptedOut, now()).await;
    // One person's rows are claimed one at a time.
    let mut rows = f.store.claim(10, Duration::from_secs(60)).await.unwrap();
    f.store
        .db()
        .dead_letter(rows[0].outbox_id, "opted out")
        .await
        .unwrap();
    rows.extend(f.store.claim(10, Duration::from_secs(60)).await.unwrap());
    let purposes: BTreeSet<_> = rows.iter().map(|r| r.purpose.as_str()).collect();
    assert_eq!(
        purposes,
        BTreeSet::from(["crisis-resources", "opt-out-confirmation"])
    );
    assert!(rows.iter().all(|r| r.user_status == UserStatus::OptedOut));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn outbox_rows_that_do_not_open_are_dead_lettered_alone() {
    for f in [Fixture::postgres().await, Fixture::embedded().await] {
        let (user, _) = f.user_of("+15550000031", "m1", "hi").await;
        let queue = async |text| {
            f.store
                .queue_reply(user, Carrier::Bandwidth, text, 1)
                .await
                .unwrap()
        };
        let (tampered, _) = queue("one").await;
        let (_, unknown_carrier) = queue("two").await;
        queue("three").await;
        let mut body = f.raw_get("messages", "body", tampered).await;
        let last = body.len() - 1;
        body[last] ^= 1;
        f.raw_set("messages", "body", tampered, &body).await;
        f.raw_set_text("outbox", "carrier", unknown_carrier, "pigeon")
            .await;
        for _ in 0..2 {
            let rows = f.store.claim(10, Duration::from_secs(60)).await.unwrap();
            assert!(rows.is_empty(), "the bad row is dead-lettered");
        }
        // Its person's next message is claimable at once.
        let rows = f.store.claim(10, Duration::from_secs(60)).await.unwrap();
        assert_eq!(
            rows.iter().map(|r| r.text.as_str()).collect::<Vec<_>>(),
            ["three"]
        );
        let dead = f.store.db().dead_letters().await.unwrap();
        assert_eq!(dead.len(), 2);
        assert!(
            dead.iter().any(|d| d.1.contains("messages.body")),
            "{dead:?}"
        );
        assert!(
            dead.iter()
                .any(|d| d.1.contains("carrier") && d.1.contains("pigeon")),
            "{dead:?}"
        );
    }
}

async fn keys_that_do_not_match_the_stored_data_are_refused(f: Fixture) {
    let blind = "A".repeat(44);
    f.store
        .verify_keys()
        .await
        .expect("first use records the keys");
    f.store.verify_keys().await.expect("the same keys again");
    // Another key under the same id: its data would not open.
    let impostor = KeyRing::generate("k1").unwrap().to_spec();
    let err = f
        .with_secrets(&impostor, &blind)
        .verify_keys()
        .await
        .unwrap_err();
    assert!(
        matches!(err, KeyMismatch::Encryption(ref id) if id == "k1"),
        "{err}"
    );
    assert!(
        err.to_string().contains("ENCRYPTION_KEYS: key \"k1\""),
        "{err}"
    );
    // A new key prepended for rotation is recorded; the old one still matches.
    let rotated = format!("{},{}", KeyRing::generate("k2").unwrap().to_spec(), f.keys);
    f.with_secrets(&rotated, &blind)
        .verify_keys()
        .await
        .expect("rotation");
    // Another blind-index key: every known person would look new.
    let err = f
        .with_secrets(&f.keys, &"B".repeat(44))
        .verify_keys()
        .await
        .unwrap_err();
    assert!(matches!(err, KeyMismatch::BlindIndex), "{err}");
    assert!(err.to_string().contains("BLIND_INDEX_KEY"), "{err}");
}
