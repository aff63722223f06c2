//! Runs the bundle's fixture corpus against the native policy.

use jules_compliance::Policy;
use jules_policy_corpus::{Case, Output, check, parse};
use jules_policy_model::World;

const CONFIG: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../policies/compliance/config.json"
));
const CORPUS: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../policies/compliance/corpus.jsonl"
));

#[test]
fn corpus_passes() {
    let policy = Policy::from_config_json(CONFIG).expect("the bundled config loads");
    let fixtures = parse(World::CompliancePolicy, CORPUS).unwrap_or_else(|errors| {
        let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
        panic!("corpus does not parse:\n{}", lines.join("\n"))
    });
    assert!(fixtures.len() >= 70, "only {} fixtures", fixtures.len());

    let mut failures = Vec::new();
    for fixture in &fixtures {
        let output = match &fixture.case {
            Case::Evaluate { message, user, .. } => {
                Output::Decision(policy.evaluate(message, user))
            }
            Case::Shape {
                reply, disclose, ..
            } => Output::Outbound(policy.shape(reply, *disclose)),
            _ => {
                failures.push(format!(
                    "{} (line {}): not a compliance case",
                    fixture.id, fixture.line
                ));
                continue;
            }
        };
        let verdict = check(&fixture.case, &output);
        if !verdict.passed() {
            failures.push(format!(
                "{} (line {}): {}\n    output: {}",
                fixture.id,
                fixture.line,
                verdict.failures.join("; "),
                abbreviated(&format!("{output:?}"))
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

/// Long fixtures (segment and budget tests) would bury the failure list.
fn abbreviated(text: &str) -> String {
    const MAX: usize = 1200;
    match text.char_indices().nth(MAX) {
        Some((cut, _)) => format!("{} …", &text[..cut]),
        None => text.to_string(),
    }
}
