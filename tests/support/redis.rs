//! Redis for tests: the machine's server (a key prefix per test keeps tests apart) or
//! a private server this test can stop and start.

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The machine's Redis (TEST_REDIS_URL, default the local one); unreachable is a failure.
pub async fn shared() -> String {
    let url = std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379/".into());
    let client = redis::Client::open(url.as_str()).expect("redis url");
    client
        .get_multiplexed_async_connection()
        .await
        .unwrap_or_else(|e| {
            panic!("Redis at {url} does not answer ({e}); scripts/services starts it")
        });
    url
}

/// A key prefix no other test uses.
pub fn prefix() -> String {
    format!("jules-test-{:016x}:", rand::random::<u64>())
}

/// Every key under `prefix` with its value(s), as raw bytes.
pub async fn dump(url: &str, prefix: &str) -> Vec<(String, Vec<Vec<u8>>)> {
    let client = redis::Client::open(url).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    let keys: Vec<String> = redis::cmd("KEYS")
        .arg(format!("{prefix}*"))
        .query_async(&mut c)
        .await
        .unwrap();
    let mut out = Vec::new();
    for key in keys {
        let kind: String = redis::cmd("TYPE")
            .arg(&key)
            .query_async(&mut c)
            .await
            .unwrap();
        let values: Vec<Vec<u8>> = match kind.as_str() {
            "list" => redis::cmd("LRANGE")
                .arg(&key)
                .arg(0)
                .arg(-1)
                .query_async(&mut c)
                .await
                .unwrap(),
            "string" => vec![
                redis::cmd("GET")
                    .arg(&key)
                    .query_async(&mut c)
                    .await
                    .unwrap(),
            ],
            other => panic!("{key} is a {other}"),
        };
        out.push((key, values));
    }
    out
}

pub async fn ttl(url: &str, key: &str) -> i64 {
    on_key(url, "TTL", key).await
}

/// Remove `key`'s TTL (1 when it had one).
pub async fn persist(url: &str, key: &str) -> i64 {
    on_key(url, "PERSIST", key).await
}

async fn on_key(url: &str, command: &str, key: &str) -> i64 {
    let client = redis::Client::open(url).unwrap();
    let mut c = client.get_multiplexed_async_connection().await.unwrap();
    redis::cmd(command)
        .arg(key)
        .query_async(&mut c)
        .await
        .unwrap()
}

/// A redis-server of this test's own, on a free port; stopped on drop.
pub struct PrivateRedis {
    pub port: u16,
    child: Option<Child>,
}

impl PrivateRedis {
    pub fn start() -> PrivateRedis {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut r = PrivateRedis { port, child: None };
        r.restart();
        r
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    pub fn restart(&mut self) {
        self.stop();
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .expect("redis-server runs (Debian package redis-server)");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server did not start on {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.stop();
    }
}
