//! Migrations against the real Postgres, each test on its own fresh database.

#[path = "../../tests/support/mod.rs"]
mod support;

use jules::store::{Migration, MigrationError, POSTGRES, migrate};
use support::TestDatabase;

/// Every migration, in order: what a fresh store applies.
const EVERY_MIGRATION: [&str; 13] = [
    "0001_initial",
    "0002_pipeline",
    "0003_claims",
    "0004_sends",
    "0005_rejected_events",
    "0006_compliance_events",
    "0007_key_checks",
    "0008_policy_rollout",
    "0009_crisis_review",
    "0010_shadow",
    "0011_age_checks",
    "0012_erasure",
    "0013_billing",
];

async fn tables(client: &tokio_postgres::Client) -> Vec<String> {
    client
        .query(
            "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public' ORDER BY 1",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect()
}

#[tokio::test]
async fn a_fresh_database_gets_the_whole_schema_once() {
    let db = TestDatabase::create().await;
    let mut client = migrate::connect(&db.url).await.unwrap();
    let pending = migrate::status(&client, POSTGRES).await.unwrap();
    assert!(pending.iter().all(|s| !s.applied));

    let applied = migrate::apply(&mut client, POSTGRES).await.unwrap();
    assert_eq!(applied, EVERY_MIGRATION);
    let t = tables(&client).await;
    for table in [
        "compliance_log",
        "crisis_events",
        "messages",
        "outbox",
        "policy_decisions",
        "schema_migrations",
        "users",
        "webhook_deliveries",
    ] {
        assert!(t.contains(&table.to_string()), "{table} missing from {t:?}");
    }
    assert!(
        migrate::apply(&mut client, POSTGRES)
            .await
            .unwrap()
            .is_empty(),
        "idempotent"
    );
    assert!(
        migrate::status(&client, POSTGRES)
            .await
            .unwrap()
            .iter()
            .all(|s| s.applied)
    );
}

#[tokio::test]
async fn a_failing_migration_leaves_the_schema_as_it_was() {
    let db = TestDatabase::create().await;
    let mut client = migrate::connect(&db.url).await.unwrap();
    let list = [
        Migration {
            version: 1,
            name: "good",
            sql: "CREATE TABLE kept (id int)",
        },
        Migration {
            version: 2,
            name: "broken",
            sql: "CREATE TABLE half_done (id int); SELECT * FROM no_such_table;",
        },
    ];
    let err = migrate::apply(&mut client, &list).await.unwrap_err();
    assert!(matches!(err, MigrationError::Failed { .. }));
    assert!(
        err.to_string().contains("migration 0002_broken failed"),
        "{err}"
    );
    let t = tables(&client).await;
    assert!(t.contains(&"kept".to_string()), "{t:?}");
    assert!(
        !t.contains(&"half_done".to_string()),
        "the failing migration was rolled back: {t:?}"
    );
    let status = migrate::status(&client, &list).await.unwrap();
    assert_eq!(
        status.iter().map(|s| s.applied).collect::<Vec<_>>(),
        vec![true, false]
    );
}

#[tokio::test]
async fn an_edited_migration_is_refused() {
    let db = TestDatabase::create().await;
    let mut client = migrate::connect(&db.url).await.unwrap();
    let v1 = [Migration {
        version: 1,
        name: "t",
        sql: "CREATE TABLE t (id int)",
    }];
    migrate::apply(&mut client, &v1).await.unwrap();
    let edited = [Migration {
        version: 1,
        name: "t",
        sql: "CREATE TABLE t (id bigint)",
    }];
    let err = migrate::apply(&mut client, &edited).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("0001_t was applied with different text"),
        "{err}"
    );
}

#[tokio::test]
async fn replicas_migrating_at_once_apply_each_migration_once() {
    let db = TestDatabase::create().await;
    let runs = (0..4).map(|_| {
        let url = db.url.clone();
        tokio::spawn(async move {
            let mut client = migrate::connect(&url).await.unwrap();
            migrate::apply(&mut client, POSTGRES).await.unwrap()
        })
    });
    let mut applied = Vec::new();
    for run in runs {
        applied.extend(run.await.unwrap());
    }
    assert_eq!(applied, EVERY_MIGRATION);
}

