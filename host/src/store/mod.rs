//! Durable storage. Personal data reaches it only sealed (see `crypto`); this module
//! never sees keys. For now: the Postgres schema, its migrations, and the Postgres
//! store's first operations (inbound messages, the outbox).

pub mod migrate;
pub mod postgres;

pub use migrate::{Migration, MigrationError, MigrationStatus, POSTGRES};
