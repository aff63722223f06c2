//! Poison input: every field is validated before storage, an event that can never be
//! stored is kept aside (sealed, with its reason) and never blocks the events beside it.

use super::support::app::{JULES_NUMBER, Options, TestApp};

fn received(id: serde_json::Value, from: &str, text: &str, segments: i64) -> serde_json::Value {
    serde_json::json!({
        "time": "2026-11-25T20:00:00.000Z", "type": "message-received", "to": JULES_NUMBER,
        "description": "Incoming message received",
        "message": {"id": id, "owner": JULES_NUMBER, "applicationId": "app-1",
                    "time": "2026-11-25T20:00:00.000Z", "segmentCount": segments,
                    "direction": "in", "to": [JULES_NUMBER], "from": from, "text": text,
                    "media": [], "priority": "default"}
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_bad_event_never_blocks_the_good_ones_beside_it() {
    let app = TestApp::start(Options::default()).await;
    let events = serde_json::json!([
        received("nul\u{0}id".into(), "+15554440001", "poison one", 1),
        received("x".repeat(3000).into(), "+15554440002", "poison two", 1),
        received("good-1".into(), "+15554440003", "hello there", 1),
        received("bad-from".into(), "nobody", "poison three", 1),
        received("good-2".into(), "+15554440004", "a negative count", -1),
        received(7.into(), "+15554440005", "poison four", 1),
    ]);
    let r = app.bandwidth_events(events.clone()).await;
    assert_eq!(r.status(), 204, "{:?}", r.text().await);
    app.run_until_idle().await;
    assert_eq!(app.sent_to("+15554440003").len(), 1);
    assert_eq!(
        app.sent_to("+15554440004").len(),
        1,
        "a bad count is one segment"
    );
    let kept: i64 = app.sql_one("SELECT count(*) FROM rejected_events").await;
    assert_eq!(kept, 4);
    let reasons: String = app
        .sql_one("SELECT string_agg(reason, ' | ' ORDER BY reason) FROM rejected_events")
        .await;
    for expected in [
        "[0].message.id: holds control characters",
        "[1].message.id: longer than 256 bytes",
        "[3].message.from: not an E.164 number",
        "[5]: not a Bandwidth event",
    ] {
        assert!(reasons.contains(expected), "{expected:?} in {reasons}");
    }
    let plain: i64 = app
        .sql_one("SELECT count(*) FROM rejected_events WHERE position(convert_to('poison', 'UTF8') in body) > 0")
        .await;
    assert_eq!(plain, 0, "kept sealed");
    // The carrier delivers the same again: nothing new is kept, nothing sent twice.
    assert_eq!(app.bandwidth_events(events).await.status(), 204);
    app.run_until_idle().await;
    let kept: i64 = app.sql_one("SELECT count(*) FROM rejected_events").await;
    assert_eq!(kept, 4);
    assert_eq!(app.sent_to("+15554440003").len(), 1);
    let health = app.health().await;
    assert_eq!(
        health["checks"]["webhooks"]["rejected_events"], 4,
        "{health}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_delivery_with_nothing_storable_is_refused_with_the_reasons() {
    let app = TestApp::start(Options::default()).await;
    let r = app
        .bandwidth_events(serde_json::json!([received(
            "a\u{0}".into(),
            "+15554440010",
            "hi",
            1
        )]))
        .await;
    assert_eq!(r.status(), 400);
    let body = r.text().await.unwrap();
    assert!(
        body.contains("[0].message.id: holds control characters"),
        "{body}"
    );
    assert!(
        !body.contains("+15554440010"),
        "never echoes a number: {body}"
    );

    // Twilio: a signed NumSegments of -1 is one segment; a NUL in MessageSid is refused.
    let r = app
        .twilio_post(
            "/webhooks/twilio",
            &[
                ("MessageSid", "SMneg"),
                ("From", "+15554440011"),
                ("To", JULES_NUMBER),
                ("Body", "hi"),
                ("NumSegments", "-1"),
            ],
        )
        .await;
    assert_eq!(r.status(), 200);
    let r = app
        .twilio_post(
            "/webhooks/twilio",
            &[
                ("MessageSid", "SM\u{0}x"),
                ("From", "+15554440012"),
                ("To", JULES_NUMBER),
                ("Body", "hi"),
            ],
        )
        .await;
    assert_eq!(r.status(), 400);
    assert!(
        r.text()
            .await
            .unwrap()
            .contains("MessageSid: holds control characters")
    );
    app.run_until_idle().await;
    let answered: i64 = app
        .sql_one("SELECT count(*) FROM messages WHERE direction = 'out' AND carrier = 'twilio'")
        .await;
    assert_eq!(answered, 1);
    let kept: i64 = app
        .sql_one("SELECT count(*) FROM rejected_events WHERE carrier = 'twilio'")
        .await;
    assert_eq!(kept, 1);
}
