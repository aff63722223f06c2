//! Age checks through the sealing layer: a session's link is sealed like every other
//! secret a person holds, and opened only to text it to them again.

use std::time::SystemTime;

use uuid::Uuid;

use super::sealed::Store;
use super::types::*;

/// A person's newest age check, its link opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgeCheck {
    pub id: Uuid,
    pub status: CheckStatus,
    pub url: String,
    pub expires_at: SystemTime,
}

impl AgeCheck {
    /// Still waiting for the person to open its link at `now`.
    pub fn open_at(&self, now: SystemTime) -> bool {
        self.status == CheckStatus::Created && self.expires_at > now && !self.url.is_empty()
    }
}

/// A check to record: the provider's session for `id`, opened through `carrier`.
pub struct NewCheck<'a> {
    pub id: Uuid,
    pub user_id: Uuid,
    pub session_id: &'a str,
    pub url: &'a str,
    pub carrier: crate::domain::Carrier,
    pub at: SystemTime,
    pub expires_at: SystemTime,
}

impl Store {
    pub async fn latest_age_check(&self, user_id: Uuid) -> Result<Option<AgeCheck>, StoreError> {
        let Some(row) = self.db().latest_age_check(user_id).await? else {
            return Ok(None);
        };
        // An erased link is empty: the check is kept, its link is not.
        let url = if row.url.is_empty() {
            Vec::new()
        } else {
            self.unseal("age_checks", "url", row.id, &row.url)?
        };
        let url = String::from_utf8(url).map_err(|_| StoreError::Corrupt {
            what: "age check link",
            value: "(not UTF-8 after opening)".into(),
        })?;
        Ok(Some(AgeCheck {
            id: row.id,
            status: row.status,
            url,
            expires_at: row.expires_at,
        }))
    }

    pub async fn add_age_check(&self, c: &NewCheck<'_>) -> Result<(), StoreError> {
        let row = AgeCheckRow {
            id: c.id,
            user_id: c.user_id,
            session_id: c.session_id.to_string(),
            url: self.seal("age_checks", "url", c.id, c.url.as_bytes()),
            carrier: c.carrier.as_str().to_string(),
            status: CheckStatus::Created,
            created_at: c.at,
            expires_at: c.expires_at,
            decided_at: None,
        };
        self.db().add_age_check(&row).await
    }
}
