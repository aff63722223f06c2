//! The escalation response in a bundle's config: what the host sends, and from which
//! severity.

use jules_crisis::Detector;
use jules_policy_model::Severity;

const SHIPPED: &str = include_str!("../../../policies/crisis/config.json");

fn with_response(response: &str) -> String {
    let mut v: serde_json::Value = serde_json::from_str(SHIPPED).unwrap();
    v["response"] = serde_json::from_str(response).unwrap();
    v.to_string()
}

#[test]
fn the_shipped_bundle_escalates_at_moderate_with_resources_in_two_languages() {
    let d = Detector::from_config_json(SHIPPED).unwrap();
    let r = d.response();
    assert_eq!(r.escalate_at, Severity::Moderate);
    for lang in ["en", "es"] {
        let text = &r.resources[lang];
        assert!(
            text.contains("988") && text.contains("741741") && text.contains("911"),
            "{text}"
        );
    }
}

#[test]
fn resources_without_the_lifelines_are_refused_by_name() {
    let config = with_response(
        r#"{"escalate-at": "high", "resources": {"en": "Call 911 or text 741741."}}"#,
    );
    let err = Detector::from_config_json(&config).unwrap_err();
    assert!(
        err.contains("response.resources.en") && err.contains("988"),
        "{err}"
    );
    let config = with_response(r#"{"escalate-at": "high", "resources": {"es": "988 741741 911"}}"#);
    let err = Detector::from_config_json(&config).unwrap_err();
    assert!(err.contains("`en`"), "{err}");
    let config = with_response(r#"{"escalate-at": "none", "resources": {"en": "988 741741 911"}}"#);
    assert!(
        Detector::from_config_json(&config)
            .unwrap_err()
            .contains("escalate-at")
    );
}

#[test]
fn a_config_without_a_response_gets_the_default() {
    let mut v: serde_json::Value = serde_json::from_str(SHIPPED).unwrap();
    v.as_object_mut().unwrap().remove("response");
    let d = Detector::from_config_json(&v.to_string()).unwrap();
    assert_eq!(d.response().escalate_at, Severity::Moderate);
    assert!(d.response().resources["en"].contains("988"));
}
