//! A store on a fresh backend for one test, with raw access to what the backend holds
//! (to check that nothing is in the clear, and to tamper with ciphertexts).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::SystemTime;

use jules::crypto::{BlindIndex, KeyOrigin, KeyRing, Secrets};
use jules::store::postgres::PgStore;
use jules::store::sqlite::SqliteStore;
use jules::store::{Backend, Purpose, Recorded, Store, TurnOutcome, UserStatus};
use uuid::Uuid;

use super::TestDatabase;

/// Each named `async fn(Fixture)` becomes two tests: on a fresh Postgres database and on a
/// fresh embedded file.
#[allow(unused_macros)]
macro_rules! suite {
    ($($test:ident),+ $(,)?) => {
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $test() {
                super::$test(super::Fixture::postgres().await).await
            })+
        }
        mod embedded {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $test() {
                super::$test(super::Fixture::embedded().await).await
            })+
        }
    };
}

pub fn secrets(keys: &str) -> Arc<Secrets> {
    Arc::new(Secrets {
        ring: KeyRing::parse(keys).expect("test keys"),
        blind: BlindIndex::parse(&"A".repeat(44)).expect("blind key"),
        origin: KeyOrigin::Environment,
    })
}

/// A ring with one key, `k1`.
pub fn one_key() -> String {
    KeyRing::generate("k1").unwrap().to_spec()
}

pub enum Raw {
    Postgres {
        client: tokio_postgres::Client,
        _db: TestDatabase,
    },
    Embedded {
        file: PathBuf,
        _dir: tempfile::TempDir,
    },
}

pub struct Fixture {
    pub store: Store,
    pub raw: Raw,
    pub keys: String,
}

impl Fixture {
    pub async fn postgres() -> Fixture {
        let db = TestDatabase::create().await;
        let client = jules::store::migrate::connect(&db.url).await.unwrap();
        let keys = one_key();
        let backend = Backend::Postgres(PgStore::connect(&db.url, 8).unwrap());
        backend.migrate().await.expect("migrate");
        Fixture {
            store: Store::new(backend, secrets(&keys)),
            raw: Raw::Postgres { client, _db: db },
            keys,
        }
    }

