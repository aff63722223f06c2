//! `jules users erase` as an operator runs it on a person's request.

use std::time::SystemTime;

use crate::keys::{BLIND, jules};
use crate::support::TestDatabase;
use crate::support::store::{one_key, secrets};

fn erase(phone: &str, url: &str, keys: &str) -> (i32, String, String) {
    jules(&["users", "erase", "--phone", phone], url, keys)
}

#[tokio::test]
async fn an_operator_erases_a_person_and_they_are_told() {
    let db = TestDatabase::create().await;
    let keys = one_key();
    let mut s = (*secrets(&keys)).clone();
    s.blind = jules::crypto::BlindIndex::parse(BLIND).unwrap();
    let store =
        jules::store::Store::open(Some(&db.url), 2, std::path::Path::new("."), s.into()).unwrap();
    store.db().migrate().await.unwrap();
    let inbound = async |sid: &str, body: &str| {
        store
            .record_inbound(
                jules::domain::Carrier::Twilio,
                &jules::domain::CarrierMessageId::parse(sid).unwrap(),
                &jules::domain::PhoneNumber::parse("+15554440001").unwrap(),
                body,
                1,
                SystemTime::now(),
            )
            .await
            .unwrap()
    };
    // One text answered, one not yet.
    let (jules::store::Recorded::Stored { user_id, .. }, answered) =
        inbound("SM1", "my name is Robin").await
    else {
        panic!("stored")
    };
    store
        .db()
        .close_turn(&jules::store::TurnOutcome {
            user_id,
            carrier: jules::domain::Carrier::Twilio,
            texts: vec![answered],
            at: SystemTime::now(),
            decisions: Vec::new(),
            replies: Vec::new(),
            compliance: Vec::new(),
            status: None,
            age_status: None,
            disclosed: false,
            erase: None,
        })
        .await
        .unwrap();
    let (_, text) = inbound("SM2", "please forget me").await;

    let (code, out, err) = erase("+15554440001", &db.url, &keys);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("erased person") && out.contains("confirmation is queued"),
        "{out}"
    );
    assert!(err.contains("without REDIS_URL"), "{err}");
    let person = store.user_by_phone("+15554440001").await.unwrap().unwrap();
    // Their text was not answered yet: it waits for its turn (it may be a crisis); the
    // confirmation is queued after it.
    let turns = store.recent_turns(person.id, 10).await.unwrap();
    assert_eq!(turns.len(), 2, "{turns:?}");
    assert_eq!(turns[0].message_id, text);
    assert!(turns[1].text.contains("deleted your messages"), "{turns:?}");
    let sent = store
        .claim(10, std::time::Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(
        sent[0].carrier,
        jules::domain::Carrier::Twilio,
        "through their carrier"
    );

    let (code, _, err) = erase("+15554440002", &db.url, &keys);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("nobody has this number"), "{err}");
    let (code, _, err) = erase("5554440001", &db.url, &keys);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--phone"), "{err}");
}
