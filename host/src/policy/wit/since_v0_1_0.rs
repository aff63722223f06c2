//! Host adapter for `jules:policy@0.1.0` (wit/since_v0.1.0). Frozen with that WIT.

use jules_policy_model as model;
use wasmtime::Store;

use crate::policy::input as model_input;
use crate::policy::sandbox::SandboxState;

pub mod crisis_detector {
    wasmtime::component::bindgen!({
        path: "../wit/since_v0.1.0",
        world: "crisis-detector",
    });
}

pub mod compliance_policy {
    wasmtime::component::bindgen!({
        path: "../wit/since_v0.1.0",
        world: "compliance-policy",
        with: {
            "jules:policy/types": super::crisis_detector::jules::policy::types,
        },
    });
}

pub mod prompt_builder {
    wasmtime::component::bindgen!({
        path: "../wit/since_v0.1.0",
        world: "prompt-builder",
        with: {
            "jules:policy/types": super::crisis_detector::jules::policy::types,
            "jules:policy/crisis": super::crisis_detector::jules::policy::crisis,
        },
    });
}

use compliance_policy::jules::policy::compliance as wc;
use crisis_detector::jules::policy::crisis as wcr;
use crisis_detector::jules::policy::types as wt;
use prompt_builder::jules::policy::prompt as wp;

pub use compliance_policy::CompliancePolicyPre;
pub use crisis_detector::CrisisDetectorPre;
pub use prompt_builder::PromptBuilderPre;

pub fn inbound(m: &model::Inbound) -> wt::Inbound {
    wt::Inbound {
        text: m.text.clone(),
        received_at: m.received_at,
    }
}

pub fn user(u: &model::UserContext) -> wt::UserContext {
    wt::UserContext {
        age: match u.age {
            model::AgeStatus::Unknown => wt::AgeStatus::Unknown,
            model::AgeStatus::Pending => wt::AgeStatus::Pending,
            model::AgeStatus::Adult => wt::AgeStatus::Adult,
            model::AgeStatus::Minor => wt::AgeStatus::Minor,
            model::AgeStatus::Child => wt::AgeStatus::Child,
            model::AgeStatus::Declined => wt::AgeStatus::Declined,
        },
        opted_out: u.opted_out,
        tier: match u.tier {
            model::Tier::Free => wt::Tier::Free,
            model::Tier::Premium => wt::Tier::Premium,
        },
        last_disclosure_at: u.last_disclosure_at,
        first_contact: u.first_contact,
        locale: u.locale.clone(),
        messages_today: u.messages_today,
    }
}

fn role_to(r: model::Role) -> wt::Role {
    match r {
        model::Role::User => wt::Role::User,
        model::Role::Assistant => wt::Role::Assistant,
    }
}

fn role_from(r: wt::Role) -> model::Role {
    match r {
        wt::Role::User => model::Role::User,
        wt::Role::Assistant => model::Role::Assistant,
    }
}

pub fn turns(t: &[model::Turn]) -> Vec<wt::Turn> {
    t.iter()
        .map(|t| wt::Turn {
            role: role_to(t.role),
            text: t.text.clone(),
            at: t.at,
        })
        .collect()
}

fn severity_from(s: wcr::Severity) -> model::Severity {
    match s {
        wcr::Severity::None => model::Severity::None,
        wcr::Severity::Low => model::Severity::Low,
        wcr::Severity::Moderate => model::Severity::Moderate,
        wcr::Severity::High => model::Severity::High,
        wcr::Severity::Imminent => model::Severity::Imminent,
    }
}

fn severity_to(s: model::Severity) -> wcr::Severity {
    match s {
        model::Severity::None => wcr::Severity::None,
        model::Severity::Low => wcr::Severity::Low,
        model::Severity::Moderate => wcr::Severity::Moderate,
        model::Severity::High => wcr::Severity::High,
        model::Severity::Imminent => wcr::Severity::Imminent,
    }
}

fn category_from(c: wcr::Category) -> model::Category {
    match c {
        wcr::Category::Suicide => model::Category::Suicide,
        wcr::Category::SelfHarm => model::Category::SelfHarm,
        wcr::Category::Violence => model::Category::Violence,
        wcr::Category::Abuse => model::Category::Abuse,
    }
}

fn category_to(c: model::Category) -> wcr::Category {
    match c {
        model::Category::Suicide => wcr::Category::Suicide,
        model::Category::SelfHarm => wcr::Category::SelfHarm,
        model::Category::Violence => wcr::Category::Violence,
        model::Category::Abuse => wcr::Category::Abuse,
    }
}

pub fn assessment_from(a: wcr::Assessment) -> model::Assessment {
    model::Assessment {
        severity: severity_from(a.severity),
        categories: a.categories.into_iter().map(category_from).collect(),
        evidence: a
            .evidence
            .into_iter()
            .map(|e| model::Evidence {
                rule_id: e.rule_id,
                category: category_from(e.category),
                severity: severity_from(e.severity),
                start: e.start,
                end: e.end,
            })
            .collect(),
        discounted: a
            .discounted
            .into_iter()
            .map(|d| model::Discounted {
                rule_id: d.rule_id,
                reason: d.reason,
                start: d.start,
                end: d.end,
            })
            .collect(),
    }
}

pub fn assessment_to(a: &model::Assessment) -> wcr::Assessment {
    wcr::Assessment {
        severity: severity_to(a.severity),
        categories: a.categories.iter().copied().map(category_to).collect(),
        evidence: a
            .evidence
            .iter()
            .map(|e| wcr::Evidence {
                rule_id: e.rule_id.clone(),
                category: category_to(e.category),
                severity: severity_to(e.severity),
                start: e.start,
                end: e.end,
            })
            .collect(),
        discounted: a
            .discounted
            .iter()
            .map(|d| wcr::Discounted {
                rule_id: d.rule_id.clone(),
                reason: d.reason.clone(),
                start: d.start,
                end: d.end,
            })
            .collect(),
    }
}

