//! The conversation the model sees: recent turns within a budget, shaped into the
//! strict person/assistant alternation that LLM APIs require, ending with the
//! person's message.

use jules_policy_model::{ChatMessage, Inbound, Role, Turn};

use crate::text::clip;

#[derive(Debug, Clone)]
pub struct Budget {
    /// Earlier turns kept at most (the current message is not counted).
    pub max_turns: usize,
    /// Characters of earlier turns kept at most, after clipping each turn.
    pub max_chars: usize,
    /// A single earlier turn is clipped to this many characters.
    pub max_turn_chars: usize,
    /// The current message is clipped to this many characters.
    pub max_message_chars: usize,
    /// Stands in for an empty message; APIs refuse empty content.
    pub empty_message: String,
}

pub fn messages(budget: &Budget, message: &Inbound, recent: &[Turn]) -> Vec<ChatMessage> {
    let current = match message.text.trim() {
        "" => budget.empty_message.clone(),
        text => clip(text, budget.max_message_chars),
    };

    // The host may already have stored this message as the newest turn; sending it
    // twice would make the model answer it twice.
    let recent = match recent.split_last() {
        Some((last, rest))
            if last.role == Role::User
                && last.at == message.received_at
                && last.text == message.text =>
        {
            rest
        }
        _ => recent,
    };

    // Newest first: when the budget runs out, it is the oldest turns that go, and a
    // turn is never skipped to fit an older one (the history stays contiguous).
    let mut kept: Vec<(Role, String)> = Vec::new();
    let mut chars = 0usize;
    for turn in recent.iter().rev() {
        if kept.len() >= budget.max_turns {
            break;
        }
        let text = clip(turn.text.trim(), budget.max_turn_chars);
        if text.is_empty() {
            continue;
        }
        chars = chars.saturating_add(text.chars().count());
        if chars > budget.max_chars {
            break;
        }
        kept.push((turn.role, text));
    }

    let mut out: Vec<ChatMessage> = Vec::with_capacity(kept.len() + 1);
    for (role, text) in kept.into_iter().rev() {
        push_merged(&mut out, role, text);
    }
    let first_user = out
        .iter()
        .position(|m| m.role == Role::User)
        .unwrap_or(out.len());
    out.drain(..first_user);
    push_merged(&mut out, Role::User, current);
    out
}

fn push_merged(out: &mut Vec<ChatMessage>, role: Role, text: String) {
    match out.last_mut() {
        Some(last) if last.role == role => {
            last.content.push('\n');
            last.content.push_str(&text);
        }
        _ => out.push(ChatMessage {
            role,
            content: text,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn budget(max_turns: usize, max_chars: usize) -> Budget {
        Budget {
            max_turns,
            max_chars,
            max_turn_chars: 50,
            max_message_chars: 100,
            empty_message: "(empty)".into(),
        }
    }

    fn turn(role: Role, text: &str, at: i64) -> Turn {
        Turn {
            role,
            text: text.into(),
            at,
        }
    }

    fn shape(out: &[ChatMessage]) -> Vec<(Role, &str)> {
        out.iter().map(|m| (m.role, m.content.as_str())).collect()
    }

    const NOW: Inbound = Inbound {
        text: String::new(),
        received_at: 100,
    };

    fn inbound(text: &str) -> Inbound {
        Inbound {
            text: text.into(),
            ..NOW
        }
    }

    #[test]
    fn alternates_and_ends_with_the_person() {
        use Role::{Assistant as A, User as U};
        let recent = [
            turn(A, "welcome", 1),
            turn(U, "hi", 2),
            turn(U, "you there?", 3),
            turn(A, "yes!", 4),
            turn(A, "what's up", 5),
        ];
        let out = messages(&budget(10, 1000), &inbound("not much"), &recent);
        assert_eq!(
            shape(&out),
            [
                (U, "hi\nyou there?"),
                (A, "yes!\nwhat's up"),
                (U, "not much")
            ]
        );
    }

    #[test]
    fn trailing_person_turn_is_merged_and_duplicate_dropped() {
        use Role::{Assistant as A, User as U};
        let recent = [turn(U, "hey", 1), turn(A, "hi", 2), turn(U, "so", 3)];
        let out = messages(&budget(10, 1000), &inbound("anyway"), &recent);
        assert_eq!(shape(&out), [(U, "hey"), (A, "hi"), (U, "so\nanyway")]);
        let recent = [turn(U, "hey", 1), turn(A, "hi", 2), turn(U, "anyway", 100)];
        let out = messages(&budget(10, 1000), &inbound("anyway"), &recent);
        assert_eq!(shape(&out), [(U, "hey"), (A, "hi"), (U, "anyway")]);
    }

    #[test]
    fn budget_keeps_the_newest() {
        use Role::{Assistant as A, User as U};
        let recent = [
            turn(U, "one", 1),
            turn(A, "two", 2),
            turn(U, "three", 3),
            turn(A, "four", 4),
        ];
        let out = messages(&budget(2, 1000), &inbound("five"), &recent);
        assert_eq!(shape(&out), [(U, "three"), (A, "four"), (U, "five")]);
        let out = messages(&budget(10, 9), &inbound("five"), &recent);
        assert_eq!(shape(&out), [(U, "three"), (A, "four"), (U, "five")]);
        let out = messages(&budget(0, 1000), &inbound(" "), &recent);
        assert_eq!(shape(&out), [(U, "(empty)")]);
    }
}
