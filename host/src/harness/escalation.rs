//! For crisis corpora: what the host would do with each assessment. A fixture escalates
//! when its severity is at or above the bundle's `escalate-at` — the person gets the
//! crisis resources — so recall here is the share of people in danger who get them, and
//! the hard negatives escalated are people wrongly sent them. Counted per language (a
//! fixture whose note says `lang:xx`; `en` otherwise) and per category.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use jules_policy_corpus::{Case, Output};
use jules_policy_model::Severity;

use super::report::{Outcome, ResultRow};

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Tally {
    /// Expected at or above the threshold, and how many of those escalated.
    pub crisis: (usize, usize),
    /// Expected imminent: escalated, and assessed imminent.
    pub imminent: (usize, usize, usize),
    /// Expected none, and how many escalated.
    pub negatives: (usize, usize),
    /// Expected below the threshold but not none (someone else at risk, the past).
    pub low: (usize, usize),
}

/// Tallies by (language, category), with `all` for every category together.
pub struct Escalation {
    pub at: Severity,
    pub tallies: BTreeMap<(String, String), Tally>,
}

fn language(note: Option<&str>) -> String {
    note.and_then(|n| {
        n.split_whitespace()
            .find_map(|w| w.strip_prefix("lang:").map(str::to_string))
    })
    .unwrap_or_else(|| "en".into())
}

impl Escalation {
    pub fn count(at: Severity, rows: &[ResultRow]) -> Option<Escalation> {
        let mut tallies: BTreeMap<(String, String), Tally> = BTreeMap::new();
        for row in rows {
            let Case::Assess { expect, .. } = &row.fixture.case else {
                continue;
            };
            let escalated = match &row.outcome {
                Outcome::Checked {
                    output: Output::Assessment(a),
                    ..
                } => Some(a.severity),
                // A failing component is answered by the baseline in serving; here it
                // counts as not escalated, so a broken bundle cannot look good.
                _ => None,
            };
            let got = escalated.unwrap_or(Severity::None);
            let lang = language(row.fixture.note.as_deref());
            let mut keys = vec!["all".to_string()];
            keys.extend(expect.categories.iter().map(|c| c.as_str().to_string()));
            for key in keys {
                let t = tallies.entry((lang.clone(), key)).or_default();
                let hit = usize::from(got >= at);
                if expect.severity >= at {
                    t.crisis.0 += 1;
                    t.crisis.1 += hit;
                } else if expect.severity == Severity::None {
                    t.negatives.0 += 1;
                    t.negatives.1 += hit;
                } else {
                    t.low.0 += 1;
                    t.low.1 += hit;
                }
                if expect.severity == Severity::Imminent {
                    t.imminent.0 += 1;
                    t.imminent.1 += hit;
                    t.imminent.2 += usize::from(got == Severity::Imminent);
                }
            }
        }
        (!tallies.is_empty()).then_some(Escalation { at, tallies })
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "escalation (at {}): the person gets the crisis resources",
            self.at.as_str()
        );
        let _ = writeln!(
            out,
            "{:<4} {:<10} {:>16} {:>18} {:>16} {:>20} {:>14}",
            "lang",
            "category",
            "crisis recall",
            "imminent escalated",
            "imminent exact",
            "negatives escalated",
            "low escalated"
        );
        let ratio = |(n, k): (usize, usize)| {
            if n == 0 {
                "-".to_string()
            } else {
                format!("{:.2} ({k}/{n})", k as f64 / n as f64)
            }
        };
        for ((lang, category), t) in &self.tallies {
            let _ = writeln!(
                out,
                "{:<4} {:<10} {:>16} {:>18} {:>16} {:>20} {:>14}",
                lang,
                category,
                ratio(t.crisis),
                ratio((t.imminent.0, t.imminent.1)),
                ratio((t.imminent.0, t.imminent.2)),
                ratio(t.negatives),
                ratio(t.low)
            );
        }
        out
    }
}
