//! Two versions of a bundle on the same corpora, decision by decision: what changed,
//! how each label's precision and recall moved, and whether the new one regresses
//! where it must not — a crisis label a fixture lost, an `imminent` the old one caught
//! and the new one did not, a person in danger the old one escalated and the new one
//! does not, a changed decision on an opt-out or age fixture. Named fixtures can be
//! accepted (`--allow`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::PathBuf;

use jules_policy_corpus::{Case, Output, action_label, describe};
use jules_policy_model::Severity;
use serde_json::{Value, json};

use super::report::{LabelScore, Outcome, Report, ResultRow};

/// Compliance labels a new version may not change unnoticed: opting out and in, and
/// every age decision.
const PROTECTED: [&str; 6] = [
    "opt-out",
    "opt-in",
    "block:opted-out",
    "block:under-thirteen",
    "block:age-declined",
    "require-age-verification",
];

pub struct Changed {
    pub corpus: PathBuf,
    pub id: String,
    pub text: String,
    pub old: String,
    pub new: String,
    pub old_evidence: String,
    pub new_evidence: String,
    /// Why this change is a regression, if it is one.
    pub regression: Option<String>,
    /// Accepted by `--allow`.
    pub allowed: bool,
}

pub struct Diff {
    pub world: String,
    pub old: (String, String),
    pub new: (String, String),
    pub fixtures: usize,
    pub changed: Vec<Changed>,
    pub labels: BTreeMap<String, (LabelScore, LabelScore)>,
    /// `--allow` ids that name no regression (a typo must not pass silently).
    pub unused_allows: Vec<String>,
}

/// The decision, in one line.
fn decision(outcome: &Outcome) -> String {
    match outcome {
        Outcome::Error(e) => format!("component error ({})", e.kind()),
        Outcome::Checked { output, .. } => match output {
            Output::Assessment(a) => {
                let cats: Vec<&str> = a.categories.iter().map(|c| c.as_str()).collect();
                format!("{} [{}]", a.severity.as_str(), cats.join(", "))
            }
            Output::Decision(d) => {
                let actions: Vec<String> = d.actions.iter().map(action_label).collect();
                format!("[{}]", actions.join(", "))
            }
            Output::Outbound(o) => format!("{:?} ({} segments)", o.text, o.segments),
            Output::Request(r) => format!(
                "crisis-mode={} messages={} max-tokens={}",
                r.crisis_mode,
                r.messages.len(),
                r.max_tokens
            ),
        },
    }
}

fn evidence(row: &ResultRow) -> String {
    match &row.outcome {
        Outcome::Checked { output, .. } => describe(row.fixture.case.text(), output),
        Outcome::Error(e) => format!("    component error: {e}\n"),
    }
}

fn severity(outcome: &Outcome) -> Severity {
    match outcome {
        Outcome::Checked {
            output: Output::Assessment(a),
            ..
        } => a.severity,
        _ => Severity::None,
    }
}

fn got(outcome: &Outcome) -> BTreeSet<String> {
    match outcome {
        Outcome::Checked { verdict, .. } => verdict.got.clone(),
        Outcome::Error(_) => BTreeSet::new(),
    }
}

