//! The loops: conversation workers and the outbox sender, woken by ingress and by
//! queued replies, polling as a fallback (another replica may have stored the work).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;

use super::Pipeline;
use super::sender::Accepted;

/// The running loops; dropping this does not stop them — call `stop` or `drain`.
pub struct Workers {
    /// Tell the conversation loop, then the outbox loop, to stop claiming.
    stop_turns: watch::Sender<bool>,
    stop_sends: watch::Sender<bool>,
    conversations: JoinHandle<()>,
    outbox: JoinHandle<()>,
    /// One permit per turn the conversation loop may run; all free: no turn running.
    turns: Arc<Semaphore>,
    turn_slots: u32,
    heap: JoinHandle<()>,
    /// Records what the carriers accepted; ends once the last send has.
    recorder: JoinHandle<()>,
}

/// What a drain got done before its limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Drained {
    /// Every turn that had started was answered (else those left are answered again
    /// when their lease ends, here or on another host).
    pub turns_finished: bool,
    /// Every send that had started was recorded (else those left are sent again when
    /// their lease ends).
    pub sends_recorded: bool,
}

impl Workers {
    /// Stop claiming work, at once (turns and sends already started finish on their
    /// own, or die with the process and are taken up again when their lease ends).
    pub fn stop(self) {
        self.conversations.abort();
        self.outbox.abort();
        self.heap.abort();
    }

    /// Stop claiming conversations; wait up to `turns` for the turns already started
    /// (their replies keep going out meanwhile); then, within `sends`, send what is
    /// due, stop claiming sends, and wait for those started and their records, so a
    /// message the carrier took is not sent again after a restart. Texts not yet
    /// claimed stay stored for the next host.
    pub async fn drain(self, turns: Duration, sends: Duration) -> Drained {
        self.heap.abort();
        let _ = self.stop_turns.send(true);
        // The loop may be waiting for a free slot for a conversation it claimed: that
        // wait is part of the turns' time.
        let mut conversations = self.conversations;
        let turns_finished = tokio::time::timeout(turns, async {
            let _ = (&mut conversations).await;
            let _ = self.turns.acquire_many(self.turn_slots).await;
        })
        .await
        .is_ok();
        conversations.abort();
        if !turns_finished {
            tracing::warn!(
                limit = ?turns,
                "turns still running at shutdown are answered again when their lease ends"
            );
        }
        let _ = self.stop_sends.send(true);
        let mut outbox = self.outbox;
        let recorder = self.recorder;
        let sends_recorded = tokio::time::timeout(sends, async {
            let _ = (&mut outbox).await;
            let _ = recorder.await;
        })
        .await
        .is_ok();
        outbox.abort();
        if !sends_recorded {
            tracing::warn!(
                limit = ?sends,
                "sends still in flight at shutdown are sent again when their lease ends"
            );
        }
        Drained {
            turns_finished,
            sends_recorded,
        }
    }
}

/// Start the conversation loop, the outbox loop and the heap loop on the current runtime.
pub fn spawn(pipeline: Pipeline) -> Workers {
    let turn_slots = pipeline
        .settings
        .concurrency
        .clamp(1, Semaphore::MAX_PERMITS) as u32;
    let turns = Arc::new(Semaphore::new(turn_slots as usize));
    let (stop_turns, turns_stopped) = watch::channel(false);
    let (stop_sends, sends_stopped) = watch::channel(false);
    let conversations = {
        let (p, turns) = (pipeline.clone(), turns.clone());
        tokio::spawn(async move { conversation_loop(p, turns, turns_stopped).await })
    };
    let (accepted, to_record) = tokio::sync::mpsc::unbounded_channel();
    let recorder = tokio::spawn(pipeline.clone().record_sent(to_record));
    let outbox = tokio::spawn(outbox_loop(pipeline, accepted, sends_stopped));
    Workers {
        stop_turns,
        stop_sends,
        conversations,
        outbox,
        heap: tokio::spawn(heap_loop()),
        turns,
        turn_slots,
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

async fn conversation_loop(p: Pipeline, slots: Arc<Semaphore>, mut stop: watch::Receiver<bool>) {
    let mut swept: Option<Instant> = None;
    loop {
        if *stop.borrow() {
            return;
        }
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
            Ok(()) = stop.changed() => {}
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
///
/// Once `stop` is set it claims until nothing due is left, then returns.
async fn outbox_loop(
    p: Pipeline,
    accepted: UnboundedSender<Accepted>,
    mut stop: watch::Receiver<bool>,
) {
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
        if *stop.borrow() {
            return;
        }
        tokio::select! {
            _ = p.outbox_ready.notified() => {}
            _ = tokio::time::sleep(p.settings.poll) => {}
            Ok(()) = stop.changed() => {}
        }
    }
}
