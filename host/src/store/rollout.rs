//! The fleet's desired policy state, its history and each host's heartbeat, as both
//! backends store them.

use std::time::SystemTime;

/// What one world should run.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredRow {
    pub world: String,
    pub active: Option<BundleRef>,
    pub previous: Option<BundleRef>,
    /// Staged: hosts prepare it; nobody serves it until it is made active.
    pub candidate: Option<BundleRef>,
    /// Given a sample of live messages beside the active bundle; never answers.
    pub shadow: Option<ShadowRef>,
    pub revision: i64,
    pub set_by: String,
    pub set_at: SystemTime,
    pub reason: String,
}

/// Where a bundle comes from (a folder or a registry reference) and its digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BundleRef {
    pub source: String,
    pub digest: String,
}

impl BundleRef {
    pub(crate) fn from_columns(source: Option<String>, digest: Option<String>) -> Option<Self> {
        Some(BundleRef {
            source: source?,
            digest: digest?,
        })
    }
}

/// A shadow bundle and the share of messages it is given.
#[derive(Debug, Clone, PartialEq)]
pub struct ShadowRef {
    pub bundle: BundleRef,
    pub sample: f64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RolloutAction {
    Stage,
    Activate,
    Rollback,
    Abandon,
    Shadow,
    ShadowStop,
}

impl RolloutAction {
    pub fn as_str(self) -> &'static str {
        match self {
            RolloutAction::Stage => "stage",
            RolloutAction::Activate => "activate",
            RolloutAction::Rollback => "rollback",
            RolloutAction::Abandon => "abandon",
            RolloutAction::Shadow => "shadow",
            RolloutAction::ShadowStop => "shadow-stop",
        }
    }
}

/// Who asks for a change, and why.
#[derive(Debug, Clone)]
pub struct Change<'a> {
    pub world: &'a str,
    pub subject: &'a str,
    pub reason: &'a str,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRow {
    pub id: i64,
    pub world: String,
    pub action: String,
    pub source: String,
    pub digest: String,
    pub previous_digest: Option<String>,
    pub subject: String,
    pub reason: String,
    pub at: SystemTime,
}

/// One host's report for one world.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostReport {
    pub world: String,
    pub serving: Option<String>,
    pub prepared: Option<String>,
    pub error: Option<String>,
    /// The digest the error is about.
    pub error_digest: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRow {
    pub host_id: String,
    pub report: HostReport,
    pub started_at: SystemTime,
    pub seen_at: SystemTime,
}

/// Why a change was not made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RolloutRefusal {
    #[error("{world} has no staged candidate {digest}")]
    NotStaged { world: String, digest: String },
    #[error("{world} has no previous bundle to roll back to")]
    NoPrevious { world: String },
}

/// Decisions one bundle made in one hour of one world.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecisionCount {
    pub hour: SystemTime,
    pub world: String,
    /// `None`: the host's built-in baseline (no bundle was active).
    pub digest: Option<String>,
    pub decisions: i64,
    /// Of them, made by a baseline because the component failed or was missing.
    pub fallbacks: i64,
}

/// Both decisions on one message, side by side.
#[derive(Debug, Clone, PartialEq)]
pub struct ShadowDecision {
    pub message_id: uuid::Uuid,
    pub world: String,
    pub active_digest: Option<String>,
    pub candidate_digest: String,
    pub active: serde_json::Value,
    /// `None` when the candidate failed (`candidate_error` says how).
    pub candidate: Option<serde_json::Value>,
    pub candidate_error: Option<String>,
    pub agreed: bool,
    pub decided_at: SystemTime,
}
