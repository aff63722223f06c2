use std::collections::HashSet;
use std::fmt;

use jules_policy_model::{
    Assessment, Category, Decision, Encoding, Inbound, LlmRequest, MemoryFact, Outbound, Severity,
    TimestampMs, Turn, UserContext, World,
};
use serde::Deserialize;

/// 2026-01-01T12:00:00Z: the received time of fixtures that do not give one.
pub const DEFAULT_RECEIVED_AT: TimestampMs = 1_767_268_800_000;

/// One labelled example.
#[derive(Debug, Clone)]
pub struct Fixture {
    pub id: String,
    /// 1-based line in the corpus file.
    pub line: usize,
    pub note: Option<String>,
    pub case: Case,
}

/// What to run and what to expect.
#[derive(Debug, Clone)]
pub enum Case {
    Assess {
        message: Inbound,
        user: UserContext,
        recent: Vec<Turn>,
        expect: CrisisExpect,
    },
    Evaluate {
        message: Inbound,
        user: UserContext,
        expect: ComplianceExpect,
    },
    Shape {
        reply: String,
        disclose: bool,
        expect: ShapeExpect,
    },
    Build {
        message: Inbound,
        user: UserContext,
        recent: Vec<Turn>,
        facts: Vec<MemoryFact>,
        crisis: Assessment,
        expect: Box<PromptExpect>,
    },
}

impl Case {
    /// The inbound text, when the case has one (for printing evidence).
    pub fn text(&self) -> &str {
        match self {
            Case::Assess { message, .. }
            | Case::Evaluate { message, .. }
            | Case::Build { message, .. } => &message.text,
            Case::Shape { reply, .. } => reply,
        }
    }
}

/// A policy's answer to a case.
#[derive(Debug, Clone)]
pub enum Output {
    Assessment(Assessment),
    Decision(Decision),
    Outbound(Outbound),
    Request(LlmRequest),
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct CrisisExpect {
    pub severity: Severity,
    #[serde(default)]
    pub categories: Vec<Category>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ComplianceExpect {
    /// Action names in order; a block is written `block:<reason>`, e.g. `block:opted-out`.
    pub actions: Vec<String>,
    /// Substrings that must appear in the texts the actions carry.
    #[serde(default)]
    pub reply_contains: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct ShapeExpect {
    pub encoding: Option<Encoding>,
    pub segments: Option<u32>,
    pub truncated: Option<bool>,
    pub starts_with: Option<String>,
    pub ends_with: Option<String>,
    pub contains: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct PromptExpect {
    pub crisis_mode: Option<bool>,
    #[serde(default)]
    pub system_contains: Vec<String>,
    #[serde(default)]
    pub system_excludes: Vec<String>,
    pub messages_at_most: Option<usize>,
    pub messages_at_least: Option<usize>,
    /// The content of the last message (the one the model answers).
    pub last_message: Option<String>,
    /// Messages start with the person and alternate person / assistant.
    pub alternating: Option<bool>,
    /// Turn texts that must appear among the messages.
    #[serde(default)]
    pub messages_include: Vec<String>,
    /// Turn texts that must not appear among the messages (dropped by the budget).
    #[serde(default)]
    pub messages_exclude: Vec<String>,
    pub max_tokens_at_most: Option<u32>,
}

/// A line that could not be read, with the reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CorpusError {
    pub line: usize,
    pub message: String,
}

impl fmt::Display for CorpusError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.message)
    }
}

impl std::error::Error for CorpusError {}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RawFixture {
    id: String,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    note: Option<String>,
    #[serde(default)]
    text: Option<String>,
    #[serde(default)]
    received_at: Option<TimestampMs>,
    #[serde(default)]
    user: Option<UserContext>,
    #[serde(default)]
    recent: Vec<Turn>,
    #[serde(default)]
    facts: Vec<MemoryFact>,
    #[serde(default)]
    crisis: Option<RawCrisis>,
    #[serde(default)]
    reply: Option<String>,
    #[serde(default)]
    disclose: bool,
    expect: serde_json::Value,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RawCrisis {
    severity: Severity,
    #[serde(default)]
    categories: Vec<Category>,
}

/// Parse a whole corpus for `world`. Every bad line is reported, not just the first.
pub fn parse(world: World, source: &str) -> Result<Vec<Fixture>, Vec<CorpusError>> {
    let mut fixtures = Vec::new();
    let mut errors = Vec::new();
    let mut seen = HashSet::new();
    for (index, raw_line) in source.lines().enumerate() {
        let line = index + 1;
        let trimmed = raw_line.trim();
        if trimmed.is_empty() || trimmed.starts_with("//") {
            continue;
        }
        match parse_line(world, line, trimmed) {
            Ok(fixture) => {
                if !seen.insert(fixture.id.clone()) {
                    errors.push(CorpusError {
                        line,
                        message: format!("duplicate fixture id `{}`", fixture.id),
                    });
                } else {
                    fixtures.push(fixture);
                }
            }
            Err(message) => errors.push(CorpusError { line, message }),
        }
    }
    if errors.is_empty() {
        Ok(fixtures)
    } else {
        Err(errors)
    }
}

fn expectation<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> Result<T, String> {
    serde_json::from_value(v).map_err(|e| format!("expect: {e}"))
}

fn parse_line(world: World, line: usize, text: &str) -> Result<Fixture, String> {
    let raw: RawFixture = serde_json::from_str(text).map_err(|e| e.to_string())?;
    if raw.id.trim().is_empty() {
        return Err("`id` is empty".into());
    }
    let kind = raw.kind.as_deref().unwrap_or(match world {
        World::CrisisDetector => "assess",
        World::CompliancePolicy => "evaluate",
        World::PromptBuilder => "build",
    });
    let allowed: &[&str] = match world {
        World::CrisisDetector => &["assess"],
        World::CompliancePolicy => &["evaluate", "shape"],
        World::PromptBuilder => &["build"],
    };
    if !allowed.contains(&kind) {
        return Err(format!(
            "kind `{kind}` does not apply to a {world} (expected one of: {})",
            allowed.join(", ")
        ));
    }
    let message = || -> Result<Inbound, String> {
        Ok(Inbound {
            text: raw
                .text
                .clone()
                .ok_or_else(|| format!("a `{kind}` fixture needs `text`"))?,
            received_at: raw.received_at.unwrap_or(DEFAULT_RECEIVED_AT),
        })
    };
    let user = raw.user.clone().unwrap_or_default();
    let case = match kind {
        "assess" => Case::Assess {
            message: message()?,
            user,
            recent: raw.recent,
            expect: expectation(raw.expect)?,
        },
        "evaluate" => Case::Evaluate {
            message: message()?,
            user,
            expect: expectation(raw.expect)?,
        },
        "shape" => Case::Shape {
            reply: raw.reply.ok_or("a `shape` fixture needs `reply`")?,
            disclose: raw.disclose,
            expect: expectation(raw.expect)?,
        },
        _ => {
            let crisis = raw.crisis.map_or_else(Assessment::default, |c| Assessment {
                severity: c.severity,
                categories: c.categories,
                evidence: Vec::new(),
                discounted: Vec::new(),
            });
            Case::Build {
                message: message()?,
                user,
                recent: raw.recent,
                facts: raw.facts,
                crisis,
                expect: expectation(raw.expect)?,
            }
        }
    };
    Ok(Fixture {
        id: raw.id,
        line,
        note: raw.note,
        case,
    })
}
