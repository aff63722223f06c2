//! Shadows on live traffic: the candidate sees sampled messages after the active
//! bundle decided; its decisions are recorded beside the active ones and never reach
//! anyone; a failing candidate is contained; a full queue drops and counts. Crisis,
//! compliance and prompt building each have their own.

use std::sync::atomic::Ordering;
use std::time::Duration;

use jules::policy::ShadowStats;
use jules::rollout::{Source, shadow};
use jules_policy_model::World;

use crate::support::app::{Options, TestApp, policy_dir};
use crate::support::{copy_bundle_from, sign, temp_bundle, test_component};

const CRISIS: World = World::CrisisDetector;

/// The crisis bundle plus one rule: "long day at the office" is self-harm.
fn eager_candidate(dir: &std::path::Path) -> std::path::PathBuf {
    changed_bundle(dir, "crisis", |config| {
        config["rules"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!({
                "id": "test.long-day", "category": "self-harm", "severity": "moderate",
                "note": "a test rule that flags too much", "patterns": ["long day at the office"]
            }))
    })
}

async fn set(app: &TestApp, source: &std::path::Path, sample: f64) {
    set_for(app, CRISIS, source, sample).await
}

async fn set_for(app: &TestApp, world: World, source: &std::path::Path, sample: f64) {
    let agent = app.running.rollout.clone();
    shadow::start(
        app.running.pipeline.store.db(),
        world,
        &Source::Folder(source.to_path_buf()),
        sample,
        "tester",
        "try it",
        &move || agent.wake(),
    )
    .await
    .unwrap();
    let policies = &app.running.policies;
    // Preparing a candidate compiles it; under a loaded debug build that takes seconds.
    for _ in 0..600 {
        let digest = policies.shadow(world).map(|s| (s.bundle.digest, s.sample));
        if digest.as_ref().is_some_and(|(_, s)| *s == sample) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the shadow was never set");
}

/// Wait until every sampled message has a recorded decision; the counts of all
/// `hosts` together (any host may answer a text).
async fn drained(hosts: &[&ShadowStats]) -> (u64, u64, u64, u64) {
    for _ in 0..200 {
        let load = |c: fn(&ShadowStats) -> &std::sync::atomic::AtomicU64| -> u64 {
            hosts.iter().map(|s| c(s).load(Ordering::Relaxed)).sum()
        };
        let (sampled, agreed, disagreed, failed) = (
            load(|s| &s.sampled),
            load(|s| &s.agreed),
            load(|s| &s.disagreed),
            load(|s| &s.failed),
        );
        if sampled == agreed + disagreed + failed {
            return (sampled, agreed, disagreed, failed);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the shadow never caught up");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_shadow_that_flags_more_is_reported_and_never_answers() {
    let app = TestApp::start(Options::default()).await;
    let other = TestApp::start(Options {
        beside: Some(app.shared()),
        ..Options::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let eager = eager_candidate(dir.path());
    set(&app, &eager, 1.0).await;
    shadowing(&other, true).await;

    let (tired, fine, danger) = ("+15557810001", "+15557810002", "+15557810003");
    app.text("sh-1", tired, "long day at the office, glad it's over")
        .await;
    app.text("sh-2", fine, "what should i cook tonight").await;
    app.text("sh-3", danger, "i want to kill myself tonight")
        .await;
    app.run_until_idle().await;
    let stats = [&app, &other].map(|a| a.running.policies.shadow_stats(CRISIS));
    let (sampled, agreed, disagreed, failed) = drained(&stats).await;
    assert_eq!((sampled, agreed, disagreed, failed), (3, 2, 1, 0));

    // Only the active bundle acted: one crisis event, resources to one person.
    let events: i64 = app.sql_one("SELECT count(*) FROM crisis_events").await;
    assert_eq!(events, 1);
    let to_tired = app.sent_to(tired);
    assert_eq!(
        to_tired.len(),
        1,
        "one reply, no crisis resources: {to_tired:?}"
    );
    assert!(!to_tired[0].contains("988"), "{to_tired:?}");

    let report = shadow::report(
        app.running.pipeline.store.db(),
        CRISIS,
        Duration::from_secs(3600),
    )
    .await
    .unwrap();
    assert_eq!(report.decisions.len(), 3);
    let extra = report.extra_escalations();
    assert_eq!(extra.len(), 1, "{}", report.render(10));
    let tired_id: uuid::Uuid = app
        .sql_one("SELECT id FROM messages WHERE carrier_message_id = 'sh-1'")
        .await;
    assert_eq!(extra[0].message_id, tired_id);
    assert!(report.missed_escalations().is_empty());
    let text = report.render(10);
    assert!(text.contains("agreement 66.7%"), "{text}");
    assert!(
        !text.contains("long day"),
        "the report holds no text: {text}"
    );

    // Promote: the candidate, as it is, goes active; the shadow stops.
    let agent = app.running.rollout.clone();
    let (applied, _) = shadow::promote(
        app.running.pipeline.store.db(),
        CRISIS,
        "lead",
        "it catches more",
        None,
        Duration::from_secs(20),
        &move || agent.wake(),
    )
    .await
    .unwrap();
    let digest = applied.desired.active.as_ref().unwrap().digest.clone();
    assert_eq!(
        digest,
        jules::policy::BundleSource::read(&eager)
            .unwrap()
            .digest
            .to_string()
    );
    assert!(applied.converged(), "{:?}", applied.hosts);
    assert_eq!(
        app.running
            .policies
            .active(CRISIS)
            .unwrap()
            .digest
            .to_string(),
        digest
    );
    let history = app
        .running
        .pipeline
        .store
        .db()
        .policy_history(Some("crisis-detector"), 5)
        .await
        .unwrap();
    assert_eq!(history[0].action, "shadow-stop");
    assert!(
        history[1]
            .reason
            .contains("promoted from shadow: shadow agreed on 2 of 3"),
        "{:?}",
        history[1]
    );
    shadowing(&app, false).await;
    // The other host: told by the store's notification, it serves the promoted bundle.
    for _ in 0..100 {
        if other
            .running
            .policies
            .active(CRISIS)
            .unwrap()
            .digest
            .to_string()
            == digest
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        other
            .running
            .policies
            .active(CRISIS)
            .unwrap()
            .digest
            .to_string(),
        digest
    );
    shadowing(&other, false).await;
}

/// Wait until `app` has (or has no) crisis shadow.
async fn shadowing(app: &TestApp, yes: bool) {
    for _ in 0..200 {
        if app.running.policies.shadow(CRISIS).is_some() == yes {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "the shadow was never {}",
        if yes { "set" } else { "stopped" }
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_shadow_is_contained_sampling_is_honoured_and_a_full_queue_drops() {
    let app = TestApp::start(Options {
        shadow_queue: 1,
        ..Options::default()
    })
    .await;
    let broken = temp_bundle(
        &test_component("misbehave"),
        "crisis-detector",
        "0.1.0",
        "shadow",
    );
    sign(broken.path());
    let stats = app.running.policies.shadow_stats(CRISIS);

    // Sample 0: nothing goes to the shadow.
    set(&app, broken.path(), 0.0).await;
    app.text("q-0", "+15557820000", "trap").await;
    app.run_until_idle().await;
    assert_eq!(stats.sampled.load(Ordering::Relaxed), 0);

    // Sample 1: a trapping and a looping candidate are contained; replies go out.
    set(&app, broken.path(), 1.0).await;
    app.text("q-1", "+15557820001", "trap").await;
    app.run_until_idle().await;
    app.text("q-2", "+15557820002", "loop").await;
    app.run_until_idle().await;
    let (sampled, _, _, failed) = drained(&[stats]).await;
    assert_eq!((sampled, failed), (2, 2));
    for who in ["+15557820001", "+15557820002"] {
        assert_eq!(app.sent_to(who).len(), 1, "{who} was answered");
    }

    // A burst while the shadow spins to its deadline: the queue of one overflows.
    for i in 0..20 {
        app.text(&format!("b-{i}"), &format!("+155578301{i:02}"), "loop")
            .await;
    }
    app.run_until_idle().await;
    drained(&[stats]).await;
    assert!(
        stats.dropped.load(Ordering::Relaxed) > 0,
        "dropped and counted"
    );
    for i in 0..20 {
        assert_eq!(app.sent_to(&format!("+155578301{i:02}")).len(), 1);
    }
    let health = app.health().await;
    let shadow = &health["checks"]["policies"]["crisis-detector"]["shadow"];
    assert!(shadow["dropped"].as_u64().unwrap() > 0, "{health}");
    assert_eq!(shadow["sample"], 1.0);
}

/// The shipped crisis bundle with its corpus (for the diff against it), signed; with
/// `weaken`, one rule removed.
fn full_crisis(dir: &std::path::Path, name: &str, weaken: bool) -> std::path::PathBuf {
    let bundle = dir.join(name);
    let shipped = crate::support::shipped_bundle("crisis");
    std::fs::create_dir_all(&bundle).unwrap();
    for file in [
        "bundle.toml",
        "component.wasm",
        "config.json",
        "corpus.jsonl",
    ] {
        std::fs::copy(shipped.join(file), bundle.join(file)).unwrap();
    }
    if weaken {
        let path = bundle.join("config.json");
        let mut config: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        config["rules"]
            .as_array_mut()
            .unwrap()
            .retain(|r| r["id"] != "suicide.kill-myself");
        std::fs::write(&path, config.to_string()).unwrap();
    }
    sign(&bundle);
    bundle
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crisis_regression_is_refused_unless_accepted_with_a_reason() {
    use jules::rollout::control::{self, Activation, ControlError};
    let app = TestApp::start(Options::default()).await;
    let db = app.running.pipeline.store.db();
    let agent = app.running.rollout.clone();
    let told = move || agent.wake();
    let dir = tempfile::tempdir().unwrap();
    let (full, weak) = (
        full_crisis(dir.path(), "full", false),
        full_crisis(dir.path(), "weak", true),
    );
    let activation = |source: &'static Source, accept: Option<&'static str>| Activation {
        world: CRISIS,
        source,
        subject: "lead",
        reason: "new lexicon",
        accept_regression: accept,
        wait: Duration::from_secs(20),
    };
    let full: &'static Source = Box::leak(Box::new(Source::Folder(full)));
    let weak: &'static Source = Box::leak(Box::new(Source::Folder(weak)));
    control::activate(db, &activation(full, None), &told)
        .await
        .unwrap();

    // The weaker bundle shadows live traffic first: it misses a person the active one
    // escalates.
    let Source::Folder(weak_dir) = weak else {
        unreachable!()
    };
    set(&app, weak_dir, 1.0).await;
    app.text("g-1", "+15557840001", "i just want to end it all")
        .await;
    app.run_until_idle().await;
    drained(&[app.running.policies.shadow_stats(CRISIS)]).await;

    let refused = control::activate(db, &activation(weak, None), &told).await;
    let Err(ControlError::Regression(why)) = refused else {
        panic!("not refused: {refused:?}")
    };
    assert!(
        why.contains("its shadow left 1 live message(s) unescalated"),
        "{why}"
    );
    assert!(
        why.contains("against the active bundle on its corpora"),
        "{why}"
    );
    assert!(why.contains("regression(s)"), "{why}");
    let before = app.running.policies.active(CRISIS).unwrap().digest;

    let applied = control::activate(
        db,
        &activation(
            weak,
            Some("the old rule fires on song lyrics; the model covers it"),
        ),
        &told,
    )
    .await
    .unwrap();
    assert!(applied.converged());
    assert_ne!(app.running.policies.active(CRISIS).unwrap().digest, before);
    let history = db.policy_history(Some("crisis-detector"), 1).await.unwrap();
    assert!(
        history[0]
            .reason
            .contains("[accepted regression: the old rule fires on song lyrics"),
        "{:?}",
        history[0]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_admin_api_sets_a_shadow_for_authors_and_opens_its_texts_for_approvers_on_record() {
    use crate::support::app::admin_token;
    let app = TestApp::start(Options::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let eager = eager_candidate(dir.path());
    let http =
        |method: reqwest::Method, path: &str, role: &str, body: Option<serde_json::Value>| {
            let mut r = app
                .http
                .request(
                    method,
                    format!("{}/admin/v1/policies/crisis-detector/{path}", app.base),
                )
                .bearer_auth(admin_token(&format!("{role}-1"), role));
            if let Some(b) = body {
                r = r.json(&b);
            }
            async move {
                let response = r.send().await.unwrap();
                let code = response.status().as_u16();
                (code, response.json::<serde_json::Value>().await.unwrap())
            }
        };
    let set_it = serde_json::json!({ "source": eager.display().to_string(), "sample": 1.0 });
    let (code, _) = http(
        reqwest::Method::POST,
        "shadow",
        "viewer",
        Some(set_it.clone()),
    )
    .await;
    assert_eq!(code, 403);
    let (code, body) = http(reqwest::Method::POST, "shadow", "author", Some(set_it)).await;
    assert_eq!(code, 200, "{body}");
    shadowing(&app, true).await;

    app.text(
        "ad-1",
        "+15557850001",
        "long day at the office, glad it's over",
    )
    .await;
    app.run_until_idle().await;
    drained(&[app.running.policies.shadow_stats(CRISIS)]).await;

    let (code, report) = http(reqwest::Method::GET, "shadow-report", "viewer", None).await;
    assert_eq!(code, 200, "{report}");
    assert_eq!(report["extra_escalations"], 1, "{report}");
    let row = &report["disagreements"][0];
    assert!(row["text"].is_null(), "no text without show_text: {report}");
    let (code, _) = http(
        reqwest::Method::GET,
        "shadow-report?show_text=true",
        "viewer",
        None,
    )
    .await;
    assert_eq!(code, 403, "only approvers open texts");
    let (code, report) = http(
        reqwest::Method::GET,
        "shadow-report?show_text=true",
        "approver",
        None,
    )
    .await;
    assert_eq!(code, 200, "{report}");
    assert_eq!(
        report["disagreements"][0]["text"],
        "long day at the office, glad it's over"
    );
    let opened: i64 = app
        .sql_one("SELECT count(*) FROM message_access WHERE subject = 'approver-1' AND purpose = 'shadow-report'")
        .await;
    assert_eq!(opened, 1);

    let (code, body) = http(
        reqwest::Method::POST,
        "shadow",
        "author",
        Some(serde_json::json!({ "stop": true })),
    )
    .await;
    assert_eq!(code, 200, "{body}");
    shadowing(&app, false).await;
}

/// The bundle the test hosts run (`policy_dir`) copied to `dir/name` with `change`
/// made to its config, signed.
fn changed_bundle(
    dir: &std::path::Path,
    name: &str,
    change: impl FnOnce(&mut serde_json::Value),
) -> std::path::PathBuf {
    let bundle = dir.join(name);
    copy_bundle_from(&policy_dir().join(name), &bundle);
    let path = bundle.join("config.json");
    let mut config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    change(&mut config);
    std::fs::write(&path, config.to_string()).unwrap();
    sign(&bundle);
    bundle
}

/// A compliance candidate that also opts out on "ALTO" and a prompt candidate with
/// another persona line: each disagrees where it should, is reported by its own
/// labels, and nobody is opted out or answered by a candidate.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn compliance_and_prompt_shadows_are_compared_and_never_act() {
    let app = TestApp::start(Options::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let compliance = changed_bundle(dir.path(), "compliance", |c| {
        c["keywords"]["opt-out"]
            .as_array_mut()
            .unwrap()
            .push("ALTO".into())
    });
    let prompt = changed_bundle(dir.path(), "prompt", |c| {
        c["persona"][0] = "You are Jules, a calm, patient companion people text.".into()
    });
    let (compliance_world, prompt_world) = (World::CompliancePolicy, World::PromptBuilder);
    set_for(&app, compliance_world, &compliance, 1.0).await;
    set_for(&app, prompt_world, &prompt, 1.0).await;

    let (halt, chat) = ("+15557820001", "+15557820002");
    app.text("cp-1", halt, "ALTO").await;
    app.text("cp-2", chat, "how was your weekend").await;
    app.run_until_idle().await;
    let policies = &app.running.policies;
    let db = app.running.pipeline.store.db();
    let hour = Duration::from_secs(3600);
    let seen = drained(&[policies.shadow_stats(compliance_world)]).await;
    assert_eq!(
        seen,
        (2, 1, 1, 0),
        "only ALTO is decided differently: {}",
        shadow::report(db, compliance_world, hour)
            .await
            .unwrap()
            .render(5)
    );
    assert_eq!(
        drained(&[policies.shadow_stats(prompt_world)]).await,
        (2, 0, 2, 0),
        "both replies were asked for with the other persona"
    );

    // The active bundles acted: ALTO is not an opt-out, and was answered.
    let to_halt = app.sent_to(halt);
    assert_eq!(to_halt.len(), 1, "{to_halt:?}");
    assert!(!to_halt[0].contains("unsubscribed"), "{to_halt:?}");
    let opted_out: i64 = app
        .sql_one("SELECT count(*) FROM users WHERE status = 'opted_out'")
        .await;
    assert_eq!(opted_out, 0);

    let report = shadow::report(db, compliance_world, hour).await.unwrap();
    assert_eq!(
        report.parts.get("opt-out"),
        Some(&(0, 0, 1)),
        "{:?}",
        report.parts
    );
    assert_eq!(
        report.parts.get("call-llm").map(|p| p.0),
        Some(1),
        "{:?}",
        report.parts
    );
    let halt_id: uuid::Uuid = app
        .sql_one("SELECT id FROM messages WHERE carrier_message_id = 'cp-1'")
        .await;
    let disagreeing: Vec<_> = report.decisions.iter().filter(|d| !d.agreed).collect();
    assert_eq!(disagreeing.len(), 1);
    assert_eq!(disagreeing[0].message_id, halt_id);
    assert!(report.extra_escalations().is_empty());
    assert_eq!(
        report.figures(),
        "shadow agreed on 1 of 2 messages; 0 failed"
    );
    let text = report.render(10);
    assert!(text.contains("actions: active (rows)"), "{text}");
    assert!(!text.contains("ALTO"), "the report holds no text: {text}");

    let report = shadow::report(db, prompt_world, hour).await.unwrap();
    assert_eq!((report.decisions.len(), report.agreed()), (2, 0));
    let text = report.render(10);
    assert!(text.contains("prompt mode/max tokens"), "{text}");
    assert!(
        report
            .labels
            .keys()
            .all(|(a, c)| a == c && a.starts_with("companion/")),
        "same mode, other wording: {:?}",
        report.labels
    );
    assert!(!text.contains("calm, patient"), "{text}");
}
