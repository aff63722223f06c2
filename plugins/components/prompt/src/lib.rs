//! The prompt component: jules-prompt behind the `prompt-builder` world.
//! Only conversions live here; the logic is the same code the host runs natively.

// Generated code: its shape follows the WIT, not our lint settings.
#[allow(clippy::too_many_arguments)]
mod bindings {
    wit_bindgen::generate!({
        path: "../../../wit/since_v0.1.0",
        world: "prompt-builder",
    });
}

use std::sync::OnceLock;

use bindings::jules::policy::crisis as wit_crisis;
use bindings::jules::policy::prompt as wit;
use jules_prompt::Builder;

jules_guest::common_conversions!();

static BUILDER: OnceLock<Builder> = OnceLock::new();

struct Component;

impl bindings::Guest for Component {
    fn init(config: String) -> Result<(), String> {
        let builder = Builder::from_config_json(&config)?;
        BUILDER
            .set(builder)
            .map_err(|_| "init was called twice".to_string())?;
        jules_guest::freeze();
        Ok(())
    }

    fn build(
        message: wit_types::Inbound,
        user: wit_types::UserContext,
        recent: Vec<wit_types::Turn>,
        facts: Vec<wit::MemoryFact>,
        crisis: wit_crisis::Assessment,
    ) -> wit::LlmRequest {
        let builder = BUILDER.get().expect("init must be called before build");
        let facts: Vec<model::MemoryFact> = facts
            .into_iter()
            .map(|f| model::MemoryFact {
                key: f.key,
                value: f.value,
            })
            .collect();
        let r = builder.build(
            &inbound_from(message),
            &user_from(user),
            &turns_from(recent),
            &facts,
            &assessment_from(crisis),
        );
        wit::LlmRequest {
            system: r.system,
            messages: r
                .messages
                .into_iter()
                .map(|m| wit::ChatMessage {
                    role: match m.role {
                        model::Role::User => wit_types::Role::User,
                        model::Role::Assistant => wit_types::Role::Assistant,
                    },
                    content: m.content,
                })
                .collect(),
            max_tokens: r.max_tokens,
            temperature: r.temperature,
            crisis_mode: r.crisis_mode,
        }
    }
}

/// A prompt is built from severity and categories; evidence spans are not needed.
fn assessment_from(a: wit_crisis::Assessment) -> model::Assessment {
    model::Assessment {
        severity: match a.severity {
            wit_crisis::Severity::None => model::Severity::None,
            wit_crisis::Severity::Low => model::Severity::Low,
            wit_crisis::Severity::Moderate => model::Severity::Moderate,
            wit_crisis::Severity::High => model::Severity::High,
            wit_crisis::Severity::Imminent => model::Severity::Imminent,
        },
        categories: a.categories.into_iter().map(category_from).collect(),
        evidence: Vec::new(),
        discounted: Vec::new(),
    }
}

fn category_from(c: wit_crisis::Category) -> model::Category {
    match c {
        wit_crisis::Category::Suicide => model::Category::Suicide,
        wit_crisis::Category::SelfHarm => model::Category::SelfHarm,
        wit_crisis::Category::Violence => model::Category::Violence,
        wit_crisis::Category::Abuse => model::Category::Abuse,
    }
}

bindings::export!(Component with_types_in bindings);
