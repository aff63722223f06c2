use jules_policy_model::World;

use crate::{Case, Output, check, describe, parse};

/// The result of running a corpus through a policy's native code.
#[derive(Debug)]
pub struct NativeRun {
    pub fixtures: usize,
    /// One description per failing fixture: id, line, text, failures, what came back.
    pub failures: Vec<String>,
}

impl NativeRun {
    /// Panic listing every failing fixture, if any failed.
    pub fn assert_all_pass(&self) {
        assert!(
            self.failures.is_empty(),
            "{} of {} fixtures fail:\n{}",
            self.failures.len(),
            self.fixtures,
            self.failures.join("\n")
        );
    }
}

/// For the logic crates' own tests: run every fixture of `source` through `run`
/// (which returns `None` for a case its policy does not handle). Panics when the
/// corpus does not parse, naming every bad line.
pub fn run_native(
    world: World,
    source: &str,
    mut run: impl FnMut(&Case) -> Option<Output>,
) -> NativeRun {
    let fixtures = parse(world, source).unwrap_or_else(|errors| {
        let lines: Vec<String> = errors.iter().map(ToString::to_string).collect();
        panic!("the corpus does not parse:\n{}", lines.join("\n"))
    });
    let mut failures = Vec::new();
    for f in &fixtures {
        let head = format!(
            "{} (line {}): {:?}",
            f.id,
            f.line,
            abbreviated(f.case.text())
        );
        let Some(output) = run(&f.case) else {
            failures.push(format!("{head}\n    not a case this policy handles"));
            continue;
        };
        let verdict = check(&f.case, &output);
        if !verdict.passed() {
            failures.push(format!(
                "{head}\n    {}\n{}",
                verdict.failures.join("; "),
                describe(f.case.text(), &output)
            ));
        }
    }
    NativeRun {
        fixtures: fixtures.len(),
        failures,
    }
}

/// Long fixtures (segment and budget tests) would bury the failure list.
fn abbreviated(text: &str) -> &str {
    match text.char_indices().nth(200) {
        Some((cut, _)) => &text[..cut],
        None => text,
    }
}
