//! The offline responder: what answers when no language-model key is configured. It is
//! deterministic (the same request, the same reply) and says nothing a model would
//! have to judge — it exists so Jules runs end to end on a laptop and in tests.

use jules_policy_model::{LlmRequest, Role};

pub fn reply(req: &LlmRequest) -> String {
    if req.crisis_mode {
        return "I'm really glad you told me, and I'm here with you. You deserve support right now: call or text 988, or text HOME to 741741. If you're in danger, call 911.".into();
    }
    let last = req
        .messages
        .iter()
        .rev()
        .find(|m| m.role == Role::User)
        .map(|m| m.content.trim())
        .unwrap_or("");
    let short: String = last.chars().take(60).collect();
    let ellipsis = if last.chars().count() > 60 { "…" } else { "" };
    format!("I hear you: \"{short}{ellipsis}\". Tell me more?")
}
