//! `/openapi.json` and `/docs` from a running `jules serve`: the document is valid
//! OpenAPI 3.1 (checked by openapi-spec-validator), every route it lists is served,
//! and the page, loaded in headless Chromium with no network, shows every route.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;

use crate::serve::{get, json_body, start_logged};
use crate::support::workspace;

/// `method path` with an empty JSON body; the status and the body.
fn call(addr: &str, method: &str, path: &str) -> (u16, String) {
    let mut s = TcpStream::connect(addr).expect("connect");
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let status = out[9..12].parse().expect("a status");
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// The routes the document lists, as (method, path).
fn operations(doc: &serde_json::Value) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in ["get", "post", "put", "patch", "delete"] {
            if item.get(method).is_some() {
                out.push((method.to_uppercase(), path.clone()));
            }
        }
    }
    out
}

#[test]
fn the_api_document_is_valid_and_lists_what_is_served() {
    let data = tempfile::tempdir().unwrap();
    let (_server, addr, _banner, _logs) = start_logged(data.path(), &[]);
    let response = get(&addr, "/openapi.json");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let doc = json_body(&response);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{doc}");

    let python = workspace().join("target/provider-clients/bin/python");
    assert!(
        python.exists(),
        "{} is missing: run scripts/provider-clients (scripts/test does it)",
        python.display()
    );
    let file = data.path().join("openapi.json");
    std::fs::write(&file, doc.to_string()).unwrap();
    let checked = Command::new(&python)
        .args(["-m", "openapi_spec_validator", "--schema", "3.1.0"])
        .arg(&file)
        .output()
        .expect("run openapi-spec-validator");
    assert!(
        checked.status.success(),
        "openapi-spec-validator: {}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );

    let ops = operations(&doc);
    for route in [
        "/webhooks/bandwidth",
        "/webhooks/sms",
        "/webhooks/twilio",
        "/webhooks/twilio/status",
        "/webhooks/veriff",
        "/webhooks/stripe",
        "/health",
        "/ready",
        "/metrics",
        "/openapi.json",
        "/docs",
        "/admin/v1/policies/{world}/activate",
        "/admin/v1/crisis-events/{id}/close",
    ] {
        assert!(
            ops.iter().any(|(_, p)| p == route),
            "{route} is not in the document"
        );
    }
    // Every documented route is served with its method: the router's own 404 has no
    // body and its 405 names no reason; a handler's refusals say why.
    for (method, path) in &ops {
        let concrete = path
            .replace("{world}", "crisis")
            .replace("{id}", "0190c0de-0000-7000-8000-000000000000");
        let (status, body) = call(&addr, method, &concrete);
        assert!(
            status != 405 && !(status == 404 && body.is_empty()),
            "{method} {path}: the router does not serve it ({status})"
        );
        let declared = &doc["paths"][path][method.to_lowercase()]["responses"];
        assert!(
            declared.get(status.to_string()).is_some(),
            "{method} {path} answered {status}, which the document does not declare: {declared}"
        );
    }
    // A method the document does not list is not served either.
    assert_eq!(call(&addr, "GET", "/webhooks/bandwidth").0, 405);
}

#[test]
fn the_docs_page_shows_every_route_in_a_browser_with_no_network() {
    let data = tempfile::tempdir().unwrap();
    let (_server, addr, _banner, _logs) = start_logged(data.path(), &[]);
    let doc = json_body(&get(&addr, "/openapi.json"));
    let profile = tempfile::tempdir().unwrap();
    let out = Command::new("chromium")
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--virtual-time-budget=5000",
            "--dump-dom",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .arg(format!("http://{addr}/docs"))
        .output()
        .expect("chromium is not installed: scripts/services installs it (scripts/test runs it)");
    assert!(
        out.status.success(),
        "chromium: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let dom = String::from_utf8(out.stdout).unwrap();
    assert!(dom.contains("<h1>Jules API"), "{dom}");
    for (method, path) in operations(&doc) {
        let shown = format!(
            "<span class=\"method\">{}</span> <code>{path}</code>",
            method.to_lowercase()
        );
        assert!(
            dom.contains(&shown),
            "the page does not show {method} {path}"
        );
    }
    assert!(
        dom.contains("<code>X-Twilio-Signature</code>") || dom.contains("twilio_signature"),
        "the page does not say how Twilio callbacks are signed"
    );
}
