//! Crisis detection: reads an inbound SMS (and the person's recent turns) and says
//! whether they may be in danger (suicide, self-harm, violence, abuse), how urgently,
//! and which words in their message say so.
//!
//! Everything it knows (phrases, aliases, plan/means/time escalators, guards against
//! idioms, negation, news and grief) comes from the bundle's configuration; the code
//! only normalizes, matches and combines. The same code runs natively in the host and
//! inside the WebAssembly component, so it must stay pure: no clock, I/O, printing,
//! threads or randomness (hence no `HashMap`), and no panic on any input. It detects;
//! it never produces advice or text for the person.

mod config;
mod evaluate;
mod fold;
mod guards;
mod matcher;
mod normalize;
mod pattern;
mod severity;

use jules_policy_model::{Assessment, Inbound, Turn, UserContext};

/// A crisis detector built from one bundle configuration.
#[derive(Debug)]
pub struct Detector {
    config: config::Config,
}

impl Detector {
    /// Builds the detector (matchers included) from the bundle's `config.json`.
    /// The error names the offending setting, e.g. `rules[3].patterns: empty`.
    pub fn from_config_json(json: &str) -> Result<Detector, String> {
        Ok(Detector {
            config: config::Config::from_json(json)?,
        })
    }

    /// Assesses `message`; `recent` holds earlier turns, oldest first. Evidence
    /// always points into `message.text`.
    pub fn assess(&self, message: &Inbound, _user: &UserContext, recent: &[Turn]) -> Assessment {
        let current = evaluate::evaluate(&self.config, &message.text);
        if current.rules.is_empty() && !current.has_bare_escalators(&self.config) {
            // Earlier turns can only raise what this message holds.
            return Assessment {
                discounted: current.discounted,
                ..Assessment::default()
            };
        }
        let prior = severity::prior(&self.config, message.received_at, recent);
        severity::assemble(&self.config, &current, &prior)
    }
}
