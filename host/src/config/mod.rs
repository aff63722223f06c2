//! Configuration from the environment (and an optional `.env`). Invalid values are
//! errors naming the variable; absent values take the local defaults.

use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

mod environment;
pub mod production;
pub mod reference;
mod services;

pub use environment::Environment;

pub use services::Services;

use crate::memory::MemorySettings;
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
    pub environment: Environment,
    /// Postgres; None runs on the embedded store in `data_dir`.
    pub database_url: Option<String>,
    pub database_pool_size: usize,
    /// Apply pending migrations when `serve` starts (else refuse to start with them).
    pub migrate_on_start: bool,
    /// Redis for conversation memory; None keeps it in process.
    pub redis_url: Option<String>,
    pub memory: MemorySettings,
    pub services: Services,
    /// How admin API tokens are checked (JWT_SECRET_KEY or JWT_PUBLIC_KEY); `None`
    /// turns the admin API off.
    pub admin_key: Option<crate::http::admin::auth::TokenKey>,
    /// Where the admin API listens when not beside the webhooks (ADMIN_ADDR).
    pub admin_addr: Option<String>,
    /// Where errors and panics are reported (Sentry), scrubbed of personal data.
    pub sentry_dsn: Option<String>,
}

#[derive(Debug, thiserror::Error)]
#[error("{name}: {reason}")]
pub struct ConfigError {
    pub name: &'static str,
    pub reason: String,
}

thread_local! {
    /// Set while `with_environment` runs: the variables read instead of the process's.
    static ENVIRONMENT: std::cell::RefCell<Option<Vec<(String, String)>>> =
        const { std::cell::RefCell::new(None) };
}

/// `f` run on this thread as if the environment held only `env` (the reference reads
/// the code's defaults this way).
pub(crate) fn with_environment<T>(env: &[(&str, &str)], f: impl FnOnce() -> T) -> T {
    let vars = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let outer = ENVIRONMENT.with(|e| e.replace(Some(vars)));
    let out = f();
    ENVIRONMENT.with(|e| *e.borrow_mut() = outer);
    out
}

pub(crate) fn var(name: &'static str) -> Option<String> {
    let overridden = ENVIRONMENT.with(|e| {
        e.borrow()
            .as_ref()
            .map(|vars| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    });
    overridden
        .unwrap_or_else(|| std::env::var(name).ok())
        .filter(|v| !v.trim().is_empty())
}

pub(crate) fn parsed<T: FromStr>(name: &'static str, default: T) -> Result<T, ConfigError>
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

pub(crate) fn positive<T: FromStr + PartialOrd + Default>(
    name: &'static str,
    default: T,
) -> Result<T, ConfigError>
where
    T::Err: std::fmt::Display,
{
    let v = parsed(name, default)?;
    if v <= T::default() {
        return Err(ConfigError {
            name,
            reason: "must be greater than 0".into(),
        });
    }
    Ok(v)
}

fn flag(name: &'static str, default: bool) -> Result<bool, ConfigError> {
    match var(name).map(|v| v.trim().to_ascii_lowercase()) {
        None => Ok(default),
        Some(v) => match v.as_str() {
            "1" | "true" | "yes" | "on" => Ok(true),
            "0" | "false" | "no" | "off" => Ok(false),
            _ => Err(ConfigError {
                name,
                reason: format!("{v:?} is not true or false"),
            }),
        },
    }
}

impl Config {
    pub fn from_env() -> Result<Config, ConfigError> {
        let data_dir = PathBuf::from(var("DATA_DIR").unwrap_or_else(|| "data".into()));
        let defaults = RuntimeSettings::default();
        let memory_mb: usize =
            positive("POLICY_MEMORY_LIMIT_MB", defaults.memory_limit_bytes >> 20)?;
        let deadline_ms: u64 =
            positive("POLICY_DEADLINE_MS", defaults.deadline.as_millis() as u64)?;
        let environment = Environment::try_from(
            var("ENVIRONMENT").as_deref().unwrap_or("development"),
        )
        .map_err(|reason| ConfigError {
            name: "ENVIRONMENT",
            reason,
        })?;
        let memory_defaults = MemorySettings::default();
        let memory = MemorySettings {
            turns: positive("MEMORY_TURNS", memory_defaults.turns)?,
            ttl: Duration::from_secs(positive(
                "REDIS_SESSION_TTL",
                memory_defaults.ttl.as_secs(),
            )?),
            local_users: positive("MEMORY_LOCAL_USERS", memory_defaults.local_users)?,
            key_prefix: var("REDIS_KEY_PREFIX").unwrap_or(memory_defaults.key_prefix),
        };
        let trusted_keys =
            crate::policy::TrustedKeys::parse(&var("POLICY_TRUSTED_KEYS").unwrap_or_default())
                .map_err(|reason| ConfigError {
                    name: "POLICY_TRUSTED_KEYS",
                    reason,
                })?;
        let admin_key = match (var("JWT_SECRET_KEY"), var("JWT_PUBLIC_KEY")) {
            (Some(_), Some(_)) => {
                return Err(ConfigError {
                    name: "JWT_SECRET_KEY",
                    reason: "set JWT_SECRET_KEY (HS256) or JWT_PUBLIC_KEY (EdDSA), not both".into(),
                });
            }
            (Some(secret), None) => Some(crate::http::admin::auth::TokenKey::Hs256(
                secret.trim().as_bytes().to_vec(),
            )),
            (None, Some(public)) => Some(
                crate::http::admin::auth::TokenKey::ed25519(&public).map_err(|reason| {
                    ConfigError {
                        name: "JWT_PUBLIC_KEY",
                        reason,
                    }
                })?,
            ),
            (None, None) => None,
        };
        let mut services = services::from_env()?;
        // Unauthenticated carrier callbacks are a development stand-in.
        services.ingress.bandwidth_open = !environment.is_production();
        Ok(Config {
            database_url: var("DATABASE_URL"),
            database_pool_size: positive("DATABASE_POOL_SIZE", 16)?,
            migrate_on_start: flag("MIGRATE_ON_START", true)?,
            redis_url: var("REDIS_URL"),
            memory,
            services,
            host: var("HOST").unwrap_or_else(|| "127.0.0.1".into()),
            port: parsed("PORT", 8000)?,
            policy_dir: PathBuf::from(var("POLICY_DIR").unwrap_or_else(|| "policies".into())),
            policy: RuntimeSettings {
                memory_limit_bytes: memory_mb << 20,
                deadline: Duration::from_millis(deadline_ms),
                concurrency: positive("POLICY_CONCURRENCY", defaults.concurrency)?,
                cache_dir: Some(
                    var("POLICY_CACHE_DIR")
                        .map(PathBuf::from)
                        .unwrap_or_else(|| data_dir.join("policy-cache")),
                ),
                // Unsigned bundles are a development stand-in.
                trust: crate::policy::Trust::Verify {
                    keys: trusted_keys,
                    allow_unsigned: !environment.is_production(),
                },
                ..defaults
            },
            data_dir,
            environment,
            admin_key,
            admin_addr: var("ADMIN_ADDR"),
            sentry_dsn: var("SENTRY_DSN"),
        })
    }
}
