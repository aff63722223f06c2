//! Durable storage. Personal data reaches it only sealed (see `crypto`); this module
//! never sees keys. For now: the Postgres schema and its migrations.

pub mod migrate;

pub use migrate::{Migration, MigrationError, MigrationStatus, POSTGRES};
