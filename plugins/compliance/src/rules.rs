//! The order in which the law's rules decide an inbound message.

use jules_policy_model::{Action, AgeStatus, BlockReason, Blocked, Inbound, Tier, UserContext};

use crate::config::Config;
use crate::disclosure;
use crate::keywords::Keyword;

pub fn decide(config: &Config, message: &Inbound, user: &UserContext) -> Vec<Action> {
    let texts = &config.texts;
    match config.keywords.classify(&message.text) {
        // One confirmation per opt-out: a second STOP is already honoured.
        Some(Keyword::OptOut) if user.opted_out => return vec![block(BlockReason::OptedOut, None)],
        Some(Keyword::OptOut) => return vec![Action::OptOut(texts.opt_out.clone())],
        // Carriers require HELP to be answered even after an opt-out.
        Some(Keyword::Help) => return vec![Action::Help(texts.help.clone())],
        Some(Keyword::OptIn) => return vec![Action::OptIn(texts.opt_in.clone())],
        Some(Keyword::OptInWhenOptedOut) if user.opted_out => {
            return vec![Action::OptIn(texts.opt_in.clone())];
        }
        // Account requests are the host's to carry out; to the law they are conversation.
        Some(
            Keyword::OptInWhenOptedOut
            | Keyword::Erase
            | Keyword::EraseConfirm
            | Keyword::Upgrade
            | Keyword::ManagePlan,
        )
        | None => {}
    }
    if user.opted_out {
        return vec![block(BlockReason::OptedOut, None)];
    }

    let due = disclosure::is_due(user, message.received_at, config.disclosure_interval_ms)
        .then_some(Action::DisclosureDue);
    let age_prompt = match user.age {
        AgeStatus::Child => {
            let reply = Some(texts.under_thirteen.clone());
            return vec![block(BlockReason::UnderThirteen, reply)];
        }
        AgeStatus::Declined => {
            let reply = Some(texts.age_declined.clone());
            return vec![block(BlockReason::AgeDeclined, reply)];
        }
        AgeStatus::Unknown if config.require_age_verification => Some(&texts.age_prompt),
        AgeStatus::Pending if config.require_age_verification => Some(&texts.age_pending),
        AgeStatus::Unknown | AgeStatus::Pending | AgeStatus::Adult | AgeStatus::Minor => None,
    };
    if let Some(prompt) = age_prompt {
        return due
            .into_iter()
            .chain([Action::RequireAgeVerification(prompt.clone())])
            .collect();
    }

    if user.tier == Tier::Free && user.messages_today >= config.free_daily_limit {
        return vec![block(
            BlockReason::DailyLimit,
            Some(texts.daily_limit.clone()),
        )];
    }
    due.into_iter().chain([Action::CallLlm]).collect()
}

fn block(reason: BlockReason, reply: Option<String>) -> Action {
    Action::Block(Blocked { reason, reply })
}
