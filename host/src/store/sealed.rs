//! The store as the pipeline uses it: plaintext in, plaintext out. Every personal
//! value is sealed here for its table, column and row before it reaches a backend,
//! phones are looked up by blind index, and opening a value that was tampered with or
//! moved between rows fails with an error naming where it was read.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::backend::Backend;
use super::types::*;
use crate::crypto::{Binding, Secrets, open, seal};
use crate::domain::{Carrier, CarrierMessageId, PhoneNumber};

#[derive(Clone)]
pub struct Store {
    backend: Backend,
    secrets: Arc<Secrets>,
}

/// A user with personal data opened.
#[derive(Debug, Clone, PartialEq)]
pub struct User {
    pub id: Uuid,
    pub phone: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub preferences: Option<serde_json::Value>,
    pub status: UserStatus,
    pub age_status: AgeStatus,
    pub tier: Tier,
    pub locale: String,
    pub first_contact_at: SystemTime,
    pub last_disclosure_at: Option<SystemTime>,
    pub opted_out_at: Option<SystemTime>,
    pub opted_in_at: Option<SystemTime>,
}

/// One message of a conversation, opened.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Turn {
    pub message_id: Uuid,
    /// `in` from the person, `out` from Jules.
    pub inbound: bool,
    pub text: String,
    /// Milliseconds since the Unix epoch.
    pub at_ms: i64,
}

/// A turn's reading, opened (see `Store::open_turn`).
#[derive(Debug, Clone, PartialEq)]
pub struct OpenTurn {
    pub user: User,
    pub pending: Vec<(Turn, Carrier)>,
    /// Inbound texts since the time asked for.
    pub inbound_since: i64,
    /// Whether the person has any message besides the pending ones.
    pub has_history: bool,
}

/// A claimed outbox row, opened: what to send, to whom.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub outbox_id: Uuid,
    pub message_id: Uuid,
    pub user_id: Uuid,
    pub carrier: Carrier,
    pub attempts: i32,
    pub to: PhoneNumber,
    pub text: String,
    pub user_status: UserStatus,
    pub purpose: Purpose,
    /// See `Claimed::in_doubt_since`.
    pub in_doubt_since: Option<SystemTime>,
}

fn binding<'a>(table: &'a str, column: &'a str, row: &'a str) -> Binding<'a> {
    Binding { table, column, row }
}

fn carrier(name: &str) -> Result<Carrier, StoreError> {
    Carrier::parse(name).ok_or_else(|| StoreError::Corrupt {
        what: "carrier",
        value: name.to_string(),
    })
}

fn phone(bytes: Vec<u8>) -> Result<PhoneNumber, StoreError> {
    PhoneNumber::parse(&text(bytes, "phone")?).map_err(|e| StoreError::Corrupt {
        what: "phone",
        value: e.to_string(),
    })
}

fn text(bytes: Vec<u8>, what: &'static str) -> Result<String, StoreError> {
    String::from_utf8(bytes).map_err(|_| StoreError::Corrupt {
        what,
        value: "(not UTF-8 after opening)".into(),
    })
}

impl Store {
    pub fn new(backend: Backend, secrets: Arc<Secrets>) -> Store {
        Store { backend, secrets }
    }

    /// Postgres when `database_url` is given, else the embedded file in `data_dir`.
    pub fn open(
        database_url: Option<&str>,
        pool_size: usize,
        data_dir: &Path,
        secrets: Arc<Secrets>,
    ) -> Result<Store, StoreError> {
        let backend = Backend::open(database_url, pool_size, data_dir)?;
        Ok(Store::new(backend, secrets))
    }

    /// The backend, for operations on rows without personal data.
    pub fn db(&self) -> &Backend {
        &self.backend
    }

    pub fn secrets(&self) -> &Secrets {
        &self.secrets
    }

    pub(super) fn seal(&self, table: &str, column: &str, row: Uuid, plain: &[u8]) -> Vec<u8> {
        seal(
            &self.secrets.ring,
            binding(table, column, &row.to_string()),
            plain,
        )
    }

    pub(super) fn unseal(
        &self,
        table: &str,
        column: &str,
        row: Uuid,
        sealed: &[u8],
    ) -> Result<Vec<u8>, StoreError> {
        Ok(open(
            &self.secrets.ring,
            binding(table, column, &row.to_string()),
            sealed,
        )?)
    }

    /// A message's text; None when it was erased (an empty body).
    pub(super) fn body(&self, id: Uuid, sealed: &[u8]) -> Result<Option<String>, StoreError> {
        if sealed.is_empty() {
            return Ok(None);
        }
        Ok(Some(text(
            self.unseal("messages", "body", id, sealed)?,
            "body",
        )?))
    }

    fn phone_index(&self, phone: &str) -> [u8; 32] {
        self.secrets.blind.of("phone", phone)
    }

