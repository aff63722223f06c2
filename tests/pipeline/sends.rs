//! At most one text per outbox row, and one person's texts in queue order: sends whose
//! outcome is unknown are settled by asking the carrier (its message list) before any
//! resend, and a person's next message waits for the one before it, across retries and
//! hosts.

use std::time::Duration;

use super::support::app::{JULES_NUMBER, Options, TestApp};
use super::support::fakes::{Answer, bandwidth_accepted, bandwidth_error};

const CRISIS: &str = "i want to kill myself tonight";

/// The carrier takes each message but answers after the client gave up: every send's
/// outcome is unknown, the carrier's list says it took them, and nobody is texted twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_carrier_that_answers_too_late_texts_each_person_once() {
    let app = TestApp::start(Options {
        carrier_timeout: Duration::from_millis(300),
        ..Options::default()
    })
    .await;
    let people: Vec<String> = (0..5).map(|i| format!("+1555666{i:04}")).collect();
    app.bandwidth
        .script((0..5).map(|i| bandwidth_accepted(i).after(Duration::from_secs(2))));
    for (i, me) in people.iter().enumerate() {
        assert_eq!(app.text(&format!("late-{i}"), me, "hi").await.status(), 204);
    }
    app.run_until_idle().await;
    for me in &people {
        let sent = app.sent_to(me);
        assert_eq!(sent.len(), 1, "{me}: {sent:?}");
    }
    assert_eq!(app.bandwidth.count_of("POST"), 5, "none sent again");
    assert_eq!(app.bandwidth.count_of("GET"), 5, "each one looked up");
    let recorded: i64 = app
        .sql_one(
            "SELECT count(*) FROM messages WHERE direction = 'out' AND status = 'sent'
                    AND carrier_message_id LIKE 'bw-out-%'",
        )
        .await;
    assert_eq!(
        recorded, 5,
        "recorded under the carrier's ids from its list"
    );
}

/// The same through Twilio: its Messages list is filtered by To, From and day, and the
/// status callback URL names the outbox row.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twilio_sends_with_an_unknown_outcome_are_looked_up_too() {
    let app = TestApp::start(Options {
        carrier_timeout: Duration::from_millis(300),
        ..Options::default()
    })
    .await;
    let me = "+15556660100";
    app.twilio.script([Answer::new(
        201,
        serde_json::json!({"sid": "SMlate", "status": "queued"}),
    )
    .after(Duration::from_secs(2))]);
    let r = app
        .twilio_post(
            "/webhooks/twilio",
            &[
                ("MessageSid", "SMin1"),
                ("From", me),
                ("To", JULES_NUMBER),
                ("Body", "hi"),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    app.run_until_idle().await;
    assert_eq!(app.twilio.count_of("POST"), 1, "not sent again");
    assert_eq!(app.twilio.count_of("GET"), 1);
    let look_up = app
        .twilio
        .seen()
        .into_iter()
        .find(|s| s.method == "GET")
        .unwrap();
    assert!(look_up.query.contains("DateSent%3E="), "{}", look_up.query);
    let id: String = app
        .sql_one("SELECT carrier_message_id FROM messages WHERE direction = 'out'")
        .await;
    assert_eq!(id, "SMlate");
    let form = app.twilio.seen()[0].form();
    let callback = form.iter().find(|(k, _)| k == "StatusCallback").unwrap();
    let outbox: uuid::Uuid = app.sql_one("SELECT id FROM outbox").await;
    assert_eq!(
        callback.1,
        format!("{}/webhooks/twilio/status?outbox={outbox}", app.public_url)
    );
}

/// A delivery report settles a row whose send never answered, before anyone asks.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_report_settles_a_send_that_never_answered() {
    let app = TestApp::start(Options {
        carrier_timeout: Duration::from_millis(300),
        settle_after: Duration::from_secs(3600),
        ..Options::default()
    })
    .await;
    let me = "+15556660200";
    app.bandwidth
        .script([bandwidth_accepted(0).after(Duration::from_secs(2))]);
    app.text("rep-1", me, "hi").await;
    app.step().await;
    let seen = app.bandwidth.seen();
    let tag = seen[0].json()["tag"].as_str().unwrap().to_string();
    let outbox: uuid::Uuid = app.sql_one("SELECT id FROM outbox").await;
    assert_eq!(tag, outbox.to_string(), "the outbox id travels as the tag");
    let unsettled: i64 = app
        .sql_one("SELECT count(*) FROM outbox WHERE sent_at IS NULL AND in_doubt_since IS NOT NULL")
        .await;
    assert_eq!(unsettled, 1, "timed out: in doubt");
    let report = serde_json::json!([{
        "time": "2026-11-25T20:00:05.000Z", "type": "message-delivered", "to": me,
        "description": "ok", "message": {"id": "bw-out-0", "owner": JULES_NUMBER,
        "direction": "out", "from": JULES_NUMBER, "to": [me], "text": "", "tag": tag,
        "segmentCount": 1}
    }]);
    assert_eq!(app.bandwidth_events(report).await.status(), 204);
    app.run_until_idle().await;
    let (status, id): (String, String) = (
        app.sql_one("SELECT status FROM messages WHERE direction = 'out'")
            .await,
        app.sql_one("SELECT carrier_message_id FROM messages WHERE direction = 'out'")
            .await,
    );
    assert_eq!((status.as_str(), id.as_str()), ("delivered", "bw-out-0"));
    assert_eq!(app.bandwidth.count_of("GET"), 0, "nothing left to ask");
    assert_eq!(app.sent_to(me).len(), 1);
}

