//! One store interface over two backends: Postgres for production, the embedded SQLite
//! file when `DATABASE_URL` is unset. Both hold the same schema and behave the same;
//! the same test suite runs against both. Sealed bytes only: see `Store` for the layer
//! that seals and opens personal data.

use std::path::Path;
use std::time::{Duration, SystemTime};

use uuid::Uuid;

use super::migrate::MigrationStatus;
use super::postgres::PgStore;
use super::rollout::*;
use super::sqlite::SqliteStore;
use super::types::*;

#[derive(Clone)]
pub enum Backend {
    Postgres(PgStore),
    Embedded(SqliteStore),
}

macro_rules! dispatch {
    ($self:ident, $s:ident => $call:expr) => {
        match $self {
            Backend::Postgres($s) => $call,
            Backend::Embedded($s) => $call,
        }
    };
}

/// The embedded store's file, under the data directory.
pub const EMBEDDED_FILE: &str = "jules.sqlite3";

impl Backend {
    /// Postgres when `database_url` is given, else the embedded file in `data_dir`.
    pub fn open(
        database_url: Option<&str>,
        pool_size: usize,
        data_dir: &Path,
    ) -> Result<Backend, StoreError> {
        Ok(match database_url {
            Some(url) => Backend::Postgres(PgStore::connect(url, pool_size)?),
            None => Backend::Embedded(SqliteStore::open(&data_dir.join(EMBEDDED_FILE))?),
        })
    }

    /// Where the data is, for operators: the Postgres host and database, or the file.
    pub fn describe(&self) -> String {
        match self {
            Backend::Postgres(p) => format!("postgres {}", p.describe()),
            Backend::Embedded(s) => format!("embedded store {}", s.path().display()),
        }
    }

