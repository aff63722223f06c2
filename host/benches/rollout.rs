//! Activation under load: two `jules serve` hosts on one Postgres while texts arrive at
//! a steady rate; a crisis bundle is activated and activated back, ROLLOUT_RUNS times.
//! Reports, per activation, the time from the change being committed to the last host
//! serving it (heartbeats read every 10 ms), the whole `activate` (stage, every host
//! prepares, commit, swap), and the webhooks that failed meanwhile.
//!
//! Run: `scripts/build-policies && cargo bench -p jules --bench rollout`. Knobs:
//! ROLLOUT_RUNS (10), ROLLOUT_RATE (50 texts a second).

mod common;

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use common::{Database, Host, free_port, knob, listening};
use jules::rollout::Source;
use jules::rollout::control;
use jules::store::Backend;
use jules_policy_model::World;

fn start_host(
    db: &str,
    policies: &std::path::Path,
    id: &str,
    data: &std::path::Path,
) -> (Host, u16) {
    use base64::Engine as _;
    let port = free_port();
    std::fs::create_dir_all(data).unwrap();
    let log = std::fs::File::create(data.join("host.log")).unwrap();
    let b64 = |b: u8| base64::engine::general_purpose::STANDARD.encode([b; 32]);
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_jules"));
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let child = cmd
        .arg("serve")
        .env("PORT", port.to_string())
        .env("DATA_DIR", data)
        .env("POLICY_DIR", policies)
        .env("DATABASE_URL", db)
        .env("HOST_ID", id)
        .env("COALESCE_WINDOW_MS", "0")
        .env("LOG_LEVEL", "error")
        // Both hosts open what the other sealed.
        .env("ENCRYPTION_KEYS", format!("bench:{}", b64(7)))
        .env("BLIND_INDEX_KEY", b64(9))
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()
        .expect("start jules serve");
    (Host(child), port)
}

/// The crisis bundle with its config padded by `n` spaces: same logic, its own digest.
fn variant(policies: &std::path::Path, name: &str, n: usize) -> std::path::PathBuf {
    let (src, dst) = (policies.join("crisis"), policies.join("..").join(name));
    std::fs::create_dir_all(&dst).unwrap();
    for file in ["bundle.toml", "component.wasm"] {
        std::fs::copy(src.join(file), dst.join(file)).unwrap();
    }
    let config = std::fs::read_to_string(src.join("config.json")).unwrap();
    std::fs::write(dst.join("config.json"), config + &" ".repeat(n)).unwrap();
    dst
}

fn median(v: &mut [Duration]) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    let runs = knob("ROLLOUT_RUNS", 10) as usize;
    let rate = knob("ROLLOUT_RATE", 50);
    let db = Database::create("rollout_bench").await;
    let policies = common::policy_dir("rollout-policies");
    let bundles = [
        variant(&policies, "rollout-a", 1),
        variant(&policies, "rollout-b", 2),
    ];
    let data = tempfile::tempdir().unwrap();
    let (host_a, port_a) = start_host(&db.url, &policies, "bench-a", &data.path().join("a"));
    listening(port_a, Duration::from_secs(120)).await;
    let (host_b, port_b) = start_host(&db.url, &policies, "bench-b", &data.path().join("b"));
    listening(port_b, Duration::from_secs(120)).await;

    let stop = Arc::new(AtomicBool::new(false));
    let (sent, failed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let sender = {
        let (stop, sent, failed) = (stop.clone(), sent.clone(), failed.clone());
        tokio::spawn(async move {
            let client = jules::net::client(Duration::from_secs(10));
            let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / rate.max(1)));
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                let port = if i.is_multiple_of(2) { port_a } else { port_b };
                let body = serde_json::json!([{
                    "type": "message-received", "time": "2026-12-01T08:00:00.000Z",
                    "to": "+15550001111", "description": "Incoming message received",
                    "message": {"id": format!("rb-{i}"), "owner": "+15550001111",
                        "applicationId": "app", "time": "2026-12-01T08:00:00.000Z",
                        "segmentCount": 1, "direction": "in", "to": ["+15550001111"],
                        "from": format!("+1555600{:04}", i % 500), "text": "long day, you?",
                        "media": []}
                }]);
                let (client, sent, failed) = (client.clone(), sent.clone(), failed.clone());
                tokio::spawn(async move {
                    let ok = client
                        .post(format!("http://127.0.0.1:{port}/webhooks/bandwidth"))
                        .json(&body)
                        .send()
                        .await
                        .is_ok_and(|r| r.status().is_success());
                    sent.fetch_add(1, Ordering::Relaxed);
                    if !ok {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                });
                i += 1;
            }
        })
    };

    let store = Backend::open(Some(&db.url), 2, data.path()).unwrap();
    let (mut swaps, mut totals) = (Vec::new(), Vec::new());
    tokio::time::sleep(Duration::from_secs(2)).await;
    for run in 0..runs {
        let bundle = &bundles[run % 2];
        let started = Instant::now();
        let source = Source::Folder(bundle.clone());
        let activation = control::Activation {
            world: World::CrisisDetector,
            source: &source,
            subject: "bench",
            reason: "rollout bench",
            accept_regression: None,
            wait: Duration::from_secs(120),
        };
        let applied = control::activate(&store, &activation, &|| ())
            .await
            .expect("activation");
        let total = started.elapsed();
        let swap = applied
            .converged_after
            .unwrap_or_else(|| panic!("run {run}: not every host serves it: {:?}", applied.hosts));
        println!(
            "run {run:>2}: {:>6.1} ms from the change to both hosts serving; {:>7.1} ms for the whole activate",
            swap.as_secs_f64() * 1e3,
            total.as_secs_f64() * 1e3
        );
        swaps.push(swap);
        totals.push(total);
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    stop.store(true, Ordering::Relaxed);
    let _ = sender.await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let max = *swaps.iter().max().unwrap();
    println!(
        "change -> both hosts serving: median {:.1} ms, max {:.1} ms over {runs} activations",
        median(&mut swaps).as_secs_f64() * 1e3,
        max.as_secs_f64() * 1e3
    );
    println!(
        "whole activate (prepare included): median {:.1} ms",
        median(&mut totals).as_secs_f64() * 1e3
    );
    println!(
        "webhooks: {} sent at {rate}/s, {} failed",
        sent.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed)
    );
    drop((host_a, host_b));
    db.drop_it().await;
}
