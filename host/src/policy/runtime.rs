//! The policy runtime: loads bundles, holds the active one per world (swappable while
//! calls are in flight), and contains every failure with the native baseline.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use arc_swap::ArcSwapOption;
use jules_policy_model::{
    Assessment, Decision, Inbound, LlmRequest, Outbound, Turn, UserContext, World,
};
use tokio::sync::Semaphore;
use wasmtime::Engine;
use wasmtime::component::{Component, Linker};

use super::baseline::Baseline;
use super::bundle::{BundleDigest, BundleSource};
use super::cache::ArtifactCache;
use super::engine::{self, EpochClock, RuntimeSettings};
use super::error::{CallError, LoadError};
use super::input::PromptInput;
use super::inspect;
use super::loaded::LoadedBundle;
use super::preinit;
use super::sandbox::SandboxState;
use super::wit::{VersionedPre, since_v0_1_0};

/// A decision and who made it.
#[derive(Debug, Clone)]
pub struct Decided<T> {
    pub value: T,
    /// The bundle whose component decided or, on a fallback, whose config the baseline
    /// used (the host's built-in bundle's digest when it could not read the bundle's);
    /// `None` when the built-in baseline decided because no bundle is active.
    pub bundle: Option<BundleDigest>,
    /// Why the baseline answered instead of the component, if it did.
    pub fallback: Option<Fallback>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fallback {
    /// No component is active for this world.
    NoComponent,
    /// The component failed; the baseline answered.
    Failed(CallError),
}

/// Counters per world, for /health and metrics.
#[derive(Debug, Default)]
pub struct WorldStats {
    pub calls: AtomicU64,
    pub fallbacks: AtomicU64,
    pub traps: AtomicU64,
    pub timeouts: AtomicU64,
    pub memory: AtomicU64,
    pub invalid_outputs: AtomicU64,
    /// Calls running in a component right now.
    pub in_flight: AtomicU64,
}

struct Slot {
    active: ArcSwapOption<LoadedBundle>,
    shadow: ArcSwapOption<Shadow>,
    builtin: Baseline,
    stats: WorldStats,
    shadow_stats: ShadowStats,
}

/// A candidate given a share of live messages after the active bundle decided; its
/// decisions are recorded beside the active ones and never answer anyone.
pub struct Shadow {
    pub bundle: Arc<LoadedBundle>,
    /// The share of messages it is given, 0 to 1.
    pub sample: f64,
}

/// Counters of a world's shadow, for /health.
#[derive(Debug, Default)]
pub struct ShadowStats {
    pub sampled: AtomicU64,
    /// Not given to the shadow: its queue was full.
    pub dropped: AtomicU64,
    /// The shadow component failed (trap, timeout, memory, invalid output).
    pub failed: AtomicU64,
    pub agreed: AtomicU64,
    pub disagreed: AtomicU64,
}

pub struct PolicyRuntime {
    engine: Engine,
    init_engine: Engine,
    linker: Linker<SandboxState>,
    settings: Arc<RuntimeSettings>,
    cache: Option<ArtifactCache>,
    slots: [Slot; 3],
    /// One permit per call allowed to run at once (`RuntimeSettings::concurrency`).
    permits: Arc<Semaphore>,
    _clock: EpochClock,
}

fn index(world: World) -> usize {
    match world {
        World::CrisisDetector => 0,
        World::CompliancePolicy => 1,
        World::PromptBuilder => 2,
    }
}

impl PolicyRuntime {
    pub fn new(settings: RuntimeSettings) -> anyhow::Result<PolicyRuntime> {
        let engine = engine::call_engine(&settings)?;
        let init_engine = engine::init_engine()?;
        let mut linker = Linker::new(&engine);
        wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
        let cache = settings
            .cache_dir
            .as_ref()
            .map(|dir| ArtifactCache::new(dir, engine::engine_fingerprint(&engine)));
        let clock = EpochClock::start(engine.clone(), settings.epoch_tick);
        let slot = |world| -> anyhow::Result<Slot> {
            Ok(Slot {
                active: ArcSwapOption::empty(),
                shadow: ArcSwapOption::empty(),
                builtin: Baseline::builtin(world).map_err(anyhow::Error::msg)?,
                stats: WorldStats::default(),
                shadow_stats: ShadowStats::default(),
            })
        };
        Ok(PolicyRuntime {
            engine,
            init_engine,
            linker,
            cache,
            slots: [
                slot(World::CrisisDetector)?,
                slot(World::CompliancePolicy)?,
                slot(World::PromptBuilder)?,
            ],
            permits: Arc::new(Semaphore::new(settings.concurrency.max(1))),
            settings: Arc::new(settings),
            _clock: clock,
        })
    }

