//! The corpus format: what parses, what is refused (with the line), how outputs are judged.

use jules_policy_corpus::{Output, check, parse};
use jules_policy_model::{
    Action, Assessment, Category, ChatMessage, Decision, LlmRequest, Role, Severity, World,
};

#[test]
fn every_bad_line_is_reported_with_its_number() {
    let corpus = concat!(
        "// a comment\n",
        "\n",
        "{\"id\":\"a\",\"text\":\"hi\",\"expect\":{\"severity\":\"none\"}}\n",
        "{\"id\":\"a\",\"text\":\"dup\",\"expect\":{\"severity\":\"none\"}}\n",
        "{\"id\":\"b\",\"text\":\"hi\",\"expct\":{}}\n",
        "{\"id\":\"c\",\"kind\":\"shape\",\"reply\":\"x\",\"expect\":{}}\n",
        "{\"id\":\"d\",\"expect\":{\"severity\":\"none\"}}\n",
        "{\"id\":\"e\",\"text\":\"x\",\"expect\":{\"severity\":\"dire\"}}\n",
    );
    let errors = parse(World::CrisisDetector, corpus).expect_err("refused");
    let lines: Vec<usize> = errors.iter().map(|e| e.line).collect();
    assert_eq!(lines, vec![4, 5, 6, 7, 8], "{errors:?}");
    assert!(errors[0].message.contains("duplicate fixture id `a`"));
    assert!(errors[1].message.contains("expct"), "{}", errors[1].message);
    assert!(
        errors[2]
            .message
            .contains("does not apply to a crisis-detector")
    );
    assert!(errors[3].message.contains("needs `text`"));
    assert!(errors[4].message.contains("dire"), "{}", errors[4].message);
}

fn assessment(severity: Severity, categories: Vec<Category>) -> Output {
    Output::Assessment(Assessment {
        severity,
        categories,
        ..Default::default()
    })
}

#[test]
fn crisis_fixtures_need_the_exact_severity_and_category_set() {
    let f = parse(
        World::CrisisDetector,
        "{\"id\":\"x\",\"text\":\"t\",\"expect\":{\"severity\":\"high\",\"categories\":[\"suicide\",\"self-harm\"]}}",
    )
    .unwrap();
    let case = &f[0].case;
    let both = vec![Category::SelfHarm, Category::Suicide];
    assert!(check(case, &assessment(Severity::High, both.clone())).passed());
    let v = check(case, &assessment(Severity::Moderate, both));
    assert_eq!(v.failures, vec!["severity: expected high, got moderate"]);
    let v = check(case, &assessment(Severity::High, vec![Category::Suicide]));
    assert_eq!(v.failures.len(), 1);
    assert!(v.failures[0].starts_with("categories:"));
    assert!(v.expected.contains("self-harm") && !v.got.contains("self-harm"));
}

#[test]
fn compliance_actions_are_compared_in_order() {
    let f = parse(
        World::CompliancePolicy,
        "{\"id\":\"x\",\"text\":\"STOP\",\"expect\":{\"actions\":[\"disclosure-due\",\"call-llm\"]}}",
    )
    .unwrap();
    let right = Output::Decision(Decision {
        actions: vec![Action::DisclosureDue, Action::CallLlm],
    });
    let swapped = Output::Decision(Decision {
        actions: vec![Action::CallLlm, Action::DisclosureDue],
    });
    assert!(check(&f[0].case, &right).passed());
    assert!(!check(&f[0].case, &swapped).passed());
}

#[test]
fn prompt_properties_are_checked() {
    let f = parse(
        World::PromptBuilder,
        "{\"id\":\"x\",\"text\":\"hi\",\"expect\":{\"crisis-mode\":true,\"system-contains\":[\"988\"],\"alternating\":true,\"last-message\":\"hi\"}}",
    )
    .unwrap();
    let msg = |role, content: &str| ChatMessage {
        role,
        content: content.into(),
    };
    let good = LlmRequest {
        system: "call or text 988".into(),
        messages: vec![
            msg(Role::User, "a"),
            msg(Role::Assistant, "b"),
            msg(Role::User, "hi"),
        ],
        max_tokens: 300,
        temperature: 0.5,
        crisis_mode: true,
    };
    assert!(check(&f[0].case, &Output::Request(good.clone())).passed());
    let bad = LlmRequest {
        system: "no number".into(),
        messages: vec![msg(Role::User, "a"), msg(Role::User, "hi")],
        crisis_mode: false,
        ..good
    };
    let v = check(&f[0].case, &Output::Request(bad));
    assert_eq!(v.failures.len(), 3, "{:?}", v.failures);
}
