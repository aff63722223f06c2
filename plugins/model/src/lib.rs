//! The internal model of policy inputs and decisions.
//!
//! Every WIT version's types convert into these (host side and guest side), the
//! native baselines take and return them, and corpora are written in their serde
//! form. This crate holds data only: no logic, no I/O.

mod compliance;
mod context;
mod crisis;
mod prompt;

pub use compliance::{Action, BlockReason, Blocked, Decision, Encoding, Outbound};
pub use context::{AgeStatus, Inbound, Role, Tier, TimestampMs, Turn, UserContext};
pub use crisis::{Assessment, Category, Discounted, Evidence, Severity};
pub use prompt::{ChatMessage, LlmRequest, MemoryFact};

mod world;
pub use world::World;
