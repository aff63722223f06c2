//! Runs every fixture of the shipped corpus through the detector natively.

use jules_crisis::Detector;
use jules_policy_corpus::{Case, Output, parse, run_native};
use jules_policy_model::{Category, Severity, World};

fn bundle(file: &str) -> String {
    let path = format!(
        "{}/../../policies/crisis/{file}",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("cannot read {path}: {e}"))
}

#[test]
fn shipped_config_passes_the_whole_corpus() {
    let detector =
        Detector::from_config_json(&bundle("config.json")).expect("the shipped config loads");
    run_native(
        World::CrisisDetector,
        &bundle("corpus.jsonl"),
        |case| match case {
            Case::Assess {
                message,
                user,
                recent,
                ..
            } => Some(Output::Assessment(detector.assess(message, user, recent))),
            _ => None,
        },
    )
    .assert_all_pass();
}

#[test]
fn corpus_covers_every_category_and_the_hard_benign_cases() {
    let fixtures = parse(World::CrisisDetector, &bundle("corpus.jsonl")).expect("corpus parses");
    let expects: Vec<_> = fixtures
        .iter()
        .filter_map(|f| match &f.case {
            Case::Assess { expect, .. } => Some(expect),
            _ => None,
        })
        .collect();
    assert!(expects.len() >= 420, "only {} fixtures", expects.len());
    for c in Category::ALL {
        let n = expects.iter().filter(|e| e.categories.contains(&c)).count();
        assert!(n >= 50, "only {n} positive fixtures for {}", c.as_str());
    }
    let benign = expects
        .iter()
        .filter(|e| e.severity == Severity::None)
        .count();
    assert!(benign >= 150, "only {benign} benign fixtures");
    let spanish = fixtures.iter().filter(|f| f.id.contains("-es-")).count();
    assert!(spanish >= 40, "only {spanish} Spanish fixtures");
}
