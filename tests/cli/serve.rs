//! `jules serve` with no configuration: starts on the shipped policies and answers
//! /health and /ready.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};

use crate::support::fakes::Fake;
use crate::support::{TestDatabase, shipped_bundle, workspace};

pub(crate) fn get(addr: &str, path: &str) -> String {
    let mut s = TcpStream::connect(addr).expect("connect");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// Kills the server when the test ends, passing or failing.
pub(crate) struct Server(pub(crate) std::process::Child);

impl Drop for Server {
    fn drop(&mut self) {
        self.0.kill().ok();
        self.0.wait().ok();
    }
}

/// Start `jules serve` from the workspace with `env` on top of a clean environment;
/// returns the server, its address and what it printed before listening.
fn start(data: &std::path::Path, env: &[(&str, &str)]) -> (Server, String, String) {
    let (server, addr, banner, _logs) = start_logged(data, env);
    (server, addr, banner)
}

/// `start`, and every later line of its stderr.
pub(crate) fn start_logged(
    data: &std::path::Path,
    env: &[(&str, &str)],
) -> (Server, String, String, std::sync::mpsc::Receiver<String>) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_jules"));
    cmd.arg("serve")
        .current_dir(workspace())
        .env("PORT", "0")
        .env("DATA_DIR", data);
    for var in [
        "POLICY_DIR",
        "DATABASE_URL",
        "REDIS_URL",
        "ENCRYPTION_KEYS",
        "BLIND_INDEX_KEY",
    ] {
        cmd.env_remove(var);
    }
    cmd.envs(env.iter().copied());
    let mut server = Server(
        cmd.stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn jules serve"),
    );
    let mut stderr = BufReader::new(server.0.stderr.take().unwrap()).lines();
    let mut banner = String::new();
    for line in stderr.by_ref() {
        let line = line.unwrap();
        banner.push_str(&line);
        banner.push('\n');
        if let Some(a) = line.strip_prefix("jules: listening on http://") {
            // Keep reading, wanted or not: a closed pipe would fail the server's next
            // log line.
            let (tx, rx) = std::sync::mpsc::channel();
            std::thread::spawn(move || {
                for line in stderr.map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
            return (server, a.to_string(), banner, rx);
        }
    }
    panic!("no listening line:\n{banner}");
}

/// A fake Bandwidth that sends and a fake Anthropic, and the variables pointing a host
/// at them and at the test bundles (signed by the test key, no age gate).
pub(crate) struct Fakes {
    pub(crate) carrier: Fake,
    pub(crate) model: Fake,
    vars: Vec<(&'static str, String)>,
}

impl Fakes {
    pub(crate) fn start(runtime: &tokio::runtime::Runtime) -> Fakes {
        let (carrier, model) =
            runtime.block_on(async { (Fake::bandwidth().await, Fake::anthropic().await) });
        let vars = vec![
            ("BANDWIDTH_ACCOUNT_ID", "9900000".into()),
            ("BANDWIDTH_USERNAME", "api-user".into()),
            ("BANDWIDTH_PASSWORD", "api-pass".into()),
            ("BANDWIDTH_APPLICATION_ID", "app-1".into()),
            ("BANDWIDTH_NUMBER", "+15550001111".into()),
            ("BANDWIDTH_API_URL", carrier.url.clone()),
            ("ANTHROPIC_API_KEY", "sk-ant-test".into()),
            ("ANTHROPIC_BASE_URL", model.url.clone()),
            (
                "POLICY_DIR",
                crate::support::app::policy_dir().display().to_string(),
            ),
            ("POLICY_TRUSTED_KEYS", crate::support::trusted_keys()),
        ];
        Fakes {
            carrier,
            model,
            vars,
        }
    }

    /// The variables, then `more`.
    pub(crate) fn env<'a>(&'a self, more: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
        let mut env: Vec<(&str, &str)> = self.vars.iter().map(|(k, v)| (*k, v.as_str())).collect();
        env.extend_from_slice(more);
        env
    }
}

pub(crate) fn json_body(response: &str) -> serde_json::Value {
    let body = &response[response.find("\r\n\r\n").expect("a body") + 4..];
    serde_json::from_str(body).expect("json")
}

#[test]
fn serve_reports_its_policies_on_health() {
    shipped_bundle("crisis");
    let data = tempfile::tempdir().unwrap();
    let (server, addr, banner) = start(data.path(), &[]);
    assert!(banner.contains("DEVELOPMENT keys GENERATED in"), "{banner}");
    assert!(
        banner.contains("store  EMBEDDED embedded store"),
        "{banner}"
    );
    assert!(banner.contains("memory IN-PROCESS"), "{banner}");
    for (world, bundle) in [
        ("crisis-detector", "jules-crisis"),
        ("compliance-policy", "jules-compliance"),
        ("prompt-builder", "jules-prompt"),
    ] {
        assert!(
            banner
                .lines()
                .any(|l| l.contains(world) && l.contains(&format!("component {bundle} "))),
            "the banner names the active {world} bundle:\n{banner}"
        );
    }

    let health = get(&addr, "/health");
    let ready = get(&addr, "/ready");
    drop(server);

    assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    let json = json_body(&health);
    assert_eq!(json["status"], "healthy", "{json}");
    assert_eq!(json["checks"]["database"]["backend"], "embedded", "{json}");
    assert_eq!(json["checks"]["database"]["status"], "up", "{json}");
    assert_eq!(json["checks"]["redis"]["mode"], "in-process", "{json}");
    assert!(
        data.path().join("jules.sqlite3").exists(),
        "the embedded store is in DATA_DIR"
    );
    for world in ["crisis-detector", "compliance-policy", "prompt-builder"] {
        let p = &json["checks"]["policies"][world];
        assert_eq!(p["mode"], "component", "{world}: {json}");
        assert!(p["digest"].as_str().unwrap().starts_with("sha256:"));
    }
    assert!(ready.starts_with("HTTP/1.1 200"), "{ready}");
}

/// A host trusting one key: a bundle signed by another and a bundle changed after it
/// was signed are refused (their worlds run on the baseline, the reason logged); an
/// unsigned one is served in development and says so.
#[test]
fn bundles_whose_signatures_do_not_hold_are_refused_and_unsigned_is_marked() {
    use jules::policy::SigningIdentity;
    let data = tempfile::tempdir().unwrap();
    let policies = tempfile::tempdir().unwrap();
    for name in ["crisis", "compliance", "prompt"] {
        crate::support::copy_bundle(name, &policies.path().join(name));
    }
    let stranger = SigningIdentity::generate("stranger").unwrap();
    let crisis = jules::policy::BundleSource::read(&policies.path().join("crisis")).unwrap();
    std::fs::write(
        policies.path().join("crisis/signature.json"),
        serde_json::to_string(&stranger.sign(&crisis.manifest, &crisis.digest)).unwrap(),
    )
    .unwrap();
    crate::support::sign(&policies.path().join("compliance"));
    let config = policies.path().join("compliance/config.json");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, text.replacen("\"", "\" ", 1)).unwrap();

    let (dir, trusted) = (
        policies.path().display().to_string(),
        crate::support::trusted_keys(),
    );
    let env = [
        ("POLICY_DIR", dir.as_str()),
        ("POLICY_TRUSTED_KEYS", trusted.as_str()),
    ];
    let (server, addr, banner) = start(data.path(), &env);
    let health = json_body(&get(&addr, "/health"));
    drop(server);

    assert!(
        banner.contains("\"stranger\", which is not in POLICY_TRUSTED_KEYS"),
        "{banner}"
    );
    assert!(banner.contains("digest mismatch"), "{banner}");
    assert!(
        banner
            .lines()
            .any(|l| l.contains("prompt-builder") && l.contains("UNSIGNED")),
        "{banner}"
    );
    let policies = &health["checks"]["policies"];
    assert_eq!(
        policies["crisis-detector"]["mode"], "native-baseline",
        "{health}"
    );
    assert_eq!(
        policies["compliance-policy"]["mode"], "native-baseline",
        "{health}"
    );
    assert_eq!(
        policies["prompt-builder"]["signature"], "unsigned (development only)",
        "{health}"
    );
    assert_eq!(health["status"], "degraded", "{health}");
}

#[test]
fn an_invalid_variable_is_named() {
    let out = Command::new(env!("CARGO_BIN_EXE_jules"))
        .arg("serve")
        .env("POLICY_DEADLINE_MS", "soon")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("POLICY_DEADLINE_MS"), "{err}");
}

