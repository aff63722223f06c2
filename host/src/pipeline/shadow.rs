//! The crisis shadow: a sampled message goes to the candidate bundle after the active
//! one decided, through a bounded queue (full: dropped and counted) to one worker that
//! runs the candidate on a blocking thread and records both decisions side by side. It
//! never delays or changes a reply and never sends anything.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use jules_policy_model::{Assessment, World};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::conversation::Asked;
use crate::policy::{PolicyRuntime, Shadow};
use crate::store::{Backend, ShadowDecision};

/// Jobs waiting for the shadow at most; more are dropped (and counted).
pub const QUEUE: usize = 1024;

struct Job {
    message_id: Uuid,
    asked: Arc<Asked>,
    active: Assessment,
    active_digest: Option<String>,
    shadow: Arc<Shadow>,
}

pub struct Shadower {
    jobs: mpsc::Sender<Job>,
    policies: Arc<PolicyRuntime>,
}

fn summary(a: &Assessment) -> Value {
    json!({ "severity": a.severity.as_str(), "categories": a.categories })
}

impl Shadower {
    /// The queue and its worker.
    pub fn start(policies: Arc<PolicyRuntime>, store: Backend, capacity: usize) -> Shadower {
        let (jobs, mut queue) = mpsc::channel::<Job>(capacity.max(1));
        let stats_of = policies.clone();
        tokio::spawn(async move {
            while let Some(job) = queue.recv().await {
                let stats = stats_of.shadow_stats(World::CrisisDetector);
                let (bundle, asked) = (job.shadow.bundle.clone(), job.asked.clone());
                let got = tokio::task::spawn_blocking(move || {
                    bundle.assess(&asked.inbound, &asked.context, &asked.recent)
                })
                .await;
                let (candidate, error) = match got {
                    Ok(Ok(a)) => (Some(a), None),
                    Ok(Err(e)) => (None, Some(e.to_string())),
                    Err(e) => (None, Some(format!("the shadow call panicked: {e}"))),
                };
                let agreed = candidate.as_ref().is_some_and(|c| {
                    c.severity == job.active.severity && c.categories == job.active.categories
                });
                let counter = match (&candidate, agreed) {
                    (None, _) => &stats.failed,
                    (Some(_), true) => &stats.agreed,
                    (Some(_), false) => &stats.disagreed,
                };
                counter.fetch_add(1, Ordering::Relaxed);
                let row = ShadowDecision {
                    message_id: job.message_id,
                    world: World::CrisisDetector.to_string(),
                    active_digest: job.active_digest,
                    candidate_digest: job.shadow.bundle.digest.to_string(),
                    active: summary(&job.active),
                    candidate: candidate.as_ref().map(summary),
                    candidate_error: error,
                    agreed,
                    decided_at: std::time::SystemTime::now(),
                };
                if let Err(e) = store.record_shadow(&row).await {
                    tracing::warn!(error = %e, "cannot record a shadow decision");
                }
            }
        });
        Shadower { jobs, policies }
    }

    /// After the active crisis decision on `message_id`: hand a sample to the shadow.
    pub(super) fn offer(
        &self,
        message_id: Uuid,
        asked: &Arc<Asked>,
        active: &Assessment,
        active_digest: Option<String>,
    ) {
        let Some(shadow) = self.policies.shadow(World::CrisisDetector) else {
            return;
        };
        if rand::random::<f64>() >= shadow.sample {
            return;
        }
        let stats = self.policies.shadow_stats(World::CrisisDetector);
        let job = Job {
            message_id,
            asked: asked.clone(),
            active: active.clone(),
            active_digest,
            shadow,
        };
        match self.jobs.try_send(job) {
            Ok(()) => stats.sampled.fetch_add(1, Ordering::Relaxed),
            Err(_) => stats.dropped.fetch_add(1, Ordering::Relaxed),
        };
    }
}