pub fn decision_from(d: wc::Decision) -> model::Decision {
    model::Decision {
        actions: d
            .actions
            .into_iter()
            .map(|a| match a {
                wc::Action::OptOut(t) => model::Action::OptOut(t),
                wc::Action::OptIn(t) => model::Action::OptIn(t),
                wc::Action::Help(t) => model::Action::Help(t),
                wc::Action::Block(b) => model::Action::Block(model::Blocked {
                    reason: match b.reason {
                        wc::BlockReason::OptedOut => model::BlockReason::OptedOut,
                        wc::BlockReason::UnderThirteen => model::BlockReason::UnderThirteen,
                        wc::BlockReason::DailyLimit => model::BlockReason::DailyLimit,
                        wc::BlockReason::AgeDeclined => model::BlockReason::AgeDeclined,
                    },
                    reply: b.reply,
                }),
                wc::Action::RequireAgeVerification(t) => model::Action::RequireAgeVerification(t),
                wc::Action::DisclosureDue => model::Action::DisclosureDue,
                wc::Action::CallLlm => model::Action::CallLlm,
            })
            .collect(),
    }
}

pub fn outbound_from(o: wc::Outbound) -> model::Outbound {
    model::Outbound {
        text: o.text,
        encoding: match o.encoding {
            wc::Encoding::Gsm7 => model::Encoding::Gsm7,
            wc::Encoding::Ucs2 => model::Encoding::Ucs2,
        },
        segments: o.segments,
        truncated: o.truncated,
    }
}

pub fn facts(f: &[model::MemoryFact]) -> Vec<wp::MemoryFact> {
    f.iter()
        .map(|f| wp::MemoryFact {
            key: f.key.clone(),
            value: f.value.clone(),
        })
        .collect()
}

pub fn request_from(r: wp::LlmRequest) -> model::LlmRequest {
    model::LlmRequest {
        system: r.system,
        messages: r
            .messages
            .into_iter()
            .map(|m| model::ChatMessage {
                role: role_from(m.role),
                content: m.content,
            })
            .collect(),
        max_tokens: r.max_tokens,
        temperature: r.temperature,
        crisis_mode: r.crisis_mode,
    }
}

/// A pre-instantiated component of one of this version's worlds.
pub enum Pre {
    Crisis(CrisisDetectorPre<SandboxState>),
    Compliance(CompliancePolicyPre<SandboxState>),
    Prompt(PromptBuilderPre<SandboxState>),
}

/// An instance of one of this version's worlds, living in one store.
pub enum Instance {
    Crisis(crisis_detector::CrisisDetector),
    Compliance(compliance_policy::CompliancePolicy),
    Prompt(prompt_builder::PromptBuilder),
}

impl Pre {
    pub fn new(
        world: model::World,
        pre: wasmtime::component::InstancePre<SandboxState>,
    ) -> wasmtime::Result<Pre> {
        Ok(match world {
            model::World::CrisisDetector => Pre::Crisis(CrisisDetectorPre::new(pre)?),
            model::World::CompliancePolicy => Pre::Compliance(CompliancePolicyPre::new(pre)?),
            model::World::PromptBuilder => Pre::Prompt(PromptBuilderPre::new(pre)?),
        })
    }

    pub fn instantiate(&self, store: &mut Store<SandboxState>) -> wasmtime::Result<Instance> {
        Ok(match self {
            Pre::Crisis(p) => Instance::Crisis(p.instantiate(store)?),
            Pre::Compliance(p) => Instance::Compliance(p.instantiate(store)?),
            Pre::Prompt(p) => Instance::Prompt(p.instantiate(store)?),
        })
    }
}

/// Each call returns `None` when the instance is of another world.
impl Instance {
    pub fn assess(
        &self,
        store: &mut Store<SandboxState>,
        message: &model::Inbound,
        user_ctx: &model::UserContext,
        recent: &[model::Turn],
    ) -> Option<wasmtime::Result<model::Assessment>> {
        let Instance::Crisis(i) = self else {
            return None;
        };
        Some(
            i.call_assess(store, &inbound(message), &user(user_ctx), &turns(recent))
                .map(assessment_from),
        )
    }

    pub fn evaluate(
        &self,
        store: &mut Store<SandboxState>,
        message: &model::Inbound,
        user_ctx: &model::UserContext,
    ) -> Option<wasmtime::Result<model::Decision>> {
        let Instance::Compliance(i) = self else {
            return None;
        };
        Some(
            i.call_evaluate(store, &inbound(message), &user(user_ctx))
                .map(decision_from),
        )
    }

    pub fn shape(
        &self,
        store: &mut Store<SandboxState>,
        reply: &str,
        disclose: bool,
    ) -> Option<wasmtime::Result<model::Outbound>> {
        let Instance::Compliance(i) = self else {
            return None;
        };
        Some(i.call_shape(store, reply, disclose).map(outbound_from))
    }

    pub fn build(
        &self,
        store: &mut Store<SandboxState>,
        input: &model_input::PromptInput<'_>,
    ) -> Option<wasmtime::Result<model::LlmRequest>> {
        let Instance::Prompt(i) = self else {
            return None;
        };
        Some(
            i.call_build(
                store,
                &inbound(input.message),
                &user(input.user),
                &turns(input.recent),
                &facts(input.facts),
                &assessment_to(input.crisis),
            )
            .map(request_from),
        )
    }
}
