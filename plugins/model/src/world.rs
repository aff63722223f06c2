use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The three kinds of policy component, one per WIT world.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum World {
    CrisisDetector,
    CompliancePolicy,
    PromptBuilder,
}

impl World {
    pub const ALL: [World; 3] = [
        World::CrisisDetector,
        World::CompliancePolicy,
        World::PromptBuilder,
    ];

    /// The world's name in the WIT package.
    pub fn as_str(self) -> &'static str {
        match self {
            World::CrisisDetector => "crisis-detector",
            World::CompliancePolicy => "compliance-policy",
            World::PromptBuilder => "prompt-builder",
        }
    }
}

impl fmt::Display for World {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for World {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        World::ALL
            .into_iter()
            .find(|w| w.as_str() == s)
            .ok_or_else(|| {
                format!("unknown world `{s}` (expected crisis-detector, compliance-policy or prompt-builder)")
            })
    }
}
