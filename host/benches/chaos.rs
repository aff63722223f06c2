//! Crash and fault harness: two `jules serve` hosts (release build) on one Postgres
//! database and one Redis, texted by many people while things break, then counted.
//!
//! While texts arrive, every 1–3 s one of: a host killed with SIGKILL (mid-ack or
//! mid-send, wherever it was) and restarted a moment later, or Redis killed and
//! restarted. Throughout: the carrier (fake Bandwidth, with its message list) answers
//! 3% of sends 503 without taking them and 5% after the hosts' timeout although it took
//! them; the models (fake Anthropic, then fake OpenAI) fail 30% of calls and hang on 5%.
//! The carrier posts each text to either host and, like a carrier, posts it again
//! (to either) until it is acknowledged.
//!
//! Then, once nothing is left to do, it counts: texts acknowledged, people answered,
//! texts never answered (lost), messages the carrier took more than once (duplicates;
//! crisis resources apart, where a duplicate is the documented lesser harm), people
//! whose messages arrived out of queue order. Exit 1 unless lost, duplicates (other
//! than crisis resources) and out of order are all 0.
//!
//! Run: `scripts/chaos` (after scripts/build-policies). Knobs: CHAOS_PEOPLE (200),
//! CHAOS_TEXTS (3 per person), CHAOS_SECONDS (30: how long texts keep arriving),
//! CHAOS_SEED (1).

mod common;
#[path = "../../tests/support/fakes.rs"]
#[allow(dead_code)]
mod fakes;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Database, Host, knob};
use fakes::{
    Fake, Seen, anthropic_error, anthropic_reply, bandwidth_accepted, bandwidth_error,
    openai_error, openai_reply,
};
use rand::{Rng, RngCore, SeedableRng};
use uuid::Uuid;

const JULES: &str = "+15550001111";
const CRISIS: &str = "i want to kill myself tonight";

/// A number in [0, 1) fixed by the seed, the request's index and what it decides.
fn roll(seed: u64, n: usize, what: u64) -> f64 {
    let mut x = seed ^ (n as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) ^ what.rotate_left(32);
    x ^= x >> 33;
    x = x.wrapping_mul(0xff51_afd7_ed55_8ccd);
    x ^= x >> 33;
    x = x.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    x ^= x >> 33;
    (x >> 11) as f64 / (1u64 << 53) as f64
}

struct Providers {
    bandwidth: Fake,
    anthropic: Fake,
    openai: Fake,
}

/// The fakes, each failing as the module says.
async fn providers(seed: u64) -> Providers {
    let bandwidth = Fake::bandwidth().await;
    bandwidth.intercept(move |req, all| {
        let n = all.len() - 1;
        (req.method == "POST").then(|| {
            let r = roll(seed, n, 1);
            if r < 0.03 {
                bandwidth_error(503, "service-unavailable")
            } else if r < 0.08 {
                bandwidth_accepted(n).after(Duration::from_millis(1500))
            } else {
                bandwidth_accepted(n).after(Duration::from_millis(10 + (r * 100.0) as u64))
            }
        })
    });
    let anthropic = Fake::anthropic().await;
    anthropic.intercept(move |_, all| {
        let n = all.len() - 1;
        let r = roll(seed, n, 2);
        Some(if r < 0.30 {
            anthropic_error(529, "overloaded_error")
        } else if r < 0.35 {
            anthropic_reply("too late").after(Duration::from_secs(30))
        } else {
            anthropic_reply("I'm here. What happened?").after(Duration::from_millis(20))
        })
    });
    let openai = Fake::openai().await;
    openai.intercept(move |_, all| {
        let n = all.len() - 1;
        let r = roll(seed, n, 3);
        if r < 0.30 {
            Some(openai_error(500, "server_error"))
        } else if r < 0.35 {
            Some(openai_reply(n, "given up on by then").after(Duration::from_secs(30)))
        } else {
            None
        }
    });
    Providers {
        bandwidth,
        anthropic,
        openai,
    }
}

/// A Redis of its own, so it can be killed.
struct Redis {
    port: u16,
    child: Option<Child>,
}

impl Redis {
    fn start(port: u16) -> Redis {
        let mut r = Redis { port, child: None };
        r.restart();
        r
    }

