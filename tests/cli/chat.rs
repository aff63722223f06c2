//! `jules chat` as a person uses it: lines in, replies out, through the real pipeline
//! on the embedded store with the offline responder.

use std::io::Write;
use std::process::{Command, Stdio};

#[test]
fn a_terminal_conversation_through_the_pipeline() {
    let data = tempfile::tempdir().unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_jules"))
        .args(["chat", "--from", "+15551234567"])
        .current_dir(crate::support::workspace())
        .env("DATA_DIR", data.path())
        .env("POLICY_DIR", crate::support::app::policy_dir())
        .env("POLICY_TRUSTED_KEYS", crate::support::trusted_keys())
        .env(
            "POLICY_CACHE_DIR",
            crate::support::workspace().join("target/e2e-policy-cache"),
        )
        .env_remove("DATABASE_URL")
        .env_remove("REDIS_URL")
        .env_remove("ANTHROPIC_API_KEY")
        .env_remove("OPENAI_API_KEY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"hi, long day\nI want to kill myself\nSTOP\nhello?\n/quit\n")
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("OFFLINE responder"), "{stderr}");
    let replies: Vec<&str> = stdout
        .split("you> ")
        .flat_map(|chunk| chunk.lines())
        .filter(|l| l.starts_with("jules> "))
        .collect();
    assert!(
        replies[0].contains("I'm an AI") && replies[0].contains("long day"),
        "{stdout}"
    );
    assert!(
        replies
            .iter()
            .any(|r| r.contains("988") && r.contains("741741")),
        "{stdout}"
    );
    assert!(
        replies.last().unwrap().contains("unsubscribed"),
        "nothing after STOP: {stdout}"
    );
    assert!(
        !stderr.contains("+15551234567"),
        "the number is not logged: {stderr}"
    );
}
