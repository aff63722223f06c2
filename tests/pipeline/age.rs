//! Age verification end to end with the shipped (age-gated) compliance bundle: Veriff
//! (a fake speaking WIRE.md's format) opens a session whose link is texted; its signed
//! decision, posted to `/webhooks/veriff`, settles the person's age and tells them. And
//! in development without Veriff, the stand-in that believes a texted date of birth.

use serde_json::{Value, json};

use crate::support::app::{Options, TestApp, VERIFF_KEY, VERIFF_SECRET};
use crate::support::fakes::{Answer, veriff_link};

const CRISIS: &str = "i want to kill myself tonight";
const CONFIRMED: &str = "your age is confirmed";

async fn gated(veriff: bool) -> TestApp {
    TestApp::start(Options {
        age_gate: true,
        veriff,
        ..Options::default()
    })
    .await
}

/// The `vendorData` the host gave Veriff when it opened session `n`.
fn vendor_data(app: &TestApp, n: usize) -> String {
    let seen = &app.veriff.seen()[n];
    seen.json()["verification"]["vendorData"]
        .as_str()
        .expect("vendorData")
        .to_string()
}

/// A decision webhook as Veriff sends it (WIRE.md).
fn decision(
    app: &TestApp,
    n: usize,
    status: &str,
    code: i64,
    birth: Option<&str>,
    at: &str,
) -> Value {
    json!({
        "status": "success",
        "verification": {
            "id": format!("session-{n}"),
            "attemptId": format!("attempt-{n}"),
            "code": code,
            "status": status,
            "reason": null,
            "reasonCode": null,
            "vendorData": vendor_data(app, n),
            "decisionTime": at,
            "acceptanceTime": "2026-12-01T10:00:00.000Z",
            "person": {"firstName": "SAM", "lastName": "DOE", "dateOfBirth": birth, "idNumber": null},
            "document": {"number": "X1234567", "type": "DRIVERS_LICENSE", "country": "US"}
        },
        "technicalData": {"ip": "192.0.2.1"}
    })
}

