use std::collections::BTreeSet;

use jules_policy_model::{Action, Role};

use crate::{Case, Output};

/// The result of checking one output against its fixture.
#[derive(Debug, Clone, Default)]
pub struct Verdict {
    /// Why the output does not match; empty when it passes.
    pub failures: Vec<String>,
    /// Labels the fixture expects (crisis categories, compliance actions, prompt mode),
    /// for per-label precision and recall.
    pub expected: BTreeSet<String>,
    /// Labels the output has.
    pub got: BTreeSet<String>,
}

impl Verdict {
    pub fn passed(&self) -> bool {
        self.failures.is_empty()
    }
}

/// Check `output` against what `case` expects.
pub fn check(case: &Case, output: &Output) -> Verdict {
    let mut v = Verdict::default();
    match (case, output) {
        (Case::Assess { expect, .. }, Output::Assessment(a)) => {
            v.expected = labels(expect.categories.iter().map(|c| c.as_str()));
            v.got = labels(a.categories.iter().map(|c| c.as_str()));
            if a.severity != expect.severity {
                v.failures.push(format!(
                    "severity: expected {}, got {}",
                    expect.severity.as_str(),
                    a.severity.as_str()
                ));
            }
            if v.expected != v.got {
                v.failures.push(format!(
                    "categories: expected [{}], got [{}]",
                    join(&v.expected),
                    join(&v.got)
                ));
            }
        }
        (Case::Evaluate { expect, .. }, Output::Decision(d)) => {
            let got: Vec<String> = d.actions.iter().map(action_label).collect();
            v.expected = expect.actions.iter().cloned().collect();
            v.got = got.iter().cloned().collect();
            if got != expect.actions {
                v.failures.push(format!(
                    "actions: expected [{}], got [{}]",
                    expect.actions.join(", "),
                    got.join(", ")
                ));
            }
            let texts: String = d
                .actions
                .iter()
                .filter_map(action_text)
                .collect::<Vec<_>>()
                .join("\n");
            for needle in &expect.reply_contains {
                if !texts.contains(needle.as_str()) {
                    v.failures.push(format!(
                        "reply: expected it to contain {needle:?}, got {texts:?}"
                    ));
                }
            }
        }
        (Case::Shape { expect, .. }, Output::Outbound(o)) => {
            // Labels are scored only where the fixture states an expectation.
            if let Some(e) = expect.encoding {
                v.got.insert(format!("{:?}", o.encoding).to_lowercase());
                v.expected.insert(format!("{e:?}").to_lowercase());
                if e != o.encoding {
                    v.failures
                        .push(format!("encoding: expected {e:?}, got {:?}", o.encoding));
                }
            }
            if let Some(n) = expect.segments
                && n != o.segments
            {
                v.failures
                    .push(format!("segments: expected {n}, got {}", o.segments));
            }
            if let Some(t) = expect.truncated
                && t != o.truncated
            {
                v.failures
                    .push(format!("truncated: expected {t}, got {}", o.truncated));
            }
            let text_checks = [
                (
                    &expect.starts_with,
                    "start with",
                    str_starts_with as fn(&str, &str) -> bool,
                ),
                (&expect.ends_with, "end with", str_ends_with),
                (&expect.contains, "contain", str_contains),
            ];
            for (want, what, test) in text_checks {
                if let Some(w) = want
                    && !test(&o.text, w)
                {
                    v.failures.push(format!(
                        "text: expected it to {what} {w:?}, got {:?}",
                        o.text
                    ));
                }
            }
        }
        (Case::Build { expect, .. }, Output::Request(r)) => check_prompt(expect, r, &mut v),
        _ => v
            .failures
            .push("the output is of the wrong kind for this fixture".into()),
    }
    v
}

fn str_starts_with(s: &str, p: &str) -> bool {
    s.starts_with(p)
}

fn str_ends_with(s: &str, p: &str) -> bool {
    s.ends_with(p)
}

fn str_contains(s: &str, p: &str) -> bool {
    s.contains(p)
}

fn check_prompt(expect: &crate::PromptExpect, r: &jules_policy_model::LlmRequest, v: &mut Verdict) {
    let mode = |crisis: bool| if crisis { "crisis-mode" } else { "companion" }.to_string();
    // The mode is scored only where the fixture states it.
    if let Some(want) = expect.crisis_mode {
        v.got.insert(mode(r.crisis_mode));
        v.expected.insert(mode(want));
        if want != r.crisis_mode {
            v.failures.push(format!(
                "crisis-mode: expected {want}, got {}",
                r.crisis_mode
            ));
        }
    }
    for needle in &expect.system_contains {
        if !r.system.contains(needle.as_str()) {
            v.failures
                .push(format!("system prompt: expected it to contain {needle:?}"));
        }
    }
    for needle in &expect.system_excludes {
        if r.system.contains(needle.as_str()) {
            v.failures.push(format!(
                "system prompt: expected it not to contain {needle:?}"
            ));
        }
    }
    let n = r.messages.len();
    if let Some(max) = expect.messages_at_most
        && n > max
    {
        v.failures
            .push(format!("messages: expected at most {max}, got {n}"));
    }
    if let Some(min) = expect.messages_at_least
        && n < min
    {
        v.failures
            .push(format!("messages: expected at least {min}, got {n}"));
    }
    if let Some(last) = &expect.last_message {
        let got = r.messages.last().map(|m| m.content.as_str());
        if got != Some(last.as_str()) {
            v.failures
                .push(format!("last message: expected {last:?}, got {got:?}"));
        }
    }
    if expect.alternating == Some(true) {
        let alternates = r.messages.iter().enumerate().all(|(i, m)| {
            m.role
                == if i % 2 == 0 {
                    Role::User
                } else {
                    Role::Assistant
                }
        }) && r.messages.last().is_some_and(|m| m.role == Role::User);
        if !alternates {
            v.failures.push(
                "messages: expected person/assistant alternation starting and ending with the person"
                    .into(),
            );
        }
    }
    let has = |t: &str| r.messages.iter().any(|m| m.content.contains(t));
    for t in &expect.messages_include {
        if !has(t) {
            v.failures
                .push(format!("messages: expected a message containing {t:?}"));
        }
    }
    for t in &expect.messages_exclude {
        if has(t) {
            v.failures
                .push(format!("messages: expected no message containing {t:?}"));
        }
    }
    if let Some(max) = expect.max_tokens_at_most
        && r.max_tokens > max
    {
        v.failures.push(format!(
            "max-tokens: expected at most {max}, got {}",
            r.max_tokens
        ));
    }
}

/// How corpora name an action: its name, and for a block its reason (`block:daily-limit`).
pub fn action_label(a: &Action) -> String {
    match a {
        Action::Block(b) => {
            let reason = serde_json::to_value(b.reason)
                .ok()
                .and_then(|v| v.as_str().map(str::to_string))
                .unwrap_or_default();
            format!("block:{reason}")
        }
        other => other.name().to_string(),
    }
}

fn action_text(a: &Action) -> Option<&str> {
    match a {
        Action::OptOut(t)
        | Action::OptIn(t)
        | Action::Help(t)
        | Action::RequireAgeVerification(t) => Some(t),
        Action::Block(b) => b.reply.as_deref(),
        Action::DisclosureDue | Action::CallLlm => None,
    }
}

fn labels<'a>(it: impl Iterator<Item = &'a str>) -> BTreeSet<String> {
    it.map(str::to_string).collect()
}

fn join(s: &BTreeSet<String>) -> String {
    s.iter().cloned().collect::<Vec<_>>().join(", ")
}