/// Who changed which policy, when and why is evidence: rows are never rewritten.
#[tokio::test]
async fn the_policy_history_is_append_only() {
    let db = TestDatabase::create().await;
    let mut client = migrate::connect(&db.url).await.unwrap();
    migrate::apply(&mut client, POSTGRES).await.unwrap();
    client
        .execute(
            "INSERT INTO policy_history (world, action, source, digest, subject, reason)
             VALUES ('crisis-detector', 'activate', '/b', 'sha256:aa', 'ana', 'r')",
            &[],
        )
        .await
        .unwrap();
    for sql in [
        "UPDATE policy_history SET subject = 'someone else'",
        "DELETE FROM policy_history",
    ] {
        let err = client.execute(sql, &[]).await.unwrap_err();
        let db_err = err.as_db_error().map(|e| e.message().to_string());
        assert_eq!(
            db_err.as_deref(),
            Some("policy_history is append-only"),
            "{sql}"
        );
    }
}

/// The embedded store's migrations obey the same rules.
mod embedded {
    use jules::store::sqlite::apply;
    use jules::store::{Migration, MigrationError, SQLITE};

    fn tables(c: &rusqlite::Connection) -> Vec<String> {
        c.prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY 1")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    }

    #[test]
    fn a_failing_migration_leaves_the_schema_as_it_was_and_is_named() {
        let mut c = rusqlite::Connection::open_in_memory().unwrap();
        assert_eq!(apply(&mut c, SQLITE).unwrap(), super::EVERY_MIGRATION);
        let edit = c.execute(
            "INSERT INTO policy_history (world, action, source, digest, subject, reason, at)
             VALUES ('crisis-detector', 'activate', '/b', 'sha256:aa', 'ana', 'r', 0)",
            [],
        );
        assert_eq!(edit.unwrap(), 1);
        for sql in [
            "UPDATE policy_history SET subject = 'x'",
            "DELETE FROM policy_history",
        ] {
            let err = c.execute(sql, []).unwrap_err().to_string();
            assert!(err.contains("append-only"), "{sql}: {err}");
        }
        let before = tables(&c);
        assert!(before.contains(&"messages".to_string()));
        let mut broken = SQLITE.to_vec();
        broken.push(Migration {
            version: 99,
            name: "broken",
            sql: "CREATE TABLE half_done (id INTEGER); ALTER TABLE nowhere ADD COLUMN x INTEGER;",
        });
        let err = apply(&mut c, &broken).unwrap_err();
        assert!(matches!(err, MigrationError::Failed { .. }), "{err}");
        assert!(err.to_string().contains("0099_broken"), "{err}");
        assert_eq!(tables(&c), before, "half_done was rolled back");
        assert_eq!(
            apply(&mut c, SQLITE).unwrap(),
            Vec::<String>::new(),
            "idempotent"
        );
    }

    #[test]
    fn an_edited_migration_is_refused() {
        let mut c = rusqlite::Connection::open_in_memory().unwrap();
        apply(&mut c, SQLITE).unwrap();
        let edited = [Migration {
            sql: "CREATE TABLE users (id INTEGER);",
            ..SQLITE[0]
        }];
        let err = apply(&mut c, &edited).unwrap_err();
        assert!(matches!(err, MigrationError::Edited { .. }), "{err}");
    }
}

/// The store's statements are planned once per connection, unless the URL says otherwise.
#[tokio::test]
async fn store_connections_keep_one_plan_per_statement() {
    let db = TestDatabase::create().await;
    let store = jules::store::postgres::PgStore::connect(&db.url, 1).unwrap();
    assert_eq!(
        store.setting("plan_cache_mode").await.unwrap(),
        "force_generic_plan"
    );
    let url = format!("{}?options=-c%20plan_cache_mode%3Dauto", db.url);
    let store = jules::store::postgres::PgStore::connect(&url, 1).unwrap();
    assert_eq!(store.setting("plan_cache_mode").await.unwrap(), "auto");
}
