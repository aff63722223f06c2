//! What the benches that drive the real binary share: knobs, the host process, a fresh
//! database, the shipped bundles for serving.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Child;
use std::time::{Duration, Instant};

pub fn knob(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The shipped bundles in `target/<name>` with age verification off (there is no
/// verification provider) and no daily limit.
pub fn policy_dir(name: &str) -> PathBuf {
    let root = workspace();
    let dir = root.join("target").join(name);
    for name in ["crisis", "compliance", "prompt"] {
        let (src, dst) = (root.join("policies").join(name), dir.join(name));
        std::fs::create_dir_all(&dst).unwrap();
        for file in ["bundle.toml", "component.wasm", "config.json"] {
            std::fs::copy(src.join(file), dst.join(file)).unwrap_or_else(|e| {
                panic!(
                    "{}: {e} (run scripts/build-policies)",
                    src.join(file).display()
                )
            });
        }
        let m = dst.join("bundle.toml");
        let text = std::fs::read_to_string(&m).unwrap();
        let kept: Vec<&str> = text.lines().filter(|l| !l.starts_with("corpus")).collect();
        std::fs::write(&m, kept.join("\n")).unwrap();
    }
    let config = dir.join("compliance/config.json");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace(
            "\"require-age-verification\": true",
            "\"require-age-verification\": false",
        )
        .replace("\"free-daily-limit\": 50", "\"free-daily-limit\": 100000"),
    )
    .unwrap();
    dir
}

/// A process in a process group of its own: dropping this kills the group (SIGKILL),
/// so a host run under a wrapper (e.g. heaptrack, which runs it as a child) does not
/// outlive the bench.
pub struct Host(pub Child);

impl Host {
    pub fn id(&self) -> u32 {
        self.0.id()
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        // SAFETY: kill(2) on the group this bench created; no memory is touched.
        unsafe { libc::kill(-(self.0.id() as i32), libc::SIGKILL) };
        let _ = self.0.wait();
    }
}

/// A new database on the local Postgres (BENCH_DATABASE_ADMIN_URL), dropped on `drop_it`.
pub struct Database {
    pub url: String,
    pub name: String,
    admin: tokio_postgres::Client,
}

impl Database {
    pub async fn create(prefix: &str) -> Database {
        let admin_url = std::env::var("BENCH_DATABASE_ADMIN_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let name = format!("{prefix}_{:08x}", rand::random::<u32>());
        let admin = jules::store::migrate::connect(&admin_url)
            .await
            .expect("Postgres answers");
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .unwrap();
        let url = format!("{}/{name}", admin_url.rsplit_once('/').unwrap().0);
        Database { url, name, admin }
    }

    pub async fn drop_it(self) {
        let _ = self
            .admin
            .batch_execute(&format!("DROP DATABASE {} WITH (FORCE)", self.name))
            .await;
    }
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub async fn wait_until(what: &str, limit: Duration, mut done: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < limit, "{what}: not done after {limit:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    start.elapsed()
}

pub async fn listening(port: u16, limit: Duration) {
    wait_until("the host listening", limit, || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    })
    .await;
}
