//! What the backends store and return. Personal data travels through here sealed
//! (`Vec<u8>` from `crypto::seal`); ids are made by the caller, because sealing binds a
//! value to its row id.

use std::time::SystemTime;

use uuid::Uuid;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("DATABASE_URL: {0}")]
    Url(String),
    #[error("the database: {}", pool_reason(.0))]
    Pool(#[from] deadpool_postgres::PoolError),
    #[error("the database: {}", pg_reason(.0))]
    Postgres(#[from] tokio_postgres::Error),
    #[error("the embedded store: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("the embedded store {path}: {reason}")]
    Open { path: String, reason: String },
    #[error("the store holds an unreadable {what}: {value:?}")]
    Corrupt { what: &'static str, value: String },
    #[error(transparent)]
    Crypto(#[from] crate::crypto::CryptoError),
    #[error(transparent)]
    Migration(#[from] super::MigrationError),
}

/// tokio-postgres says only "db error"; the server's message is the useful part.
fn pg_reason(e: &tokio_postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => format!("{} ({})", db.message(), db.code().code()),
        None => match std::error::Error::source(e) {
            Some(source) => format!("{e}: {source}"),
            None => e.to_string(),
        },
    }
}

fn pool_reason(e: &deadpool_postgres::PoolError) -> String {
    match e {
        deadpool_postgres::PoolError::Backend(pg) => pg_reason(pg),
        other => other.to_string(),
    }
}

/// Text-valued columns, one enum each, spelled as in the schema's CHECK constraints.
macro_rules! text_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident = $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            pub fn parse(text: &str) -> Result<$name, StoreError> {
                match text {
                    $($text => Ok($name::$variant),)+
                    other => Err(StoreError::Corrupt { what: stringify!($name), value: other.into() }),
                }
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

text_enum!(UserStatus { Active = "active", OptedOut = "opted-out", Blocked = "blocked" });
text_enum!(AgeStatus {
    Unknown = "unknown",
    Pending = "pending",
    Adult = "adult",
    Minor = "minor",
    Child = "child",
    Declined = "declined",
});
text_enum!(Tier { Free = "free", Premium = "premium" });
text_enum!(Direction { In = "in", Out = "out" });
text_enum!(
    /// Inbound: received → processing → replied. Outbound: queued → sent →
    /// delivered | failed.
    MessageStatus {
        Received = "received",
        Processing = "processing",
        Replied = "replied",
        Queued = "queued",
        Sent = "sent",
        Delivered = "delivered",
        Failed = "failed",
    }
);
text_enum!(ReviewState {
    Pending = "pending",
    InReview = "in-review",
    Resolved = "resolved",
    Dismissed = "dismissed",
});
text_enum!(
    /// How a reviewer closed a crisis event.
    ReviewOutcome {
        ReachedOut = "reached-out",
        Referred = "referred",
        NoActionNeeded = "no-action-needed",
        FalsePositive = "false-positive",
    }
);
text_enum!(ComplianceEvent {
    OptOut = "opt-out",
    OptIn = "opt-in",
    HelpSent = "help-sent",
    DisclosureSent = "disclosure-sent",
    AgeVerificationRequired = "age-verification-required",
    AgeDecision = "age-decision",
    Blocked = "blocked",
    CrisisResourcesAfterOptOut = "crisis-resources-after-opt-out",
    EraseRequested = "erase-requested",
    Erased = "erased",
});

text_enum!(
    /// Where one age check stands, as its provider last reported (`created` until then).
    CheckStatus {
        Created = "created",
        Approved = "approved",
        Declined = "declined",
        ResubmissionRequested = "resubmission-requested",
        Expired = "expired",
        Abandoned = "abandoned",
        Review = "review",
        NoBirthDate = "no-birth-date",
    }
);

text_enum!(
    /// Why an outbound message is sent (at most one of each per inbound message).
    Purpose {
        Reply = "reply",
        CrisisResources = "crisis-resources",
        OptOutConfirmation = "opt-out-confirmation",
        OptInConfirmation = "opt-in-confirmation",
        Help = "help",
        AgeVerification = "age-verification",
        Blocked = "blocked",
    }
);

/// Every sealed column, for rotation and for checks that nothing is stored in the clear.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SealedColumn {
    pub table: &'static str,
    pub column: &'static str,
}

pub const SEALED_COLUMNS: &[SealedColumn] = &[
    SealedColumn {
        table: "users",
        column: "phone",
    },
    SealedColumn {
        table: "users",
        column: "name",
    },
    SealedColumn {
        table: "users",
        column: "email",
    },
    SealedColumn {
        table: "users",
        column: "preferences",
    },
    SealedColumn {
        table: "messages",
        column: "body",
    },
    SealedColumn {
        table: "crisis_events",
        column: "review_note",
    },
    SealedColumn {
        table: "age_checks",
        column: "url",
    },
];

/// An inbound SMS to record. `message_id` and `new_user_id` are made by the caller,
/// which sealed `phone` for `users.phone` of `new_user_id` and `body` for
/// `messages.body` of `message_id`.
#[derive(Debug, Clone)]
pub struct NewInbound<'a> {
    pub carrier: &'a str,
    pub carrier_message_id: &'a str,
    pub message_id: Uuid,
    pub new_user_id: Uuid,
    pub phone_index: &'a [u8],
    pub phone: &'a [u8],
    pub body: &'a [u8],
    pub segments: i32,
    pub at: SystemTime,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// Stored; the user was created by this message when `new_user`.
    Stored { user_id: Uuid, new_user: bool },
    /// The carrier delivered this message before; nothing was written.
    Duplicate,
}

/// A reply to queue: an outbound message row and its outbox row, written together.
#[derive(Debug, Clone)]
pub struct NewReply<'a> {
    pub message_id: Uuid,
    pub user_id: Uuid,
    /// The inbound message answered; with `purpose`, queued at most once.
    pub reply_to: Option<Uuid>,
    pub purpose: Purpose,
    pub carrier: &'a str,
    /// Sealed for `messages.body` of `message_id`.
    pub body: &'a [u8],
    pub segments: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRow {
    pub id: Uuid,
    pub phone: Vec<u8>,
    pub name: Option<Vec<u8>>,
    pub email: Option<Vec<u8>>,
    pub preferences: Option<Vec<u8>>,
    pub status: UserStatus,
    pub age_status: AgeStatus,
    pub tier: Tier,
    pub locale: String,
    pub first_contact_at: SystemTime,
    pub last_disclosure_at: Option<SystemTime>,
    pub opted_out_at: Option<SystemTime>,
    pub opted_in_at: Option<SystemTime>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageRow {
    pub id: Uuid,
    pub direction: Direction,
    pub carrier: String,
    pub body: Vec<u8>,
    pub status: MessageStatus,
    pub created_at: SystemTime,
}

/// An outbox row claimed by one worker until its lease ends, with what sending needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claimed {
    pub id: Uuid,
    pub message_id: Uuid,
    pub user_id: Uuid,
    pub carrier: String,
    pub attempts: i32,
    /// Sealed for `messages.body` of `message_id`.
    pub body: Vec<u8>,
    /// Sealed for `users.phone` of `user_id`.
    pub phone: Vec<u8>,
    /// Checked at send time: a reply queued before an opt-out is not sent.
    pub user_status: UserStatus,
    pub purpose: Purpose,
    /// When the earliest attempt not known to have failed began: the carrier may hold
    /// the message already, so it is asked before this attempt sends.
    pub in_doubt_since: Option<SystemTime>,
}

#[derive(Debug, Clone)]
pub struct NewCrisisEvent<'a> {
    pub user_id: Uuid,
    pub message_id: Option<Uuid>,
    /// low | moderate | high | imminent
    pub severity: &'a str,
    pub categories: &'a [String],
    pub bundle_digest: &'a str,
    pub fallback: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrisisEventRow {
    pub id: Uuid,
    pub user_id: Uuid,
    pub message_id: Option<Uuid>,
    pub severity: String,
    pub categories: Vec<String>,
    pub bundle_digest: String,
    pub fallback: bool,
    pub review_state: ReviewState,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComplianceRow {
    pub event: ComplianceEvent,
    pub detail: String,
    pub bundle_digest: Option<String>,
    pub occurred_at: SystemTime,
}

/// Everything a turn needs about its person, read in one go (`Backend::open_turn`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TurnRow {
    pub user: UserRow,
    /// The texts not answered yet, oldest first.
    pub pending: Vec<MessageRow>,
    /// Inbound texts since the time asked for (the free tier's daily count).
    pub inbound_since: i64,
    /// Whether the person has any message besides the pending ones.
    pub has_history: bool,
}

/// A policy decision of a turn (crisis-detector | compliance-policy | prompt-builder).
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub world: &'static str,
    pub bundle_digest: Option<String>,
    /// Why the native baseline answered, when it did.
    pub fallback: Option<String>,
    pub summary: serde_json::Value,
}

/// An answer of a turn, its body sealed for `messages.body` of `message_id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SealedReply {
    pub message_id: Uuid,
    pub purpose: Purpose,
    pub body: Vec<u8>,
    pub segments: i32,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComplianceEntry {
    pub event: ComplianceEvent,
    pub detail: String,
    pub bundle_digest: Option<String>,
}

/// What a turn decided, written in one transaction when it ends
/// (`Backend::close_turn`): a turn is recorded whole or not at all, so a turn
/// processed again after a crash starts from scratch.
#[derive(Debug, Clone, PartialEq)]
pub struct TurnOutcome {
    pub user_id: Uuid,
    /// The carrier the answers go out through.
    pub carrier: crate::domain::Carrier,
    /// The turn's texts, oldest first: marked replied. Answers and decisions are
    /// about the first.
    pub texts: Vec<Uuid>,
    /// The pipeline's clock: opt-out, opt-in, disclosure and log times.
    pub at: SystemTime,
    pub decisions: Vec<Decision>,
    /// Queued in order, each at most once per (first text, purpose).
    pub replies: Vec<SealedReply>,
    pub compliance: Vec<ComplianceEntry>,
    pub status: Option<UserStatus>,
    pub age_status: Option<AgeStatus>,
    /// The AI disclosure went out with this turn's reply.
    pub disclosed: bool,
    /// Erase the person when the turn closes, in its transaction, with this detail in the
    /// log: a child's texts are answered (crisis resources, the block) and not kept.
    pub erase: Option<String>,
}

/// Milliseconds since the Unix epoch (the embedded store's time column type).
pub(crate) fn millis(t: SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i64,
        Err(e) => -(e.duration().as_millis() as i64),
    }
}

