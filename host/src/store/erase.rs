//! Erasing a person through the sealing layer: the notice telling them is sealed like
//! every other message; what is erased is emptied, not re-sealed (see
//! migrations/postgres/0012_erasure.sql).

use std::time::SystemTime;

use uuid::Uuid;

use super::sealed::Store;
use super::types::*;

impl Store {
    /// Erase `user_id` (their texts, name, email, preferences, age-check links) with
    /// `detail` in the log, and queue `notice` to them through the carrier of their last
    /// text. False when no such person exists. Memory is the caller's to forget.
    pub async fn erase_person(
        &self,
        user_id: Uuid,
        detail: &str,
        notice: Option<&str>,
    ) -> Result<bool, StoreError> {
        let notice = notice.map(|text| {
            self.sealed_reply(
                Purpose::Reply,
                text,
                jules_compliance::segments(text) as i32,
            )
        });
        self.db()
            .erase_person(user_id, SystemTime::now(), detail, notice.as_ref())
            .await
    }
}
