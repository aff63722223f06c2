//! Erasing a person on both backends: their texts, details and links emptied in one
//! transaction, what is still to be sent kept, the notice queued, the log told; and
//! everything that reads messages (history, pending texts, rotation) takes it.

use std::time::{Duration, SystemTime};

use jules::domain::Carrier;
use jules::store::rotate::{census, rotate};
use jules::store::{ComplianceEvent, NewCheck, Purpose};
use uuid::Uuid;

use super::support::store::Fixture;

suite!(
    erasing_empties_what_a_person_sent_and_keeps_what_is_still_to_be_sent,
    an_erased_person_who_texts_again_starts_afresh,
);

async fn erasing_empties_what_a_person_sent_and_keeps_what_is_still_to_be_sent(f: Fixture) {
    let (user, first) = f
        .user_of("+15553330001", "e-1", "my name is Sam, I'm 12")
        .await;
    f.store
        .set_preferences(user, &serde_json::json!({"name": "Sam"}))
        .await
        .unwrap();
    // Its turn was answered.
    f.store
        .db()
        .close_turn(&f.outcome(user, vec![first], &[]))
        .await
        .unwrap();
    let (_, sent_out) = f
        .store
        .queue_reply(user, Carrier::Bandwidth, "hi Sam", 1)
        .await
        .unwrap();
    f.store.db().mark_sent(&[(sent_out, None)]).await.unwrap();
    let (waiting, _) = f
        .store
        .queue_reply(user, Carrier::Bandwidth, "call or text 988", 1)
        .await
        .unwrap();
    let check = Uuid::new_v4();
    f.store
        .add_age_check(&NewCheck {
            id: check,
            user_id: user,
            session_id: "s-1",
            url: "https://alchemy.veriff.com/v/secret-token",
            carrier: Carrier::Bandwidth,
            at: SystemTime::now(),
            expires_at: SystemTime::now() + Duration::from_secs(60),
        })
        .await
        .unwrap();
    let (_, unanswered) = f.user_of("+15553330001", "e-2", "are you there").await;
    let other = f.user_of("+15553330002", "e-3", "someone else").await.0;

    assert!(
        f.store
            .erase_person(user, "asked", Some("deleted"))
            .await
            .unwrap()
    );
    assert!(
        !f.store
            .erase_person(Uuid::new_v4(), "asked", None)
            .await
            .unwrap()
    );

    assert!(f.raw_get("messages", "body", first).await.is_empty());
    assert!(
        !f.raw_get("messages", "body", unanswered).await.is_empty(),
        "a text not answered yet waits for its turn: it may be a crisis"
    );
    assert!(
        !f.raw_get("messages", "body", waiting).await.is_empty(),
        "still to be sent"
    );
    assert!(f.raw_get("age_checks", "url", check).await.is_empty());
    let person = f.store.user(user).await.unwrap().unwrap();
    assert_eq!(person.phone, "+15553330001", "kept sealed, to answer them");
    assert_eq!(person.preferences, None);
    let latest = f.store.latest_age_check(user).await.unwrap().unwrap();
    assert!(latest.url.is_empty() && !latest.open_at(SystemTime::now()));
    let log = f.store.db().compliance_log(user).await.unwrap();
    assert_eq!(
        log.last().map(|e| (e.event, e.detail.as_str())),
        Some((ComplianceEvent::Erased, "asked"))
    );

    // Their history is what is still to be sent, the text still to be answered and the
    // notice; the text waits for its turn.
    let turns: Vec<String> = f
        .store
        .recent_turns(user, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|t| t.text)
        .collect();
    assert_eq!(turns, ["call or text 988", "are you there", "deleted"]);
    let turn = f
        .store
        .open_turn(user, SystemTime::UNIX_EPOCH)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(turn.pending.len(), 1);
    assert_eq!(turn.pending[0].0.text, "are you there");
    // A person's messages leave one at a time, in order: what waited, then the notice.
    let mut texts = Vec::new();
    for _ in 0..2 {
        let out = f.store.claim(10, Duration::from_secs(60)).await.unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].purpose, Purpose::Reply);
        f.store
            .db()
            .mark_sent(&[(out[0].outbox_id, None)])
            .await
            .unwrap();
        texts.push(out[0].text.clone());
    }
    assert_eq!(texts, ["call or text 988", "deleted"]);

    // The other person is untouched; rotation passes over what was emptied.
    assert_eq!(
        f.store.recent_turns(other, 10).await.unwrap()[0].text,
        "someone else"
    );
    rotate(&f.store, 100, |_, _| {}).await.unwrap();
    assert!(census(&f.store, 100).await.unwrap().values().sum::<u64>() > 0);
}

async fn an_erased_person_who_texts_again_starts_afresh(f: Fixture) {
    let (user, text) = f.user_of("+15553330003", "e-4", "secret").await;
    f.store
        .db()
        .close_turn(&f.outcome(user, vec![text], &[]))
        .await
        .unwrap();
    f.store.erase_person(user, "asked", None).await.unwrap();
    let (again, text) = f.user_of("+15553330003", "e-5", "hello again").await;
    assert_eq!(
        again, user,
        "the same person, by the blind index of their number"
    );
    let turn = f
        .store
        .open_turn(user, SystemTime::UNIX_EPOCH)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(turn.pending.len(), 1);
    assert_eq!(
        (
            turn.pending[0].0.message_id,
            turn.pending[0].0.text.as_str()
        ),
        (text, "hello again")
    );
    let history = f.store.recent_turns(user, 10).await.unwrap();
    assert_eq!(history.len(), 1, "the erased text is not history");
}
