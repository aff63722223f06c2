//! `GET /metrics` from a running `jules serve`: the Prometheus text format, counts that
//! match what the host did, and no phone number or text in any label.

use std::time::{Duration, Instant};

use prometheus_parse::{Scrape, Value};

use crate::serve::{Fakes, get, post_text, start_logged};
use crate::support::TestDatabase;
use crate::support::fakes::Fake;

/// One sample's value: the sample of `name` whose labels include `labels`.
fn value(scrape: &Scrape, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    scrape
        .samples
        .iter()
        .filter(|s| s.metric == name)
        .find(|s| labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match &s.value {
            Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
            Value::Histogram(buckets) => buckets.last().map_or(0.0, |b| b.count),
            Value::Summary(_) => panic!("{name}: no summaries are exported"),
        })
}

/// The body of `GET path`, after checking every sample line is `name{labels} value`.
fn scrape(addr: &str) -> (String, Scrape) {
    let response = get(addr, "/metrics");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    let (head, body) = response.split_once("\r\n\r\n").unwrap();
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: text/plain; version=0.0.4"),
        "{head}"
    );
    for line in body.lines().filter(|l| !l.is_empty()) {
        if let Some(comment) = line.strip_prefix("# ") {
            assert!(
                comment.starts_with("TYPE ") || comment.starts_with("HELP "),
                "{line}"
            );
            continue;
        }
        let (series, number) = line.rsplit_once(' ').unwrap_or_else(|| panic!("{line}"));
        let name_end = series.find('{').unwrap_or(series.len());
        let name = &series[..name_end];
        assert!(
            name.starts_with("jules_")
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':'),
            "{line}"
        );
        assert!(
            number.parse::<f64>().is_ok() || ["+Inf", "-Inf", "NaN"].contains(&number),
            "{line}"
        );
    }
    let lines = body.lines().map(|l| Ok(l.to_string()));
    (body.to_string(), Scrape::parse(lines).unwrap())
}

