//! Premium through Stripe end to end: UPGRADE answers with a Checkout link made in
//! Stripe's format; Stripe's events, signed by Stripe's own Python package, move the
//! person between tiers by their subscription's state as Stripe holds it now; the daily
//! limit lifts and returns; CANCEL PLAN answers with a Portal link.

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::support::app::{Options, STRIPE_KEY, STRIPE_PRICE, STRIPE_WEBHOOK_SECRET, TestApp};

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// Post `event`, signed by Stripe's package at `t` (None: unsigned; Some("tampered"):
/// signed over another body).
async fn post(app: &TestApp, event: &Value, t: Option<i64>, tamper: bool) -> (u16, Value) {
    let body = event.to_string();
    let mut request = app
        .http
        .post(format!("{}/webhooks/stripe", app.base))
        .header("content-type", "application/json");
    if let Some(t) = t {
        let signed_over = if tamper {
            body.replace("sub_1", "sub_2")
        } else {
            body.clone()
        };
        let header = crate::support::stripe::signature(&signed_over, STRIPE_WEBHOOK_SECRET, t);
        request = request.header("Stripe-Signature", header);
    }
    let response = request.body(body).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

async fn send(app: &TestApp, event: &Value) -> (u16, Value) {
    post(app, event, Some(now()), false).await
}

fn event(id: &str, kind: &str, object: Value) -> Value {
    json!({"id": id, "object": "event", "api_version": "2024-06-20", "created": now(),
           "livemode": false, "pending_webhooks": 1, "type": kind, "data": {"object": object}})
}

/// Stripe holds subscription `sub_1` in `status` for the person with `reference`.
fn stripe_holds(app: &TestApp, reference: &str, status: &str) {
    app.subscriptions.lock().unwrap().insert(
        "sub_1".into(),
        json!({"id": "sub_1", "object": "subscription", "status": status, "customer": "cus_1",
               "metadata": {"jules_ref": reference}}),
    );
}

async fn tier(app: &TestApp) -> String {
    app.sql_one("SELECT tier FROM users").await
}

/// The person has sent `n` texts today already (the free tier's count).
async fn texted_today(app: &TestApp, n: i64) {
    let client = jules::store::migrate::connect(&app.db.url).await.unwrap();
    client
        .execute(
            "INSERT INTO messages (id, user_id, direction, carrier, body, status)
             SELECT gen_random_uuid(), id, 'in', 'bandwidth', ''::bytea, 'replied'
             FROM users, generate_series(1, $1::int)",
            &[&(n as i32)],
        )
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upgrade_subscribe_lapse_and_manage_through_stripe() {
    let app = TestApp::start(Options {
        stripe: true,
        ..Options::default()
    })
    .await;
    let me = "+15559990001";
    app.text("s-1", me, "hi").await;
    app.run_until_idle().await;
    texted_today(&app, 60).await;
    app.text("s-2", me, "are you there").await;
    app.run_until_idle().await;
    assert!(
        app.sent_to(me)[1].contains("free message limit"),
        "{:?}",
        app.sent_to(me)
    );

    // UPGRADE at the limit: a Checkout link, made as Stripe's API asks.
    app.text("s-3", me, "Upgrade").await;
    app.run_until_idle().await;
    let sent = app.sent_to(me);
    assert!(
        sent[2].contains("https://checkout.stripe.com/c/pay/cs_test_"),
        "{sent:?}"
    );
    let asked = &app.stripe.seen()[0];
    assert_eq!(asked.path, "/v1/checkout/sessions");
    assert_eq!(
        asked.headers["authorization"],
        format!("Bearer {STRIPE_KEY}").as_str()
    );
    assert!(asked.headers.contains_key("idempotency-key"));
    let form: std::collections::BTreeMap<String, String> = asked.form().into_iter().collect();
    assert_eq!(form["mode"], "subscription");
    assert_eq!(form["line_items[0][price]"], STRIPE_PRICE);
    assert_eq!(form["line_items[0][quantity]"], "1");
    let reference = form["client_reference_id"].clone();
    assert_eq!(form["subscription_data[metadata][jules_ref]"], reference);
    assert!(!asked.body.contains("5559990001"), "{}", asked.body);
    let user: uuid::Uuid = app.sql_one("SELECT id FROM users").await;
    assert_ne!(reference, user.to_string(), "a reference that names nobody");

    // Stripe's events: checkout completed, the subscription active.
    stripe_holds(&app, &reference, "active");
    let completed = event(
        "evt_1",
        "checkout.session.completed",
        json!({"id": "cs_test_1", "object": "checkout.session", "mode": "subscription",
               "client_reference_id": reference, "customer": "cus_1", "subscription": "sub_1",
               "payment_status": "paid"}),
    );
    // Unsigned, tampered, stale and far-future deliveries change nothing.
    assert_eq!(post(&app, &completed, None, false).await.0, 401);
    assert_eq!(post(&app, &completed, Some(now()), true).await.0, 403);
    assert_eq!(
        post(&app, &completed, Some(now() - 400), false).await.0,
        403
    );
    assert_eq!(
        post(&app, &completed, Some(now() + 400), false).await.0,
        403
    );
    assert_eq!(tier(&app).await, "free");
    assert_eq!(
        send(&app, &completed).await,
        (200, json!({"status": "applied", "tier": "premium"}))
    );
    assert_eq!(send(&app, &completed).await.1, json!({"status": "repeat"}));
    assert_eq!(tier(&app).await, "premium");

    // Premium lifts the daily limit.
    app.text("s-4", me, "tell me something nice").await;
    app.run_until_idle().await;
    assert!(
        app.sent_to(me)[3].contains("Claude here"),
        "{:?}",
        app.sent_to(me)
    );

    // A failed payment: Stripe retries it (past_due), still premium; then the
    // subscription ends (unpaid): free.
    stripe_holds(&app, &reference, "past_due");
    let failed = event(
        "evt_2",
        "invoice.payment_failed",
        json!({"id": "in_1", "object": "invoice", "customer": "cus_1",
               "parent": {"subscription_details": {"subscription": "sub_1"}}}),
    );
    assert_eq!(send(&app, &failed).await.1["tier"], "premium");
    stripe_holds(&app, &reference, "unpaid");
    let lapsed = event(
        "evt_3",
        "customer.subscription.updated",
        json!({"id": "sub_1", "object": "subscription", "status": "unpaid", "customer": "cus_1"}),
    );
    assert_eq!(send(&app, &lapsed).await.1["tier"], "free");
    // An older update (it says active) arriving late changes nothing: Stripe says unpaid.
    let late = event(
        "evt_0",
        "customer.subscription.updated",
        json!({"id": "sub_1", "object": "subscription", "status": "active", "customer": "cus_1"}),
    );
    assert_eq!(send(&app, &late).await.1["tier"], "free");
    assert_eq!(tier(&app).await, "free");
    app.text("s-5", me, "hello?").await;
    app.run_until_idle().await;
    assert!(
        app.sent_to(me)[4].contains("free message limit"),
        "{:?}",
        app.sent_to(me)
    );

    // CANCEL PLAN: a Portal link for their customer.
    app.text("s-6", me, "cancel plan").await;
    app.run_until_idle().await;
    let sent = app.sent_to(me);
    assert!(
        sent[5].contains("https://billing.stripe.com/p/session/test_"),
        "{sent:?}"
    );
    let portal = app
        .stripe
        .seen()
        .into_iter()
        .find(|s| s.path == "/v1/billing_portal/sessions")
        .unwrap();
    assert!(
        portal.form().contains(&("customer".into(), "cus_1".into())),
        "{}",
        portal.body
    );

    // Erasing a subscriber cancels their live subscription first.
    stripe_holds(&app, &reference, "active");
    app.text("s-7", me, "DELETE MY DATA").await;
    app.run_until_idle().await;
    app.text("s-8", me, "CONFIRM DELETE").await;
    app.run_until_idle().await;
    let sent = app.sent_to(me);
    assert!(
        sent[7].contains("we've deleted") && !sent[7].contains("couldn't cancel"),
        "{sent:?}"
    );
    assert_eq!(app.stripe.count_of("DELETE"), 1);
    assert_eq!(
        app.subscriptions.lock().unwrap()["sub_1"]["status"],
        "canceled"
    );

    // Events Jules does not act on, and subscriptions it did not start.
    let other = event(
        "evt_4",
        "customer.created",
        json!({"id": "cus_9", "object": "customer"}),
    );
    assert_eq!(send(&app, &other).await.1, json!({"status": "ignored"}));
    app.subscriptions.lock().unwrap().insert(
        "sub_9".into(),
        json!({"id": "sub_9", "status": "active", "customer": "cus_9", "metadata": {}}),
    );
    let foreign = event(
        "evt_5",
        "customer.subscription.created",
        json!({"id": "sub_9", "object": "subscription", "status": "active"}),
    );
    assert_eq!(send(&app, &foreign).await.1, json!({"status": "ignored"}));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_stripe_premium_is_unavailable_and_events_are_refused() {
    let app = TestApp::start(Options::default()).await;
    let me = "+15559990002";
    app.text("u-1", me, "UPGRADE").await;
    app.run_until_idle().await;
    let sent = app.sent_to(me);
    assert!(sent[0].contains("Premium isn't available"), "{sent:?}");
    let (code, why) = send(&app, &event("evt_1", "invoice.paid", json!({}))).await;
    assert_eq!(code, 403, "{why}");
    assert_eq!(app.stripe.count(), 0);
}
