//! A bundle on disk: `bundle.toml` (manifest), the component, its config, its corpora.

use std::fmt;
use std::path::{Path, PathBuf};

use jules_policy_model::World;
use serde::Deserialize;
use sha2::{Digest, Sha256};

use super::error::LoadError;
use super::signing::SIGNATURE_FILE;

pub const MANIFEST_FILE: &str = "bundle.toml";

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Manifest {
    pub name: String,
    pub version: semver::Version,
    pub world: World,
    /// The jules:policy WIT version the component was built against.
    pub wit: semver::Version,
    #[serde(default = "default_component")]
    pub component: PathBuf,
    #[serde(default = "default_config")]
    pub config: PathBuf,
    #[serde(default)]
    pub corpus: Vec<PathBuf>,
    #[serde(default)]
    pub description: String,
}

fn default_component() -> PathBuf {
    "component.wasm".into()
}

fn default_config() -> PathBuf {
    "config.json".into()
}

/// A bundle's identity: sha256 over its component and its config.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct BundleDigest([u8; 32]);

impl BundleDigest {
    /// sha256(len(component) as u64 LE ‖ component ‖ config): the length prefix keeps
    /// two different (component, config) splits of the same bytes apart.
    pub fn of(component: &[u8], config: &[u8]) -> BundleDigest {
        let mut h = Sha256::new();
        h.update((component.len() as u64).to_le_bytes());
        h.update(component);
        h.update(config);
        BundleDigest(h.finalize().into())
    }

    pub fn hex(&self) -> String {
        hex::encode(self.0)
    }

    /// The first 12 hex digits, for logs.
    pub fn short(&self) -> String {
        self.hex()[..12].to_string()
    }
}

impl fmt::Display for BundleDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.hex())
    }
}

impl fmt::Debug for BundleDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BundleDigest({})", self.short())
    }
}

/// A bundle read from disk, not yet compiled.
#[derive(Debug, Clone)]
pub struct BundleSource {
    pub dir: PathBuf,
    pub manifest: Manifest,
    pub component_path: PathBuf,
    pub component: Vec<u8>,
    pub config: String,
    pub digest: BundleDigest,
    /// The text of `signature.json`, when the bundle has one.
    pub signature: Option<String>,
}

impl BundleSource {
    /// Read `dir/bundle.toml` and the files it names.
    pub fn read(dir: &Path) -> Result<BundleSource, LoadError> {
        let manifest_path = dir.join(MANIFEST_FILE);
        let text = read_string(&manifest_path)?;
        let manifest: Manifest = toml::from_str(&text).map_err(|e| LoadError::Manifest {
            path: manifest_path.clone(),
            reason: e.to_string(),
        })?;
        if manifest.name.trim().is_empty() {
            return Err(LoadError::Manifest {
                path: manifest_path,
                reason: "`name` is empty".into(),
            });
        }
        let component_path = dir.join(&manifest.component);
        let component = std::fs::read(&component_path).map_err(|source| LoadError::Io {
            path: component_path.clone(),
            source,
        })?;
        let config = read_string(&dir.join(&manifest.config))?;
        let signature_path = dir.join(SIGNATURE_FILE);
        let signature = match std::fs::read_to_string(&signature_path) {
            Ok(text) => Some(text),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(source) => {
                return Err(LoadError::Io {
                    path: signature_path,
                    source,
                });
            }
        };
        let mut source = BundleSource::new(
            dir.to_path_buf(),
            manifest,
            component_path,
            component,
            config,
        );
        source.signature = signature;
        Ok(source)
    }

    pub fn new(
        dir: PathBuf,
        manifest: Manifest,
        component_path: PathBuf,
        component: Vec<u8>,
        config: String,
    ) -> BundleSource {
        let digest = BundleDigest::of(&component, config.as_bytes());
        BundleSource {
            dir,
            manifest,
            component_path,
            component,
            config,
            digest,
            signature: None,
        }
    }

    /// The corpus files the manifest lists, resolved against the bundle's folder.
    pub fn corpus_paths(&self) -> Vec<PathBuf> {
        self.manifest
            .corpus
            .iter()
            .map(|p| self.dir.join(p))
            .collect()
    }
}

fn read_string(path: &Path) -> Result<String, LoadError> {
    std::fs::read_to_string(path).map_err(|source| LoadError::Io {
        path: path.to_path_buf(),
        source,
    })
}
