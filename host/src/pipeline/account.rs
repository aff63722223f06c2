//! Account requests the compliance bundle names and the host carries out: erasing a
//! person's data on their own request ("DELETE MY DATA", then a confirmation within
//! ten minutes), and Premium ("UPGRADE": a Stripe Checkout link; "CANCEL PLAN": a
//! Customer Portal link). They apply where the person could converse (a reply, or the free
//! tier's daily limit); keywords of the law (STOP, HELP) and the age gate come first.

use std::time::Duration;

use jules_compliance::AccountRequest;
use jules_policy_model::{Action, BlockReason};

use super::Pipeline;
use super::conversation::{ComplianceLog, Gathered};
use crate::billing;
use crate::store::{ComplianceEvent, StoreError, Tier, TurnOutcome};

/// How long a request to erase waits for its confirmation.
const CONFIRM_WITHIN: Duration = Duration::from_secs(600);

/// What an erased person is told.
pub const ERASED_NOTICE: &str = "Jules: As you asked, we've deleted your messages and details. Text anytime to start again; reply STOP to opt out.";

impl Pipeline {
    /// The answer to the turn's text when it is an account request the person may make
    /// now; None to go on as the compliance decision says.
    pub(super) async fn account_request(
        &self,
        turn: &Gathered,
        actions: &[Action],
        out: &mut TurnOutcome,
        log: &ComplianceLog,
    ) -> Result<Option<String>, StoreError> {
        let may_converse = actions.iter().any(|a| match a {
            Action::CallLlm => true,
            Action::Block(b) => b.reason == BlockReason::DailyLimit,
            _ => false,
        });
        if !may_converse {
            return Ok(None);
        }
        let text = &turn.asked.inbound.text;
        let Some((request, confirm)) = self
            .policies
            .compliance_config(|p| {
                p.account_request(text)
                    .map(|r| (r, p.erase_confirm_word().unwrap_or_default().to_string()))
            })
            .flatten()
        else {
            return Ok(None);
        };
        match request {
            AccountRequest::Erase => {
                log.record(out, ComplianceEvent::EraseRequested, "");
                Ok(Some(format!(
                    "Jules: To delete your messages and details, reply {confirm} within 10 minutes. Nothing is deleted otherwise."
                )))
            }
            AccountRequest::EraseConfirm if self.erase_asked(turn).await? => {
                out.erase = Some("on their request".into());
                let cancelled = Box::pin(billing::cancel_before_erasure(
                    self.stripe.as_deref(),
                    self.store.db(),
                    turn.user.id,
                ))
                .await?;
                Ok(Some(if cancelled {
                    ERASED_NOTICE.into()
                } else {
                    format!("{ERASED_NOTICE}{}", billing::texts::NOT_CANCELLED)
                }))
            }
            AccountRequest::EraseConfirm => Ok(None),
            AccountRequest::Upgrade => self.upgrade(turn).await.map(Some),
            AccountRequest::ManagePlan => self.manage_plan(turn).await.map(Some),
        }
    }

    /// A Checkout link, or why there is none.
    async fn upgrade(&self, turn: &Gathered) -> Result<String, StoreError> {
        let Some(stripe) = &self.stripe else {
            return Ok(billing::texts::UNAVAILABLE.into());
        };
        if turn.user.tier == Tier::Premium {
            return Ok(billing::texts::ALREADY_PREMIUM.into());
        }
        let reference = Box::pin(self.store.db().billing_reference(turn.user.id)).await?;
        Ok(match stripe.checkout(reference).await {
            Ok(url) => format!("{}{url}", billing::texts::UPGRADE),
            Err(e) => {
                tracing::warn!(error = %e, "no Stripe Checkout session");
                billing::texts::UNAVAILABLE.into()
            }
        })
    }

    /// A Customer Portal link for a subscriber, or why there is none.
    async fn manage_plan(&self, turn: &Gathered) -> Result<String, StoreError> {
        let Some(stripe) = &self.stripe else {
            return Ok(billing::texts::UNAVAILABLE.into());
        };
        let billed = Box::pin(self.store.db().billing(turn.user.id)).await?;
        let Some(customer) = billed.and_then(|b| b.customer_id) else {
            return Ok(billing::texts::NOT_SUBSCRIBED.into());
        };
        Ok(match stripe.portal(&customer).await {
            Ok(url) => format!("{}{url}", billing::texts::MANAGE),
            Err(e) => {
                tracing::warn!(error = %e, "no Stripe Customer Portal session");
                billing::texts::UNAVAILABLE.into()
            }
        })
    }

    /// Whether the person asked to be erased in the last `CONFIRM_WITHIN` and has not
    /// been erased since.
    async fn erase_asked(&self, turn: &Gathered) -> Result<bool, StoreError> {
        let log = Box::pin(self.store.db().compliance_log(turn.user.id)).await?;
        let last = |event| {
            log.iter()
                .filter(|e| e.event == event)
                .map(|e| e.occurred_at)
                .max()
        };
        let (asked, erased) = (
            last(ComplianceEvent::EraseRequested),
            last(ComplianceEvent::Erased),
        );
        Ok(asked.is_some_and(|at| {
            erased.is_none_or(|e| e < at)
                && turn.now.duration_since(at).unwrap_or_default() <= CONFIRM_WITHIN
                && at <= turn.now + Duration::from_secs(60)
        }))
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_notice_is_one_plain_segment() {
        let n = super::ERASED_NOTICE;
        assert!(n.len() <= 160 && n.is_ascii(), "{}", n.len());
    }
}
