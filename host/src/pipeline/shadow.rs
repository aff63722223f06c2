//! Shadows: a sampled message goes to a world's candidate bundle after the active one
//! decided, through a bounded queue (full: dropped and counted) to one thread of lower
//! priority that runs the candidate, and a task that records both decisions side by
//! side. A shadow never delays or changes a reply and never sends anything.
//!
//! What is recorded is a summary without text: the crisis severity and categories, the
//! compliance actions' names, the prompt's mode and shape. Whether the two agreed is
//! decided on the whole decision (a compliance reply or a system prompt that changed
//! wording disagrees), in memory.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use jules_policy_model::{Assessment, Decision, LlmRequest, MemoryFact, World};
use serde_json::{Value, json};
use tokio::sync::mpsc;
use uuid::Uuid;

use super::conversation::Asked;
use crate::policy::{LoadedBundle, PolicyRuntime, PromptInput, Shadow};
use crate::store::{Backend, ShadowDecision};

/// Jobs waiting for the shadows at most; more are dropped (and counted).
pub const QUEUE: usize = 1024;

/// One world's question and the active bundle's answer.
pub(super) enum Asking {
    Crisis(Assessment),
    Compliance(Decision),
    Prompt {
        facts: Arc<Vec<MemoryFact>>,
        crisis: Assessment,
        active: LlmRequest,
    },
}

impl Asking {
    fn world(&self) -> World {
        match self {
            Asking::Crisis(_) => World::CrisisDetector,
            Asking::Compliance(_) => World::CompliancePolicy,
            Asking::Prompt { .. } => World::PromptBuilder,
        }
    }

    fn active(&self) -> Value {
        match self {
            Asking::Crisis(a) => crisis_summary(a),
            Asking::Compliance(d) => compliance_summary(d),
            Asking::Prompt { active, .. } => prompt_summary(active),
        }
    }

    /// The candidate's decision on the same input: its summary, and whether it is the
    /// active one's.
    fn ask(&self, bundle: &LoadedBundle, asked: &Asked) -> Result<(Value, bool), String> {
        let err = |e: crate::policy::CallError| e.to_string();
        Ok(match self {
            Asking::Crisis(active) => {
                let c = bundle
                    .assess(&asked.inbound, &asked.context, &asked.recent)
                    .map_err(err)?;
                let agreed = c.severity == active.severity && c.categories == active.categories;
                (crisis_summary(&c), agreed)
            }
            Asking::Compliance(active) => {
                let c = bundle
                    .evaluate(&asked.inbound, &asked.context)
                    .map_err(err)?;
                (compliance_summary(&c), &c == active)
            }
            Asking::Prompt {
                facts,
                crisis,
                active,
            } => {
                let c = bundle
                    .build(&PromptInput {
                        message: &asked.inbound,
                        user: &asked.context,
                        recent: &asked.recent,
                        facts,
                        crisis,
                    })
                    .map_err(err)?;
                (prompt_summary(&c), &c == active)
            }
        })
    }
}

fn crisis_summary(a: &Assessment) -> Value {
    json!({ "severity": a.severity.as_str(), "categories": a.categories })
}

fn compliance_summary(d: &Decision) -> Value {
    json!({ "actions": d.actions.iter().map(|a| a.name()).collect::<Vec<_>>() })
}

fn prompt_summary(r: &LlmRequest) -> Value {
    json!({
        "crisis-mode": r.crisis_mode,
        "messages": r.messages.len(),
        "max-tokens": r.max_tokens,
        "system-chars": r.system.chars().count(),
    })
}