    fn restart(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server runs (scripts/services installs it)");
        self.child = Some(child);
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Everything one host is started with; restarted on the same port.
struct Replica {
    port: u16,
    env: Vec<(&'static str, String)>,
    data: tempfile::TempDir,
    host: Option<Host>,
}

impl Replica {
    fn start(&mut self) {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_jules"));
        cmd.arg("serve")
            .current_dir(common::workspace())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("PORT", self.port.to_string())
            .env("DATA_DIR", self.data.path());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        let child = cmd
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .expect("spawn jules serve");
        self.host = Some(Host(child));
    }

    fn kill(&mut self) {
        self.host.take();
    }
}

/// What the carrier saw of the texts it posted.
#[derive(Default)]
struct Posted {
    /// Carrier message ids acknowledged (2xx), by person.
    acked: HashMap<String, Vec<String>>,
    /// Posts that failed (refused, reset, 5xx) and were posted again.
    retried: usize,
}

fn event(id: &str, from: &str, text: &str) -> serde_json::Value {
    serde_json::json!([{
        "time": "2026-11-30T20:00:00.000Z", "type": "message-received", "to": JULES,
        "description": "Incoming message received",
        "message": {"id": id, "owner": JULES, "applicationId": "app", "time": "2026-11-30T20:00:00.000Z",
                    "segmentCount": 1, "direction": "in", "to": [JULES], "from": from,
                    "text": text, "media": [], "priority": "default"}
    }])
}

/// Post one text to either host until one acknowledges it.
async fn deliver(
    http: reqwest::Client,
    ports: Arc<Vec<u16>>,
    posted: Arc<Mutex<Posted>>,
    id: String,
    from: String,
    text: &'static str,
    mut rng: rand::rngs::StdRng,
) {
    let body = event(&id, &from, text);
    for _ in 0..400 {
        let port = ports[rng.gen_range(0..ports.len())];
        let sent = http
            .post(format!("http://127.0.0.1:{port}/webhooks/bandwidth"))
            .json(&body)
            .send()
            .await;
        if sent.is_ok_and(|r| r.status().is_success()) {
            posted
                .lock()
                .unwrap()
                .acked
                .entry(from)
                .or_default()
                .push(id);
            return;
        }
        posted.lock().unwrap().retried += 1;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{id}: no host acknowledged it in 400 tries");
}

fn main() {
    let seed = knob("CHAOS_SEED", 1);
    // The fakes stand for services on other machines: a runtime of their own.
    let fakes_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .thread_name("fakes")
        .enable_all()
        .build()
        .unwrap();
    let providers = fakes_runtime.block_on(providers(seed));
    let failed = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(run(seed, providers));
    if failed {
        std::process::exit(1);
    }
}

async fn run(seed: u64, p: Providers) -> bool {
    let people = knob("CHAOS_PEOPLE", 200) as usize;
    let texts = knob("CHAOS_TEXTS", 3) as usize;
    let seconds = knob("CHAOS_SECONDS", 30);
    let db = Database::create("jules_chaos").await;
    let mut redis = Redis::start(common::free_port());
    let env: Vec<(&'static str, String)> = vec![
        (
            "POLICY_DIR",
            common::policy_dir("chaos-policies").display().to_string(),
        ),
        ("DATABASE_URL", db.url.clone()),
        ("DATABASE_POOL_SIZE", "6".into()),
        ("REDIS_URL", format!("redis://127.0.0.1:{}", redis.port)),
        ("ANTHROPIC_API_KEY", "fake".into()),
        ("ANTHROPIC_BASE_URL", p.anthropic.url.clone()),
        ("OPENAI_API_KEY", "fake".into()),
        ("OPENAI_BASE_URL", p.openai.url.clone()),
        ("LLM_TIMEOUT_MS", "2000".into()),
        ("BANDWIDTH_ACCOUNT_ID", "9900000".into()),
        ("BANDWIDTH_USERNAME", "u".into()),
        ("BANDWIDTH_PASSWORD", "p".into()),
        ("BANDWIDTH_APPLICATION_ID", "app".into()),
        ("BANDWIDTH_NUMBER", JULES.into()),
        ("BANDWIDTH_API_URL", p.bandwidth.url.clone()),
        ("CARRIER_TIMEOUT_MS", "1000".into()),
        ("OUTBOX_SETTLE_AFTER_MS", "1000".into()),
        ("OUTBOX_RETRY_BASE_MS", "200".into()),
        ("WORK_LEASE_MS", "5000".into()),
        ("COALESCE_WINDOW_MS", "0".into()),
        ("LOG_LEVEL", "error".into()),
        // One key set for both hosts (development would generate one per data folder).
        (
            "ENCRYPTION_KEYS",
            jules::crypto::KeyRing::generate("chaos").unwrap().to_spec(),
        ),
        ("BLIND_INDEX_KEY", "Q".repeat(44)),
    ];
    let mut replicas: Vec<Replica> = (0..2)
        .map(|_| Replica {
            port: common::free_port(),
            env: env.clone(),
            data: tempfile::tempdir().unwrap(),
            host: None,
        })
        .collect();
    // The first host migrates the database; the second starts on a migrated one.
    replicas[0].start();
    common::listening(replicas[0].port, Duration::from_secs(120)).await;
    replicas[1].start();
    common::listening(replicas[1].port, Duration::from_secs(120)).await;
    println!(
        "chaos: {people} people × {texts} texts over {seconds} s, 2 hosts on one Postgres and one Redis, seed {seed}"
    );

    // The texts: every tenth is crisis language.
    let ports = Arc::new(replicas.iter().map(|r| r.port).collect::<Vec<_>>());
    let posted = Arc::new(Mutex::new(Posted::default()));
    let http = jules::net::client(Duration::from_secs(5));
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut schedule: Vec<(Duration, usize, usize)> = (0..people)
        .flat_map(|i| (0..texts).map(move |j| (i, j)))
        .map(|(i, j)| {
            let at = Duration::from_secs_f64(rng.gen_range(0.0..seconds as f64));
            (at, i, j)
        })
        .collect();
    schedule.sort();
    let start = Instant::now();
    let load = {
        let (posted, ports, http) = (posted.clone(), ports.clone(), http.clone());
        let seeds: Vec<u64> = (0..schedule.len()).map(|_| rng.next_u64()).collect();
        tokio::spawn(async move {
            let mut tasks = Vec::new();
            for ((at, i, j), s) in schedule.into_iter().zip(seeds) {
                tokio::time::sleep_until((start + at).into()).await;
                let text = if (i + j) % 10 == 0 {
                    CRISIS
                } else {
                    "long day. can we talk?"
                };
                tasks.push(tokio::spawn(deliver(
                    http.clone(),
                    ports.clone(),
                    posted.clone(),
                    format!("chaos-{i}-{j}"),
                    format!("+1557{i:07}"),
                    text,
                    rand::rngs::StdRng::seed_from_u64(s),
                )));
            }
            for t in tasks {
                t.await.unwrap();
            }
        })
    };

    // The faults, while texts arrive.
    let (mut host_kills, mut redis_kills) = (0, 0);
    while !load.is_finished() {
        tokio::time::sleep(Duration::from_millis(rng.gen_range(1000..3000))).await;
        if load.is_finished() {
            break;
        }
        if rng.gen_bool(0.75) {
            let r = &mut replicas[rng.gen_range(0..2)];
            r.kill();
            host_kills += 1;
            tokio::time::sleep(Duration::from_millis(rng.gen_range(200..1500))).await;
            r.start();
        } else {
            redis.kill();
            redis_kills += 1;
            tokio::time::sleep(Duration::from_millis(rng.gen_range(500..3000))).await;
            redis.restart();
        }
    }
    load.await.unwrap();
    let acked_in = start.elapsed();

    let client = jules::store::migrate::connect(&db.url)
        .await
        .expect("the chaos database answers");
    let quiet = settle(&client).await;
    let posted = std::mem::take(&mut *posted.lock().unwrap());
    let counts = count(&client, &p.bandwidth.seen(), &posted).await;
    let retried = posted.retried;
    println!(
        "faults: {host_kills} hosts killed (SIGKILL) and restarted, {redis_kills} Redis kills; {retried} posts refused or cut and posted again"
    );
    println!(
        "models: {} Anthropic calls, {} OpenAI calls; carrier: {} requests",
        p.anthropic.count(),
        p.openai.count(),
        p.bandwidth.count()
    );
    println!(
        "texts acknowledged {} (all in {:.1} s), all settled {:.1} s later",
        counts.acked,
        acked_in.as_secs_f64(),
        quiet.as_secs_f64()
    );
    println!("{counts}");
    for r in &mut replicas {
        r.kill();
    }
    db.drop_it().await;
    !counts.clean()
}

/// Wait until no text is unanswered and no message unsent (leases of killed hosts
/// expire; the survivors take over).
async fn settle(client: &tokio_postgres::Client) -> Duration {
    let start = Instant::now();
    loop {
        let open: i64 = client
            .query_one(
                "SELECT (SELECT count(*) FROM messages WHERE direction = 'in' AND status IN ('received','processing'))
                      + (SELECT count(*) FROM outbox WHERE sent_at IS NULL AND dead_lettered_at IS NULL)",
                &[],
            )
            .await
            .unwrap()
            .get(0);
        if open == 0 {
            // Sends answered late are still landing at the carrier.
            tokio::time::sleep(Duration::from_secs(3)).await;
            return start.elapsed();
        }
        assert!(
            start.elapsed() < Duration::from_secs(600),
            "{open} texts or messages still open after 10 minutes"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

struct Counts {
    acked: usize,
    people: usize,
    answered: usize,
    lost: Vec<String>,
    dead_lettered: usize,
    duplicates: usize,
    crisis_duplicates: usize,
    out_of_order: Vec<String>,
}

impl Counts {
    fn clean(&self) -> bool {
        self.lost.is_empty()
            && self.dead_lettered == 0
            && self.duplicates == 0
            && self.out_of_order.is_empty()
    }
}

impl std::fmt::Display for Counts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "people answered {} of {}; texts lost {}; replies dead-lettered {}",
            self.answered,
            self.people,
            self.lost.len(),
            self.dead_lettered
        )?;
        write!(
            f,
            "duplicates {} (crisis resources {}); people out of order {}",
            self.duplicates,
            self.crisis_duplicates,
            self.out_of_order.len()
        )?;
        if !self.lost.is_empty() {
            write!(f, "\n  lost: {:?}", self.lost)?;
        }
        if !self.out_of_order.is_empty() {
            write!(f, "\n  out of order: {:?}", self.out_of_order)?;
        }
        Ok(())
    }
}

/// Compare what the carrier acknowledged and took with what the database holds.
async fn count(client: &tokio_postgres::Client, carrier: &[Seen], posted: &Posted) -> Counts {
    // Every acknowledged text is stored and answered.
    let answered: HashSet<String> = client
        .query(
            "SELECT carrier_message_id FROM messages WHERE direction = 'in' AND status = 'replied'",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    let mut lost = Vec::new();
    for ids in posted.acked.values() {
        lost.extend(ids.iter().filter(|id| !answered.contains(*id)).cloned());
    }
    // What each outbox row is: its message (time-ordered ids: queue order) and purpose.
    let rows = client
        .query(
            "SELECT o.id, o.message_id, coalesce(m.purpose, ''), o.dead_lettered_at IS NOT NULL
             FROM outbox o JOIN messages m ON m.id = o.message_id",
            &[],
        )
        .await
        .unwrap();
    let mut outbox: HashMap<Uuid, (Uuid, String)> = HashMap::new();
    let mut dead_lettered = 0;
    for r in &rows {
        outbox.insert(r.get(0), (r.get(1), r.get(2)));
        dead_lettered += usize::from(r.get::<_, bool>(3));
    }
    // What the carrier took, in the order it took it, per person.
    let mut taken: BTreeMap<String, Vec<Uuid>> = BTreeMap::new();
    let mut times: HashMap<Uuid, usize> = HashMap::new();
    for s in carrier.iter().filter(|s| s.taken()) {
        let body = s.json();
        let tag = body["tag"].as_str().and_then(|t| t.parse::<Uuid>().ok());
        let (Some(to), Some(tag)) = (body["to"][0].as_str(), tag) else {
            continue;
        };
        taken.entry(to.to_string()).or_default().push(tag);
        *times.entry(tag).or_default() += 1;
    }
    let (mut duplicates, mut crisis_duplicates) = (0, 0);
    for (tag, n) in &times {
        if *n > 1 {
            let crisis = outbox
                .get(tag)
                .is_some_and(|(_, purpose)| purpose == "crisis-resources");
            if crisis {
                crisis_duplicates += n - 1;
            } else {
                duplicates += n - 1;
            }
        }
    }
    let mut out_of_order = Vec::new();
    for (to, tags) in &taken {
        let mut seen = HashSet::new();
        let order: Vec<Uuid> = tags
            .iter()
            .filter(|t| seen.insert(**t))
            .filter_map(|t| outbox.get(t).map(|(m, _)| *m))
            .collect();
        if order.windows(2).any(|w| w[0] > w[1]) {
            out_of_order.push(to.clone());
        }
    }
    Counts {
        acked: posted.acked.values().map(Vec::len).sum(),
        people: posted.acked.len(),
        answered: posted
            .acked
            .keys()
            .filter(|p| taken.contains_key(*p))
            .count(),
        lost,
        dead_lettered,
        duplicates,
        crisis_duplicates,
        out_of_order,
    }
}