pub(crate) fn from_millis(ms: i64) -> SystemTime {
    let d = std::time::Duration::from_millis(ms.unsigned_abs());
    if ms >= 0 {
        SystemTime::UNIX_EPOCH + d
    } else {
        SystemTime::UNIX_EPOCH - d
    }
}

/// A webhook event that can never be stored as a message, sealed.
pub struct NewRejected<'a> {
    pub id: Uuid,
    pub carrier: &'a str,
    pub reason: &'a str,
    /// Sealed for `rejected_events.body` of `id`.
    pub body: &'a [u8],
    pub fingerprint: &'a [u8],
}

impl ReviewOutcome {
    /// The review state an event closed with this outcome is left in.
    pub fn closes_as(self) -> ReviewState {
        if self == ReviewOutcome::FalsePositive {
            ReviewState::Dismissed
        } else {
            ReviewState::Resolved
        }
    }
}

/// A crisis event as a reviewer sees it (its note still sealed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrisisReviewRow {
    pub event: CrisisEventRow,
    pub created_at: SystemTime,
    pub reviewed_by: Option<String>,
    pub reviewed_at: Option<SystemTime>,
    pub outcome: Option<ReviewOutcome>,
    pub note: Option<Vec<u8>>,
}

/// Who opened or closed a crisis event, and when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrisisAccess {
    pub subject: String,
    pub action: String,
    pub at: SystemTime,
}

