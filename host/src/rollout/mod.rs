//! Shipping a policy to a running fleet. The desired state (per world: the active
//! bundle, the previous one, a staged candidate) lives in the store; `control` changes
//! it (the CLI and the admin API), every host's `Agent` converges on it, woken by
//! Postgres notifications with a poll as backstop, and reports back in a heartbeat.

mod agent;
pub mod control;
mod guard;
mod listen;
pub mod registry;
pub mod shadow;
mod source;

use std::sync::Arc;

pub use agent::{Agent, Failure, POLL};
pub use source::Source;

use crate::store::Backend;

/// Start converging: a first pass now (so a starting host serves the desired state
/// before it takes traffic), then the agent's loop and, on Postgres, its listener.
pub async fn start(agent: Arc<Agent>, store: &Backend) {
    let next = agent.reconcile().await;
    if let Backend::Postgres(pg) = store {
        tokio::spawn(listen::listen(pg.listen_config(), agent.clone()));
    }
    tokio::spawn(agent.run(next));
}

/// This host's id in heartbeats: HOST_ID, else hostname and process id.
pub fn host_id() -> String {
    if let Some(id) = crate::config::var("HOST_ID") {
        return id;
    }
    let name = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "host".into());
    format!("{name}-{}", std::process::id())
}
