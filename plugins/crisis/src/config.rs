//! The bundle configuration: its JSON schema, validation and compilation.
//!
//! Every element is read on its own so that an error can name the offending
//! setting ("rules[3].patterns[0]: empty") rather than a line and column.

use std::collections::{BTreeMap, BTreeSet};

use jules_policy_model::{Category, Severity};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::matcher::{Matcher, Owner};
use crate::model::Model;
use crate::normalize::{Aliases, MAX_ALIAS_WORDS, normalize};
use crate::pattern::expand;

/// Windows are short on purpose: a cue far from a phrase says nothing about it.
const MAX_WINDOW: u32 = 8;

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RawConfig {
    version: u32,
    #[serde(default)]
    note: Option<String>,
    #[serde(default)]
    context: Option<serde_json::Value>,
    #[serde(default)]
    aliases: BTreeMap<String, String>,
    rules: Vec<serde_json::Value>,
    #[serde(default)]
    escalators: Vec<serde_json::Value>,
    #[serde(default)]
    guards: Vec<serde_json::Value>,
    #[serde(default)]
    response: Option<serde_json::Value>,
    #[serde(default)]
    model: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RawResponse {
    escalate_at: Severity,
    resources: BTreeMap<String, String>,
}

/// What the host does at escalation: from this severity up it sends the resources
/// text (by language: `en`, `es`, …) at once and records the event for review.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    pub escalate_at: Severity,
    pub resources: BTreeMap<String, String>,
}

impl Default for Response {
    fn default() -> Self {
        Response {
            escalate_at: Severity::Moderate,
            resources: BTreeMap::from([(
                "en".to_string(),
                "You deserve support right now. Call or text 988 (Suicide & Crisis Lifeline, 24/7) or text HOME to 741741. If you are in immediate danger, call 911.".to_string(),
            )]),
        }
    }
}

