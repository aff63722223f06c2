use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::PathBuf;

use jules_policy_corpus::{Fixture, Output, Verdict, describe};

use super::escalation::Escalation;
use crate::policy::{Baseline, CallError, LoadedBundle};

pub enum Outcome {
    Checked {
        output: Output,
        verdict: Verdict,
    },
    /// The component failed on this fixture (trap, timeout, invalid output ...).
    Error(CallError),
}

pub struct ResultRow {
    pub corpus: PathBuf,
    pub fixture: Fixture,
    pub outcome: Outcome,
}

impl ResultRow {
    pub fn passed(&self) -> bool {
        matches!(&self.outcome, Outcome::Checked { verdict, .. } if verdict.passed())
    }
}

/// Counts for one label (a crisis category, a compliance action, a prompt mode).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct LabelScore {
    pub true_positives: usize,
    pub false_positives: usize,
    pub false_negatives: usize,
}

impl LabelScore {
    pub fn support(&self) -> usize {
        self.true_positives + self.false_negatives
    }

    pub fn precision(&self) -> Option<f64> {
        let predicted = self.true_positives + self.false_positives;
        (predicted > 0).then(|| self.true_positives as f64 / predicted as f64)
    }

    pub fn recall(&self) -> Option<f64> {
        (self.support() > 0).then(|| self.true_positives as f64 / self.support() as f64)
    }
}

pub struct Report {
    pub bundle: String,
    pub digest: String,
    pub world: String,
    pub rows: Vec<ResultRow>,
    pub labels: BTreeMap<String, LabelScore>,
    /// Crisis bundles: who would get the crisis resources.
    pub escalation: Option<Escalation>,
}

impl Report {
    pub fn new(bundle: &LoadedBundle, rows: Vec<ResultRow>) -> Report {
        let mut labels: BTreeMap<String, LabelScore> = BTreeMap::new();
        for row in &rows {
            let Outcome::Checked { verdict, .. } = &row.outcome else {
                continue;
            };
            for l in verdict.expected.union(&verdict.got) {
                let score = labels.entry(l.clone()).or_default();
                match (verdict.expected.contains(l), verdict.got.contains(l)) {
                    (true, true) => score.true_positives += 1,
                    (false, true) => score.false_positives += 1,
                    (true, false) => score.false_negatives += 1,
                    (false, false) => {}
                }
            }
        }
        Report {
            bundle: format!("{} {}", bundle.manifest.name, bundle.manifest.version),
            digest: bundle.digest.to_string(),
            world: bundle.world.to_string(),
            escalation: match bundle.baseline() {
                Baseline::Crisis(d) => Escalation::count(d.response().escalate_at, &rows),
                _ => None,
            },
            rows,
            labels,
        }
    }

    pub fn failed(&self) -> usize {
        self.rows.iter().filter(|r| !r.passed()).count()
    }

    pub fn errors(&self) -> usize {
        self.rows
            .iter()
            .filter(|r| matches!(r.outcome, Outcome::Error(_)))
            .count()
    }

    /// The human-readable report: summary, per-label table, every failing fixture.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let total = self.rows.len();
        let _ = writeln!(out, "bundle  {} ({})", self.bundle, self.world);
        let _ = writeln!(out, "digest  {}", self.digest);
        let _ = writeln!(
            out,
            "fixtures {total}: {} passed, {} failed ({} component errors)\n",
            total - self.failed(),
            self.failed(),
            self.errors()
        );
        let _ = writeln!(
            out,
            "{:<28} {:>7} {:>5} {:>5} {:>5} {:>9} {:>7}",
            "label", "support", "tp", "fp", "fn", "precision", "recall"
        );
        let pct =
            |v: Option<f64>| v.map_or_else(|| "-".to_string(), |v| format!("{:.1}%", v * 100.0));
        for (label, s) in &self.labels {
            let _ = writeln!(
                out,
                "{:<28} {:>7} {:>5} {:>5} {:>5} {:>9} {:>7}",
                label,
                s.support(),
                s.true_positives,
                s.false_positives,
                s.false_negatives,
                pct(s.precision()),
                pct(s.recall())
            );
        }
        if let Some(e) = &self.escalation {
            let _ = writeln!(out, "\n{}", e.render());
        }
        let failing: Vec<&ResultRow> = self.rows.iter().filter(|r| !r.passed()).collect();
        if !failing.is_empty() {
            let _ = writeln!(out, "\nfailing fixtures:");
        }
        for row in failing {
            out.push_str(&describe_failure(row));
        }
        out
    }
}

/// One failing fixture: where it is, its text, what was expected, what came back.
pub fn describe_failure(row: &ResultRow) -> String {
    let f = &row.fixture;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n  {} ({}:{})\n    text: {:?}",
        f.id,
        row.corpus.display(),
        f.line,
        f.case.text()
    );
    if let Some(note) = &f.note {
        let _ = writeln!(out, "    note: {note}");
    }
    match &row.outcome {
        Outcome::Error(e) => {
            let _ = writeln!(out, "    component error: {e}");
        }
        Outcome::Checked { output, verdict } => {
            for failure in &verdict.failures {
                let _ = writeln!(out, "    {failure}");
            }
            out.push_str(&describe(f.case.text(), output));
        }
    }
    out
}
