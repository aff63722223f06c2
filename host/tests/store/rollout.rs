//! Desired policy state on both backends: stage, commit, abandon and roll back, each
//! change in the history with who made it and why; host heartbeats.

use std::time::SystemTime;

use jules::store::{BundleRef, Change, HostReport, RolloutRefusal};

use super::support::store::Fixture;

suite!(
    a_staged_bundle_becomes_active_and_rolls_back,
    only_the_staged_candidate_can_be_committed,
    heartbeats_keep_one_row_per_host_and_world,
);

const CRISIS: &str = "crisis-detector";

fn bundle(n: u8) -> BundleRef {
    BundleRef {
        source: format!("/bundles/crisis-{n}"),
        digest: format!("sha256:{}", format!("{n:02x}").repeat(32)),
    }
}

fn change<'a>(subject: &'a str, reason: &'a str) -> Change<'a> {
    Change {
        world: CRISIS,
        subject,
        reason,
    }
}

async fn a_staged_bundle_becomes_active_and_rolls_back(f: Fixture) {
    let db = f.store.db();
    let (one, two) = (bundle(1), bundle(2));
    db.stage(&change("ana", "first"), &one).await.unwrap();
    let staged = db.desired().await.unwrap();
    assert_eq!(staged.len(), 1);
    assert_eq!(staged[0].candidate.as_ref(), Some(&one));
    assert_eq!(staged[0].active, None, "staging serves nothing");

    let d = db
        .commit_candidate(&change("ana", "first"), &one.digest)
        .await
        .unwrap()
        .unwrap();
    assert_eq!((d.active.as_ref(), d.previous.as_ref()), (Some(&one), None));
    assert_eq!(d.candidate, None);

    db.stage(&change("ben", "farewell fix"), &two)
        .await
        .unwrap();
    let d = db
        .commit_candidate(&change("ben", "farewell fix"), &two.digest)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (d.active.as_ref(), d.previous.as_ref()),
        (Some(&two), Some(&one))
    );
    assert_eq!(
        (d.set_by.as_str(), d.reason.as_str()),
        ("ben", "farewell fix")
    );

    let d = db
        .rollback(&change("cy", "misfires"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (d.active.as_ref(), d.previous.as_ref()),
        (Some(&one), Some(&two))
    );
    assert_eq!(d.set_by, "cy");

    let history = db.policy_history(Some(CRISIS), 10).await.unwrap();
    let got: Vec<(&str, &str, &str, Option<&str>)> = history
        .iter()
        .map(|h| {
            (
                h.action.as_str(),
                h.subject.as_str(),
                h.digest.as_str(),
                h.previous_digest.as_deref(),
            )
        })
        .collect();
    let (d1, d2) = (one.digest.as_str(), two.digest.as_str());
    assert_eq!(
        got,
        [
            ("rollback", "cy", d1, Some(d2)),
            ("activate", "ben", d2, Some(d1)),
            ("stage", "ben", d2, Some(d1)),
            ("activate", "ana", d1, None),
            ("stage", "ana", d1, None),
        ]
    );
    assert!(
        db.policy_history(Some("prompt-builder"), 10)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(db.policy_history(None, 2).await.unwrap().len(), 2);
}

async fn only_the_staged_candidate_can_be_committed(f: Fixture) {
    let db = f.store.db();
    let c = change("ana", "r");
    assert_eq!(
        db.rollback(&c).await.unwrap(),
        Err(RolloutRefusal::NoPrevious {
            world: CRISIS.into()
        })
    );
    db.stage(&c, &bundle(1)).await.unwrap();
    let refused = db.commit_candidate(&c, &bundle(2).digest).await.unwrap();
    assert!(
        matches!(refused, Err(RolloutRefusal::NotStaged { .. })),
        "{refused:?}"
    );
    // Staging again replaces the candidate; abandoning another digest changes nothing.
    db.stage(&c, &bundle(2)).await.unwrap();
    db.abandon_candidate(&c, &bundle(1).digest).await.unwrap();
    assert_eq!(db.desired().await.unwrap()[0].candidate, Some(bundle(2)));
    db.abandon_candidate(&c, &bundle(2).digest).await.unwrap();
    let d = &db.desired().await.unwrap()[0];
    assert_eq!((d.candidate.as_ref(), d.active.as_ref()), (None, None));
    assert!(
        db.commit_candidate(&c, &bundle(2).digest)
            .await
            .unwrap()
            .is_err()
    );
    assert_eq!(
        db.policy_history(None, 10).await.unwrap()[0].action,
        "abandon"
    );
}

async fn heartbeats_keep_one_row_per_host_and_world(f: Fixture) {
    let db = f.store.db();
    let started = SystemTime::now();
    let report = |serving: Option<&str>, error: Option<&str>| HostReport {
        world: CRISIS.into(),
        serving: serving.map(String::from),
        prepared: None,
        error: error.map(String::from),
        error_digest: error.map(|_| bundle(2).digest),
    };
    db.heartbeat("host-a", started, &[report(Some("sha256:aa"), None)])
        .await
        .unwrap();
    db.heartbeat("host-b", started, &[report(None, None)])
        .await
        .unwrap();
    db.heartbeat(
        "host-a",
        started,
        &[report(Some("sha256:aa"), Some("refused: unsigned"))],
    )
    .await
    .unwrap();
    let hosts = db.policy_hosts().await.unwrap();
    assert_eq!(hosts.len(), 2);
    assert_eq!(hosts[0].host_id, "host-a");
    assert_eq!(hosts[0].report.error.as_deref(), Some("refused: unsigned"));
    assert_eq!(hosts[0].report.serving.as_deref(), Some("sha256:aa"));
    assert!(hosts[0].seen_at >= hosts[0].started_at);
}
