//! Shipping a crisis bundle to a running fleet: two production hosts on one Postgres
//! while texts keep arriving; `jules policy activate`, refusals, a host that cannot
//! load, a host that starts late, `rollback`, `status` and `history`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use base64::Engine as _;
use jules::policy::{BundleSource, SIGNATURE_FILE, SigningIdentity};

use super::serve::{Fakes, Server, get, json_body, post_text, start_logged};
use crate::support::{TestDatabase, copy_bundle, sign, signing_key};

const CRISIS: &str = "crisis-detector";

struct Fleet {
    db: TestDatabase,
    env: Vec<(String, String)>,
    data: tempfile::TempDir,
    _fakes: (tokio::runtime::Runtime, Fakes),
}

/// How long `activate` and `rollback` wait for the hosts to prepare a bundle: two
/// component compiles and a fuel-metered init of the crisis model take well over 10 s
/// in a debug build on a loaded machine. Healthy hosts answer as soon as they are ready.
const WAIT: &str = "60";

impl Fleet {
    fn new() -> Fleet {
        let rt = tokio::runtime::Runtime::new().unwrap();
        let db = rt.block_on(TestDatabase::create());
        let fakes = Fakes::start(&rt);
        let b64 = |b: u8| base64::engine::general_purpose::STANDARD.encode([b; 32]);
        let (keys, blind) = (format!("k1:{}", b64(7)), b64(9));
        // Each host adds the keys it trusts after these (the later value wins).
        let env = fakes
            .env(&[
                ("ENVIRONMENT", "production"),
                ("DATABASE_URL", db.url.as_str()),
                ("ENCRYPTION_KEYS", keys.as_str()),
                ("BLIND_INDEX_KEY", blind.as_str()),
                ("BANDWIDTH_WEBHOOK_USERNAME", "hook"),
                ("BANDWIDTH_WEBHOOK_PASSWORD", "secret"),
                ("JWT_SECRET_KEY", crate::support::app::ADMIN_SECRET),
            ])
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Fleet {
            db,
            env,
            data: tempfile::tempdir().unwrap(),
            _fakes: (rt, fakes),
        }
    }

    /// A host named `id` trusting `keys`.
    fn host(&self, id: &str, keys: &str) -> (Server, String) {
        let dir = self.data.path().join(id);
        std::fs::create_dir_all(&dir).unwrap();
        let mut env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        env.extend([("HOST_ID", id), ("POLICY_TRUSTED_KEYS", keys)]);
        let (server, addr, _banner, logs) = start_logged(&dir, &env);
        // Keep draining its log so it never blocks on a full pipe.
        std::thread::spawn(move || for _ in logs {});
        (server, addr)
    }

    fn jules(&self, args: &[&str]) -> (i32, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_jules"))
            .args(args)
            .env("DATABASE_URL", &self.db.url)
            .env("USER", "safety-lead")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned()
            + &String::from_utf8_lossy(&out.stderr);
        (out.status.code().unwrap_or(-1), text)
    }

