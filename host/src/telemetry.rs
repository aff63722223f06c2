//! Prometheus metrics: what the host counts as it works, and `GET /metrics`.
//!
//! Events are recorded where they happen through the `metrics` facade; counters the
//! host already keeps for `/health` (memory, model circuits, canned replies) and the
//! outbox depth are read when the page is scraped. No label carries a phone number, a
//! text or a user id: labels are routes, statuses, providers, models, worlds, bundle
//! digests, severities, compliance events and carriers.

use std::sync::OnceLock;
use std::sync::atomic::Ordering;
use std::time::Duration;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header::CONTENT_TYPE;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics::{counter, gauge, histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::http::AppState;

/// Latency buckets (seconds) for everything timed here: policy calls take tens of
/// microseconds, model calls seconds.
const BUCKETS: [f64; 16] = [
    0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
    1.0, 2.5, 10.0,
];

/// The process's recorder, installed once (several hosts in one test process share
/// it; a process runs one host otherwise).
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), &BUCKETS)
            .expect("the buckets are not empty")
            .build_recorder();
        let handle = recorder.handle();
        // Another recorder already installed (an embedding program's): ours then
        // renders an empty page rather than failing the start.
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics shows none");
        }
        let upkeep = handle.clone();
        std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(Duration::from_secs(5));
                    upkeep.run_upkeep();
                }
            })
            .expect("a thread for metrics upkeep");
        describe();
        handle
    })
}

/// Every metric the host exports, with its HELP text (the list in docs/observability.md).
pub const METRICS: [(&str, &str); 26] = [
    (
        "jules_http_requests_total",
        "HTTP requests by route pattern, method and status.",
    ),
    (
        "jules_http_request_duration_seconds",
        "Time to answer an HTTP request.",
    ),
    (
        "jules_turns_total",
        "Turns answered (a person's pending texts, answered together).",
    ),
    (
        "jules_turn_duration_seconds",
        "From a turn's first text being stored to its answers being queued.",
    ),
    (
        "jules_model_calls_total",
        "Language model attempts by provider, model and outcome (ok, retryable, fatal).",
    ),
    (
        "jules_model_retries_total",
        "Language model attempts retried.",
    ),
    (
        "jules_model_call_duration_seconds",
        "Time of one language model attempt.",
    ),
    (
        "jules_model_tokens_total",
        "Tokens the providers reported, by direction (input, output).",
    ),
    (
        "jules_model_circuit_open",
        "1 while a provider's circuit breaker is open.",
    ),
    (
        "jules_canned_replies_total",
        "Replies sent from the canned text because every provider failed.",
    ),
    (
        "jules_policy_calls_total",
        "Policy decisions by world and the bundle digest that was asked.",
    ),
    (
        "jules_policy_fallbacks_total",
        "Policy decisions the native baseline answered (no component, or it failed).",
    ),
    (
        "jules_policy_call_duration_seconds",
        "Time of one policy decision.",
    ),
    (
        "jules_crisis_escalations_total",
        "Crisis escalations by severity.",
    ),
    (
        "jules_compliance_events_total",
        "Compliance events (opt-out, opt-in, help-sent, disclosure-sent, ...).",
    ),
    (
        "jules_outbox_depth",
        "Outbox messages neither sent nor dead-lettered (all hosts).",
    ),
    (
        "jules_sends_total",
        "Send attempts by carrier and outcome (sent, retry, unknown, dead-letter).",
    ),
    (
        "jules_dead_letters_total",
        "Messages given up on, by carrier and reason.",
    ),
    (
        "jules_memory_hits_total",
        "Conversation memory reads answered by the cache.",
    ),
    (
        "jules_memory_misses_total",
        "Conversation memory reads the store answered.",
    ),
    (
        "jules_memory_failures_total",
        "Cache calls that failed (the store answered, or a write was skipped).",
    ),
    (
        "jules_store_pool_wait_seconds",
        "Wait for a pooled database connection (Postgres).",
    ),
    (
        "jules_age_checks_total",
        "Age checks by provider and outcome (created, failed, then each decision).",
    ),
    (
        "jules_tier_changes_total",
        "People moved between tiers by their subscription's state, by the tier they moved to.",
    ),
    (
        "jules_langfuse_dropped_total",
        "Langfuse events not delivered, by reason (queue full, refused, unreachable).",
    ),
    ("jules_build_info", "The host's version, as a label."),
];

fn describe() {
    for (name, help) in METRICS {
        if name.ends_with("_seconds") {
            metrics::describe_histogram!(name, metrics::Unit::Seconds, help);
        } else if name.ends_with("_total") {
            metrics::describe_counter!(name, help);
        } else {
            metrics::describe_gauge!(name, help);
        }
    }
    gauge!("jules_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
}

/// Prometheus metrics.
///
/// The text exposition format (`jules_` names; no label carries a number, a text or a
/// user id). On ADMIN_ADDR when it is set.
#[utoipa::path(get, path = "/metrics", operation_id = "metrics", tag = "health",
    responses((status = 200, description = "Prometheus text format 0.0.4", content_type = "text/plain")))]
pub async fn scrape(State(state): State<AppState>) -> Response {
    let pipeline = &state.pipeline;
    let memory = pipeline.memory.stats();
    for (name, c) in [
        ("jules_memory_hits_total", &memory.hits),
        ("jules_memory_misses_total", &memory.misses),
        ("jules_memory_failures_total", &memory.failures),
    ] {
        counter!(name).absolute(c.load(Ordering::Relaxed));
    }
    let responder = &pipeline.responder;
    counter!("jules_canned_replies_total").absolute(responder.canned.load(Ordering::Relaxed));
    for (provider, _, _, open) in responder.stats() {
        gauge!("jules_model_circuit_open", "provider" => provider).set(f64::from(u8::from(open)));
    }
    match tokio::time::timeout(Duration::from_secs(2), pipeline.store.db().outbox_depth()).await {
        Ok(Ok(n)) => gauge!("jules_outbox_depth").set(n as f64),
        Ok(Err(e)) => tracing::warn!(error = %e, "outbox depth unreadable for /metrics"),
        Err(_) => tracing::warn!("outbox depth: no answer within 2 s for /metrics"),
    }
    (
        [(CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        handle().render(),
    )
        .into_response()
}

/// Counts every request by route (the pattern, never the raw path) and status, and
/// times it.
pub async fn http(request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    let status = response.status().as_u16().to_string();
    histogram!("jules_http_request_duration_seconds", "route" => route.clone(), "method" => method.clone())
        .record(started.elapsed());
    counter!("jules_http_requests_total", "route" => route, "method" => method, "status" => status)
        .increment(1);
    response
}