fn response(v: Option<serde_json::Value>) -> Result<Response, String> {
    let Some(v) = v else {
        return Ok(Response::default());
    };
    let raw: RawResponse = element("response", v)?;
    if raw.escalate_at == Severity::None {
        return Err("response.escalate-at: none would escalate every message".into());
    }
    if !raw.resources.contains_key("en") {
        return Err("response.resources: needs an `en` text".into());
    }
    for (lang, text) in &raw.resources {
        for must in ["988", "741741", "911"] {
            if !text.contains(must) {
                return Err(format!("response.resources.{lang}: must give {must}"));
            }
        }
        if text.chars().count() > 320 {
            return Err(format!(
                "response.resources.{lang}: over 320 characters (two SMS)"
            ));
        }
    }
    Ok(Response {
        escalate_at: raw.escalate_at,
        resources: raw.resources,
    })
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RawContext {
    max_turns: u32,
    max_age_minutes: u32,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RawRule {
    id: String,
    category: Category,
    severity: Severity,
    patterns: Vec<String>,
    #[serde(default)]
    note: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Kind {
    Plan,
    Means,
    Time,
    /// The act under way, being at the place, or a goodbye: imminent on its own.
    Act,
}

impl Kind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Plan => "plan",
            Kind::Means => "means",
            Kind::Time => "time",
            Kind::Act => "act",
        }
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RawEscalator {
    id: String,
    kind: Kind,
    #[serde(default)]
    alone: bool,
    #[serde(default)]
    window: Option<u32>,
    #[serde(default)]
    categories: Option<Vec<Category>>,
    patterns: Vec<String>,
    #[serde(default)]
    note: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Scope {
    Overlap,
    Before,
    After,
    Around,
    Message,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum Target {
    Rules,
    Escalators,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RawGuard {
    id: String,
    scope: Scope,
    #[serde(default)]
    window: Option<u32>,
    #[serde(default)]
    except: Vec<String>,
    #[serde(default)]
    categories: Option<Vec<Category>>,
    #[serde(default)]
    max_severity: Option<Severity>,
    #[serde(default)]
    unless: Vec<Kind>,
    #[serde(default)]
    applies_to: Option<Vec<Target>>,
    #[serde(default)]
    only_rules: Option<Vec<String>>,
    patterns: Vec<String>,
    #[serde(default)]
    note: Option<String>,
}

/// A set of categories as a bit mask (bit = enum position).
pub(crate) type CatMask = u8;

pub(crate) fn bit(c: Category) -> CatMask {
    1 << (c as u8)
}

fn mask(cats: Option<Vec<Category>>) -> CatMask {
    cats.map_or(0b1111, |v| v.into_iter().fold(0, |m, c| m | bit(c)))
}

#[derive(Debug)]
pub(crate) struct Rule {
    pub(crate) id: String,
    pub(crate) category: Category,
    pub(crate) severity: Severity,
}

#[derive(Debug)]
pub(crate) struct Escalator {
    pub(crate) id: String,
    pub(crate) kind: Kind,
    /// A time word that raises severity without a plan or means ("tonight").
    pub(crate) alone: bool,
    pub(crate) window: Option<u32>,
    pub(crate) categories: CatMask,
}

#[derive(Debug)]
pub(crate) struct Guard {
    pub(crate) id: String,
    pub(crate) scope: Scope,
    pub(crate) window: u32,
    pub(crate) categories: CatMask,
    pub(crate) max_severity: Severity,
    pub(crate) unless: Vec<Kind>,
    pub(crate) rules: bool,
    pub(crate) escalators: bool,
    /// When set, the only rules (indices) this guard may discount.
    pub(crate) only_rules: Option<Vec<u16>>,
}

#[derive(Debug)]
pub(crate) struct Config {
    pub(crate) max_turns: usize,
    pub(crate) max_age_ms: i64,
    pub(crate) aliases: Aliases,
    pub(crate) rules: Vec<Rule>,
    pub(crate) escalators: Vec<Escalator>,
    pub(crate) guards: Vec<Guard>,
    pub(crate) matcher: Matcher,
    /// The learned classifier; a bundle without one runs on its rules alone.
    pub(crate) model: Option<Model>,
    /// Shared: the host reads it for every message.
    pub(crate) response: std::sync::Arc<Response>,
}

fn element<T: DeserializeOwned>(what: &str, v: serde_json::Value) -> Result<T, String> {
    serde_json::from_value(v).map_err(|e| format!("{what}: {e}"))
}

fn check_id(what: &str, id: &str, seen: &mut BTreeMap<String, String>) -> Result<(), String> {
    let ok_char =
        |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '-' | '_');
    if id.is_empty() || !id.chars().all(ok_char) {
        return Err(format!(
            "{what}.id: `{id}` must be lowercase letters, digits, `.`, `-` or `_`"
        ));
    }
    if let Some(prefix) = ["context.", "model."]
        .into_iter()
        .find(|p| id.starts_with(p))
    {
        return Err(format!(
            "{what}.id: `{id}`: ids starting with `{prefix}` are reserved"
        ));
    }
    if let Some(other) = seen.insert(id.to_string(), what.to_string()) {
        return Err(format!("{what}.id: duplicate id `{id}` (also {other})"));
    }
    Ok(())
}

fn window(what: &str, w: Option<u32>) -> Result<Option<u32>, String> {
    match w {
        Some(w) if w > MAX_WINDOW => Err(format!("{what}.window: {w} is over {MAX_WINDOW} words")),
        w => Ok(w),
    }
}

impl Config {
    pub(crate) fn from_json(json: &str) -> Result<Config, String> {
        let raw: RawConfig = serde_json::from_str(json).map_err(|e| format!("config: {e}"))?;
        let _ = raw.note;
        let response = std::sync::Arc::new(response(raw.response)?);
        let model = raw.model.map(Model::from_value).transpose()?;
        if raw.version != 1 {
            return Err(format!(
                "version: {} is not supported (expected 1)",
                raw.version
            ));
        }
        let (max_turns, max_age_minutes) = match raw.context {
            Some(v) => {
                let c: RawContext = element("context", v)?;
                (c.max_turns, c.max_age_minutes)
            }
            None => (6, 120),
        };
        if max_turns > 50 {
            return Err(format!("context.max-turns: {max_turns} is over 50"));
        }
        let aliases = compile_aliases(&raw.aliases)?;
        if raw.rules.is_empty() {
            return Err("rules: empty".into());
        }
        let mut seen = BTreeMap::new();
        let mut phrases: BTreeMap<(String, bool), BTreeSet<Owner>> = BTreeMap::new();
        let mut add = |what: &str, patterns: &[String], owner: Owner| -> Result<(), String> {
            if patterns.is_empty() {
                return Err(format!("{what}: empty"));
            }
            for (j, p) in patterns.iter().enumerate() {
                let at = format!("{what}[{j}]");
                let e = expand(p).map_err(|m| format!("{at}: {m}"))?;
                for phrase in e.phrases {
                    let n = normalize(&phrase, &aliases);
                    if n.is_empty() {
                        return Err(format!("{at}: `{phrase}` has no words"));
                    }
                    let key = n.words().collect::<Vec<_>>().join(" ");
                    phrases.entry((key, e.prefix)).or_default().insert(owner);
                }
            }
            Ok(())
        };

        let mut rules = Vec::with_capacity(raw.rules.len());
        for (i, v) in raw.rules.into_iter().enumerate() {
            let what = format!("rules[{i}]");
            let r: RawRule = element(&what, v)?;
            let _ = r.note;
            check_id(&what, &r.id, &mut seen)?;
            if r.severity == Severity::None {
                return Err(format!("{what}.severity: a rule must be low or higher"));
            }
            add(
                &format!("{what}.patterns"),
                &r.patterns,
                Owner::Rule(i as u16),
            )?;
            rules.push(Rule {
                id: r.id,
                category: r.category,
                severity: r.severity,
            });
        }

        let mut escalators = Vec::with_capacity(raw.escalators.len());
        for (i, v) in raw.escalators.into_iter().enumerate() {
            let what = format!("escalators[{i}]");
            let e: RawEscalator = element(&what, v)?;
            let _ = e.note;
            check_id(&what, &e.id, &mut seen)?;
            if e.alone && e.kind != Kind::Time {
                return Err(format!(
                    "{what}.alone: plan and means words always raise; only time words take `alone`"
                ));
            }
            let window = window(&what, e.window)?;
            add(
                &format!("{what}.patterns"),
                &e.patterns,
                Owner::Escalator(i as u16),
            )?;
            escalators.push(Escalator {
                id: e.id,
                kind: e.kind,
                alone: e.alone,
                window,
                categories: mask(e.categories),
            });
        }

        let mut guards = Vec::with_capacity(raw.guards.len());
        for (i, v) in raw.guards.into_iter().enumerate() {
            let what = format!("guards[{i}]");
            let g: RawGuard = element(&what, v)?;
            let _ = g.note;
            check_id(&what, &g.id, &mut seen)?;
            let windowed = matches!(g.scope, Scope::Before | Scope::After | Scope::Around);
            let w = match (windowed, window(&what, g.window)?) {
                (true, Some(w)) => w,
                (true, None) => return Err(format!("{what}.window: required for this scope")),
                (false, Some(_)) => {
                    return Err(format!(
                        "{what}.window: only before, after and around guards take a window"
                    ));
                }
                (false, None) => 0,
            };
            let targets = g.applies_to.unwrap_or_else(|| vec![Target::Rules]);
            if targets.is_empty() {
                return Err(format!("{what}.applies-to: empty"));
            }
            let only_rules = match g.only_rules {
                None => None,
                Some(ids) if ids.is_empty() => return Err(format!("{what}.only-rules: empty")),
                Some(ids) => Some(
                    ids.iter()
                        .map(|id| {
                            rules
                                .iter()
                                .position(|r: &Rule| &r.id == id)
                                .map(|k| k as u16)
                                .ok_or_else(|| format!("{what}.only-rules: unknown rule `{id}`"))
                        })
                        .collect::<Result<Vec<_>, _>>()?,
                ),
            };
            add(
                &format!("{what}.patterns"),
                &g.patterns,
                Owner::Guard(i as u16),
            )?;
            if !g.except.is_empty() {
                add(
                    &format!("{what}.except"),
                    &g.except,
                    Owner::Except(i as u16),
                )?;
            }
            guards.push(Guard {
                id: g.id,
                scope: g.scope,
                window: w,
                categories: mask(g.categories),
                max_severity: g.max_severity.unwrap_or(Severity::Imminent),
                unless: g.unless,
                rules: targets.contains(&Target::Rules),
                escalators: targets.contains(&Target::Escalators),
                only_rules,
            });
        }
        if rules.len() > u16::MAX as usize
            || escalators.len() > u16::MAX as usize
            || guards.len() > u16::MAX as usize
        {
            return Err("config: too many rules, escalators or guards".into());
        }

        let matcher = Matcher::build(phrases)?;
        Ok(Config {
            max_turns: max_turns as usize,
            max_age_ms: i64::from(max_age_minutes) * 60_000,
            aliases,
            rules,
            escalators,
            guards,
            matcher,
            model,
            response,
        })
    }
}

fn compile_aliases(raw: &BTreeMap<String, String>) -> Result<Aliases, String> {
    let plain = Aliases::default();
    let mut aliases = Aliases::default();
    for (from, to) in raw {
        let what = format!("aliases[\"{from}\"]");
        let words = |s: &str| {
            normalize(s, &plain)
                .words()
                .map(str::to_string)
                .collect::<Vec<_>>()
        };
        let (f, t) = (words(from), words(to));
        if f.is_empty() {
            return Err(format!("{what}: the phrase has no words"));
        }
        if f.len() > MAX_ALIAS_WORDS {
            return Err(format!("{what}: more than {MAX_ALIAS_WORDS} words"));
        }
        if t.is_empty() {
            return Err(format!("{what}: the replacement has no words"));
        }
        aliases.insert(f, t).map_err(|e| format!("{what}: {e}"))?;
    }
    Ok(aliases)
}
