//! Changing the desired state, for the CLI and the admin API alike.
//!
//! `activate` is two-phase: the bundle is staged, every live host prepares it (fetch,
//! verify, compile, pre-initialize) and reports; only then is it made active, which
//! each host does with a pointer swap. A bundle no host could prepare is never made
//! active: the errors are returned and the candidate dropped.

use std::time::{Duration, Instant, SystemTime};

use jules_policy_model::World;

use super::agent::POLL;
use super::source::Source;
use crate::store::{Backend, BundleRef, Change, DesiredRow, HostRow, RolloutRefusal, StoreError};

/// Called after each change: the admin API tells its own host at once (the embedded
/// store's single host has no notifications); others are told by the store.
pub type Told = dyn Fn() + Send + Sync;

/// A host whose heartbeat is older than this is taken to be gone.
pub const LIVE: Duration = Duration::from_secs(POLL.as_secs() * 3);
/// How often a waiting command reads the heartbeats.
const READ_EVERY: Duration = Duration::from_millis(10);

#[derive(Debug, thiserror::Error)]
pub enum ControlError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Bundle(String),
    #[error(transparent)]
    Refused(#[from] RolloutRefusal),
    #[error("no live host could prepare {digest}; nothing changed:\n{errors}")]
    NotPrepared { digest: String, errors: String },
    #[error(
        "this would regress crisis detection; nothing changed (activate it anyway with --accept-regression \"why\"):\n  {0}"
    )]
    Regression(String),
}

/// What a host did with one bundle.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostState {
    Serving,
    Prepared,
    Failed(String),
    /// No report about this bundle yet.
    Waiting,
}

#[derive(Debug, Clone)]
pub struct HostOutcome {
    pub host_id: String,
    pub state: HostState,
}

#[derive(Debug, Clone)]
pub struct Applied {
    pub desired: DesiredRow,
    /// Each live host's state for the now active bundle when the command stopped waiting.
    pub hosts: Vec<HostOutcome>,
    /// From the change being committed to the last live host serving it; `None` when
    /// some host did not (or there is no live host).
    pub converged_after: Option<Duration>,
}

impl Applied {
    pub fn converged(&self) -> bool {
        self.hosts.iter().all(|h| h.state == HostState::Serving)
    }
}

fn state_of(row: &HostRow, digest: &str) -> HostState {
    let r = &row.report;
    if r.serving.as_deref() == Some(digest) {
        HostState::Serving
    } else if r.error_digest.as_deref() == Some(digest) {
        HostState::Failed(r.error.clone().unwrap_or_default())
    } else if r.prepared.as_deref() == Some(digest) {
        HostState::Prepared
    } else {
        HostState::Waiting
    }
}

fn live(rows: Vec<HostRow>, world: World) -> Vec<HostRow> {
    let now = SystemTime::now();
    rows.into_iter()
        .filter(|h| h.report.world == world.as_str())
        .filter(|h| {
            now.duration_since(h.seen_at)
                .map_or(true, |age| age <= LIVE)
        })
        .collect()
}

/// Read the live hosts' states for `digest` until `done` holds for each, or `wait` ends.
async fn watch(
    store: &Backend,
    world: World,
    digest: &str,
    wait: Duration,
    done: impl Fn(&HostState) -> bool,
) -> Result<(Vec<HostOutcome>, bool), StoreError> {
    let deadline = Instant::now() + wait;
    loop {
        let hosts: Vec<HostOutcome> = live(store.policy_hosts().await?, world)
            .into_iter()
            .map(|h| HostOutcome {
                state: state_of(&h, digest),
                host_id: h.host_id,
            })
            .collect();
        let all = hosts.iter().all(|h| done(&h.state));
        if all || Instant::now() >= deadline {
            return Ok((hosts, all));
        }
        tokio::time::sleep(READ_EVERY).await;
    }
}

/// Pin `source` and read its bundle's digest and world (a registry bundle is pulled
/// into a temporary folder to be read).
pub async fn describe(source: &Source) -> Result<(Source, String, World), ControlError> {
    let pinned = source.pinned().await.map_err(ControlError::Bundle)?;
    let scratch = tempfile::tempdir().map_err(|e| ControlError::Bundle(e.to_string()))?;
    let bundle = pinned
        .fetch(scratch.path())
        .await
        .map_err(ControlError::Bundle)?;
    Ok((pinned, bundle.digest.to_string(), bundle.manifest.world))
}

