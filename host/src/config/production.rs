//! What production refuses: every stand-in that exists only for development (generated
//! keys, the console carrier, the offline responder, unauthenticated Bandwidth
//! callbacks, placeholder contacts in the bundles, an age gate with no verification
//! provider). `serve` and `chat` in production
//! refuse to start while any is present; `jules config check` lists them in any
//! environment.

use std::path::Path;

use super::Config;

/// A setting production would refuse, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub setting: String,
    pub why: &'static str,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.setting, self.why)
    }
}

/// Everything production would refuse in `config`; `keys_set`: ENCRYPTION_KEYS and
/// BLIND_INDEX_KEY come from the environment.
pub fn refusals(config: &Config, keys_set: bool) -> Vec<Refusal> {
    let mut out = Vec::new();
    let mut refuse = |setting: &str, why| {
        out.push(Refusal {
            setting: setting.into(),
            why,
        })
    };
    if !keys_set {
        refuse(
            "ENCRYPTION_KEYS, BLIND_INDEX_KEY",
            "not set: development keys would be generated into DATA_DIR",
        );
    }
    let s = &config.services;
    if s.bandwidth.is_none() && s.twilio.is_none() {
        refuse(
            "BANDWIDTH_ACCOUNT_ID or TWILIO_ACCOUNT_SID",
            "no carrier: replies would only be printed (console carrier)",
        );
    }
    if s.ingress.twilio_auth_token.is_some() && s.ingress.public_url.is_some() && s.twilio.is_none()
    {
        refuse(
            "TWILIO_ACCOUNT_SID",
            "Twilio callbacks are accepted but their replies could not be sent",
        );
    }
    if s.bandwidth.is_some() && s.ingress.bandwidth_credentials.is_none() {
        refuse(
            "BANDWIDTH_WEBHOOK_USERNAME, BANDWIDTH_WEBHOOK_PASSWORD",
            "Bandwidth callbacks would be accepted without credentials: anyone reaching the webhook could post a forged text",
        );
    }
    if s.bandwidth.is_none() && s.ingress.bandwidth_credentials.is_some() {
        refuse(
            "BANDWIDTH_ACCOUNT_ID",
            "Bandwidth callbacks are accepted but their replies could not be sent",
        );
    }
    if s.llm.providers.is_empty() {
        refuse(
            "ANTHROPIC_API_KEY or OPENAI_API_KEY",
            "no language model: replies would come from the offline responder",
        );
    }
    let no_keys = match &config.policy.trust {
        crate::policy::Trust::Verify { keys, .. } => keys.is_empty(),
        crate::policy::Trust::NotChecked => true,
    };
    if no_keys {
        refuse(
            "POLICY_TRUSTED_KEYS",
            "no trusted signing key: every bundle would be refused and the native baseline would decide",
        );
    }
    if let Some(crate::http::admin::auth::TokenKey::Hs256(secret)) = &config.admin_key
        && secret.len() < 32
    {
        refuse(
            "JWT_SECRET_KEY",
            "shorter than 32 bytes: admin tokens could be forged by guessing it",
        );
    }
    if s.veriff.is_none() {
        for file in age_gated_configs(&config.policy_dir) {
            refuse(
                &format!("VERIFF_API_KEY (for {file})"),
                "the bundle asks new people to verify their age, and no verification provider would send them a link",
            );
        }
    }
    for file in placeholder_configs(&config.policy_dir) {
        refuse(
            &file,
            "holds a placeholder contact (an example domain): people would be told to write to nobody",
        );
    }
    out
}

/// Domains reserved for documentation (RFC 2606): a contact there reaches nobody.
const PLACEHOLDER_DOMAINS: [&str; 4] = [".example", "example.com", "example.org", "example.net"];

/// The bundle configurations under `dir` that name a placeholder contact.
fn placeholder_configs(dir: &Path) -> Vec<String> {
    configs_where(dir, |text| {
        let text = text.to_ascii_lowercase();
        PLACEHOLDER_DOMAINS.iter().any(|d| text.contains(d))
    })
}

/// The bundle configurations under `dir` that ask for age verification.
fn age_gated_configs(dir: &Path) -> Vec<String> {
    configs_where(dir, |text| {
        serde_json::from_str::<serde_json::Value>(text)
            .is_ok_and(|v| v["require-age-verification"] == serde_json::json!(true))
    })
}

/// The bundle configurations (`*/config.json`) under `dir` whose text satisfies `test`.
fn configs_where(dir: &Path, test: impl Fn(&str) -> bool) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<String> = entries
        .flatten()
        .map(|e| e.path().join("config.json"))
        .filter(|config| std::fs::read_to_string(config).is_ok_and(|text| test(&text)))
        .map(|config| config.display().to_string())
        .collect();
    found.sort();
    found
}