    /// `jules admin token`, as an operator mints one.
    fn token(&self, sub: &str, role: &str) -> String {
        let out = Command::new(env!("CARGO_BIN_EXE_jules"))
            .args([
                "admin", "token", "--sub", sub, "--role", role, "--ttl", "10m",
            ])
            .env("JWT_SECRET_KEY", crate::support::app::ADMIN_SECRET)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    fn activate(&self, bundle: &Path, reason: &str) -> (i32, String) {
        self.jules(&[
            "policy",
            "activate",
            CRISIS,
            bundle.to_str().unwrap(),
            "--reason",
            reason,
            "--wait",
            WAIT,
        ])
    }
}

fn crisis_digest(addr: &str) -> String {
    let health = json_body(&get(addr, "/health"));
    health["checks"]["policies"][CRISIS]["digest"]
        .as_str()
        .unwrap_or("none")
        .to_string()
}

/// A new version of the crisis bundle (same logic, another config byte), signed by
/// `key` unless `None`.
fn crisis_version(dir: &Path, version: &str, key: Option<&SigningIdentity>) -> PathBuf {
    let bundle = dir.join(format!("crisis-{version}"));
    copy_bundle("crisis", &bundle);
    let manifest = bundle.join("bundle.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        text.replace("version = \"0.1.0\"", &format!("version = \"{version}\"")),
    )
    .unwrap();
    let config = bundle.join("config.json");
    let mut text = std::fs::read_to_string(&config).unwrap();
    // A digest of its own: the digest covers the component and config, not the manifest.
    static MADE: AtomicUsize = AtomicUsize::new(1);
    text.push_str(&" ".repeat(MADE.fetch_add(1, Ordering::Relaxed)));
    std::fs::write(&config, text).unwrap();
    if let Some(key) = key {
        let source = BundleSource::read(&bundle).unwrap();
        let file = key.sign(&source.manifest, &source.digest);
        std::fs::write(
            bundle.join(SIGNATURE_FILE),
            serde_json::to_string(&file).unwrap(),
        )
        .unwrap();
    }
    bundle
}

fn digest_of(bundle: &Path) -> String {
    BundleSource::read(bundle).unwrap().digest.to_string()
}

/// Texts every few milliseconds to both hosts until stopped; counts what was not 2xx.
struct Sender {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicUsize>,
    failed: Arc<AtomicUsize>,
    thread: Option<std::thread::JoinHandle<Vec<String>>>,
}

impl Sender {
    fn start(addrs: Vec<String>) -> Sender {
        let (stop, sent, failed) = Default::default();
        let (s, n, f): (Arc<AtomicBool>, Arc<AtomicUsize>, Arc<AtomicUsize>) =
            (Arc::clone(&stop), Arc::clone(&sent), Arc::clone(&failed));
        let auth = base64::engine::general_purpose::STANDARD.encode("hook:secret");
        let thread = std::thread::spawn(move || {
            let mut errors = Vec::new();
            let mut i = 0usize;
            while !s.load(Ordering::Relaxed) {
                let addr = &addrs[i % addrs.len()];
                let from = format!("+1555300{:04}", i % 50);
                let reply = post_text(
                    addr,
                    &auth,
                    &format!("roll-{i}"),
                    &from,
                    &format!("long day at work, number {i}"),
                );
                n.fetch_add(1, Ordering::Relaxed);
                if !reply.starts_with("HTTP/1.1 2") {
                    f.fetch_add(1, Ordering::Relaxed);
                    errors.push(reply.lines().next().unwrap_or("").to_string());
                }
                i += 1;
                std::thread::sleep(Duration::from_millis(20));
            }
            errors
        });
        Sender {
            stop,
            sent,
            failed,
            thread: Some(thread),
        }
    }

    fn finish(mut self) -> (usize, usize, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        let errors = self.thread.take().unwrap().join().unwrap();
        (
            self.sent.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
            errors,
        )
    }
}

