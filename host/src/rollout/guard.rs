//! Before a crisis bundle goes active: would it leave anyone unescalated whom the
//! active bundle escalates? Two witnesses: its shadow on live traffic (a message the
//! active bundle escalated and it did not), and `jules policy diff` against the active
//! bundle on the corpora (a regression of any kind). Either needs an explicit
//! acceptance, recorded in the history.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use jules_policy_model::World;

use super::shadow::escalations;
use super::source::Source;
use crate::harness::{self, Diff};
use crate::policy::{BundleSource, PolicyRuntime, RuntimeSettings, Trust};
use crate::store::{Backend, StoreError};

/// How far back shadow decisions count.
const SHADOW_WINDOW: Duration = Duration::from_secs(90 * 86_400);

/// Why activating the bundle `digest` (read from `new`) would regress crisis
/// detection; empty when nothing says so.
pub async fn regressions(
    store: &Backend,
    world: World,
    new: &Source,
    digest: &str,
) -> Result<Vec<String>, String> {
    if world != World::CrisisDetector {
        return Ok(Vec::new());
    }
    let mut found = Vec::new();
    let shadowed = store
        .shadow_decisions(world.as_str(), SystemTime::now() - SHADOW_WINDOW)
        .await
        .map_err(|e: StoreError| e.to_string())?;
    let missed = shadowed
        .iter()
        .filter(|d| d.candidate_digest == digest)
        .filter(|d| escalations(d) == (true, false))
        .count();
    if missed > 0 {
        found.push(format!(
            "its shadow left {missed} live message(s) unescalated that the active bundle escalated"
        ));
    }
    let active = store
        .desired()
        .await
        .map_err(|e| e.to_string())?
        .into_iter()
        .find(|d| d.world == world.as_str())
        .and_then(|d| d.active);
    if let Some(active) = active.filter(|a| a.digest != digest) {
        let scratch = tempfile::tempdir().map_err(|e| e.to_string())?;
        let old = Source::parse(&active.source)?.fetch(scratch.path()).await?;
        let new = new.fetch(scratch.path()).await?;
        if let Some(line) = tokio::task::spawn_blocking(move || corpus_diff(old, new))
            .await
            .map_err(|e| e.to_string())??
        {
            found.push(line);
        }
    }
    Ok(found)
}

/// The diff of the two on the new bundle's corpora (else the old one's), when either
/// has any: a line naming the regressions, or `None`.
fn corpus_diff(old: BundleSource, new: BundleSource) -> Result<Option<String>, String> {
    let existing = |b: &BundleSource| -> Vec<PathBuf> {
        let paths = b.corpus_paths();
        if !paths.is_empty() && paths.iter().all(|p| p.exists()) {
            paths
        } else {
            Vec::new()
        }
    };
    let corpora = match existing(&new) {
        c if !c.is_empty() => c,
        _ => existing(&old),
    };
    if corpora.is_empty() {
        return Ok(None);
    }
    let runtime = PolicyRuntime::new(RuntimeSettings {
        max_instances: 8,
        trust: Trust::NotChecked,
        ..RuntimeSettings::default()
    })
    .map_err(|e| e.to_string())?;
    let old = runtime.load_source(old).map_err(|e| e.to_string())?;
    let new = runtime.load_source(new).map_err(|e| e.to_string())?;
    let before = harness::run(&old, &corpora, false).map_err(|e| e.to_string())?;
    let after = harness::run(&new, &corpora, false).map_err(|e| e.to_string())?;
    let diff = Diff::compare(&before, &after, &BTreeSet::new())?;
    if diff.regressions() == 0 {
        return Ok(None);
    }
    let ids: Vec<&str> = diff
        .changed
        .iter()
        .filter(|c| c.regression.is_some())
        .map(|c| c.id.as_str())
        .take(5)
        .collect();
    Ok(Some(format!(
        "against the active bundle on its corpora: {} regression(s) ({}{}); `jules policy diff` shows them",
        diff.regressions(),
        ids.join(", "),
        if diff.regressions() > ids.len() {
            ", ..."
        } else {
            ""
        }
    )))
}
