//! The one wasmtime `Engine` of the process, its settings and its epoch clock.

use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::{Config, Enabled, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// Dirty bytes per memory (and table) a slot keeps mapped between calls: a typical
/// call dirties its stack and some 100 KiB of arena.
const KEEP_RESIDENT: usize = 2 << 20;

/// Limits and tuning of the policy runtime (configurable by the operator).
#[derive(Debug, Clone)]
pub struct RuntimeSettings {
    /// Linear memory one call may use.
    pub memory_limit_bytes: usize,
    /// Wall-clock budget of one call, enforced with epoch interruption.
    pub deadline: Duration,
    /// How often the epoch clock ticks; the deadline is rounded up to whole ticks.
    pub epoch_tick: Duration,
    /// Instances that may exist at once (calls in flight across all threads).
    pub max_instances: u32,
    /// Where compiled, pre-initialized components are cached; `None` disables the cache.
    pub cache_dir: Option<PathBuf>,
    /// Fuel (roughly, wasm instructions) a bundle's `init` may burn at load time.
    pub init_fuel: u64,
    /// Policy calls that run at once, each on a blocking thread of its own, so a
    /// component spinning to its deadline never holds an async worker
    /// (`POLICY_CONCURRENCY`; default: the machine's cores).
    pub concurrency: usize,
    /// Which signatures a bundle needs to load (default: development, unsigned
    /// accepted, no key trusted).
    pub trust: super::signing::Trust,
}

impl Default for RuntimeSettings {
    fn default() -> Self {
        RuntimeSettings {
            memory_limit_bytes: 64 << 20,
            deadline: Duration::from_millis(100),
            epoch_tick: Duration::from_millis(5),
            max_instances: 1000,
            cache_dir: None,
            init_fuel: 5_000_000_000,
            concurrency: std::thread::available_parallelism().map_or(2, usize::from),
            trust: super::signing::Trust::default(),
        }
    }
}

impl RuntimeSettings {
    pub fn deadline_ticks(&self) -> u64 {
        let tick = self.epoch_tick.as_nanos().max(1);
        (self.deadline.as_nanos().div_ceil(tick) as u64).max(1)
    }
}

/// The engine that runs calls: pooling allocator, epoch interruption, no async.
pub fn call_engine(settings: &RuntimeSettings) -> anyhow::Result<Engine> {
    let mut pool = PoolingAllocationConfig::default();
    let n = settings.max_instances;
    pool.total_component_instances(n)
        .total_core_instances(n.saturating_mul(8))
        .total_memories(n.saturating_mul(2))
        .total_tables(n.saturating_mul(4))
        .max_memory_size(settings.memory_limit_bytes)
        // Reset a used slot by copying back only the pages the call dirtied (found
        // with PAGEMAP_SCAN on Linux ≥ 6.7) instead of unmapping the image, so the
        // next call starts without page faults. Pages a call dirtied stay private to
        // the slot and are copied back on every later reset, so only the first
        // KEEP_RESIDENT bytes of them are kept; beyond that, pages are unmapped.
        .linear_memory_keep_resident(KEEP_RESIDENT)
        .table_keep_resident(KEEP_RESIDENT)
        .pagemap_scan(Enabled::Auto);
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .epoch_interruption(true)
        .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    Engine::new(&config).map_err(anyhow::Error::from)
}

/// The engine that pre-initializes bundles: the pre-initializer drives it with async calls;
/// fuel-metered so a looping `init` fails the load instead of hanging it.
pub fn init_engine() -> anyhow::Result<Engine> {
    let mut config = Config::new();
    config.wasm_component_model(true).consume_fuel(true);
    Engine::new(&config).map_err(anyhow::Error::from)
}

/// A key for artifacts compiled by `engine`: changes whenever the engine's version or
/// compilation settings would make an artifact unusable.
pub fn engine_fingerprint(engine: &Engine) -> String {
    struct Sha(Sha256);
    impl Hasher for Sha {
        fn finish(&self) -> u64 {
            0
        }
        fn write(&mut self, bytes: &[u8]) {
            self.0.update(bytes);
        }
    }
    let mut h = Sha(Sha256::new());
    engine.precompile_compatibility_hash().hash(&mut h);
    hex::encode(h.0.finalize())
}

/// Advances the engine's epoch every tick until dropped.
pub struct EpochClock {
    stop: Arc<AtomicBool>,
}

impl EpochClock {
    pub fn start(engine: Engine, tick: Duration) -> EpochClock {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        std::thread::Builder::new()
            .name("policy-epoch".into())
            .spawn(move || {
                while !flag.load(Ordering::Relaxed) {
                    std::thread::sleep(tick);
                    engine.increment_epoch();
                }
            })
            .expect("spawning the epoch thread");
        EpochClock { stop }
    }
}

impl Drop for EpochClock {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}