/// The crisis bundle that assessed the text `id` (30 s at most for it to be processed).
fn assessed_by(db: &str, id: &str) -> String {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(db, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        for _ in 0..300 {
            let row = client
                .query_opt(
                    "SELECT d.bundle_digest FROM policy_decisions d
                     JOIN messages m ON m.id = d.message_id
                     WHERE m.carrier_message_id = $1 AND d.world = $2",
                    &[&id, &CRISIS],
                )
                .await
                .unwrap();
            if let Some(r) = row {
                return r
                    .get::<_, Option<String>>(0)
                    .expect("the decision names its bundle");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        panic!("{id} was never assessed");
    })
}

/// A text to each host once a change returned: each is assessed by `digest`, the
/// bundle it replaced assesses nothing more.
fn assert_assessed_by(db: &str, hosts: &[&str], digest: &str) {
    static SENT: AtomicUsize = AtomicUsize::new(0);
    let auth = base64::engine::general_purpose::STANDARD.encode("hook:secret");
    for host in hosts {
        let n = SENT.fetch_add(1, Ordering::Relaxed);
        let id = format!("after-change-{n}");
        let reply = post_text(host, &auth, &id, &format!("+1555400{n:04}"), "checking in");
        assert!(reply.starts_with("HTTP/1.1 2"), "{reply}");
        assert_eq!(assessed_by(db, &id), digest, "{host}");
    }
}

fn served_after(out: &str) -> u128 {
    out.lines()
        .find_map(|l| l.strip_prefix("served by 2 live host(s) "))
        .and_then(|rest| rest.split(' ').next())
        .and_then(|ms| ms.parse().ok())
        .unwrap_or_else(|| panic!("no convergence line:\n{out}"))
}

#[test]
fn a_fleet_converges_on_activations_refuses_what_does_not_verify_and_rolls_back() {
    let fleet = Fleet::new();
    let release = SigningIdentity::generate("release").unwrap();
    let both_keys = format!(
        "{},{}",
        crate::support::trusted_keys(),
        release.trusted_entry()
    );
    let (host_a, a) = fleet.host("host-a", &both_keys);
    let (host_b, b) = fleet.host("host-b", &crate::support::trusted_keys());
    let shipped = crisis_digest(&a);
    assert_eq!(crisis_digest(&b), shipped);
    let sender = Sender::start(vec![a.clone(), b.clone()]);
    let work = tempfile::tempdir().unwrap();

    // A new version signed by the key both hosts trust, pushed to the registry and
    // activated by its tag: both serve it.
    let registry = crate::support::registry::Registry::start();
    let v2 = crisis_version(work.path(), "0.1.1", Some(signing_key()));
    let tag = format!("{}/jules/crisis:0.1.1", registry.addr);
    let (code, out) = fleet.jules(&["policy", "push", v2.to_str().unwrap(), &tag]);
    assert_eq!(code, 0, "{out}");
    let (code, out) = fleet.activate(Path::new(&tag), "farewell messages were missed");
    assert_eq!(code, 0, "{out}");
    let ms = served_after(&out);
    eprintln!("activation served by both hosts {ms} ms after the change");
    assert_eq!(
        (crisis_digest(&a), crisis_digest(&b)),
        (digest_of(&v2), digest_of(&v2))
    );
    assert_assessed_by(&fleet.db.url, &[&a, &b], &digest_of(&v2));

    // Refusals: nothing changes, each reason is named per host.
    let unsigned = crisis_version(work.path(), "0.2.0", None);
    let stranger = crisis_version(
        work.path(),
        "0.2.1",
        Some(&SigningIdentity::generate("stranger").unwrap()),
    );
    let tampered = crisis_version(work.path(), "0.2.2", Some(signing_key()));
    let component = tampered.join("component.wasm");
    let mut bytes = std::fs::read(&component).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x20;
    std::fs::write(&component, bytes).unwrap();
    let keyless = crisis_version(work.path(), "0.2.3", Some(signing_key()));
    let sig = keyless.join(SIGNATURE_FILE);
    let mut json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&sig).unwrap()).unwrap();
    json.as_object_mut().unwrap().remove("key-id");
    std::fs::write(&sig, json.to_string()).unwrap();
    let future_wit = crisis_version(work.path(), "0.2.4", None);
    let manifest = future_wit.join("bundle.toml");
    let text = std::fs::read_to_string(&manifest).unwrap();
    std::fs::write(
        &manifest,
        text.replace("wit = \"0.1.0\"", "wit = \"0.9.0\""),
    )
    .unwrap();
    sign(&future_wit);
    for (bundle, named) in [
        (&unsigned, "the bundle is unsigned"),
        (
            &stranger,
            "\"stranger\", which is not in POLICY_TRUSTED_KEYS",
        ),
        (&tampered, "digest mismatch"),
        (&keyless, "names no key id"),
        (&future_wit, "0.9.0"),
    ] {
        let (code, out) = fleet.activate(bundle, "should be refused");
        assert_eq!(code, 2, "{}: {out}", bundle.display());
        assert!(out.contains("nothing changed"), "{out}");
        for host in ["host-a", "host-b"] {
            assert!(
                out.lines().any(|l| l.contains(host) && l.contains(named)),
                "{host} names {named:?}:\n{out}"
            );
        }
        assert_eq!(
            (crisis_digest(&a), crisis_digest(&b)),
            (digest_of(&v2), digest_of(&v2))
        );
    }
    let (code, out) = fleet.jules(&["policy", "status"]);
    assert_eq!(code, 0, "a refused bundle leaves the fleet agreed:\n{out}");

    // Signed by a key only host-a trusts: host-a serves it, host-b keeps v2 and says why.
    let v3 = crisis_version(work.path(), "0.3.0", Some(&release));
    let (code, out) = fleet.activate(&v3, "new release key");
    assert_eq!(code, 1, "{out}");
    assert_eq!(crisis_digest(&a), digest_of(&v3));
    assert_eq!(crisis_digest(&b), digest_of(&v2));
    let (code, out) = fleet.jules(&["policy", "status"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.lines().any(|l| l.contains("host-b")
            && l.contains("\"release\", which is not in POLICY_TRUSTED_KEYS")),
        "{out}"
    );
    let health = json_body(&get(&b, "/health"));
    assert_eq!(health["status"], "degraded", "{health}");
    assert!(
        health["checks"]["policies"][CRISIS]["rollout_error"]["error"]
            .as_str()
            .unwrap()
            .contains("release")
    );

    let (sent, failed, errors) = sender.finish();
    assert!(sent > 20, "{sent} texts sent");
    assert_eq!(failed, 0, "{failed} of {sent} webhooks failed: {errors:?}");

    // host-b restarted with the key, and a host started now: both serve the desired
    // bundle, not their POLICY_DIR's.
    drop(host_b);
    let (host_b, b) = fleet.host("host-b", &both_keys);
    let (host_c, c) = fleet.host("host-c", &both_keys);
    assert_eq!(crisis_digest(&b), digest_of(&v3));
    assert_eq!(crisis_digest(&c), digest_of(&v3));
    let sender = Sender::start(vec![a.clone(), b.clone(), c.clone()]);

    // Roll back through host-a's admin API: every host serves v2 again.
    let url = format!("http://{a}");
    let viewer = fleet.token("auditor", "viewer");
    let (code, out) = fleet.jules(&[
        "policy",
        "rollback",
        CRISIS,
        "--reason",
        "too eager",
        "--admin",
        &url,
        "--token",
        &viewer,
    ]);
    assert_eq!(code, 2, "a viewer may not roll back: {out}");
    assert!(out.contains("403"), "{out}");
    let approver = fleet.token("lead@jules", "approver");
    let (code, out) = fleet.jules(&[
        "policy",
        "rollback",
        CRISIS,
        "--reason",
        "too eager",
        "--wait",
        WAIT,
        "--admin",
        &url,
        "--token",
        &approver,
    ]);
    assert_eq!(code, 0, "{out}");
    for host in [&a, &b, &c] {
        assert_eq!(crisis_digest(host), digest_of(&v2));
    }
    assert_assessed_by(&fleet.db.url, &[&a, &b, &c], &digest_of(&v2));
    let (code, out) = fleet.jules(&["policy", "status", "--admin", &url, "--token", &viewer]);
    assert_eq!(code, 0, "{out}");

    let (sent, failed, errors) = sender.finish();
    assert!(sent > 0, "{sent} texts sent");
    assert_eq!(failed, 0, "{failed} of {sent} webhooks failed: {errors:?}");

    let (code, out) = fleet.jules(&["policy", "history", CRISIS]);
    assert_eq!(code, 0, "{out}");
    let actions: Vec<&str> = out
        .lines()
        .map(|l| l.split_whitespace().nth(4).unwrap_or(""))
        .collect();
    assert_eq!(&actions[..3], ["rollback", "activate", "stage"], "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(
        lines[0].contains("by lead@jules"),
        "the token's subject: {out}"
    );
    assert!(
        lines[1..].iter().all(|l| l.contains("by cli:safety-lead")),
        "{out}"
    );
    assert!(
        out.contains("too eager") && out.contains("farewell messages were missed"),
        "{out}"
    );

    // Every crisis decision names a bundle that was served.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let rows = rt.block_on(async {
        let (client, conn) = tokio_postgres::connect(&fleet.db.url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(conn);
        client
            .query(
                "SELECT bundle_digest FROM policy_decisions WHERE world = $1",
                &[&CRISIS],
            )
            .await
            .unwrap()
    });
    assert!(rows.len() > 20, "{} decisions", rows.len());
    let known = [shipped, digest_of(&v2), digest_of(&v3)];
    for r in &rows {
        let digest: Option<String> = r.get(0);
        let digest = digest.expect("every decision names its bundle");
        assert!(known.contains(&digest), "{digest}");
    }
    drop((host_a, host_b, host_c));
}

