//! Age checks on both backends: a person's newest check with its link sealed, and a
//! provider's decision applied once, in order, to the newest check only.

use std::time::{Duration, SystemTime};

use jules::domain::Carrier;
use jules::store::{
    AgeDecision, AgeStatus, CheckStatus, DecisionApplied, NewCheck, Purpose, UserStatus,
};
use uuid::Uuid;

use super::support::store::Fixture;

suite!(
    a_check_is_stored_sealed_and_read_back_opened,
    a_decision_applies_once_and_an_older_one_never_overwrites_a_newer,
    only_the_newest_check_decides_and_an_unknown_one_writes_nothing,
    a_turn_asking_again_does_not_undo_a_decision,
);

const LINK: &str = "https://magic.veriff.me/v/session-token-of-the-person";

async fn check(f: &Fixture, user_id: Uuid, session: &str, at: SystemTime) -> Uuid {
    let id = Uuid::new_v4();
    f.store
        .add_age_check(&NewCheck {
            id,
            user_id,
            session_id: session,
            url: &format!("{LINK}/{session}"),
            carrier: Carrier::Twilio,
            at,
            expires_at: at + Duration::from_secs(3600),
        })
        .await
        .unwrap();
    id
}

fn decision<'a>(
    delivery: &'a str,
    check_id: Uuid,
    session_id: &'a str,
    status: CheckStatus,
    age: Option<AgeStatus>,
    decided_at: SystemTime,
    reply: Option<&'a jules::store::SealedReply>,
) -> AgeDecision<'a> {
    AgeDecision {
        delivery,
        check_id,
        session_id,
        status,
        decided_at,
        age,
        detail: "veriff approved: adult",
        reply,
        erase: false,
    }
}

async fn a_check_is_stored_sealed_and_read_back_opened(f: Fixture) {
    let (user, _) = f.user_of("+15552220001", "a-1", "hi").await;
    assert_eq!(f.store.latest_age_check(user).await.unwrap(), None);
    let now = SystemTime::now();
    let first = check(&f, user, "s-1", now - Duration::from_secs(60)).await;
    let second = check(&f, user, "s-2", now).await;
    let latest = f.store.latest_age_check(user).await.unwrap().unwrap();
    assert_eq!(latest.id, second);
    assert_eq!(latest.url, format!("{LINK}/s-2"));
    assert!(latest.open_at(now));
    assert!(!latest.open_at(now + Duration::from_secs(3601)), "expired");
    let dump = f.dump().await;
    assert!(
        !dump.contains("session-token-of-the-person"),
        "links are sealed"
    );
    // A link moved to another check's row does not open.
    let sealed = f.raw_get("age_checks", "url", first).await;
    f.raw_set("age_checks", "url", second, &sealed).await;
    assert!(f.store.latest_age_check(user).await.is_err());
}

async fn a_decision_applies_once_and_an_older_one_never_overwrites_a_newer(f: Fixture) {
    let (user, _) = f.user_of("+15552220002", "a-2", "hi").await;
    let now = SystemTime::now();
    let id = check(&f, user, "s-3", now).await;
    let reply = f
        .store
        .sealed_reply(Purpose::AgeVerification, "your age is confirmed", 1);
    let approved = decision(
        "s-3:approved",
        id,
        "s-3",
        CheckStatus::Approved,
        Some(AgeStatus::Adult),
        now,
        Some(&reply),
    );
    let applied = f.store.db().apply_age_decision(&approved).await.unwrap();
    assert_eq!(
        applied,
        DecisionApplied::Applied {
            user_id: user,
            carrier: "twilio".into(),
            newest: true
        }
    );
    let person = f.store.user(user).await.unwrap().unwrap();
    assert_eq!(person.age_status, AgeStatus::Adult);
    let log = f.store.db().compliance_log(user).await.unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].detail, "veriff approved: adult");
    assert_eq!(f.count("outbox").await, 1, "the person is told");
    let queued = f.store.claim(10, Duration::from_secs(60)).await.unwrap();
    assert_eq!(queued[0].text, "your age is confirmed");
    assert_eq!(
        queued[0].carrier,
        Carrier::Twilio,
        "through the check's carrier"
    );

    assert_eq!(
        f.store.db().apply_age_decision(&approved).await.unwrap(),
        DecisionApplied::Repeat
    );
    let older = decision(
        "s-3:declined",
        id,
        "s-3",
        CheckStatus::Declined,
        Some(AgeStatus::Declined),
        now - Duration::from_secs(5),
        None,
    );
    assert_eq!(
        f.store.db().apply_age_decision(&older).await.unwrap(),
        DecisionApplied::Stale
    );
    let person = f.store.user(user).await.unwrap().unwrap();
    assert_eq!(
        person.age_status,
        AgeStatus::Adult,
        "the newer decision stands"
    );
    assert_eq!(f.count("outbox").await, 1);
    assert_eq!(f.store.db().compliance_log(user).await.unwrap().len(), 1);
}

