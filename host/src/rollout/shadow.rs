//! Setting a world's shadow, reading what it saw, and promoting it.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use jules_policy_model::World;
use serde_json::Value;

use super::control::{self, Applied, ControlError, Told};
use super::source::Source;
use crate::store::{Backend, BundleRef, Change, ShadowDecision, ShadowRef, StoreError};

/// Severity at or above which a person is sent the crisis resources (the shipped
/// bundles' `escalate-at`).
const ESCALATES: [&str; 3] = ["moderate", "high", "imminent"];
const SEVERITIES: [&str; 5] = ["none", "low", "moderate", "high", "imminent"];

/// Give the bundle at `source` `sample` of the world's messages beside the active one.
pub async fn start(
    store: &Backend,
    world: World,
    source: &Source,
    sample: f64,
    subject: &str,
    reason: &str,
    told: &Told,
) -> Result<BundleRef, ControlError> {
    if !(0.0..=1.0).contains(&sample) {
        return Err(ControlError::Bundle(format!(
            "--sample {sample}: give a share from 0 to 1"
        )));
    }
    let (pinned, digest, bundle_world) = control::describe(source).await?;
    if bundle_world != world {
        return Err(ControlError::Bundle(format!(
            "{} is a {bundle_world} bundle, not {world}",
            pinned.to_stored()
        )));
    }
    let bundle = BundleRef {
        source: pinned.to_stored(),
        digest,
    };
    let change = Change {
        world: world.as_str(),
        subject,
        reason,
    };
    let shadow = ShadowRef {
        bundle: bundle.clone(),
        sample,
    };
    store.set_shadow(&change, Some(&shadow)).await?;
    told();
    Ok(bundle)
}

pub async fn stop(
    store: &Backend,
    world: World,
    subject: &str,
    reason: &str,
    told: &Told,
) -> Result<(), StoreError> {
    let change = Change {
        world: world.as_str(),
        subject,
        reason,
    };
    store.set_shadow(&change, None).await?;
    told();
    Ok(())
}

/// What a shadow saw: its decisions beside the active ones.
#[derive(Debug, Clone)]
pub struct Report {
    pub world: World,
    pub candidate: Option<BundleRef>,
    pub decisions: Vec<ShadowDecision>,
    /// (active label, candidate label) → count; the label is the crisis severity, the
    /// compliance actions, or the prompt's mode (`label`).
    pub labels: BTreeMap<(String, String), usize>,
    /// Part (crisis category, compliance action) → (both, active only, candidate only).
    pub parts: BTreeMap<String, (usize, usize, usize)>,
    pub failed: usize,
}

/// Whether the active bundle and the candidate escalated this message (a failed
/// candidate did not).
pub fn escalations(d: &ShadowDecision) -> (bool, bool) {
    let escalates = |v: &Value| ESCALATES.contains(&severity(v).as_str());
    (
        escalates(&d.active),
        d.candidate.as_ref().is_some_and(escalates),
    )
}

