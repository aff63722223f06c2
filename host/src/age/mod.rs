//! Age verification: who checks a person's age, and what they are told. Veriff in
//! production (`VERIFF_*`); in development without it, a stand-in that believes a date
//! of birth texted in reply to a prompt that says so. The compliance policy decides
//! when a check is needed; this module opens one (`pipeline::age`) and applies
//! provider decisions (`http::webhooks::veriff`).

pub mod birth;
pub mod veriff;

use std::time::Duration;

pub use veriff::{Veriff, VeriffSettings};

use crate::store::AgeStatus;

/// How long a Veriff session stays open (Veriff's own limit); a person who texts after
/// it gets a new one.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

/// Who checks ages on this host.
#[derive(Debug, Clone)]
pub enum AgeVerifier {
    Veriff(Veriff),
    /// Development only: a date of birth texted in reply is believed. Named on the
    /// banner and `/health`; production never builds it.
    StandIn,
    /// Production without a provider: refused at start when the compliance bundle in
    /// POLICY_DIR gates on age; if a bundle activated later does, its prompt goes out
    /// without a link and an error is logged.
    Missing,
}

impl AgeVerifier {
    /// `veriff`, `development stand-in` or `none`, for the banner and `/health`.
    pub fn describe(&self) -> &'static str {
        match self {
            AgeVerifier::Veriff(_) => "veriff",
            AgeVerifier::StandIn => "development stand-in (a texted date of birth is believed)",
            AgeVerifier::Missing => "none",
        }
    }
}

/// What the person is told. The compliance bundle's texts open and close the check
/// (the prompt, pending, declined, under-thirteen block); these carry what only the
/// host knows: the link, and a decision that arrives between the person's texts.
pub mod texts {
    pub const LINK: &str = "Verify your age here (the link is yours alone): ";
    pub const NO_LINK_YET: &str =
        "We couldn't make your verification link just now. Text VERIFY in a few minutes to get it.";
    pub const STAND_IN: &str = "[DEVELOPMENT: no real age check. Reply with a date of birth as YYYY-MM-DD; it is believed.]";
    pub const CONFIRMED: &str = "Jules: Thanks, your age is confirmed. Text me anytime to chat.";
    pub const UNDER_THIRTEEN: &str = "Jules: Sorry, you must be 13 or older to chat with Jules. If you need help right now, call or text 988.";
    pub const DECLINED: &str =
        "Jules: We couldn't confirm your age, so we can't chat. Reply STOP to opt out.";
    pub const NO_BIRTH_DATE: &str = "Jules: We couldn't read a date of birth from your check. Text VERIFY for a new link to try again.";
    pub const RESUBMIT: &str = "Jules: Your age check needs another try. ";
}

/// The text telling a person the outcome of their check, if any.
pub fn outcome_text(age: AgeStatus) -> Option<&'static str> {
    match age {
        AgeStatus::Adult | AgeStatus::Minor => Some(texts::CONFIRMED),
        AgeStatus::Child => Some(texts::UNDER_THIRTEEN),
        AgeStatus::Declined => Some(texts::DECLINED),
        AgeStatus::Unknown | AgeStatus::Pending => None,
    }
}