#[test]
fn production_without_keys_does_not_start() {
    let data = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_jules"))
        .arg("serve")
        .current_dir(workspace())
        .env("ENVIRONMENT", "production")
        .env("PORT", "0")
        .env("DATA_DIR", data.path())
        .env_remove("ENCRYPTION_KEYS")
        .env_remove("BLIND_INDEX_KEY")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ENCRYPTION_KEYS is not set"), "{err}");
}

/// Production with keys but development stand-ins: refused, each one named.
#[test]
fn production_refuses_every_development_stand_in() {
    use base64::Engine as _;
    let data = tempfile::tempdir().unwrap();
    let b64 = |b: u8| base64::engine::general_purpose::STANDARD.encode([b; 32]);
    let out = Command::new(env!("CARGO_BIN_EXE_jules"))
        .arg("serve")
        .current_dir(workspace())
        .env("ENVIRONMENT", "production")
        .env("PORT", "0")
        .env("DATA_DIR", data.path())
        .env("ENCRYPTION_KEYS", format!("k1:{}", b64(7)))
        .env("BLIND_INDEX_KEY", b64(9))
        .env_remove("POLICY_DIR")
        .env_remove("DATABASE_URL")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_names(
        &err,
        &[
            "production refuses to start",
            "no carrier: replies would only be printed",
            "offline responder",
            "holds a placeholder contact",
            "POLICY_TRUSTED_KEYS: no trusted signing key",
            "VERIFF_API_KEY (for policies/compliance/config.json): the bundle asks new people to verify their age",
        ],
    );
    assert!(!err.contains("listening"), "{err}");
}

