//! Crisis review through the sealing layer: a reviewer's note is sealed like every
//! other text, and opened only for the request that shows it.

use std::time::SystemTime;

use uuid::Uuid;

use super::sealed::Store;
use super::types::*;

/// An event with its note opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CrisisReview {
    pub row: CrisisReviewRow,
    pub note: Option<String>,
}

impl Store {
    /// Open the texts of `messages` for `subject`: the access is recorded first.
    pub async fn open_messages(
        &self,
        messages: &[Uuid],
        subject: &str,
        purpose: &str,
    ) -> Result<Vec<(Uuid, String)>, StoreError> {
        self.db()
            .record_message_access(messages, subject, purpose)
            .await?;
        let mut out = Vec::new();
        for (id, sealed) in self.db().message_bodies(messages).await? {
            let text = self.body(id, &sealed)?;
            out.push((id, text.unwrap_or_else(|| "(erased)".into())));
        }
        Ok(out)
    }

    pub async fn crisis_review(&self, id: Uuid) -> Result<Option<CrisisReview>, StoreError> {
        let Some(row) = self.db().crisis_event(id).await? else {
            return Ok(None);
        };
        let note = match &row.note {
            Some(sealed) => {
                let plain = self.unseal("crisis_events", "review_note", id, sealed)?;
                Some(String::from_utf8(plain).map_err(|_| StoreError::Corrupt {
                    what: "review note",
                    value: "(not UTF-8 after opening)".into(),
                })?)
            }
            None => None,
        };
        Ok(Some(CrisisReview { row, note }))
    }

    /// Close an open event with an outcome and a note (sealed); false when it was
    /// already closed.
    pub async fn close_crisis_event(
        &self,
        id: Uuid,
        subject: &str,
        outcome: ReviewOutcome,
        note: &str,
    ) -> Result<bool, StoreError> {
        let sealed = (!note.is_empty())
            .then(|| self.seal("crisis_events", "review_note", id, note.as_bytes()));
        self.db()
            .close_crisis_event(id, subject, outcome, sealed.as_deref(), SystemTime::now())
            .await
    }
}
