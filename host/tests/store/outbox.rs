//! The outbox on both backends: claims under a lease, one open row per person (so a
//! person's messages leave in queue order across retries and hosts), every attempt on
//! record before the carrier is called, and settling that never undoes itself.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use jules::domain::Carrier;
use jules::store::{MessageStatus, Outgoing, UserStatus};
use uuid::Uuid;

use super::support::store::Fixture;

suite!(
    two_workers_send_every_outbox_row_exactly_once,
    a_persons_messages_are_claimed_one_at_a_time_in_queue_order,
    a_persons_next_message_waits_for_a_retry_but_not_for_a_dead_letter,
    a_claimed_row_returns_in_doubt_when_its_lease_ends,
    only_an_attempt_that_certainly_failed_clears_the_doubt,
    settling_is_idempotent_and_a_taken_dead_letter_is_sent_after_all,
    retries_wait_and_dead_letters_stop,
    delivery_reports_update_the_outbound_message,
);

fn now() -> SystemTime {
    SystemTime::now()
}

const LEASE: Duration = Duration::from_secs(60);

/// `n` replies queued for the person at `phone`; their outbox ids in the order queued.
async fn queue_for(f: &Fixture, phone: &str, n: usize) -> (Uuid, Vec<Uuid>) {
    let (user, _) = f.user_of(phone, &format!("in-{phone}"), "hi").await;
    let mut queued = Vec::new();
    for i in 0..n {
        let (_, outbox) = f
            .store
            .queue_reply(user, Carrier::Bandwidth, &format!("reply {i}"), 1)
            .await
            .unwrap();
        queued.push(outbox);
    }
    (user, queued)
}

async fn queue(f: &Fixture, n: usize) -> (Uuid, Vec<Uuid>) {
    queue_for(f, "+15550000009", n).await
}

fn ids(rows: &[Outgoing]) -> Vec<Uuid> {
    rows.iter().map(|r| r.outbox_id).collect()
}

async fn sent(f: &Fixture, rows: &[Outgoing]) {
    let marks: Vec<_> = rows.iter().map(|r| (r.outbox_id, None)).collect();
    f.store.db().mark_sent(&marks).await.unwrap();
}

async fn two_workers_send_every_outbox_row_exactly_once(f: Fixture) {
    let mut queued = BTreeSet::new();
    for p in 0..10 {
        queued.extend(queue_for(&f, &format!("+1555000{p:04}"), 20).await.1);
    }
    let worker = |store: jules::store::Store| {
        tokio::spawn(async move {
            let mut sent = Vec::new();
            loop {
                let batch = store.claim(7, LEASE).await.unwrap();
                if batch.is_empty() {
                    return sent;
                }
                let people: BTreeSet<Uuid> = batch.iter().map(|r| r.user_id).collect();
                assert_eq!(people.len(), batch.len(), "one row per person per claim");
                // Sent as a batch, marked as one.
                let marks: Vec<_> = batch.iter().map(|r| (r.outbox_id, None)).collect();
                store.db().mark_sent(&marks).await.unwrap();
                for row in batch {
                    assert!(row.text.starts_with("reply "));
                    sent.push(row.outbox_id);
                }
            }
        })
    };
    let (a, b) = (worker(f.store.clone()), worker(f.store.clone()));
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    let all: Vec<Uuid> = a.iter().chain(b.iter()).copied().collect();
    assert_eq!(
        all.len(),
        200,
        "every row sent once (a {}, b {})",
        a.len(),
        b.len()
    );
    assert_eq!(all.iter().copied().collect::<BTreeSet<_>>(), queued);
    assert_eq!(f.count("outbox WHERE sent_at IS NOT NULL").await, 200);
    assert_eq!(f.count("messages WHERE status = 'sent'").await, 200);
    assert!(f.store.claim(10, LEASE).await.unwrap().is_empty());
}

