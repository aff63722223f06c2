//! The labelled sets: which files train and which tune, and what each head learns.

use std::path::Path;

use jules_crisis::Detector;
use jules_policy_corpus::{Case, parse};
use jules_policy_model::{Category, Inbound, Severity, Turn, World};

/// Files (under the bundle folder) the weights are fitted on.
pub const TRAIN: [&str; 3] = ["corpus.jsonl", "eval/train-en.jsonl", "eval/train-es.jsonl"];
/// Files the thresholds are chosen on. The blind test is never read here.
pub const DEV: [&str; 2] = ["eval/dev-en.jsonl", "eval/dev-es.jsonl"];

/// One labelled message.
#[derive(Clone)]
pub struct Item {
    pub message: Inbound,
    pub recent: Vec<Turn>,
    pub severity: Severity,
    pub categories: Vec<Category>,
    pub spanish: bool,
}

impl Item {
    /// What each head should say: a crisis (moderate or worse) in each category,
    /// then high or worse, then imminent.
    pub fn targets(&self) -> [bool; 6] {
        let crisis = self.severity >= Severity::Moderate;
        let mut t = [false; 6];
        for c in &self.categories {
            t[*c as usize] = crisis;
        }
        t[4] = self.severity >= Severity::High;
        t[5] = self.severity == Severity::Imminent;
        t
    }
}

/// Items of `files`, in file order.
pub fn load(dir: &Path, files: &[&str]) -> Result<Vec<Item>, String> {
    let mut out = Vec::new();
    for f in files {
        let path = dir.join(f);
        let text =
            std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let fixtures = parse(World::CrisisDetector, &text).map_err(|errs| {
            let first = errs.first().map(|e| e.to_string()).unwrap_or_default();
            format!("{}: {} errors, first: {first}", path.display(), errs.len())
        })?;
        for fx in fixtures {
            let Case::Assess {
                message,
                recent,
                expect,
                ..
            } = fx.case
            else {
                return Err(format!(
                    "{}: {} is not a crisis fixture",
                    path.display(),
                    fx.id
                ));
            };
            let spanish =
                fx.id.contains("-es-") || fx.note.as_deref().is_some_and(|n| n.contains("lang:es"));
            out.push(Item {
                message,
                recent,
                severity: expect.severity,
                categories: expect.categories,
                spanish,
            });
        }
    }
    Ok(out)
}

/// The model's input for every item, as `detector` builds it.
pub fn inputs(detector: &Detector, log2: u8, items: &[Item]) -> Vec<Vec<u32>> {
    items
        .iter()
        .map(|i| detector.model_input(log2, &i.message, &i.recent))
        .collect()
}