#[tokio::test]
async fn serve_on_postgres_and_redis_migrates_and_reports_a_lost_database() {
    shipped_bundle("crisis");
    let db = TestDatabase::create().await;
    let redis = crate::support::redis::shared().await;
    let data = tempfile::tempdir().unwrap();
    let env = [
        ("DATABASE_URL", db.url.as_str()),
        ("REDIS_URL", redis.as_str()),
    ];
    let (server, addr, banner) = start(data.path(), &env);
    assert!(
        banner.contains("migrated 0001_initial") && banner.contains("migrated 0003_claims"),
        "{banner}"
    );
    assert!(
        banner.contains("store  postgres 127.0.0.1:5432/jules_test_"),
        "{banner}"
    );
    assert!(banner.contains("memory redis"), "{banner}");
    // Without autovacuum nothing gathers the statistics the host's plans rely on.
    let client = jules::store::migrate::connect(&db.url).await.unwrap();
    let autovacuum: String = client
        .query_one("SELECT current_setting('autovacuum')", &[])
        .await
        .unwrap()
        .get(0);
    assert_eq!(
        banner.contains("WITHOUT AUTOVACUUM"),
        autovacuum == "off",
        "autovacuum {autovacuum}: {banner}"
    );
    let json = json_body(&get(&addr, "/health"));
    assert_eq!(json["status"], "healthy", "{json}");
    assert_eq!(json["checks"]["database"]["backend"], "postgres");
    assert_eq!(json["checks"]["redis"]["mode"], "redis");
    assert_eq!(json["checks"]["redis"]["status"], "up");

    drop(db); // drops the database under the running server
    let health = get(&addr, "/health");
    drop(server);
    assert!(health.starts_with("HTTP/1.1 503"), "{health}");
    let json = json_body(&health);
    assert_eq!(json["status"], "unhealthy", "{json}");
    assert_eq!(json["checks"]["database"]["status"], "down", "{json}");
}

#[tokio::test]
async fn serve_refuses_an_old_schema_when_told_not_to_migrate() {
    let db = TestDatabase::create().await;
    let data = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_jules"))
        .arg("serve")
        .current_dir(workspace())
        .env("PORT", "0")
        .env("DATA_DIR", data.path())
        .env("DATABASE_URL", &db.url)
        .env("MIGRATE_ON_START", "false")
        .env_remove("REDIS_URL")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("0001_initial, 0002_pipeline, 0003_claims, 0004_sends, 0005_rejected_events, 0006_compliance_events, 0007_key_checks, 0008_policy_rollout, 0009_crisis_review, 0010_shadow, 0011_age_checks, 0012_erasure, 0013_billing pending")
            && err.contains("jules migrate"),
        "{err}"
    );
}

