//! Reply latency with a crisis shadow at sample 1.0 against none, in one run: one
//! `jules serve` on a fresh Postgres, a fake Bandwidth in this process, the offline
//! responder; texts from distinct people at a steady rate. Latency: from the webhook
//! being sent to the reply reaching the carrier. After a warm-up and ANALYZE (this
//! machine's Postgres has no autovacuum), blocks without and with the shadow alternate,
//! so a database growing through the run, or the machine's speed drifting, weighs on
//! both sides alike.
//!
//! Run: `scripts/build-policies && cargo bench -p jules --bench shadow`. Knobs:
//! SHADOW_TEXTS (300 per side), SHADOW_BLOCKS (6: alternating, none first),
//! SHADOW_RATE (20 texts a second), SHADOW_DEBUG (set: print each block's five slowest
//! replies and who sent them).

mod common;

use std::collections::HashMap;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::routing::post;
use common::{Database, Host, free_port, knob, listening, wait_until};
use jules::rollout::{Source, shadow};
use jules::store::Backend;
use jules_policy_model::World;

type Arrivals = Arc<Mutex<HashMap<String, Instant>>>;

// A fake provider's routes, not Jules's: they need no description.
#[allow(clippy::disallowed_methods)]
async fn fake_carrier(arrivals: Arrivals) -> String {
    let app = axum::Router::new().route(
        "/api/v2/users/{account}/messages",
        post(move |body: Bytes| {
            let arrivals = arrivals.clone();
            async move {
                let json: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
                let to = json["to"][0].as_str().unwrap_or_default().to_string();
                arrivals
                    .lock()
                    .unwrap()
                    .entry(to)
                    .or_insert_with(Instant::now);
                (
                    axum::http::StatusCode::ACCEPTED,
                    axum::Json(serde_json::json!({"id": "out", "segmentCount": 1})),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

fn text(id: &str, from: &str) -> serde_json::Value {
    serde_json::json!([{
        "time": "2026-12-01T08:00:00.000Z", "type": "message-received", "to": "+15550001111",
        "description": "Incoming message received",
        "message": {"id": id, "owner": "+15550001111", "applicationId": "app",
            "time": "2026-12-01T08:00:00.000Z", "segmentCount": 1, "direction": "in",
            "to": ["+15550001111"], "from": from, "text": "long day, can we talk?", "media": []}
    }])
}

/// Send `n` texts from new people at `rate`; the latency of each reply, sorted.
async fn phase(port: u16, arrivals: &Arrivals, tag: u32, n: usize, rate: u64) -> Vec<Duration> {
    let client = jules::net::client(Duration::from_secs(10));
    let mut sent = HashMap::new();
    let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate.max(1)));
    for i in 0..n {
        tick.tick().await;
        let from = format!("+1555{tag}{i:06}");
        sent.insert(from.clone(), Instant::now());
        let response = client
            .post(format!("http://127.0.0.1:{port}/webhooks/bandwidth"))
            .json(&text(&format!("sh{tag}-{i}"), &from))
            .send()
            .await
            .expect("webhook");
        assert!(response.status().is_success(), "{}", response.status());
    }
    wait_until("every reply", Duration::from_secs(120), || {
        let got = arrivals.lock().unwrap();
        sent.keys().all(|k| got.contains_key(k))
    })
    .await;
    let got = arrivals.lock().unwrap();
    if std::env::var_os("SHADOW_DEBUG").is_some() {
        let mut worst: Vec<(Duration, &String)> =
            sent.iter().map(|(k, at)| (got[k] - *at, k)).collect();
        worst.sort();
        eprintln!("worst: {:?}", &worst[worst.len().saturating_sub(5)..]);
    }
    let mut latencies: Vec<Duration> = sent.iter().map(|(k, at)| got[k] - *at).collect();
    latencies.sort();
    latencies
}

/// The crisis shadow on the host's /health (null when none is set).
async fn crisis_shadow(client: &reqwest::Client, health: &str) -> serde_json::Value {
    let json: serde_json::Value = client
        .get(health)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    json["checks"]["policies"]["crisis-detector"]["shadow"].clone()
}

fn pct(sorted: &[Duration], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize].as_secs_f64() * 1e3
}

#[tokio::main]
async fn main() {
    use base64::Engine as _;
    let (n, rate) = (knob("SHADOW_TEXTS", 300) as usize, knob("SHADOW_RATE", 20));
    let db = Database::create("shadow_bench").await;
    let policies = common::policy_dir("shadow-policies");
    let candidate = policies.join("..").join("shadow-candidate");
    std::fs::create_dir_all(&candidate).unwrap();
    for file in ["bundle.toml", "component.wasm"] {
        std::fs::copy(policies.join("crisis").join(file), candidate.join(file)).unwrap();
    }
    let config = std::fs::read_to_string(policies.join("crisis/config.json")).unwrap();
    std::fs::write(candidate.join("config.json"), config + " ").unwrap();

    let arrivals: Arrivals = Arc::default();
    let carrier = fake_carrier(arrivals.clone()).await;
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let b64 = |b: u8| base64::engine::general_purpose::STANDARD.encode([b; 32]);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_jules"));
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let host = Host(
        cmd.arg("serve")
            .env("PORT", port.to_string())
            .env("DATA_DIR", data.path())
            .env("POLICY_DIR", &policies)
            .env("DATABASE_URL", &db.url)
            .env("ENCRYPTION_KEYS", format!("bench:{}", b64(7)))
            .env("BLIND_INDEX_KEY", b64(9))
            .env("BANDWIDTH_ACCOUNT_ID", "1")
            .env("BANDWIDTH_USERNAME", "u")
            .env("BANDWIDTH_PASSWORD", "p")
            .env("BANDWIDTH_APPLICATION_ID", "app")
            .env("BANDWIDTH_NUMBER", "+15550001111")
            .env("BANDWIDTH_API_URL", &carrier)
            .env("COALESCE_WINDOW_MS", "0")
            .env("LOG_LEVEL", "error")
            .env_remove("ANTHROPIC_API_KEY")
            .env_remove("OPENAI_API_KEY")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start jules serve"),
    );
    listening(port, Duration::from_secs(120)).await;
    // Warm up (connections, plans, the first instances), then give the tables the
    // statistics autovacuum would.
    phase(port, &arrivals, 9, 200, rate).await;
    let sql = jules::store::migrate::connect(&db.url)
        .await
        .expect("the bench database answers");
    sql.batch_execute("ANALYZE").await.unwrap();

    let store = Backend::open(Some(&db.url), 2, data.path()).unwrap();
    let client = jules::net::client(Duration::from_secs(5));
    let health = format!("http://127.0.0.1:{port}/health");
    let blocks = knob("SHADOW_BLOCKS", 6).max(2) as usize;
    let per_block = n / (blocks / 2);
    let (mut none, mut shadowed) = (Vec::new(), Vec::new());
    for block in 0..blocks {
        let on = block % 2 == 1;
        if on {
            shadow::start(
                &store,
                World::CrisisDetector,
                &Source::Folder(candidate.clone()),
                1.0,
                "bench",
                "shadow bench",
                &|| (),
            )
            .await
            .expect("shadow set");
        } else if block > 0 {
            shadow::stop(
                &store,
                World::CrisisDetector,
                "bench",
                "shadow bench",
                &|| (),
            )
            .await
            .expect("shadow stopped");
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if crisis_shadow(&client, &health).await.is_object() == on {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "the host never took the shadow change"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        phase(port, &arrivals, 10 + block as u32, 20, rate).await;
        let got = phase(port, &arrivals, 20 + block as u32, per_block, rate).await;
        if on { &mut shadowed } else { &mut none }.extend(got);
    }
    none.sort();
    shadowed.sort();
    let n = none.len();
    let stats = crisis_shadow(&client, &health).await;

    println!(
        "reply latency, webhook sent -> reply at the carrier, {n} texts a side in {blocks} alternating blocks at {rate}/s:"
    );
    for (name, l) in [("no shadow", &none), ("shadow at 1.0", &shadowed)] {
        println!(
            "  {name:<14} median {:>7.1} ms   p99 {:>7.1} ms   max {:>7.1} ms",
            pct(l, 0.5),
            pct(l, 0.99),
            pct(l, 1.0)
        );
    }
    println!(
        "  p99 ratio {:.2}, median ratio {:.2}; the shadow after the last block: {}",
        pct(&shadowed, 0.99) / pct(&none, 0.99),
        pct(&shadowed, 0.5) / pct(&none, 0.5),
        stats
    );
    drop(host);
    db.drop_it().await;
}
