//! The pipeline end to end: Jules in process on a random port with a fresh Postgres
//! database, the shipped policy components, and fake Bandwidth, Twilio, Anthropic and
//! OpenAI servers on loopback speaking their wire formats.

#[path = "../support/mod.rs"]
mod support;

mod admin;
mod age;
mod billing;
mod compliance;
mod erase;
mod ingress;
mod langfuse;
mod policy_threads;
mod sends;
mod shadow;

use std::time::Duration;

use support::app::{JULES_NUMBER, Options, TWILIO_TOKEN, TestApp};
use support::fakes::{
    anthropic_error, anthropic_reply, bandwidth_accepted, bandwidth_error, openai_error,
};

const AI_NOTICE: &str = "I'm an AI, not a human";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_conversation_with_the_disclosure_at_first_and_again_after_three_hours() {
    let app = TestApp::start(Options::default()).await;
    let me = "+15557770001";
    assert_eq!(app.text("in-1", me, "hey, rough day").await.status(), 204);
    app.run_until_idle().await;
    let sent = app.sent_to(me);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(
        sent[0].contains(AI_NOTICE),
        "disclosed at the first message: {sent:?}"
    );
    assert!(sent[0].contains("Claude here"), "{sent:?}");

    // What Claude was asked, in Anthropic's format.
    let asked = &app.anthropic.seen()[0];
    assert_eq!(asked.path, "/v1/messages");
    assert_eq!(asked.headers["x-api-key"], "sk-ant-test");
    assert_eq!(asked.headers["anthropic-version"], "2023-06-01");
    let body = asked.json();
    assert_eq!(body["model"], "claude-test");
    assert!(body["system"].as_str().unwrap().len() > 50);
    let last = body["messages"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(last["role"], "user");
    assert!(last["content"].as_str().unwrap().contains("rough day"));
    // What Bandwidth was asked, in its format.
    let send = &app.bandwidth.seen()[0];
    assert_eq!(send.path, "/api/v2/users/9900000/messages");
    assert_eq!(send.json()["applicationId"], "app-1");
    assert_eq!(send.json()["from"], JULES_NUMBER);

    app.text("in-2", me, "thanks for listening").await;
    app.run_until_idle().await;
    let sent = app.sent_to(me);
    assert_eq!(sent.len(), 2);
    assert!(
        !sent[1].contains(AI_NOTICE),
        "not again within 3 h: {sent:?}"
    );
    // The second prompt carried the first turn.
    let second = app.anthropic.seen()[1].json();
    assert!(
        second["messages"].as_array().unwrap().len() >= 3,
        "{second}"
    );

    app.running
        .pipeline
        .clock
        .advance(Duration::from_secs(3 * 3600 + 60));
    app.text("in-3", me, "i'm back").await;
    app.run_until_idle().await;
    let sent = app.sent_to(me);
    assert_eq!(sent.len(), 3);
    assert!(sent[2].contains(AI_NOTICE), "again after 3 h: {sent:?}");
    let disclosures: i64 = app
        .sql_one("SELECT count(*) FROM compliance_log WHERE event = 'disclosure-sent'")
        .await;
    assert_eq!(disclosures, 2);
    let decisions: i64 = app
        .sql_one("SELECT count(DISTINCT world) FROM policy_decisions")
        .await;
    assert_eq!(
        decisions, 3,
        "crisis, compliance and prompt decisions are recorded"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repeated_delivery_gets_one_reply() {
    let app = TestApp::start(Options::default()).await;
    let me = "+15557770002";
    for _ in 0..3 {
        assert_eq!(app.text("dup-1", me, "hello?").await.status(), 204);
    }
    app.run_until_idle().await;
    assert_eq!(app.sent_to(me).len(), 1);
    assert_eq!(app.anthropic.count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stop_confirms_once_then_silence_until_start_and_help_answers() {
    let app = TestApp::start(Options::default()).await;
    let me = "+15557770003";
    app.text("s-1", me, "hi").await;
    app.run_until_idle().await;
    app.text("s-2", me, "STOP").await;
    app.run_until_idle().await;
    app.text("s-3", me, "are you there?").await;
    app.text("s-4", me, "stop").await;
    app.run_until_idle().await;
    let sent = app.sent_to(me);
    assert_eq!(
        sent.len(),
        2,
        "one reply, one confirmation, then nothing: {sent:?}"
    );
    assert!(sent[1].contains("unsubscribed"), "{sent:?}");
    let llm_calls = app.anthropic.count();

    app.text("s-5", me, "HELP").await;
    app.run_until_idle().await;
    let sent = app.sent_to(me);
    assert_eq!(sent.len(), 3, "{sent:?}");
    assert!(
        sent[2].contains("Msg&data rates may apply") && sent[2].contains("STOP"),
        "{sent:?}"
    );

    app.text("s-6", me, "START").await;
    app.run_until_idle().await;
    app.text("s-7", me, "ok i'm back").await;
    app.run_until_idle().await;
    let sent = app.sent_to(me);
    assert_eq!(sent.len(), 5, "{sent:?}");
    assert!(sent[3].contains("subscribed again"), "{sent:?}");
    assert_eq!(
        app.anthropic.count(),
        llm_calls + 1,
        "the model is asked again only after START"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reply_queued_before_stop_is_not_sent() {
    let app = TestApp::start(Options {
        retry_base: Duration::from_millis(800),
        ..Options::default()
    })
    .await;
    let me = "+15557770004";
    // The reply's first send fails; before its retry, the person opts out.
    app.bandwidth
        .script([bandwidth_error(503, "service-unavailable")]);
    app.text("q-1", me, "tell me something").await;
    app.step().await;
    assert_eq!(app.bandwidth.count(), 1, "the first send was tried");
    app.text("q-2", me, "STOP").await;
    app.run_until_idle().await;
    let sent = app.sent_to(me);
    assert_eq!(sent.len(), 1, "only the confirmation: {sent:?}");
    assert!(sent[0].contains("unsubscribed"), "{sent:?}");
    assert_eq!(
        app.bandwidth.count_of("POST"),
        2,
        "the failed attempt and the confirmation"
    );
    let why: String = app
        .sql_one("SELECT last_error FROM outbox WHERE dead_lettered_at IS NOT NULL")
        .await;
    assert!(why.contains("opted out"), "{why}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crisis_gets_resources_even_when_every_model_fails() {
    let app = TestApp::start(Options::default()).await;
    let me = "+15557770005";
    app.anthropic
        .script((0..3).map(|_| anthropic_error(529, "overloaded_error")));
    app.openai
        .script((0..3).map(|_| openai_error(500, "server_error")));
    app.text("c-1", me, "i want to kill myself tonight").await;
    app.run_until_idle().await;
    let sent = app.sent_to(me);
    assert!(sent.len() >= 2, "{sent:?}");
    assert!(
        sent[0].contains("988") && sent[0].contains("741741"),
        "resources first: {sent:?}"
    );
    assert!(sent.iter().any(|t| t.contains("988")), "{sent:?}");
    assert_eq!(app.anthropic.count(), 3, "529 is retried twice");
    assert_eq!(app.openai.count(), 3, "500 is retried twice");
    let events: i64 = app
        .sql_one("SELECT count(*) FROM crisis_events WHERE review_state = 'pending' AND severity IN ('high', 'imminent')")
        .await;
    assert_eq!(events, 1);
    // The alert carries ids and severity, never the text.
    let alert = app.wait_for(&app.alerts, 1).await;
    let body = &alert[0].body;
    assert!(
        body.contains("severity") && body.contains("event_id"),
        "{body}"
    );
    assert!(
        !body.contains("kill") && !body.contains("5557770005"),
        "{body}"
    );
}

/// Sends run side by side, but not one person's: the reply waits until the carrier
/// has taken the crisis resources queued before it, however slow the carrier is.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_persons_messages_go_out_in_order_behind_a_slow_carrier() {
    let app = TestApp::start(Options {
        background: true,
        ..Options::default()
    })
    .await;
    let me = "+15557770032";
    app.bandwidth
        .script([bandwidth_accepted(0).after(Duration::from_secs(1))]);
    app.text("o-1", me, "i want to kill myself tonight").await;
    app.wait_until_idle().await;
    let sent = app.sent_to(me);
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(sent[0].contains("988"), "resources first: {sent:?}");
    assert!(sent[1].contains("Claude here"), "{sent:?}");
    assert_eq!(app.bandwidth.most_at_once(), 1, "one at a time");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_overloaded_model_is_retried_and_a_spent_quota_is_not() {
    let app = TestApp::start(Options::default()).await;
    app.anthropic
        .script([anthropic_error(529, "overloaded_error")]);
    app.text("r-1", "+15557770006", "hello").await;
    app.run_until_idle().await;
    assert_eq!(app.anthropic.count(), 2, "retried once, then answered");
    assert_eq!(app.openai.count(), 0);
    assert!(app.sent_to("+15557770006")[0].contains("Claude here"));

    let app = TestApp::start(Options {
        anthropic: false,
        ..Options::default()
    })
    .await;
    app.openai.script([openai_error(429, "insufficient_quota")]);
    app.text("r-2", "+15557770007", "hello").await;
    app.run_until_idle().await;
    assert_eq!(app.openai.count(), 1, "insufficient_quota is never retried");
    let sent = app.sent_to("+15557770007");
    assert!(sent[0].contains("988"), "the canned reply: {sent:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_carrier_429_is_retried_and_a_dead_carrier_dead_letters() {
    let app = TestApp::start(Options {
        max_attempts: 3,
        ..Options::default()
    })
    .await;
    app.bandwidth
        .script([bandwidth_error(429, "max-message-queue-size-exceeded")]);
    app.text("b-1", "+15557770008", "hello").await;
    app.run_until_idle().await;
    assert_eq!(app.bandwidth.count(), 2, "429, then 202");
    let sent: i64 = app
        .sql_one("SELECT count(*) FROM messages WHERE direction = 'out' AND status = 'sent'")
        .await;
    assert_eq!(sent, 1, "delivered once");

    app.bandwidth
        .script((0..3).map(|_| bandwidth_error(503, "service-unavailable")));
    app.text("b-2", "+15557770008", "still there?").await;
    app.run_until_idle().await;
    // A 503 may come after the carrier took the message: each attempt after one asks
    // the carrier first, and the last finds nothing and gives up.
    assert_eq!(app.bandwidth.count_of("POST"), 5, "three attempts");
    assert_eq!(app.bandwidth.count_of("GET"), 3, "three look-ups");
    let dead: i64 = app
        .sql_one("SELECT count(*) FROM outbox WHERE dead_lettered_at IS NOT NULL")
        .await;
    assert_eq!(dead, 1);
    let failed: i64 = app
        .sql_one("SELECT count(*) FROM messages WHERE direction = 'out' AND status = 'failed'")
        .await;
    assert_eq!(failed, 1);
}

/// A slow carrier does not hold back the replies behind one claim: every reply waits
/// on it side by side (up to OUTBOX_CONCURRENCY), each sent once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_wait_on_a_slow_carrier_side_by_side() {
    let app = TestApp::start(Options {
        background: true,
        ..Options::default()
    })
    .await;
    let n = 60;
    app.bandwidth
        .script((0..n).map(|i| bandwidth_accepted(i).after(Duration::from_secs(3))));
    for i in 0..n {
        let status = app
            .text(&format!("slow-{i}"), &format!("+1555888{i:04}"), "hi")
            .await
            .status();
        assert_eq!(status, 204);
    }
    app.wait_until_idle().await;
    assert_eq!(app.bandwidth.count(), n, "each reply sent once");
    // One claim takes at most 32 rows: more at once means sends did not wait for the
    // slowest of a batch before the next was claimed.
    let most = app.bandwidth.most_at_once();
    assert!(most > 32, "at most {most} sends at once");
    let sent: i64 = app
        .sql_one("SELECT count(*) FROM messages WHERE direction = 'out' AND status = 'sent'")
        .await;
    assert_eq!(sent, n as i64);
}

/// Shutting down lets a send already started finish and be recorded, so a message the
/// carrier took is not sent again by the next host.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_waits_for_the_sends_in_flight() {
    let app = TestApp::start(Options {
        background: true,
        ..Options::default()
    })
    .await;
    app.bandwidth
        .script([bandwidth_accepted(0).after(Duration::from_millis(800))]);
    app.text("bye-1", "+15557770031", "hi").await;
    app.wait_for(&app.bandwidth, 1).await;
    let TestApp {
        running,
        db,
        bandwidth,
        ..
    } = app;
    running.stop().await;
    let client = jules::store::migrate::connect(&db.url).await.unwrap();
    let row = client
        .query_one(
            "SELECT count(*) FILTER (WHERE sent_at IS NULL), count(*) FROM outbox",
            &[],
        )
        .await
        .unwrap();
    let (unsent, all): (i64, i64) = (row.get(0), row.get(1));
    assert_eq!((unsent, all), (0, 1), "the send in flight was recorded");
    assert_eq!(bandwidth.count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_stopped_mid_reply_leaves_exactly_one_reply() {
    let mut app = TestApp::start(Options {
        lease: Duration::from_millis(500),
        background: true,
        ..Options::default()
    })
    .await;
    app.anthropic
        .script([anthropic_reply("never delivered").after(Duration::from_secs(3))]);
    app.text("w-1", "+15557770009", "hello").await;
    app.wait_for(&app.anthropic, 1).await;
    app.running.stop_workers();
    tokio::time::sleep(Duration::from_millis(600)).await;
    app.running.start_workers();
    app.wait_until_idle().await;
    let sent = app.sent_to("+15557770009");
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(sent[0].contains("Claude here"), "{sent:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delivery_reports_update_the_message() {
    let app = TestApp::start(Options::default()).await;
    app.text("d-1", "+15557770010", "hi").await;
    app.run_until_idle().await;
    let id: String = app
        .sql_one("SELECT carrier_message_id FROM messages WHERE direction = 'out'")
        .await;
    assert!(id.starts_with("bw-out-"), "{id}");
    let report = serde_json::json!([{
        "time": "2026-11-25T20:00:05.000Z", "type": "message-delivered", "to": "+15557770010",
        "description": "ok", "message": {"id": id, "owner": JULES_NUMBER, "direction": "out",
        "from": JULES_NUMBER, "to": ["+15557770010"], "text": "", "segmentCount": 1}
    }]);
    assert_eq!(app.bandwidth_events(report.clone()).await.status(), 204);
    assert_eq!(
        app.bandwidth_events(report).await.status(),
        204,
        "a repeated report is fine"
    );
    let status: String = app
        .sql_one("SELECT status FROM messages WHERE direction = 'out'")
        .await;
    assert_eq!(status, "delivered");
    // An `out` message-received echo is never answered.
    let echo = serde_json::json!([{"type": "message-received", "message": {"id": "echo-1", "direction": "out", "from": JULES_NUMBER, "text": "hi"}}]);
    assert_eq!(app.bandwidth_events(echo).await.status(), 204);
    app.run_until_idle().await;
    assert_eq!(app.bandwidth.count(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_deliveries_get_clear_errors() {
    let app = TestApp::start(Options::default()).await;
    let post = |body: String, ct: &'static str| {
        app.http
            .post(format!("{}/webhooks/bandwidth", app.base))
            .header("content-type", ct)
            .body(body)
            .send()
    };
    let r = post("{\"not\": \"an array\"}".into(), "application/json")
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("JSON array"));
    let r = post("[{\"type\": \"message-received\", \"message\": {\"id\": \"x\", \"from\": \"nobody\", \"text\": \"hi\"}}]".into(), "application/json").await.unwrap();
    assert_eq!(r.status(), 400);
    assert!(r.text().await.unwrap().contains("message.from"));
    let r = post(
        "[{\"type\": \"message-teleported\", \"message\": {\"id\": \"x\"}}]".into(),
        "application/json",
    )
    .await
    .unwrap();
    assert_eq!(
        r.status(),
        204,
        "unknown event types are acknowledged and ignored"
    );
    let r = post(
        format!("[\"{}\"]", "x".repeat(300 * 1024)),
        "application/json",
    )
    .await
    .unwrap();
    assert_eq!(r.status(), 413);
    assert!(r.headers().contains_key("x-request-id"));
    let stored: i64 = app.sql_one("SELECT count(*) FROM messages").await;
    assert_eq!(stored, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bandwidth_challenge_flow() {
    let creds = ("bw-hook".to_string(), "s3cret".to_string());
    let app = TestApp::start(Options {
        bandwidth_credentials: Some(creds),
        ..Options::default()
    })
    .await;
    let body = serde_json::json!([{"type": "message-received", "message": {"id": "ch-1", "direction": "in", "from": "+15557770011", "text": "hi"}}]);
    let url = format!("{}/webhooks/bandwidth", app.base);
    let r = app.http.post(&url).json(&body).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert!(
        r.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .starts_with("Basic realm=")
    );
    let r = app
        .http
        .post(&url)
        .basic_auth("bw-hook", Some("wrong"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let r = app
        .http
        .post(&url)
        .basic_auth("bw-hook", Some("s3cret"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    app.run_until_idle().await;
    assert_eq!(app.sent_to("+15557770011").len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twilio_signatures_are_checked() {
    let app = TestApp::start(Options::default()).await;
    let params: Vec<(String, String)> = [
        ("MessageSid", "SM0001"),
        ("AccountSid", "AC123"),
        ("From", "+15557770012"),
        ("To", JULES_NUMBER),
        ("Body", "hello from twilio"),
        ("NumMedia", "0"),
        ("NumSegments", "1"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let url = format!("{}/webhooks/twilio", app.public_url);
    let good = jules::http::webhooks::twilio::signature(TWILIO_TOKEN, &url, &params);
    let post = |params: Vec<(String, String)>, sig: Option<String>| {
        let mut req = app
            .http
            .post(format!("{}/webhooks/twilio", app.base))
            .form(&params);
        if let Some(s) = sig {
            req = req.header("X-Twilio-Signature", s);
        }
        req.send()
    };
    assert_eq!(post(params.clone(), None).await.unwrap().status(), 401);
    assert_eq!(
        post(params.clone(), Some("AAAA".into()))
            .await
            .unwrap()
            .status(),
        403
    );
    let mut tampered = params.clone();
    tampered[4].1 = "send me money".into();
    assert_eq!(
        post(tampered, Some(good.clone())).await.unwrap().status(),
        403
    );
    // Accounts on Twilio's newer signing sign the same string with HMAC-SHA256.
    let mut newer = params.clone();
    newer[0].1 = "SM0002".into();
    newer[2].1 = "+15557770013".into();
    let sha256 = jules::http::webhooks::twilio::signature_sha256(TWILIO_TOKEN, &url, &newer);
    assert_eq!(post(newer, Some(sha256)).await.unwrap().status(), 200);
    let ok = post(params, Some(good)).await.unwrap();
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.headers()["content-type"], "text/xml");
    assert!(ok.text().await.unwrap().contains("<Response></Response>"));
    app.run_until_idle().await;
    let sent = app.wait_for(&app.twilio, 2).await;
    assert_eq!(sent[0].path, "/2010-04-01/Accounts/AC123/Messages.json");
    let form = sent
        .iter()
        .map(|s| s.form())
        .find(|f| f.contains(&("To".into(), "+15557770012".into())))
        .expect("the reply to the first");
    let field = |k: &str| form.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    assert!(field("Body").unwrap().contains("Claude here"));
    assert_eq!(
        app.bandwidth.count(),
        0,
        "answered through the carrier it came from"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn texts_in_quick_succession_are_one_turn() {
    let app = TestApp::start(Options {
        quiet: Duration::from_millis(400),
        ..Options::default()
    })
    .await;
    let me = "+15557770013";
    app.text("co-1", me, "so today").await;
    app.text("co-2", me, "my sister called").await;
    app.text("co-3", me, "and we finally talked").await;
    app.run_until_idle().await;
    assert_eq!(app.anthropic.count(), 1, "one model call for the burst");
    assert_eq!(app.sent_to(me).len(), 1, "one reply");
    let body = app.anthropic.seen()[0].json();
    let last = body["messages"].as_array().unwrap().last().unwrap()["content"]
        .as_str()
        .unwrap()
        .to_string();
    let (a, b, c) = (
        last.find("so today").unwrap(),
        last.find("my sister called").unwrap(),
        last.find("finally talked").unwrap(),
    );
    assert!(a < b && b < c, "in the order sent: {last}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_model_that_does_not_answer_in_time_is_left_for_the_next() {
    let app = TestApp::start(Options {
        llm_timeout: Duration::from_millis(300),
        ..Options::default()
    })
    .await;
    app.anthropic
        .script((0..3).map(|_| anthropic_reply("too late").after(Duration::from_secs(2))));
    app.text("t-1", "+15557770014", "hello").await;
    app.run_until_idle().await;
    assert_eq!(app.anthropic.count(), 3, "timed out, retried twice");
    let sent = app.sent_to("+15557770014");
    assert_eq!(sent.len(), 1);
    assert!(sent[0].contains("GPT here"), "OpenAI answered: {sent:?}");
}
