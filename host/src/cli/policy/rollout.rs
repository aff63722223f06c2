//! `jules policy activate | rollback | status | history`, against the store at
//! DATABASE_URL (else the embedded store in DATA_DIR).

use std::process::ExitCode;
use std::time::{Duration, SystemTime};

use jules_policy_model::World;

use reqwest::Method;
use serde_json::json;

use crate::cli::Remote;
use crate::cli::admin::{ok, print_applied, with_api};
use crate::rollout::control::{self, Applied, ControlError, HostState};
use crate::rollout::{Source, shadow};
use crate::store::{Backend, BundleRef};

const NOT_CONVERGED: u8 = 1;
const REFUSED: u8 = 2;

fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(REFUSED)
}

/// Who made a change from this terminal.
fn subject() -> String {
    let user = std::env::var("USER").unwrap_or_else(|_| "unknown".into());
    format!("cli:{user}")
}

/// The store, with its schema current (a change must land in tables that exist).
async fn store() -> Result<Backend, String> {
    let config =
        crate::config::Config::from_env().map_err(|e| format!("invalid configuration: {e}"))?;
    let backend = Backend::open(config.database_url.as_deref(), 2, &config.data_dir)
        .map_err(|e| e.to_string())?;
    let pending: Vec<String> = backend
        .migration_status()
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .filter(|m| !m.applied)
        .map(|m| m.label)
        .collect();
    if !pending.is_empty() {
        return Err(format!(
            "{}: the schema is behind ({} pending); run `jules migrate`",
            backend.describe(),
            pending.join(", ")
        ));
    }
    Ok(backend)
}

fn world(text: &str) -> Result<World, String> {
    text.parse().map_err(|_| {
        format!("{text:?} is not a world (crisis-detector, compliance-policy, prompt-builder)")
    })
}

pub fn activate(
    world_name: &str,
    source: &str,
    reason: &str,
    accept_regression: Option<&str>,
    wait: Duration,
    remote: &Remote,
) -> ExitCode {
    let (world, source) = match (world(world_name), Source::parse(source)) {
        (Ok(w), Ok(s)) => (w, s),
        (Err(e), _) | (_, Err(e)) => return fail(e),
    };
    if remote.admin.is_some() {
        let body = json!({
            "source": source.to_stored(),
            "reason": reason,
            "accept_regression": accept_regression,
            "wait_seconds": wait.as_secs(),
        });
        let path = format!("/admin/v1/policies/{world}/activate");
        return with_api(remote, |api| async move {
            let answer = ok(api.call(Method::POST, &path, Some(body)).await?)?;
            Ok(print_applied(&answer))
        });
    }
    super::super::run_async(async move {
        let store = match store().await {
            Ok(s) => s,
            Err(e) => return fail(e),
        };
        eprintln!(
            "staging {} for {world}; live hosts prepare it",
            source.to_stored()
        );
        let applied = control::activate(
            &store,
            &control::Activation {
                world,
                source: &source,
                subject: &subject(),
                reason,
                accept_regression,
                wait,
            },
            &|| (),
        )
        .await;
        report(applied, "activated")
    })
}

pub fn rollback(world_name: &str, reason: &str, wait: Duration, remote: &Remote) -> ExitCode {
    let world = match world(world_name) {
        Ok(w) => w,
        Err(e) => return fail(e),
    };
    if remote.admin.is_some() {
        let body = json!({ "reason": reason, "wait_seconds": wait.as_secs() });
        let path = format!("/admin/v1/policies/{world}/rollback");
        return with_api(remote, |api| async move {
            let answer = ok(api.call(Method::POST, &path, Some(body)).await?)?;
            Ok(print_applied(&answer))
        });
    }
    super::super::run_async(async move {
        let store = match store().await {
            Ok(s) => s,
            Err(e) => return fail(e),
        };
        report(
            control::rollback(&store, world, &subject(), reason, wait, &|| ()).await,
            "rolled back to",
        )
    })
}