/// Why the change from `old` to `new` on this fixture is a regression, if it is;
/// `escalate_at`: the severity at which a person is sent the crisis resources.
fn regression(old: &ResultRow, new: &ResultRow, escalate_at: Severity) -> Option<String> {
    match &old.fixture.case {
        Case::Assess { expect, .. } => {
            let (was, now) = (severity(&old.outcome), severity(&new.outcome));
            if was == Severity::Imminent && now < Severity::Imminent {
                return Some(format!("missed imminent (now {})", now.as_str()));
            }
            if expect.severity >= escalate_at && was >= escalate_at && now < escalate_at {
                return Some(format!(
                    "no longer escalated ({} -> {}): the crisis resources would not be sent",
                    was.as_str(),
                    now.as_str()
                ));
            }
            let expected: BTreeSet<String> = expect
                .categories
                .iter()
                .map(|c| c.as_str().to_string())
                .collect();
            let (before, after) = (got(&old.outcome), got(&new.outcome));
            let lost: Vec<&String> = expected
                .iter()
                .filter(|l| before.contains(*l) && !after.contains(*l))
                .collect();
            (!lost.is_empty()).then(|| {
                let lost: Vec<&str> = lost.iter().map(|l| l.as_str()).collect();
                format!("lost recall on {}", lost.join(", "))
            })
        }
        Case::Evaluate { expect, .. } => {
            let before = got(&old.outcome);
            let protected = expect
                .actions
                .iter()
                .chain(before.iter())
                .any(|l| PROTECTED.contains(&l.as_str()));
            protected.then(|| "changed an opt-out or age decision".to_string())
        }
        _ => None,
    }
}

impl Diff {
    /// Compare two reports of the same corpora (same fixtures, same order).
    pub fn compare(old: &Report, new: &Report, allow: &BTreeSet<String>) -> Result<Diff, String> {
        if old.world != new.world {
            return Err(format!(
                "the bundles are of different worlds: {} and {}",
                old.world, new.world
            ));
        }
        let escalate_at = old.escalation.as_ref().map_or(Severity::Moderate, |e| e.at);
        let mut changed = Vec::new();
        let mut used = BTreeSet::new();
        for (o, n) in old.rows.iter().zip(&new.rows) {
            debug_assert_eq!(o.fixture.id, n.fixture.id);
            let (was, now) = (decision(&o.outcome), decision(&n.outcome));
            if was == now {
                continue;
            }
            let regression = regression(o, n, escalate_at);
            let allowed = regression.is_some() && allow.contains(&o.fixture.id);
            if allowed {
                used.insert(o.fixture.id.clone());
            }
            changed.push(Changed {
                corpus: o.corpus.clone(),
                id: o.fixture.id.clone(),
                text: o.fixture.case.text().to_string(),
                old: was,
                new: now,
                old_evidence: evidence(o),
                new_evidence: evidence(n),
                regression,
                allowed,
            });
        }
        let mut labels: BTreeMap<String, (LabelScore, LabelScore)> = BTreeMap::new();
        for (label, s) in &old.labels {
            labels.entry(label.clone()).or_default().0 = s.clone();
        }
        for (label, s) in &new.labels {
            labels.entry(label.clone()).or_default().1 = s.clone();
        }
        Ok(Diff {
            world: old.world.clone(),
            old: (old.bundle.clone(), old.digest.clone()),
            new: (new.bundle.clone(), new.digest.clone()),
            fixtures: old.rows.len(),
            changed,
            labels,
            unused_allows: allow.difference(&used).cloned().collect(),
        })
    }

    /// Regressions not accepted by `--allow`.
    pub fn regressions(&self) -> usize {
        self.changed
            .iter()
            .filter(|c| c.regression.is_some() && !c.allowed)
            .count()
    }

