//! The Postgres store against the real server, each test on a fresh database.

#[path = "../../tests/support/mod.rs"]
mod support;

use std::collections::BTreeSet;
use std::time::Duration;

use jules::crypto::{Binding, BlindIndex, KeyRing, seal};
use jules::store::migrate;
use jules::store::postgres::{NewInbound, PgStore, Recorded};
use support::TestDatabase;
use uuid::Uuid;

async fn migrated() -> (TestDatabase, PgStore, tokio_postgres::Client) {
    let db = TestDatabase::create().await;
    let mut client = migrate::connect(&db.url).await.unwrap();
    migrate::apply(&mut client, jules::store::POSTGRES)
        .await
        .unwrap();
    let store = PgStore::connect(&db.url, 8).unwrap();
    (db, store, client)
}

struct Sealer {
    ring: KeyRing,
    blind: BlindIndex,
}

impl Sealer {
    fn new() -> Sealer {
        Sealer {
            ring: KeyRing::generate("t").unwrap(),
            blind: BlindIndex::parse(&"A".repeat(44)).unwrap(),
        }
    }

    /// An inbound message with everything sealed the way the pipeline seals it.
    fn inbound(&self, phone: &str, text: &str) -> Sealed {
        let (message_id, user_id) = (Uuid::new_v4(), Uuid::new_v4());
        let (user_row, message_row) = (user_id.to_string(), message_id.to_string());
        let bind = |table, column, row| Binding { table, column, row };
        Sealed {
            message_id,
            user_id,
            index: self.blind.of("phone", phone),
            phone: seal(
                &self.ring,
                bind("users", "phone", &user_row),
                phone.as_bytes(),
            ),
            body: seal(
                &self.ring,
                bind("messages", "body", &message_row),
                text.as_bytes(),
            ),
        }
    }
}

struct Sealed {
    message_id: Uuid,
    user_id: Uuid,
    index: [u8; 32],
    phone: Vec<u8>,
    body: Vec<u8>,
}

async fn record(
    store: &PgStore,
    s: &Sealer,
    phone: &str,
    carrier_id: &str,
    text: &str,
) -> Recorded {
    record_message(store, s, phone, carrier_id, text).await.0
}

/// Record a message; also returns the id it was given.
async fn record_message(
    store: &PgStore,
    s: &Sealer,
    phone: &str,
    carrier_id: &str,
    text: &str,
) -> (Recorded, Uuid) {
    let m = s.inbound(phone, text);
    let recorded = store
        .record_inbound(&NewInbound {
            carrier: "bandwidth",
            carrier_message_id: carrier_id,
            message_id: m.message_id,
            new_user_id: m.user_id,
            phone_index: &m.index,
            phone: &m.phone,
            body: &m.body,
            segments: 1,
        })
        .await
        .unwrap();
    (recorded, m.message_id)
}

async fn count(client: &tokio_postgres::Client, table: &str) -> i64 {
    client
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .unwrap()
        .get(0)
}

#[tokio::test]
async fn concurrent_deliveries_of_one_message_store_one_row() {
    let (_db, store, client) = migrated().await;
    let sealer = std::sync::Arc::new(Sealer::new());
    let tasks: Vec<_> = (0..16)
        .map(|_| {
            let (store, sealer) = (store.clone(), sealer.clone());
            tokio::spawn(
                async move { record(&store, &sealer, "+15551234567", "bw-1", "hello").await },
            )
        })
        .collect();
    let mut stored = 0;
    for t in tasks {
        if let Recorded::Stored { .. } = t.await.unwrap() {
            stored += 1;
        }
    }
    assert_eq!(stored, 1);
    assert_eq!(count(&client, "messages").await, 1);
    assert_eq!(count(&client, "users").await, 1);
}

