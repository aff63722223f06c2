//! `jules serve` with no configuration: starts on the shipped policies and answers
//! /health and /ready.

mod support;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

use support::{shipped_bundle, workspace};

fn get(addr: &str, path: &str) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// Kills the server when the test ends, passing or failing.
struct Server(std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

#[test]
fn serve_reports_its_policies_on_health() {
    shipped_bundle("crisis");
    let data = tempfile::tempdir().unwrap();
    let mut server = Server(
        Command::new(env!("CARGO_BIN_EXE_jules"))
            .arg("serve")
            .current_dir(workspace())
            .env("PORT", "0")
            .env("DATA_DIR", data.path())
            .env_remove("POLICY_DIR")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn jules serve"),
    );
    let stderr = BufReader::new(server.0.stderr.take().unwrap());
    let mut banner = String::new();
    let mut addr = None;
    for line in stderr.lines() {
        let line = line.unwrap();
        banner.push_str(&line);
        banner.push('\n');
        if let Some(a) = line.strip_prefix("jules: listening on http://") {
            addr = Some(a.to_string());
            break;
        }
    }
    let addr = addr.unwrap_or_else(|| panic!("no listening line:\n{banner}"));
    assert!(banner.contains("DEVELOPMENT keys GENERATED in"), "{banner}");
    for (world, bundle) in [
        ("crisis-detector", "jules-crisis"),
        ("compliance-policy", "jules-compliance"),
        ("prompt-builder", "jules-prompt"),
    ] {
        assert!(
            banner
                .lines()
                .any(|l| l.contains(world) && l.contains(&format!("component {bundle} "))),
            "the banner names the active {world} bundle:\n{banner}"
        );
    }

    let health = get(&addr, "/health");
    let ready = get(&addr, "/ready");
    drop(server);

    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    let body = &health[health.find("\r\n\r\n").unwrap() + 4..];
    let json: serde_json::Value = serde_json::from_str(body).expect("json");
    assert_eq!(json["status"], "healthy", "{json}");
    for world in ["crisis-detector", "compliance-policy", "prompt-builder"] {
        let p = &json["checks"]["policies"][world];
        assert_eq!(p["mode"], "component", "{world}: {json}");
        assert!(p["digest"].as_str().unwrap().starts_with("sha256:"));
    }
    assert!(ready.starts_with("HTTP/1.1 200"), "{ready}");
}

#[test]
fn an_invalid_variable_is_named() {
    let out = Command::new(env!("CARGO_BIN_EXE_jules"))
        .arg("serve")
        .env("POLICY_DEADLINE_MS", "soon")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("POLICY_DEADLINE_MS"), "{err}");
}

#[test]
fn production_without_keys_does_not_start() {
    let data = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_jules"))
        .arg("serve")
        .current_dir(workspace())
        .env("ENVIRONMENT", "production")
        .env("PORT", "0")
        .env("DATA_DIR", data.path())
        .env_remove("ENCRYPTION_KEYS")
        .env_remove("BLIND_INDEX_KEY")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ENCRYPTION_KEYS is not set"), "{err}");
}
