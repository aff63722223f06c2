//! Runs the bundle's fixture corpus against the native policy.

use jules_compliance::Policy;
use jules_policy_corpus::{Case, Output, run_native};
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
    let run = run_native(World::CompliancePolicy, CORPUS, |case| match case {
        Case::Evaluate { message, user, .. } => {
            Some(Output::Decision(policy.evaluate(message, user)))
        }
        Case::Shape {
            reply, disclose, ..
        } => Some(Output::Outbound(policy.shape(reply, *disclose))),
        _ => None,
    });
    assert!(run.fixtures >= 70, "only {} fixtures", run.fixtures);
    run.assert_all_pass();
}
