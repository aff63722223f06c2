//! Configuration from the environment (and an optional `.env`). Invalid values are
//! errors naming the variable; absent values take the local defaults.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use crate::policy::RuntimeSettings;

#[derive(Debug, Clone)]
pub struct Config {
    pub host: String,
    pub port: u16,
    /// Where bundles are read from (one folder per bundle).
    pub policy_dir: PathBuf,
    /// Local state: the compiled-policy cache (and, later, the embedded store).
    pub data_dir: PathBuf,
    pub policy: RuntimeSettings,
    pub environment: String,
}

#[derive(Debug, thiserror::Error)]
#[error("{name}: {reason}")]
pub struct ConfigError {
    pub name: &'static str,
    pub reason: String,
}

fn var(name: &'static str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

fn parsed<T: FromStr>(name: &'static str, default: T) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    match var(name) {
        None => Ok(default),
        Some(v) => v.trim().parse().map_err(|e| ConfigError {
            name,
            reason: format!("cannot read {v:?}: {e}"),
        }),
    }
}

impl Config {
    pub fn from_env() -> Result<Config, ConfigError> {
        let data_dir = PathBuf::from(var("DATA_DIR").unwrap_or_else(|| "data".into()));
        let defaults = RuntimeSettings::default();
        let memory_mb: usize = parsed("POLICY_MEMORY_LIMIT_MB", defaults.memory_limit_bytes >> 20)?;
        let deadline_ms: u64 = parsed("POLICY_DEADLINE_MS", defaults.deadline.as_millis() as u64)?;
        if memory_mb == 0 || deadline_ms == 0 {
            return Err(ConfigError {
                name: if memory_mb == 0 {
                    "POLICY_MEMORY_LIMIT_MB"
                } else {
                    "POLICY_DEADLINE_MS"
                },
                reason: "must be greater than 0".into(),
            });
        }
        let environment = var("ENVIRONMENT").unwrap_or_else(|| "development".into());
        if !["development", "staging", "production"].contains(&environment.as_str()) {
            return Err(ConfigError {
                name: "ENVIRONMENT",
                reason: format!("{environment:?} is not development, staging or production"),
            });
        }
        Ok(Config {
            host: var("HOST").unwrap_or_else(|| "127.0.0.1".into()),
            port: parsed("PORT", 8000)?,
            policy_dir: PathBuf::from(var("POLICY_DIR").unwrap_or_else(|| "policies".into())),
            policy: RuntimeSettings {
                memory_limit_bytes: memory_mb << 20,
                deadline: Duration::from_millis(deadline_ms),
                cache_dir: Some(
                    var("POLICY_CACHE_DIR")
                        .map(PathBuf::from)
                        .unwrap_or_else(|| data_dir.join("policy-cache")),
                ),
                ..defaults
            },
            data_dir,
            environment,
        })
    }
}
