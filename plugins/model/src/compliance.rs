use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum BlockReason {
    OptedOut,
    UnderThirteen,
    DailyLimit,
    AgeDeclined,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Blocked {
    pub reason: BlockReason,
    pub reply: Option<String>,
}

/// One thing the host must do; a decision lists them in the order they apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", tag = "action", content = "text")]
pub enum Action {
    OptOut(String),
    OptIn(String),
    Help(String),
    Block(Blocked),
    RequireAgeVerification(String),
    DisclosureDue,
    CallLlm,
}

impl Action {
    /// The action's name as corpora and logs write it.
    pub fn name(&self) -> &'static str {
        match self {
            Action::OptOut(_) => "opt-out",
            Action::OptIn(_) => "opt-in",
            Action::Help(_) => "help",
            Action::Block(_) => "block",
            Action::RequireAgeVerification(_) => "require-age-verification",
            Action::DisclosureDue => "disclosure-due",
            Action::CallLlm => "call-llm",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Decision {
    pub actions: Vec<Action>,
}

impl Decision {
    pub fn calls_llm(&self) -> bool {
        self.actions.contains(&Action::CallLlm)
    }

    pub fn disclosure_due(&self) -> bool {
        self.actions.contains(&Action::DisclosureDue)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Encoding {
    Gsm7,
    Ucs2,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Outbound {
    pub text: String,
    pub encoding: Encoding,
    pub segments: u32,
    pub truncated: bool,
}