    /// `postgres` or `embedded`, for logs and /health.
    pub fn kind(&self) -> &'static str {
        match self {
            Backend::Postgres(_) => "postgres",
            Backend::Embedded(_) => "embedded",
        }
    }

    pub async fn ping(&self) -> Result<(), StoreError> {
        dispatch!(self, s => s.ping().await)
    }

    pub async fn migrate(&self) -> Result<Vec<String>, StoreError> {
        dispatch!(self, s => s.migrate().await)
    }

    pub async fn migration_status(&self) -> Result<Vec<MigrationStatus>, StoreError> {
        dispatch!(self, s => s.migration_status().await)
    }

    pub async fn record_inbound(&self, m: &NewInbound<'_>) -> Result<Recorded, StoreError> {
        dispatch!(self, s => s.record_inbound(m).await)
    }

    pub async fn user(&self, id: Uuid) -> Result<Option<UserRow>, StoreError> {
        dispatch!(self, s => s.user(id).await)
    }

    pub async fn user_by_phone_index(&self, index: &[u8]) -> Result<Option<UserRow>, StoreError> {
        dispatch!(self, s => s.user_by_phone_index(index).await)
    }

    pub async fn set_preferences(&self, id: Uuid, sealed: Option<&[u8]>) -> Result<(), StoreError> {
        dispatch!(self, s => s.set_preferences(id, sealed).await)
    }

    pub async fn recent_messages(
        &self,
        user_id: Uuid,
        limit: i64,
    ) -> Result<Vec<MessageRow>, StoreError> {
        dispatch!(self, s => s.recent_messages(user_id, limit).await)
    }

    pub async fn queue_reply(&self, r: &NewReply<'_>) -> Result<Option<Uuid>, StoreError> {
        dispatch!(self, s => s.queue_reply(r).await)
    }

    pub async fn claim_conversations(
        &self,
        limit: i64,
        lease: Duration,
        quiet: Duration,
    ) -> Result<Vec<Uuid>, StoreError> {
        dispatch!(self, s => s.claim_conversations(limit, lease, quiet).await)
    }

    /// Let go of a conversation without answering it: its texts go back to waiting,
    /// to be claimed again after `retry_in` (zero: at once).
    pub async fn release_conversation(
        &self,
        user: Uuid,
        retry_in: Duration,
    ) -> Result<(), StoreError> {
        dispatch!(self, s => s.release_conversation(user, retry_in).await)
    }

    /// Hand back texts held by a worker whose lease ran out (it died or stalled), so
    /// the next claim finds them; returns how many. Claims look only at texts nobody
    /// holds, so this sweep is what recovers a crashed worker's conversations.
    pub async fn recover_conversations(&self) -> Result<u64, StoreError> {
        dispatch!(self, s => s.recover_conversations().await)
    }

    /// The user with their unanswered texts, inbound count since `since` and whether
    /// they have other messages; None when the user does not exist.
    pub async fn open_turn(
        &self,
        user: Uuid,
        since: SystemTime,
    ) -> Result<Option<TurnRow>, StoreError> {
        dispatch!(self, s => s.open_turn(user, since).await)
    }

    /// Record a turn whole and release its conversation; the ids of the replies queued.
    pub async fn close_turn(&self, t: &TurnOutcome) -> Result<Vec<Uuid>, StoreError> {
        dispatch!(self, s => s.close_turn(t).await)
    }

    pub async fn delivery_update(
        &self,
        carrier: &str,
        carrier_message_id: &str,
        status: MessageStatus,
    ) -> Result<bool, StoreError> {
        dispatch!(self, s => s.delivery_update(carrier, carrier_message_id, status).await)
    }

    /// Keep an event that can never be stored as a message; false when the same event
    /// was kept before (a retried delivery).
    pub async fn record_rejected(&self, r: &NewRejected<'_>) -> Result<bool, StoreError> {
        dispatch!(self, s => s.record_rejected(r).await)
    }

    /// How many events were kept as rejected.
    pub async fn rejected_count(&self) -> Result<i64, StoreError> {
        dispatch!(self, s => s.rejected_count().await)
    }

    /// Outbox rows neither sent nor dead-lettered.
    pub async fn outbox_depth(&self) -> Result<i64, StoreError> {
        dispatch!(self, s => s.outbox_depth().await)
    }

    /// Record a key's check value unless one is recorded; then every recorded one, as
    /// (kind, key id, value).
    pub async fn key_checks(
        &self,
        new: &[(&str, String, Vec<u8>)],
    ) -> Result<Vec<(String, String, Vec<u8>)>, StoreError> {
        dispatch!(self, s => s.key_checks(new).await)
    }

    pub async fn first_delivery(&self, provider: &str, event_id: &str) -> Result<bool, StoreError> {
        dispatch!(self, s => s.first_delivery(provider, event_id).await)
    }

    /// Claim due outbox rows for `lease`, at most one per person: a row waits while an
    /// earlier row of its person is neither sent nor dead-lettered. Each claim is an
    /// attempt on record before the carrier is called.
    pub async fn claim(&self, limit: i64, lease: Duration) -> Result<Vec<Claimed>, StoreError> {
        dispatch!(self, s => s.claim(limit, lease).await)
    }

    /// The carrier took these messages (each under the carrier's id, when it gave one);
    /// one round trip for the batch. Rows already settled are left as they are.
    pub async fn mark_sent(&self, sent: &[(Uuid, Option<String>)]) -> Result<(), StoreError> {
        if sent.is_empty() {
            return Ok(());
        }
        dispatch!(self, s => s.mark_sent(sent).await)
    }

    /// The attempt failed; try again at `at`. `in_doubt`: the carrier may have taken the
    /// message (a timeout, a dropped connection), so the next attempt asks it first.
    /// Whether crisis resources were queued for `user` since `since`.
    pub async fn crisis_resources_since(
        &self,
        user: Uuid,
        since: SystemTime,
    ) -> Result<bool, StoreError> {
        dispatch!(self, s => s.crisis_resources_since(user, since).await)
    }

    /// Which of these carrier message ids are already recorded (for other messages).
    pub async fn known_carrier_ids(
        &self,
        carrier: &str,
        ids: &[String],
    ) -> Result<Vec<String>, StoreError> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        dispatch!(self, s => s.known_carrier_ids(carrier, ids).await)
    }

    pub async fn retry_at(
        &self,
        id: Uuid,
        error: &str,
        at: SystemTime,
        in_doubt: bool,
    ) -> Result<(), StoreError> {
        dispatch!(self, s => s.retry_at(id, error, at, in_doubt).await)
    }

    /// The carrier has no trace of the earlier attempts: the next is on record as
    /// started. False when a delivery report settled the row meanwhile: do not send.
    pub async fn resend(&self, id: Uuid) -> Result<bool, StoreError> {
        dispatch!(self, s => s.resend(id).await)
    }

    pub async fn dead_letter(&self, id: Uuid, error: &str) -> Result<(), StoreError> {
        dispatch!(self, s => s.dead_letter(id, error).await)
    }

    pub async fn dead_letters(&self) -> Result<Vec<(Uuid, String)>, StoreError> {
        dispatch!(self, s => s.dead_letters().await)
    }

    pub async fn record_crisis_event(&self, e: &NewCrisisEvent<'_>) -> Result<Uuid, StoreError> {
        dispatch!(self, s => s.record_crisis_event(e).await)
    }

    pub async fn crisis_events(&self, user_id: Uuid) -> Result<Vec<CrisisEventRow>, StoreError> {
        dispatch!(self, s => s.crisis_events(user_id).await)
    }

    pub async fn compliance_log(&self, user_id: Uuid) -> Result<Vec<ComplianceRow>, StoreError> {
        dispatch!(self, s => s.compliance_log(user_id).await)
    }

    pub async fn policy_decisions(
        &self,
        message_id: Uuid,
    ) -> Result<Vec<(String, Option<String>, serde_json::Value)>, StoreError> {
        dispatch!(self, s => s.policy_decisions(message_id).await)
    }

    pub async fn sealed_page(
        &self,
        col: SealedColumn,
        after: Option<Uuid>,
        limit: i64,
    ) -> Result<Vec<(Uuid, Vec<u8>)>, StoreError> {
        dispatch!(self, s => s.sealed_page(col, after, limit).await)
    }

    pub async fn replace_sealed(
        &self,
        col: SealedColumn,
        id: Uuid,
        old: &[u8],
        new: &[u8],
    ) -> Result<bool, StoreError> {
        dispatch!(self, s => s.replace_sealed(col, id, old, new).await)
    }

    /// The store bench's baseline: one raw row into `webhook_deliveries`.
    #[cfg(feature = "bench-support")]
    pub async fn raw_insert(&self, id: Uuid, payload: &[u8]) -> Result<(), StoreError> {
        dispatch!(self, s => s.raw_insert(id, payload).await)
    }

    pub async fn desired(&self) -> Result<Vec<DesiredRow>, StoreError> {
        dispatch!(self, s => s.desired().await)
    }

    /// Stage `bundle` as `change.world`'s candidate: hosts prepare it, none serves it.
    pub async fn stage(&self, change: &Change<'_>, bundle: &BundleRef) -> Result<(), StoreError> {
        dispatch!(self, s => s.stage(change, bundle).await)
    }

    /// Make the staged candidate `digest` active (the active one becomes previous).
    pub async fn commit_candidate(
        &self,
        change: &Change<'_>,
        digest: &str,
    ) -> Result<Result<DesiredRow, RolloutRefusal>, StoreError> {
        dispatch!(self, s => s.commit_candidate(change, digest).await)
    }

    /// Drop the staged candidate `digest`, if it is still the one staged.
    pub async fn abandon_candidate(
        &self,
        change: &Change<'_>,
        digest: &str,
    ) -> Result<(), StoreError> {
        dispatch!(self, s => s.abandon_candidate(change, digest).await)
    }

    /// Swap the active and previous bundles.
    pub async fn rollback(
        &self,
        change: &Change<'_>,
    ) -> Result<Result<DesiredRow, RolloutRefusal>, StoreError> {
        dispatch!(self, s => s.rollback(change).await)
    }

    pub async fn policy_history(
        &self,
        world: Option<&str>,
        limit: i64,
    ) -> Result<Vec<HistoryRow>, StoreError> {
        dispatch!(self, s => s.policy_history(world, limit).await)
    }

    pub async fn heartbeat(
        &self,
        host_id: &str,
        started_at: SystemTime,
        reports: &[HostReport],
    ) -> Result<(), StoreError> {
        dispatch!(self, s => s.heartbeat(host_id, started_at, reports).await)
    }

    pub async fn policy_hosts(&self) -> Result<Vec<HostRow>, StoreError> {
        dispatch!(self, s => s.policy_hosts().await)
    }

    /// Decisions per hour, world and bundle since `since`, newest hour first.
    pub async fn decision_counts(
        &self,
        since: SystemTime,
    ) -> Result<Vec<DecisionCount>, StoreError> {
        dispatch!(self, s => s.decision_counts(since).await)
    }

    /// Crisis events nobody has closed, newest first.
    pub async fn open_crisis_events(&self, limit: i64) -> Result<Vec<CrisisReviewRow>, StoreError> {
        dispatch!(self, s => s.open_crisis_events(limit).await)
    }

    pub async fn crisis_event(&self, id: Uuid) -> Result<Option<CrisisReviewRow>, StoreError> {
        dispatch!(self, s => s.crisis_event(id).await)
    }

    /// Record that `subject` opened (or closed) an event's texts.
    pub async fn record_crisis_access(
        &self,
        id: Uuid,
        subject: &str,
        action: &str,
    ) -> Result<(), StoreError> {
        dispatch!(self, s => s.record_crisis_access(id, subject, action).await)
    }

    /// Close an open event (the note sealed by the caller); false when already closed.
    pub async fn close_crisis_event(
        &self,
        id: Uuid,
        subject: &str,
        outcome: ReviewOutcome,
        note: Option<&[u8]>,
        at: SystemTime,
    ) -> Result<bool, StoreError> {
        dispatch!(self, s => s.close_crisis_event(id, subject, outcome, note, at).await)
    }

    pub async fn crisis_access(&self, id: Uuid) -> Result<Vec<CrisisAccess>, StoreError> {
        dispatch!(self, s => s.crisis_access(id).await)
    }

    /// Give a shadow bundle a share of the world's live messages, or stop it (`None`).
    pub async fn set_shadow(
        &self,
        change: &Change<'_>,
        shadow: Option<&ShadowRef>,
    ) -> Result<(), StoreError> {
        dispatch!(self, s => s.set_shadow(change, shadow).await)
    }

    pub async fn record_shadow(&self, d: &ShadowDecision) -> Result<(), StoreError> {
        dispatch!(self, s => s.record_shadow(d).await)
    }

    /// A world's shadow decisions since `since`, newest first.
    pub async fn shadow_decisions(
        &self,
        world: &str,
        since: SystemTime,
    ) -> Result<Vec<ShadowDecision>, StoreError> {
        dispatch!(self, s => s.shadow_decisions(world, since).await)
    }

    /// Record that `subject` opened the texts of `messages`, and why.
    pub async fn record_message_access(
        &self,
        messages: &[Uuid],
        subject: &str,
        purpose: &str,
    ) -> Result<(), StoreError> {
        dispatch!(self, s => s.record_message_access(messages, subject, purpose).await)
    }

    /// The sealed bodies of `messages` (the sealing layer opens them).
    pub async fn message_bodies(
        &self,
        messages: &[Uuid],
    ) -> Result<Vec<(Uuid, Vec<u8>)>, StoreError> {
        dispatch!(self, s => s.message_bodies(messages).await)
    }

    /// A person's newest age check.
    pub async fn latest_age_check(&self, user_id: Uuid) -> Result<Option<AgeCheckRow>, StoreError> {
        dispatch!(self, s => s.latest_age_check(user_id).await)
    }

    pub async fn add_age_check(&self, c: &AgeCheckRow) -> Result<(), StoreError> {
        dispatch!(self, s => s.add_age_check(c).await)
    }

    /// Apply a provider's decision (see `AgeDecision`), in one transaction.
    pub async fn apply_age_decision(
        &self,
        d: &AgeDecision<'_>,
    ) -> Result<DecisionApplied, StoreError> {
        dispatch!(self, s => s.apply_age_decision(d).await)
    }

    /// Erase a person in one transaction and queue `notice` to them (see
    /// `Store::erase_person`). False when no such person exists.
    pub async fn erase_person(
        &self,
        user_id: Uuid,
        at: SystemTime,
        detail: &str,
        notice: Option<&SealedReply>,
    ) -> Result<bool, StoreError> {
        dispatch!(self, s => s.erase_person(user_id, at, detail, notice).await)
    }

    /// The person's billing reference (what Stripe is given), made on first use.
    pub async fn billing_reference(&self, user_id: Uuid) -> Result<Uuid, StoreError> {
        dispatch!(self, s => s.billing_reference(user_id).await)
    }

    pub async fn billing(&self, user_id: Uuid) -> Result<Option<BillingRow>, StoreError> {
        dispatch!(self, s => s.billing(user_id).await)
    }

    /// Record a subscription's state and the tier it gives, once per Stripe event.
    pub async fn apply_subscription(
        &self,
        s: &SubscriptionState<'_>,
    ) -> Result<SubscriptionApplied, StoreError> {
        dispatch!(self, st => st.apply_subscription(s).await)
    }
}