pub fn push(bundle: &std::path::Path, reference: &str) -> ExitCode {
    super::super::run_async(async move {
        match crate::rollout::registry::push(bundle, reference).await {
            Ok(pinned) => {
                println!("{pinned}");
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        }
    })
}

pub fn pull(reference: &str, dir: &std::path::Path) -> ExitCode {
    if dir.exists() {
        return fail(format!("{} exists; pull into a new folder", dir.display()));
    }
    super::super::run_async(async move {
        match crate::rollout::registry::pull(reference, dir).await {
            Ok(()) => {
                println!("pulled {reference} into {}", dir.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                let _ = std::fs::remove_dir_all(dir);
                fail(e)
            }
        }
    })
}

pub fn shadow(
    world_name: &str,
    source: Option<&str>,
    sample: f64,
    stop: bool,
    reason: &str,
) -> ExitCode {
    let world = match world(world_name) {
        Ok(w) => w,
        Err(e) => return fail(e),
    };
    let source = match (source, stop) {
        (Some(_), true) => return fail("give a source or --stop, not both"),
        (None, false) => return fail("give the candidate's source (or --stop)"),
        (Some(s), false) => match Source::parse(s) {
            Ok(s) => Some(s),
            Err(e) => return fail(e),
        },
        (None, true) => None,
    };
    super::super::run_async(async move {
        let store = match store().await {
            Ok(s) => s,
            Err(e) => return fail(e),
        };
        let done = match &source {
            Some(s) => shadow::start(&store, world, s, sample, &subject(), reason, &|| ())
                .await
                .map(|b| {
                    format!(
                        "shadowing {world} with {} ({}) on {:.0}% of messages",
                        b.digest,
                        b.source,
                        sample * 100.0
                    )
                }),
            None => shadow::stop(&store, world, &subject(), reason, &|| ())
                .await
                .map(|()| format!("{world}: shadow stopped"))
                .map_err(ControlError::from),
        };
        match done {
            Ok(line) => {
                println!("{line}");
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        }
    })
}

pub fn shadow_report(world_name: &str, since: &str, limit: usize) -> ExitCode {
    let (world, since) = match (world(world_name), crate::cli::admin::ttl(since)) {
        (Ok(w), Ok(s)) => (w, s),
        (Err(e), _) | (_, Err(e)) => return fail(e.replace("--ttl", "--since")),
    };
    super::super::run_async(async move {
        let store = match store().await {
            Ok(s) => s,
            Err(e) => return fail(e),
        };
        match shadow::report(&store, world, since).await {
            Ok(report) => {
                print!("{}", report.render(limit));
                ExitCode::SUCCESS
            }
            Err(e) => fail(e),
        }
    })
}

pub fn promote(
    world_name: &str,
    reason: &str,
    accept_regression: Option<&str>,
    wait: Duration,
) -> ExitCode {
    let world = match world(world_name) {
        Ok(w) => w,
        Err(e) => return fail(e),
    };
    super::super::run_async(async move {
        let store = match store().await {
            Ok(s) => s,
            Err(e) => return fail(e),
        };
        let who = subject();
        let promoted =
            shadow::promote(&store, world, &who, reason, accept_regression, wait, &|| ());
        match promoted.await {
            Ok((applied, seen)) => {
                println!("{}", seen.figures());
                report(Ok(applied), "promoted")
            }
            Err(e) => fail(e),
        }
    })
}

fn report(applied: Result<Applied, ControlError>, verb: &str) -> ExitCode {
    let applied = match applied {
        Ok(a) => a,
        Err(e) => return fail(e),
    };
    let d = &applied.desired;
    println!(
        "{verb} {} for {} ({}, by {}: {:?})",
        d.active.as_ref().map_or("-", |a| a.digest.as_str()),
        d.world,
        d.active.as_ref().map_or("-", |a| a.source.as_str()),
        d.set_by,
        d.reason
    );
    for h in &applied.hosts {
        let state = match &h.state {
            HostState::Serving => "serving".to_string(),
            HostState::Prepared => "prepared, not yet serving".to_string(),
            HostState::Waiting => "no report yet".to_string(),
            HostState::Failed(e) => format!("FAILED: {e}"),
        };
        println!("  {:<28} {state}", h.host_id);
    }
    match applied.converged_after {
        Some(after) => {
            println!(
                "served by {} live host(s) {} ms after the change",
                applied.hosts.len(),
                after.as_millis()
            );
            ExitCode::SUCCESS
        }
        None if applied.hosts.is_empty() => {
            println!("no live host: hosts serve it when they start");
            ExitCode::SUCCESS
        }
        None => {
            eprintln!("not every live host serves it; `jules policy status` shows the errors");
            ExitCode::from(NOT_CONVERGED)
        }
    }
}

fn when(t: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t)
        .format("%Y-%m-%d %H:%M:%S UTC")
        .to_string()
}

fn short(digest: &str) -> &str {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    &hex[..hex.len().min(12)]
}

fn bundle(b: &Option<BundleRef>) -> String {
    b.as_ref()
        .map_or("-".into(), |b| short(&b.digest).to_string())
}

pub fn status(remote: &Remote) -> ExitCode {
    if remote.admin.is_some() {
        return with_api(remote, |api| async move {
            let body = ok(api.call(Method::GET, "/admin/v1/policies", None).await?)?;
            for w in body["worlds"].as_array().into_iter().flatten() {
                let d = &w["desired"];
                println!(
                    "{:<18} desired {} set by {}: {}",
                    w["world"].as_str().unwrap_or("?"),
                    d["active"]["digest"].as_str().map_or("-", short),
                    d["set_by"].as_str().unwrap_or("-"),
                    d["reason"].as_str().unwrap_or("-")
                );
                for h in w["hosts"].as_array().into_iter().flatten() {
                    println!(
                        "  {:<28} serving {}{}",
                        h["host"].as_str().unwrap_or("?"),
                        h["serving"].as_str().map_or("baseline", short),
                        h["error"]
                            .as_str()
                            .map(|e| format!("  ERROR: {e}"))
                            .unwrap_or_default()
                    );
                }
            }
            if body["agreed"] == json!(true) {
                Ok(ExitCode::SUCCESS)
            } else {
                println!("hosts disagree with the desired state");
                Ok(ExitCode::from(NOT_CONVERGED))
            }
        });
    }
    super::super::run_async(async {
        let store = match store().await {
            Ok(s) => s,
            Err(e) => return fail(e),
        };
        let worlds = match control::status(&store).await {
            Ok(w) => w,
            Err(e) => return fail(e),
        };
        let mut agreed = true;
        for w in &worlds {
            agreed &= w.agreed();
            match &w.desired {
                Some(d) => println!(
                    "{:<18} desired {} ({}) set by {} at {}: {:?}; previous {}, staged {}",
                    w.world.as_str(),
                    bundle(&d.active),
                    d.active.as_ref().map_or("-", |a| a.source.as_str()),
                    d.set_by,
                    when(d.set_at),
                    d.reason,
                    bundle(&d.previous),
                    bundle(&d.candidate)
                ),
                None => println!(
                    "{:<18} no desired state (hosts serve POLICY_DIR)",
                    w.world.as_str()
                ),
            }
            for h in &w.hosts {
                let r = &h.report;
                let error = match (&r.error, &r.error_digest) {
                    (Some(e), Some(d)) => format!("  ERROR with {}: {e}", short(d)),
                    (Some(e), None) => format!("  ERROR: {e}"),
                    _ => String::new(),
                };
                println!(
                    "  {:<28} serving {}{}",
                    h.host_id,
                    r.serving.as_deref().map_or("baseline", short),
                    error
                );
            }
        }
        if agreed {
            ExitCode::SUCCESS
        } else {
            println!("hosts disagree with the desired state");
            ExitCode::from(NOT_CONVERGED)
        }
    })
}

pub fn history(world_name: Option<&str>, limit: i64, remote: &Remote) -> ExitCode {
    let world = match world_name.map(world).transpose() {
        Ok(w) => w,
        Err(e) => return fail(e),
    };
    if remote.admin.is_some() {
        let query = match world {
            Some(w) => format!("?world={w}&limit={limit}"),
            None => format!("?limit={limit}"),
        };
        return with_api(remote, |api| async move {
            let path = format!("/admin/v1/policies/history{query}");
            let body = ok(api.call(Method::GET, &path, None).await?)?;
            for h in body["history"].as_array().into_iter().flatten() {
                let s = |k: &str| h[k].as_str().unwrap_or("-").to_string();
                println!(
                    "{}  {:<18} {:<8} {} (was {}) by {}: {:?}  {}",
                    s("at"),
                    s("world"),
                    s("action"),
                    short(&s("digest")),
                    h["previous_digest"].as_str().map_or("-", short),
                    s("subject"),
                    s("reason"),
                    s("source")
                );
            }
            Ok(ExitCode::SUCCESS)
        });
    }
    super::super::run_async(async move {
        let store = match store().await {
            Ok(s) => s,
            Err(e) => return fail(e),
        };
        let rows = match store.policy_history(world.map(World::as_str), limit).await {
            Ok(r) => r,
            Err(e) => return fail(e),
        };
        for h in rows {
            println!(
                "{}  {:<18} {:<8} {} (was {}) by {}: {:?}  {}",
                when(h.at),
                h.world,
                h.action,
                short(&h.digest),
                h.previous_digest.as_deref().map_or("-", short),
                h.subject,
                h.reason,
                h.source
            );
        }
        ExitCode::SUCCESS
    })
}
