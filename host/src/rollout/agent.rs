//! The host's side of a rollout: converge on the desired state. On every wake (a
//! notification, a poll, a retry falling due) it reads the desired state; prepares a
//! staged candidate (fetch, verify, compile, pre-initialize) without serving it; swaps
//! the active bundle when it changes; and reports what it serves, what it prepared and
//! its last error. A host that cannot fetch, verify or load a bundle keeps what it
//! serves and retries with backoff.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use jules_policy_model::World;
use tokio::sync::Notify;

use super::source::Source;
use crate::policy::{BundleSource, LoadedBundle, PolicyRuntime, Shadow};
use crate::store::{Backend, BundleRef, DesiredRow, HostReport};

/// The poll that backs up notifications (and the heartbeat's period).
pub const POLL: Duration = Duration::from_secs(10);
const FIRST_RETRY: Duration = Duration::from_secs(1);
const LAST_RETRY: Duration = Duration::from_secs(60);

/// A bundle this host could not use, and when it tries again.
#[derive(Debug, Clone)]
pub struct Failure {
    pub digest: String,
    pub error: String,
    failures: u32,
    retry_at: Instant,
}

#[derive(Default)]
struct WorldState {
    /// The staged candidate, loaded and ready to swap in.
    prepared: Option<Arc<LoadedBundle>>,
    /// The bundle the last swap replaced, kept loaded so a rollback is instant.
    replaced: Option<Arc<LoadedBundle>>,
    failure: Option<Failure>,
}

impl WorldState {
    /// A bundle that failed before has now loaded; a failure about another stays.
    fn clear_failure(&mut self, digest: &str) {
        if self.failure.as_ref().is_some_and(|f| f.digest == digest) {
            self.failure = None;
        }
    }
}

pub struct Agent {
    runtime: Arc<PolicyRuntime>,
    store: Backend,
    pub host_id: String,
    started_at: SystemTime,
    /// Bundles pulled from registries, one folder per bundle digest.
    bundles: PathBuf,
    wake: Notify,
    worlds: Mutex<HashMap<World, WorldState>>,
    /// Whether a desired state exists for a world (then it, not POLICY_DIR, decides).
    desired_seen: Mutex<HashMap<World, String>>,
}

impl Agent {
    pub fn new(
        runtime: Arc<PolicyRuntime>,
        store: Backend,
        host_id: String,
        bundles: PathBuf,
    ) -> Arc<Agent> {
        Arc::new(Agent {
            runtime,
            store,
            host_id,
            bundles,
            started_at: SystemTime::now(),
            wake: Notify::new(),
            worlds: Mutex::default(),
            desired_seen: Mutex::default(),
        })
    }

    /// Converge now (a notification arrived, or the admin API changed the state).
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// The last failure per world, for /health.
    pub fn failures(&self) -> Vec<(World, Failure)> {
        let worlds = self.worlds.lock().unwrap_or_else(PoisonError::into_inner);
        let mut out: Vec<_> = worlds
            .iter()
            .filter_map(|(w, s)| Some((*w, s.failure.clone()?)))
            .collect();
        out.sort_by_key(|(w, _)| w.as_str());
        out
    }