/// What an activation asks for.
pub struct Activation<'a> {
    pub world: World,
    pub source: &'a Source,
    /// Who asks (a token's `sub`, or `cli:USER`).
    pub subject: &'a str,
    pub reason: &'a str,
    /// Why a crisis regression is accepted; without it one refuses the activation.
    pub accept_regression: Option<&'a str>,
    /// How long to wait for the hosts at each step.
    pub wait: Duration,
}

pub async fn activate(
    store: &Backend,
    a: &Activation<'_>,
    told: &Told,
) -> Result<Applied, ControlError> {
    let (world, subject, wait) = (a.world, a.subject, a.wait);
    let (source, reason, accept_regression) = (a.source, a.reason, a.accept_regression);
    let (source, digest, bundle_world) = describe(source).await?;
    if bundle_world != world {
        return Err(ControlError::Bundle(format!(
            "{} is a {bundle_world} bundle, not {world}",
            source.to_stored()
        )));
    }
    let found = super::guard::regressions(store, world, &source, &digest)
        .await
        .map_err(ControlError::Bundle)?;
    let reason = match (found.is_empty(), accept_regression) {
        (true, _) => reason.to_string(),
        (false, None) => return Err(ControlError::Regression(found.join("\n  "))),
        (false, Some(why)) => format!(
            "{reason} [accepted regression: {why}; {}]",
            found.join("; ")
        ),
    };
    let reason = reason.as_str();
    let change = Change {
        world: world.as_str(),
        subject,
        reason,
    };
    let bundle = BundleRef {
        source: source.to_stored(),
        digest: digest.clone(),
    };
    store.stage(&change, &bundle).await?;
    told();
    let (prepared, _) = watch(store, world, &digest, wait, |s| *s != HostState::Waiting).await?;
    let ready = prepared
        .iter()
        .any(|h| matches!(h.state, HostState::Serving | HostState::Prepared));
    if !prepared.is_empty() && !ready {
        store.abandon_candidate(&change, &digest).await?;
        let errors = prepared
            .iter()
            .map(|h| match &h.state {
                HostState::Failed(e) => format!("  {}: {e}", h.host_id),
                _ => format!("  {}: no report within {} s", h.host_id, wait.as_secs()),
            })
            .collect::<Vec<_>>()
            .join("\n");
        return Err(ControlError::NotPrepared { digest, errors });
    }
    let desired = store.commit_candidate(&change, &digest).await??;
    told();
    converge(store, world, desired, wait).await
}

pub async fn rollback(
    store: &Backend,
    world: World,
    subject: &str,
    reason: &str,
    wait: Duration,
    told: &Told,
) -> Result<Applied, ControlError> {
    let change = Change {
        world: world.as_str(),
        subject,
        reason,
    };
    let desired = store.rollback(&change).await??;
    told();
    converge(store, world, desired, wait).await
}

/// Wait for the live hosts to serve what `desired` makes active.
async fn converge(
    store: &Backend,
    world: World,
    desired: DesiredRow,
    wait: Duration,
) -> Result<Applied, ControlError> {
    let committed = Instant::now();
    let digest = desired
        .active
        .as_ref()
        .map(|a| a.digest.clone())
        .unwrap_or_default();
    let (hosts, all) = watch(store, world, &digest, wait, |s| {
        matches!(s, HostState::Serving | HostState::Failed(_))
    })
    .await?;
    let served = all && !hosts.is_empty() && hosts.iter().all(|h| h.state == HostState::Serving);
    Ok(Applied {
        desired,
        hosts,
        converged_after: served.then(|| committed.elapsed()),
    })
}

/// One world: what it should run and what each live host runs.
#[derive(Debug, Clone)]
pub struct WorldStatus {
    pub world: World,
    pub desired: Option<DesiredRow>,
    pub hosts: Vec<HostRow>,
}

impl WorldStatus {
    /// Every live host serves the desired bundle and none reports an error.
    pub fn agreed(&self) -> bool {
        let Some(active) = self.desired.as_ref().and_then(|d| d.active.as_ref()) else {
            return self.hosts.iter().all(|h| h.report.error.is_none());
        };
        self.hosts.iter().all(|h| {
            h.report.serving.as_deref() == Some(active.digest.as_str()) && h.report.error.is_none()
        })
    }
}

pub async fn status(store: &Backend) -> Result<Vec<WorldStatus>, StoreError> {
    let desired = store.desired().await?;
    let hosts = store.policy_hosts().await?;
    Ok(World::ALL
        .into_iter()
        .map(|world| WorldStatus {
            world,
            desired: desired.iter().find(|d| d.world == world.as_str()).cloned(),
            hosts: live(hosts.clone(), world),
        })
        .collect())
}
