//! Errors reach Sentry (a loopback fake speaking its envelope endpoint) without the
//! person's text or number, even when the error itself quotes them.

use std::time::{Duration, Instant};

use crate::serve::{Fakes, post_text, start_logged};
use crate::support::fakes::{Answer, Fake};

#[test]
fn an_error_quoting_a_crisis_text_and_a_number_reaches_sentry_scrubbed() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let fakes = Fakes::start(&runtime);
    let sentry = runtime.block_on(Fake::sink());
    let phone = "+15557654321";
    let text = "i want to kill myself tonight";
    // The carrier refuses every send and quotes the number and the text back: the
    // dead letter's error carries both.
    fakes.carrier.intercept(move |_, _| {
        Some(Answer::new(
            400,
            serde_json::json!({
                "type": "request-validation",
                "description": format!("'{phone}' rejected: {text}"),
            }),
        ))
    });
    let dsn = format!(
        "http://public@{}/42",
        sentry.url.trim_start_matches("http://")
    );
    let data = tempfile::tempdir().unwrap();
    let env = fakes.env(&[("SENTRY_DSN", dsn.as_str()), ("COALESCE_WINDOW_MS", "0")]);
    let (_server, addr, _banner, logs) = start_logged(data.path(), &env);
    let ok = post_text(&addr, "", "se1", phone, text);
    assert!(ok.starts_with("HTTP/1.1 2"), "{ok}");

    let deadline = Instant::now() + Duration::from_secs(30);
    let envelopes = loop {
        let seen = sentry.seen();
        if seen.iter().any(|s| s.body.contains("dead-lettered")) {
            break seen;
        }
        assert!(
            Instant::now() < deadline,
            "no dead-letter event reached Sentry; log:\n{:#?}",
            logs.try_iter().collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    // The log has the quote; Sentry must not.
    let logged: Vec<String> = logs.try_iter().collect();
    assert!(
        logged
            .iter()
            .any(|l| l.contains("dead-lettered") && l.contains(text)),
        "the failing path quotes the text: {logged:#?}"
    );
    for e in &envelopes {
        assert_eq!(e.method, "POST");
        assert_eq!(e.path, "/api/42/envelope/");
        let auth = e.headers["x-sentry-auth"].to_str().unwrap();
        assert!(auth.contains("sentry_key=public"), "{auth}");
    }
    let sent: String = envelopes.iter().map(|e| e.body.as_str()).collect();
    let event = sent
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["message"] == "dead-lettered")
        .unwrap_or_else(|| panic!("no error event:\n{sent}"));
    assert_eq!(event["environment"], "development", "{event}");
    assert_eq!(
        event["release"],
        format!("jules@{}", env!("CARGO_PKG_VERSION")),
        "{event}"
    );
    // The host's own ids survive the scrub; the quoted error does not.
    let fields = &event["contexts"]["Rust Tracing Fields"];
    assert!(fields["outbox"].is_string(), "{event}");
    assert!(fields.get("error").is_none(), "{event}");
    for secret in ["5557654321", "kill myself", "555 765"] {
        assert!(!sent.contains(secret), "{secret:?} reached Sentry:\n{sent}");
    }
}
