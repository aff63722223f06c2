//! The crisis detector component: jules-crisis behind the `crisis-detector` world.
//! Only conversions live here; the logic is the same code the host runs natively.

// Generated code: its shape follows the WIT, not our lint settings.
#[allow(clippy::too_many_arguments)]
mod bindings {
    wit_bindgen::generate!({
        path: "../../../wit/since_v0.1.0",
        world: "crisis-detector",
    });
}

use std::sync::OnceLock;

use bindings::jules::policy::crisis as wit;
use jules_crisis::Detector;

jules_guest::common_conversions!();

static DETECTOR: OnceLock<Detector> = OnceLock::new();

struct Component;

impl bindings::Guest for Component {
    fn init(config: String) -> Result<(), String> {
        let detector = Detector::from_config_json(&config)?;
        DETECTOR
            .set(detector)
            .map_err(|_| "init was called twice".to_string())?;
        jules_guest::freeze();
        Ok(())
    }

    fn assess(
        message: wit_types::Inbound,
        user: wit_types::UserContext,
        recent: Vec<wit_types::Turn>,
    ) -> wit::Assessment {
        let detector = DETECTOR.get().expect("init must be called before assess");
        let a = detector.assess(
            &inbound_from(message),
            &user_from(user),
            &turns_from(recent),
        );
        wit::Assessment {
            severity: severity_to(a.severity),
            categories: a.categories.into_iter().map(category_to).collect(),
            evidence: a
                .evidence
                .into_iter()
                .map(|e| wit::Evidence {
                    rule_id: e.rule_id,
                    category: category_to(e.category),
                    severity: severity_to(e.severity),
                    start: e.start,
                    end: e.end,
                })
                .collect(),
            discounted: a
                .discounted
                .into_iter()
                .map(|d| wit::Discounted {
                    rule_id: d.rule_id,
                    reason: d.reason,
                    start: d.start,
                    end: d.end,
                })
                .collect(),
        }
    }
}

fn severity_to(s: model::Severity) -> wit::Severity {
    match s {
        model::Severity::None => wit::Severity::None,
        model::Severity::Low => wit::Severity::Low,
        model::Severity::Moderate => wit::Severity::Moderate,
        model::Severity::High => wit::Severity::High,
        model::Severity::Imminent => wit::Severity::Imminent,
    }
}

fn category_to(c: model::Category) -> wit::Category {
    match c {
        model::Category::Suicide => wit::Category::Suicide,
        model::Category::SelfHarm => wit::Category::SelfHarm,
        model::Category::Violence => wit::Category::Violence,
        model::Category::Abuse => wit::Category::Abuse,
    }
}

bindings::export!(Component with_types_in bindings);
