//! Assembling the system prompt: persona, language, audience, memory, crisis care.

use jules_policy_model::{AgeStatus, Assessment, Category, MemoryFact, Severity, UserContext};

use crate::config::Config;

pub fn compose(
    config: &Config,
    user: &UserContext,
    facts: &[MemoryFact],
    crisis: &Assessment,
    crisis_mode: bool,
) -> String {
    let mut sections: Vec<&str> = vec![&config.persona];
    if let Some(locale) = config
        .locales
        .iter()
        .find(|l| locale_matches(&user.locale, &l.prefix))
    {
        sections.push(&locale.line);
    }
    if user.age == AgeStatus::Minor
        && let Some(line) = &config.minor_line
    {
        sections.push(line);
    }
    let facts = config.facts.render(facts);
    if let Some(facts) = &facts {
        sections.push(facts);
    }
    // Crisis care goes last, where the model weighs it most.
    if crisis_mode {
        sections.push(&config.crisis_instructions);
        let mut categories: Vec<Category> = crisis.categories.clone();
        categories.sort();
        categories.dedup();
        for category in categories {
            let lines = &config.category_lines;
            let line = match category {
                Category::Suicide => &lines.suicide,
                Category::SelfHarm => &lines.self_harm,
                Category::Violence => &lines.violence,
                Category::Abuse => &lines.abuse,
            };
            if let Some(line) = line {
                sections.push(line);
            }
        }
    } else if crisis.severity >= Severity::Low {
        sections.push(&config.check_in);
    }
    sections.join("\n\n")
}

/// "es", "ES", "es-MX", "es_419" match the prefix "es"; "est" does not.
fn locale_matches(locale: &str, prefix: &str) -> bool {
    let locale = locale.trim();
    match locale.get(..prefix.len()) {
        Some(head) if head.eq_ignore_ascii_case(prefix) => {
            matches!(
                locale.as_bytes().get(prefix.len()),
                None | Some(b'-' | b'_')
            )
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::locale_matches;

    #[test]
    fn locales() {
        for yes in ["es", "ES", "es-MX", "es_419", " es-US "] {
            assert!(locale_matches(yes, "es"), "{yes}");
        }
        for no in ["", "e", "est", "en-US", "fr-es", "ñ"] {
            assert!(!locale_matches(no, "es"), "{no}");
        }
    }
}
