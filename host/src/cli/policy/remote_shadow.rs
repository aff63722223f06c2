//! The shadow commands: on the store directly, or through a host's admin API with
//! `--admin URL --token T` (the only way to see texts: `--show-text`, as an approver).

use std::process::ExitCode;
use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use super::rollout;
use crate::cli::Remote;
use crate::cli::admin::{ok, ttl, with_api};

fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(2)
}

pub fn shadow(
    world: &str,
    source: Option<&str>,
    sample: f64,
    stop: bool,
    reason: &str,
    remote: &Remote,
) -> ExitCode {
    if remote.admin.is_none() {
        return rollout::shadow(world, source, sample, stop, reason);
    }
    let body = match (source, stop) {
        (None, true) => json!({ "stop": true, "reason": reason }),
        (Some(s), false) => {
            let source = match crate::rollout::Source::parse(s) {
                Ok(s) => s.to_stored(),
                Err(e) => return fail(e),
            };
            json!({ "source": source, "sample": sample, "reason": reason })
        }
        _ => return fail("give the candidate's source, or --stop"),
    };
    let path = format!("/admin/v1/policies/{world}/shadow");
    with_api(remote, |api| async move {
        let answer = ok(api.call(Method::POST, &path, Some(body)).await?)?;
        println!("{answer}");
        Ok(ExitCode::SUCCESS)
    })
}

pub fn report(
    world: &str,
    since: &str,
    limit: usize,
    show_text: bool,
    remote: &Remote,
) -> ExitCode {
    if remote.admin.is_none() {
        if show_text {
            return fail(
                "--show-text opens texts through a host's admin API, as an approver: pass --admin URL --token T",
            );
        }
        return rollout::shadow_report(world, since, limit);
    }
    let hours = match ttl(since) {
        Ok(d) => d.as_secs().div_ceil(3600).max(1),
        Err(e) => return fail(e.replace("--ttl", "--since")),
    };
    let path = format!(
        "/admin/v1/policies/{world}/shadow-report?since_hours={hours}&limit={limit}&show_text={show_text}"
    );
    with_api(remote, |api| async move {
        let r = ok(api.call(Method::GET, &path, None).await?)?;
        println!("{}", r["figures"].as_str().unwrap_or("-"));
        for d in r["disagreements"].as_array().into_iter().flatten() {
            let text = d["text"]
                .as_str()
                .map(|t| format!("  {t:?}"))
                .unwrap_or_default();
            println!(
                "  {}  active {} -> candidate {}{text}",
                d["message_id"].as_str().unwrap_or("?"),
                d["active"],
                if d["candidate"].is_null() {
                    format!("FAILED: {}", d["candidate_error"].as_str().unwrap_or("?"))
                } else {
                    d["candidate"].to_string()
                }
            );
        }
        Ok(ExitCode::SUCCESS)
    })
}

pub fn promote(
    world: &str,
    reason: &str,
    accept_regression: Option<&str>,
    wait: Duration,
    remote: &Remote,
) -> ExitCode {
    if remote.admin.is_none() {
        return rollout::promote(world, reason, accept_regression, wait);
    }
    let body = json!({
        "reason": reason,
        "accept_regression": accept_regression,
        "wait_seconds": wait.as_secs(),
    });
    let path = format!("/admin/v1/policies/{world}/promote");
    with_api(remote, |api| async move {
        let r = ok(api.call(Method::POST, &path, Some(body)).await?)?;
        println!("{}", r["figures"].as_str().unwrap_or("-"));
        println!("active {}", r["active"].as_str().unwrap_or("-"));
        Ok(if r["converged"] == json!(true) {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        })
    })
}
