//! Pre-initialization: run a bundle's `init(config)` once, at load, and snapshot the
//! initialized instance into a new component. Every call then starts from the
//! snapshot: fresh and isolated, without paying init per message.

use wasmtime::component::{Component, Linker, Val};
use wasmtime::{Engine, Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wizer::{WasmtimeWizerComponent, Wizer};

use super::error::LoadError;

pub fn preinitialize(
    engine: &Engine,
    component: &[u8],
    config: &str,
    fuel: u64,
    memory_limit_bytes: usize,
) -> Result<Vec<u8>, LoadError> {
    let failed = |e: wasmtime::Error| LoadError::InitFailed {
        reason: format!("{e:#}"),
    };
    let wizer = Wizer::new();
    let (context, instrumented) = wizer.instrument_component(component).map_err(failed)?;
    let instrumented = Component::new(engine, &instrumented).map_err(failed)?;

    let mut store = Store::new(
        engine,
        StoreLimitsBuilder::new()
            .memory_size(memory_limit_bytes)
            .trap_on_grow_failure(true)
            .build(),
    );
    store.limiter(|l: &mut StoreLimits| l);
    store.set_fuel(fuel).map_err(failed)?;

    pollster::block_on(async {
        let mut linker = Linker::new(engine);
        // init may not call imports (the snapshot could not capture their effects),
        // so every import is a trap here.
        linker
            .define_unknown_imports_as_traps(&instrumented)
            .map_err(failed)?;
        let instance = linker
            .instantiate_async(&mut store, &instrumented)
            .await
            .map_err(failed)?;
        // init is called directly rather than through the pre-initializer's textual
        // call syntax: configs are large, and that parser recurses per character.
        let init = instance
            .get_func(&mut store, "init")
            .ok_or_else(|| LoadError::InitFailed {
                reason: "the component exports no `init`".into(),
            })?;
        let mut results = [Val::Bool(false)];
        init.call_async(&mut store, &[Val::String(config.to_string())], &mut results)
            .await
            .map_err(|e| LoadError::InitFailed {
                reason: format!("init trapped: {e:#}"),
            })?;
        match &results[0] {
            Val::Result(Ok(_)) => {}
            Val::Result(Err(Some(msg))) => {
                return Err(LoadError::InitRefused {
                    message: match msg.as_ref() {
                        Val::String(s) => s.clone(),
                        other => format!("{other:?}"),
                    },
                });
            }
            other => {
                return Err(LoadError::InitFailed {
                    reason: format!("init returned {other:?}, expected result<_, string>"),
                });
            }
        }
        wizer
            .snapshot_component(
                &context,
                &mut WasmtimeWizerComponent {
                    store: &mut store,
                    instance,
                },
            )
            .await
            .map_err(failed)
    })
}
