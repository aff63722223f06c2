//! `jules admin token`, `jules crisis ...`, and the admin API client that policy
//! commands use with `--admin URL --token T`.

use std::process::ExitCode;
use std::time::Duration;

use serde_json::{Value, json};

use super::{AdminCommand, CrisisCommand, Remote};
use crate::http::admin::auth::{self, Role};

const NOT_DONE: u8 = 1;
const REFUSED: u8 = 2;

fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(REFUSED)
}

/// `90s`, `30m`, `1h`, `7d`.
pub fn ttl(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let (n, unit) = text.split_at(text.len().saturating_sub(1));
    let n: u64 = n
        .parse()
        .map_err(|_| format!("--ttl {text:?}: use a number and s, m, h or d (e.g. 1h)"))?;
    let seconds = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86_400,
        _ => {
            return Err(format!(
                "--ttl {text:?}: use a number and s, m, h or d (e.g. 1h)"
            ));
        }
    };
    if seconds == 0 {
        return Err("--ttl must be longer than 0".into());
    }
    Ok(Duration::from_secs(seconds))
}

pub fn run(cmd: AdminCommand) -> ExitCode {
    let AdminCommand::Token {
        sub,
        role,
        ttl: t,
        key,
    } = cmd;
    let role: Role = match role.parse() {
        Ok(r) => r,
        Err(e) => return fail(e),
    };
    let ttl = match ttl(&t) {
        Ok(d) => d,
        Err(e) => return fail(e),
    };
    if sub.trim().is_empty() {
        return fail("--sub is empty");
    }
    let token = match key {
        Some(path) => crate::policy::SigningIdentity::read(&path)
            .and_then(|k| auth::mint_eddsa(&k.pkcs8_der(), &sub, role, ttl)),
        None => match crate::config::var("JWT_SECRET_KEY") {
            Some(secret) => auth::mint_hs256(secret.trim().as_bytes(), &sub, role, ttl),
            None => Err("set JWT_SECRET_KEY (the hosts' HS256 secret) or pass --key".into()),
        },
    };
    match token {
        Ok(t) => {
            println!("{t}");
            ExitCode::SUCCESS
        }
        Err(e) => fail(e),
    }
}

/// A host's admin API.
pub struct Api {
    base: String,
    token: String,
    client: reqwest::Client,
}

impl Api {
    pub fn from(remote: &Remote) -> Option<Result<Api, String>> {
        let base = remote.admin.as_ref()?;
        Some(match &remote.token {
            None => Err("--admin needs --token (or JULES_ADMIN_TOKEN)".into()),
            Some(token) => Ok(Api {
                base: base.trim_end_matches('/').to_string(),
                token: token.trim().to_string(),
                client: crate::net::client(Duration::from_secs(330)),
            }),
        })
    }

    /// (status, body) of `method path` with an optional JSON body.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(u16, Value), String> {
        let url = format!("{}{path}", self.base);
        let mut request = self.client.request(method, &url).bearer_auth(&self.token);
        if let Some(b) = body {
            request = request.json(&b);
        }
        let response = request.send().await.map_err(|e| format!("{url}: {e}"))?;
        let status = response.status().as_u16();
        let text = response.text().await.map_err(|e| format!("{url}: {e}"))?;
        let json = serde_json::from_str(&text).unwrap_or_else(|_| json!({ "error": text }));
        Ok((status, json))
    }
}

/// Run `f` with the API named by `remote`, mapping HTTP refusals to exit status 2.
pub fn with_api<F, Fut>(remote: &Remote, f: F) -> ExitCode
where
    F: FnOnce(Api) -> Fut,
    Fut: std::future::Future<Output = Result<ExitCode, String>>,
{
    let api = match Api::from(remote) {
        Some(Ok(api)) => api,
        Some(Err(e)) => return fail(e),
        None => {
            return fail(
                "this command runs through a host's admin API: pass --admin URL --token T",
            );
        }
    };
    super::run_async(async move { f(api).await.unwrap_or_else(fail) })
}

