//! On-disk cache of compiled, pre-initialized components, keyed by bundle digest and
//! engine fingerprint: a restart (or a second replica on the same disk) skips both
//! pre-initialization and compilation.

use std::path::{Path, PathBuf};

use wasmtime::Engine;
use wasmtime::component::Component;

use super::bundle::BundleDigest;

/// Bump when the pre-initialization step changes what it produces.
const FORMAT: &str = "preinit-v1";

pub struct ArtifactCache {
    dir: PathBuf,
    fingerprint: String,
}

impl ArtifactCache {
    pub fn new(dir: &Path, fingerprint: String) -> ArtifactCache {
        ArtifactCache {
            dir: dir.to_path_buf(),
            fingerprint,
        }
    }

    fn path(&self, digest: &BundleDigest) -> PathBuf {
        let key = format!("{}-{}-{}", digest.hex(), FORMAT, &self.fingerprint[..16]);
        self.dir.join(format!("{key}.cwasm"))
    }

    /// A cached artifact, if one exists and this engine accepts it.
    pub fn get(&self, engine: &Engine, digest: &BundleDigest) -> Option<Component> {
        let path = self.path(digest);
        if !path.exists() {
            return None;
        }
        // SAFETY: the file was written by `put` from `Component::serialize` of this
        // engine configuration (the fingerprint is in its name); wasmtime still checks
        // its header and refuses artifacts from other versions or settings.
        match unsafe { Component::deserialize_file(engine, &path) } {
            Ok(c) => Some(c),
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "ignoring unusable cached policy artifact");
                None
            }
        }
    }

    /// Store an artifact; failures are logged, never fatal (the cache is an optimisation).
    pub fn put(&self, digest: &BundleDigest, component: &Component) {
        let path = self.path(digest);
        let result = (|| -> anyhow::Result<()> {
            std::fs::create_dir_all(&self.dir)?;
            let bytes = component.serialize()?;
            let tmp = path.with_extension(format!("tmp{}", std::process::id()));
            std::fs::write(&tmp, bytes)?;
            std::fs::rename(&tmp, &path)?;
            Ok(())
        })();
        if let Err(e) = result {
            tracing::warn!(path = %path.display(), error = %e, "could not cache a compiled policy");
        }
    }
}
