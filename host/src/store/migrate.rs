//! Schema migrations: numbered SQL files from migrations/postgres, embedded in the
//! binary. Each runs in its own transaction, so a failing one leaves the schema as it
//! was; replicas starting together serialize on an advisory lock; an applied
//! migration whose text has changed since is refused (shipped migrations are never
//! edited).

use sha2::{Digest, Sha256};
use tokio_postgres::{Client, GenericClient};

/// One migration: its number, name and SQL.
#[derive(Debug, Clone, Copy)]
pub struct Migration {
    pub version: i64,
    pub name: &'static str,
    pub sql: &'static str,
}

impl Migration {
    /// Whether this migration is applied, given the checksum recorded for its version;
    /// an applied migration whose text has changed since is refused.
    pub(crate) fn already_applied(&self, recorded: Option<String>) -> Result<bool, MigrationError> {
        match recorded {
            None => Ok(false),
            Some(recorded) if recorded == self.checksum() => Ok(true),
            Some(recorded) => Err(MigrationError::Edited {
                migration: self.label(),
                applied: recorded,
                now: self.checksum(),
            }),
        }
    }

    pub(crate) fn checksum(&self) -> String {
        hex::encode(Sha256::digest(self.sql.as_bytes()))
    }

    pub(crate) fn label(&self) -> String {
        format!("{:04}_{}", self.version, self.name)
    }
}

/// The Postgres migrations, in order. A new migration is a new file and a new line.
pub const POSTGRES: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial",
        sql: include_str!("../../../migrations/postgres/0001_initial.sql"),
    },
    Migration {
        version: 2,
        name: "pipeline",
        sql: include_str!("../../../migrations/postgres/0002_pipeline.sql"),
    },
    Migration {
        version: 3,
        name: "claims",
        sql: include_str!("../../../migrations/postgres/0003_claims.sql"),
    },
    Migration {
        version: 4,
        name: "sends",
        sql: include_str!("../../../migrations/postgres/0004_sends.sql"),
    },
    Migration {
        version: 5,
        name: "rejected_events",
        sql: include_str!("../../../migrations/postgres/0005_rejected_events.sql"),
    },
    Migration {
        version: 6,
        name: "compliance_events",
        sql: include_str!("../../../migrations/postgres/0006_compliance_events.sql"),
    },
    Migration {
        version: 7,
        name: "key_checks",
        sql: include_str!("../../../migrations/postgres/0007_key_checks.sql"),
    },
    Migration {
        version: 8,
        name: "policy_rollout",
        sql: include_str!("../../../migrations/postgres/0008_policy_rollout.sql"),
    },
    Migration {
        version: 9,
        name: "crisis_review",
        sql: include_str!("../../../migrations/postgres/0009_crisis_review.sql"),
    },
    Migration {
        version: 10,
        name: "shadow",
        sql: include_str!("../../../migrations/postgres/0010_shadow.sql"),
    },
    Migration {
        version: 11,
        name: "age_checks",
        sql: include_str!("../../../migrations/postgres/0011_age_checks.sql"),
    },
    Migration {
        version: 12,
        name: "erasure",
        sql: include_str!("../../../migrations/postgres/0012_erasure.sql"),
    },
    Migration {
        version: 13,
        name: "billing",
        sql: include_str!("../../../migrations/postgres/0013_billing.sql"),
    },
];

