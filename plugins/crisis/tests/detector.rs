//! The public API: configuration refusals, spans into the original text, ordering,
//! and no panic on hostile input.

use jules_crisis::Detector;
use jules_policy_model::{Assessment, Category, Inbound, Role, Severity, Turn, UserContext};

const RECEIVED_AT: i64 = 1_767_268_800_000;

fn shipped() -> Detector {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../policies/crisis/config.json"
    );
    let json = std::fs::read_to_string(path).expect("config.json is readable");
    Detector::from_config_json(&json).expect("the shipped config loads")
}

fn assess(d: &Detector, text: &str, recent: &[Turn]) -> Assessment {
    let message = Inbound {
        text: text.to_string(),
        received_at: RECEIVED_AT,
    };
    let a = d.assess(&message, &UserContext::default(), recent);
    assert_spans_valid(text, &a);
    a
}

fn assert_spans_valid(text: &str, a: &Assessment) {
    let spans = a
        .evidence
        .iter()
        .map(|e| (e.start, e.end))
        .chain(a.discounted.iter().map(|d| (d.start, d.end)));
    for (s, e) in spans {
        assert!(s <= e, "{text:?}: span {s}..{e} is reversed");
        assert!(
            text.get(s as usize..e as usize).is_some(),
            "{text:?}: span {s}..{e} is not on char boundaries inside the text"
        );
    }
    if a.severity == Severity::None {
        assert!(
            a.categories.is_empty() && a.evidence.is_empty(),
            "{text:?}: none with findings"
        );
    }
}

fn evidence_text<'a>(text: &'a str, a: &Assessment, rule: &str) -> &'a str {
    let e = a
        .evidence
        .iter()
        .find(|e| e.rule_id == rule)
        .unwrap_or_else(|| panic!("no evidence from {rule}: {a:?}"));
    &text[e.start as usize..e.end as usize]
}

/// A small valid configuration; tests break one setting at a time.
fn minimal() -> serde_json::Value {
    serde_json::json!({
        "version": 1,
        "aliases": { "kms": "kill myself" },
        "rules": [
            { "id": "suicide.kill-myself", "category": "suicide", "severity": "moderate",
              "patterns": ["(want to |)kill myself"] },
            { "id": "violence.kill-him", "category": "violence", "severity": "moderate",
              "patterns": ["kill him"] }
        ],
        "escalators": [
            { "id": "time.soon", "kind": "time", "alone": true, "patterns": ["tonight"] }
        ],
        "guards": [
            { "id": "negation", "scope": "before", "window": 1, "patterns": ["not", "never"],
              "except": ["not ok"] }
        ]
    })
}

fn refusal(edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut v = minimal();
    edit(&mut v);
    Detector::from_config_json(&v.to_string()).expect_err("the config must be refused")
}

#[test]
fn minimal_config_works() {
    let d = Detector::from_config_json(&minimal().to_string()).unwrap();
    let a = assess(&d, "kms tonight", &[]);
    assert_eq!(a.severity, Severity::High);
    assert_eq!(a.categories, [Category::Suicide]);
    let a = assess(&d, "i would never kill myself", &[]);
    assert_eq!(a.severity, Severity::None);
    assert_eq!(a.discounted.len(), 1);
    assert_eq!(a.discounted[0].reason, "negation");
}

