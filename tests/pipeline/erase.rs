//! Erasure on a person's own request: DELETE MY DATA asks for confirmation; CONFIRM
//! DELETE within ten minutes erases what they sent and tells them; a confirmation
//! nobody asked for, or one too late, is conversation.

use crate::support::app::{Options, TestApp};

/// What is still readable of what `phone`'s person sent (inbound bodies not erased).
async fn kept(app: &TestApp) -> i64 {
    app.sql_one("SELECT count(*) FROM messages WHERE direction = 'in' AND octet_length(body) > 0")
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn delete_my_data_is_confirmed_then_erases_and_tells_them() {
    let app = TestApp::start(Options::default()).await;
    let me = "+15558880001";
    app.text("x-1", me, "my favourite fruit is mango").await;
    app.run_until_idle().await;
    app.text("x-2", me, "CONFIRM DELETE").await;
    app.run_until_idle().await;
    assert_eq!(app.anthropic.count(), 2, "nobody asked: it is conversation");
    assert_eq!(kept(&app).await, 2);

    app.text("x-3", me, "delete my data").await;
    app.run_until_idle().await;
    let sent = app.sent_to(me);
    assert!(
        sent[2].contains("reply CONFIRM DELETE within 10 minutes"),
        "{sent:?}"
    );
    assert_eq!(app.anthropic.count(), 2);
    assert_eq!(
        kept(&app).await,
        3,
        "nothing is erased before the confirmation"
    );

    app.text("x-4", me, "Confirm delete").await;
    app.run_until_idle().await;
    let sent = app.sent_to(me);
    assert!(sent[3].contains("we've deleted your messages"), "{sent:?}");
    assert_eq!(kept(&app).await, 0);
    let events: String = app
        .sql_one("SELECT string_agg(event || ':' || detail, ',' ORDER BY id) FROM compliance_log WHERE event LIKE 'erase%'")
        .await;
    assert_eq!(events, "erase-requested:,erased:on their request");

    // They text again: a new conversation, with nothing of the old one in the prompt.
    app.text("x-5", me, "hello again").await;
    app.run_until_idle().await;
    let asked = app.anthropic.seen().last().unwrap().body.clone();
    assert!(
        asked.contains("hello again") && !asked.contains("mango"),
        "{asked}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_confirmation_after_ten_minutes_erases_nothing() {
    let app = TestApp::start(Options::default()).await;
    let me = "+15558880002";
    app.text("y-1", me, "DELETE MY DATA").await;
    app.run_until_idle().await;
    let client = jules::store::migrate::connect(&app.db.url).await.unwrap();
    client
        .execute(
            "UPDATE compliance_log SET occurred_at = occurred_at - interval '11 minutes'
             WHERE event = 'erase-requested'",
            &[],
        )
        .await
        .unwrap();
    app.text("y-2", me, "CONFIRM DELETE").await;
    app.run_until_idle().await;
    assert_eq!(kept(&app).await, 2);
    assert_eq!(app.anthropic.count(), 1, "too late: it is conversation");
}