    pub fn verdict(&self) -> &'static str {
        if self.regressions() > 0 {
            "regression"
        } else {
            "pass"
        }
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "world  {}", self.world);
        let _ = writeln!(out, "old    {} ({})", self.old.0, self.old.1);
        let _ = writeln!(out, "new    {} ({})", self.new.0, self.new.1);
        let _ = writeln!(
            out,
            "fixtures {}: {} decisions changed, {} regressions ({} accepted)\n",
            self.fixtures,
            self.changed.len(),
            self.regressions(),
            self.changed.iter().filter(|c| c.allowed).count()
        );
        let pct = |v: Option<f64>| v.map_or_else(|| "-".into(), |v| format!("{:.1}%", v * 100.0));
        let delta = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => format!("{:+.1}", (b - a) * 100.0),
            _ => "-".into(),
        };
        let _ = writeln!(
            out,
            "{:<28} {:>7} {:>9} {:>9} {:>7} {:>9} {:>9} {:>7}",
            "label", "support", "old prec", "new prec", "delta", "old rec", "new rec", "delta"
        );
        for (label, (o, n)) in &self.labels {
            let _ = writeln!(
                out,
                "{:<28} {:>7} {:>9} {:>9} {:>7} {:>9} {:>9} {:>7}",
                label,
                o.support().max(n.support()),
                pct(o.precision()),
                pct(n.precision()),
                delta(o.precision(), n.precision()),
                pct(o.recall()),
                pct(n.recall()),
                delta(o.recall(), n.recall())
            );
        }
        if !self.changed.is_empty() {
            let _ = writeln!(out, "\nchanged decisions:");
        }
        for c in &self.changed {
            let mark = match (&c.regression, c.allowed) {
                (Some(r), false) => format!("  REGRESSION: {r}"),
                (Some(r), true) => format!("  accepted regression: {r}"),
                (None, _) => String::new(),
            };
            let _ = write!(
                out,
                "\n  {} ({}){mark}\n    text: {:?}\n    old: {}\n{}    new: {}\n{}",
                c.id,
                c.corpus.display(),
                c.text,
                c.old,
                c.old_evidence,
                c.new,
                c.new_evidence
            );
        }
        for id in &self.unused_allows {
            let _ = writeln!(out, "\nnote: --allow {id} names no regression");
        }
        let _ = writeln!(out, "\nverdict: {}", self.verdict());
        out
    }

    pub fn to_json(&self) -> String {
        let labels: Vec<Value> = self
            .labels
            .iter()
            .map(|(label, (o, n))| {
                json!({
                    "label": label,
                    "old": { "precision": o.precision(), "recall": o.recall(), "support": o.support() },
                    "new": { "precision": n.precision(), "recall": n.recall(), "support": n.support() },
                })
            })
            .collect();
        let changed: Vec<Value> = self
            .changed
            .iter()
            .map(|c| {
                json!({
                    "id": c.id, "corpus": c.corpus.display().to_string(), "text": c.text,
                    "old": c.old, "new": c.new, "regression": c.regression, "allowed": c.allowed,
                })
            })
            .collect();
        let body = json!({
            "world": self.world,
            "old": { "bundle": self.old.0, "digest": self.old.1 },
            "new": { "bundle": self.new.0, "digest": self.new.1 },
            "fixtures": self.fixtures,
            "changed": changed,
            "labels": labels,
            "regressions": self.regressions(),
            "unused_allows": self.unused_allows,
            "verdict": self.verdict(),
        });
        serde_json::to_string_pretty(&body).expect("json serializes") + "\n"
    }

    /// One test case per changed decision (a regression fails, an accepted one is
    /// skipped), for a safety team's CI.
    pub fn to_junit(&self) -> String {
        let esc = |s: &str| {
            s.replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('"', "&quot;")
        };
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
        let _ = writeln!(
            out,
            "<testsuite name=\"policy diff {} -> {}\" tests=\"{}\" failures=\"{}\">",
            esc(&self.old.0),
            esc(&self.new.0),
            self.changed.len(),
            self.regressions()
        );
        for c in &self.changed {
            let _ = write!(
                out,
                "  <testcase classname=\"{}\" name=\"{}\">",
                esc(&c.corpus.display().to_string()),
                esc(&c.id)
            );
            match (&c.regression, c.allowed) {
                (Some(r), false) => {
                    let _ = write!(
                        out,
                        "<failure message=\"{}\">{} -&gt; {}</failure>",
                        esc(r),
                        esc(&c.old),
                        esc(&c.new)
                    );
                }
                (Some(r), true) => {
                    let _ = write!(out, "<skipped message=\"accepted: {}\"/>", esc(r));
                }
                (None, _) => {
                    let _ = write!(
                        out,
                        "<system-out>{} -&gt; {}</system-out>",
                        esc(&c.old),
                        esc(&c.new)
                    );
                }
            }
            let _ = writeln!(out, "</testcase>");
        }
        out.push_str("</testsuite>\n");
        out
    }
}
