//! The model inside the detector, with hand-set weights: where its findings count,
//! what they are worth, and the configurations it refuses.

use base64::Engine;
use jules_policy_model::{Assessment, Category, Inbound, Role, Severity, Turn, UserContext};
use serde_json::{Value, json};

use super::{HEADS, features};
use crate::Detector;
use crate::normalize::{Aliases, normalize};

const AT: i64 = 1_767_268_800_000;
const LOG2: u8 = 16;

fn rules() -> Value {
    json!({
        "version": 1,
        "rules": [
            { "id": "suicide.kill-myself", "category": "suicide", "severity": "moderate", "patterns": ["kill myself"] }
        ],
        "escalators": [
            { "id": "time.soon", "kind": "time", "alone": true, "patterns": ["tonight"] },
            { "id": "act.farewell", "kind": "act", "categories": ["suicide"], "patterns": ["this is it"] }
        ],
        "guards": [
            { "id": "media", "scope": "message", "patterns": ["movie"] }
        ]
    })
}

/// The bucket of a one-word feature.
fn bucket(word: &str) -> usize {
    features(&normalize(word, &Aliases::default()), 0, LOG2)[0].bucket as usize
}

/// A model whose heads give `weight` to each word listed for them, thresholds 50.
fn model(words: &[(&str, usize, i8)]) -> Value {
    let mut heads = serde_json::Map::new();
    for (k, name) in HEADS.iter().enumerate() {
        let mut w = vec![0u8; 1 << LOG2];
        for &(word, head, weight) in words {
            if head == k {
                w[bucket(word)] = weight as u8;
            }
        }
        let weights = base64::engine::general_purpose::STANDARD.encode(&w);
        heads.insert(
            name.to_string(),
            json!({ "bias": 0, "threshold": 50, "weights": weights }),
        );
    }
    json!({ "buckets-log2": LOG2, "heads": heads })
}

fn detector(words: &[(&str, usize, i8)]) -> Detector {
    let mut cfg = rules();
    cfg["model"] = model(words);
    Detector::from_config_json(&cfg.to_string()).unwrap()
}

fn assess(d: &Detector, text: &str, recent: &[&str]) -> Assessment {
    let recent: Vec<Turn> = recent
        .iter()
        .map(|t| Turn {
            role: Role::User,
            text: t.to_string(),
            at: AT - 600_000,
        })
        .collect();
    let message = Inbound {
        text: text.into(),
        received_at: AT,
    };
    d.assess(&message, &UserContext::default(), &recent)
}

fn found<'a>(text: &'a str, a: &Assessment) -> Vec<(&'a str, &'a str)> {
    a.evidence
        .iter()
        .map(|e| {
            (
                &*e.rule_id.clone().leak(),
                &text[e.start as usize..e.end as usize],
            )
        })
        .collect()
}

const SUICIDE: usize = 0;
const IMMINENT: usize = 5;

#[test]
fn a_category_only_the_model_sees_is_ideation_with_its_strongest_words_as_evidence() {
    let d = detector(&[("rope", SUICIDE, 100)]);
    let text = "so i bought a rope yesterday";
    let a = assess(&d, text, &[]);
    assert_eq!(
        (a.severity, a.categories.as_slice()),
        (Severity::Moderate, &[Category::Suicide][..])
    );
    assert_eq!(found(text, &a), [("model.suicide", "rope")]);
    let nothing = assess(&d, "so i bought a chair yesterday", &[]);
    assert_eq!(nothing.severity, Severity::None);
}

#[test]
fn the_severity_heads_set_a_floor_and_escalators_still_raise() {
    let d = detector(&[("rope", SUICIDE, 100), ("rope", IMMINENT, 100)]);
    assert_eq!(
        assess(&d, "so i bought a rope yesterday", &[]).severity,
        Severity::Imminent
    );
    let d = detector(&[("rope", SUICIDE, 100)]);
    let text = "i bought a rope for tonight";
    let a = assess(&d, text, &[]);
    assert_eq!(a.severity, Severity::High);
    assert!(found(text, &a).contains(&("time.soon", "tonight")), "{a:?}");
}

#[test]
fn where_the_rules_speak_they_say_how_severe() {
    let d = detector(&[("rope", SUICIDE, 100), ("rope", IMMINENT, 100)]);
    let text = "i want to kill myself, i have a rope";
    let a = assess(&d, text, &[]);
    assert_eq!(a.severity, Severity::Moderate);
    assert_eq!(found(text, &a), [("suicide.kill-myself", "kill myself")]);
}

#[test]
fn three_words_alone_are_left_to_the_rules_but_not_after_a_crisis_turn() {
    let d = detector(&[("rope", SUICIDE, 100)]);
    assert_eq!(assess(&d, "a new rope", &[]).severity, Severity::None);
    let a = assess(&d, "a rope", &["i want to kill myself"]);
    assert_eq!(a.categories, [Category::Suicide]);
}

#[test]
fn a_story_or_a_game_that_discounts_the_rules_discounts_the_model() {
    let d = detector(&[("rope", SUICIDE, 100)]);
    let a = assess(&d, "in the movie he says kill myself and buys a rope", &[]);
    assert_eq!(a.severity, Severity::None);
    assert_eq!(a.discounted.len(), 1);
}

#[test]
fn what_the_model_saw_in_an_earlier_turn_carries_over() {
    let d = detector(&[("rope", SUICIDE, 100)]);
    let text = "tonight";
    let a = assess(&d, text, &["so i bought a rope yesterday"]);
    assert_eq!(a.severity, Severity::High);
    assert_eq!(found(text, &a), [("context.time-after-suicide", "tonight")]);
}

#[test]
fn an_act_after_a_crisis_turn_is_imminent_and_alone_is_nothing() {
    let d = detector(&[]);
    let text = "ok this is it";
    let a = assess(&d, text, &["i want to kill myself"]);
    assert_eq!(a.severity, Severity::Imminent);
    assert_eq!(
        found(text, &a),
        [("context.act-after-suicide", "this is it")]
    );
    assert_eq!(assess(&d, text, &["what a game"]).severity, Severity::None);
}

#[test]
fn a_broken_model_is_refused_by_name() {
    let refusal = |edit: &dyn Fn(&mut Value)| {
        let mut cfg = rules();
        cfg["model"] = model(&[]);
        edit(&mut cfg);
        Detector::from_config_json(&cfg.to_string()).unwrap_err()
    };
    let e = refusal(&|c| {
        c["model"]["heads"]
            .as_object_mut()
            .unwrap()
            .remove("imminent");
    });
    assert!(e.contains("`imminent` is missing"), "{e}");
    let e = refusal(&|c| c["model"]["heads"]["suicide"]["weights"] = json!("AAAA"));
    assert!(e.contains("model.heads.suicide.weights: 3 weights"), "{e}");
    let e = refusal(&|c| c["model"]["heads"]["abuse"]["weights"] = json!("not base64!"));
    assert!(e.contains("model.heads.abuse.weights: not base64"), "{e}");
    let e = refusal(&|c| c["model"]["buckets-log2"] = json!(30));
    assert!(e.contains("model.buckets-log2: 30"), "{e}");
    let e = refusal(&|c| c["model"]["heads"]["extra"] = c["model"]["heads"]["suicide"].clone());
    assert!(e.contains("unknown head `extra`"), "{e}");
    let e = refusal(&|c| c["rules"][0]["id"] = json!("model.mine"));
    assert!(e.contains("`model.` are reserved"), "{e}");
}