fn wait_for_digest(addr: &str, digest: &str) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(40);
    while std::time::Instant::now() < deadline {
        if crisis_digest(addr) == digest {
            return true;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    false
}

#[test]
fn bundles_come_from_a_registry_and_a_host_that_cannot_reach_it_keeps_serving_then_catches_up() {
    let mut registry = crate::support::registry::Registry::start();
    let fleet = Fleet::new();
    let keys = crate::support::trusted_keys();
    let work = tempfile::tempdir().unwrap();
    let v2 = crisis_version(work.path(), "0.4.0", Some(signing_key()));
    let tag = format!("{}/jules/crisis:0.4.0", registry.addr);

    let (code, pushed) = fleet.jules(&["policy", "push", v2.to_str().unwrap(), &tag]);
    assert_eq!(code, 0, "{pushed}");
    let pinned = pushed.trim().to_string();
    assert!(
        pinned.starts_with(&format!("{}/jules/crisis@sha256:", registry.addr)),
        "{pinned}"
    );
    let pulled = work.path().join("pulled");
    let (code, out) = fleet.jules(&["policy", "pull", &tag, pulled.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(digest_of(&pulled), digest_of(&v2));
    assert!(pulled.join(SIGNATURE_FILE).exists());

    let (host_a, a) = fleet.host("host-a", &keys);
    let (code, out) = fleet.jules(&[
        "policy",
        "activate",
        CRISIS,
        &tag,
        "--reason",
        "from the registry",
        "--wait",
        WAIT,
    ]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(crisis_digest(&a), digest_of(&v2));
    let (_, history) = fleet.jules(&["policy", "history", CRISIS, "--limit", "1"]);
    assert!(
        history.contains(&pinned),
        "the tag is stored pinned to its manifest: {history}"
    );

    // The registry goes away. A change cannot be staged; a running host keeps serving;
    // a restarted one serves what it pulled before; a new one keeps its folder's
    // bundle, says why, and catches up once the registry is back.
    registry.pause();
    let v3 = crisis_version(work.path(), "0.5.0", Some(signing_key()));
    let tag3 = format!("{}/jules/crisis:0.5.0", registry.addr);
    let (code, out) = fleet.activate(Path::new(&tag3), "registry down");
    assert_eq!(code, 2, "{out}");
    assert!(out.contains("cannot resolve"), "{out}");
    drop(v3);
    drop(host_a);
    let (host_a, a) = fleet.host("host-a", &keys);
    assert_eq!(
        crisis_digest(&a),
        digest_of(&v2),
        "served from its own copy"
    );
    let (host_d, d) = fleet.host("host-d", &keys);
    assert_ne!(crisis_digest(&d), digest_of(&v2));
    let health = json_body(&get(&d, "/health"));
    assert_eq!(health["status"], "degraded", "{health}");
    let error = &health["checks"]["policies"][CRISIS]["rollout_error"]["error"];
    assert!(error.as_str().unwrap().contains("cannot pull"), "{health}");
    let (code, out) = fleet.jules(&["policy", "status"]);
    assert_eq!(code, 1, "{out}");
    assert!(
        out.lines()
            .any(|l| l.contains("host-d") && l.contains("cannot pull")),
        "{out}"
    );

    registry.resume();
    assert!(wait_for_digest(&d, &digest_of(&v2)), "host-d caught up");
    let (code, out) = fleet.jules(&["policy", "status"]);
    assert_eq!(code, 0, "{out}");
    drop((host_a, host_d));
}

/// One host on the embedded store with its admin API on an address of its own: an
/// author pushes a bundle through it, an approver activates it with the CLI (the host
/// is told in process: no notification reaches an embedded store), and a reviewer
/// works through a crisis event with `jules crisis`.
#[test]
fn one_embedded_host_is_run_through_its_own_admin_address() {
    use base64::Engine as _;
    let registry = crate::support::registry::Registry::start();
    let data = tempfile::tempdir().unwrap();
    let keys = crate::support::trusted_keys();
    let policies = crate::support::app::policy_dir().display().to_string();
    let env = [
        ("POLICY_DIR", policies.as_str()),
        ("POLICY_TRUSTED_KEYS", keys.as_str()),
        ("JWT_SECRET_KEY", crate::support::app::ADMIN_SECRET),
        ("ADMIN_ADDR", "127.0.0.1:0"),
    ];
    let (server, addr, banner, logs) = start_logged(data.path(), &env);
    std::thread::spawn(move || for _ in logs {});
    let admin = banner
        .lines()
        .find_map(|l| l.strip_prefix("jules: admin API on http://"))
        .unwrap_or_else(|| panic!("no admin address:\n{banner}"))
        .to_string();
    assert!(
        get(&addr, "/admin/v1/policies").starts_with("HTTP/1.1 404"),
        "the admin API is not beside the webhooks"
    );
    let token = |sub: &str, role: &str| crate::support::app::admin_token(sub, role);

    // An author uploads a bundle; the host pushes it to the registry.
    let work = tempfile::tempdir().unwrap();
    let v2 = crisis_version(work.path(), "0.6.0", Some(signing_key()));
    let read = |f: &str| std::fs::read_to_string(v2.join(f)).unwrap();
    let upload = serde_json::json!({
        "reference": format!("{}/jules/crisis:0.6.0", registry.addr),
        "manifest": read("bundle.toml"),
        "component": base64::engine::general_purpose::STANDARD
            .encode(std::fs::read(v2.join("component.wasm")).unwrap()),
        "config": read("config.json"),
        "signature": read(SIGNATURE_FILE),
    });
    let rt = tokio::runtime::Runtime::new().unwrap();
    let push = |role: &str| {
        rt.block_on(async {
            let r = jules::net::client(Duration::from_secs(60))
                .post(format!("http://{admin}/admin/v1/bundles"))
                .bearer_auth(token("ed", role))
                .json(&upload)
                .send()
                .await
                .unwrap();
            (
                r.status().as_u16(),
                r.json::<serde_json::Value>().await.unwrap(),
            )
        })
    };
    assert_eq!(push("viewer").0, 403);
    let (code, body) = push("author");
    assert_eq!(code, 201, "{body}");
    let pinned = body["reference"].as_str().unwrap().to_string();

    // The CLI through the admin API. The wait is generous: preparing the crisis bundle
    // in a debug build takes several seconds when the other tests load both cores.
    let url = format!("http://{admin}");
    let approver = token("ana", "approver");
    let out = Command::new(env!("CARGO_BIN_EXE_jules"))
        .args([
            "policy", "activate", CRISIS, &pinned, "--reason", "embedded", "--wait", "30",
        ])
        .args(["--admin", &url, "--token", &approver])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert_eq!(crisis_digest(&addr), digest_of(&v2));

    // A crisis event, reviewed with `jules crisis`.
    let auth = base64::engine::general_purpose::STANDARD.encode("any:thing");
    let reply = post_text(
        &addr,
        &auth,
        "emb-1",
        "+15554900001",
        "i want to kill myself tonight",
    );
    assert!(reply.starts_with("HTTP/1.1 2"), "{reply}");
    let reviewer = token("dr-lee", "reviewer");
    // `jules COMMAND ARGS --admin URL --token T`: exit status and all it printed.
    let through_admin = |command: &str, args: &[&str], tok: &str| {
        let out = Command::new(env!("CARGO_BIN_EXE_jules"))
            .arg(command)
            .args(args)
            .args(["--admin", &url, "--token", tok])
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr),
        )
    };
    let crisis = |args: &[&str], tok: &str| through_admin("crisis", args, tok);
    let mut listed = String::new();
    for _ in 0..100 {
        let (code, out) = crisis(&["list"], &reviewer);
        assert_eq!(code, 0, "{out}");
        if !out.trim().is_empty() {
            listed = out;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let id = listed
        .split_whitespace()
        .next()
        .expect("an open event")
        .to_string();
    assert!(!listed.contains("kill myself"), "{listed}");
    let (code, out) = crisis(&["show", &id], &token("vi", "viewer"));
    assert_eq!(code, 2, "a viewer may not open texts: {out}");
    let (code, out) = crisis(&["show", &id], &reviewer);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.lines()
            .any(|l| l.starts_with('!') && l.contains("kill myself")),
        "{out}"
    );
    let (code, out) = crisis(
        &["close", &id, "--outcome", "referred", "--note", "988 given"],
        &reviewer,
    );
    assert_eq!(code, 0, "{out}");
    let (code, out) = crisis(&["list"], &reviewer);
    assert_eq!((code, out.trim()), (0, ""), "closed");

    // A shadow through the CLI and the admin API; its texts only for an approver.
    let policy = |args: &[&str], tok: &str| through_admin("policy", args, tok);
    let v3 = crisis_version(work.path(), "0.7.0", Some(signing_key()));
    let args = ["shadow", CRISIS, v3.to_str().unwrap(), "--sample", "1"];
    let (code, out) = policy(&args, &token("au", "author"));
    assert_eq!(code, 0, "{out}");
    let mut seen = false;
    // Preparing the candidate compiles it: seconds in a debug build, more under load.
    for _ in 0..300 {
        if json_body(&get(&addr, "/health"))["checks"]["policies"][CRISIS]["shadow"].is_object() {
            seen = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(seen, "the host loaded the shadow");
    let reply = post_text(
        &addr,
        &auth,
        "emb-2",
        "+15554900002",
        "i feel so alone tonight",
    );
    assert!(reply.starts_with("HTTP/1.1 2"), "{reply}");
    let mut figures = String::new();
    for _ in 0..100 {
        let (code, out) = policy(&["shadow-report", CRISIS], &token("vi", "viewer"));
        assert_eq!(code, 0, "{out}");
        if out.contains("of 1 messages") {
            figures = out;
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert!(
        figures.contains("shadow agreed on 1 of 1 messages"),
        "{figures}"
    );
    let (code, out) = policy(
        &["shadow-report", CRISIS, "--show-text"],
        &token("vi", "viewer"),
    );
    assert_eq!(code, 2, "a viewer may not see texts: {out}");
    let direct = Command::new(env!("CARGO_BIN_EXE_jules"))
        .args(["policy", "shadow-report", CRISIS, "--show-text"])
        .env_remove("JULES_ADMIN_URL")
        .output()
        .unwrap();
    assert_eq!(direct.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&direct.stderr).contains("as an approver"));
    let (code, out) = policy(&["shadow", CRISIS, "--stop"], &token("au", "author"));
    assert_eq!(code, 0, "{out}");
    drop(server);
}
