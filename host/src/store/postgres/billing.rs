//! Subscriptions on Postgres.

use uuid::Uuid;

use super::PgStore;
use crate::store::types::*;

impl PgStore {
    /// The person's billing reference, made on first use.
    pub async fn billing_reference(&self, user_id: Uuid) -> Result<Uuid, StoreError> {
        let row = self
            .row(
                "INSERT INTO billing (user_id, ref) VALUES ($1, $2)
                 ON CONFLICT (user_id) DO UPDATE SET user_id = excluded.user_id
                 RETURNING ref",
                &[&user_id, &Uuid::new_v4()],
            )
            .await?;
        Ok(row.get(0))
    }

    pub async fn billing(&self, user_id: Uuid) -> Result<Option<BillingRow>, StoreError> {
        Ok(self
            .row_opt(
                "SELECT user_id, ref, customer_id, subscription_id, status FROM billing
                 WHERE user_id = $1",
                &[&user_id],
            )
            .await?
            .map(|r| BillingRow {
                user_id: r.get(0),
                reference: r.get(1),
                customer_id: r.get(2),
                subscription_id: r.get(3),
                status: r.get(4),
            }))
    }

    pub async fn apply_subscription(
        &self,
        s: &SubscriptionState<'_>,
    ) -> Result<SubscriptionApplied, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await?;
        if !super::first_delivery_in(&tx, "stripe", s.event_id).await? {
            return Ok(SubscriptionApplied::Repeat);
        }
        let Some(row) = tx
            .query_opt(
                "SELECT b.user_id, u.tier FROM billing b JOIN users u ON u.id = b.user_id
                 WHERE b.ref = $1 FOR UPDATE",
                &[&s.reference],
            )
            .await?
        else {
            return Ok(SubscriptionApplied::UnknownReference);
        };
        let (user_id, was): (Uuid, &str) = (row.get(0), row.get(1));
        let was = Tier::parse(was)?;
        tx.execute(
            "UPDATE billing SET customer_id = $2, subscription_id = $3, status = $4,
                    updated_at = now()
             WHERE user_id = $1",
            &[&user_id, &s.customer_id, &s.subscription_id, &s.status],
        )
        .await?;
        tx.execute(
            "UPDATE users SET tier = $2, updated_at = now() WHERE id = $1",
            &[&user_id, &s.tier.as_str()],
        )
        .await?;
        tx.commit().await?;
        Ok(SubscriptionApplied::Applied {
            user_id,
            was,
            now: s.tier,
        })
    }
}
