//! The `jules` binary as operators and authors run it: `serve`, `chat`, `keys`,
//! `migrate`, `policy`, `users`; how a host stops, its metrics, its error reports and
//! its API document.

#[path = "../support/mod.rs"]
mod support;

mod chat;
mod diff;
mod docs;
mod keys;
mod metrics;
mod migrate;
mod policy;
mod rollout;
mod sentry;
mod serve;
mod shutdown;
mod signing;
mod users;