/// The body, or the API's refusal as an error.
pub fn ok((status, body): (u16, Value)) -> Result<Value, String> {
    if (200..300).contains(&status) {
        Ok(body)
    } else {
        Err(format!(
            "{status}: {}",
            body["error"].as_str().unwrap_or("refused")
        ))
    }
}

fn line(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => "-".into(),
        other => other.to_string(),
    }
}

pub fn crisis(cmd: CrisisCommand) -> ExitCode {
    use reqwest::Method;
    match cmd {
        CrisisCommand::List { remote } => with_api(&remote, |api| async move {
            let body = ok(api
                .call(Method::GET, "/admin/v1/crisis-events", None)
                .await?)?;
            for e in body["events"].as_array().into_iter().flatten() {
                println!(
                    "{}  {}  {:<9} {:<10} {}",
                    line(&e["id"]),
                    line(&e["created_at"]),
                    line(&e["severity"]),
                    line(&e["state"]),
                    e["categories"]
                        .as_array()
                        .map(|c| c.iter().map(line).collect::<Vec<_>>().join(","))
                        .unwrap_or_default()
                );
            }
            Ok(ExitCode::SUCCESS)
        }),
        CrisisCommand::Show { id, remote } => with_api(&remote, |api| async move {
            let path = format!("/admin/v1/crisis-events/{id}");
            let e = ok(api.call(Method::GET, &path, None).await?)?;
            println!(
                "{}  {} {} ({}), {}",
                line(&e["id"]),
                line(&e["severity"]),
                line(&e["categories"]),
                line(&e["state"]),
                line(&e["created_at"])
            );
            for t in e["turns"].as_array().into_iter().flatten() {
                let mark = if t["flagged"] == json!(true) {
                    "!"
                } else {
                    " "
                };
                let who = if t["direction"] == "in" {
                    "them"
                } else {
                    "jules"
                };
                println!("{mark} {who:>5}: {}", line(&t["text"]));
            }
            if !e["outcome"].is_null() {
                println!(
                    "closed by {} at {}: {} ({})",
                    line(&e["reviewed_by"]),
                    line(&e["reviewed_at"]),
                    line(&e["outcome"]),
                    line(&e["note"])
                );
            }
            Ok(ExitCode::SUCCESS)
        }),
        CrisisCommand::Close {
            id,
            outcome,
            note,
            remote,
        } => with_api(&remote, |api| async move {
            let path = format!("/admin/v1/crisis-events/{id}/close");
            ok(api
                .call(
                    Method::POST,
                    &path,
                    Some(json!({ "outcome": outcome, "note": note })),
                )
                .await?)?;
            println!("closed {id}: {outcome}");
            Ok(ExitCode::SUCCESS)
        }),
    }
}

/// Exit status of a rollout answered by the API: 0 converged, 1 not (yet).
pub fn print_applied(body: &Value) -> ExitCode {
    let d = &body["desired"];
    println!(
        "{} for {} ({}, by {}: {})",
        line(&d["active"]["digest"]),
        line(&d["world"]),
        line(&d["active"]["source"]),
        line(&d["set_by"]),
        line(&d["reason"])
    );
    for h in body["hosts"].as_array().into_iter().flatten() {
        println!(
            "  {:<28} {}{}",
            line(&h["host"]),
            line(&h["state"]),
            h["error"]
                .as_str()
                .map(|e| format!(": {e}"))
                .unwrap_or_default()
        );
    }
    match body["converged_after_ms"].as_u64() {
        Some(ms) => {
            println!(
                "served by {} live host(s) {ms} ms after the change",
                body["hosts"].as_array().map_or(0, Vec::len)
            );
            ExitCode::SUCCESS
        }
        None if body["hosts"].as_array().is_none_or(Vec::is_empty) => ExitCode::SUCCESS,
        None => {
            eprintln!("not every live host serves it; `jules policy status` shows the errors");
            ExitCode::from(NOT_DONE)
        }
    }
}
