//! Pre-initialization: run a bundle's `init(config)` once, at load, and snapshot the
//! initialized instance into a new component. Every call then starts from the
//! snapshot: fresh and isolated, without paying init per message.

use wasmtime::component::{Linker, Val, wasm_wave};
use wasmtime::{Engine, Store};
use wasmtime_wizer::Wizer;

use super::error::LoadError;

pub fn preinitialize(
    engine: &Engine,
    component: &[u8],
    config: &str,
    fuel: u64,
    memory_limit_bytes: usize,
) -> Result<Vec<u8>, LoadError> {
    let call = format!(
        "init({})",
        wasm_wave::to_string(&Val::String(config.to_string())).map_err(|e| {
            LoadError::InitFailed {
                reason: format!("cannot encode the config as a WIT string: {e}"),
            }
        })?
    );
    let mut wizer = Wizer::new();
    wizer.init_func(call).keep_init_func(true);

    let mut store = Store::new(
        engine,
        wasmtime::StoreLimitsBuilder::new()
            .memory_size(memory_limit_bytes)
            .trap_on_grow_failure(true)
            .build(),
    );
    store.limiter(|l| l);
    store.set_fuel(fuel).map_err(|e| LoadError::InitFailed {
        reason: e.to_string(),
    })?;

    let run = wizer.run_component(&mut store, component, async |store, component| {
        let mut linker = Linker::new(store.engine());
        // init may not call imports (the snapshot could not capture their effects),
        // so every import is a trap here.
        linker.define_unknown_imports_as_traps(component)?;
        linker.instantiate_async(store, component).await
    });
    let (snapshot, results) = pollster::block_on(run).map_err(|e| LoadError::InitFailed {
        reason: format!("{e:#}"),
    })?;
    match results.first() {
        Some(Val::Result(Err(Some(msg)))) => match msg.as_ref() {
            Val::String(s) => Err(LoadError::InitRefused { message: s.clone() }),
            other => Err(LoadError::InitRefused {
                message: format!("{other:?}"),
            }),
        },
        Some(Val::Result(Ok(_))) => Ok(snapshot),
        other => Err(LoadError::InitFailed {
            reason: format!("init returned {other:?}, expected result<_, string>"),
        }),
    }
}
