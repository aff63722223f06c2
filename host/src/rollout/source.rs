//! Where a bundle comes from: a folder on a filesystem every host sees. (A source is
//! named the same way in the desired state, the CLI and the admin API.)

use std::path::{Path, PathBuf};

use crate::policy::{BundleSource, LoadError};

/// A bundle source as stored in the desired state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Folder(PathBuf),
}

impl Source {
    /// Parse what an operator typed. Folders are made absolute, so every host and the
    /// history name the same place.
    pub fn parse(text: &str) -> Result<Source, String> {
        let text = text.trim();
        if text.is_empty() {
            return Err("the source is empty".into());
        }
        let path = Path::new(text);
        let absolute = std::path::absolute(path)
            .map_err(|e| format!("{text}: cannot make the path absolute: {e}"))?;
        Ok(Source::Folder(absolute))
    }

    /// As stored: the same text `parse` reads back.
    pub fn to_stored(&self) -> String {
        match self {
            Source::Folder(p) => p.display().to_string(),
        }
    }

    /// Read the bundle (blocking).
    pub fn fetch(&self) -> Result<BundleSource, LoadError> {
        match self {
            Source::Folder(dir) => BundleSource::read(dir),
        }
    }
}
