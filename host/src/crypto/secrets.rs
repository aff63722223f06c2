//! Where the keys come from: the environment (`ENCRYPTION_KEYS`, `BLIND_INDEX_KEY`).
//! Production refuses to start without them. Development generates them once, says so,
//! and keeps them in the data directory so a restart can still read old data.

use std::io::Write as _;
use std::path::{Path, PathBuf};

use base64::Engine as _;

use super::{BlindIndex, KeyError, KeyRing};

pub const DEV_KEYS_FILE: &str = "dev-keys.env";

/// Where the keys in use came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyOrigin {
    Environment,
    /// Development keys kept in the data directory; `created` on this start.
    DevelopmentFile {
        path: PathBuf,
        created: bool,
    },
}

#[derive(Debug, Clone)]
pub struct Secrets {
    pub ring: KeyRing,
    pub blind: BlindIndex,
    pub origin: KeyOrigin,
}

impl Secrets {
    /// `var` reads a variable (the process environment in production code).
    pub fn load(
        var: impl Fn(&str) -> Option<String>,
        production: bool,
        data_dir: &Path,
    ) -> Result<Secrets, KeyError> {
        let named = |name: &str, e: KeyError| KeyError(format!("{name}: {}", e.0));
        let keys = var("ENCRYPTION_KEYS").filter(|v| !v.trim().is_empty());
        let blind = var("BLIND_INDEX_KEY").filter(|v| !v.trim().is_empty());
        match (keys, blind) {
            (Some(k), Some(b)) => Ok(Secrets {
                ring: KeyRing::parse(&k).map_err(|e| named("ENCRYPTION_KEYS", e))?,
                blind: BlindIndex::parse(&b).map_err(|e| named("BLIND_INDEX_KEY", e))?,
                origin: KeyOrigin::Environment,
            }),
            (None, None) if !production => dev_keys(data_dir),
            (k, _) => Err(KeyError(format!(
                "{} is not set{}",
                if k.is_none() {
                    "ENCRYPTION_KEYS"
                } else {
                    "BLIND_INDEX_KEY"
                },
                if production {
                    "; production needs both ENCRYPTION_KEYS and BLIND_INDEX_KEY"
                } else {
                    "; set both, or neither to use development keys"
                }
            ))),
        }
    }
}

fn dev_keys(data_dir: &Path) -> Result<Secrets, KeyError> {
    let path = data_dir.join(DEV_KEYS_FILE);
    let io = |e: std::io::Error| KeyError(format!("{}: {e}", path.display()));
    let created = !path.exists();
    if created {
        let ring = KeyRing::generate("dev-1")?;
        let mut blind = [0u8; 32];
        rand::Rng::fill(&mut rand::rngs::OsRng, &mut blind);
        std::fs::create_dir_all(data_dir).map_err(io)?;
        let text = format!(
            "# Development keys, generated once. Losing this file loses the data sealed with it.\n\
             ENCRYPTION_KEYS={}\nBLIND_INDEX_KEY={}\n",
            ring.to_spec(),
            base64::engine::general_purpose::STANDARD.encode(blind)
        );
        write_private(&path, &text).map_err(io)?;
    }
    let text = std::fs::read_to_string(&path).map_err(io)?;
    let value = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix('='))
            .map(str::to_string)
            .ok_or_else(|| KeyError(format!("{}: no {name} line", path.display())))
    };
    let in_file = |e: KeyError| KeyError(format!("{}: {}", path.display(), e.0));
    Ok(Secrets {
        ring: KeyRing::parse(&value("ENCRYPTION_KEYS")?).map_err(in_file)?,
        blind: BlindIndex::parse(&value("BLIND_INDEX_KEY")?).map_err(in_file)?,
        origin: KeyOrigin::DevelopmentFile { path, created },
    })
}

/// Write a file only its owner can read.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    options.open(path)?.write_all(text.as_bytes())
}
