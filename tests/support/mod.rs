//! Shared by the policy tests: where the test components are, temporary bundles.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use jules::policy::{PolicyRuntime, RuntimeSettings};

pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A component built by scripts/build-test-components; missing is a loud failure.
pub fn test_component(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target"));
    let path = target.join("test-components").join(format!("{name}.wasm"));
    assert!(
        path.exists(),
        "{} is missing: run scripts/build-test-components (scripts/test does it)",
        path.display()
    );
    path
}

/// A shipped bundle's folder; its component is built by scripts/build-policies.
pub fn shipped_bundle(name: &str) -> PathBuf {
    let dir = workspace().join("policies").join(name);
    assert!(
        dir.join("component.wasm").exists(),
        "{}/component.wasm is missing: run scripts/build-policies (scripts/test does it)",
        dir.display()
    );
    dir
}

/// A copy of a shipped bundle in `dst`, for serving: no corpora (serving never reads
/// them), so the manifest drops them.
pub fn copy_bundle(name: &str, dst: &Path) {
    copy_bundle_from(&shipped_bundle(name), dst)
}

/// A copy of the bundle in `src` in `dst`, without corpora and unsigned.
pub fn copy_bundle_from(src: &Path, dst: &Path) {
    std::fs::create_dir_all(dst).unwrap();
    for file in ["component.wasm", "config.json"] {
        std::fs::copy(src.join(file), dst.join(file)).unwrap();
    }
    let manifest = std::fs::read_to_string(src.join("bundle.toml")).unwrap();
    let kept: Vec<&str> = manifest
        .lines()
        .filter(|l| !l.starts_with("corpus"))
        .collect();
    std::fs::write(dst.join("bundle.toml"), kept.join("\n")).unwrap();
}

/// The key these tests sign bundles with (one per test process).
pub fn signing_key() -> &'static jules::policy::SigningIdentity {
    static KEY: std::sync::OnceLock<jules::policy::SigningIdentity> = std::sync::OnceLock::new();
    KEY.get_or_init(|| jules::policy::SigningIdentity::generate("tests").unwrap())
}

/// `POLICY_TRUSTED_KEYS` trusting `signing_key`.
pub fn trusted_keys() -> String {
    signing_key().trusted_entry()
}

/// Write `signature.json` into the bundle folder `dir`, signed with `signing_key`.
pub fn sign(dir: &Path) {
    let source = jules::policy::BundleSource::read(dir).expect("a bundle to sign");
    let file = signing_key().sign(&source.manifest, &source.digest);
    std::fs::write(
        dir.join(jules::policy::SIGNATURE_FILE),
        serde_json::to_string(&file).unwrap(),
    )
    .expect("write signature.json");
}

/// A bundle folder in a temp dir around `component` with `config`.
pub fn temp_bundle(component: &Path, world: &str, wit: &str, config: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::copy(component, dir.path().join("component.wasm")).expect("copy component");
    std::fs::write(dir.path().join("config.json"), config).expect("write config");
    std::fs::write(
        dir.path().join("bundle.toml"),
        format!("name = \"test\"\nversion = \"1.0.0\"\nworld = \"{world}\"\nwit = \"{wit}\"\n"),
    )
    .expect("write manifest");
    dir
}

/// A runtime sized for tests: few instances, a short deadline, no cache.
pub fn runtime() -> PolicyRuntime {
    PolicyRuntime::new(RuntimeSettings {
        max_instances: 32,
        memory_limit_bytes: 32 << 20,
        deadline: Duration::from_millis(100),
        epoch_tick: Duration::from_millis(10),
        init_fuel: 2_000_000_000,
        cache_dir: None,
        concurrency: 2,
        trust: Default::default(),
    })
    .expect("policy runtime")
}

/// `f`'s result, or a failure within `limit` naming `what`: a call that should be cut
/// off by the runtime (epoch deadline, init fuel) fails the test in seconds instead of
/// hanging the whole run.
pub fn within<T: Send + 'static>(
    limit: Duration,
    what: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> T {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(limit) {
        Ok(v) => v,
        Err(_) => panic!("{what} did not return within {limit:?}: the runtime did not cut it off"),
    }
}

/// A new, empty Postgres database for one test, dropped when the guard goes. The
/// server is TEST_DATABASE_ADMIN_URL (default: the local one); unreachable is a failure.
pub struct TestDatabase {
    pub url: String,
    name: String,
    admin: String,
}

impl TestDatabase {
    pub async fn create() -> TestDatabase {
        let admin = std::env::var("TEST_DATABASE_ADMIN_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let name = format!("jules_test_{:016x}", rand::random::<u64>());
        let (client, conn) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
            .await
            .unwrap_or_else(|e| {
                panic!("Postgres at {admin} does not answer ({e}); scripts/services starts it")
            });
        tokio::spawn(conn);
        client
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create test database");
        let url = admin
            .rsplit_once('/')
            .map(|(base, _)| format!("{base}/{name}"))
            .expect("admin url");
        TestDatabase { url, name, admin }
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let (admin, name) = (self.admin.clone(), self.name.clone());
        // Best effort, on its own thread: Drop may run inside or outside a runtime.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let (client, conn) = tokio_postgres::connect(&admin, tokio_postgres::NoTls)
                    .await
                    .ok()?;
                tokio::spawn(conn);
                client
                    .batch_execute(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await
                    .ok()
            })
        })
        .join();
    }
}

pub mod app;
pub mod fakes;
pub mod redis;
pub mod registry;
#[macro_use]
pub mod store;
pub mod stripe;
