//! Swapping the active bundle while calls are in flight fails no call: every call
//! completes on the bundle it started with.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use crate::support::{runtime, temp_bundle, test_component};
use jules_policy_model::{Inbound, UserContext, World};

#[test]
fn hot_swap_under_concurrent_calls_fails_no_call() {
    let rt = Arc::new(runtime());
    let c = test_component("misbehave");
    let a = rt
        .load(temp_bundle(&c, "crisis-detector", "0.1.0", "tag-a").path())
        .unwrap();
    let b = rt
        .load(temp_bundle(&c, "crisis-detector", "0.1.0", "tag-b").path())
        .unwrap();
    rt.activate(a.clone());

    let stop = Arc::new(AtomicBool::new(false));
    let seen = Arc::new([AtomicUsize::new(0), AtomicUsize::new(0)]);
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let (rt, stop, seen) = (rt.clone(), stop.clone(), seen.clone());
            std::thread::spawn(move || {
                let mut calls = 0;
                let m = Inbound {
                    text: "hello".into(),
                    received_at: 0,
                };
                while !stop.load(Ordering::Relaxed) || calls < 100 {
                    let d = rt.assess(&m, &UserContext::default(), &[]);
                    assert_eq!(d.fallback, None, "a call failed during a swap");
                    match d.value.evidence[0].rule_id.as_str() {
                        "marker.tag-a" => seen[0].fetch_add(1, Ordering::Relaxed),
                        "marker.tag-b" => seen[1].fetch_add(1, Ordering::Relaxed),
                        other => panic!("unexpected answer {other}"),
                    };
                    calls += 1;
                }
                calls
            })
        })
        .collect();

    for i in 0..200 {
        let next = if i % 2 == 0 { b.clone() } else { a.clone() };
        rt.activate(next);
        std::thread::sleep(std::time::Duration::from_micros(500));
    }
    rt.activate(b.clone());
    stop.store(true, Ordering::Relaxed);
    let total: usize = workers.into_iter().map(|w| w.join().expect("worker")).sum();

    let stats = rt.stats(World::CrisisDetector);
    assert_eq!(stats.fallbacks.load(Ordering::Relaxed), 0);
    assert_eq!(stats.calls.load(Ordering::Relaxed) as usize, total);
    assert!(
        seen[0].load(Ordering::Relaxed) > 0 && seen[1].load(Ordering::Relaxed) > 0,
        "both bundles served"
    );
    let m = Inbound {
        text: "hello".into(),
        received_at: 0,
    };
    let last = rt.assess(&m, &UserContext::default(), &[]);
    assert_eq!(last.bundle, Some(b.digest), "the last activation wins");
}
