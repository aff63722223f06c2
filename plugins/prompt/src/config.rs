//! The builder's configuration: its JSON form (`policies/prompt/README.md`) and the
//! checks that refuse a configuration which would weaken crisis care.

use jules_policy_model::Severity;
use serde::Deserialize;

use crate::facts::FactsTemplate;
use crate::history::Budget;

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct Raw {
    persona: Vec<String>,
    #[serde(default)]
    locales: Vec<RawLocale>,
    #[serde(default)]
    minor_line: Option<String>,
    facts: RawFacts,
    history: RawHistory,
    max_message_chars: usize,
    empty_message: String,
    crisis: RawCrisis,
    generation: RawGeneration,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RawLocale {
    prefix: String,
    line: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RawFacts {
    heading: String,
    line: String,
    max_facts: usize,
    max_key_chars: usize,
    max_value_chars: usize,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RawHistory {
    max_turns: usize,
    max_chars: usize,
    max_turn_chars: usize,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RawCrisis {
    #[serde(default = "default_threshold")]
    threshold: Severity,
    instructions: Vec<String>,
    check_in: String,
    #[serde(default)]
    categories: CategoryLines,
}

/// Extra crisis lines for the categories the detector found.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct CategoryLines {
    pub suicide: Option<String>,
    pub self_harm: Option<String>,
    pub violence: Option<String>,
    pub abuse: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RawGeneration {
    normal: Generation,
    crisis: Generation,
}

#[derive(Debug, Clone, Copy, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Generation {
    pub max_tokens: u32,
    pub temperature: f32,
}

fn default_threshold() -> Severity {
    Severity::Moderate
}

#[derive(Debug, Clone)]
pub struct Locale {
    pub prefix: String,
    pub line: String,
}

/// A configuration that passed every check.
#[derive(Debug, Clone)]
pub struct Config {
    pub persona: String,
    pub locales: Vec<Locale>,
    pub minor_line: Option<String>,
    pub facts: FactsTemplate,
    pub budget: Budget,
    pub threshold: Severity,
    pub crisis_instructions: String,
    pub check_in: String,
    pub category_lines: CategoryLines,
    pub normal: Generation,
    pub crisis: Generation,
}

const MAX_TOKENS: u32 = 8192;

impl Config {
    pub fn from_json(json: &str) -> Result<Config, String> {
        let raw: Raw = serde_json::from_str(json)
            .map_err(|e| jules_json_path::describe(json, &e, "prompt config"))?;
        let persona = lines("persona", &raw.persona)?;

        let mut locales = Vec::new();
        for (i, l) in raw.locales.iter().enumerate() {
            let prefix = l.prefix.trim().to_ascii_lowercase();
            if prefix.is_empty() || !prefix.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(format!(
                    "`locales[{i}].prefix`: {:?} is not a language subtag such as \"es\"",
                    l.prefix
                ));
            }
            let line = non_blank(&format!("locales[{i}].line"), &l.line)?;
            locales.push(Locale { prefix, line });
        }
        let minor_line = match &raw.minor_line {
            Some(line) => Some(non_blank("minor-line", line)?),
            None => None,
        };

        let f = &raw.facts;
        within("facts.max-facts", f.max_facts, 0, 100)?;
        within("facts.max-key-chars", f.max_key_chars, 1, 200)?;
        within("facts.max-value-chars", f.max_value_chars, 1, 2000)?;
        let facts = FactsTemplate::new(
            non_blank("facts.heading", &f.heading)?,
            &f.line,
            f.max_facts,
            f.max_key_chars,
            f.max_value_chars,
        )?;

        let h = &raw.history;
        within("history.max-turns", h.max_turns, 0, 200)?;
        within("history.max-chars", h.max_chars, 0, 200_000)?;
        within("history.max-turn-chars", h.max_turn_chars, 1, 100_000)?;
        within("max-message-chars", raw.max_message_chars, 1, 100_000)?;
        let budget = Budget {
            max_turns: h.max_turns,
            max_chars: h.max_chars,
            max_turn_chars: h.max_turn_chars,
            max_message_chars: raw.max_message_chars,
            empty_message: non_blank("empty-message", &raw.empty_message)?,
        };

        let c = &raw.crisis;
        if c.threshold == Severity::None {
            return Err(
                "`crisis.threshold`: must be low, moderate, high or imminent (none would put every message in crisis mode)"
                    .into(),
            );
        }
        let crisis_instructions = lines("crisis.instructions", &c.instructions)?;
        // The one referral the law (California SB 243) and WIRE.md both require.
        if !crisis_instructions.contains("988") {
            return Err(
                "`crisis.instructions`: must give the 988 Suicide & Crisis Lifeline".into(),
            );
        }
        let cl = &c.categories;
        for (setting, line) in [
            ("crisis.categories.suicide", &cl.suicide),
            ("crisis.categories.self-harm", &cl.self_harm),
            ("crisis.categories.violence", &cl.violence),
            ("crisis.categories.abuse", &cl.abuse),
        ] {
            if let Some(line) = line {
                non_blank(setting, line)?;
            }
        }

        let g = &raw.generation;
        generation("generation.normal", g.normal)?;
        generation("generation.crisis", g.crisis)?;
        if g.crisis.temperature > g.normal.temperature {
            return Err(
                "`generation.crisis.temperature`: must not exceed generation.normal.temperature (crisis replies should be steadier)"
                    .into(),
            );
        }

        Ok(Config {
            persona,
            locales,
            minor_line,
            facts,
            budget,
            threshold: c.threshold,
            crisis_instructions,
            check_in: non_blank("crisis.check-in", &c.check_in)?,
            category_lines: cl.clone(),
            normal: g.normal,
            crisis: g.crisis,
        })
    }
}

fn non_blank(setting: &str, value: &str) -> Result<String, String> {
    let value = value.trim();
    if value.is_empty() {
        Err(format!("`{setting}`: must not be empty"))
    } else {
        Ok(value.to_string())
    }
}

fn lines(setting: &str, list: &[String]) -> Result<String, String> {
    let joined = list
        .iter()
        .map(|l| l.trim())
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join("\n");
    non_blank(setting, &joined)
}

fn within(setting: &str, value: usize, min: usize, max: usize) -> Result<(), String> {
    if (min..=max).contains(&value) {
        Ok(())
    } else {
        Err(format!("`{setting}`: {value} is outside {min}..={max}"))
    }
}

fn generation(setting: &str, g: Generation) -> Result<(), String> {
    if !(1..=MAX_TOKENS).contains(&g.max_tokens) {
        return Err(format!(
            "`{setting}.max-tokens`: {} is outside 1..={MAX_TOKENS}",
            g.max_tokens
        ));
    }
    if !(g.temperature.is_finite() && (0.0..=2.0).contains(&g.temperature)) {
        return Err(format!(
            "`{setting}.temperature`: {} is outside 0.0..=2.0",
            g.temperature
        ));
    }
    Ok(())
}
