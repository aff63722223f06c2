//! `jules serve` told to stop (SIGTERM, as a container runtime does): not ready at
//! once, the turn in flight answered and sent, a text arriving meanwhile stored for the
//! next host, exit 0.

use std::time::{Duration, Instant};

use crate::serve::{Fakes, get, post_text, start_logged};
use crate::support::TestDatabase;
use crate::support::fakes::anthropic_reply;

/// Polls `f` every 20 ms until it holds; fails naming `what` after `limit`.
fn until(limit: Duration, what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !f() {
        assert!(Instant::now() < deadline, "{what}: not within {limit:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn sigterm_finishes_the_turn_in_flight_then_exits_zero() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let db = runtime.block_on(TestDatabase::create());
    let fakes = Fakes::start(&runtime);
    let (carrier, model) = (&fakes.carrier, &fakes.model);
    // The first reply takes 3 s: the stop arrives while its turn is running.
    model.script([anthropic_reply("still here with you").after(Duration::from_secs(3))]);
    let data = tempfile::tempdir().unwrap();
    let env = fakes.env(&[
        ("DATABASE_URL", db.url.as_str()),
        ("COALESCE_WINDOW_MS", "0"),
    ]);
    let (mut server, addr, _banner, logs) = start_logged(data.path(), &env);
    let (first, second) = ("+15557650001", "+15557650002");
    let ok = post_text(&addr, "", "m1", first, "long day. tell me something nice");
    assert!(ok.starts_with("HTTP/1.1 2"), "{ok}");
    until(Duration::from_secs(20), "the model asked", || {
        model.count() == 1
    });

    let pid = server.0.id().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    until(Duration::from_secs(2), "/ready answering 503", || {
        get(&addr, "/ready").starts_with("HTTP/1.1 503")
    });
    assert_eq!(
        carrier.count(),
        0,
        "not ready before the turn in flight ends"
    );
    // Still acknowledged while draining (a carrier that does not retry would lose it),
    // stored, and left to the next host.
    let late = post_text(&addr, "", "m2", second, "are you there?");
    assert!(late.starts_with("HTTP/1.1 2"), "{late}");

    let mut exit = None;
    until(Duration::from_secs(30), "the process exiting", || {
        exit = server.0.try_wait().unwrap();
        exit.is_some()
    });
    assert_eq!(exit.unwrap().code(), Some(0));
    let said: Vec<String> = logs.try_iter().collect();
    let sent = carrier.seen();
    assert_eq!(sent.len(), 1, "{said:#?}");
    let body = sent[0].json();
    assert_eq!(body["to"], serde_json::json!([first]), "{body}");
    assert!(
        body["text"]
            .as_str()
            .unwrap()
            .contains("still here with you"),
        "{body}"
    );
    assert_eq!(
        model.count(),
        1,
        "the late text was not answered by the stopping host"
    );
    assert!(
        said.iter().any(|l| l.contains("jules: SIGTERM: not ready")),
        "{said:#?}"
    );
    assert!(
        said.iter()
            .any(|l| l.contains("every turn started was answered")
                && l.contains("every send started was recorded")),
        "{said:#?}"
    );

    // The next host answers the text the stopping one stored.
    let (_next, _addr, _banner, _logs) = start_logged(data.path(), &env);
    until(Duration::from_secs(20), "the late text answered", || {
        carrier.count() == 2
    });
    assert_eq!(carrier.seen()[1].json()["to"], serde_json::json!([second]));
}
