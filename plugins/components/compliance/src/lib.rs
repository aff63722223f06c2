//! The compliance component: jules-compliance behind the `compliance-policy` world.
//! Only conversions live here; the logic is the same code the host runs natively.

// Generated code: its shape follows the WIT, not our lint settings.
#[allow(clippy::too_many_arguments)]
mod bindings {
    wit_bindgen::generate!({
        path: "../../../wit/since_v0.1.0",
        world: "compliance-policy",
    });
}

use std::sync::OnceLock;

use bindings::jules::policy::compliance as wit;
use jules_compliance::Policy;

jules_guest::common_conversions!();

static POLICY: OnceLock<Policy> = OnceLock::new();

fn policy() -> &'static Policy {
    POLICY
        .get()
        .expect("init must be called before any other export")
}

struct Component;

impl bindings::Guest for Component {
    fn init(config: String) -> Result<(), String> {
        let policy = Policy::from_config_json(&config)?;
        POLICY
            .set(policy)
            .map_err(|_| "init was called twice".to_string())?;
        jules_guest::freeze();
        Ok(())
    }

    fn evaluate(message: wit_types::Inbound, user: wit_types::UserContext) -> wit::Decision {
        let d = policy().evaluate(&inbound_from(message), &user_from(user));
        wit::Decision {
            actions: d.actions.into_iter().map(action_to).collect(),
        }
    }

    fn shape(reply: String, disclose: bool) -> wit::Outbound {
        let o = policy().shape(&reply, disclose);
        wit::Outbound {
            text: o.text,
            encoding: match o.encoding {
                model::Encoding::Gsm7 => wit::Encoding::Gsm7,
                model::Encoding::Ucs2 => wit::Encoding::Ucs2,
            },
            segments: o.segments,
            truncated: o.truncated,
        }
    }
}

fn action_to(a: model::Action) -> wit::Action {
    match a {
        model::Action::OptOut(t) => wit::Action::OptOut(t),
        model::Action::OptIn(t) => wit::Action::OptIn(t),
        model::Action::Help(t) => wit::Action::Help(t),
        model::Action::Block(b) => wit::Action::Block(wit::Blocked {
            reason: match b.reason {
                model::BlockReason::OptedOut => wit::BlockReason::OptedOut,
                model::BlockReason::UnderThirteen => wit::BlockReason::UnderThirteen,
                model::BlockReason::DailyLimit => wit::BlockReason::DailyLimit,
                model::BlockReason::AgeDeclined => wit::BlockReason::AgeDeclined,
            },
            reply: b.reply,
        }),
        model::Action::RequireAgeVerification(t) => wit::Action::RequireAgeVerification(t),
        model::Action::DisclosureDue => wit::Action::DisclosureDue,
        model::Action::CallLlm => wit::Action::CallLlm,
    }
}

bindings::export!(Component with_types_in bindings);
