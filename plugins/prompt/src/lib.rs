//! The prompt builder: turns the inbound message, the recent conversation, remembered
//! facts and the crisis assessment into a provider-neutral LLM request.
//!
//! The persona, the crisis-care instructions (safe-messaging guidelines, 988 and the
//! Crisis Text Line), the history budget and the sampling settings come from the
//! configuration (`policies/prompt/config.json`).
//!
//! The same source is compiled natively (the host's fail-safe baseline) and to
//! `wasm32-wasip2` inside a component, so it must not read clocks, files, the
//! environment or randomness (no default-hashed `HashMap`), must not print or spawn
//! threads, and must not panic on any input.

mod config;
mod facts;
mod history;
mod system;
mod text;

use jules_policy_model::{Assessment, Inbound, LlmRequest, MemoryFact, Turn, UserContext};

/// A loaded prompt builder.
#[derive(Debug, Clone)]
pub struct Builder {
    config: config::Config,
}

impl Builder {
    /// Load and check a configuration; an error names the offending setting.
    pub fn from_config_json(json: &str) -> Result<Builder, String> {
        Ok(Builder {
            config: config::Config::from_json(json)?,
        })
    }

    /// Build the request. `recent` holds earlier turns, oldest first.
    pub fn build(
        &self,
        message: &Inbound,
        user: &UserContext,
        recent: &[Turn],
        facts: &[MemoryFact],
        crisis: &Assessment,
    ) -> LlmRequest {
        let config = &self.config;
        let crisis_mode = crisis.severity >= config.threshold;
        let generation = if crisis_mode {
            config.crisis
        } else {
            config.normal
        };
        LlmRequest {
            system: system::compose(config, user, facts, crisis, crisis_mode),
            messages: history::messages(&config.budget, message, recent),
            max_tokens: generation.max_tokens,
            temperature: generation.temperature,
            crisis_mode,
        }
    }
}
