//! `jules keys` as an operator runs it: generate a key, rotate to it, retire the old.

use std::process::Command;
use std::time::SystemTime;

use crate::support::TestDatabase;
use crate::support::store::secrets;

pub(crate) const BLIND: &str = "QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkI=";

/// Run `jules` on the database at `url` with these keys (and no Redis).
pub(crate) fn jules(args: &[&str], url: &str, keys: &str) -> (i32, String, String) {
    let data = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_jules"))
        .args(args)
        .env("DATA_DIR", data.path())
        .env("DATABASE_URL", url)
        .env("ENCRYPTION_KEYS", keys)
        .env("BLIND_INDEX_KEY", BLIND)
        .env_remove("REDIS_URL")
        .output()
        .expect("run jules");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn rotate_to_a_generated_key_and_retire_the_old_one() {
    let db = TestDatabase::create().await;
    let (code, old_key, err) = jules(&["keys", "generate", "k1"], &db.url, "x");
    assert_eq!(code, 0, "{err}");
    let old_key = old_key.trim().to_string();
    assert!(old_key.starts_with("k1:"), "{old_key}");
    assert_eq!(jules(&["migrate"], &db.url, &old_key).0, 0);

    let store = |keys: &str| {
        let mut s = (*secrets(keys)).clone();
        s.blind = jules::crypto::BlindIndex::parse(BLIND).unwrap();
        jules::store::Store::open(Some(&db.url), 2, std::path::Path::new("."), s.into()).unwrap()
    };
    let before = store(&old_key);
    let mut users = Vec::new();
    for i in 0..5 {
        let (recorded, _) = before
            .record_inbound(
                jules::domain::Carrier::Bandwidth,
                &jules::domain::CarrierMessageId::parse(&format!("m{i}")).unwrap(),
                &jules::domain::PhoneNumber::parse(&format!("+1555300000{i}")).unwrap(),
                "hey",
                1,
                SystemTime::now(),
            )
            .await
            .unwrap();
        let jules::store::Recorded::Stored { user_id, .. } = recorded else {
            panic!()
        };
        users.push(user_id);
    }
    let (code, out, err) = jules(&["keys", "status"], &db.url, &old_key);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("10 values sealed with k1 (active)"), "{out}");

    let (_, new_key, _) = jules(&["keys", "generate", "k2"], &db.url, &old_key);
    let both = format!("{},{old_key}", new_key.trim());
    let (code, out, err) = jules(&["keys", "status"], &db.url, &both);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("still needed: [\"k1\"]"), "{out}");

    let (code, out, err) = jules(&["keys", "rotate", "--batch", "2"], &db.url, &both);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("re-sealed 10 values"), "{out}");
    assert!(out.contains("every key but k2 can be removed"), "{out}");
    assert!(err.contains("users.phone"), "progress per batch: {err}");

    let after = store(new_key.trim());
    for id in users {
        let u = after.user(id).await.unwrap().unwrap();
        assert!(u.phone.starts_with("+1555300000"));
        assert_eq!(after.recent_turns(id, 1).await.unwrap()[0].text, "hey");
    }
    let (code, _, err) = jules(&["keys", "rotate", "--batch", "0"], &db.url, &both);
    assert_eq!(code, 2, "a batch of 0 is refused: {err}");
}