fn severity(v: &Value) -> String {
    v["severity"].as_str().unwrap_or("none").to_string()
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| c.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// A decision summary's row or column in the confusion table.
fn label(world: World, v: &Value) -> String {
    match world {
        World::CrisisDetector => severity(v),
        World::CompliancePolicy => {
            let actions = strings(&v["actions"]);
            if actions.is_empty() {
                "(none)".into()
            } else {
                actions.join("+")
            }
        }
        World::PromptBuilder => {
            let mode = if v["crisis-mode"].as_bool() == Some(true) {
                "crisis"
            } else {
                "companion"
            };
            format!("{mode}/{}", v["max-tokens"])
        }
    }
}

/// The parts of a decision counted one by one: crisis categories, compliance actions.
fn parts(world: World, v: &Value) -> Vec<String> {
    match world {
        World::CrisisDetector => strings(&v["categories"]),
        World::CompliancePolicy => strings(&v["actions"]),
        World::PromptBuilder => Vec::new(),
    }
}

impl Report {
    pub fn agreed(&self) -> usize {
        self.decisions.iter().filter(|d| d.agreed).count()
    }

    /// Messages the active bundle escalated and the candidate did not.
    pub fn missed_escalations(&self) -> Vec<&ShadowDecision> {
        self.escalated_by(true)
    }

    /// Messages the candidate escalated and the active bundle did not.
    pub fn extra_escalations(&self) -> Vec<&ShadowDecision> {
        self.escalated_by(false)
    }

    /// Messages only one side escalated: the active bundle (`active`) or the candidate.
    /// Only crisis decisions escalate.
    fn escalated_by(&self, active: bool) -> Vec<&ShadowDecision> {
        if self.world != World::CrisisDetector {
            return Vec::new();
        }
        self.decisions
            .iter()
            .filter(|d| {
                let (a, c) = escalations(d);
                if active { a && !c } else { c && !a }
            })
            .collect()
    }

    /// The confusion table's labels, in order: severities by rank, others as seen.
    fn axis(&self) -> Vec<String> {
        if self.world == World::CrisisDetector {
            return SEVERITIES.iter().map(|s| s.to_string()).collect();
        }
        let seen: std::collections::BTreeSet<&String> =
            self.labels.keys().flat_map(|(a, c)| [a, c]).collect();
        seen.into_iter().cloned().collect()
    }

    /// One line of figures, for the history.
    pub fn figures(&self) -> String {
        let n = self.decisions.len();
        let agreed = format!("shadow agreed on {} of {n} messages", self.agreed());
        if self.world != World::CrisisDetector {
            return format!("{agreed}; {} failed", self.failed);
        }
        format!(
            "{agreed}; escalated {} the active one did not, missed {}; {} failed",
            self.extra_escalations().len(),
            self.missed_escalations().len(),
            self.failed
        )
    }

    pub fn render(&self, disagreements: usize) -> String {
        use std::fmt::Write as _;
        let mut out = String::new();
        let n = self.decisions.len();
        match &self.candidate {
            Some(c) => {
                let _ = writeln!(out, "candidate {} ({})", c.digest, c.source);
            }
            None => {
                let _ = writeln!(out, "no shadow is set; decisions of earlier shadows:");
            }
        }
        let rate = if n == 0 {
            "-".to_string()
        } else {
            format!("{:.1}%", self.agreed() as f64 * 100.0 / n as f64)
        };
        let _ = writeln!(
            out,
            "{n} messages, agreement {rate}, {} candidate failures\n",
            self.failed
        );
        let what = match self.world {
            World::CrisisDetector => "severity",
            World::CompliancePolicy => "actions",
            World::PromptBuilder => "prompt mode/max tokens",
        };
        let axis = self.axis();
        let width = axis.iter().map(String::len).max().unwrap_or(0).max(8) + 2;
        let _ = writeln!(out, "{what}: active (rows) vs candidate (columns)");
        let _ = write!(out, "{:<width$}", "");
        for c in &axis {
            let _ = write!(out, "{c:>width$}");
        }
        let _ = writeln!(out);
        for a in &axis {
            let _ = write!(out, "{a:<width$}");
            for c in &axis {
                let count = self
                    .labels
                    .get(&(a.clone(), c.clone()))
                    .copied()
                    .unwrap_or(0);
                let _ = write!(out, "{count:>width$}");
            }
            let _ = writeln!(out);
        }
        if !self.parts.is_empty() {
            let part = if self.world == World::CrisisDetector {
                "category"
            } else {
                "action"
            };
            let _ = writeln!(
                out,
                "\n{part:<24} {:>6} {:>12} {:>15}",
                "both", "active only", "candidate only"
            );
            for (name, (both, a, c)) in &self.parts {
                let _ = writeln!(out, "{name:<24} {both:>6} {a:>12} {c:>15}");
            }
        }
        if self.world == World::CrisisDetector {
            let _ = writeln!(
                out,
                "\nescalated by the candidate only: {}; by the active bundle only: {}",
                self.extra_escalations().len(),
                self.missed_escalations().len()
            );
        }
        let disagreeing: Vec<&ShadowDecision> = self
            .decisions
            .iter()
            .filter(|d| !d.agreed)
            .take(disagreements)
            .collect();
        if !disagreeing.is_empty() {
            let _ = writeln!(out, "\ndisagreements, newest first:");
        }
        for d in disagreeing {
            let candidate = match (&d.candidate, &d.candidate_error) {
                (Some(c), _) => c.to_string(),
                (None, e) => format!("FAILED: {}", e.as_deref().unwrap_or("?")),
            };
            let _ = writeln!(
                out,
                "  {}  {}  active {} -> candidate {candidate}",
                d.message_id,
                chrono::DateTime::<chrono::Utc>::from(d.decided_at).format("%Y-%m-%d %H:%M:%S"),
                d.active,
            );
        }
        out
    }
}

/// What the world's current shadow (else every shadow) saw since `since`.
pub async fn report(store: &Backend, world: World, since: Duration) -> Result<Report, StoreError> {
    let candidate = store
        .desired()
        .await?
        .into_iter()
        .find(|d| d.world == world.as_str())
        .and_then(|d| d.shadow)
        .map(|s| s.bundle);
    let from = SystemTime::now() - since;
    let decisions: Vec<ShadowDecision> = store
        .shadow_decisions(world.as_str(), from)
        .await?
        .into_iter()
        .filter(|d| {
            candidate
                .as_ref()
                .is_none_or(|c| c.digest == d.candidate_digest)
        })
        .collect();
    let mut labels = BTreeMap::new();
    let mut counted: BTreeMap<String, (usize, usize, usize)> = BTreeMap::new();
    let mut failed = 0;
    for d in &decisions {
        let Some(c) = &d.candidate else {
            failed += 1;
            continue;
        };
        *labels
            .entry((label(world, &d.active), label(world, c)))
            .or_default() += 1;
        let (a, c) = (parts(world, &d.active), parts(world, c));
        let named: std::collections::BTreeSet<&String> = a.iter().chain(&c).collect();
        for name in named {
            let e = counted.entry(name.clone()).or_default();
            match (a.contains(name), c.contains(name)) {
                (true, true) => e.0 += 1,
                (true, false) => e.1 += 1,
                _ => e.2 += 1,
            }
        }
    }
    Ok(Report {
        world,
        candidate,
        decisions,
        labels,
        parts: counted,
        failed,
    })
}

/// Activate the shadow as it is (same digest: the hosts hold it loaded) and stop it;
/// the report's figures go into the history with the reason.
pub async fn promote(
    store: &Backend,
    world: World,
    subject: &str,
    reason: &str,
    accept_regression: Option<&str>,
    wait: Duration,
    told: &Told,
) -> Result<(Applied, Report), ControlError> {
    let report = report(store, world, Duration::from_secs(90 * 86_400)).await?;
    let Some(candidate) = report.candidate.clone() else {
        return Err(ControlError::Bundle(format!(
            "{world} has no shadow to promote"
        )));
    };
    let source = Source::parse(&candidate.source).map_err(ControlError::Bundle)?;
    let why = format!("{reason} (promoted from shadow: {})", report.figures());
    let activation = control::Activation {
        world,
        source: &source,
        subject,
        reason: &why,
        accept_regression,
        wait,
    };
    let applied = control::activate(store, &activation, told).await?;
    stop(store, world, subject, "promoted", told).await?;
    Ok((applied, report))
}