#[tokio::test]
async fn one_phone_is_one_user() {
    let (_db, store, client) = migrated().await;
    let s = Sealer::new();
    let Recorded::Stored {
        user_id: a,
        new_user: true,
    } = record(&store, &s, "+15550000001", "m1", "hi").await
    else {
        panic!("first message creates the user")
    };
    let Recorded::Stored {
        user_id: b,
        new_user: false,
    } = record(&store, &s, "+15550000001", "m2", "again").await
    else {
        panic!("second message finds the user")
    };
    assert_eq!(a, b);
    record(&store, &s, "+15550000002", "m3", "someone else").await;
    assert_eq!(count(&client, "users").await, 2);
    assert_eq!(count(&client, "messages").await, 3);
}

#[tokio::test]
async fn no_table_holds_a_phone_number_or_message_text_in_plaintext() {
    let (_db, store, client) = migrated().await;
    let s = Sealer::new();
    let (phone, text) = ("+15557654321", "i feel so alone tonight");
    record(&store, &s, phone, "m1", text).await;
    let rows = client
        .query(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'",
            &[],
        )
        .await
        .unwrap();
    let digits = phone.trim_start_matches('+');
    let hex_phone = hex::encode(phone);
    let hex_text = hex::encode(text);
    for row in rows {
        let table: String = row.get(0);
        let dump: Vec<String> = client
            .query(&format!("SELECT row_to_json(t)::text FROM {table} t"), &[])
            .await
            .unwrap()
            .iter()
            .map(|r| r.get(0))
            .collect();
        let dump = dump.join("\n");
        for needle in [digits, text, hex_phone.as_str(), hex_text.as_str()] {
            assert!(!dump.contains(needle), "{table} holds {needle:?}");
        }
    }
}

#[tokio::test]
async fn two_workers_claim_every_outbox_row_exactly_once() {
    let (_db, store, _client) = migrated().await;
    let s = Sealer::new();
    let (Recorded::Stored { user_id, .. }, message_id) =
        record_message(&store, &s, "+15550000009", "m1", "hi").await
    else {
        panic!("the message is stored")
    };
    let mut queued = BTreeSet::new();
    for _ in 0..200 {
        queued.insert(
            store
                .enqueue(message_id, user_id, "bandwidth")
                .await
                .unwrap(),
        );
    }
    let worker = |store: PgStore| {
        tokio::spawn(async move {
            let mut sent = Vec::new();
            loop {
                let batch = store.claim(7, Duration::from_secs(60)).await.unwrap();
                if batch.is_empty() {
                    return sent;
                }
                for row in batch {
                    store.mark_sent(row.id).await.unwrap();
                    sent.push(row.id);
                }
            }
        })
    };
    let (a, b) = (worker(store.clone()), worker(store.clone()));
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    let all: Vec<Uuid> = a.iter().chain(b.iter()).copied().collect();
    let unique: BTreeSet<Uuid> = all.iter().copied().collect();
    assert_eq!(
        all.len(),
        200,
        "every row sent once (a {}, b {})",
        a.len(),
        b.len()
    );
    assert_eq!(unique, queued);
    assert!(
        store
            .claim(10, Duration::from_secs(60))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn a_claimed_row_returns_when_its_lease_ends() {
    let (_db, store, _client) = migrated().await;
    let s = Sealer::new();
    let (Recorded::Stored { user_id, .. }, message_id) =
        record_message(&store, &s, "+15550000010", "m1", "hi").await
    else {
        panic!("the message is stored")
    };
    store.enqueue(message_id, user_id, "twilio").await.unwrap();
    let first = store.claim(10, Duration::from_millis(200)).await.unwrap();
    assert_eq!(first.len(), 1);
    assert!(
        store
            .claim(10, Duration::from_millis(200))
            .await
            .unwrap()
            .is_empty(),
        "leased"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let again = store.claim(10, Duration::from_secs(60)).await.unwrap();
    assert_eq!(
        again.len(),
        1,
        "the worker that claimed it never finished: retried"
    );
    assert_eq!(again[0].attempts, 2);
}