async fn a_persons_messages_are_claimed_one_at_a_time_in_queue_order(f: Fixture) {
    let (_, queued) = queue(&f, 5).await;
    let (_, other) = queue_for(&f, "+15550000010", 1).await;
    let first = f.store.claim(10, LEASE).await.unwrap();
    assert_eq!(
        ids(&first),
        [queued[0], other[0]],
        "one per person, oldest first"
    );
    let mut claimed = vec![first[0].outbox_id];
    assert!(
        f.store.claim(10, LEASE).await.unwrap().is_empty(),
        "the next waits until the first is settled"
    );
    sent(&f, &first).await;
    for _ in 1..5 {
        let batch = f.store.claim(10, LEASE).await.unwrap();
        assert_eq!(batch.len(), 1);
        claimed.push(batch[0].outbox_id);
        sent(&f, &batch).await;
    }
    assert_eq!(claimed, queued);
}

async fn a_persons_next_message_waits_for_a_retry_but_not_for_a_dead_letter(f: Fixture) {
    let (_, queued) = queue(&f, 2).await;
    let first = f.store.claim(10, LEASE).await.unwrap();
    assert_eq!(ids(&first), [queued[0]]);
    let db = f.store.db();
    db.retry_at(queued[0], "429", now() - Duration::from_secs(1), false)
        .await
        .unwrap();
    let again = f.store.claim(10, LEASE).await.unwrap();
    assert_eq!(ids(&again), [queued[0]], "the retry, not the next message");
    db.dead_letter(queued[0], "refused").await.unwrap();
    let next = f.store.claim(10, LEASE).await.unwrap();
    assert_eq!(ids(&next), [queued[1]], "a dead letter frees the next");
}

async fn a_claimed_row_returns_in_doubt_when_its_lease_ends(f: Fixture) {
    queue(&f, 1).await;
    let before = now() - Duration::from_millis(50);
    let first = f.store.claim(10, Duration::from_millis(200)).await.unwrap();
    assert_eq!(first.len(), 1);
    assert_eq!(first[0].in_doubt_since, None, "never tried before");
    assert!(f.store.claim(10, LEASE).await.unwrap().is_empty(), "leased");
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The worker that claimed it never finished: it may have reached the carrier.
    let again = f.store.claim(10, LEASE).await.unwrap();
    assert_eq!(again.len(), 1);
    assert_eq!(again[0].attempts, 2);
    let since = again[0].in_doubt_since.expect("in doubt");
    assert!(since >= before && since <= now(), "{since:?}");
}

async fn only_an_attempt_that_certainly_failed_clears_the_doubt(f: Fixture) {
    let (_, queued) = queue(&f, 1).await;
    let id = queued[0];
    let db = f.store.db();
    let claim = || async { f.store.claim(10, LEASE).await.unwrap().remove(0) };
    claim().await;
    db.retry_at(id, "timed out", now() - Duration::from_secs(1), true)
        .await
        .unwrap();
    let doubtful = claim().await;
    let since = doubtful
        .in_doubt_since
        .expect("a timeout leaves it in doubt");
    db.retry_at(id, "still unknown", now() - Duration::from_secs(1), true)
        .await
        .unwrap();
    assert_eq!(
        claim().await.in_doubt_since,
        Some(since),
        "the first doubt stays"
    );
    assert!(
        db.resend(id).await.unwrap(),
        "the carrier never took it: resent"
    );
    db.retry_at(id, "429", now() - Duration::from_secs(1), false)
        .await
        .unwrap();
    assert_eq!(claim().await.in_doubt_since, None, "a 429 took nothing");
    db.mark_sent(&[(id, Some("bw-1".into()))]).await.unwrap();
    assert!(
        !db.resend(id).await.unwrap(),
        "settled meanwhile: not sent again"
    );
}