    /// Run policy calls on a blocking thread, at most `concurrency` at once, and await
    /// the result. Components run synchronously and may spin to their deadline; on the
    /// async workers that would stall every webhook ack and send sharing them.
    pub async fn offload<T, F>(self: &Arc<Self>, calls: F) -> T
    where
        F: FnOnce(&PolicyRuntime) -> T + Send + 'static,
        T: Send + 'static,
    {
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .expect("the policy semaphore is never closed");
        let runtime = self.clone();
        let done = tokio::task::spawn_blocking(move || {
            let _permit = permit;
            calls(&runtime)
        })
        .await;
        match done {
            Ok(value) => value,
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        }
    }

    pub fn settings(&self) -> &RuntimeSettings {
        &self.settings
    }

    /// Load the bundle in `dir` (not activated).
    pub fn load(&self, dir: &Path) -> Result<Arc<LoadedBundle>, LoadError> {
        self.load_source(BundleSource::read(dir)?)
    }

    pub fn load_source(&self, source: BundleSource) -> Result<Arc<LoadedBundle>, LoadError> {
        // Before any of the component's code runs (its init runs at pre-initialization).
        let provenance = self.settings.trust.check(
            &source.manifest,
            &source.digest,
            source.signature.as_deref(),
        )?;
        let path = &source.component_path;
        inspect::check_header(path, &source.component)?;
        let expected = (source.manifest.world, &source.manifest.wit);
        let cached = self
            .cache
            .as_ref()
            .and_then(|c| c.get(&self.engine, &source.digest));
        let from_cache = cached.is_some();
        let (component, inspection, snapshot_bytes) = match cached {
            Some(c) => {
                let i = inspect::inspect(&self.engine, &c);
                (c, i, None)
            }
            None => {
                let (raw, inspection) =
                    inspect::compile_and_inspect(&self.engine, path, &source.component)?;
                inspection.require(Some(expected))?;
                // The raw component's types are checked before its code runs in init.
                self.linker
                    .instantiate_pre(&raw)
                    .map_err(|e| mismatch(source.manifest.world, &source.manifest.wit, e))?;
                let snapshot = preinit::preinitialize(
                    &self.init_engine,
                    &source.component,
                    &source.config,
                    self.settings.init_fuel,
                    self.settings.memory_limit_bytes,
                )?;
                let component =
                    Component::new(&self.engine, &snapshot).map_err(|e| LoadError::Compile {
                        reason: format!("{e:#}"),
                    })?;
                if let Some(cache) = &self.cache {
                    cache.put(&source.digest, &component);
                }
                (component, inspection, Some(snapshot.len()))
            }
        };
        let (world, wit_version) = inspection.require(Some(expected))?;
        let instance_pre = self
            .linker
            .instantiate_pre(&component)
            .map_err(|e| mismatch(world, &wit_version, e))?;
        let pre = VersionedPre::V0_1_0(
            since_v0_1_0::Pre::new(world, instance_pre)
                .map_err(|e| mismatch(world, &wit_version, e))?,
        );
        let (baseline, fallback_digest) = match Baseline::from_config(world, &source.config) {
            Ok(b) => (b, source.digest),
            Err(message) => {
                let builtin = Baseline::builtin_digest(world);
                tracing::warn!(
                    bundle = %source.manifest.name,
                    digest = %source.digest.short(),
                    fallback = %builtin,
                    %message,
                    "the native baseline cannot read this bundle's config: when its component fails, the host's built-in {world} bundle ({builtin}) answers instead",
                );
                let b = Baseline::builtin(world)
                    .map_err(|message| LoadError::BaselineConfig { message })?;
                (b, builtin)
            }
        };
        Ok(Arc::new(LoadedBundle {
            manifest: source.manifest,
            digest: source.digest,
            world,
            wit_version,
            inspection,
            from_cache,
            snapshot_bytes,
            provenance,
            pre,
            baseline,
            fallback_digest,
            engine: self.engine.clone(),
            settings: self.settings.clone(),
        }))
    }

