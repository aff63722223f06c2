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
pub use config::Response;
pub use model::HEADS;
mod evaluate;
mod fold;
mod guards;
mod matcher;
mod model;
mod normalize;
mod pattern;
mod severity;

use jules_policy_model::{Assessment, Inbound, Turn, UserContext};

/// Evidence (and discounted) entries one assessment reports at most. A long message
/// repeating a phrase would otherwise report every repetition; reviewers need the
/// strongest few, and the host refuses lists beyond 256.
pub const MAX_EVIDENCE: usize = 64;

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

    /// What the host does at escalation (the config's `response`).
    pub fn response(&self) -> &std::sync::Arc<Response> {
        &self.config.response
    }

    /// The model's input for `message` as detection builds it (bucket per feature,
    /// with the categories `recent` shows), for training a model of `2^log2` buckets.
    pub fn model_input(&self, log2: u8, message: &Inbound, recent: &[Turn]) -> Vec<u32> {
        let prior = severity::prior(&self.config, message.received_at, recent);
        let context = severity::context_mask(&prior);
        evaluate::evaluate_with_features(&self.config, &message.text, context, Some(log2))
            .1
            .into_iter()
            .map(|f| f.bucket)
            .collect()
    }

    /// Assesses `message`; `recent` holds earlier turns, oldest first. Evidence
    /// always points into `message.text`.
    pub fn assess(&self, message: &Inbound, _user: &UserContext, recent: &[Turn]) -> Assessment {
        let prior = severity::prior(&self.config, message.received_at, recent);
        let context = severity::context_mask(&prior);
        let current = evaluate::evaluate(&self.config, &message.text, context);
        if current.rules.is_empty()
            && current.model.is_empty()
            && !current.has_bare_escalators(&self.config)
        {
            // Earlier turns can only raise what this message holds.
            return bounded(Assessment {
                discounted: current.discounted,
                ..Assessment::default()
            });
        }
        bounded(severity::assemble(&self.config, &current, &prior))
    }
}

/// Keep the `MAX_EVIDENCE` most severe entries (earliest first among equals), in text
/// order, so every category still has its strongest evidence.
fn bounded(mut a: Assessment) -> Assessment {
    if a.evidence.len() > MAX_EVIDENCE {
        let mut ranked: Vec<usize> = (0..a.evidence.len()).collect();
        ranked.sort_by_key(|&i| (std::cmp::Reverse(a.evidence[i].severity), i));
        let mut keep: Vec<usize> = Vec::with_capacity(MAX_EVIDENCE);
        // One per category first, so truncation never orphans a category.
        for c in &a.categories {
            if let Some(&i) = ranked.iter().find(|&&i| a.evidence[i].category == *c) {
                keep.push(i);
            }
        }
        for i in ranked {
            if keep.len() >= MAX_EVIDENCE {
                break;
            }
            if !keep.contains(&i) {
                keep.push(i);
            }
        }
        keep.sort_unstable();
        let evidence = std::mem::take(&mut a.evidence);
        a.evidence = evidence
            .into_iter()
            .enumerate()
            .filter(|(i, _)| keep.contains(i))
            .map(|(_, e)| e)
            .collect();
    }
    a.discounted.truncate(MAX_EVIDENCE);
    a
}
