//! A conversation turn in the store, on both backends: claimed by one worker at a
//! time, read in one go, recorded whole or not at all.

#[path = "../../tests/support/mod.rs"]
#[macro_use]
mod support;

use std::time::{Duration, SystemTime};

use jules::store::{
    AgeStatus, ComplianceEntry, ComplianceEvent, Decision, MessageStatus, Purpose, UserStatus,
};
use support::store::Fixture;
use uuid::Uuid;

suite!(
    a_conversation_is_claimed_by_one_worker_at_a_time,
    a_released_conversation_is_claimed_again,
    a_burst_of_texts_waits_for_quiet,
    a_turn_is_read_in_one_go,
    a_turn_is_recorded_whole,
    a_failed_turn_writes_nothing,
);

fn now() -> SystemTime {
    SystemTime::now()
}

/// Claim up to 10 conversations with no quiet window.
async fn claim(db: &jules::store::Backend, lease: Duration) -> Vec<Uuid> {
    db.claim_conversations(10, lease, Duration::ZERO)
        .await
        .unwrap()
}

/// The person's open turn, counting texts since `since`; they exist.
async fn open(f: &Fixture, user: Uuid, since: SystemTime) -> jules::store::OpenTurn {
    f.store.open_turn(user, since).await.unwrap().unwrap()
}

async fn statuses(f: &Fixture, user: Uuid) -> Vec<MessageStatus> {
    let rows = f.store.db().recent_messages(user, 10).await.unwrap();
    rows.iter().map(|m| m.status).collect()
}

