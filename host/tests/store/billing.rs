//! Subscriptions on both backends: one reference per person, a subscription's state
//! recorded once per event, and the tier it gives.

use jules::store::{SubscriptionApplied, SubscriptionState, Tier};
use uuid::Uuid;

use super::support::store::Fixture;

suite!(a_subscription_sets_the_tier_once_per_event_and_only_for_its_reference);

fn state<'a>(
    event_id: &'a str,
    reference: Uuid,
    status: &'a str,
    tier: Tier,
) -> SubscriptionState<'a> {
    SubscriptionState {
        event_id,
        reference,
        customer_id: "cus_1",
        subscription_id: "sub_1",
        status,
        tier,
    }
}

async fn a_subscription_sets_the_tier_once_per_event_and_only_for_its_reference(f: Fixture) {
    let (user, _) = f.user_of("+15556660001", "b-1", "hi").await;
    let reference = f.store.db().billing_reference(user).await.unwrap();
    assert_eq!(
        f.store.db().billing_reference(user).await.unwrap(),
        reference,
        "stable"
    );
    assert_eq!(
        f.store
            .db()
            .billing(user)
            .await
            .unwrap()
            .unwrap()
            .customer_id,
        None
    );

    let db = f.store.db();
    assert_eq!(
        db.apply_subscription(&state("evt_1", reference, "active", Tier::Premium))
            .await
            .unwrap(),
        SubscriptionApplied::Applied {
            user_id: user,
            was: Tier::Free,
            now: Tier::Premium
        }
    );
    assert_eq!(
        f.store.user(user).await.unwrap().unwrap().tier,
        Tier::Premium
    );
    let billed = db.billing(user).await.unwrap().unwrap();
    assert_eq!(
        (
            billed.customer_id.as_deref(),
            billed.subscription_id.as_deref(),
            billed.status.as_deref()
        ),
        (Some("cus_1"), Some("sub_1"), Some("active"))
    );
    // The same event again: nothing, even if it would now say otherwise.
    assert_eq!(
        db.apply_subscription(&state("evt_1", reference, "canceled", Tier::Free))
            .await
            .unwrap(),
        SubscriptionApplied::Repeat
    );
    assert_eq!(
        f.store.user(user).await.unwrap().unwrap().tier,
        Tier::Premium
    );
    // A reference nobody has: nothing, and the event is not remembered.
    assert_eq!(
        db.apply_subscription(&state("evt_2", Uuid::new_v4(), "active", Tier::Premium))
            .await
            .unwrap(),
        SubscriptionApplied::UnknownReference
    );
    assert_eq!(
        db.apply_subscription(&state("evt_2", reference, "canceled", Tier::Free))
            .await
            .unwrap(),
        SubscriptionApplied::Applied {
            user_id: user,
            was: Tier::Premium,
            now: Tier::Free
        }
    );
    assert_eq!(f.store.user(user).await.unwrap().unwrap().tier, Tier::Free);
}