/// Post `body` to `/webhooks/veriff` with `signature` (None: the right one).
async fn post(app: &TestApp, body: &[u8], signature: Option<&str>) -> (u16, Value) {
    let right = jules::age::veriff::signature(VERIFF_SECRET, body);
    let mut request = app
        .http
        .post(format!("{}/webhooks/veriff", app.base))
        .header("content-type", "application/json")
        .body(body.to_vec());
    if let Some(s) = signature.or(Some(&right)).filter(|s| !s.is_empty()) {
        request = request.header("X-HMAC-SIGNATURE", s);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

async fn decide(app: &TestApp, body: &Value) -> (u16, Value) {
    post(app, body.to_string().as_bytes(), None).await
}

async fn age_of(app: &TestApp, phone_index_of_nth_user: i64) -> String {
    app.sql_one(&format!(
        "SELECT age_status FROM users ORDER BY created_at, id OFFSET {phone_index_of_nth_user} LIMIT 1"
    ))
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_person_gets_one_veriff_link_and_chats_once_approved() {
    let app = gated(true).await;
    let me = "+15556660001";
    app.text("v-1", me, "hi").await;
    app.run_until_idle().await;
    let sent = app.sent_to(me);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(
        sent[0].contains("confirm your age"),
        "the bundle's prompt: {sent:?}"
    );
    assert!(sent[0].contains(&veriff_link(0)), "with its link: {sent:?}");

    // What Veriff was asked, in its format, naming nobody.
    let asked = &app.veriff.seen()[0];
    assert_eq!(asked.path, "/v1/sessions");
    assert_eq!(asked.headers["x-auth-client"], VERIFF_KEY);
    let vendor = vendor_data(&app, 0);
    let user: uuid::Uuid = app.sql_one("SELECT id FROM users").await;
    assert!(uuid::Uuid::parse_str(&vendor).is_ok(), "{vendor}");
    assert_ne!(
        vendor,
        user.to_string(),
        "an id of the check, not of the person"
    );
    assert!(!asked.body.contains("5556660001"), "{}", asked.body);
    assert_eq!(asked.json()["verification"]["callback"], app.public_url);

    // Texting again (or VERIFY) re-sends the same open link: one session per person.
    app.text("v-2", me, "VERIFY").await;
    app.run_until_idle().await;
    let sent = app.sent_to(me);
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(
        sent[1].contains("still in progress") && sent[1].contains(&veriff_link(0)),
        "{sent:?}"
    );
    assert_eq!(app.veriff.count(), 1);
    assert_eq!(app.anthropic.count(), 0, "no chat before the check");

    let approved = decision(
        &app,
        0,
        "approved",
        9001,
        Some("1990-05-17"),
        "2026-12-01T10:05:00.000Z",
    );
    assert_eq!(
        decide(&app, &approved).await,
        (200, json!({"status": "applied"}))
    );
    app.run_until_idle().await;
    let sent = app.sent_to(me);
    assert_eq!(sent.len(), 3, "{sent:?}");
    assert!(sent[2].contains(CONFIRMED), "{sent:?}");
    assert_eq!(age_of(&app, 0).await, "adult");
    let detail: String = app
        .sql_one("SELECT detail FROM compliance_log WHERE event = 'age-decision'")
        .await;
    assert_eq!(detail, "veriff approved: adult (code 9001)");

    // Veriff delivers again: nothing changes, nobody is texted twice.
    assert_eq!(
        decide(&app, &approved).await,
        (200, json!({"status": "repeat"}))
    );
    app.run_until_idle().await;
    assert_eq!(app.sent_to(me).len(), 3);

    app.text("v-3", me, "so what's new with you").await;
    app.run_until_idle().await;
    let sent = app.sent_to(me);
    assert_eq!(sent.len(), 4, "{sent:?}");
    assert!(sent[3].contains("Claude here"), "chatting now: {sent:?}");
    // The birth date decided; it is kept nowhere.
    let dump: String = app
        .sql_one("SELECT string_agg(row_to_json(c)::text, ' ') FROM compliance_log c")
        .await;
    assert!(!dump.contains("1990"), "{dump}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn minors_children_declines_and_missing_birth_dates_are_each_told_and_recorded() {
    let app = gated(true).await;
    let people = [
        "+15556660011",
        "+15556660012",
        "+15556660013",
        "+15556660014",
    ];
    for (i, me) in people.iter().enumerate() {
        app.text(&format!("m-{i}"), me, "hello").await;
        app.run_until_idle().await;
    }
    assert_eq!(app.veriff.count(), 4);
    let at = "2026-12-01T10:05:00.000Z";
    let cases = [
        (
            decision(&app, 0, "approved", 9001, Some("2011-03-02"), at),
            "minor",
            CONFIRMED,
        ),
        (
            decision(&app, 1, "approved", 9001, Some("2016-07-30"), at),
            "child",
            "13 or older",
        ),
        (
            decision(&app, 2, "declined", 9102, Some("1990-01-01"), at),
            "declined",
            "couldn't confirm your age",
        ),
        (
            decision(&app, 3, "approved", 9001, None, at),
            "pending",
            "Text VERIFY for a new link",
        ),
    ];
    for (i, (body, age, told)) in cases.iter().enumerate() {
        assert_eq!(decide(&app, body).await.0, 200, "{i}");
        app.run_until_idle().await;
        assert_eq!(age_of(&app, i as i64).await, *age, "{i}");
        let sent = app.sent_to(people[i]);
        assert_eq!(sent.len(), 2, "{sent:?}");
        assert!(sent[1].contains(told), "{i}: {sent:?}");
    }
    let status: String = app
        .sql_one("SELECT string_agg(status, ',' ORDER BY created_at) FROM age_checks")
        .await;
    assert_eq!(status, "approved,approved,declined,no-birth-date");
    // COPPA: the child's texts and link are erased with the decision; the record stays.
    let kept: i64 = app.sql_one(CHILD_DATA).await;
    assert_eq!(kept, 0);
    let erased: String = app
        .sql_one("SELECT detail FROM compliance_log WHERE event = 'erased'")
        .await;
    assert!(erased.contains("COPPA"), "{erased}");

    // The minor chats; the child is blocked by the bundle and the declined person too;
    // the one without a birth date gets a new link.
    for (i, me) in people.iter().enumerate() {
        app.text(&format!("n-{i}"), me, "are you there").await;
        app.run_until_idle().await;
    }
    assert!(app.sent_to(people[0])[2].contains("Claude here"));
    assert!(app.sent_to(people[1])[2].contains("13 or older"));
    assert!(app.sent_to(people[2])[2].contains("age check"));
    assert!(app.sent_to(people[3])[2].contains(&veriff_link(4)));
    assert_eq!(app.anthropic.count(), 1, "only the minor chatted");

    // Crisis resources reach anyone, a child and a person still unverified included.
    let unverified = "+15556660015";
    for (id, me) in [("c-1", people[1]), ("c-2", unverified)] {
        app.text(id, me, CRISIS).await;
        app.run_until_idle().await;
        let sent = app.sent_to(me);
        assert!(sent.iter().any(|t| t.contains("988")), "{me}: {sent:?}");
    }
    // The child's later texts were answered and not kept; the crisis is still on record.
    let kept: i64 = app.sql_one(CHILD_DATA).await;
    assert_eq!(kept, 0);
    let events: i64 = app
        .sql_one("SELECT count(*) FROM crisis_events e JOIN users u ON u.id = e.user_id WHERE u.age_status = 'child'")
        .await;
    assert_eq!(events, 1);
}

/// What is still kept of what a child sent: their texts' bodies and their check links.
const CHILD_DATA: &str = "SELECT (SELECT count(*) FROM messages m JOIN users u ON u.id = m.user_id
                                  WHERE u.age_status = 'child' AND m.direction = 'in'
                                    AND octet_length(m.body) > 0)
                               + (SELECT count(*) FROM age_checks c JOIN users u ON u.id = c.user_id
                                  WHERE u.age_status = 'child' AND octet_length(c.url) > 0)";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unsigned_tampered_unknown_stale_and_malformed_webhooks_change_nothing() {
    let app = gated(true).await;
    let me = "+15556660021";
    app.text("w-1", me, "hi").await;
    app.run_until_idle().await;
    let approved = decision(
        &app,
        0,
        "approved",
        9001,
        Some("1990-05-17"),
        "2026-12-01T10:05:00.000Z",
    );
    let body = approved.to_string();
    assert_eq!(
        post(&app, body.as_bytes(), Some("")).await.0,
        401,
        "unsigned"
    );
    assert_eq!(
        post(&app, body.as_bytes(), Some(&"0".repeat(64))).await.0,
        403,
        "wrong"
    );
    let signed_other = jules::age::veriff::signature(VERIFF_SECRET, b"{}");
    assert_eq!(
        post(&app, body.as_bytes(), Some(&signed_other)).await.0,
        403,
        "tampered"
    );
    let (code, why) = post(&app, b"[not json", None).await;
    assert_eq!(code, 400, "{why}");
    let mut unknown = approved.clone();
    unknown["verification"]["vendorData"] = json!(uuid::Uuid::new_v4().to_string());
    let (code, why) = decide(&app, &unknown).await;
    assert_eq!(code, 404, "{why}");
    let mut odd = approved.clone();
    odd["verification"]["status"] = json!("approved-ish");
    assert_eq!(decide(&app, &odd).await.0, 422);
    // An event webhook (started/submitted) has no decision in it.
    let event = json!({"id": "session-0", "attemptId": "a", "feature": "selfid", "code": 7002,
                       "action": "submitted", "vendorData": vendor_data(&app, 0)});
    assert_eq!(
        decide(&app, &event).await,
        (200, json!({"status": "ignored"}))
    );
    app.run_until_idle().await;
    assert_eq!(age_of(&app, 0).await, "pending");
    assert_eq!(app.sent_to(me).len(), 1, "nobody was told anything");
    let deliveries: i64 = app
        .sql_one("SELECT count(*) FROM webhook_deliveries WHERE provider = 'veriff'")
        .await;
    assert_eq!(deliveries, 0);

    // Out of order: the approval (10:05) lands, then an earlier decline (10:01).
    assert_eq!(
        decide(&app, &approved).await.1,
        json!({"status": "applied"})
    );
    let declined = decision(&app, 0, "declined", 9102, None, "2026-12-01T10:01:00.000Z");
    assert_eq!(decide(&app, &declined).await.1, json!({"status": "stale"}));
    app.run_until_idle().await;
    assert_eq!(age_of(&app, 0).await, "adult");
    assert_eq!(app.sent_to(me).len(), 2, "told once, of the newer decision");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resubmission_and_expiry_open_new_sessions_and_a_failing_veriff_is_retried() {
    let app = gated(true).await;
    let me = "+15556660031";
    app.text("r-1", me, "hi").await;
    app.run_until_idle().await;
    let again = decision(
        &app,
        0,
        "resubmission_requested",
        9103,
        None,
        "2026-12-01T10:05:00.000Z",
    );
    assert_eq!(decide(&app, &again).await.1, json!({"status": "applied"}));
    app.run_until_idle().await;
    let sent = app.sent_to(me);
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(
        sent[1].contains("another try") && sent[1].contains(&veriff_link(1)),
        "{sent:?}"
    );
    assert_eq!(app.veriff.count(), 2);
    // Veriff's decision on the old session no longer decides.
    let late = decision(
        &app,
        0,
        "approved",
        9001,
        Some("1990-05-17"),
        "2026-12-01T10:06:00.000Z",
    );
    assert_eq!(decide(&app, &late).await.1, json!({"status": "recorded"}));
    assert_eq!(age_of(&app, 0).await, "pending");

    // The new session expires unused; the next text opens another.
    let client = jules::store::migrate::connect(&app.db.url).await.unwrap();
    client
        .execute(
            "UPDATE age_checks SET expires_at = now() - interval '1 minute'",
            &[],
        )
        .await
        .unwrap();
    // Veriff fails once: the person is told to ask again, and asking again works.
    app.veriff.script([Answer::new(
        503,
        json!({"status": "fail", "message": "maintenance"}),
    )]);
    app.text("r-2", me, "hello?").await;
    app.run_until_idle().await;
    let sent = app.sent_to(me);
    assert!(sent[2].contains("Text VERIFY in a few minutes"), "{sent:?}");
    app.text("r-3", me, "VERIFY").await;
    app.run_until_idle().await;
    let sent = app.sent_to(me);
    assert!(sent[3].contains(&veriff_link(3)), "{sent:?}");
    assert_eq!(app.veriff.count(), 4);

    // While Veriff reviews an attempt, texts get the pending text and no new session.
    let review = decision(&app, 3, "review", 9104, None, "2026-12-01T10:20:00.000Z");
    assert_eq!(decide(&app, &review).await.1, json!({"status": "applied"}));
    app.text("r-4", me, "any news?").await;
    app.run_until_idle().await;
    let sent = app.sent_to(me);
    assert!(sent[4].contains("still in progress"), "{sent:?}");
    assert!(
        !sent[4].contains("https://") && !sent[4].contains("VERIFY"),
        "{sent:?}"
    );
    assert_eq!(app.veriff.count(), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_veriff_development_believes_a_texted_birth_date_and_says_so() {
    let app = gated(false).await;
    let me = "+15556660041";
    app.text("d-1", me, "hi").await;
    app.run_until_idle().await;
    let sent = app.sent_to(me);
    assert!(
        sent[0].contains("[DEVELOPMENT: no real age check"),
        "{sent:?}"
    );
    app.text("d-2", me, "soon").await;
    app.run_until_idle().await;
    assert_eq!(age_of(&app, 0).await, "pending", "not a date");
    app.text("d-3", me, "1990-05-17").await;
    app.run_until_idle().await;
    let sent = app.sent_to(me);
    assert!(sent[2].contains(CONFIRMED), "{sent:?}");
    assert_eq!(age_of(&app, 0).await, "adult");
    let detail: String = app
        .sql_one("SELECT detail FROM compliance_log WHERE event = 'age-decision'")
        .await;
    assert_eq!(detail, "development stand-in: adult");
    assert_eq!(app.veriff.count(), 0);

    let health = app.health().await;
    let mode = health["checks"]["age_verification"]["mode"]
        .as_str()
        .unwrap();
    assert!(mode.starts_with("development stand-in"), "{health}");
    let (code, why) = post(&app, b"{}", None).await;
    assert_eq!(code, 403, "no Veriff, no Veriff callbacks: {why}");
}
