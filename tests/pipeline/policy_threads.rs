//! Policy components run on blocking threads, never on the async workers that answer
//! webhooks: a component spinning to its deadline delays no acknowledgement.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use jules::policy::WorldStats;
use jules_policy_model::World;

use crate::support::app::{Options, TestApp, text_event};
use crate::support::{temp_bundle, test_component};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn webhooks_are_acknowledged_while_every_policy_thread_spins() {
    let app = TestApp::start(Options {
        policy_deadline: Duration::from_secs(2),
        policy_concurrency: 2,
        background: true,
        ..Options::default()
    })
    .await;
    let policies = &app.running.policies;
    let spinning = temp_bundle(
        &test_component("misbehave"),
        "crisis-detector",
        "0.1.0",
        "spin",
    );
    crate::support::sign(spinning.path());
    policies.activate(policies.load(spinning.path()).expect("misbehave loads"));
    let stats = policies.stats(World::CrisisDetector);

    // The carrier's side runs on a runtime of its own, so what it sees is the host's
    // acknowledgements, not this test's share of the host's workers.
    let base = app.base.clone();
    let observed = tokio::task::block_in_place(|| {
        std::thread::scope(|s| s.spawn(|| carrier(&base, stats)).join().unwrap())
    });
    assert_eq!(
        observed.timeouts_when_acked, 0,
        "every acknowledgement came back before the first spinning call reached its deadline"
    );
    assert_eq!(observed.in_flight_when_acked, 2);

    // Each spinning call is cut off at its deadline and the baseline answers instead.
    app.wait_for(&app.bandwidth, 14).await;
    app.wait_until_idle().await;
    assert_eq!(stats.timeouts.load(Ordering::Relaxed), 4);
    for from in SPINNING
        .into_iter()
        .chain(observed.acked.iter().map(String::as_str))
    {
        assert_eq!(app.sent_to(from).len(), 1, "{from}");
    }
}

const SPINNING: [&str; 4] = [
    "+15554440000",
    "+15554440001",
    "+15554440002",
    "+15554440003",
];

struct Observed {
    acked: Vec<String>,
    timeouts_when_acked: u64,
    in_flight_when_acked: u64,
}

/// Text "loop" from more people than the host has async workers and policy threads,
/// wait until every policy thread spins, then text ten more people.
fn carrier(base: &str, stats: &WorldStats) -> Observed {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let http = jules::net::client(Duration::from_secs(30));
        let post = |body: serde_json::Value| {
            http.post(format!("{base}/webhooks/bandwidth"))
                .json(&body)
                .send()
        };
        for (i, from) in SPINNING.iter().enumerate() {
            let r = post(text_event(&format!("loop-{i}"), from, "loop")).await.unwrap();
            assert_eq!(r.status(), 204);
        }
        let waited = Instant::now();
        while stats.in_flight.load(Ordering::Relaxed) < 2 {
            assert!(
                waited.elapsed() < Duration::from_secs(10),
                "two policy calls never ran at once: a spinning call holds the thread that would run the next"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let mut acked = Vec::new();
        for i in 0..10 {
            let from = format!("+1555445{i:04}");
            let r = post(text_event(&format!("hi-{i}"), &from, "hello")).await.unwrap();
            assert_eq!(r.status(), 204);
            acked.push(from);
        }
        Observed {
            acked,
            timeouts_when_acked: stats.timeouts.load(Ordering::Relaxed),
            in_flight_when_acked: stats.in_flight.load(Ordering::Relaxed),
        }
    })
}