/// The embedded store's migrations (SQLite), in order, numbered like Postgres's.
pub const SQLITE: &[Migration] = &[
    Migration {
        version: 1,
        name: "initial",
        sql: include_str!("../../../migrations/sqlite/0001_initial.sql"),
    },
    Migration {
        version: 2,
        name: "pipeline",
        sql: include_str!("../../../migrations/sqlite/0002_pipeline.sql"),
    },
    Migration {
        version: 3,
        name: "claims",
        sql: include_str!("../../../migrations/sqlite/0003_claims.sql"),
    },
    Migration {
        version: 4,
        name: "sends",
        sql: include_str!("../../../migrations/sqlite/0004_sends.sql"),
    },
    Migration {
        version: 5,
        name: "rejected_events",
        sql: include_str!("../../../migrations/sqlite/0005_rejected_events.sql"),
    },
    Migration {
        version: 6,
        name: "compliance_events",
        sql: include_str!("../../../migrations/sqlite/0006_compliance_events.sql"),
    },
    Migration {
        version: 7,
        name: "key_checks",
        sql: include_str!("../../../migrations/sqlite/0007_key_checks.sql"),
    },
    Migration {
        version: 8,
        name: "policy_rollout",
        sql: include_str!("../../../migrations/sqlite/0008_policy_rollout.sql"),
    },
    Migration {
        version: 9,
        name: "crisis_review",
        sql: include_str!("../../../migrations/sqlite/0009_crisis_review.sql"),
    },
    Migration {
        version: 10,
        name: "shadow",
        sql: include_str!("../../../migrations/sqlite/0010_shadow.sql"),
    },
    Migration {
        version: 11,
        name: "age_checks",
        sql: include_str!("../../../migrations/sqlite/0011_age_checks.sql"),
    },
    Migration {
        version: 12,
        name: "erasure",
        sql: include_str!("../../../migrations/sqlite/0012_erasure.sql"),
    },
    Migration {
        version: 13,
        name: "billing",
        sql: include_str!("../../../migrations/sqlite/0013_billing.sql"),
    },
];

/// Arbitrary, fixed: the advisory lock every replica takes while migrating.
const LOCK: i64 = 0x6a75_6c65_735f_6d67;

type Source = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    #[error("migration {migration} failed and was rolled back: {source}")]
    Failed { migration: String, source: Source },
    #[error(
        "migration {migration} was applied with different text (checksum {applied}, now {now}); shipped migrations must not be edited — add a new one"
    )]
    Edited {
        migration: String,
        applied: String,
        now: String,
    },
    #[error("the database: {0}")]
    Database(Source),
}

impl From<tokio_postgres::Error> for MigrationError {
    fn from(e: tokio_postgres::Error) -> Self {
        MigrationError::Database(Box::new(e))
    }
}

impl From<rusqlite::Error> for MigrationError {
    fn from(e: rusqlite::Error) -> Self {
        MigrationError::Database(Box::new(e))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationStatus {
    pub label: String,
    pub applied: bool,
}

async fn ensure_table(client: &impl GenericClient) -> Result<(), tokio_postgres::Error> {
    client
        .batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (
                version    bigint PRIMARY KEY,
                name       text NOT NULL,
                checksum   text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )",
        )
        .await
}

/// Apply every pending migration; returns the labels applied now.
pub async fn apply(
    client: &mut Client,
    migrations: &[Migration],
) -> Result<Vec<String>, MigrationError> {
    // Two replicas may race to create the bookkeeping table itself.
    {
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK])
            .await?;
        ensure_table(&tx).await?;
        tx.commit().await?;
    }
    let mut applied = Vec::new();
    for m in migrations {
        let tx = client.transaction().await?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK])
            .await?;
        let row = tx
            .query_opt(
                "SELECT checksum FROM schema_migrations WHERE version = $1",
                &[&m.version],
            )
            .await?;
        if m.already_applied(row.map(|r| r.get(0)))? {
            continue;
        }
        let failed = |source: tokio_postgres::Error| MigrationError::Failed {
            migration: m.label(),
            source: Box::new(source),
        };
        tx.batch_execute(m.sql).await.map_err(failed)?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)",
            &[&m.version, &m.name, &m.checksum()],
        )
        .await
        .map_err(failed)?;
        tx.commit().await.map_err(failed)?;
        applied.push(m.label());
    }
    Ok(applied)
}

/// Which migrations are applied and which are pending.
pub async fn status(
    client: &Client,
    migrations: &[Migration],
) -> Result<Vec<MigrationStatus>, MigrationError> {
    ensure_table(client).await?;
    let rows = client
        .query("SELECT version FROM schema_migrations", &[])
        .await?;
    let done: Vec<i64> = rows.iter().map(|r| r.get(0)).collect();
    Ok(migrations
        .iter()
        .map(|m| MigrationStatus {
            label: m.label(),
            applied: done.contains(&m.version),
        })
        .collect())
}

/// Connect to `url` (a `DATABASE_URL`), driving the connection on the runtime.
pub async fn connect(url: &str) -> Result<Client, tokio_postgres::Error> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::error!(error = %e, "database connection closed");
        }
    });
    Ok(client)
}