/// The candidate's decision on one job, counted, as the row that records it.
fn decide(policies: &PolicyRuntime, job: Job) -> ShadowDecision {
    let world = job.asking.world();
    let stats = policies.shadow_stats(world);
    let active = job.asking.active();
    let got = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        job.asking.ask(&job.shadow.bundle, &job.asked)
    }))
    .unwrap_or_else(|_| Err("the shadow call panicked".into()));
    let (candidate, error, agreed) = match got {
        Ok((summary, agreed)) => (Some(summary), None, agreed),
        Err(e) => (None, Some(e), false),
    };
    let counter = match (&candidate, agreed) {
        (None, _) => &stats.failed,
        (Some(_), true) => &stats.agreed,
        (Some(_), false) => &stats.disagreed,
    };
    counter.fetch_add(1, Ordering::Relaxed);
    ShadowDecision {
        message_id: job.message_id,
        world: world.to_string(),
        active_digest: job.active_digest,
        candidate_digest: job.shadow.bundle.digest.to_string(),
        active,
        candidate,
        candidate_error: error,
        agreed,
        decided_at: std::time::SystemTime::now(),
    }
}

/// This thread below the others (Linux schedules threads one by one, so only it).
fn lower_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: setpriority on this thread's own id changes nothing but its nice value.
    let failed =
        unsafe { libc::setpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t, 10) } != 0;
    #[cfg(not(target_os = "linux"))]
    let failed = false;
    if failed {
        tracing::warn!("the shadow thread runs at the replies' priority (setpriority failed)");
    }
}

struct Job {
    message_id: Uuid,
    asked: Arc<Asked>,
    asking: Asking,
    active_digest: Option<String>,
    shadow: Arc<Shadow>,
}

pub struct Shadower {
    jobs: mpsc::Sender<Job>,
    policies: Arc<PolicyRuntime>,
}

impl Shadower {
    /// The queue, the thread that asks the candidates and the task that records.
    ///
    /// Candidates run on one thread of their own at a lower scheduling priority than
    /// the replies' threads (nice 10 on Linux): on a busy host a shadow takes the CPU
    /// the replies leave, instead of sharing it evenly with them.
    pub fn start(policies: Arc<PolicyRuntime>, store: Backend, capacity: usize) -> Shadower {
        let (jobs, mut queue) = mpsc::channel::<Job>(capacity.max(1));
        let (decided, mut to_record) = mpsc::channel::<ShadowDecision>(capacity.max(1));
        let stats_of = policies.clone();
        let asker = std::thread::Builder::new()
            .name("jules-shadow".into())
            .spawn(move || {
                lower_priority();
                while let Some(job) = queue.blocking_recv() {
                    let row = decide(&stats_of, job);
                    if decided.blocking_send(row).is_err() {
                        return;
                    }
                }
            });
        if let Err(e) = asker {
            tracing::error!(error = %e, "no thread for shadows: shadow samples will be dropped");
        }
        tokio::spawn(async move {
            while let Some(row) = to_record.recv().await {
                if let Err(e) = store.record_shadow(&row).await {
                    tracing::warn!(error = %e, "cannot record a shadow decision");
                }
            }
        });
        Shadower { jobs, policies }
    }

    /// After the active bundle of `asking`'s world decided on `message_id`: hand a
    /// sample to that world's shadow, when it has one.
    pub(super) fn offer(
        &self,
        message_id: Uuid,
        asked: &Arc<Asked>,
        asking: impl FnOnce() -> Asking,
        world: World,
        active_digest: Option<String>,
    ) {
        let Some(shadow) = self.policies.shadow(world) else {
            return;
        };
        if rand::random::<f64>() >= shadow.sample {
            return;
        }
        let stats = self.policies.shadow_stats(world);
        let job = Job {
            message_id,
            asked: asked.clone(),
            asking: asking(),
            active_digest,
            shadow,
        };
        match self.jobs.try_send(job) {
            Ok(()) => stats.sampled.fetch_add(1, Ordering::Relaxed),
            Err(_) => stats.dropped.fetch_add(1, Ordering::Relaxed),
        };
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    #[test]
    fn the_shadow_thread_runs_below_the_others() {
        let own = || {
            // SAFETY: reads this thread's nice value.
            unsafe { libc::getpriority(libc::PRIO_PROCESS, libc::gettid() as libc::id_t) }
        };
        let before = own();
        let lowered = std::thread::spawn(move || {
            super::lower_priority();
            own()
        })
        .join()
        .unwrap();
        assert_eq!(lowered, before + 10);
        assert_eq!(own(), before, "only the shadow's thread is lowered");
    }
}
