//! The policy refuses configurations that would break the rules it keeps, and says
//! which setting is wrong.

use jules_compliance::Policy;
use serde_json::{Value, json};

const CONFIG: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../policies/compliance/config.json"
));

fn bundled() -> Value {
    serde_json::from_str(CONFIG).unwrap()
}

/// Load the bundled config with one edit, expecting a refusal naming `setting`.
fn refused(edit: impl FnOnce(&mut Value), setting: &str) {
    let mut config = bundled();
    edit(&mut config);
    let err = Policy::from_config_json(&config.to_string()).expect_err(setting);
    assert!(
        err.contains(setting),
        "error {err:?} does not name {setting:?}"
    );
}

#[test]
fn bundled_config_loads() {
    Policy::from_config_json(CONFIG).unwrap();
}

#[test]
fn not_json_or_unknown_fields() {
    assert!(Policy::from_config_json("").is_err());
    assert!(Policy::from_config_json("[]").is_err());
    refused(|c| c["colour"] = json!("blue"), "colour");
    refused(|c| c["texts"]["halp"] = json!("x"), "halp");
    refused(|c| c["keywords"]["opt-outt"] = json!([]), "opt-outt");
    refused(
        |c| {
            c.as_object_mut().unwrap().remove("texts");
        },
        "texts",
    );
    refused(|c| c["max-segments"] = json!(-1), "`max-segments`");
    refused(|c| c["texts"]["help"] = json!(7), "`texts.help`");
    refused(
        |c| c["keywords"]["opt-in"] = json!(["START", 3]),
        "`keywords.opt-in[1]`",
    );
    refused(
        |c| {
            c["texts"].as_object_mut().unwrap().remove("help");
        },
        "missing field `help`",
    );
}

#[test]
fn limits() {
    refused(|c| c["max-segments"] = json!(0), "max-segments");
    refused(|c| c["max-segments"] = json!(11), "max-segments");
    refused(
        |c| c["disclosure-interval-ms"] = json!(10_800_001),
        "disclosure-interval-ms",
    );
    refused(
        |c| c["disclosure-interval-ms"] = json!(0),
        "disclosure-interval-ms",
    );
    refused(|c| c["free-daily-limit"] = json!(0), "free-daily-limit");
    refused(|c| c["program-name"] = json!("  "), "program-name");
    refused(|c| c["support-contact"] = json!(""), "support-contact");
}

#[test]
fn keywords() {
    refused(|c| c["keywords"]["opt-out"] = json!([]), "keywords.opt-out");
    refused(|c| c["keywords"]["help"] = json!([]), "keywords.help");
    refused(
        |c| c["keywords"]["opt-in"] = json!(["START", "stop"]),
        "keywords.opt-in",
    );
    refused(
        |c| c["keywords"]["help"] = json!(["HELP", ""]),
        "keywords.help",
    );
    refused(
        |c| c["keywords"]["help"] = json!(["what's up"]),
        "keywords.help",
    );
}

#[test]
fn texts() {
    refused(
        |c| c["texts"]["help"] = json!("Reply STOP to opt out. Msg&data rates may apply."),
        "texts.help",
    );
    refused(
        |c| c["texts"]["help"] = json!("{program}: {support}. Reply STOP to opt out."),
        "texts.help",
    );
    refused(
        |c| c["texts"]["help"] = json!("{program}: {support}. Msg&data rates may apply."),
        "texts.help",
    );
    refused(
        |c| c["texts"]["daily-limit"] = json!("{programme} limit"),
        "texts.daily-limit",
    );
    refused(
        |c| c["texts"]["opt-out-confirmation"] = json!(" "),
        "texts.opt-out-confirmation",
    );
    refused(
        |c| c["texts"]["age-declined"] = json!("x".repeat(700)),
        "texts.age-declined",
    );
    refused(
        |c| c["texts"]["disclosure"] = json!("Jules here — an AI. "),
        "texts.disclosure",
    );
    // Fits as GSM-7 with "...", but not in front of a UCS-2 reply with "…".
    refused(
        |c| c["texts"]["disclosure"] = json!("d".repeat(300)),
        "texts.disclosure",
    );
}

