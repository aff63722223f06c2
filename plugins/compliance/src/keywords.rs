//! Recognising a carrier keyword (STOP, START, HELP ...) when it is the whole message.
//!
//! A message and every configured keyword are reduced to the same compact form:
//! invisible characters dropped, full-width letters folded to ASCII, everything that is
//! not a letter or digit trimmed from both ends, interior spaces, hyphens, underscores
//! and dots removed, and the rest upper-cased. "  Opt-Out! " and "OPT OUT" both become
//! `OPTOUT`. Any other character left inside (an apostrophe, a comma, an emoji) means
//! the message is a sentence, not a keyword. A keyword repeated ("stop stop",
//! "STOP STOP STOP") is the same request and counts too.

use std::collections::BTreeMap;

/// Which family a keyword belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyword {
    OptOut,
    /// Opts back in whether or not the person is opted out (START, UNSTOP).
    OptIn,
    /// Opts back in only when the person is opted out; otherwise it is conversation
    /// ("YES" answering a question Jules asked).
    OptInWhenOptedOut,
    Help,
    /// Asks to have their data erased (the host asks them to confirm).
    Erase,
    /// Confirms an erasure asked for a moment ago; otherwise it is conversation.
    EraseConfirm,
    /// Asks for Premium (the host answers with a checkout link).
    Upgrade,
    /// Asks to manage or cancel Premium (the host answers with a portal link).
    ManagePlan,
}

/// A repeated keyword counts up to this many times; longer runs are not a keyword.
const MAX_REPEATS: usize = 5;

#[derive(Debug, Clone)]
pub struct Keywords {
    words: BTreeMap<String, Keyword>,
    longest: usize,
}

impl Keywords {
    /// Build from `(family, setting name, words)`. An error names the setting and the
    /// word: an empty word, one with characters no message could match, or one that
    /// already belongs to another family.
    pub fn new(families: &[(Keyword, &str, &[String])]) -> Result<Keywords, String> {
        let mut words: BTreeMap<String, (Keyword, String)> = BTreeMap::new();
        for &(family, setting, list) in families {
            for word in list {
                let form = compact(word, usize::MAX).ok_or_else(|| {
                    format!("`{setting}`: {word:?} is not a keyword (letters and digits, optionally separated by spaces or hyphens)")
                })?;
                if let Some((other, other_setting)) = words.get(&form)
                    && *other != family
                {
                    return Err(format!(
                        "`{setting}`: {word:?} is also a keyword of `{other_setting}`"
                    ));
                }
                words.insert(form, (family, setting.to_string()));
            }
        }
        let longest = words.keys().map(|w| w.chars().count()).max().unwrap_or(0);
        Ok(Keywords {
            words: words.into_iter().map(|(w, (k, _))| (w, k)).collect(),
            longest,
        })
    }

    /// The keyword family of the whole message, if it is a keyword.
    pub fn classify(&self, text: &str) -> Option<Keyword> {
        let form = compact(text, self.longest.saturating_mul(MAX_REPEATS))?;
        if let Some(k) = self.words.get(&form) {
            return Some(*k);
        }
        self.words
            .iter()
            .find(|(word, _)| is_repeat_of(&form, word))
            .map(|(_, k)| *k)
    }
}

fn is_repeat_of(form: &str, word: &str) -> bool {
    let n = word.len();
    n > 0
        && form.len() > n
        && form.len().is_multiple_of(n)
        && form.len() / n <= MAX_REPEATS
        && form
            .as_bytes()
            .chunks(n)
            .all(|chunk| chunk == word.as_bytes())
}

/// The compact form of `text`, or `None` when it cannot be a keyword (nothing
/// alphanumeric, a character other than a separator inside, or more than `limit`
/// characters).
fn compact(text: &str, limit: usize) -> Option<String> {
    let chars: Vec<char> = text
        .chars()
        .filter(|&c| !is_invisible(c))
        .map(fold_width)
        .collect();
    let start = chars.iter().position(|c| c.is_alphanumeric())?;
    let end = chars.iter().rposition(|c| c.is_alphanumeric())?;
    let mut out = String::new();
    let mut count = 0usize;
    for &c in chars.get(start..=end)? {
        if is_separator(c) {
            continue;
        }
        if !c.is_alphanumeric() {
            return None;
        }
        for upper in c.to_uppercase() {
            out.push(upper);
            count += 1;
        }
        if count > limit {
            return None;
        }
    }
    Some(out)
}

/// Characters that render as nothing: phones and keyboards insert them (zero-width
/// spaces, joiners, direction marks, BOM, soft hyphen, variation selectors), and a
/// person who typed "STOP" must not be ignored because of one.
fn is_invisible(c: char) -> bool {
    matches!(c,
        '\u{00AD}' | '\u{034F}' | '\u{061C}' | '\u{180E}'
        | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2064}'
        | '\u{2066}'..='\u{2069}' | '\u{FE00}'..='\u{FE0F}' | '\u{FEFF}')
}

/// Spacing inside a keyword: "opt out", "opt-out", "opt_out", "o.p.t.o.u.t", "S T O P".
fn is_separator(c: char) -> bool {
    c.is_whitespace()
        || matches!(
            c,
            '-' | '_' | '.' | '\u{2010}' | '\u{2011}' | '\u{2012}' | '\u{2013}' | '\u{2014}'
        )
}

/// Full-width ASCII (U+FF01..U+FF5E), as some East Asian keyboards type it.
fn fold_width(c: char) -> char {
    match c {
        '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
        '\u{3000}' => ' ',
        _ => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn keywords() -> Keywords {
        let out = words(&["STOP", "STOPALL", "OPT OUT", "END"]);
        let help = words(&["HELP"]);
        Keywords::new(&[
            (Keyword::OptOut, "keywords.opt-out", &out),
            (Keyword::Help, "keywords.help", &help),
        ])
        .unwrap()
    }

    #[test]
    fn whole_message_only() {
        let k = keywords();
        for yes in [
            "stop",
            " Stop. ",
            "STOP!!",
            "s t o p",
            "Opt-Out",
            "opt   out",
            "ＳＴＯＰ",
            "\u{200B}STOP\u{200B}",
            "ST\u{200D}OP",
            "stop stop",
            "STOP 🛑",
            "stop all",
        ] {
            assert_eq!(k.classify(yes), Some(Keyword::OptOut), "{yes:?}");
        }
        for no in [
            "",
            "   ",
            "!!!",
            "stop it",
            "don't stop",
            "stop, please",
            "stopp",
            "STOP🛑STOP",
            "stop stop stop stop stop stop",
            "helpstop",
        ] {
            assert_eq!(k.classify(no), None, "{no:?}");
        }
    }

    #[test]
    fn refuses_bad_words() {
        let clash = words(&["stop"]);
        let out = words(&["STOP"]);
        let err = Keywords::new(&[
            (Keyword::OptOut, "keywords.opt-out", &out),
            (Keyword::OptIn, "keywords.opt-in", &clash),
        ])
        .unwrap_err();
        assert!(
            err.contains("keywords.opt-in") && err.contains("keywords.opt-out"),
            "{err}"
        );
        let empty = words(&["  "]);
        let err = Keywords::new(&[(Keyword::Help, "keywords.help", &empty)]).unwrap_err();
        assert!(err.contains("keywords.help"), "{err}");
        let odd = words(&["don't"]);
        let err = Keywords::new(&[(Keyword::Help, "keywords.help", &odd)]).unwrap_err();
        assert!(err.contains("keywords.help"), "{err}");
    }
}