/// Scrapes until `turns` turns are closed, nothing is left in the outbox and every
/// send the carrier took is counted (30 s at most).
fn settled(admin: &str, carrier: &Fake, turns: usize) -> (String, Scrape) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (body, s) = scrape(admin);
        let done = value(&s, "jules_turns_total", &[]) == Some(turns as f64)
            && value(&s, "jules_outbox_depth", &[]) == Some(0.0)
            && value(&s, "jules_sends_total", &[("outcome", "sent")])
                == Some(carrier.count() as f64);
        if done {
            return (body, s);
        }
        assert!(Instant::now() < deadline, "not settled in 30 s:\n{body}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn metrics_count_what_the_host_did_and_carry_no_personal_data() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let db = runtime.block_on(TestDatabase::create());
    let fakes = Fakes::start(&runtime);
    let (carrier, model) = (&fakes.carrier, &fakes.model);
    let data = tempfile::tempdir().unwrap();
    let env = fakes.env(&[
        ("DATABASE_URL", db.url.as_str()),
        ("COALESCE_WINDOW_MS", "0"),
        ("ANTHROPIC_MODEL", "claude-test-model"),
        ("JWT_SECRET_KEY", "a-secret-of-thirty-two-bytes-or-more!!"),
        ("ADMIN_ADDR", "127.0.0.1:0"),
    ]);
    let (_server, addr, banner, _logs) = start_logged(data.path(), &env);
    let admin = banner
        .lines()
        .find_map(|l| l.strip_prefix("jules: admin API on http://"))
        .unwrap_or_else(|| panic!("no admin address:\n{banner}"))
        .to_string();
    let texts = [
        ("+15557650011", "my cat Zanzibar knocked over my coffee"),
        ("+15557650012", "i want to kill myself tonight"),
        ("+15557650013", "STOP"),
    ];
    for (i, (from, text)) in texts.iter().enumerate() {
        let ok = post_text(&addr, "", &format!("mx{i}"), from, text);
        assert!(ok.starts_with("HTTP/1.1 2"), "{ok}");
    }
    settled(&admin, carrier, 3);
    // A second text from the first person: their history is read from memory.
    let ok = post_text(&addr, "", "mx3", texts[0].0, "anyway how was your day");
    assert!(ok.starts_with("HTTP/1.1 2"), "{ok}");
    let (body, scraped) = settled(&admin, carrier, 4);
    let v = |name: &str, labels: &[(&str, &str)]| {
        value(&scraped, name, labels).unwrap_or_else(|| panic!("no {name} {labels:?}:\n{body}"))
    };

    // Not beside the webhooks when ADMIN_ADDR is set.
    assert!(get(&addr, "/metrics").starts_with("HTTP/1.1 404"));

    let webhook = [("route", "/webhooks/bandwidth"), ("method", "POST")];
    let acknowledged: f64 = scraped
        .samples
        .iter()
        .filter(|s| s.metric == "jules_http_requests_total")
        .filter(|s| webhook.iter().all(|(k, w)| s.labels.get(k) == Some(*w)))
        .map(|s| match s.value {
            Value::Counter(n) => n,
            _ => panic!("a counter"),
        })
        .sum();
    assert_eq!(acknowledged, 4.0, "{body}");
    assert_eq!(
        v("jules_http_request_duration_seconds_count", &webhook),
        4.0
    );
    assert_eq!(v("jules_turn_duration_seconds_count", &[]), 4.0);
    // The model was asked for the two chats and the crisis turn (not for STOP).
    let asked = model.count() as f64;
    let claude = [("provider", "anthropic"), ("model", "claude-test-model")];
    assert_eq!(asked, 3.0, "{body}");
    assert_eq!(
        v(
            "jules_model_calls_total",
            &[claude[0], claude[1], ("outcome", "ok")]
        ),
        asked
    );
    // The fake reports 10 tokens in and 5 out per call.
    assert_eq!(
        v(
            "jules_model_tokens_total",
            &[claude[0], claude[1], ("direction", "input")]
        ),
        10.0 * asked
    );
    assert_eq!(
        v(
            "jules_model_tokens_total",
            &[claude[0], claude[1], ("direction", "output")]
        ),
        5.0 * asked
    );
    assert_eq!(
        v("jules_model_circuit_open", &[("provider", "anthropic")]),
        0.0
    );
    assert_eq!(v("jules_canned_replies_total", &[]), 0.0);
    let health = crate::serve::json_body(&get(&addr, "/health"));
    let digest = |world: &str| {
        health["checks"]["policies"][world]["digest"]
            .as_str()
            .unwrap()
            .to_string()
    };
    let crisis = [
        ("world", "crisis-detector"),
        ("digest", &digest("crisis-detector")),
    ];
    // One assessment per turn; compliance is also asked at other steps.
    assert_eq!(v("jules_policy_calls_total", &crisis), 4.0, "{body}");
    let compliance = [
        ("world", "compliance-policy"),
        ("digest", &digest("compliance-policy")),
    ];
    assert!(v("jules_policy_calls_total", &compliance) >= 3.0, "{body}");
    assert_eq!(
        value(&scraped, "jules_policy_fallbacks_total", &crisis),
        None,
        "no fallback: {body}"
    );
    assert!(
        v(
            "jules_policy_call_duration_seconds_count",
            &[("world", "crisis-detector")]
        ) >= 4.0
    );
    assert_eq!(
        v("jules_crisis_escalations_total", &[]),
        1.0,
        "one crisis escalated: {body}"
    );
    assert_eq!(
        v("jules_compliance_events_total", &[("event", "opt-out")]),
        1.0
    );
    assert_eq!(
        v(
            "jules_sends_total",
            &[("carrier", "bandwidth"), ("outcome", "sent")]
        ),
        carrier.count() as f64
    );
    assert!(v("jules_store_pool_wait_seconds_count", &[]) > 0.0);
    let memory = &health["checks"]["redis"];
    for (name, key) in [
        ("jules_memory_hits_total", "hits"),
        ("jules_memory_misses_total", "misses"),
        ("jules_memory_failures_total", "failures"),
    ] {
        assert_eq!(
            v(name, &[]),
            memory[key].as_f64().unwrap(),
            "{name}: {memory}"
        );
    }
    assert!(v("jules_memory_hits_total", &[]) + v("jules_memory_misses_total", &[]) > 0.0);

    for (phone, text) in texts {
        for secret in [&phone[2..], text] {
            assert!(!body.contains(secret), "{secret:?} in /metrics:\n{body}");
        }
    }
    // Each family says what it is.
    for (name, _) in jules::telemetry::METRICS {
        if body.contains(&format!("\n{name}")) || body.starts_with(name) {
            assert!(body.contains(&format!("# HELP {name} ")), "{name}: {body}");
        }
    }
    for s in &scraped.samples {
        for key in s.labels.keys() {
            assert!(
                [
                    "route",
                    "method",
                    "status",
                    "provider",
                    "model",
                    "outcome",
                    "direction",
                    "world",
                    "digest",
                    "severity",
                    "event",
                    "carrier",
                    "reason",
                    "version",
                    "le"
                ]
                .contains(&key.as_str()),
                "label {key} on {}",
                s.metric
            );
        }
    }
}
