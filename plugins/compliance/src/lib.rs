//! The compliance policy: the law's rules for an SMS AI companion.
//!
//! It recognises carrier keywords (opt-out, opt-in, help), gates on age (COPPA) and the
//! free tier's daily limit, says when the AI disclosure is due (New York GBL Art. 47,
//! California SB 243), and shapes outbound texts to a segment budget (GSM-7 or UCS-2).
//! Every text, keyword and limit comes from the configuration
//! (`policies/compliance/config.json`).
//!
//! The same source is compiled natively (the host's fail-safe baseline) and to
//! `wasm32-wasip2` inside a component, so it must not read clocks, files, the
//! environment or randomness (no default-hashed `HashMap`), must not print or spawn
//! threads, and must not panic on any input.

mod config;
mod disclosure;
mod keywords;
mod rules;
mod segments;
mod shape;

use jules_policy_model::{Decision, Inbound, Outbound, UserContext};

pub use segments::{encoding_of, segments};

/// A request about the person's account, recognised by the bundle's keywords.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountRequest {
    /// "DELETE MY DATA": asks for confirmation.
    Erase,
    /// Confirms an erasure asked for a moment ago.
    EraseConfirm,
    /// "UPGRADE": a checkout link.
    Upgrade,
    /// "CANCEL PLAN": a link to manage or cancel the subscription.
    ManagePlan,
}

/// A loaded compliance policy.
#[derive(Debug, Clone)]
pub struct Policy {
    config: config::Config,
}

impl Policy {
    /// Load and check a configuration; an error names the offending setting.
    pub fn from_config_json(json: &str) -> Result<Policy, String> {
        Ok(Policy {
            config: config::Config::from_json(json)?,
        })
    }

    /// Decide what the host must do with one inbound message, in order.
    pub fn evaluate(&self, message: &Inbound, user: &UserContext) -> Decision {
        Decision {
            actions: rules::decide(&self.config, message, user),
        }
    }

    /// The account request the whole message is, if any: these are carried out by the
    /// host (they need its store and providers), named here so the bundle owns the words.
    pub fn account_request(&self, text: &str) -> Option<AccountRequest> {
        match self.config.keywords.classify(text)? {
            keywords::Keyword::Erase => Some(AccountRequest::Erase),
            keywords::Keyword::EraseConfirm => Some(AccountRequest::EraseConfirm),
            keywords::Keyword::Upgrade => Some(AccountRequest::Upgrade),
            keywords::Keyword::ManagePlan => Some(AccountRequest::ManagePlan),
            _ => None,
        }
    }

    /// The word that confirms an erasure (the first of `keywords.erase-confirm`).
    pub fn erase_confirm_word(&self) -> Option<&str> {
        self.config.erase_confirm_word.as_deref()
    }

    /// Prefix the disclosure when `disclose`, and shorten the reply (never the
    /// disclosure) to fit the configured number of segments.
    pub fn shape(&self, reply: &str, disclose: bool) -> Outbound {
        shape::Shaper {
            disclosure: &self.config.texts.disclosure,
            max_segments: self.config.max_segments,
            substitutions: &self.config.substitutions,
        }
        .shape(reply, disclose)
    }
}
