//! The shipped bundles: the component and the native baseline give the same answer on
//! every fixture (one source, two targets), and no text makes either fail.

use crate::support::{runtime, shipped_bundle};
use jules::policy::{LoadedBundle, PromptInput};
use jules_policy_corpus::{Case, parse};
use jules_policy_model::{Assessment, Inbound, Role, Severity, Turn, UserContext, World};

fn fixtures(bundle: &LoadedBundle, name: &str) -> Vec<jules_policy_corpus::Fixture> {
    let mut files = vec![shipped_bundle(name).join("corpus.jsonl")];
    if name == "crisis" {
        // The learned model sees far more kinds of text on the dev sets than in the
        // regression corpus.
        let eval = shipped_bundle(name).join("eval");
        files.extend(["dev-en.jsonl", "dev-es.jsonl"].map(|f| eval.join(f)));
    }
    files
        .iter()
        .flat_map(|path| {
            let text = std::fs::read_to_string(path).expect("corpus");
            parse(bundle.world, &text).expect("the shipped corpus parses")
        })
        .collect()
}

#[test]
fn snapshots_stay_small() {
    let rt = runtime();
    for name in ["crisis", "compliance", "prompt"] {
        let bundle = rt
            .load(&shipped_bundle(name))
            .expect("shipped bundle loads");
        let bytes = bundle
            .snapshot_bytes
            .expect("no cache here: the snapshot was made");
        assert!(bytes < 32 << 20, "{name}: a {bytes}-byte snapshot");
    }
}

#[test]
fn component_and_baseline_agree_on_every_fixture() {
    let rt = runtime();
    for name in ["crisis", "compliance", "prompt"] {
        let bundle = rt
            .load(&shipped_bundle(name))
            .expect("shipped bundle loads");
        let base = bundle.baseline();
        let fixtures = fixtures(&bundle, name);
        assert!(!fixtures.is_empty());
        for f in fixtures {
            let id = &f.id;
            match &f.case {
                Case::Assess {
                    message,
                    user,
                    recent,
                    ..
                } => assert_eq!(
                    bundle.assess(message, user, recent).expect(id),
                    base.assess(message, user, recent).unwrap(),
                    "{id}"
                ),
                Case::Evaluate { message, user, .. } => assert_eq!(
                    bundle.evaluate(message, user).expect(id),
                    base.evaluate(message, user).unwrap(),
                    "{id}"
                ),
                Case::Shape {
                    reply, disclose, ..
                } => assert_eq!(
                    bundle.shape(reply, *disclose).expect(id),
                    base.shape(reply, *disclose).unwrap(),
                    "{id}"
                ),
                Case::Build {
                    message,
                    user,
                    recent,
                    facts,
                    crisis,
                    ..
                } => {
                    let input = PromptInput {
                        message,
                        user,
                        recent,
                        facts,
                        crisis,
                    };
                    assert_eq!(
                        bundle.build(&input).expect(id),
                        base.build(&input).unwrap(),
                        "{id}"
                    )
                }
            }
        }
    }
}

fn nasty_texts() -> Vec<String> {
    vec![
        String::new(),
        " ".into(),
        "\0".into(),
        "kill\0myself".into(),
        "a".repeat(10 * 1024),
        "i want to die ".repeat(800),
        "💀".repeat(2000),
        "\u{202E}flesym llik\u{202C}".into(),
        "\u{200F}\u{200E}\u{2066}stop\u{2069}".into(),
        "k\u{200D}i\u{200D}l\u{200D}l my\u{200B}self".into(),
        "👩‍👩‍👧‍👦👨‍❤️‍💋‍👨🏳️‍⚧️".into(),
        "\u{0301}\u{0301}\u{0301}".into(),
        "\u{FEFF}STOP\u{FEFF}".into(),
        "ﷺ𒐫𒈙꧅".into(),
        "\r\n\t\u{b}\u{c}".into(),
    ]
}

#[test]
fn no_text_makes_a_component_fail() {
    let rt = runtime();
    for name in ["crisis", "compliance", "prompt"] {
        rt.activate(rt.load(&shipped_bundle(name)).expect("loads"));
    }
    let elevated = Assessment {
        severity: Severity::High,
        categories: vec![jules_policy_model::Category::Suicide],
        ..Default::default()
    };
    for text in nasty_texts() {
        let message = Inbound {
            text: text.clone(),
            received_at: 1_767_268_800_000,
        };
        let user = UserContext {
            first_contact: true,
            ..Default::default()
        };
        let recent = vec![
            Turn {
                role: Role::User,
                text: text.clone(),
                at: 0,
            },
            Turn {
                role: Role::Assistant,
                text: text.clone(),
                at: 1,
            },
        ];
        let shown = text.chars().take(20).collect::<String>();
        let a = rt.assess(&message, &user, &recent);
        assert_eq!(a.fallback, None, "crisis on {shown:?}");
        let d = rt.evaluate(&message, &user);
        assert_eq!(d.fallback, None, "compliance on {shown:?}");
        let s = rt.shape(&text, true);
        assert_eq!(s.fallback, None, "shape on {shown:?}");
        for crisis in [&a.value, &elevated] {
            let input = PromptInput {
                message: &message,
                user: &user,
                recent: &recent,
                facts: &[],
                crisis,
            };
            let p = rt.build(&input);
            assert_eq!(p.fallback, None, "prompt on {shown:?}");
        }
    }
    for world in World::ALL {
        assert_eq!(
            rt.stats(world)
                .fallbacks
                .load(std::sync::atomic::Ordering::Relaxed),
            0
        );
    }
}
