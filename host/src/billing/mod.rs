//! Subscriptions through Stripe: Checkout to upgrade, the Customer Portal to manage or
//! cancel, and signed webhooks (`http::webhooks::stripe`) that move a person between
//! `free` and `premium` by their subscription's own state, re-read from Stripe so that
//! events arriving late or out of order never undo a newer state.

pub mod stripe;

pub use stripe::{Stripe, StripeSettings};

use uuid::Uuid;

use crate::store::{Backend, StoreError};

/// Before a person is erased: cancel their subscription if Stripe says it is live.
/// False when one is live and could not be cancelled (they are told how to do it).
pub async fn cancel_before_erasure(
    stripe: Option<&Stripe>,
    db: &Backend,
    user_id: Uuid,
) -> Result<bool, StoreError> {
    let Some(subscription) = db.billing(user_id).await?.and_then(|b| b.subscription_id) else {
        return Ok(true);
    };
    let Some(stripe) = stripe else {
        tracing::error!(
            "a person with a subscription is erased but Stripe is not configured: cancel it in Stripe's dashboard"
        );
        return Ok(false);
    };
    let live = match stripe.subscription(&subscription).await {
        Ok(s) => tier_of(&s.status) == Tier::Premium,
        Err(e) => {
            tracing::warn!(error = %e, "the subscription of a person being erased could not be read");
            return Ok(false);
        }
    };
    if !live {
        return Ok(true);
    }
    match stripe.cancel(&subscription).await {
        Ok(_) => Ok(true),
        Err(e) => {
            tracing::warn!(error = %e, "the subscription of a person being erased could not be cancelled");
            Ok(false)
        }
    }
}

use crate::store::Tier;

/// The tier a Stripe subscription status gives: paid up, on trial, or retrying a failed
/// payment is premium until Stripe itself ends it (`unpaid`, `canceled`, …).
pub fn tier_of(status: &str) -> Tier {
    match status {
        "active" | "trialing" | "past_due" => Tier::Premium,
        _ => Tier::Free,
    }
}

/// What a person is told.
pub mod texts {
    pub const UPGRADE: &str = "Jules: Upgrade to Premium for unlimited messages here: ";
    pub const ALREADY_PREMIUM: &str =
        "Jules: You're already on Premium. To manage or cancel it, text CANCEL PLAN.";
    pub const MANAGE: &str = "Jules: Manage or cancel your Premium plan here: ";
    pub const NOT_SUBSCRIBED: &str =
        "Jules: You're on the free plan, so there's nothing to cancel.";
    pub const UNAVAILABLE: &str =
        "Jules: Premium isn't available right now. Please try again later.";
    pub const NOW_PREMIUM: &str = "Jules: You're on Premium now. Thanks! Text anytime.";
    pub const NOT_CANCELLED: &str =
        " We couldn't cancel your Premium plan just now: text CANCEL PLAN to cancel it.";
    pub const NOW_FREE: &str =
        "Jules: Your Premium plan has ended; you're on the free plan again. Text UPGRADE to renew.";
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_live_subscription_is_premium() {
        for live in ["active", "trialing", "past_due"] {
            assert_eq!(tier_of(live), Tier::Premium, "{live}");
        }
        for ended in [
            "canceled",
            "unpaid",
            "incomplete",
            "incomplete_expired",
            "paused",
            "",
        ] {
            assert_eq!(tier_of(ended), Tier::Free, "{ended}");
        }
    }
}