    /// Make `bundle` the active one for its world. Calls already running finish on the
    /// bundle they started with. Returns the bundle it replaced.
    pub fn activate(&self, bundle: Arc<LoadedBundle>) -> Option<Arc<LoadedBundle>> {
        let slot = &self.slots[index(bundle.world)];
        tracing::info!(
            world = %bundle.world,
            bundle = %bundle.manifest.name,
            version = %bundle.manifest.version,
            digest = %bundle.digest.short(),
            "policy activated"
        );
        slot.active.swap(Some(bundle))
    }

    pub fn active(&self, world: World) -> Option<Arc<LoadedBundle>> {
        self.slots[index(world)].active.load_full()
    }

    pub fn stats(&self, world: World) -> &WorldStats {
        &self.slots[index(world)].stats
    }

    /// Give `shadow` a share of `world`'s messages, or stop the shadow (`None`).
    pub fn set_shadow(&self, world: World, shadow: Option<Shadow>) {
        if let Some(s) = &shadow {
            tracing::info!(world = %world, digest = %s.bundle.digest.short(), sample = s.sample, "policy shadow set");
        }
        self.slots[index(world)].shadow.store(shadow.map(Arc::new));
    }

    pub fn shadow(&self, world: World) -> Option<Arc<Shadow>> {
        self.slots[index(world)].shadow.load_full()
    }

    pub fn shadow_stats(&self, world: World) -> &ShadowStats {
        &self.slots[index(world)].shadow_stats
    }

    /// Run `call` on the active component of `world`; on any failure, count it, log it
    /// and answer with the baseline.
    fn decide<T>(
        &self,
        world: World,
        call: impl FnOnce(&LoadedBundle) -> Result<T, CallError>,
        baseline: impl FnOnce(&Baseline) -> Option<T>,
    ) -> Decided<T> {
        let slot = &self.slots[index(world)];
        slot.stats.calls.fetch_add(1, Ordering::Relaxed);
        let Some(bundle) = slot.active.load_full() else {
            slot.stats.fallbacks.fetch_add(1, Ordering::Relaxed);
            let labels = [("world", world.as_str()), ("digest", "native-baseline")];
            metrics::counter!("jules_policy_calls_total", &labels).increment(1);
            metrics::counter!("jules_policy_fallbacks_total", &labels).increment(1);
            return Decided {
                value: baseline(&slot.builtin).expect("the builtin baseline matches its slot"),
                bundle: None,
                fallback: Some(Fallback::NoComponent),
            };
        };
        let started = std::time::Instant::now();
        let result = {
            let _running = InFlight::enter(&slot.stats.in_flight);
            call(&bundle)
        };
        metrics::histogram!("jules_policy_call_duration_seconds", "world" => world.as_str())
            .record(started.elapsed());
        let labels = [
            ("world", world.as_str().to_owned()),
            ("digest", bundle.digest.to_string()),
        ];
        metrics::counter!("jules_policy_calls_total", &labels).increment(1);
        if result.is_err() {
            metrics::counter!("jules_policy_fallbacks_total", &labels).increment(1);
        }
        match result {
            Ok(value) => Decided {
                value,
                bundle: Some(bundle.digest),
                fallback: None,
            },
            Err(err) => {
                slot.stats.fallbacks.fetch_add(1, Ordering::Relaxed);
                let counter = match &err {
                    CallError::Trap { .. } | CallError::Instantiate { .. } => &slot.stats.traps,
                    CallError::Timeout { .. } => &slot.stats.timeouts,
                    CallError::Memory { .. } => &slot.stats.memory,
                    CallError::InvalidOutput { .. } => &slot.stats.invalid_outputs,
                };
                counter.fetch_add(1, Ordering::Relaxed);
                tracing::error!(
                    world = %world,
                    bundle = %bundle.manifest.name,
                    digest = %bundle.digest,
                    kind = err.kind(),
                    error = %err,
                    "policy component failed; the native baseline answered"
                );
                Decided {
                    value: baseline(&bundle.baseline)
                        .expect("a bundle's baseline matches its world"),
                    bundle: Some(bundle.fallback_digest),
                    fallback: Some(Fallback::Failed(err)),
                }
            }
        }
    }

