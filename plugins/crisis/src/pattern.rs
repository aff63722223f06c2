//! The pattern syntax of the lexicons: literal phrases with `(a|b|)` alternatives
//! (which may nest) and an optional trailing `*` for "any word starting with".
//!
//! Alternatives are expanded once when the configuration loads, so matching stays a
//! single Aho-Corasick pass over literal phrases.

/// Above this a pattern is almost certainly a mistake (and would bloat the matcher).
const MAX_EXPANSIONS: usize = 2048;

/// A pattern's phrases, and whether its last word is a prefix.
#[derive(Debug)]
pub(crate) struct Expanded {
    pub(crate) phrases: Vec<String>,
    pub(crate) prefix: bool,
}

pub(crate) fn expand(pattern: &str) -> Result<Expanded, String> {
    let trimmed = pattern.trim();
    if trimmed.is_empty() {
        return Err("empty".into());
    }
    let (body, prefix) = match trimmed.strip_suffix('*') {
        Some(b) => (b, true),
        None => (trimmed, false),
    };
    if body.contains('*') {
        return Err("`*` may only end a pattern".into());
    }
    let chars: Vec<char> = body.chars().collect();
    let mut at = 0;
    let phrases = sequence(&chars, &mut at, 0)?;
    match chars.get(at) {
        None => Ok(Expanded { phrases, prefix }),
        Some(')') => Err("`)` without `(`".into()),
        Some(_) => Err("`|` outside a group".into()),
    }
}

/// Groups nest at most this deep ("(he|my (dad|mom))").
const MAX_DEPTH: usize = 4;

/// Reads up to the next `|` or `)` of the enclosing group (or the end).
fn sequence(chars: &[char], at: &mut usize, depth: usize) -> Result<Vec<String>, String> {
    let mut phrases = vec![String::new()];
    while let Some(&c) = chars.get(*at) {
        match c {
            '|' | ')' if depth > 0 => break,
            ')' | '|' => return Ok(phrases),
            '(' => {
                if depth >= MAX_DEPTH {
                    return Err(format!("groups nest more than {MAX_DEPTH} deep"));
                }
                *at += 1;
                let alts = group(chars, at, depth + 1)?;
                let mut next = Vec::with_capacity(phrases.len() * alts.len());
                for p in &phrases {
                    for a in &alts {
                        next.push(format!("{p}{a}"));
                    }
                }
                if next.len() > MAX_EXPANSIONS {
                    return Err(format!("expands to more than {MAX_EXPANSIONS} phrases"));
                }
                phrases = next;
            }
            c => {
                phrases.iter_mut().for_each(|p| p.push(c));
                *at += 1;
            }
        }
    }
    Ok(phrases)
}

/// Reads the alternatives of a group whose `(` was just consumed, and its `)`.
fn group(chars: &[char], at: &mut usize, depth: usize) -> Result<Vec<String>, String> {
    let mut alts = Vec::new();
    loop {
        alts.extend(sequence(chars, at, depth)?);
        if alts.len() > MAX_EXPANSIONS {
            return Err(format!("expands to more than {MAX_EXPANSIONS} phrases"));
        }
        match chars.get(*at) {
            Some('|') => *at += 1,
            Some(')') => {
                *at += 1;
                break;
            }
            _ => return Err("unclosed `(`".into()),
        }
    }
    if alts.iter().all(|a| a.trim().is_empty()) {
        return Err("a group with only empty alternatives".into());
    }
    Ok(alts)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expands_groups_and_optional_words() {
        let e = expand("(i|we) (really |)want").unwrap();
        assert_eq!(
            e.phrases,
            ["i really want", "i want", "we really want", "we want"]
        );
        let e = expand("(he|my (dad|mom)) hits").unwrap();
        assert_eq!(e.phrases, ["he hits", "my dad hits", "my mom hits"]);
        assert!(!e.prefix);
        assert!(expand("suicide bomb*").unwrap().prefix);
    }

    #[test]
    fn refuses_malformed_patterns() {
        assert_eq!(expand("  ").unwrap_err(), "empty");
        assert_eq!(expand("(a|b").unwrap_err(), "unclosed `(`");
        assert_eq!(expand("a)").unwrap_err(), "`)` without `(`");
        assert_eq!(expand("a|b").unwrap_err(), "`|` outside a group");
        assert_eq!(
            expand("((((((a))))))").unwrap_err(),
            "groups nest more than 4 deep"
        );
        assert_eq!(
            expand("a (|) b").unwrap_err(),
            "a group with only empty alternatives"
        );
        assert_eq!(expand("a* b").unwrap_err(), "`*` may only end a pattern");
    }
}