async fn settling_is_idempotent_and_a_taken_dead_letter_is_sent_after_all(f: Fixture) {
    let (user, queued) = queue(&f, 2).await;
    let db = f.store.db();
    let row = f.store.claim(1, LEASE).await.unwrap().remove(0);
    db.mark_sent(&[(row.outbox_id, Some("bw-1".into()))])
        .await
        .unwrap();
    assert!(
        db.delivery_update("bandwidth", "bw-1", MessageStatus::Delivered)
            .await
            .unwrap()
    );
    // A late record of the same send does not undo the delivery report.
    db.mark_sent(&[(row.outbox_id, Some("bw-1".into()))])
        .await
        .unwrap();
    let message = |id: Uuid| {
        let store = f.store.clone();
        async move {
            let rows = store.db().recent_messages(user, 10).await.unwrap();
            rows.into_iter().find(|m| m.id == id).unwrap()
        }
    };
    assert_eq!(
        message(row.message_id).await.status,
        MessageStatus::Delivered
    );
    assert_eq!(
        db.known_carrier_ids("bandwidth", &["bw-1".into(), "bw-9".into()])
            .await
            .unwrap(),
        ["bw-1"]
    );
    // Given up on, then the carrier reports it took it after all.
    let next = f.store.claim(1, LEASE).await.unwrap().remove(0);
    assert_eq!(next.outbox_id, queued[1]);
    db.dead_letter(next.outbox_id, "outcome unknown")
        .await
        .unwrap();
    // A carrier id already recorded for another message is not recorded again (the
    // unique violation would fail the whole batch of records).
    db.mark_sent(&[(next.outbox_id, Some("bw-1".into()))])
        .await
        .unwrap();
    assert_eq!(message(next.message_id).await.status, MessageStatus::Sent);
    assert!(db.dead_letters().await.unwrap().is_empty());
}

async fn retries_wait_and_dead_letters_stop(f: Fixture) {
    let (user, a) = queue(&f, 1).await;
    let (_, b) = queue_for(&f, "+15550000010", 1).await;
    let (a, b) = (a[0], b[0]);
    let rows = f.store.claim(10, LEASE).await.unwrap();
    assert_eq!(ids(&rows), [a, b]);
    let db = f.store.db();
    db.retry_at(
        a,
        "429 from the carrier",
        now() - Duration::from_secs(1),
        false,
    )
    .await
    .unwrap();
    db.dead_letter(b, "carrier down").await.unwrap();
    let again = f.store.claim(10, LEASE).await.unwrap();
    assert_eq!(ids(&again), [a]);
    assert_eq!(again[0].attempts, 2);
    db.retry_at(a, "429", now() + Duration::from_secs(3600), false)
        .await
        .unwrap();
    assert!(
        f.store.claim(10, LEASE).await.unwrap().is_empty(),
        "not due yet"
    );
    assert_eq!(
        db.dead_letters().await.unwrap(),
        [(b, "carrier down".to_string())]
    );
    // The opted-out status travels with a claimed row, so the sender can hold it back.
    f.set_status(user, UserStatus::OptedOut, now()).await;
    db.retry_at(a, "429", now() - Duration::from_secs(1), false)
        .await
        .unwrap();
    let held = f.store.claim(10, LEASE).await.unwrap();
    assert_eq!(held[0].user_status, UserStatus::OptedOut);
}

async fn delivery_reports_update_the_outbound_message(f: Fixture) {
    queue(&f, 1).await;
    let row = f.store.claim(1, LEASE).await.unwrap().remove(0);
    f.store
        .db()
        .mark_sent(&[(row.outbox_id, Some("bw-out-1".into()))])
        .await
        .unwrap();
    let status = |store: jules::store::Store, user| async move {
        let rows = store.db().recent_messages(user, 10).await.unwrap();
        rows.iter().find(|m| m.id == row.message_id).unwrap().status
    };
    assert_eq!(
        status(f.store.clone(), row.user_id).await,
        MessageStatus::Sent
    );
    assert!(
        f.store
            .db()
            .delivery_update("bandwidth", "bw-out-1", MessageStatus::Delivered)
            .await
            .unwrap()
    );
    assert_eq!(
        status(f.store.clone(), row.user_id).await,
        MessageStatus::Delivered
    );
    assert!(
        !f.store
            .db()
            .delivery_update("bandwidth", "unknown", MessageStatus::Failed)
            .await
            .unwrap(),
        "a report for an unknown message changes nothing"
    );
}
