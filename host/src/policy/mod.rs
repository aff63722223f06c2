//! The policy runtime: crisis detection, compliance and prompt building run as
//! WebAssembly components (jules:policy WIT) in fresh, bounded, capability-less
//! instances, with the same logic compiled natively as the fail-safe baseline.
//!
//! This is the only module that names wasmtime. It must never let a component's
//! failure reach the caller as an error: every call returns a decision.

mod baseline;
mod bundle;
mod cache;
mod engine;
mod error;
mod input;
mod inspect;
mod loaded;
mod preinit;
mod runtime;
mod sandbox;
mod signing;
mod validate;
mod wit;

pub use baseline::Baseline;
pub use bundle::{BundleDigest, BundleSource, MANIFEST_FILE, Manifest};
pub use engine::RuntimeSettings;
pub use error::{CallError, LoadError};
pub use input::PromptInput;
pub use inspect::{Import, Inspection};
pub use loaded::LoadedBundle;
#[cfg(feature = "bench-support")]
pub use loaded::WarmInstance;
pub use runtime::{Decided, Fallback, PolicyRuntime, Shadow, ShadowStats, WorldStats};
pub use signing::{
    Provenance, SIGNATURE_FILE, SignatureError, SignatureFile, SigningIdentity, Statement, Trust,
    TrustedKeys,
};
pub use wit::SUPPORTED as SUPPORTED_WIT_VERSIONS;

/// Describe a component file without loading it as a bundle (for `jules policy check`).
pub fn check_component(path: &std::path::Path) -> Result<Inspection, LoadError> {
    let bytes = std::fs::read(path).map_err(|source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    let engine = wasmtime::Engine::default();
    let (_, inspection) = inspect::compile_and_inspect(&engine, path, &bytes)?;
    Ok(inspection)
}
