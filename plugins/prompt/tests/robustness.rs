//! No input makes the builder panic, and every request keeps the shape LLM APIs need.

use jules_policy_model::{
    AgeStatus, Assessment, Category, Inbound, LlmRequest, MemoryFact, Role, Severity, Turn,
    UserContext,
};
use jules_prompt::Builder;

const CONFIG: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../policies/prompt/config.json"
));

fn nasty() -> Vec<String> {
    let mut texts: Vec<String> = [
        "",
        " ",
        "\0",
        "\0\0\n\0",
        "\u{200F}\u{202E}hello\u{202C}",
        "\u{FEFF}",
        "👨\u{200D}👩\u{200D}👧\u{200D}👦",
        "🇺🇸",
        "e\u{301}\u{301}",
        "\u{10FFFF}",
        "\r\n",
        "{key}{value}",
        "مرحبا \u{200F}كيف حالك",
        "\u{2028}\u{2029}",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    texts.push("a".repeat(10_000));
    texts.push("😊".repeat(2_500));
    texts.push("\u{200D}".repeat(3_000));
    texts.push("\n".repeat(10_000));
    texts
}

/// Alternates person/assistant, starts and ends with the person, no empty message.
fn well_formed(r: &LlmRequest) -> bool {
    !r.messages.is_empty()
        && r.messages.iter().enumerate().all(|(i, m)| {
            m.role
                == if i % 2 == 0 {
                    Role::User
                } else {
                    Role::Assistant
                }
                && !m.content.trim().is_empty()
        })
        && r.messages.last().is_some_and(|m| m.role == Role::User)
        && r.temperature.is_finite()
        && r.max_tokens > 0
}

#[test]
fn nasty_inputs_do_not_panic() {
    let builder = Builder::from_config_json(CONFIG).unwrap();
    let texts = nasty();
    let severities = [
        Severity::None,
        Severity::Low,
        Severity::Moderate,
        Severity::High,
        Severity::Imminent,
    ];
    for (i, text) in texts.iter().enumerate() {
        let recent: Vec<Turn> = texts
            .iter()
            .enumerate()
            .map(|(j, t)| Turn {
                role: if (i + j) % 3 == 0 {
                    Role::Assistant
                } else {
                    Role::User
                },
                text: t.clone(),
                at: i64::MIN + j as i64,
            })
            .collect();
        let facts: Vec<MemoryFact> = texts
            .iter()
            .map(|t| MemoryFact {
                key: t.clone(),
                value: t.clone(),
            })
            .collect();
        let user = UserContext {
            age: if i % 2 == 0 {
                AgeStatus::Minor
            } else {
                AgeStatus::Child
            },
            locale: text.clone(),
            ..UserContext::default()
        };
        let crisis = Assessment {
            severity: severities[i % severities.len()],
            categories: Category::ALL.to_vec(),
            ..Assessment::default()
        };
        for received_at in [i64::MIN, 0, i64::MAX] {
            let message = Inbound {
                text: text.clone(),
                received_at,
            };
            let r = builder.build(&message, &user, &recent, &facts, &crisis);
            assert!(well_formed(&r), "malformed request for text #{i}");
            let history: usize = r.messages.iter().map(|m| m.content.chars().count()).sum();
            // History budget, one clipped current message, and the joins.
            assert!(
                history <= 4000 + 2000 + 64,
                "history of {history} characters"
            );
            assert!(r.system.chars().count() < 20_000, "system prompt too long");
        }
    }
}

#[test]
fn every_severity_at_or_above_threshold_is_crisis_mode() {
    let builder = Builder::from_config_json(CONFIG).unwrap();
    let message = Inbound {
        text: "hi".into(),
        received_at: 0,
    };
    for (severity, crisis) in [
        (Severity::None, false),
        (Severity::Low, false),
        (Severity::Moderate, true),
        (Severity::High, true),
        (Severity::Imminent, true),
    ] {
        let a = Assessment {
            severity,
            ..Assessment::default()
        };
        let r = builder.build(&message, &UserContext::default(), &[], &[], &a);
        assert_eq!(r.crisis_mode, crisis, "{severity:?}");
        assert_eq!(r.system.contains("741741"), crisis, "{severity:?}");
        if crisis {
            assert!(r.temperature <= 0.3 + f32::EPSILON);
        }
    }
}