    pub async fn embedded() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("jules.sqlite3");
        let keys = one_key();
        let backend = Backend::Embedded(SqliteStore::open(&file).unwrap());
        backend.migrate().await.expect("migrate");
        Fixture {
            store: Store::new(backend, secrets(&keys)),
            raw: Raw::Embedded { file, _dir: dir },
            keys,
        }
    }

    /// Record an inbound Bandwidth text from `phone`, now.
    pub async fn inbound(&self, phone: &str, carrier_id: &str, text: &str) -> (Recorded, Uuid) {
        self.store
            .record_inbound(
                jules::domain::Carrier::Bandwidth,
                &jules::domain::CarrierMessageId::parse(carrier_id).unwrap(),
                &jules::domain::PhoneNumber::parse(phone).unwrap(),
                text,
                1,
                SystemTime::now(),
            )
            .await
            .unwrap()
    }

    /// Record a text that must be new; (user id, message id).
    pub async fn user_of(&self, phone: &str, carrier_id: &str, text: &str) -> (Uuid, Uuid) {
        match self.inbound(phone, carrier_id, text).await {
            (Recorded::Stored { user_id, .. }, message_id) => (user_id, message_id),
            other => panic!("{carrier_id} is new: {other:?}"),
        }
    }

    /// A turn of `user_id` about `texts` that queues `replies` and changes nothing else.
    pub fn outcome(
        &self,
        user_id: Uuid,
        texts: Vec<Uuid>,
        replies: &[(Purpose, &str)],
    ) -> TurnOutcome {
        TurnOutcome {
            user_id,
            carrier: jules::domain::Carrier::Bandwidth,
            texts,
            at: SystemTime::now(),
            decisions: Vec::new(),
            replies: replies
                .iter()
                .map(|(p, text)| self.store.sealed_reply(*p, text, 1))
                .collect(),
            compliance: Vec::new(),
            status: None,
            age_status: None,
            disclosed: false,
            erase: None,
        }
    }

    /// Opt a user out or back in at `at`, as a turn about no text does.
    pub async fn set_status(&self, user_id: Uuid, status: UserStatus, at: SystemTime) {
        let mut turn = self.outcome(user_id, Vec::new(), &[]);
        (turn.status, turn.at) = (Some(status), at);
        self.store.db().close_turn(&turn).await.unwrap();
    }

    /// The same backend under other keys (a host restarted with a new ENCRYPTION_KEYS).
    pub fn with_keys(&self, keys: &str) -> Store {
        Store::new(self.store.db().clone(), secrets(keys))
    }

    /// The same data under these keys and this blind-index key.
    pub fn with_secrets(&self, keys: &str, blind: &str) -> Store {
        Store::new(
            self.store.db().clone(),
            Arc::new(Secrets {
                ring: KeyRing::parse(keys).expect("test keys"),
                blind: BlindIndex::parse(blind).expect("blind key"),
                origin: KeyOrigin::Environment,
            }),
        )
    }

    fn sqlite(&self) -> rusqlite::Connection {
        let Raw::Embedded { file, .. } = &self.raw else {
            unreachable!()
        };
        rusqlite::Connection::open(file).unwrap()
    }

    pub async fn count(&self, table: &str) -> i64 {
        let sql = format!("SELECT count(*) FROM {table}");
        match &self.raw {
            Raw::Postgres { client, .. } => client.query_one(&sql, &[]).await.unwrap().get(0),
            Raw::Embedded { .. } => self.sqlite().query_row(&sql, [], |r| r.get(0)).unwrap(),
        }
    }

    /// Every row of every table as text (byte columns in hex), and for the embedded
    /// store also the raw bytes of its files (database and write-ahead log).
    pub async fn dump(&self) -> String {
        match &self.raw {
            Raw::Postgres { client, .. } => {
                let tables = client
                    .query(
                        "SELECT table_name::text FROM information_schema.tables
                         WHERE table_schema = 'public'",
                        &[],
                    )
                    .await
                    .unwrap();
                let mut out = String::new();
                for t in tables {
                    let table: String = t.get(0);
                    for r in client
                        .query(&format!("SELECT row_to_json(t)::text FROM {table} t"), &[])
                        .await
                        .unwrap()
                    {
                        out.push_str(&r.get::<_, String>(0));
                        out.push('\n');
                    }
                }
                out
            }
            Raw::Embedded { file, .. } => {
                let c = self.sqlite();
                let tables: Vec<String> = c
                    .prepare("SELECT name FROM sqlite_master WHERE type = 'table'")
                    .unwrap()
                    .query_map([], |r| r.get(0))
                    .unwrap()
                    .collect::<Result<_, _>>()
                    .unwrap();
                let mut out = String::new();
                for table in tables {
                    let mut stmt = c.prepare(&format!("SELECT * FROM {table}")).unwrap();
                    let n = stmt.column_count();
                    let mut rows = stmt.query([]).unwrap();
                    while let Some(row) = rows.next().unwrap() {
                        for i in 0..n {
                            use rusqlite::types::ValueRef;
                            match row.get_ref(i).unwrap() {
                                ValueRef::Blob(b) => out.push_str(&hex::encode(b)),
                                ValueRef::Text(t) => out.push_str(&String::from_utf8_lossy(t)),
                                ValueRef::Integer(v) => out.push_str(&v.to_string()),
                                ValueRef::Real(v) => out.push_str(&v.to_string()),
                                ValueRef::Null => {}
                            }
                            out.push('|');
                        }
                        out.push('\n');
                    }
                }
                for path in [file.clone(), file.with_extension("sqlite3-wal")] {
                    if let Ok(bytes) = std::fs::read(&path) {
                        out.push_str(&String::from_utf8_lossy(&bytes));
                    }
                }
                out
            }
        }
    }

    pub async fn raw_get(&self, table: &str, column: &str, id: Uuid) -> Vec<u8> {
        let sql = format!("SELECT {column} FROM {table} WHERE id = $1");
        match &self.raw {
            Raw::Postgres { client, .. } => client.query_one(&sql, &[&id]).await.unwrap().get(0),
            Raw::Embedded { .. } => self
                .sqlite()
                .query_row(&sql.replace('$', "?"), [id], |r| r.get(0))
                .unwrap(),
        }
    }

    pub async fn raw_set(&self, table: &str, column: &str, id: Uuid, value: &[u8]) {
        self.raw_update(table, column, id, &value).await
    }

    pub async fn raw_set_text(&self, table: &str, column: &str, id: Uuid, value: &str) {
        self.raw_update(table, column, id, &value).await
    }

    async fn raw_update<V>(&self, table: &str, column: &str, id: Uuid, value: &V)
    where
        V: tokio_postgres::types::ToSql + rusqlite::ToSql + Sync,
    {
        let sql = format!("UPDATE {table} SET {column} = $2 WHERE id = $1");
        let n = match &self.raw {
            Raw::Postgres { client, .. } => client.execute(&sql, &[&id, value]).await.unwrap(),
            Raw::Embedded { .. } => self
                .sqlite()
                .execute(&sql.replace('$', "?"), rusqlite::params![id, value])
                .unwrap() as u64,
        };
        assert_eq!(n, 1, "{table}.{column} row {id} exists");
    }
}