#[test]
fn refusals_name_the_setting() {
    let cases: Vec<(String, &str)> = vec![
        (
            refusal(|v| v["rules"][1]["patterns"] = serde_json::json!([])),
            "rules[1].patterns: empty",
        ),
        (
            refusal(|v| v["rules"][0]["patterns"][0] = "  ".into()),
            "rules[0].patterns[0]: empty",
        ),
        (
            refusal(|v| v["rules"][0]["patterns"][0] = "(a|b".into()),
            "rules[0].patterns[0]: unclosed `(`",
        ),
        (
            refusal(|v| v["rules"][0]["patterns"][0] = "!!!".into()),
            "rules[0].patterns[0]: `!!!` has no words",
        ),
        (
            refusal(|v| v["rules"][1]["category"] = "suicde".into()),
            "rules[1]: unknown variant `suicde`",
        ),
        (
            refusal(|v| v["rules"][1]["severity"] = "none".into()),
            "rules[1].severity: a rule must be low or higher",
        ),
        (
            refusal(|v| v["rules"][1]["id"] = "suicide.kill-myself".into()),
            "rules[1].id: duplicate id `suicide.kill-myself` (also rules[0])",
        ),
        (
            refusal(|v| v["rules"][0]["id"] = "Bad Id".into()),
            "rules[0].id: `Bad Id` must be",
        ),
        (
            refusal(|v| v["rules"][0]["id"] = "context.x".into()),
            "rules[0].id: `context.x`: ids starting with `context.` are reserved",
        ),
        (
            refusal(|v| v["rules"] = serde_json::json!([])),
            "rules: empty",
        ),
        (
            refusal(|v| v["extra"] = 1.into()),
            "config: unknown field `extra`",
        ),
        (
            refusal(|v| v["rules"][0]["weight"] = 1.into()),
            "rules[0]: unknown field `weight`",
        ),
        (
            refusal(|v| v["guards"][0]["scope"] = "nearby".into()),
            "guards[0]: unknown variant `nearby`",
        ),
        (
            refusal(|v| {
                v["guards"][0]
                    .as_object_mut()
                    .unwrap()
                    .remove("window")
                    .map_or((), |_| ())
            }),
            "guards[0].window: required for this scope",
        ),
        (
            refusal(|v| v["guards"][0]["window"] = 99.into()),
            "guards[0].window: 99 is over 8 words",
        ),
        (
            refusal(|v| v["guards"][0]["only-rules"] = serde_json::json!(["nope"])),
            "guards[0].only-rules: unknown rule `nope`",
        ),
        (
            refusal(|v| v["guards"][0]["except"] = serde_json::json!([""])),
            "guards[0].except[0]: empty",
        ),
        (
            refusal(|v| v["escalators"][0]["kind"] = "mood".into()),
            "escalators[0]: unknown variant `mood`",
        ),
        (
            refusal(|v| v["escalators"][0]["kind"] = "means".into()),
            "escalators[0].alone: plan and means words always raise",
        ),
        (
            refusal(|v| v["aliases"]["..."] = "x".into()),
            "aliases[\"...\"]: the phrase has no words",
        ),
        (
            refusal(|v| v["version"] = 2.into()),
            "version: 2 is not supported",
        ),
        (
            refusal(|v| v["context"] = serde_json::json!({"max-turns": 6})),
            "context: missing field `max-age-minutes`",
        ),
    ];
    for (got, want) in cases {
        assert!(
            got.starts_with(want),
            "expected an error starting with {want:?}, got {got:?}"
        );
    }
    assert!(
        Detector::from_config_json("{")
            .unwrap_err()
            .starts_with("config: ")
    );
    assert!(Detector::from_config_json("").is_err());
}

#[test]
fn evidence_points_into_the_original_text() {
    let d = shipped();
    let text = "Ugh 😭 I want to K\u{200B}ILL   mys3lf!!";
    let a = assess(&d, text, &[]);
    assert_eq!(
        evidence_text(text, &a, "suicide.kill-myself"),
        "want to K\u{200B}ILL   mys3lf"
    );

    let text = "\u{202E}me quiero suicidár esta noche";
    let a = assess(&d, text, &[]);
    assert_eq!(
        evidence_text(text, &a, "suicide.kill-myself"),
        "me quiero suicidár"
    );
    assert_eq!(evidence_text(text, &a, "time.soon"), "esta noche");
    assert_eq!(a.severity, Severity::High);

    let text = "honestly KMS fr";
    let a = assess(&d, text, &[]);
    assert_eq!(evidence_text(text, &a, "suicide.kill-myself"), "KMS");

    let text = "i want to k i l l myself";
    let a = assess(&d, text, &[]);
    assert_eq!(
        evidence_text(text, &a, "suicide.kill-myself"),
        "want to k i l l myself"
    );
}

#[test]
fn findings_are_ordered() {
    let d = shipped();
    let text = "my dad hits me and i want to kill myself tonight";
    let a = assess(&d, text, &[]);
    assert_eq!(a.categories, [Category::Suicide, Category::Abuse]);
    assert_eq!(a.severity, Severity::High);
    let starts: Vec<u32> = a.evidence.iter().map(|e| e.start).collect();
    assert!(starts.windows(2).all(|w| w[0] <= w[1]), "{starts:?}");

    // Equal severities fall back to the enum order.
    let a = assess(&d, "he hits me and i want to die", &[]);
    assert_eq!(a.categories, [Category::Suicide, Category::Abuse]);

    let a = assess(&d, "i dont want to die and i would never hurt myself", &[]);
    assert_eq!(a.severity, Severity::None);
    let starts: Vec<u32> = a.discounted.iter().map(|e| e.start).collect();
    assert!(
        starts.len() >= 2 && starts.windows(2).all(|w| w[0] <= w[1]),
        "{a:?}"
    );
}