#[test]
fn store_and_memory_settings_are_checked() {
    for (name, value) in [
        ("DATABASE_POOL_SIZE", "0"),
        ("REDIS_SESSION_TTL", "forever"),
        ("MIGRATE_ON_START", "maybe"),
        ("MEMORY_TURNS", "-3"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_jules"))
            .arg("serve")
            .env(name, value)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{name}: {err}");
        assert!(err.contains(name), "{err}");
    }
}

pub(crate) fn post_text(addr: &str, auth: &str, id: &str, from: &str, text: &str) -> String {
    let body = serde_json::json!([{
        "type": "message-received", "time": "2026-11-26T08:00:00.000Z", "to": "+15550001111",
        "description": "Incoming message received",
        "message": {"id": id, "owner": "+15550001111", "applicationId": "app",
                    "time": "2026-11-26T08:00:00.000Z", "segmentCount": 1, "direction": "in",
                    "to": ["+15550001111"], "from": from, "text": text, "media": []}
    }])
    .to_string();
    let mut s = TcpStream::connect(addr).expect("connect");
    write!(
        s,
        "POST /webhooks/bandwidth HTTP/1.1\r\nHost: {addr}\r\nAuthorization: Basic {auth}\r\n\
         X-Request-Id: req-{id}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// Log lines until `n` more of them contain `what` (30 s at most).
fn read_until(logs: &std::sync::mpsc::Receiver<String>, what: &str, n: usize) -> Vec<String> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let (mut lines, mut seen) = (Vec::new(), 0);
    while seen < n {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match logs.recv_timeout(left) {
            Ok(line) => {
                seen += usize::from(line.contains(what));
                lines.push(line);
            }
            Err(_) => panic!("{seen} of {n} lines with {what:?} after 30 s:\n{lines:#?}"),
        }
    }
    lines
}

/// Production logs are JSON lines for the log pipeline, carry the request id, and never
/// hold what people wrote or their numbers — not even for a crisis.
#[test]
fn production_logs_are_json_without_texts_or_phone_numbers() {
    use base64::Engine as _;
    shipped_bundle("crisis");
    let data = tempfile::tempdir().unwrap();
    let b64 = |b: u8| base64::engine::general_purpose::STANDARD.encode([b; 32]);
    let (keys, blind) = (format!("k1:{}", b64(7)), b64(9));
    // Production sends through a real carrier and asks a real model: fakes of both.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let fakes = Fakes::start(&runtime);
    let env = fakes.env(&[
        ("ENVIRONMENT", "production"),
        ("ENCRYPTION_KEYS", keys.as_str()),
        ("BLIND_INDEX_KEY", blind.as_str()),
        ("LOG_LEVEL", "info"),
        ("BANDWIDTH_WEBHOOK_USERNAME", "hook"),
        ("BANDWIDTH_WEBHOOK_PASSWORD", "secret"),
    ]);
    let (server, addr, _banner, logs) = start_logged(data.path(), &env);
    let good = base64::engine::general_purpose::STANDARD.encode("hook:secret");
    let bad = base64::engine::general_purpose::STANDARD.encode("hook:guess");
    let phone = "+15557654321";
    let wrong = post_text(&addr, &bad, "m0", phone, "my cat Zanzibar says hi");
    assert!(wrong.starts_with("HTTP/1.1 403"), "{wrong}");
    let ok = post_text(&addr, &good, "m1", phone, "my cat Zanzibar says hi");
    assert!(ok.starts_with("HTTP/1.1 2"), "{ok}");
    let mut lines = read_until(&logs, "\"sent\"", 1);
    let ok = post_text(&addr, &good, "m2", phone, "i want to kill myself tonight");
    assert!(ok.starts_with("HTTP/1.1 2"), "{ok}");
    // Crisis resources and the reply.
    lines.extend(read_until(&logs, "\"sent\"", 2));
    drop(server);

    let text = lines.join("\n");
    assert!(text.contains("crisis escalated for human review"), "{text}");
    for line in &lines {
        let json: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|e| panic!("not a JSON line ({e}): {line}"));
        assert!(
            json["level"].is_string() && json["fields"].is_object(),
            "{line}"
        );
    }
    for secret in ["5557654321", "Zanzibar", "kill myself"] {
        assert!(!text.contains(secret), "{secret:?} in the logs:\n{text}");
    }
    // A request's lines carry the id it came with.
    let refused = lines
        .iter()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .find(|j| j["fields"]["message"] == "bandwidth webhook with wrong credentials")
        .unwrap_or_else(|| panic!("no line for the refused request:\n{text}"));
    assert_eq!(refused["span"]["id"], "req-m0", "{refused}");
}

/// A request that stalls is answered (503) once REQUEST_TIMEOUT_MS passes, not held open.
#[test]
fn a_stalled_request_is_cut_off_at_the_time_limit() {
    let data = tempfile::tempdir().unwrap();
    let (_server, addr, _) = start(data.path(), &[("REQUEST_TIMEOUT_MS", "300")]);
    let mut s = TcpStream::connect(&addr).expect("connect");
    // Promises 100 bytes of body and sends 10.
    write!(
        s,
        "POST /webhooks/bandwidth HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\n\
         Content-Length: 100\r\n\r\n[{{\"type\":"
    )
    .unwrap();
    s.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let out = String::from_utf8_lossy(&out);
    assert!(out.starts_with("HTTP/1.1 503"), "{out}");
}

/// Keys that are not the ones the stored data was sealed with stop the start, in every
/// environment: here the development keys file was lost and new keys were generated.
#[test]
fn a_host_whose_keys_do_not_match_the_stored_data_refuses_to_start() {
    let data = tempfile::tempdir().unwrap();
    let (server, _addr, _banner) = start(data.path(), &[]);
    drop(server);
    std::fs::remove_file(data.path().join(jules::crypto::DEV_KEYS_FILE)).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_jules"))
        .arg("serve")
        .current_dir(workspace())
        .env("PORT", "0")
        .env("DATA_DIR", data.path())
        .env_remove("DATABASE_URL")
        .env_remove("ENCRYPTION_KEYS")
        .env_remove("BLIND_INDEX_KEY")
        .env_remove("POLICY_DIR")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("ENCRYPTION_KEYS: key") && err.contains("would not open"),
        "{err}"
    );
}

