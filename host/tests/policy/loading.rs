//! Components that cannot be loaded are refused with a message naming the problem,
//! and whatever was active stays active.

use crate::support::{runtime, temp_bundle, test_component, within};
use jules::policy::{LoadError, PolicyRuntime};
use jules_policy_model::{Inbound, UserContext, World};

fn load_err(
    rt: &PolicyRuntime,
    component: &std::path::Path,
    world: &str,
    wit: &str,
    config: &str,
) -> LoadError {
    let dir = temp_bundle(component, world, wit, config);
    rt.load(dir.path()).expect_err("the bundle must be refused")
}

fn assert_message(err: &LoadError, needle: &str) {
    let text = err.to_string();
    assert!(text.contains(needle), "expected {needle:?} in: {text}");
}

#[test]
fn refusals_name_the_problem() {
    let rt = runtime();
    let misbehave = test_component("misbehave");
    let tmp = tempfile::tempdir().unwrap();

    let text_file = tmp.path().join("notes.wasm");
    std::fs::write(&text_file, "this is not wasm").unwrap();
    let e = load_err(&rt, &text_file, "crisis-detector", "0.1.0", "");
    assert!(matches!(e, LoadError::NotWasm { .. }));
    assert_message(&e, "is not WebAssembly");

    let core = tmp.path().join("core.wasm");
    std::fs::write(&core, b"\0asm\x01\0\0\0").unwrap();
    let e = load_err(&rt, &core, "crisis-detector", "0.1.0", "");
    assert!(matches!(e, LoadError::CoreModule { .. }));
    assert_message(&e, "core WebAssembly module, not a component");

    let e = load_err(&rt, &misbehave, "compliance-policy", "0.1.0", "");
    assert!(matches!(e, LoadError::WrongWorld { .. }));
    assert_message(
        &e,
        "manifest says world compliance-policy but the component implements crisis-detector",
    );

    let e = load_err(&rt, &misbehave, "crisis-detector", "0.2.0", "");
    assert!(matches!(e, LoadError::WitVersionMismatch { .. }));

    let e = load_err(
        &rt,
        &test_component("future-wit"),
        "crisis-detector",
        "0.2.0",
        "",
    );
    assert!(matches!(e, LoadError::UnsupportedWit { .. }));
    assert_message(&e, "WIT version 0.2.0 is not supported");

    let e = load_err(
        &rt,
        &test_component("no-init"),
        "crisis-detector",
        "0.1.0",
        "",
    );
    assert!(matches!(e, LoadError::MissingExport { .. }));
    assert_message(&e, "missing the export `init`");

    let e = load_err(
        &rt,
        &test_component("clock"),
        "crisis-detector",
        "0.1.0",
        "",
    );
    assert!(matches!(e, LoadError::Capability { .. }));
    assert_message(&e, "wasi:clocks/wall-clock");

    let e = load_err(&rt, &misbehave, "crisis-detector", "0.1.0", "init-error");
    assert!(matches!(e, LoadError::InitRefused { .. }));
    assert_message(&e, "setting `init-error` asks init to refuse");

    let e = within(
        std::time::Duration::from_secs(30),
        "a component whose init never ends",
        move || load_err(&rt, &misbehave, "crisis-detector", "0.1.0", "init-loop"),
    );
    assert!(matches!(e, LoadError::InitFailed { .. }), "{e}");
}

#[test]
fn a_bad_manifest_is_refused_with_its_path() {
    let rt = runtime();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("bundle.toml"),
        "name = \"x\"\nworld = \"crisis-detector\"\n",
    )
    .unwrap();
    let e = rt.load(dir.path()).expect_err("refused");
    assert!(matches!(e, LoadError::Manifest { .. }));
    assert_message(&e, "bundle.toml");
    assert_message(&e, "missing field `version`");
}

#[test]
fn a_refused_load_leaves_the_active_bundle_active() {
    let rt = runtime();
    let good = temp_bundle(
        &test_component("misbehave"),
        "crisis-detector",
        "0.1.0",
        "tag-a",
    );
    let active = rt.load(good.path()).expect("loads");
    let digest = active.digest;
    rt.activate(active);
    let bad = temp_bundle(&test_component("clock"), "crisis-detector", "0.1.0", "");
    assert!(rt.load(bad.path()).is_err());
    assert_eq!(
        rt.active(World::CrisisDetector).map(|b| b.digest),
        Some(digest)
    );
    let d = rt.assess(
        &Inbound {
            text: "hi".into(),
            received_at: 0,
        },
        &UserContext::default(),
        &[],
    );
    assert_eq!(d.bundle, Some(digest));
    assert_eq!(d.fallback, None);
}

#[test]
fn the_digest_covers_component_and_config() {
    let rt = runtime();
    let c = test_component("misbehave");
    let a = rt
        .load(temp_bundle(&c, "crisis-detector", "0.1.0", "tag-a").path())
        .unwrap();
    let a2 = rt
        .load(temp_bundle(&c, "crisis-detector", "0.1.0", "tag-a").path())
        .unwrap();
    let b = rt
        .load(temp_bundle(&c, "crisis-detector", "0.1.0", "tag-b").path())
        .unwrap();
    assert_eq!(a.digest, a2.digest);
    assert_ne!(a.digest, b.digest);
}

#[test]
fn compiled_bundles_are_cached_on_disk() {
    let cache = tempfile::tempdir().unwrap();
    let settings = || jules::policy::RuntimeSettings {
        max_instances: 8,
        cache_dir: Some(cache.path().to_path_buf()),
        ..Default::default()
    };
    let dir = temp_bundle(
        &test_component("misbehave"),
        "crisis-detector",
        "0.1.0",
        "tag-a",
    );
    let first = PolicyRuntime::new(settings())
        .unwrap()
        .load(dir.path())
        .unwrap();
    assert!(!first.from_cache);
    let second = PolicyRuntime::new(settings())
        .unwrap()
        .load(dir.path())
        .unwrap();
    assert!(second.from_cache, "a second runtime finds the artifact");
    let m = Inbound {
        text: "hi".into(),
        received_at: 0,
    };
    let got = second.assess(&m, &UserContext::default(), &[]).unwrap();
    assert_eq!(
        got.evidence[0].rule_id, "marker.tag-a",
        "the cached artifact is pre-initialized"
    );
}