#[test]
fn substitutions() {
    refused(
        |c| c["gsm-substitutions"] = json!({"ab": "x"}),
        "gsm-substitutions",
    );
    refused(
        |c| c["gsm-substitutions"] = json!({"a": "x"}),
        "gsm-substitutions",
    );
    refused(
        |c| c["gsm-substitutions"] = json!({"’": "’"}),
        "gsm-substitutions",
    );
}

#[test]
fn defaults_apply() {
    let mut config = bundled();
    let object = config.as_object_mut().unwrap();
    for key in [
        "require-age-verification",
        "disclosure-interval-ms",
        "max-segments",
        "gsm-substitutions",
    ] {
        object.remove(key);
    }
    let policy = Policy::from_config_json(&config.to_string()).unwrap();
    let out = policy.shape(&"a".repeat(2000), false);
    assert_eq!(out.segments, 4);
    let user = jules_policy_model::UserContext {
        age: jules_policy_model::AgeStatus::Unknown,
        ..Default::default()
    };
    let message = jules_policy_model::Inbound {
        text: "hi".into(),
        received_at: 0,
    };
    let names: Vec<&str> = policy
        .evaluate(&message, &user)
        .actions
        .iter()
        .map(|a| a.name())
        .collect();
    assert_eq!(names, ["disclosure-due", "require-age-verification"]);
}

#[test]
fn broken_json_is_refused_without_panic() {
    for (end, _) in CONFIG.char_indices().step_by(7) {
        assert!(Policy::from_config_json(&CONFIG[..end]).is_err());
    }
    for junk in ["\0", "{\"a\":\"\\", "{\"texts\": \"\\u00", "null", "1e999"] {
        assert!(Policy::from_config_json(junk).is_err());
    }
    assert!(Policy::from_config_json(&"[".repeat(10_000)).is_err());
}

#[test]
fn account_words_are_recognised_whole_and_kept_apart_from_the_law() {
    use jules_compliance::AccountRequest;
    let policy = Policy::from_config_json(CONFIG).unwrap();
    assert_eq!(
        policy.account_request("Delete my data."),
        Some(AccountRequest::Erase)
    );
    assert_eq!(
        policy.account_request("borrar mis datos"),
        Some(AccountRequest::Erase)
    );
    assert_eq!(
        policy.account_request("confirm-delete"),
        Some(AccountRequest::EraseConfirm)
    );
    assert_eq!(policy.account_request("please delete my data now"), None);
    assert_eq!(
        policy.account_request("Upgrade!"),
        Some(AccountRequest::Upgrade)
    );
    assert_eq!(
        policy.account_request("cancel plan"),
        Some(AccountRequest::ManagePlan)
    );
    assert_eq!(
        policy.account_request("CANCEL"),
        None,
        "the law's opt-out word"
    );
    assert_eq!(policy.account_request("STOP"), None);
    assert_eq!(policy.erase_confirm_word(), Some("CONFIRM DELETE"));
    // An erasure must be confirmable, and an account word cannot also be a law's word.
    refused(
        |c| c["keywords"]["erase-confirm"] = json!([]),
        "keywords.erase-confirm",
    );
    refused(
        |c| c["keywords"]["erase"] = json!(["STOP"]),
        "keywords.erase",
    );
    // Without account words nothing is an account request.
    let mut config = bundled();
    config["keywords"].as_object_mut().unwrap().remove("erase");
    config["keywords"]
        .as_object_mut()
        .unwrap()
        .remove("erase-confirm");
    let bare = Policy::from_config_json(&config.to_string()).unwrap();
    assert_eq!(bare.account_request("DELETE MY DATA"), None);
}
