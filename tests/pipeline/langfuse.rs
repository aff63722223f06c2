//! Langfuse traces of turns, sent in batches to a loopback fake speaking its ingestion
//! API: one trace per turn, a span per policy decision with its digest, a generation per
//! model attempt; no text unless asked, and then masked.

use base64::Engine as _;
use serde_json::Value;

use crate::support::app::{LANGFUSE_PUBLIC, LANGFUSE_SECRET, Options, TestApp};
use crate::support::fakes::{anthropic_error, anthropic_reply};

const TEXT: &str = "it's Marigold, text me at +1 (555) 123-4567 or marigold@mail.example";

/// Every event Langfuse received, once `n` turns' traces arrived.
async fn events(app: &TestApp, traces: usize) -> Vec<Value> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let all: Vec<Value> = app
            .langfuse
            .seen()
            .iter()
            .flat_map(|s| s.json()["batch"].as_array().cloned().unwrap_or_default())
            .collect();
        if all.iter().filter(|e| e["type"] == "trace-create").count() >= traces {
            return all;
        }
        assert!(std::time::Instant::now() < deadline, "no traces: {all:?}");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

fn of_type<'a>(events: &'a [Value], kind: &str) -> Vec<&'a Value> {
    events.iter().filter(|e| e["type"] == kind).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_turn_is_one_trace_with_its_decisions_and_attempts_and_no_text() {
    let app = TestApp::start(Options {
        langfuse: Some(false),
        ..Options::default()
    })
    .await;
    app.text("l-1", "+15551110001", TEXT).await;
    app.run_until_idle().await;
    let events = events(&app, 1).await;
    let seen = &app.langfuse.seen()[0];
    assert_eq!(seen.path, "/api/public/ingestion");
    let auth = base64::engine::general_purpose::STANDARD
        .encode(format!("{LANGFUSE_PUBLIC}:{LANGFUSE_SECRET}"));
    assert_eq!(
        seen.headers["authorization"],
        format!("Basic {auth}").as_str()
    );

    let first: uuid::Uuid = app
        .sql_one("SELECT id FROM messages WHERE direction = 'in'")
        .await;
    let trace = of_type(&events, "trace-create");
    assert_eq!(trace.len(), 1);
    assert_eq!(trace[0]["body"]["id"], first.to_string());
    let spans = of_type(&events, "span-create");
    let mut worlds: Vec<&str> = spans
        .iter()
        .map(|s| s["body"]["name"].as_str().unwrap())
        .collect();
    worlds.sort();
    assert_eq!(
        worlds,
        ["compliance-policy", "crisis-detector", "prompt-builder"]
    );
    for s in &spans {
        assert_eq!(s["body"]["traceId"], first.to_string());
        let digest = s["body"]["metadata"]["bundle_digest"].as_str().unwrap();
        assert!(digest.starts_with("sha256:"), "{s}");
    }
    let generations = of_type(&events, "generation-create");
    assert_eq!(generations.len(), 1);
    let g = &generations[0]["body"];
    assert_eq!(g["traceId"], first.to_string());
    assert_eq!(g["model"], "claude-test");
    assert_eq!(
        (g["usage"]["input"].as_u64(), g["usage"]["output"].as_u64()),
        (Some(10), Some(5))
    );
    assert_eq!(g["metadata"]["outcome"], "ok");
    for e in &events {
        assert!(e["id"].is_string() && e["timestamp"].is_string(), "{e}");
    }
    let body = &seen.body;
    for secret in [
        "Marigold",
        "5551110001",
        "123-4567",
        "mail.example",
        "Claude here",
    ] {
        assert!(!body.contains(secret), "{secret} was sent: {body}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_content_on_texts_go_masked_and_every_attempt_is_a_generation() {
    let app = TestApp::start(Options {
        langfuse: Some(true),
        ..Options::default()
    })
    .await;
    app.anthropic.script([
        anthropic_error(529, "overloaded_error"),
        anthropic_reply("hi there"),
    ]);
    app.text("l-2", "+15551110002", TEXT).await;
    app.run_until_idle().await;
    let events = events(&app, 1).await;
    let generations = of_type(&events, "generation-create");
    assert_eq!(generations.len(), 2, "{generations:?}");
    let (failed, ok) = (&generations[0]["body"], &generations[1]["body"]);
    assert_eq!(
        (
            failed["level"].as_str(),
            failed["metadata"]["retry"].as_u64()
        ),
        (Some("ERROR"), Some(0))
    );
    assert!(
        failed["statusMessage"].as_str().unwrap().contains("529"),
        "{failed}"
    );
    assert_eq!(
        (ok["level"].as_str(), ok["metadata"]["retry"].as_u64()),
        (Some("DEFAULT"), Some(1))
    );
    let trace = &of_type(&events, "trace-create")[0]["body"];
    let input = trace["input"].as_str().unwrap();
    assert!(
        input.contains("[number]") && input.contains("[email]"),
        "{input}"
    );
    assert!(
        !input.contains("123-4567") && !input.contains("mail.example"),
        "{input}"
    );
    assert!(
        trace["output"].as_str().unwrap().contains("hi there"),
        "{trace}"
    );
}
