//! Durable inbound-message inserts per second — seal + blind index + dedupe + user
//! get-or-create + insert, in one transaction (`Store::record_inbound`) — against a
//! raw single-row INSERT through the same pool, on Postgres and on the embedded store.
//! Both commit durably (Postgres synchronous_commit as configured, SQLite
//! synchronous = FULL). A fixed number of concurrent writers runs for a fixed time;
//! each configuration runs several rounds and the median round is reported.
//!
//! Run: `cargo bench -p jules --bench store` (Postgres at BENCH_DATABASE_ADMIN_URL,
//! default postgres://postgres@127.0.0.1:5432/postgres; a fresh database is created
//! and dropped). Knobs: BENCH_SECONDS (default 3), BENCH_ROUNDS (3), BENCH_WRITERS (16).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use jules::crypto::{BlindIndex, KeyOrigin, KeyRing, Secrets};
use jules::store::postgres::PgStore;
use jules::store::sqlite::SqliteStore;
use jules::store::{Backend, Store};
use uuid::Uuid;

fn knob(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Inbound,
    Raw,
}

/// Operations per second over one round, and the median latency in microseconds.
async fn round(store: &Store, op: Op, writers: u64, seconds: u64) -> (f64, f64) {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let tasks: Vec<_> = (0..writers)
        .map(|w| {
            let (store, stop, done) = (store.clone(), stop.clone(), done.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                let mut i = 0u64;
                while !stop.load(Ordering::Relaxed) {
                    let t = Instant::now();
                    match op {
                        Op::Inbound => {
                            // 1,000 people; every message id new.
                            let phone = format!("+1555{:07}", (w * 7919 + i) % 1000);
                            let id = Uuid::new_v4().to_string();
                            store
                                .record_inbound(
                                    jules::domain::Carrier::Bandwidth,
                                    &jules::domain::CarrierMessageId::parse(&id).unwrap(),
                                    &jules::domain::PhoneNumber::parse(&phone).unwrap(),
                                    "hey, you up?",
                                    1,
                                    SystemTime::now(),
                                )
                                .await
                                .expect("record");
                        }
                        Op::Raw => store
                            .db()
                            .raw_insert(Uuid::new_v4(), b"x")
                            .await
                            .expect("insert"),
                    }
                    latencies.push(t.elapsed());
                    done.fetch_add(1, Ordering::Relaxed);
                    i += 1;
                }
                latencies
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(seconds)).await;
    stop.store(true, Ordering::Relaxed);
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap());
    }
    let elapsed = start.elapsed().as_secs_f64();
    all.sort();
    let median = all.get(all.len() / 2).copied().unwrap_or_default();
    (
        done.load(Ordering::Relaxed) as f64 / elapsed,
        median.as_secs_f64() * 1e6,
    )
}

fn median(mut v: Vec<(f64, f64)>) -> (f64, f64) {
    v.sort_by(|a, b| a.0.total_cmp(&b.0));
    v[v.len() / 2]
}

#[tokio::main]
async fn main() {
    let (seconds, rounds, writers) = (
        knob("BENCH_SECONDS", 3),
        knob("BENCH_ROUNDS", 3),
        knob("BENCH_WRITERS", 16),
    );
    let secrets = Arc::new(Secrets {
        ring: KeyRing::generate("bench").unwrap(),
        blind: BlindIndex::parse(&"A".repeat(44)).unwrap(),
        origin: KeyOrigin::Environment,
    });
    let admin = std::env::var("BENCH_DATABASE_ADMIN_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
    let name = format!("jules_bench_{:08x}", rand::random::<u32>());
    let admin_client = jules::store::migrate::connect(&admin)
        .await
        .unwrap_or_else(|e| {
            panic!("Postgres at {admin} does not answer ({e}); scripts/services starts it")
        });
    admin_client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .await
        .unwrap();
    let url = format!("{}/{name}", admin.rsplit_once('/').unwrap().0);
    let dir = tempfile::tempdir().unwrap();

    let backends = [
        (
            "postgres",
            Backend::Postgres(PgStore::connect(&url, writers as usize).unwrap()),
        ),
        (
            "embedded",
            Backend::Embedded(SqliteStore::open(&dir.path().join("bench.sqlite3")).unwrap()),
        ),
    ];
    println!("{writers} concurrent writers, {rounds} rounds of {seconds} s each; medians");
    println!(
        "| store    | record_inbound/s | raw INSERT/s | ratio | inbound median | raw median |"
    );
    println!(
        "|----------|-----------------:|-------------:|------:|---------------:|-----------:|"
    );
    for (label, backend) in backends {
        backend.migrate().await.unwrap();
        let store = Store::new(backend, secrets.clone());
        round(&store, Op::Inbound, writers, 1).await; // warm up: users exist, pool full
        let mut inbound = Vec::new();
        let mut raw = Vec::new();
        for _ in 0..rounds {
            inbound.push(round(&store, Op::Inbound, writers, seconds).await);
            raw.push(round(&store, Op::Raw, writers, seconds).await);
        }
        let ((i_rate, i_lat), (r_rate, r_lat)) = (median(inbound), median(raw));
        println!(
            "| {label:<8} | {i_rate:>16.0} | {r_rate:>12.0} | {:>5.2} | {:>11.0} µs | {:>7.0} µs |",
            i_rate / r_rate,
            i_lat,
            r_lat
        );
    }
    admin_client
        .batch_execute(&format!("DROP DATABASE {name} WITH (FORCE)"))
        .await
        .unwrap();
}
