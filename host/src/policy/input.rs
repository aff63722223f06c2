//! Borrowed inputs of a prompt-builder call (it takes more than a few arguments).

use jules_policy_model::{Assessment, Inbound, MemoryFact, Turn, UserContext};

#[derive(Debug, Clone, Copy)]
pub struct PromptInput<'a> {
    pub message: &'a Inbound,
    pub user: &'a UserContext,
    pub recent: &'a [Turn],
    pub facts: &'a [MemoryFact],
    pub crisis: &'a Assessment,
}