/// When the carrier cannot say whether it took a message, crisis resources are sent
/// again (a duplicate is the lesser harm) and anything else is dead-lettered, never
/// sent twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn when_the_carrier_cannot_say_only_crisis_resources_are_sent_again() {
    let app = TestApp::start(Options {
        carrier_timeout: Duration::from_millis(300),
        max_attempts: 3,
        ..Options::default()
    })
    .await;
    app.bandwidth.intercept(|req, _| {
        (req.method == "GET").then(|| bandwidth_error(500, "internal-server-error"))
    });
    let (crisis, other) = ("+15556660300", "+15556660301");
    app.bandwidth
        .script([bandwidth_accepted(0).after(Duration::from_secs(2))]);
    app.text("cs-1", crisis, CRISIS).await;
    app.run_until_idle().await;
    let sent = app.sent_to(crisis);
    assert_eq!(sent.len(), 3, "{sent:?}");
    assert!(
        sent[0].contains("988") && sent[1].contains("988"),
        "{sent:?}"
    );
    assert!(
        sent[2].contains("Claude here"),
        "the reply after both: {sent:?}"
    );

    app.bandwidth
        .script([bandwidth_accepted(9).after(Duration::from_secs(2))]);
    app.text("cs-2", other, "hello").await;
    app.run_until_idle().await;
    assert_eq!(app.sent_to(other).len(), 1, "taken once, never sent again");
    let dead = app
        .running
        .pipeline
        .store
        .db()
        .dead_letters()
        .await
        .unwrap();
    assert_eq!(dead.len(), 1, "{dead:?}");
    assert!(dead[0].1.contains("outcome unknown"), "{dead:?}");
}

/// Two hosts on one database, a carrier that fails each person's first send once
/// (half with a 429, half with a 503 that took nothing): every person gets the crisis
/// resources, then the reply — once each, in that order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hosts_send_each_persons_texts_in_queue_order() {
    let a = TestApp::start(Options {
        background: true,
        ..Options::default()
    })
    .await;
    let b = TestApp::start(Options {
        beside: Some(a.shared()),
        background: true,
        ..Options::default()
    })
    .await;
    a.bandwidth.intercept(|req, seen| {
        if req.method != "POST" {
            return None;
        }
        let to = req.json()["to"][0].as_str()?.to_string();
        let earlier = seen
            .iter()
            .filter(|s| s.method == "POST" && s.json()["to"][0] == to.as_str())
            .count();
        (earlier == 1).then(|| {
            if to.ends_with(['0', '2', '4', '6', '8']) {
                bandwidth_error(429, "max-message-queue-size-exceeded")
            } else {
                bandwidth_error(503, "service-unavailable")
            }
        })
    });
    let people: Vec<String> = (0..20).map(|i| format!("+1555777{i:04}")).collect();
    for (i, me) in people.iter().enumerate() {
        let host = if i % 2 == 0 { &a } else { &b };
        assert_eq!(
            host.text(&format!("two-{i}"), me, CRISIS).await.status(),
            204
        );
    }
    a.wait_until_idle().await;
    for me in &people {
        let sent = a.sent_to(me);
        assert_eq!(sent.len(), 2, "{me}: {sent:?}");
        assert!(sent[0].contains("988"), "resources first: {me}: {sent:?}");
        assert!(sent[1].contains("Claude here"), "{me}: {sent:?}");
    }
    assert_eq!(
        a.bandwidth.count_of("POST"),
        60,
        "each person's first send failed once"
    );
}
