use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Category {
    Suicide,
    SelfHarm,
    Violence,
    Abuse,
}

impl Category {
    pub const ALL: [Category; 4] = [
        Category::Suicide,
        Category::SelfHarm,
        Category::Violence,
        Category::Abuse,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Category::Suicide => "suicide",
            Category::SelfHarm => "self-harm",
            Category::Violence => "violence",
            Category::Abuse => "abuse",
        }
    }
}

/// Ordered: `None < Low < Moderate < High < Imminent`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    #[default]
    None,
    Low,
    Moderate,
    High,
    Imminent,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::None => "none",
            Severity::Low => "low",
            Severity::Moderate => "moderate",
            Severity::High => "high",
            Severity::Imminent => "imminent",
        }
    }

    /// One step more severe, saturating at `Imminent`.
    pub fn raised(self) -> Severity {
        match self {
            Severity::None => Severity::Low,
            Severity::Low => Severity::Moderate,
            Severity::Moderate => Severity::High,
            Severity::High | Severity::Imminent => Severity::Imminent,
        }
    }
}

/// A rule that matched; `start..end` are UTF-8 byte offsets into the inbound text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Evidence {
    pub rule_id: String,
    pub category: Category,
    pub severity: Severity,
    pub start: u32,
    pub end: u32,
}

/// A match that was discounted by a guard (idiom, negation, reported speech ...).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Discounted {
    pub rule_id: String,
    pub reason: String,
    pub start: u32,
    pub end: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct Assessment {
    pub severity: Severity,
    /// Most severe first, no repeats.
    pub categories: Vec<Category>,
    pub evidence: Vec<Evidence>,
    pub discounted: Vec<Discounted>,
}
