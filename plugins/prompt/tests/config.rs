//! The builder refuses configurations that would weaken crisis care or break the
//! request, and says which setting is wrong.

use jules_prompt::Builder;
use serde_json::{Value, json};

const CONFIG: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../policies/prompt/config.json"
));

fn bundled() -> Value {
    serde_json::from_str(CONFIG).unwrap()
}

/// Load the bundled config with one edit, expecting a refusal naming `setting`.
fn refused(edit: impl FnOnce(&mut Value), setting: &str) {
    let mut config = bundled();
    edit(&mut config);
    let err = Builder::from_config_json(&config.to_string()).expect_err(setting);
    assert!(
        err.contains(setting),
        "error {err:?} does not name {setting:?}"
    );
}

#[test]
fn bundled_config_loads() {
    Builder::from_config_json(CONFIG).unwrap();
}

#[test]
fn not_json_or_unknown_fields() {
    assert!(Builder::from_config_json("{").is_err());
    refused(|c| c["temperature"] = json!(1), "temperature");
    refused(|c| c["crisis"]["treshold"] = json!("low"), "treshold");
    refused(|c| c["generation"]["normal"]["top-p"] = json!(1), "top-p");
    refused(
        |c| c["crisis"]["categories"]["sadness"] = json!("x"),
        "sadness",
    );
    refused(
        |c| c["crisis"]["threshold"] = json!("severe"),
        "`crisis.threshold`",
    );
    refused(
        |c| c["generation"]["crisis"]["temperature"] = json!("low"),
        "`generation.crisis.temperature`",
    );
    refused(|c| c["persona"] = json!(["ok", null]), "`persona[1]`");
}

#[test]
fn crisis_care() {
    refused(
        |c| c["crisis"]["threshold"] = json!("none"),
        "crisis.threshold",
    );
    refused(
        |c| c["crisis"]["instructions"] = json!(["Be kind."]),
        "crisis.instructions",
    );
    refused(
        |c| c["crisis"]["instructions"] = json!([" "]),
        "crisis.instructions",
    );
    refused(|c| c["crisis"]["check-in"] = json!(""), "crisis.check-in");
    refused(
        |c| c["crisis"]["categories"]["abuse"] = json!(" "),
        "crisis.categories.abuse",
    );
    refused(
        |c| c["generation"]["crisis"]["temperature"] = json!(1.5),
        "generation.crisis.temperature",
    );
}

#[test]
fn bounds() {
    refused(|c| c["persona"] = json!([]), "persona");
    refused(
        |c| c["generation"]["normal"]["max-tokens"] = json!(0),
        "generation.normal.max-tokens",
    );
    refused(
        |c| c["generation"]["crisis"]["max-tokens"] = json!(100_000),
        "generation.crisis.max-tokens",
    );
    refused(
        |c| c["generation"]["normal"]["temperature"] = json!(2.5),
        "generation.normal.temperature",
    );
    refused(
        |c| c["generation"]["normal"]["temperature"] = json!(-0.1),
        "generation.normal.temperature",
    );
    refused(
        |c| c["history"]["max-turns"] = json!(1000),
        "history.max-turns",
    );
    refused(
        |c| c["history"]["max-turn-chars"] = json!(0),
        "history.max-turn-chars",
    );
    refused(|c| c["max-message-chars"] = json!(0), "max-message-chars");
    refused(|c| c["empty-message"] = json!(""), "empty-message");
    refused(|c| c["facts"]["max-facts"] = json!(1000), "facts.max-facts");
    refused(|c| c["facts"]["line"] = json!("- {key}"), "facts.line");
    refused(
        |c| c["facts"]["line"] = json!("- {value} ({when})"),
        "facts.line",
    );
    refused(|c| c["facts"]["heading"] = json!(""), "facts.heading");
    refused(
        |c| c["locales"][0]["prefix"] = json!("e s"),
        "locales[0].prefix",
    );
    refused(|c| c["locales"][0]["line"] = json!(""), "locales[0].line");
    refused(|c| c["minor-line"] = json!(""), "minor-line");
}

#[test]
fn threshold_defaults_to_moderate() {
    let mut config = bundled();
    config["crisis"]
        .as_object_mut()
        .unwrap()
        .remove("threshold");
    let builder = Builder::from_config_json(&config.to_string()).unwrap();
    let message = jules_policy_model::Inbound {
        text: "hi".into(),
        received_at: 0,
    };
    let user = jules_policy_model::UserContext::default();
    let crisis = |severity| jules_policy_model::Assessment {
        severity,
        ..Default::default()
    };
    use jules_policy_model::Severity::{Low, Moderate};
    assert!(
        !builder
            .build(&message, &user, &[], &[], &crisis(Low))
            .crisis_mode
    );
    assert!(
        builder
            .build(&message, &user, &[], &[], &crisis(Moderate))
            .crisis_mode
    );
}

#[test]
fn broken_json_is_refused_without_panic() {
    for (end, _) in CONFIG.char_indices().step_by(7) {
        assert!(Builder::from_config_json(&CONFIG[..end]).is_err());
    }
    for junk in ["\0", "{\"a\":\"\\", "{\"texts\": \"\\u00", "null", "1e999"] {
        assert!(Builder::from_config_json(junk).is_err());
    }
    assert!(Builder::from_config_json(&"[".repeat(10_000)).is_err());
}