    /// The desired digest per world, as last read.
    pub fn desired_digest(&self, world: World) -> Option<String> {
        self.desired_seen
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&world)
            .cloned()
    }

    /// Converge and report until the process ends; `next`: when a retry falls due.
    pub async fn run(self: Arc<Self>, mut next: Option<Instant>) {
        loop {
            let wait = next.map_or(POLL, |at| {
                at.saturating_duration_since(Instant::now()).min(POLL)
            });
            tokio::select! {
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(wait) => {}
            }
            next = self.reconcile().await;
        }
    }

    /// Read the desired state, act on it, report. Returns when a retry falls due.
    pub async fn reconcile(&self) -> Option<Instant> {
        match self.store.desired().await {
            Ok(rows) => {
                for row in rows {
                    self.converge(&row).await;
                }
            }
            Err(e) => tracing::warn!(error = %e, "cannot read the desired policy state"),
        }
        if let Err(e) = self
            .store
            .heartbeat(&self.host_id, self.started_at, &self.reports())
            .await
        {
            tracing::warn!(error = %e, "cannot record this host's policy heartbeat");
        }
        let worlds = self.worlds.lock().unwrap_or_else(PoisonError::into_inner);
        worlds
            .values()
            .filter_map(|s| s.failure.as_ref().map(|f| f.retry_at))
            .min()
    }

    async fn converge(&self, row: &DesiredRow) {
        let Ok(world) = row.world.parse::<World>() else {
            tracing::warn!(world = %row.world, "the desired state names an unknown world");
            return;
        };
        let serving = self.runtime.active(world).map(|b| b.digest.to_string());
        if let Some(active) = &row.active {
            self.desired_seen
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(world, active.digest.clone());
            if serving.as_deref() != Some(active.digest.as_str())
                && let Some(bundle) = self.obtain(world, active).await
            {
                let replaced = self.runtime.activate(bundle);
                let mut worlds = self.worlds.lock().unwrap_or_else(PoisonError::into_inner);
                let state = worlds.entry(world).or_default();
                state.replaced = replaced;
                state.clear_failure(&active.digest);
            }
        }
        // A failure about a bundle no longer wanted is history, not a problem.
        {
            let shadow = row.shadow.as_ref().map(|s| s.bundle.clone());
            let wanted = [&row.active, &row.candidate, &shadow];
            let mut worlds = self.worlds.lock().unwrap_or_else(PoisonError::into_inner);
            let state = worlds.entry(world).or_default();
            if state.failure.as_ref().is_some_and(|f| {
                !wanted
                    .iter()
                    .any(|w| w.as_ref().is_some_and(|w| w.digest == f.digest))
            }) {
                state.failure = None;
            }
        }
        self.converge_shadow(world, row).await;
        match &row.candidate {
            Some(candidate) if !self.holds(world, &candidate.digest) => {
                if let Some(bundle) = self.obtain(world, candidate).await {
                    let mut worlds = self.worlds.lock().unwrap_or_else(PoisonError::into_inner);
                    let state = worlds.entry(world).or_default();
                    state.prepared = Some(bundle);
                    state.clear_failure(&candidate.digest);
                }
            }
            Some(_) => {}
            None => {
                let mut worlds = self.worlds.lock().unwrap_or_else(PoisonError::into_inner);
                worlds.entry(world).or_default().prepared = None;
            }
        }
    }

    /// Load, swap or drop the world's shadow as the desired state says.
    async fn converge_shadow(&self, world: World, row: &DesiredRow) {
        let current = self.runtime.shadow(world);
        let Some(wanted) = &row.shadow else {
            if current.is_some() {
                self.runtime.set_shadow(world, None);
            }
            return;
        };
        let loaded = current
            .as_ref()
            .filter(|c| c.bundle.digest.to_string() == wanted.bundle.digest);
        if loaded.is_some_and(|c| c.sample == wanted.sample) {
            return;
        }
        let bundle = match loaded {
            Some(c) => Some(c.bundle.clone()),
            None => self.obtain(world, &wanted.bundle).await,
        };
        if let Some(bundle) = bundle {
            self.runtime.set_shadow(
                world,
                Some(Shadow {
                    bundle,
                    sample: wanted.sample,
                }),
            );
            let mut worlds = self.worlds.lock().unwrap_or_else(PoisonError::into_inner);
            worlds
                .entry(world)
                .or_default()
                .clear_failure(&wanted.bundle.digest);
        }
    }

    /// Whether `digest` is served or prepared here.
    fn holds(&self, world: World, digest: &str) -> bool {
        let serving = self.runtime.active(world).map(|b| b.digest.to_string());
        let worlds = self.worlds.lock().unwrap_or_else(PoisonError::into_inner);
        let prepared = worlds
            .get(&world)
            .and_then(|s| s.prepared.as_ref())
            .map(|b| b.digest.to_string());
        serving.as_deref() == Some(digest) || prepared.as_deref() == Some(digest)
    }

    /// The bundle `wanted`: already loaded (prepared, or the one replaced last), or
    /// fetched, verified and loaded now. `None` after recording why not, or while a
    /// retry is not yet due.
    async fn obtain(&self, world: World, wanted: &BundleRef) -> Option<Arc<LoadedBundle>> {
        {
            let shadow = self.runtime.shadow(world).map(|s| s.bundle.clone());
            let worlds = self.worlds.lock().unwrap_or_else(PoisonError::into_inner);
            let state = worlds.get(&world);
            let loaded = [
                state.and_then(|s| s.prepared.clone()),
                state.and_then(|s| s.replaced.clone()),
                shadow,
            ]
            .into_iter()
            .flatten()
            .find(|b| b.digest.to_string() == wanted.digest);
            if loaded.is_some() {
                return loaded;
            }
            if let Some(f) = state.and_then(|s| s.failure.as_ref())
                && f.digest == wanted.digest
                && f.retry_at > Instant::now()
            {
                return None;
            }
        }
        let loaded = match self.fetch(wanted).await {
            Ok(bundle) if bundle.manifest.world != world => Err(format!(
                "the bundle is a {} bundle, not {world}",
                bundle.manifest.world
            )),
            Ok(bundle) => {
                let runtime = self.runtime.clone();
                tokio::task::spawn_blocking(move || {
                    let loaded = runtime.load_source(bundle).map_err(|e| e.to_string());
                    // Compiling freed tens of MB; give them back now, as at start, rather
                    // than when the heap trimmer next looks (its pause would land on a
                    // reply).
                    crate::heap::release_freed();
                    loaded
                })
                .await
                .unwrap_or_else(|e| Err(format!("loading panicked: {e}")))
            }
            Err(e) => Err(e),
        };
        match loaded {
            Ok(bundle) => Some(bundle),
            Err(error) => {
                let mut worlds = self.worlds.lock().unwrap_or_else(PoisonError::into_inner);
                let state = worlds.entry(world).or_default();
                let failures = match &state.failure {
                    Some(f) if f.digest == wanted.digest => f.failures + 1,
                    _ => 1,
                };
                let backoff = (FIRST_RETRY * 2u32.saturating_pow(failures - 1)).min(LAST_RETRY);
                tracing::error!(
                    world = %world,
                    digest = %wanted.digest,
                    source = %wanted.source,
                    %error,
                    retry_in_s = backoff.as_secs(),
                    "cannot use the desired policy bundle; keeping the one served"
                );
                state.failure = Some(Failure {
                    digest: wanted.digest.clone(),
                    error,
                    failures,
                    retry_at: Instant::now() + backoff,
                });
                None
            }
        }
    }

    /// The bundle `wanted` names, with exactly its digest: from this host's copy of
    /// bundles pulled before, else from its source (a pull is kept by digest).
    async fn fetch(&self, wanted: &BundleRef) -> Result<BundleSource, String> {
        let hex = wanted
            .digest
            .strip_prefix("sha256:")
            .unwrap_or(&wanted.digest);
        let kept = self.bundles.join(hex);
        if kept.is_dir() {
            let dir = kept.clone();
            if let Ok(Ok(b)) = tokio::task::spawn_blocking(move || BundleSource::read(&dir)).await
                && b.digest.to_string() == wanted.digest
            {
                return Ok(b);
            }
        }
        let source = Source::parse(&wanted.source)?;
        std::fs::create_dir_all(&self.bundles)
            .map_err(|e| format!("{}: {e}", self.bundles.display()))?;
        let bundle = source.fetch(&self.bundles).await?;
        if bundle.digest.to_string() != wanted.digest {
            if matches!(source, Source::Registry(_)) {
                let _ = std::fs::remove_dir_all(&bundle.dir);
            }
            return Err(format!(
                "{} holds {}, not the activated {}",
                source.to_stored(),
                bundle.digest,
                wanted.digest
            ));
        }
        if matches!(source, Source::Registry(_)) {
            let _ = std::fs::remove_dir_all(&kept);
            std::fs::rename(&bundle.dir, &kept).map_err(|e| format!("{}: {e}", kept.display()))?;
        }
        Ok(bundle)
    }

    fn reports(&self) -> Vec<HostReport> {
        let worlds = self.worlds.lock().unwrap_or_else(PoisonError::into_inner);
        World::ALL
            .into_iter()
            .map(|world| {
                let state = worlds.get(&world);
                let failure = state.and_then(|s| s.failure.as_ref());
                HostReport {
                    world: world.to_string(),
                    serving: self.runtime.active(world).map(|b| b.digest.to_string()),
                    prepared: state
                        .and_then(|s| s.prepared.as_ref())
                        .map(|b| b.digest.to_string()),
                    error: failure.map(|f| f.error.clone()),
                    error_digest: failure.map(|f| f.digest.clone()),
                }
            })
            .collect()
    }
}