/// `jules config check` lists what production would refuse, whatever the environment.
#[test]
fn config_check_names_every_stand_in_production_would_refuse() {
    let out = Command::new(env!("CARGO_BIN_EXE_jules"))
        .args(["config", "check"])
        .current_dir(workspace())
        .env("ENVIRONMENT", "development")
        .env("TWILIO_AUTH_TOKEN", "tok")
        .env("PUBLIC_URL", "https://jules.example.org")
        .env("BANDWIDTH_ACCOUNT_ID", "9900000")
        .env("BANDWIDTH_USERNAME", "u")
        .env("BANDWIDTH_PASSWORD", "p")
        .env("BANDWIDTH_APPLICATION_ID", "app")
        .env("BANDWIDTH_NUMBER", "+15550001111")
        .env_remove("ENCRYPTION_KEYS")
        .env_remove("ANTHROPIC_API_KEY")
        .env_remove("OPENAI_API_KEY")
        .env_remove("BANDWIDTH_WEBHOOK_USERNAME")
        .env_remove("POLICY_DIR")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert_names(
        &text,
        &[
            "ENCRYPTION_KEYS, BLIND_INDEX_KEY",
            "TWILIO_ACCOUNT_SID: Twilio callbacks are accepted",
            "BANDWIDTH_WEBHOOK_USERNAME, BANDWIDTH_WEBHOOK_PASSWORD",
            "ANTHROPIC_API_KEY or OPENAI_API_KEY",
            "policies/compliance/config.json: holds a placeholder contact",
        ],
    );
}

/// Every one of `names` appears in `text` (what production refuses, each named).
fn assert_names(text: &str, names: &[&str]) {
    for named in names {
        assert!(text.contains(named), "{named:?} in:\n{text}");
    }
}

#[test]
fn serve_help_lists_every_variable_with_its_default() {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_jules"))
        .args(["serve", "--help"])
        .output()
        .expect("run jules serve --help");
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    let variables = jules::config::reference::variables();
    assert!(variables.len() > 40);
    for (v, value) in variables {
        let line = help
            .lines()
            .find(|l| l.split_whitespace().next() == Some(v.name))
            .unwrap_or_else(|| panic!("{} is not in serve --help:\n{help}", v.name));
        match value {
            Some(value) if !value.is_empty() => {
                assert!(line.contains(&format!("default {value}")), "{line}")
            }
            _ => assert!(line.contains("unset"), "{line}"),
        }
    }
    assert!(
        help.lines()
            .any(|l| l.starts_with("  ENCRYPTION_KEYS") && l.contains("required in production")),
        "{help}"
    );
}