    /// The escalation response of the active crisis bundle's config (or the built-in
    /// one): readable even when the component itself fails.
    pub fn crisis_response(&self) -> Arc<jules_crisis::Response> {
        let from = |b: &super::baseline::Baseline| match b {
            super::baseline::Baseline::Crisis(d) => Some(d.response().clone()),
            _ => None,
        };
        self.active(World::CrisisDetector)
            .and_then(|b| from(b.baseline()))
            .or_else(|| from(&self.slots[index(World::CrisisDetector)].builtin))
            .unwrap_or_default()
    }

    /// Ask the active compliance bundle's config (or the built-in one) through the
    /// native policy: the account words the host carries out live there.
    pub fn compliance_config<T>(&self, f: impl Fn(&jules_compliance::Policy) -> T) -> Option<T> {
        let from = |b: &super::baseline::Baseline| match b {
            super::baseline::Baseline::Compliance(p) => Some(f(p)),
            _ => None,
        };
        self.active(World::CompliancePolicy)
            .and_then(|b| from(b.baseline()))
            .or_else(|| from(&self.slots[index(World::CompliancePolicy)].builtin))
    }

    pub fn assess(
        &self,
        message: &Inbound,
        user: &UserContext,
        recent: &[Turn],
    ) -> Decided<Assessment> {
        self.decide(
            World::CrisisDetector,
            |b| b.assess(message, user, recent),
            |b| b.assess(message, user, recent),
        )
    }

    pub fn evaluate(&self, message: &Inbound, user: &UserContext) -> Decided<Decision> {
        self.decide(
            World::CompliancePolicy,
            |b| b.evaluate(message, user),
            |b| b.evaluate(message, user),
        )
    }

    pub fn shape(&self, reply: &str, disclose: bool) -> Decided<Outbound> {
        self.decide(
            World::CompliancePolicy,
            |b| b.shape(reply, disclose),
            |b| b.shape(reply, disclose),
        )
    }

    pub fn build(&self, input: &PromptInput<'_>) -> Decided<LlmRequest> {
        self.decide(World::PromptBuilder, |b| b.build(input), |b| b.build(input))
    }
}

/// Counts a call as running until dropped, so a panicking call is not counted forever.
struct InFlight<'a>(&'a AtomicU64);

impl<'a> InFlight<'a> {
    fn enter(counter: &'a AtomicU64) -> InFlight<'a> {
        counter.fetch_add(1, Ordering::Relaxed);
        InFlight(counter)
    }
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

fn mismatch(world: World, version: &semver::Version, e: impl std::fmt::Display) -> LoadError {
    LoadError::Mismatch {
        world: world.to_string(),
        version: version.to_string(),
        reason: format!("{e:#}"),
    }
}