async fn only_the_newest_check_decides_and_an_unknown_one_writes_nothing(f: Fixture) {
    let (user, _) = f.user_of("+15552220003", "a-3", "hi").await;
    let now = SystemTime::now();
    let old = check(&f, user, "s-4", now - Duration::from_secs(60)).await;
    let new = check(&f, user, "s-5", now).await;
    let reply = f
        .store
        .sealed_reply(Purpose::AgeVerification, "declined", 1);
    let on_old = decision(
        "s-4:declined",
        old,
        "s-4",
        CheckStatus::Declined,
        Some(AgeStatus::Declined),
        now,
        Some(&reply),
    );
    assert_eq!(
        f.store.db().apply_age_decision(&on_old).await.unwrap(),
        DecisionApplied::Applied {
            user_id: user,
            carrier: "twilio".into(),
            newest: false
        }
    );
    let person = f.store.user(user).await.unwrap().unwrap();
    assert_eq!(
        person.age_status,
        AgeStatus::Unknown,
        "an old session decides nothing"
    );
    assert_eq!(f.count("outbox").await, 0);
    assert_eq!(f.count("compliance_log").await, 0);

    // Another check's session id, or an id nobody issued: nothing, not even the delivery.
    for (delivery, check_id, session) in [("x:1", new, "s-4"), ("x:2", Uuid::new_v4(), "s-5")] {
        let d = decision(
            delivery,
            check_id,
            session,
            CheckStatus::Approved,
            Some(AgeStatus::Adult),
            now,
            None,
        );
        assert_eq!(
            f.store.db().apply_age_decision(&d).await.unwrap(),
            DecisionApplied::UnknownCheck
        );
    }
    assert_eq!(
        f.count("webhook_deliveries").await,
        1,
        "only the old check's"
    );
    let latest = f.store.latest_age_check(user).await.unwrap().unwrap();
    assert_eq!((latest.id, latest.status), (new, CheckStatus::Created));
}

async fn a_turn_asking_again_does_not_undo_a_decision(f: Fixture) {
    let (user, text) = f.user_of("+15552220004", "a-4", "hi").await;
    let now = SystemTime::now();
    let id = check(&f, user, "s-6", now).await;
    let approved = decision(
        "s-6:approved",
        id,
        "s-6",
        CheckStatus::Approved,
        Some(AgeStatus::Minor),
        now,
        None,
    );
    f.store.db().apply_age_decision(&approved).await.unwrap();
    // A turn that read the person before the decision landed marks them pending.
    let mut turn = f.outcome(user, vec![text], &[]);
    turn.age_status = Some(AgeStatus::Pending);
    f.store.db().close_turn(&turn).await.unwrap();
    let person = f.store.user(user).await.unwrap().unwrap();
    assert_eq!(person.age_status, AgeStatus::Minor);
    assert_eq!(person.status, UserStatus::Active);
}
