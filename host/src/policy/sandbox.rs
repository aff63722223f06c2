//! The per-call sandbox: a store with a deny-all WASI context, a memory cap and a
//! deadline. One store per call, dropped after it, so nothing one person's message
//! leaves in guest memory can reach the next call.

use wasmtime::component::ResourceTable;
use wasmtime::{ResourceLimiter, Store, Trap};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

use super::engine::RuntimeSettings;
use super::error::CallError;

/// Bytes of guest stderr kept per call: enough for a panic message.
const STDERR_CAPACITY: usize = 4096;

pub struct SandboxState {
    wasi: WasiCtx,
    table: ResourceTable,
    limiter: MemoryCap,
    stderr: MemoryOutputPipe,
}

impl WasiView for SandboxState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl SandboxState {
    pub fn new(memory_limit_bytes: usize) -> SandboxState {
        let stderr = MemoryOutputPipe::new(STDERR_CAPACITY);
        // No args, no env, no preopens, no network, empty stdin, stdout discarded.
        let wasi = WasiCtx::builder().stderr(stderr.clone()).build();
        SandboxState {
            wasi,
            table: ResourceTable::new(),
            limiter: MemoryCap {
                limit: memory_limit_bytes,
                exceeded: false,
            },
            stderr,
        }
    }

    fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr.contents()).into_owned()
    }
}

/// Caps linear memory and remembers that the cap was hit, so the failure is reported
/// as memory exhaustion rather than as an anonymous trap.
struct MemoryCap {
    limit: usize,
    exceeded: bool,
}

impl ResourceLimiter for MemoryCap {
    fn memory_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.limit {
            self.exceeded = true;
            return Err(wasmtime::format_err!(
                "memory limit of {} bytes exceeded",
                self.limit
            ));
        }
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= 100_000)
    }
}

/// A fresh store for one call, with limits applied.
pub fn new_store(engine: &wasmtime::Engine, settings: &RuntimeSettings) -> Store<SandboxState> {
    let mut store = Store::new(engine, SandboxState::new(settings.memory_limit_bytes));
    store.limiter(|s| &mut s.limiter);
    store.set_epoch_deadline(settings.deadline_ticks());
    store.epoch_deadline_trap();
    store
}

/// Turn a wasmtime error from a call into the runtime's classification.
pub fn classify(
    store: &Store<SandboxState>,
    settings: &RuntimeSettings,
    err: wasmtime::Error,
) -> CallError {
    let state = store.data();
    if state.limiter.exceeded {
        return CallError::Memory {
            limit_bytes: state.limiter.limit,
        };
    }
    if let Some(Trap::Interrupt) = err.downcast_ref::<Trap>() {
        return CallError::Timeout {
            deadline_ms: settings.deadline.as_millis() as u64,
        };
    }
    CallError::Trap {
        message: format!("{err:#}"),
        stderr: state.stderr_text(),
    }
}
