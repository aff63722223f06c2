//! Where a bundle comes from: a folder every host can read, or a registry reference
//! (stored pinned to its manifest digest, so every host pulls the same bytes). Either
//! is valid everywhere a source is asked for.

use std::path::{Path, PathBuf};

use crate::policy::BundleSource;

use super::registry;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Folder(PathBuf),
    Registry(String),
}

impl Source {
    /// Parse what an operator typed: an existing folder, else a registry reference
    /// (`host[:port]/repository[:tag|@digest]`), else a folder (which will be named
    /// when it cannot be read). Folders are made absolute, so every host and the
    /// history name the same place.
    pub fn parse(text: &str) -> Result<Source, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("the source is empty".into());
        }
        let path = Path::new(text);
        if !path.exists() && registry::is_reference(text) {
            return Ok(Source::Registry(text.to_string()));
        }
        let absolute = std::path::absolute(path)
            .map_err(|e| format!("{text}: cannot make the path absolute: {e}"))?;
        Ok(Source::Folder(absolute))
    }

    /// As stored: the same text `parse` reads back.
    pub fn to_stored(&self) -> String {
        match self {
            Source::Folder(p) => p.display().to_string(),
            Source::Registry(r) => r.clone(),
        }
    }

    /// The same source, a registry tag resolved to the manifest it names now.
    pub async fn pinned(&self) -> Result<Source, String> {
        match self {
            Source::Folder(_) => Ok(self.clone()),
            Source::Registry(r) => Ok(Source::Registry(registry::resolve(r).await?)),
        }
    }

    /// Read the bundle; one from a registry is pulled into a new folder under
    /// `scratch` first (the caller owns that folder).
    pub async fn fetch(&self, scratch: &Path) -> Result<BundleSource, String> {
        let dir = match self {
            Source::Folder(dir) => dir.clone(),
            Source::Registry(reference) => {
                let dir = scratch.join(format!(".pull-{:016x}", rand::random::<u64>()));
                if let Err(e) = registry::pull(reference, &dir).await {
                    let _ = std::fs::remove_dir_all(&dir);
                    return Err(e);
                }
                dir
            }
        };
        let read = dir.clone();
        tokio::task::spawn_blocking(move || BundleSource::read(&read))
            .await
            .map_err(|e| e.to_string())?
            .map_err(|e| format!("{}: {e}", self.to_stored()))
    }
}
