//! The law's rules on the first and the last texts: the AI disclosure goes with a
//! person's first text whatever it is, and someone who opted out is still answered with
//! crisis resources (at most once a day) — and nothing else.

use super::AI_NOTICE;
use super::support::app::{Options, TestApp};

const CRISIS: &str = "i want to kill myself tonight";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_persons_first_text_carries_the_ai_disclosure() {
    let app = TestApp::start(Options::default()).await;
    let (help, stop, crisis) = ("+15553330001", "+15553330002", "+15553330003");
    app.text("f-1", help, "HELP").await;
    app.text("f-2", stop, "STOP").await;
    app.text("f-3", crisis, CRISIS).await;
    app.run_until_idle().await;
    let first = |who: &str| app.sent_to(who);
    let sent = first(help);
    assert!(
        sent[0].contains(AI_NOTICE) && sent[0].contains("Support"),
        "{sent:?}"
    );
    let sent = first(stop);
    assert!(
        sent[0].contains(AI_NOTICE) && sent[0].contains("unsubscribed"),
        "{sent:?}"
    );
    let sent = first(crisis);
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(
        sent[0].contains(AI_NOTICE) && sent[0].contains("988"),
        "{sent:?}"
    );
    assert!(!sent[1].contains(AI_NOTICE), "once per turn: {sent:?}");
    let details: String = app
        .sql_one(
            "SELECT string_agg(detail, ',' ORDER BY detail) FROM compliance_log
             WHERE event = 'disclosure-sent'",
        )
        .await;
    assert_eq!(details, "help,opt-out-confirmation,with crisis resources");
    let undisclosed: i64 = app
        .sql_one("SELECT count(*) FROM users WHERE last_disclosure_at IS NULL")
        .await;
    assert_eq!(undisclosed, 0, "every disclosure is on the person's record");

    // With the age gate on, the first thing a new person gets is the age prompt.
    let app = TestApp::start(Options {
        age_gate: true,
        ..Options::default()
    })
    .await;
    let new = "+15553330004";
    app.text("f-4", new, "hi").await;
    app.run_until_idle().await;
    let sent = app.sent_to(new);
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(
        sent[0].contains(AI_NOTICE) && sent[0].contains("age"),
        "{sent:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn someone_who_opted_out_gets_crisis_resources_once_a_day_and_nothing_else() {
    let app = TestApp::start(Options::default()).await;
    let me = "+15553330010";
    app.text("o-1", me, "STOP").await;
    app.run_until_idle().await;
    app.text("o-2", me, CRISIS).await;
    app.run_until_idle().await;
    let sent = app.sent_to(me);
    assert_eq!(sent.len(), 2, "{sent:?}");
    assert!(sent[0].contains("unsubscribed"), "{sent:?}");
    assert!(sent[1].contains("988"), "resources, no reply: {sent:?}");
    assert_eq!(app.anthropic.count(), 0, "no companion chat");
    let why: String = app
        .sql_one("SELECT detail FROM compliance_log WHERE event = 'crisis-resources-after-opt-out'")
        .await;
    assert!(why.contains("own message"), "{why}");

    app.text("o-3", me, CRISIS).await;
    app.run_until_idle().await;
    assert_eq!(app.sent_to(me).len(), 2, "once a day");
    let events: i64 = app.sql_one("SELECT count(*) FROM crisis_events").await;
    assert_eq!(events, 2, "every escalation is still up for review");
    let status: String = app.sql_one("SELECT status FROM users").await;
    assert_eq!(status, "opted-out", "still opted out");
}
