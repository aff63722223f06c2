use std::path::PathBuf;

/// Why a bundle was refused. Every message names the problem so an author can fix it.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("bad manifest {path}: {reason}")]
    Manifest { path: PathBuf, reason: String },
    #[error("{path} is not WebAssembly (no \\0asm header)")]
    NotWasm { path: PathBuf },
    #[error(
        "{path} is a core WebAssembly module, not a component; build it for wasm32-wasip2 or wrap it with `wasm-tools component new`"
    )]
    CoreModule { path: PathBuf },
    #[error("{path} is not a valid component: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error(
        "the component implements no jules:policy world: it exports [{exports}] (expected crisis-detector: init, assess; compliance-policy: init, evaluate, shape; prompt-builder: init, build)"
    )]
    UnknownWorld { exports: String },
    #[error("the manifest says world {manifest} but the component implements {component}")]
    WrongWorld { manifest: String, component: String },
    #[error("the component is missing the export `{name}` of world {world}")]
    MissingExport { world: String, name: String },
    #[error("the component does not match world {world}@{version}: {reason}")]
    Mismatch {
        world: String,
        version: String,
        reason: String,
    },
    #[error("cannot tell the component's WIT version: it imports no jules:policy interface")]
    NoWitVersion,
    #[error("WIT version {found} is not supported by this host (supported: {supported})")]
    UnsupportedWit { found: String, supported: String },
    #[error("the manifest says WIT {manifest} but the component was built against {component}")]
    WitVersionMismatch { manifest: String, component: String },
    #[error(
        "the component imports capabilities policies may not have: {imports} (policies get only the deny-all set: wasi:io, wasi:cli streams/environment/exit)"
    )]
    Capability { imports: String },
    #[error("the component's init refused the bundle config: {message}")]
    InitRefused { message: String },
    #[error("the component's init failed: {reason}")]
    InitFailed { reason: String },
    #[error("the baseline refused the bundle config: {message}")]
    BaselineConfig { message: String },
    #[error("compiling the component failed: {reason}")]
    Compile { reason: String },
    #[error("refused: {0}")]
    Signature(#[from] super::signing::SignatureError),
}

/// Why one call into a component failed. The runtime contains all of these.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum CallError {
    #[error("trapped: {message}{}", stderr_suffix(.stderr))]
    Trap { message: String, stderr: String },
    #[error("exceeded its deadline of {deadline_ms} ms")]
    Timeout { deadline_ms: u64 },
    #[error("exceeded its memory limit of {limit_bytes} bytes")]
    Memory { limit_bytes: usize },
    #[error("returned an invalid output: {reason}")]
    InvalidOutput { reason: String },
    #[error("could not be instantiated: {reason}")]
    Instantiate { reason: String },
}

impl CallError {
    /// A short, stable name for counters and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            CallError::Trap { .. } => "trap",
            CallError::Timeout { .. } => "timeout",
            CallError::Memory { .. } => "memory",
            CallError::InvalidOutput { .. } => "invalid-output",
            CallError::Instantiate { .. } => "instantiate",
        }
    }
}

fn stderr_suffix(stderr: &str) -> String {
    if stderr.trim().is_empty() {
        String::new()
    } else {
        format!(" (guest said: {})", stderr.trim())
    }
}