/// An age check as stored, its link sealed for `age_checks.url` of `id`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgeCheckRow {
    pub id: Uuid,
    pub user_id: Uuid,
    pub session_id: String,
    pub url: Vec<u8>,
    pub carrier: String,
    pub status: CheckStatus,
    pub created_at: SystemTime,
    pub expires_at: SystemTime,
    pub decided_at: Option<SystemTime>,
}

/// The log's detail when a child is erased.
pub const CHILD_ERASED: &str = "under 13: what they sent is not kept (COPPA)";

/// A provider's decision on one check, applied in one transaction
/// (`Backend::apply_age_decision`): the delivery remembered, the check's status, and —
/// when the check is the person's newest — their age status, the compliance log and the
/// text telling them.
#[derive(Debug, Clone)]
pub struct AgeDecision<'a> {
    /// The delivery's key: a decision delivered again changes nothing.
    pub delivery: &'a str,
    pub check_id: Uuid,
    pub session_id: &'a str,
    pub status: CheckStatus,
    pub decided_at: SystemTime,
    pub age: Option<AgeStatus>,
    pub detail: &'a str,
    /// Queued through the check's carrier, answering nothing in particular.
    pub reply: Option<&'a SealedReply>,
    /// The decision found a child: erase what they sent (COPPA), in the same transaction.
    pub erase: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecisionApplied {
    /// Recorded; `newest`: it was the person's newest check, so it decided for them.
    /// `carrier`: the one the check was opened through.
    Applied {
        user_id: Uuid,
        carrier: String,
        newest: bool,
    },
    /// This delivery was applied before.
    Repeat,
    /// The check already holds a later decision: only the delivery was remembered.
    Stale,
    /// No check has this id and session: nothing was written.
    UnknownCheck,
}

/// A person's subscription as last read from Stripe.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BillingRow {
    pub user_id: Uuid,
    pub reference: Uuid,
    pub customer_id: Option<String>,
    pub subscription_id: Option<String>,
    pub status: Option<String>,
}

/// A subscription's state as Stripe reports it, to record against the person whose
/// `reference` it carries (`Backend::apply_subscription`).
#[derive(Debug, Clone)]
pub struct SubscriptionState<'a> {
    /// The Stripe event's id: an event delivered again changes nothing.
    pub event_id: &'a str,
    pub reference: Uuid,
    pub customer_id: &'a str,
    pub subscription_id: &'a str,
    pub status: &'a str,
    /// The tier the status gives.
    pub tier: Tier,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SubscriptionApplied {
    /// Recorded: the person and their tier before and now.
    Applied { user_id: Uuid, was: Tier, now: Tier },
    /// This event was applied before.
    Repeat,
    /// No person has this reference: nothing was written.
    UnknownReference,
}
