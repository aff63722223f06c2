//! Subscriptions on the embedded store, as on Postgres.

use rusqlite::{OptionalExtension, TransactionBehavior, params};
use uuid::Uuid;

use super::{SqliteStore, now_ms};
use crate::store::types::*;

impl SqliteStore {
    pub async fn billing_reference(&self, user_id: Uuid) -> Result<Uuid, StoreError> {
        self.with(move |c| {
            c.execute(
                "INSERT INTO billing (user_id, ref) VALUES (?1, ?2) ON CONFLICT (user_id) DO NOTHING",
                params![user_id, Uuid::new_v4()],
            )?;
            Ok(c.query_row(
                "SELECT ref FROM billing WHERE user_id = ?1",
                params![user_id],
                |r| r.get(0),
            )?)
        })
        .await
    }

    pub async fn billing(&self, user_id: Uuid) -> Result<Option<BillingRow>, StoreError> {
        self.with(move |c| {
            Ok(c.query_row(
                "SELECT user_id, ref, customer_id, subscription_id, status FROM billing
                 WHERE user_id = ?1",
                params![user_id],
                |r| {
                    Ok(BillingRow {
                        user_id: r.get(0)?,
                        reference: r.get(1)?,
                        customer_id: r.get(2)?,
                        subscription_id: r.get(3)?,
                        status: r.get(4)?,
                    })
                },
            )
            .optional()?)
        })
        .await
    }

    pub async fn apply_subscription(
        &self,
        s: &SubscriptionState<'_>,
    ) -> Result<SubscriptionApplied, StoreError> {
        let (event_id, reference) = (s.event_id.to_owned(), s.reference);
        let (customer, subscription, status, tier) = (
            s.customer_id.to_owned(),
            s.subscription_id.to_owned(),
            s.status.to_owned(),
            s.tier,
        );
        self.with(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            if !super::first_delivery_in(&tx, "stripe", &event_id)? {
                return Ok(SubscriptionApplied::Repeat);
            }
            let Some((user_id, was)) = tx
                .query_row(
                    "SELECT b.user_id, u.tier FROM billing b JOIN users u ON u.id = b.user_id
                     WHERE b.ref = ?1",
                    params![reference],
                    |r| Ok((r.get::<_, Uuid>(0)?, r.get::<_, String>(1)?)),
                )
                .optional()?
            else {
                return Ok(SubscriptionApplied::UnknownReference);
            };
            let was = Tier::parse(&was)?;
            let now = now_ms();
            tx.execute(
                "UPDATE billing SET customer_id = ?2, subscription_id = ?3, status = ?4,
                        updated_at = ?5
                 WHERE user_id = ?1",
                params![user_id, customer, subscription, status, now],
            )?;
            tx.execute(
                "UPDATE users SET tier = ?2, updated_at = ?3 WHERE id = ?1",
                params![user_id, tier.as_str(), now],
            )?;
            tx.commit()?;
            Ok(SubscriptionApplied::Applied {
                user_id,
                was,
                now: tier,
            })
        })
        .await
    }
}
