//! Durable storage. `Store` seals personal data before it reaches a backend and opens
//! it on the way back; `Backend` is Postgres (production) or the embedded SQLite file
//! (no `DATABASE_URL`); `migrate` keeps both schemas current; `rotate` re-seals every
//! value under the active key.

mod age;
mod backend;
mod erase;
pub mod migrate;
pub mod postgres;
mod review;
mod rollout;
pub mod rotate;
mod sealed;
pub mod sqlite;
mod types;

pub use age::{AgeCheck, NewCheck};
pub use backend::Backend;
pub use migrate::{Migration, MigrationError, MigrationStatus, POSTGRES, SQLITE};
pub use review::CrisisReview;
pub use rollout::*;
pub use sealed::{KeyMismatch, OpenTurn, Outgoing, Store, Turn, User};
pub use types::*;
