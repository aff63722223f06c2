//! The loops: conversation workers and the outbox sender, woken by ingress and by
//! queued replies, polling as a fallback (another replica may have stored the work).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Semaphore;
use tokio::sync::mpsc::UnboundedSender;
use tokio::task::JoinHandle;

use super::Pipeline;
use super::sender::Accepted;

/// The running loops; dropping this does not stop them — call `stop` or `drain`.
pub struct Workers {
    handles: Vec<JoinHandle<()>>,
    /// Records what the carriers accepted; ends once the last send has.
    recorder: JoinHandle<()>,
}

impl Workers {
    /// Stop claiming work, at once (sends already started finish on their own).
    pub fn stop(self) {
        self.handles.iter().for_each(JoinHandle::abort);
    }

    /// Stop claiming work, then wait up to `limit` for the sends already started and
    /// their records, so a message the carrier took is not sent again after a restart.
    pub async fn drain(self, limit: Duration) {
        self.handles.iter().for_each(JoinHandle::abort);
        if tokio::time::timeout(limit, self.recorder).await.is_err() {
            tracing::warn!(
                ?limit,
                "sends still in flight at shutdown are sent again when their lease ends"
            );
        }
    }
}

/// Start the conversation loop, the outbox loop and the heap loop on the current runtime.
pub fn spawn(pipeline: Pipeline) -> Workers {
    let conversations = {
        let p = pipeline.clone();
        tokio::spawn(async move { conversation_loop(p).await })
    };
    let (accepted, to_record) = tokio::sync::mpsc::unbounded_channel();
    let recorder = tokio::spawn(pipeline.clone().record_sent(to_record));
    let outbox = {
        let p = pipeline;
        tokio::spawn(async move { outbox_loop(p, accepted).await })
    };
    Workers {
        handles: vec![conversations, outbox, tokio::spawn(heap_loop())],
        recorder,
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

/// What a burst of conversations freed goes back to the system, busy or not: the next
/// burst may begin before the pipeline is ever idle. Asking glibc how much is free walks
/// its free lists under a lock, so once a second.
async fn heap_loop() {
    let mut trimmer = crate::heap::Trimmer::new(TRIM_AFTER);
    let mut every = tokio::time::interval(TRIM_CHECK_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        if trimmer.due() {
            tokio::task::spawn_blocking(crate::heap::release_freed);
        }
    }
}

/// Freed heap (bytes), beyond what was free after the last trim, that is given back.
const TRIM_AFTER: usize = 32 << 20;

/// How often the heap loop asks how much heap is free.
const TRIM_CHECK_EVERY: Duration = Duration::from_secs(1);

/// How long a woken worker waits for more texts before it claims.
const GATHER: Duration = Duration::from_millis(2);

/// Outbox rows claimed at once at most.
const CLAIM_BATCH: usize = 32;

/// Sends run side by side, up to `send_concurrency`: a slow carrier holds a slot per
/// message, not the whole outbox. A claim holds at most one message per person (the
/// store keeps a person's next message back until the one before it is sent or
/// dead-lettered), so one person's messages go out in the order they were queued,
/// across retries and hosts. What the carriers took goes to `accepted`, to be recorded
/// in batches.
async fn outbox_loop(p: Pipeline, accepted: UnboundedSender<Accepted>) {
    let limit = p.settings.send_concurrency.max(1);
    let slots = Arc::new(Semaphore::new(limit));
    // Claim again once this many slots are free, not one row at a time.
    let refill = (limit / 4).clamp(1, CLAIM_BATCH);
    loop {
        let free = slots.available_permits();
        if free < refill {
            drop(
                slots
                    .acquire_many(refill as u32)
                    .await
                    .expect("never closed"),
            );
            continue;
        }
        let want = free.min(CLAIM_BATCH);
        match p.store.claim(want as i64, p.settings.lease).await {
            Ok(rows) if !rows.is_empty() => {
                let drained = rows.len() < want;
                for row in rows {
                    let permit = slots.clone().acquire_owned().await.expect("never closed");
                    let (p, accepted) = (p.clone(), accepted.clone());
                    tokio::spawn(async move {
                        match p.deliver(row).await {
                            Ok(Some(sent)) => {
                                let _ = accepted.send(sent);
                            }
                            Ok(None) => {}
                            Err(e) => {
                                tracing::error!(error = %e, "cannot record a send's outcome; the message is settled when its lease ends")
                            }
                        }
                        drop(permit);
                    });
                }
                if !drained {
                    continue;
                }
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "cannot claim the outbox"),
        }
        tokio::select! {
            _ = p.outbox_ready.notified() => {}
            _ = tokio::time::sleep(p.settings.poll) => {}
        }
    }
}
