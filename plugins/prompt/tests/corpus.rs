//! Runs the bundle's fixture corpus against the native builder.

use jules_policy_corpus::{Case, Output, run_native};
use jules_policy_model::World;
use jules_prompt::Builder;

const CONFIG: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../policies/prompt/config.json"
));
const CORPUS: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../policies/prompt/corpus.jsonl"
));

#[test]
fn corpus_passes() {
    let builder = Builder::from_config_json(CONFIG).expect("the bundled config loads");
    let run = run_native(World::PromptBuilder, CORPUS, |case| match case {
        Case::Build {
            message,
            user,
            recent,
            facts,
            crisis,
            ..
        } => Some(Output::Request(
            builder.build(message, user, recent, facts, crisis),
        )),
        _ => None,
    });
    assert!(run.fixtures >= 24, "only {} fixtures", run.fixtures);
    run.assert_all_pass();
}
