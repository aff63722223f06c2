//! Runs every fixture of the shipped corpus through the detector natively.

use jules_crisis::Detector;
use jules_policy_corpus::{Case, Output, check, parse};
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
    let fixtures = parse(World::CrisisDetector, &bundle("corpus.jsonl")).unwrap_or_else(|errors| {
        let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
        panic!("corpus.jsonl does not parse:\n{}", lines.join("\n"))
    });
    let mut failures = Vec::new();
    for f in &fixtures {
        let Case::Assess {
            message,
            user,
            recent,
            ..
        } = &f.case
        else {
            failures.push(format!("{} (line {}): not an assess fixture", f.id, f.line));
            continue;
        };
        let a = detector.assess(message, user, recent);
        for e in &a.evidence {
            let (s, t) = (e.start as usize, e.end as usize);
            assert!(
                message.text.get(s..t).is_some(),
                "{}: evidence {s}..{t} is not a valid span",
                f.id
            );
        }
        let verdict = check(&f.case, &Output::Assessment(a.clone()));
        if !verdict.passed() {
            let found: Vec<String> = a
                .evidence
                .iter()
                .map(|e| {
                    format!(
                        "{}={:?}",
                        e.rule_id,
                        &message.text[e.start as usize..e.end as usize]
                    )
                })
                .chain(a.discounted.iter().map(|d| {
                    format!(
                        "-{}/{}={:?}",
                        d.rule_id,
                        d.reason,
                        &message.text[d.start as usize..d.end as usize]
                    )
                }))
                .collect();
            failures.push(format!(
                "{} (line {}): {:?}\n    {}\n    matched: [{}]",
                f.id,
                f.line,
                message.text,
                verdict.failures.join("; "),
                found.join(", ")
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} fixtures fail:\n{}",
        failures.len(),
        fixtures.len(),
        failures.join("\n")
    );
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
