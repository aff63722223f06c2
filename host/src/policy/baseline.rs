//! The native baseline: the same logic crates the components are built from, compiled
//! into the host. It answers whenever a component cannot, so a broken policy can
//! never silence crisis detection or an opt-out.

use jules_compliance::Policy;
use jules_crisis::Detector;
use jules_policy_model::{
    Assessment, Decision, Inbound, LlmRequest, Outbound, Turn, UserContext, World,
};
use jules_prompt::Builder;

use super::input::PromptInput;

/// The configs shipped with the host, used when no bundle's config suits the baseline.
const BUILTIN_CRISIS: &str = include_str!("../../../policies/crisis/config.json");
const BUILTIN_COMPLIANCE: &str = include_str!("../../../policies/compliance/config.json");
const BUILTIN_PROMPT: &str = include_str!("../../../policies/prompt/config.json");

fn builtin_config(world: World) -> &'static str {
    match world {
        World::CrisisDetector => BUILTIN_CRISIS,
        World::CompliancePolicy => BUILTIN_COMPLIANCE,
        World::PromptBuilder => BUILTIN_PROMPT,
    }
}

#[derive(Debug)]
pub enum Baseline {
    Crisis(Detector),
    Compliance(Policy),
    Prompt(Builder),
}

impl Baseline {
    pub fn from_config(world: World, config: &str) -> Result<Baseline, String> {
        Ok(match world {
            World::CrisisDetector => Baseline::Crisis(Detector::from_config_json(config)?),
            World::CompliancePolicy => Baseline::Compliance(Policy::from_config_json(config)?),
            World::PromptBuilder => Baseline::Prompt(Builder::from_config_json(config)?),
        })
    }

    /// The baseline on the configuration shipped with the host.
    pub fn builtin(world: World) -> Result<Baseline, String> {
        Baseline::from_config(world, builtin_config(world))
            .map_err(|e| format!("the built-in {world} config does not load: {e}"))
    }

    /// What names the host's built-in bundle of `world` in decisions and logs: the
    /// digest a bundle with no component and the shipped config has.
    pub fn builtin_digest(world: World) -> super::BundleDigest {
        super::BundleDigest::of(&[], builtin_config(world).as_bytes())
    }

    pub fn world(&self) -> World {
        match self {
            Baseline::Crisis(_) => World::CrisisDetector,
            Baseline::Compliance(_) => World::CompliancePolicy,
            Baseline::Prompt(_) => World::PromptBuilder,
        }
    }

    pub fn assess(
        &self,
        message: &Inbound,
        user: &UserContext,
        recent: &[Turn],
    ) -> Option<Assessment> {
        match self {
            Baseline::Crisis(d) => Some(d.assess(message, user, recent)),
            _ => None,
        }
    }

    pub fn evaluate(&self, message: &Inbound, user: &UserContext) -> Option<Decision> {
        match self {
            Baseline::Compliance(p) => Some(p.evaluate(message, user)),
            _ => None,
        }
    }

    pub fn shape(&self, reply: &str, disclose: bool) -> Option<Outbound> {
        match self {
            Baseline::Compliance(p) => Some(p.shape(reply, disclose)),
            _ => None,
        }
    }

    pub fn build(&self, input: &PromptInput<'_>) -> Option<LlmRequest> {
        match self {
            Baseline::Prompt(b) => Some(b.build(
                input.message,
                input.user,
                input.recent,
                input.facts,
                input.crisis,
            )),
            _ => None,
        }
    }
}