async fn a_conversation_is_claimed_by_one_worker_at_a_time(f: Fixture) {
    let (a, _) = f.user_of("+15550000021", "a1", "first").await;
    f.inbound("+15550000021", "a2", "second").await;
    let (b, _) = f.user_of("+15550000022", "b1", "other").await;
    let lease = Duration::from_millis(300);
    let db = f.store.db();
    let claims: Vec<_> = (0..4)
        .map(|_| {
            let db = db.clone();
            tokio::spawn(async move { claim(&db, lease).await })
        })
        .collect();
    let mut claimed = Vec::new();
    for c in claims {
        claimed.extend(c.await.unwrap());
    }
    claimed.sort();
    let mut both = vec![a, b];
    both.sort();
    assert_eq!(
        claimed, both,
        "each user claimed by exactly one of four workers"
    );
    assert_eq!(
        statuses(&f, a).await,
        [MessageStatus::Processing; 2],
        "claimed texts are processing"
    );

    // b is answered and released; a's worker dies (its lease runs out).
    let turn = open(&f, b, now()).await;
    let texts = turn.pending.iter().map(|(t, _)| t.message_id).collect();
    db.close_turn(&f.outcome(b, texts, &[(Purpose::Reply, "hi")]))
        .await
        .unwrap();
    assert_eq!(
        statuses(&f, b).await,
        [MessageStatus::Replied, MessageStatus::Queued]
    );
    assert!(claim(db, lease).await.is_empty());
    assert_eq!(
        db.recover_conversations().await.unwrap(),
        0,
        "a held lease keeps its texts"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(
        claim(db, lease).await.is_empty(),
        "claims look only at texts nobody holds"
    );
    assert_eq!(
        db.recover_conversations().await.unwrap(),
        2,
        "the expired lease's texts are handed back"
    );
    assert_eq!(statuses(&f, a).await, [MessageStatus::Received; 2]);
    assert_eq!(claim(db, lease).await, [a]);
}

async fn a_released_conversation_is_claimed_again(f: Fixture) {
    let (a, _) = f.user_of("+15550000024", "a1", "first").await;
    let db = f.store.db();
    let lease = Duration::from_secs(60);
    assert_eq!(claim(db, lease).await, [a]);
    f.inbound("+15550000024", "a2", "while held").await;
    assert!(
        claim(db, lease).await.is_empty(),
        "a held conversation is not claimed again, even with a new text"
    );
    db.release_conversation(a, Duration::from_millis(300))
        .await
        .unwrap();
    assert_eq!(statuses(&f, a).await, [MessageStatus::Received; 2]);
    assert!(
        claim(db, lease).await.is_empty(),
        "a failed turn waits before it is claimed again"
    );
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(claim(db, lease).await, [a]);
    db.release_conversation(a, Duration::ZERO).await.unwrap();
    assert_eq!(statuses(&f, a).await, [MessageStatus::Received; 2]);
    assert_eq!(claim(db, lease).await, [a]);
    assert_eq!(statuses(&f, a).await, [MessageStatus::Processing; 2]);
}

async fn a_burst_of_texts_waits_for_quiet(f: Fixture) {
    let (a, _) = f.user_of("+15550000023", "a1", "hey").await;
    let db = f.store.db();
    let lease = Duration::from_secs(30);
    assert!(
        db.claim_conversations(10, lease, Duration::from_secs(60))
            .await
            .unwrap()
            .is_empty()
    );
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(
        db.claim_conversations(10, lease, Duration::from_millis(200))
            .await
            .unwrap(),
        [a]
    );
}

async fn a_turn_is_read_in_one_go(f: Fixture) {
    assert_eq!(
        f.store.open_turn(Uuid::new_v4(), now()).await.unwrap(),
        None
    );
    let (a, m1) = f.user_of("+15550000041", "a1", "first").await;
    let (_, m2) = f.inbound("+15550000041", "a2", "second").await;
    let turn = open(&f, a, now() - Duration::from_secs(60)).await;
    assert_eq!(turn.user.phone, "+15550000041");
    let pending: Vec<_> = turn
        .pending
        .iter()
        .map(|(t, c)| (t.message_id, t.text.as_str(), c.as_str()))
        .collect();
    assert_eq!(
        pending,
        [(m1, "first", "bandwidth"), (m2, "second", "bandwidth")],
        "oldest first, opened, with their carrier"
    );
    assert_eq!(turn.inbound_since, 2);
    assert!(!turn.has_history, "nothing but the pending texts yet");
    let later = open(&f, a, now() + Duration::from_secs(60)).await;
    assert_eq!(later.inbound_since, 0, "counted from the time asked for");

    f.store
        .db()
        .close_turn(&f.outcome(a, vec![m1, m2], &[(Purpose::Reply, "hello")]))
        .await
        .unwrap();
    let (_, m3) = f.inbound("+15550000041", "a3", "third").await;
    let turn = open(&f, a, now() - Duration::from_secs(60)).await;
    let ids: Vec<_> = turn.pending.iter().map(|(t, _)| t.message_id).collect();
    assert_eq!(ids, [m3], "answered texts are not pending");
    assert_eq!(turn.inbound_since, 3);
    assert!(turn.has_history);
    // Counted by when the pipeline received each text (its clock, as the disclosure
    // is), not by the database's time of writing.
    let ahead = now() + Duration::from_secs(7200);
    f.store
        .record_inbound(
            jules::domain::Carrier::Bandwidth,
            &jules::domain::CarrierMessageId::parse("a4").unwrap(),
            &jules::domain::PhoneNumber::parse("+15550000041").unwrap(),
            "fourth",
            1,
            ahead,
        )
        .await
        .unwrap();
    let turn = open(&f, a, now() + Duration::from_secs(3600)).await;
    assert_eq!(
        turn.inbound_since, 1,
        "only the text received after the hour"
    );
}

async fn a_turn_is_recorded_whole(f: Fixture) {
    let (u, m) = f.user_of("+15550000042", "m1", "START").await;
    let db = f.store.db();
    f.set_status(u, UserStatus::OptedOut, now()).await;
    let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000);
    let mut turn = f.outcome(
        u,
        vec![m],
        &[
            (Purpose::OptInConfirmation, "You are subscribed again."),
            (Purpose::Reply, "Welcome back."),
        ],
    );
    turn.at = at;
    turn.status = Some(UserStatus::Active);
    turn.age_status = Some(AgeStatus::Pending);
    turn.disclosed = true;
    turn.decisions = ["crisis-detector", "compliance-policy", "prompt-builder"]
        .into_iter()
        .map(|world| Decision {
            world,
            bundle_digest: Some(format!("sha256:{world}")),
            fallback: None,
            summary: serde_json::json!({"world": world}),
        })
        .collect();
    turn.compliance = vec![
        ComplianceEntry {
            event: ComplianceEvent::OptIn,
            detail: "keyword".into(),
            bundle_digest: Some("sha256:c".into()),
        },
        ComplianceEntry {
            event: ComplianceEvent::DisclosureSent,
            detail: "with reply".into(),
            bundle_digest: None,
        },
    ];
    let queued = db.close_turn(&turn).await.unwrap();
    let asked: Vec<_> = turn.replies.iter().map(|r| r.message_id).collect();
    assert_eq!(queued, asked, "both replies queued, in order");

    let user = f.store.user(u).await.unwrap().unwrap();
    assert_eq!(user.status, UserStatus::Active);
    assert_eq!(user.opted_in_at, Some(at));
    assert_eq!(user.age_status, AgeStatus::Pending);
    assert_eq!(user.last_disclosure_at, Some(at));
    let worlds: Vec<_> = db
        .policy_decisions(m)
        .await
        .unwrap()
        .into_iter()
        .map(|(w, digest, summary)| (w, digest.unwrap(), summary["world"].clone()))
        .collect();
    assert_eq!(worlds.len(), 3);
    assert!(
        worlds
            .iter()
            .all(|(w, d, s)| d == &format!("sha256:{w}") && s == w.as_str())
    );
    let log: Vec<_> = db
        .compliance_log(u)
        .await
        .unwrap()
        .into_iter()
        .map(|r| (r.event, r.occurred_at))
        .collect();
    assert_eq!(
        log,
        [
            (ComplianceEvent::OptIn, at),
            (ComplianceEvent::DisclosureSent, at)
        ]
    );
    // One person's replies are claimed one at a time, in the order queued.
    let mut rows = f.store.claim(10, Duration::from_secs(60)).await.unwrap();
    db.mark_sent(&[(rows[0].outbox_id, None)]).await.unwrap();
    rows.extend(f.store.claim(10, Duration::from_secs(60)).await.unwrap());
    let sent: Vec<_> = rows
        .iter()
        .map(|r| (r.purpose.as_str(), r.text.as_str()))
        .collect();
    assert_eq!(
        sent,
        [
            ("opt-in-confirmation", "You are subscribed again."),
            ("reply", "Welcome back.")
        ]
    );
    assert!(rows.iter().all(|r| r.to.as_str() == "+15550000042"));

    // The same turn again (a worker that lost its lease): nothing is queued twice.
    let again = f.outcome(u, vec![m], &[(Purpose::Reply, "Welcome back.")]);
    assert!(db.close_turn(&again).await.unwrap().is_empty());
    assert_eq!(f.count("outbox").await, 2);
}

async fn a_failed_turn_writes_nothing(f: Fixture) {
    let (u, m) = f.user_of("+15550000043", "m1", "hi").await;
    let db = f.store.db();
    assert_eq!(claim(db, Duration::from_secs(60)).await, [u]);
    let mut turn = f.outcome(u, vec![m], &[(Purpose::Reply, "hello")]);
    turn.status = Some(UserStatus::OptedOut);
    turn.decisions.push(Decision {
        world: "not-a-world",
        bundle_digest: None,
        fallback: None,
        summary: serde_json::json!({}),
    });
    db.close_turn(&turn)
        .await
        .expect_err("a decision of an unknown world is refused");
    assert_eq!(f.count("outbox").await, 0, "no reply queued");
    assert_eq!(statuses(&f, u).await, [MessageStatus::Processing]);
    let user = f.store.user(u).await.unwrap().unwrap();
    assert_eq!(
        user.status,
        UserStatus::Active,
        "the status change was not kept"
    );
    assert!(
        claim(db, Duration::from_secs(60)).await.is_empty(),
        "the conversation is still held by its worker"
    );
}
