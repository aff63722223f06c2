//! The policy's configuration: its JSON form (`policies/compliance/README.md`) and the
//! checks that refuse a configuration which would break the rules it exists to keep.

use std::collections::BTreeMap;

use jules_policy_model::Encoding;
use serde::Deserialize;

use crate::keywords::{Keyword, Keywords};
use crate::segments::{is_gsm, segments, segments_of};

/// The law's ceiling: a disclosure at least every 3 hours of continuing interaction.
const MAX_DISCLOSURE_INTERVAL_MS: i64 = 3 * 60 * 60 * 1000;
/// Carriers reject or mangle concatenated texts beyond about ten segments.
const MAX_SEGMENTS: u32 = 10;

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct Raw {
    program_name: String,
    support_contact: String,
    keywords: RawKeywords,
    texts: RawTexts,
    #[serde(default = "default_true")]
    require_age_verification: bool,
    free_daily_limit: u32,
    #[serde(default = "default_interval")]
    disclosure_interval_ms: i64,
    #[serde(default = "default_max_segments")]
    max_segments: u32,
    #[serde(default)]
    gsm_substitutions: BTreeMap<String, String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RawKeywords {
    opt_out: Vec<String>,
    opt_in: Vec<String>,
    #[serde(default)]
    opt_in_when_opted_out: Vec<String>,
    help: Vec<String>,
    /// Account requests the host carries out (not carrier keywords): erasure.
    #[serde(default)]
    erase: Vec<String>,
    #[serde(default)]
    erase_confirm: Vec<String>,
    /// Subscriptions: asking for Premium, and managing or cancelling it.
    #[serde(default)]
    upgrade: Vec<String>,
    #[serde(default)]
    cancel_plan: Vec<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RawTexts {
    opt_out_confirmation: String,
    opt_in_confirmation: String,
    help: String,
    under_thirteen: String,
    age_declined: String,
    age_verification_prompt: String,
    age_verification_pending: String,
    daily_limit: String,
    disclosure: String,
}

fn default_true() -> bool {
    true
}

fn default_interval() -> i64 {
    MAX_DISCLOSURE_INTERVAL_MS
}

fn default_max_segments() -> u32 {
    4
}

/// The texts the policy sends, with `{program}` and `{support}` filled in.
#[derive(Debug, Clone)]
pub struct Texts {
    pub opt_out: String,
    pub opt_in: String,
    pub help: String,
    pub under_thirteen: String,
    pub age_declined: String,
    pub age_prompt: String,
    pub age_pending: String,
    pub daily_limit: String,
    pub disclosure: String,
}

/// A configuration that passed every check.
#[derive(Debug, Clone)]
pub struct Config {
    pub keywords: Keywords,
    /// The first word of `keywords.erase-confirm`, to tell people what to reply.
    pub erase_confirm_word: Option<String>,
    pub texts: Texts,
    pub require_age_verification: bool,
    pub free_daily_limit: u32,
    pub disclosure_interval_ms: i64,
    pub max_segments: u32,
    pub substitutions: BTreeMap<char, String>,
}

impl Config {
    pub fn from_json(json: &str) -> Result<Config, String> {
        let raw: Raw = serde_json::from_str(json)
            .map_err(|e| jules_json_path::describe(json, &e, "compliance config"))?;
        let program = non_blank("program-name", &raw.program_name)?;
        let support = non_blank("support-contact", &raw.support_contact)?;

        if !(1..=MAX_SEGMENTS).contains(&raw.max_segments) {
            return Err(format!(
                "`max-segments`: {} is outside 1..={MAX_SEGMENTS}",
                raw.max_segments
            ));
        }
        if !(1..=MAX_DISCLOSURE_INTERVAL_MS).contains(&raw.disclosure_interval_ms) {
            return Err(format!(
                "`disclosure-interval-ms`: {} is outside 1..={MAX_DISCLOSURE_INTERVAL_MS} (the law asks for a disclosure at least every 3 hours)",
                raw.disclosure_interval_ms
            ));
        }
        if raw.free_daily_limit == 0 {
            return Err(
                "`free-daily-limit`: must be at least 1 (0 would silence every free user)".into(),
            );
        }

        let k = &raw.keywords;
        let keywords = Keywords::new(&[
            (Keyword::OptOut, "keywords.opt-out", &k.opt_out),
            (Keyword::OptIn, "keywords.opt-in", &k.opt_in),
            (
                Keyword::OptInWhenOptedOut,
                "keywords.opt-in-when-opted-out",
                &k.opt_in_when_opted_out,
            ),
            (Keyword::Help, "keywords.help", &k.help),
            (Keyword::Erase, "keywords.erase", &k.erase),
            (
                Keyword::EraseConfirm,
                "keywords.erase-confirm",
                &k.erase_confirm,
            ),
            (Keyword::Upgrade, "keywords.upgrade", &k.upgrade),
            (Keyword::ManagePlan, "keywords.cancel-plan", &k.cancel_plan),
        ])?;
        if !k.erase.is_empty() && k.erase_confirm.is_empty() {
            return Err(
                "`keywords.erase-confirm`: an erasure asked for must be confirmable (name at least one word)".into(),
            );
        }
        for (setting, list) in [("keywords.opt-out", &k.opt_out), ("keywords.help", &k.help)] {
            if list.is_empty() {
                return Err(format!("`{setting}`: the law requires at least one word"));
            }
        }

        let t = &raw.texts;
        let max = raw.max_segments;
        let text = |setting: &str, value: &str| render(setting, value, program, support, max);
        let texts = Texts {
            opt_out: text("texts.opt-out-confirmation", &t.opt_out_confirmation)?,
            opt_in: text("texts.opt-in-confirmation", &t.opt_in_confirmation)?,
            help: text("texts.help", &t.help)?,
            under_thirteen: text("texts.under-thirteen", &t.under_thirteen)?,
            age_declined: text("texts.age-declined", &t.age_declined)?,
            age_prompt: text("texts.age-verification-prompt", &t.age_verification_prompt)?,
            age_pending: text(
                "texts.age-verification-pending",
                &t.age_verification_pending,
            )?,
            daily_limit: text("texts.daily-limit", &t.daily_limit)?,
            disclosure: text("texts.disclosure", &t.disclosure)?,
        };
        check_help(&texts.help, program, support)?;
        check_disclosure(&texts.disclosure, max)?;

        Ok(Config {
            keywords,
            erase_confirm_word: k.erase_confirm.first().map(|w| w.trim().to_string()),
            texts,
            require_age_verification: raw.require_age_verification,
            free_daily_limit: raw.free_daily_limit,
            disclosure_interval_ms: raw.disclosure_interval_ms,
            max_segments: max,
            substitutions: substitutions(&raw.gsm_substitutions)?,
        })
    }
}

fn non_blank<'a>(setting: &str, value: &'a str) -> Result<&'a str, String> {
    let value = value.trim();
    if value.is_empty() {
        Err(format!("`{setting}`: must not be empty"))
    } else {
        Ok(value)
    }
}

