use serde::{Deserialize, Serialize};

/// Milliseconds since the Unix epoch, UTC.
pub type TimestampMs = i64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AgeStatus {
    #[default]
    Unknown,
    Pending,
    Adult,
    Minor,
    Child,
    Declined,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Tier {
    #[default]
    Free,
    Premium,
}

/// What a policy may know about the person texting (never their identity).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "kebab-case", deny_unknown_fields)]
pub struct UserContext {
    pub age: AgeStatus,
    pub opted_out: bool,
    pub tier: Tier,
    pub last_disclosure_at: Option<TimestampMs>,
    pub first_contact: bool,
    pub locale: String,
    pub messages_today: u32,
}

impl Default for UserContext {
    /// A verified adult on the free tier, in an ongoing conversation, recently told
    /// they are talking to an AI: the context in which nothing but the text matters.
    fn default() -> Self {
        UserContext {
            age: AgeStatus::Adult,
            opted_out: false,
            tier: Tier::Free,
            last_disclosure_at: None,
            first_contact: false,
            locale: String::new(),
            messages_today: 0,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Turn {
    pub role: Role,
    pub text: String,
    #[serde(default)]
    pub at: TimestampMs,
}

/// The inbound message being decided on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub struct Inbound {
    pub text: String,
    #[serde(default)]
    pub received_at: TimestampMs,
}
