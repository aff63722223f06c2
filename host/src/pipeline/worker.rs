//! The loops: conversation workers and the outbox sender, woken by ingress and by
//! queued replies, polling as a fallback (another replica may have stored the work).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use super::Pipeline;

/// The running loops; dropping this does not stop them — call `stop`.
pub struct Workers {
    handles: Vec<JoinHandle<()>>,
}

impl Workers {
    pub fn stop(self) {
        for h in self.handles {
            h.abort();
        }
    }
}

/// Start the conversation loop and the outbox loop on the current runtime.
pub fn spawn(pipeline: Pipeline) -> Workers {
    let conversations = {
        let p = pipeline.clone();
        tokio::spawn(async move { conversation_loop(p).await })
    };
    let outbox = {
        let p = pipeline;
        tokio::spawn(async move { outbox_loop(p).await })
    };
    Workers {
        handles: vec![conversations, outbox],
    }
}

/// How often texts held under an expired lease are handed back: a quarter of the
/// lease, between the poll interval and 30 s.
fn sweep_every(p: &Pipeline) -> Duration {
    (p.settings.lease / 4).clamp(
        p.settings.poll,
        Duration::from_secs(30).max(p.settings.poll),
    )
}

async fn conversation_loop(p: Pipeline) {
    let slots = Arc::new(Semaphore::new(p.settings.concurrency.max(1)));
    let mut swept: Option<Instant> = None;
    let mut trimmer = crate::heap::Trimmer::new(TRIM_AFTER);
    let mut trim_checked = Instant::now();
    loop {
        if swept.is_none_or(|t| t.elapsed() >= sweep_every(&p)) {
            match p.store.db().recover_conversations().await {
                Ok(0) => {}
                Ok(n) => tracing::warn!(texts = n, "texts of expired leases handed back"),
                Err(e) => tracing::error!(error = %e, "cannot recover expired leases"),
            }
            swept = Some(Instant::now());
        }
        let free = slots.available_permits();
        let claimed = if free == 0 {
            Ok(Vec::new())
        } else {
            p.store
                .db()
                .claim_conversations(free as i64, p.settings.lease, p.settings.quiet)
                .await
        };
        match claimed {
            Ok(users) if !users.is_empty() => {
                // Fewer than asked for: everything waiting was taken.
                let drained = users.len() < free;
                for user in users {
                    let permit = slots.clone().acquire_owned().await.expect("never closed");
                    let p = p.clone();
                    tokio::spawn(async move {
                        if let Err(e) = p.process(user).await {
                            tracing::error!(user = %user, error = %e, "conversation failed; its texts are claimed again in a few seconds");
                        }
                        drop(permit);
                    });
                }
                if !drained {
                    continue;
                }
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "cannot claim conversations"),
        }
        // Idle after a burst: what it freed goes back to the system. Asking glibc how
        // much is free walks its free lists under a lock, so at most once a second.
        if slots.available_permits() == p.settings.concurrency.max(1)
            && trim_checked.elapsed() >= TRIM_CHECK_EVERY
        {
            trim_checked = Instant::now();
            if trimmer.due() {
                tokio::task::spawn_blocking(crate::heap::release_freed);
            }
        }
        // Wait for new work, a quiet window to pass, or the poll interval.
        let wait = p
            .settings
            .poll
            .max(p.settings.quiet.min(p.settings.poll * 5));
        tokio::select! {
            _ = p.inbound_ready.notified(), if p.settings.quiet.is_zero() => {}
            _ = tokio::time::sleep(wait) => {}
        }
        if p.settings.quiet.is_zero() {
            // Texts arriving together are claimed together: one claim per gather
            // window, not one per text.
            tokio::time::sleep(GATHER).await;
        }
    }
}

/// Freed heap (bytes) an idle worker gives back to the system.
const TRIM_AFTER: usize = 32 << 20;

/// How often an idle worker asks how much heap is free.
const TRIM_CHECK_EVERY: Duration = Duration::from_secs(1);

/// How long a woken worker waits for more texts before it claims.
const GATHER: Duration = Duration::from_millis(2);

async fn outbox_loop(p: Pipeline) {
    loop {
        match p.send_due(32).await {
            Ok(n) if n > 0 => continue,
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "cannot claim the outbox"),
        }
        tokio::select! {
            _ = p.outbox_ready.notified() => {}
            _ = tokio::time::sleep(p.settings.poll) => {}
        }
    }
}
