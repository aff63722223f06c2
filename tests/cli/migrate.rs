//! `jules migrate` as an operator runs it.

use std::process::Command;

use crate::support::TestDatabase;

fn jules(args: &[&str], database_url: Option<&str>) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_jules"));
    cmd.args(args).env_remove("DATABASE_URL");
    if let Some(url) = database_url {
        cmd.env("DATABASE_URL", url);
    }
    let out = cmd.output().expect("run jules");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn migrate_applies_once_and_reports_status() {
    let db = TestDatabase::create().await;
    let url = Some(db.url.as_str());
    let (code, out, err) = jules(&["migrate", "status"], url);
    assert_eq!(
        (code, out.trim()),
        (
            0,
            "pending  0001_initial\npending  0002_pipeline\npending  0003_claims\npending  0004_sends\npending  0005_rejected_events\npending  0006_compliance_events\npending  0007_key_checks\npending  0008_policy_rollout\npending  0009_crisis_review\npending  0010_shadow\npending  0011_age_checks\npending  0012_erasure\npending  0013_billing"
        ),
        "{err}"
    );
    let (code, out, err) = jules(&["migrate"], url);
    assert_eq!(
        (code, out.trim()),
        (
            0,
            "applied  0001_initial\napplied  0002_pipeline\napplied  0003_claims\napplied  0004_sends\napplied  0005_rejected_events\napplied  0006_compliance_events\napplied  0007_key_checks\napplied  0008_policy_rollout\napplied  0009_crisis_review\napplied  0010_shadow\napplied  0011_age_checks\napplied  0012_erasure\napplied  0013_billing"
        ),
        "{err}"
    );
    let (code, out, _) = jules(&["migrate"], url);
    assert_eq!((code, out.trim()), (0, "the schema is up to date"));
    let (_, out, _) = jules(&["migrate", "status"], url);
    assert_eq!(
        out.trim(),
        "applied  0001_initial\napplied  0002_pipeline\napplied  0003_claims\napplied  0004_sends\napplied  0005_rejected_events\napplied  0006_compliance_events\napplied  0007_key_checks\napplied  0008_policy_rollout\napplied  0009_crisis_review\napplied  0010_shadow\napplied  0011_age_checks\napplied  0012_erasure\napplied  0013_billing"
    );
}

#[test]
fn migrate_without_a_database_url_migrates_the_embedded_store() {
    let data = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_jules"))
            .args(args)
            .env_remove("DATABASE_URL")
            .env("DATA_DIR", data.path())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (code, out, err) = run(&["migrate"]);
    assert_eq!(
        (code, out.trim()),
        (
            Some(0),
            "applied  0001_initial\napplied  0002_pipeline\napplied  0003_claims\napplied  0004_sends\napplied  0005_rejected_events\napplied  0006_compliance_events\napplied  0007_key_checks\napplied  0008_policy_rollout\napplied  0009_crisis_review\napplied  0010_shadow\napplied  0011_age_checks\napplied  0012_erasure\napplied  0013_billing"
        ),
        "{err}"
    );
    assert!(
        err.contains("embedded store") && err.contains("jules.sqlite3"),
        "{err}"
    );
    let (_, out, _) = run(&["migrate", "status"]);
    assert_eq!(
        out.trim(),
        "applied  0001_initial\napplied  0002_pipeline\napplied  0003_claims\napplied  0004_sends\napplied  0005_rejected_events\napplied  0006_compliance_events\napplied  0007_key_checks\napplied  0008_policy_rollout\napplied  0009_crisis_review\napplied  0010_shadow\napplied  0011_age_checks\napplied  0012_erasure\napplied  0013_billing"
    );
}

#[test]
fn a_bad_database_url_is_named() {
    let (code, _, err) = jules(
        &["migrate"],
        Some("postgres://nobody@127.0.0.1:1/none?sslmode=bogus"),
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("DATABASE_URL"), "{err}");
}
