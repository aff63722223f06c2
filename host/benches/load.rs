//! Load against the real binary: `jules serve` (release build) on a fresh Postgres
//! database, with fake Bandwidth and Anthropic servers in this process.
//!
//! 1. Webhook ack latency at a fixed rate (open loop: requests leave on schedule
//!    whether or not earlier ones were answered): p50 / p99 / max.
//! 2. Sustained conversations per second end to end: a burst of inbound texts from
//!    distinct people; time until every reply reached the fake carrier.
//! 3. With a 2 s language model: how many conversations are in flight at once (waiting
//!    on the model), and the host's peak RSS.
//! 4. Capacity: the model answers nobody until LOAD_HELD conversations wait on it at
//!    once, then everybody; the host's peak RSS with that many in flight.
//!
//! Run: `cargo bench -p jules --bench load` (after scripts/build-policies). Knobs:
//! LOAD_RATE (1000 req/s), LOAD_SECONDS (10), LOAD_CONVERSATIONS (3000),
//! LOAD_IN_FLIGHT (10000), LOAD_LLM_DELAY_MS (2000), LOAD_HELD (10000), LOAD_PHASES
//! (1234: which phases run, e.g. `4` for capacity alone), LOAD_CARRIER_DELAY_MS (0:
//! how long the fake carrier takes to accept a message), LOAD_WARMUP (2000
//! conversations before the phases, then ANALYZE; 0: none), LOAD_POOL_SIZE (8: the host's
//! DATABASE_POOL_SIZE; with Postgres on the same two cores, more connections only add
//! contention), LOAD_WRAP (a program the host runs under, e.g. a script running
//! `heaptrack`), LOAD_KEEP_DB (set: the database is kept for inspection).

mod common;

use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::routing::post;
use common::{Database, Host, knob, wait_until};

/// Fake Bandwidth (send API) and Anthropic, counting what they see.
struct Fakes {
    sent: AtomicUsize,
    llm_started: AtomicUsize,
    llm_done: AtomicUsize,
    llm_delay_ms: AtomicU64,
    /// How long the fake carrier takes to accept a message.
    carrier_delay: Duration,
    /// When set, the model answers only once this many requests wait on it.
    hold_until: AtomicUsize,
    /// Opened (one permit, passed on) when `hold_until` requests wait.
    gate: tokio::sync::Semaphore,
}

impl Fakes {
    fn new() -> Fakes {
        Fakes {
            sent: AtomicUsize::new(0),
            llm_started: AtomicUsize::new(0),
            llm_done: AtomicUsize::new(0),
            llm_delay_ms: AtomicU64::new(0),
            carrier_delay: Duration::from_millis(knob("LOAD_CARRIER_DELAY_MS", 0)),
            hold_until: AtomicUsize::new(0),
            gate: tokio::sync::Semaphore::new(0),
        }
    }
}