fn render(
    setting: &str,
    value: &str,
    program: &str,
    support: &str,
    max_segments: u32,
) -> Result<String, String> {
    non_blank(setting, value)?;
    let text = value
        .replace("{program}", program)
        .replace("{support}", support);
    if text.contains('{') || text.contains('}') {
        return Err(format!(
            "`{setting}`: unknown placeholder (known: {{program}}, {{support}})"
        ));
    }
    let n = segments(&text);
    if n > max_segments {
        return Err(format!(
            "`{setting}`: takes {n} SMS segments, more than `max-segments` ({max_segments})"
        ));
    }
    Ok(text)
}

/// CTIA's HELP contents: who is texting, how to get support, the cost, how to stop.
fn check_help(help: &str, program: &str, support: &str) -> Result<(), String> {
    let missing = if !help.contains(program) {
        Some("the program name")
    } else if !help.contains(support) {
        Some("the support contact")
    } else if !help.to_lowercase().contains("rates may apply") {
        Some("\"Msg&data rates may apply\"")
    } else if !help.contains("STOP") {
        Some("how to opt out (STOP)")
    } else {
        None
    };
    match missing {
        Some(what) => Err(format!("`texts.help`: must mention {what}")),
        None => Ok(()),
    }
}

/// The disclosure prefixes replies that may be truncated, so it must leave room for
/// at least an ellipsis in the worst case (a UCS-2 reply); and it must be GSM-7 so
/// that it never by itself doubles the cost of a GSM reply.
fn check_disclosure(disclosure: &str, max_segments: u32) -> Result<(), String> {
    if let Some(c) = disclosure.chars().find(|&c| !is_gsm(c)) {
        return Err(format!(
            "`texts.disclosure`: {c:?} is not GSM-7; it would force every disclosed reply into UCS-2"
        ));
    }
    let ucs2 = segments_of(disclosure.chars().chain(['…']), Encoding::Ucs2);
    let gsm = segments_of(disclosure.chars().chain("...".chars()), Encoding::Gsm7);
    if ucs2.max(gsm) > max_segments {
        return Err(format!(
            "`texts.disclosure`: leaves no room for a reply within `max-segments` ({max_segments})"
        ));
    }
    Ok(())
}

fn substitutions(raw: &BTreeMap<String, String>) -> Result<BTreeMap<char, String>, String> {
    let mut out = BTreeMap::new();
    for (from, to) in raw {
        let mut chars = from.chars();
        let (Some(c), None) = (chars.next(), chars.next()) else {
            return Err(format!(
                "`gsm-substitutions`: key {from:?} must be exactly one character"
            ));
        };
        if is_gsm(c) {
            return Err(format!(
                "`gsm-substitutions`: {from:?} is already GSM-7 and needs no substitute"
            ));
        }
        if let Some(bad) = to.chars().find(|&c| !is_gsm(c)) {
            return Err(format!(
                "`gsm-substitutions`: the substitute for {from:?} holds {bad:?}, which is not GSM-7"
            ));
        }
        out.insert(c, to.clone());
    }
    Ok(out)
}