    /// Record an inbound text once per (carrier, carrier message id); the user is
    /// found by phone or created. Returns the message's id with the outcome.
    pub async fn record_inbound(
        &self,
        carrier: Carrier,
        carrier_message_id: &CarrierMessageId,
        from: &PhoneNumber,
        body: &str,
        segments: i32,
        at: SystemTime,
    ) -> Result<(Recorded, Uuid), StoreError> {
        let (message_id, new_user_id) = (Uuid::new_v4(), Uuid::new_v4());
        let (carrier, carrier_message_id) = (carrier.as_str(), carrier_message_id.as_str());
        let from = from.as_str();
        let phone = self.seal("users", "phone", new_user_id, from.as_bytes());
        let body = self.seal("messages", "body", message_id, body.as_bytes());
        let recorded = self
            .backend
            .record_inbound(&NewInbound {
                carrier,
                carrier_message_id,
                message_id,
                new_user_id,
                phone_index: &self.phone_index(from),
                phone: &phone,
                body: &body,
                segments,
                at,
            })
            .await?;
        Ok((recorded, message_id))
    }

    /// Refuse keys that are not the ones the stored data was sealed and indexed with:
    /// each key's check value is recorded the first time a host runs with it and
    /// compared at every start after. Data sealed under another key would not open, and
    /// another blind-index key would make every known person look new (someone who
    /// texted STOP would be texted again).
    pub async fn verify_keys(&self) -> Result<(), KeyMismatch> {
        let mut ours: Vec<(&str, String, Vec<u8>)> = self
            .secrets
            .ring
            .check_values()
            .into_iter()
            .map(|(id, v)| ("encryption", id.to_string(), v.to_vec()))
            .collect();
        ours.push((
            "blind-index",
            String::new(),
            self.secrets.blind.check_value().to_vec(),
        ));
        let stored = self.backend.key_checks(&ours).await?;
        for (kind, id, value) in &ours {
            let recorded = stored.iter().find(|(k, i, _)| k == kind && i == id);
            if let Some((_, _, v)) = recorded
                && v != value
            {
                return Err(if *kind == "blind-index" {
                    KeyMismatch::BlindIndex
                } else {
                    KeyMismatch::Encryption(id.clone())
                });
            }
        }
        Ok(())
    }

    /// Keep a webhook event that can never be stored as a message (`reason` names the
    /// field and the rule, never the value), sealed; false when it was kept before.
    pub async fn record_rejected(
        &self,
        carrier: Carrier,
        reason: &str,
        raw: &[u8],
    ) -> Result<bool, StoreError> {
        let id = Uuid::new_v4();
        let fingerprint = self
            .secrets
            .blind
            .of("rejected-event", &String::from_utf8_lossy(raw));
        self.backend
            .record_rejected(&NewRejected {
                id,
                carrier: carrier.as_str(),
                reason,
                body: &self.seal("rejected_events", "body", id, raw),
                fingerprint: &fingerprint,
            })
            .await
    }