// A fake provider's routes, not Jules's: they need no description.
#[allow(clippy::disallowed_methods)]
async fn start_fakes(f: Arc<Fakes>) -> String {
    let (a, b) = (f.clone(), f.clone());
    let app = axum::Router::new()
        .route(
            "/api/v2/users/{account}/messages",
            post(move |_body: Bytes| {
                let f = a.clone();
                async move {
                    if !f.carrier_delay.is_zero() {
                        tokio::time::sleep(f.carrier_delay).await;
                    }
                    let n = f.sent.fetch_add(1, Ordering::Relaxed);
                    (
                        axum::http::StatusCode::ACCEPTED,
                        axum::Json(
                            serde_json::json!({"id": format!("out-{n}"), "segmentCount": 1}),
                        ),
                    )
                }
            }),
        )
        .route(
            "/v1/messages",
            post(move |_body: Bytes| {
                let f = b.clone();
                async move {
                    let waiting = f.llm_started.fetch_add(1, Ordering::Relaxed) + 1
                        - f.llm_done.load(Ordering::Relaxed);
                    let hold = f.hold_until.load(Ordering::Relaxed);
                    if hold > 0 {
                        if waiting >= hold {
                            f.gate.add_permits(1);
                        }
                        let limit = Duration::from_secs(300);
                        let _ = tokio::time::timeout(limit, f.gate.acquire()).await;
                    }
                    let delay = f.llm_delay_ms.load(Ordering::Relaxed);
                    if delay > 0 {
                        tokio::time::sleep(Duration::from_millis(delay)).await;
                    }
                    f.llm_done.fetch_add(1, Ordering::Relaxed);
                    axum::Json(serde_json::json!({
                        "id": "msg", "type": "message", "role": "assistant",
                        "content": [{"type": "text", "text": "I hear you. What happened today?"}],
                        "model": "fake", "stop_reason": "end_turn",
                        "usage": {"input_tokens": 1, "output_tokens": 1}
                    }))
                }
            }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

fn event(id: &str, from: &str) -> serde_json::Value {
    serde_json::json!([{
        "time": "2026-11-25T20:00:00.000Z", "type": "message-received", "to": "+15550001111",
        "description": "Incoming message received",
        "message": {"id": id, "owner": "+15550001111", "applicationId": "app", "time": "2026-11-25T20:00:00.000Z",
                    "segmentCount": 1, "direction": "in", "to": ["+15550001111"], "from": from,
                    "text": "ugh, today was a lot. can we talk?", "media": [], "priority": "default"}
    }])
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

/// Texts from `n` new people (`phones` + 6 digits; 64 senders at a time); returns (seconds until every
/// reply was sent, most conversations waiting on the model at once, host RSS MiB
/// before, peak host RSS MiB).
async fn in_flight(
    fakes: &Arc<Fakes>,
    http: &reqwest::Client,
    base: &str,
    pid: u32,
    prefix: &str,
    phones: &str,
    n: usize,
) -> (f64, usize, f64, f64) {
    let rss_before = rss_kib(pid);
    let before = fakes.sent.load(Ordering::Relaxed);
    let (max_in_flight, max_rss) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicU64::new(0)));
    let sampler = {
        let (f, m, r) = (fakes.clone(), max_in_flight.clone(), max_rss.clone());
        tokio::spawn(async move {
            loop {
                let now =
                    f.llm_started.load(Ordering::Relaxed) - f.llm_done.load(Ordering::Relaxed);
                m.fetch_max(now, Ordering::Relaxed);
                r.fetch_max(rss_kib(pid), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        })
    };
    let start = Instant::now();
    let sem = Arc::new(tokio::sync::Semaphore::new(64));
    for i in 0..n {
        let permit = sem.clone().acquire_owned().await.unwrap();
        let (http, url) = (http.clone(), format!("{base}/webhooks/bandwidth"));
        let body = event(&format!("{prefix}-{i}"), &format!("{phones}{i:06}"));
        tokio::spawn(async move {
            let _ = http.post(url).json(&body).send().await;
            drop(permit);
        });
    }
    wait_until("every reply", Duration::from_secs(900), || {
        fakes.sent.load(Ordering::Relaxed) >= before + n
    })
    .await;
    sampler.abort();
    (
        start.elapsed().as_secs_f64(),
        max_in_flight.load(Ordering::Relaxed),
        rss_before as f64 / 1024.0,
        max_rss.load(Ordering::Relaxed) as f64 / 1024.0,
    )
}

fn main() {
    // The fakes stand for services on other machines: they get their own runtime, so
    // the load generator's requests and clock never wait behind the fakes' work.
    let fakes_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("fakes")
        .enable_all()
        .build()
        .unwrap();
    let fakes = Arc::new(Fakes::new());
    let fake_url = fakes_runtime.block_on(start_fakes(fakes.clone()));
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(run(fakes, fake_url));
}

async fn run(fakes: Arc<Fakes>, fake_url: String) {
    let root = common::workspace();
    let db = Database::create("jules_load").await;
    let db_url = db.url.clone();
    let port = common::free_port();
    let data = tempfile::tempdir().unwrap();
    let host = Host(
        match std::env::var("LOAD_WRAP") {
            Ok(w) => {
                let mut c = Command::new(w);
                c.arg(env!("CARGO_BIN_EXE_jules"));
                c
            }
            Err(_) => Command::new(env!("CARGO_BIN_EXE_jules")),
        }
        .arg("serve")
        .current_dir(&root)
        .env("PORT", port.to_string())
        .env("DATA_DIR", data.path())
        .env("POLICY_DIR", common::policy_dir("load-policies"))
        .env("DATABASE_URL", &db_url)
        .env("DATABASE_POOL_SIZE", knob("LOAD_POOL_SIZE", 8).to_string())
        .env_remove("REDIS_URL")
        .env("ANTHROPIC_API_KEY", "fake")
        .env("ANTHROPIC_BASE_URL", &fake_url)
        .env_remove("OPENAI_API_KEY")
        .env("BANDWIDTH_ACCOUNT_ID", "1")
        .env("BANDWIDTH_USERNAME", "u")
        .env("BANDWIDTH_PASSWORD", "p")
        .env("BANDWIDTH_APPLICATION_ID", "app")
        .env("BANDWIDTH_NUMBER", "+15550001111")
        .env("BANDWIDTH_API_URL", &fake_url)
        .env("COALESCE_WINDOW_MS", "0")
        .env("WORKER_CONCURRENCY", "20000")
        .env("LLM_TIMEOUT_MS", "30000")
        .env("LOG_LEVEL", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()
        .expect("spawn jules serve"),
    );
    let pid = host.id();
    let base = format!("http://127.0.0.1:{port}");
    let http = jules::net::client(Duration::from_secs(120));
    common::listening(port, Duration::from_secs(120)).await;
    let ids = AtomicUsize::new(0);
    let next = || ids.fetch_add(1, Ordering::Relaxed);
    println!(
        "jules serve (release) on Postgres, fake Bandwidth and Anthropic on loopback; 2 cores shared by all"
    );

    // A service in production runs on a database with statistics (autovacuum analyzes
    // a table within a minute of its first writes). This machine's Postgres runs
    // without autovacuum, so a new database here never gets any, and the plan each
    // connection keeps for a statement (made at its first run) is the one for empty
    // tables — sequential scans that grow with the table. Warm up, then analyze, as
    // autovacuum would.
    let warmup = knob("LOAD_WARMUP", 2000) as usize;
    if warmup > 0 {
        let (took, ..) = in_flight(&fakes, &http, &base, pid, "w", "+15540", warmup).await;
        let db = jules::store::migrate::connect(&db_url)
            .await
            .expect("the load database answers");
        db.batch_execute("ANALYZE").await.unwrap();
        println!("warm-up: {warmup} conversations in {took:.1} s, then ANALYZE");
    }

    let phases = std::env::var("LOAD_PHASES").unwrap_or_else(|_| "1234".into());
    if phases.contains('1') {
        ack_latency(&fakes, &http, &base, &next).await;
    }
    if phases.contains('2') {
        conversations(&fakes, &http, &base, &next).await;
    }
    if phases.contains('3') {
        model_delay(&fakes, &http, &base, pid).await;
    }
    if phases.contains('4') {
        capacity(&fakes, &http, &base, pid).await;
    }
    drop(host);
    if std::env::var("LOAD_KEEP_DB").is_ok() {
        println!("database kept: {}", db.name);
        return;
    }
    db.drop_it().await;
}

/// 1. Ack latency at a fixed rate.
async fn ack_latency(
    fakes: &Arc<Fakes>,
    http: &reqwest::Client,
    base: &str,
    next: &impl Fn() -> usize,
) {
    let before = fakes.sent.load(Ordering::Relaxed);
    let (rate, seconds) = (knob("LOAD_RATE", 1000), knob("LOAD_SECONDS", 10));
    let total = (rate * seconds) as usize;
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let start = Instant::now();
    let mut tasks = Vec::with_capacity(total);
    for i in 0..total {
        let due = start + interval * i as u32;
        tokio::time::sleep_until(due.into()).await;
        let (http, url) = (http.clone(), format!("{base}/webhooks/bandwidth"));
        let body = event(&format!("a-{}", next()), &format!("+1555{:07}", i % 5000));
        tasks.push(tokio::spawn(async move {
            let t = Instant::now();
            let r = http.post(url).json(&body).send().await;
            let ok = r.map(|r| r.status().is_success()).unwrap_or(false);
            (t.elapsed(), ok)
        }));
    }
    let mut lat = Vec::with_capacity(total);
    let mut failed = 0;
    for t in tasks {
        let (d, ok) = t.await.unwrap();
        lat.push(d);
        failed += usize::from(!ok);
    }
    lat.sort();
    println!(
        "ack @ {rate} req/s for {seconds} s: p50 {:.2} ms, p99 {:.2} ms, max {:.1} ms, {failed} failed of {total}",
        percentile(&lat, 0.5).as_secs_f64() * 1e3,
        percentile(&lat, 0.99).as_secs_f64() * 1e3,
        lat.last().unwrap().as_secs_f64() * 1e3,
    );
    let target = before + total;
    let drained = wait_until("replies to phase 1", Duration::from_secs(600), || {
        fakes.sent.load(Ordering::Relaxed) >= target
    })
    .await;
    println!(
        "  every reply of phase 1 sent {:.1} s after the last ack",
        drained.as_secs_f64()
    );
}

/// 2. Sustained conversations per second, end to end.
async fn conversations(
    fakes: &Arc<Fakes>,
    http: &reqwest::Client,
    base: &str,
    next: &impl Fn() -> usize,
) {
    let n = knob("LOAD_CONVERSATIONS", 3000) as usize;
    let before = fakes.sent.load(Ordering::Relaxed);
    let start = Instant::now();
    let sem = Arc::new(tokio::sync::Semaphore::new(64));
    for i in 0..n {
        let permit = sem.clone().acquire_owned().await.unwrap();
        let (http, url) = (http.clone(), format!("{base}/webhooks/bandwidth"));
        let body = event(&format!("b-{}", next()), &format!("+1556{:07}", i));
        tokio::spawn(async move {
            let _ = http.post(url).json(&body).send().await;
            drop(permit);
        });
    }
    let acked = start.elapsed();
    let took = wait_until("replies to phase 2", Duration::from_secs(600), || {
        fakes.sent.load(Ordering::Relaxed) >= before + n
    })
    .await
        + acked;
    println!(
        "conversations end to end: {n} new people in {:.1} s = {:.0} conversations/s (all acked in {:.1} s)",
        took.as_secs_f64(),
        n as f64 / took.as_secs_f64(),
        acked.as_secs_f64()
    );
}

/// 3. A 2 s language model: conversations in flight and memory.
async fn model_delay(fakes: &Arc<Fakes>, http: &reqwest::Client, base: &str, pid: u32) {
    let n = knob("LOAD_IN_FLIGHT", 10_000) as usize;
    let delay = knob("LOAD_LLM_DELAY_MS", 2000);
    fakes.llm_delay_ms.store(delay, Ordering::Relaxed);
    let (done, most, before, peak) = in_flight(fakes, http, base, pid, "c", "+15570", n).await;
    println!(
        "with a {delay} ms model: {n} conversations done in {done:.1} s; at most {most} waiting on the model at once; host RSS {before:.0} MiB before, {peak:.0} MiB peak"
    );
}

/// 4. Capacity: nobody is answered until `held` wait on the model at once.
async fn capacity(fakes: &Arc<Fakes>, http: &reqwest::Client, base: &str, pid: u32) {
    let held = knob("LOAD_HELD", 10_000) as usize;
    fakes.llm_delay_ms.store(0, Ordering::Relaxed);
    fakes.hold_until.store(held, Ordering::Relaxed);
    let (done, most, before, peak) = in_flight(fakes, http, base, pid, "d", "+15571", held).await;
    println!(
        "held until {held} wait on the model: at most {most} waiting at once; all answered {done:.1} s after the first text; host RSS {before:.0} MiB before, {peak:.0} MiB peak"
    );
}