#[test]
fn context_turns_escalate_only_what_is_in_the_message() {
    let d = shipped();
    let earlier = |text: &str, minutes: i64| Turn {
        role: Role::User,
        text: text.into(),
        at: RECEIVED_AT - minutes * 60_000,
    };
    let a = assess(&d, "tonight.", &[earlier("i want to end it all", 30)]);
    assert_eq!(a.severity, Severity::High);
    assert_eq!(a.evidence.len(), 1);
    assert_eq!(a.evidence[0].rule_id, "context.time-after-suicide");
    assert_eq!((a.evidence[0].start, a.evidence[0].end), (0, 7));

    assert_eq!(
        assess(&d, "tonight.", &[earlier("i want to end it all", 180)]).severity,
        Severity::None
    );
    let assistant = Turn {
        role: Role::Assistant,
        ..earlier("i want to end it all", 5)
    };
    assert_eq!(
        assess(&d, "tonight.", &[assistant]).severity,
        Severity::None
    );
    // A turn stamped later than the message (clock skew) still counts.
    assert_eq!(
        assess(&d, "tonight", &[earlier("i want to die", -1)]).severity,
        Severity::High
    );
    let at = |at: i64| Turn {
        at,
        ..earlier("i want to die", 0)
    };
    assert_eq!(
        assess(&d, "tonight", &[at(i64::MAX)]).severity,
        Severity::High
    );
    assert_eq!(
        assess(&d, "tonight", &[at(i64::MIN)]).severity,
        Severity::None
    );
}

/// Deterministic pseudo-random text over characters that stress normalization.
fn noise(seed: &mut u64, len: usize) -> String {
    const PIECES: &[&str] = &[
        "k",
        "i",
        "l",
        "m",
        "y",
        "s",
        "e",
        "f",
        " ",
        " ",
        ".",
        "!",
        "|",
        "$",
        "@",
        "1",
        "3",
        "0",
        "4",
        "5",
        "7",
        "9",
        "\u{0301}",
        "\u{0308}",
        "\u{200B}",
        "\u{200D}",
        "\u{200F}",
        "\u{202E}",
        "\u{2066}",
        "\u{FEFF}",
        "\u{FE0F}",
        "😭",
        "👩\u{200D}👩\u{200D}👧",
        "🏽",
        "é",
        "ñ",
        "İ",
        "ß",
        "ｋ",
        "і",
        "\0",
        "\n",
        "'",
        "’",
        "kill myself",
        "want to die",
        "not ",
        "tonight",
        "pills",
        "me quiero morir",
        "no ",
        "#",
        "(",
        ")",
        "*",
        "\u{10FFFF}",
    ];
    let mut out = String::new();
    for _ in 0..len {
        *seed = seed
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        out.push_str(PIECES[(*seed >> 33) as usize % PIECES.len()]);
    }
    out
}

#[test]
fn hostile_input_never_panics_and_spans_stay_valid() {
    let d = shipped();
    let long_crisis = "i want to kill myself tonight ".repeat(350);
    let mut fixed: Vec<String> = vec![
        String::new(),
        " ".into(),
        "\0".into(),
        "\0i want to die\0".into(),
        "a".repeat(10_240),
        "😭".repeat(2_600),
        "\u{0301}".into(),
        "\u{0301}\u{0301}kill myself".into(),
        "\u{200F}\u{200F}\u{202E}".into(),
        "👩\u{200D}👩\u{200D}👧\u{200D}👦 i want to die 🏳\u{FE0F}\u{200D}🌈".into(),
        "k\u{200D}i\u{200D}l\u{200D}l myself".into(),
        "İSTANBUL'DA ÖLMEK İSTİYORUM".into(),
        "ﷺ ﷽ 𒐫 ꧅".into(),
        "1!|$@7 4 5 0 3 ! | $ @".into(),
        "((((|)))) ** ## ..".into(),
        long_crisis,
        "k i l l ".repeat(2_000),
    ];
    let mut seed = 7u64;
    for round in 0..1_500 {
        fixed.push(noise(&mut seed, 1 + round % 60));
    }
    let recent: Vec<Turn> = fixed
        .iter()
        .take(8)
        .map(|t| Turn {
            role: Role::User,
            text: t.clone(),
            at: RECEIVED_AT,
        })
        .collect();
    for text in &fixed {
        assess(&d, text, &[]);
        assess(&d, text, &recent);
    }
}

#[test]
fn long_repetitive_messages_report_bounded_evidence() {
    let d = jules_crisis::Detector::from_config_json(
        &std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../policies/crisis/config.json"
        ))
        .unwrap(),
    )
    .unwrap();
    let text = "i want to die and he hits me ".repeat(400);
    let m = jules_policy_model::Inbound {
        text,
        received_at: 0,
    };
    let a = d.assess(&m, &Default::default(), &[]);
    assert!(a.evidence.len() <= jules_crisis::MAX_EVIDENCE);
    assert!(a.discounted.len() <= jules_crisis::MAX_EVIDENCE);
    for c in &a.categories {
        assert!(
            a.evidence.iter().any(|e| e.category == *c),
            "{c:?} kept its evidence"
        );
    }
    assert!(a.categories.len() >= 2, "{:?}", a.categories);
    assert!(
        a.evidence.windows(2).all(|w| w[0].start <= w[1].start),
        "text order"
    );
}