    fn open_user(&self, row: UserRow) -> Result<User, StoreError> {
        let id = row.id;
        let open_text = |column: &'static str, v: Option<Vec<u8>>| {
            v.map(|v| text(self.unseal("users", column, id, &v)?, column))
                .transpose()
        };
        let preferences = match row.preferences {
            None => None,
            Some(v) => {
                let plain = self.unseal("users", "preferences", id, &v)?;
                Some(
                    serde_json::from_slice(&plain).map_err(|_| StoreError::Corrupt {
                        what: "preferences",
                        value: "(not JSON after opening)".into(),
                    })?,
                )
            }
        };
        Ok(User {
            id,
            phone: text(self.unseal("users", "phone", id, &row.phone)?, "phone")?,
            name: open_text("name", row.name)?,
            email: open_text("email", row.email)?,
            preferences,
            status: row.status,
            age_status: row.age_status,
            tier: row.tier,
            locale: row.locale,
            first_contact_at: row.first_contact_at,
            last_disclosure_at: row.last_disclosure_at,
            opted_out_at: row.opted_out_at,
            opted_in_at: row.opted_in_at,
        })
    }

    pub async fn user(&self, id: Uuid) -> Result<Option<User>, StoreError> {
        self.backend
            .user(id)
            .await?
            .map(|r| self.open_user(r))
            .transpose()
    }

    pub async fn user_by_phone(&self, phone: &str) -> Result<Option<User>, StoreError> {
        self.backend
            .user_by_phone_index(&self.phone_index(phone))
            .await?
            .map(|r| self.open_user(r))
            .transpose()
    }

    pub async fn set_preferences(
        &self,
        user_id: Uuid,
        preferences: &serde_json::Value,
    ) -> Result<(), StoreError> {
        let plain = preferences.to_string();
        let sealed = self.seal("users", "preferences", user_id, plain.as_bytes());
        self.backend.set_preferences(user_id, Some(&sealed)).await
    }

    /// The user's newest `limit` messages, oldest first, opened.
    pub async fn recent_turns(&self, user_id: Uuid, limit: usize) -> Result<Vec<Turn>, StoreError> {
        let rows = self.backend.recent_messages(user_id, limit as i64).await?;
        rows.into_iter()
            .map(|m| {
                Ok(self.body(m.id, &m.body)?.map(|text| Turn {
                    message_id: m.id,
                    inbound: m.direction == Direction::In,
                    text,
                    at_ms: millis(m.created_at),
                }))
            })
            .filter_map(Result::transpose)
            .collect()
    }

    /// Queue a message that answers nothing in particular; returns (message id,
    /// outbox id).
    pub async fn queue_reply(
        &self,
        user_id: Uuid,
        carrier: Carrier,
        body: &str,
        segments: i32,
    ) -> Result<(Uuid, Uuid), StoreError> {
        let queued = self
            .queue_answer(user_id, None, Purpose::Reply, carrier, body, segments)
            .await?;
        Ok(queued.expect("a message answering nothing is never a repeat"))
    }

    /// Queue the answer of `purpose` to inbound message `reply_to`; None when it was
    /// queued before (a conversation processed again after a crash).
    pub async fn queue_answer(
        &self,
        user_id: Uuid,
        reply_to: Option<Uuid>,
        purpose: Purpose,
        carrier: Carrier,
        body: &str,
        segments: i32,
    ) -> Result<Option<(Uuid, Uuid)>, StoreError> {
        // Time-ordered (v7): the outbox sends a person's messages in id order.
        let message_id = Uuid::now_v7();
        let sealed = self.seal("messages", "body", message_id, body.as_bytes());
        let outbox = self
            .backend
            .queue_reply(&NewReply {
                message_id,
                user_id,
                reply_to,
                purpose,
                carrier: carrier.as_str(),
                body: &sealed,
                segments,
            })
            .await?;
        Ok(outbox.map(|o| (message_id, o)))
    }

    /// Open a turn: the user with their unanswered texts (oldest first, each with
    /// the carrier it came through), their inbound count since `since`, and whether
    /// they have other messages. None when the user does not exist.
    pub async fn open_turn(
        &self,
        user_id: Uuid,
        since: SystemTime,
    ) -> Result<Option<OpenTurn>, StoreError> {
        let Some(row) = self.backend.open_turn(user_id, since).await? else {
            return Ok(None);
        };
        let pending = row
            .pending
            .into_iter()
            .map(|m| {
                let Some(text) = self.body(m.id, &m.body)? else {
                    return Ok(None);
                };
                let turn = Turn {
                    message_id: m.id,
                    inbound: true,
                    text,
                    at_ms: millis(m.created_at),
                };
                Ok(Some((turn, carrier(&m.carrier)?)))
            })
            .filter_map(Result::transpose)
            .collect::<Result<_, StoreError>>()?;
        Ok(Some(OpenTurn {
            user: self.open_user(row.user)?,
            pending,
            inbound_since: row.inbound_since,
            has_history: row.has_history,
        }))
    }

    /// A reply for `TurnOutcome::replies`: a new message id, the text sealed for it.
    pub fn sealed_reply(&self, purpose: Purpose, body: &str, segments: i32) -> SealedReply {
        // Time-ordered (v7): the outbox sends a person's messages in id order.
        let message_id = Uuid::now_v7();
        SealedReply {
            message_id,
            purpose,
            body: self.seal("messages", "body", message_id, body.as_bytes()),
            segments,
        }
    }

    /// Claim due outbox rows (see `Backend::claim`) and open what to send.
    /// A row that no longer opens (tampered with, or sealed with a key since removed)
    /// is dead-lettered with the reason instead of holding up the others.
    pub async fn claim(&self, limit: i64, lease: Duration) -> Result<Vec<Outgoing>, StoreError> {
        let rows = self.backend.claim(limit, lease).await?;
        let mut out = Vec::with_capacity(rows.len());
        for c in rows {
            let opened = self
                .unseal("users", "phone", c.user_id, &c.phone)
                .and_then(phone)
                .and_then(|to| {
                    let body = self.unseal("messages", "body", c.message_id, &c.body)?;
                    Ok((to, text(body, "body")?, carrier(&c.carrier)?))
                });
            match opened {
                Ok((to, text, carrier)) => out.push(Outgoing {
                    to,
                    text,
                    outbox_id: c.id,
                    message_id: c.message_id,
                    user_id: c.user_id,
                    carrier,
                    attempts: c.attempts,
                    user_status: c.user_status,
                    purpose: c.purpose,
                    in_doubt_since: c.in_doubt_since,
                }),
                Err(e) => {
                    tracing::error!(outbox = %c.id, error = %e, "an outbox row does not open; dead-lettered");
                    self.backend.dead_letter(c.id, &e.to_string()).await?;
                }
            }
        }
        Ok(out)
    }
}

/// Keys that do not match the stored data.
#[derive(Debug, thiserror::Error)]
pub enum KeyMismatch {
    #[error(
        "ENCRYPTION_KEYS: key {0:?} is not the key {0:?} this store's data was sealed with; its data would not open"
    )]
    Encryption(String),
    #[error(
        "BLIND_INDEX_KEY is not the key this store's phone numbers are indexed with: every known person would look new, and someone who texted STOP would be texted again"
    )]
    BlindIndex,
    #[error(transparent)]
    Store(#[from] StoreError),
}
