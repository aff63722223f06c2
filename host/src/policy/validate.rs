//! Checks on component outputs. A component is untrusted code: an output that breaks
//! these rules is treated like a trap and answered by the baseline.

use std::collections::BTreeSet;

use jules_policy_model::{Action, Assessment, Decision, LlmRequest, Outbound, Role, Severity};

/// The longest text a policy may ask the host to send (10 concatenated segments).
const MAX_TEXT: usize = 1600;
const MAX_LIST: usize = 256;
const MAX_SYSTEM_PROMPT: usize = 64 * 1024;

pub fn assessment(a: &Assessment, text: &str) -> Result<(), String> {
    if a.evidence.len() > MAX_LIST || a.discounted.len() > MAX_LIST {
        return Err(format!("more than {MAX_LIST} evidence entries"));
    }
    let distinct: BTreeSet<_> = a.categories.iter().collect();
    if distinct.len() != a.categories.len() {
        return Err("categories repeat".into());
    }
    if (a.severity == Severity::None) != a.categories.is_empty() {
        return Err(format!(
            "severity {} with {} categories",
            a.severity.as_str(),
            a.categories.len()
        ));
    }
    let spans = a
        .evidence
        .iter()
        .map(|e| (&e.rule_id, e.start, e.end))
        .chain(a.discounted.iter().map(|d| (&d.rule_id, d.start, d.end)));
    for (rule, start, end) in spans {
        if rule.is_empty() || rule.len() > 128 {
            return Err(format!("rule id {rule:?} is empty or too long"));
        }
        let (s, e) = (start as usize, end as usize);
        if s > e || e > text.len() || !text.is_char_boundary(s) || !text.is_char_boundary(e) {
            return Err(format!(
                "span {start}..{end} of rule {rule} is not a valid range of the {}-byte text",
                text.len()
            ));
        }
    }
    if let Some(e) = a
        .evidence
        .iter()
        .find(|e| !a.categories.contains(&e.category))
    {
        return Err(format!(
            "evidence of category {} missing from categories",
            e.category.as_str()
        ));
    }
    Ok(())
}

pub fn decision(d: &Decision) -> Result<(), String> {
    if d.actions.is_empty() {
        return Err("no actions".into());
    }
    if d.actions.len() > 8 {
        return Err(format!("{} actions", d.actions.len()));
    }
    let mut seen = BTreeSet::new();
    for a in &d.actions {
        if !seen.insert(a.name()) {
            return Err(format!("action {} repeats", a.name()));
        }
        let text = match a {
            Action::OptOut(t)
            | Action::OptIn(t)
            | Action::Help(t)
            | Action::RequireAgeVerification(t) => Some(t.as_str()),
            Action::Block(b) => b.reply.as_deref(),
            Action::DisclosureDue | Action::CallLlm => None,
        };
        if let Some(t) = text
            && (t.trim().is_empty() || t.chars().count() > MAX_TEXT)
        {
            return Err(format!(
                "{} text is empty or over {MAX_TEXT} characters",
                a.name()
            ));
        }
    }
    let silencing = d
        .actions
        .iter()
        .any(|a| matches!(a, Action::OptOut(_) | Action::Block(_)));
    if silencing && d.calls_llm() {
        return Err("calls the LLM while opting out or blocking".into());
    }
    Ok(())
}

pub fn outbound(o: &Outbound) -> Result<(), String> {
    if (o.segments == 0) != o.text.is_empty() {
        return Err(format!(
            "{} segments for a {}-byte text",
            o.segments,
            o.text.len()
        ));
    }
    if o.segments > 10 {
        return Err(format!("{} segments", o.segments));
    }
    if o.text.chars().count() > MAX_TEXT {
        return Err(format!("text over {MAX_TEXT} characters"));
    }
    Ok(())
}

pub fn request(r: &LlmRequest) -> Result<(), String> {
    if r.messages.is_empty() {
        return Err("no messages".into());
    }
    if r.messages.first().map(|m| m.role) != Some(Role::User)
        || r.messages.last().map(|m| m.role) != Some(Role::User)
    {
        return Err("messages must start and end with the person".into());
    }
    if r.messages.windows(2).any(|w| w[0].role == w[1].role) {
        return Err("messages do not alternate".into());
    }
    if r.max_tokens == 0 || r.max_tokens > 8192 {
        return Err(format!("max-tokens {} outside 1..=8192", r.max_tokens));
    }
    if !(0.0..=2.0).contains(&r.temperature) {
        return Err(format!("temperature {} outside 0..=2", r.temperature));
    }
    if r.system.len() > MAX_SYSTEM_PROMPT {
        return Err("system prompt over 64 KiB".into());
    }
    Ok(())
}
