//! A misbehaving component is contained: the failure is classified, counted and
//! answered by the baseline, marked as a fallback, and the host keeps serving.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::support::{runtime, temp_bundle, test_component, within};
use jules::policy::{CallError, Fallback, LoadedBundle, PolicyRuntime};
use jules_policy_model::{Inbound, UserContext, World};

fn misbehaving(rt: &PolicyRuntime, config: &str) -> std::sync::Arc<LoadedBundle> {
    let dir = temp_bundle(
        &test_component("misbehave"),
        "crisis-detector",
        "0.1.0",
        config,
    );
    rt.load(dir.path())
        .expect("the misbehaving component loads")
}

fn msg(text: &str) -> Inbound {
    Inbound {
        text: text.into(),
        received_at: 0,
    }
}

fn assess_failure(rt: &PolicyRuntime, text: &str) -> CallError {
    let d = rt.assess(&msg(text), &UserContext::default(), &[]);
    match d.fallback {
        Some(Fallback::Failed(e)) => {
            // The misbehaving component's config ("tag-…") is not one the native
            // detector reads, so the host's built-in config answered, and says so.
            assert_eq!(
                d.bundle,
                Some(jules::policy::Baseline::builtin_digest(
                    World::CrisisDetector
                )),
                "the decision names the built-in bundle whose config answered"
            );
            e
        }
        other => panic!("expected a contained failure for {text:?}, got {other:?}"),
    }
}

/// After a failure the same runtime answers a good call from the component.
fn still_serves(rt: &PolicyRuntime) {
    let d = rt.assess(&msg("hello"), &UserContext::default(), &[]);
    assert_eq!(
        d.fallback, None,
        "the component answers again after a failure"
    );
    assert_eq!(d.value.evidence[0].rule_id, "marker.tag-a");
}

#[test]
fn a_trap_is_contained_with_the_guest_panic_message() {
    let rt = runtime();
    rt.activate(misbehaving(&rt, "tag-a"));
    match assess_failure(&rt, "trap") {
        CallError::Trap { stderr, .. } => {
            assert!(stderr.contains("asked to trap"), "stderr: {stderr}")
        }
        other => panic!("expected a trap, got {other:?}"),
    }
    let stats = rt.stats(World::CrisisDetector);
    assert_eq!(stats.traps.load(Ordering::Relaxed), 1);
    assert_eq!(stats.fallbacks.load(Ordering::Relaxed), 1);
    still_serves(&rt);
}

#[test]
fn an_infinite_loop_hits_the_deadline() {
    let rt = std::sync::Arc::new(runtime());
    rt.activate(misbehaving(&rt, "tag-a"));
    let looping = rt.clone();
    let failure = within(Duration::from_secs(10), "a looping component", move || {
        assess_failure(&looping, "loop")
    });
    assert!(matches!(failure, CallError::Timeout { deadline_ms: 100 }));
    assert_eq!(
        rt.stats(World::CrisisDetector)
            .timeouts
            .load(Ordering::Relaxed),
        1
    );
    still_serves(&rt);
}

#[test]
fn a_memory_bomb_hits_the_memory_cap() {
    let rt = runtime();
    rt.activate(misbehaving(&rt, "tag-a"));
    assert!(matches!(
        assess_failure(&rt, "bomb"),
        CallError::Memory { limit_bytes } if limit_bytes == 32 << 20
    ));
    assert_eq!(
        rt.stats(World::CrisisDetector)
            .memory
            .load(Ordering::Relaxed),
        1
    );
    still_serves(&rt);
}

#[test]
fn an_invalid_output_is_refused() {
    let rt = runtime();
    rt.activate(misbehaving(&rt, "tag-a"));
    match assess_failure(&rt, "invalid") {
        CallError::InvalidOutput { reason } => assert!(reason.contains("span"), "{reason}"),
        other => panic!("expected an invalid output, got {other:?}"),
    }
    still_serves(&rt);
}

#[test]
fn the_fallback_is_the_native_baseline() {
    let rt = runtime();
    rt.activate(misbehaving(&rt, "tag-a"));
    // The misbehaving bundle's config is not a crisis config, so its baseline is the
    // built-in detector: its answer must equal a direct native call.
    let text = "trap";
    let d = rt.assess(&msg(text), &UserContext::default(), &[]);
    let native = jules::policy::Baseline::builtin(World::CrisisDetector)
        .expect("built-in baseline")
        .assess(&msg(text), &UserContext::default(), &[])
        .expect("a crisis baseline");
    assert_eq!(d.value, native);
}

#[test]
fn every_call_gets_a_fresh_instance() {
    let rt = runtime();
    let bundle = misbehaving(&rt, "tag-a");
    bundle
        .assess(
            &msg("remember:+15551234567 said something private"),
            &UserContext::default(),
            &[],
        )
        .expect("remember");
    let recalled = bundle
        .assess(&msg("recall"), &UserContext::default(), &[])
        .expect("recall");
    assert_eq!(
        recalled.evidence[0].rule_id, "recall.",
        "guest memory written by one call must not be visible to the next"
    );
}

#[test]
fn no_active_component_means_the_builtin_baseline() {
    let rt = runtime();
    let d = rt.assess(&msg("hello"), &UserContext::default(), &[]);
    assert_eq!(d.fallback, Some(Fallback::NoComponent));
    assert_eq!(d.bundle, None);
}

#[test]
fn a_config_the_baseline_cannot_read_names_the_builtin_bundle_as_its_fallback() {
    let rt = runtime();
    let bundle = misbehaving(&rt, "tag-a");
    let builtin = jules::policy::Baseline::builtin_digest(World::CrisisDetector);
    assert_eq!(bundle.fallback_digest, builtin);
    assert_ne!(bundle.fallback_digest, bundle.digest);
    // The built-in bundle's name is the digest of no component and the shipped config.
    let shipped = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../policies/crisis/config.json"),
    )
    .unwrap();
    assert_eq!(builtin, jules::policy::BundleDigest::of(&[], &shipped));
    rt.activate(bundle.clone());
    let d = rt.assess(&msg("trap"), &UserContext::default(), &[]);
    assert!(
        matches!(d.fallback, Some(Fallback::Failed(_))),
        "{:?}",
        d.fallback
    );
    assert_eq!(d.bundle, Some(builtin), "not the component's digest");
    let ok = rt.assess(&msg("hello"), &UserContext::default(), &[]);
    assert_eq!(
        ok.bundle,
        Some(bundle.digest),
        "the component's own answers name it"
    );
}

#[test]
fn a_bundle_whose_config_the_baseline_reads_falls_back_on_its_own_config() {
    let rt = runtime();
    let bundle = rt
        .load(&crate::support::shipped_bundle("crisis"))
        .expect("the shipped crisis bundle loads");
    assert_eq!(bundle.fallback_digest, bundle.digest);
}
