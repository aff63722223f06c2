//! No input makes the policy panic, and shaping always keeps its promises.

use jules_compliance::{Policy, encoding_of, segments};
use jules_policy_model::{AgeStatus, Encoding, Inbound, Tier, UserContext};

const CONFIG: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../policies/compliance/config.json"
));

const DISCLOSURE: &str = "Jules here - I'm an AI, not a human. ";

fn nasty() -> Vec<String> {
    let mut texts: Vec<String> = [
        "",
        " ",
        "\0",
        "STOP\0",
        "\0STOP",
        "\u{200F}\u{202E}STOP\u{202C}",
        "\u{FEFF}",
        "👨\u{200D}👩\u{200D}👧\u{200D}👦",
        "🇺🇸🇫🇷🇩🇪",
        "e\u{301}\u{301}\u{301}",
        "\u{10FFFF}",
        "\r\n\r\n",
        "ß",
        "ﬀ",
        "İ",
        "\u{0085}",
        "\u{2028}STOP\u{2029}",
        "{program}",
        "مرحبا \u{200F}كيف حالك",
        "𝐒𝐓𝐎𝐏",
        "S\u{0336}T\u{0336}O\u{0336}P\u{0336}",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    texts.push("a".repeat(10_000));
    texts.push("😊".repeat(2_500));
    texts.push("€".repeat(5_000));
    texts.push("\u{200D}".repeat(3_000));
    texts.push("stop ".repeat(2_000));
    texts.push("x".repeat(9_999) + "😊");
    texts.push("😊".to_string() + &" ".repeat(10_000));
    texts.push("\u{0301}".repeat(4_000));
    texts.push("🇺".repeat(1_000));
    texts
}

/// A small deterministic generator: the tests must not depend on randomness.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }

    fn text(&mut self) -> String {
        const PIECES: &[&str] = &[
            "a", "word", " ", "  ", "\n", "€", "[", "é", "á", "😊", "👍🏽", "\u{200D}", "🇺🇸", "’",
            "—", "…", ".", ",", "STOP", "\t", "`", "ñ", "ß", "\u{FE0F}", "中文",
        ];
        let len = self.next() % 400;
        (0..len)
            .map(|_| PIECES[(self.next() % PIECES.len() as u64) as usize])
            .collect()
    }
}

fn users() -> Vec<UserContext> {
    let mut users = Vec::new();
    for age in [
        AgeStatus::Unknown,
        AgeStatus::Pending,
        AgeStatus::Adult,
        AgeStatus::Minor,
        AgeStatus::Child,
        AgeStatus::Declined,
    ] {
        for opted_out in [false, true] {
            for (tier, today, last) in [
                (Tier::Free, u32::MAX, Some(i64::MIN)),
                (Tier::Premium, 0, Some(i64::MAX)),
                (Tier::Free, 0, None),
            ] {
                users.push(UserContext {
                    age,
                    opted_out,
                    tier,
                    last_disclosure_at: last,
                    first_contact: false,
                    locale: "\0".into(),
                    messages_today: today,
                });
            }
        }
    }
    users
}

fn check_outbound(policy: &Policy, reply: &str, disclose: bool) {
    let out = policy.shape(reply, disclose);
    assert!(out.segments <= 4, "{} segments for {reply:?}", out.segments);
    assert_eq!(
        out.encoding,
        encoding_of(&out.text),
        "declared encoding for {reply:?}"
    );
    assert_eq!(
        out.segments,
        segments(&out.text),
        "declared segments for {reply:?}"
    );
    if disclose {
        assert!(
            out.text.starts_with(DISCLOSURE.trim_end()),
            "disclosure kept for {reply:?}"
        );
    }
    if out.truncated {
        let ellipsis = if out.encoding == Encoding::Gsm7 {
            "..."
        } else {
            "…"
        };
        assert!(out.text.ends_with(ellipsis), "ellipsis for {reply:?}");
    }
}

#[test]
fn nasty_messages_do_not_panic() {
    let policy = Policy::from_config_json(CONFIG).unwrap();
    for text in nasty() {
        for user in users() {
            for received_at in [i64::MIN, 0, i64::MAX] {
                let d = policy.evaluate(
                    &Inbound {
                        text: text.clone(),
                        received_at,
                    },
                    &user,
                );
                assert!(!d.actions.is_empty(), "no decision for {text:?}");
            }
        }
        check_outbound(&policy, &text, false);
        check_outbound(&policy, &text, true);
    }
}

#[test]
fn shaping_always_fits() {
    let policy = Policy::from_config_json(CONFIG).unwrap();
    let mut rng = Lcg(0x5EED);
    for _ in 0..1_500 {
        let text = rng.text();
        check_outbound(&policy, &text, rng.next().is_multiple_of(2));
    }
}

#[test]
fn truncation_never_raises_the_encoding() {
    let policy = Policy::from_config_json(CONFIG).unwrap();
    for reply in ["word ".repeat(300), "[x] ".repeat(300), "Ñ ".repeat(700)] {
        let out = policy.shape(&reply, true);
        assert!(out.truncated);
        assert_eq!(out.encoding, Encoding::Gsm7, "{reply:?}");
    }
}
