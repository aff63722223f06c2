//! Shaping a reply for SMS: GSM-friendly substitutions, the disclosure prefix, and
//! truncation to the segment budget.

use std::collections::BTreeMap;

use jules_policy_model::{Encoding, Outbound};

use crate::segments::{encoding_of, segments_of};

pub struct Shaper<'a> {
    pub disclosure: &'a str,
    pub max_segments: u32,
    pub substitutions: &'a BTreeMap<char, String>,
}

impl Shaper<'_> {
    pub fn shape(&self, reply: &str, disclose: bool) -> Outbound {
        let reply = self.substitute(reply.trim());
        let reply = reply.trim();
        let prefix = if disclose { self.disclosure } else { "" };
        if reply.is_empty() {
            return whole(prefix.trim_end().to_string(), false);
        }
        let full = format!("{prefix}{reply}");
        let outbound = whole(full, false);
        if outbound.segments <= self.max_segments {
            return outbound;
        }
        // The ellipsis is chosen in the text's own encoding so that truncation never
        // moves a GSM-7 text to UCS-2 (which would halve what fits).
        let encoding = outbound.encoding;
        let ellipsis = match encoding {
            Encoding::Gsm7 => "...",
            Encoding::Ucs2 => "…",
        };
        let fits = |cut: &str| {
            let chars = prefix.chars().chain(cut.chars()).chain(ellipsis.chars());
            segments_of(chars, encoding) <= self.max_segments
        };
        let cut = tidy_end(at_word_boundary(reply, longest_fitting(reply, fits)));
        whole(format!("{prefix}{cut}{ellipsis}"), true)
    }

    /// LLMs write typographic quotes and dashes; one of them turns a whole GSM-7 text
    /// into UCS-2 and halves what a segment holds.
    fn substitute(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        for c in text.chars() {
            match self.substitutions.get(&c) {
                Some(s) => out.push_str(s),
                None => out.push(c),
            }
        }
        out
    }
}

fn whole(text: String, truncated: bool) -> Outbound {
    let encoding = encoding_of(&text);
    let segments = segments_of(text.chars(), encoding);
    Outbound {
        text,
        encoding,
        segments,
        truncated,
    }
}

/// The longest prefix of `reply`, ending on a character boundary, that `fits`.
/// Fitting is monotone in length, so a binary search over boundaries finds it.
fn longest_fitting(reply: &str, fits: impl Fn(&str) -> bool) -> &str {
    let bounds: Vec<usize> = reply
        .char_indices()
        .map(|(i, _)| i)
        .chain([reply.len()])
        .collect();
    let (mut lo, mut hi) = (0usize, bounds.len().saturating_sub(1));
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        let end = bounds.get(mid).copied().unwrap_or(0);
        if fits(reply.get(..end).unwrap_or("")) {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    let end = bounds.get(lo).copied().unwrap_or(0);
    reply.get(..end).unwrap_or("")
}

/// Longest word worth keeping whole; a longer run (a URL, a keyboard mash) is cut
/// where it stands rather than thrown away.
const MAX_WORD: usize = 24;

/// Back off to the last space when the cut falls inside a word of at most `MAX_WORD`
/// characters.
fn at_word_boundary<'a>(reply: &'a str, cut: &'a str) -> &'a str {
    let rest = reply.get(cut.len()..).unwrap_or("");
    if rest.chars().next().is_none_or(char::is_whitespace) {
        return cut;
    }
    let Some((space, _)) = cut.char_indices().rev().find(|(_, c)| c.is_whitespace()) else {
        return cut;
    };
    let dropped = cut.get(space..).unwrap_or("").chars().count();
    if dropped <= MAX_WORD {
        cut.get(..space).unwrap_or(cut)
    } else {
        cut
    }
}

/// Drop what reads badly before an ellipsis: spaces, dangling punctuation, and the
/// loose halves of emoji sequences (a trailing joiner, a variation selector, a lone
/// regional-indicator letter of a flag).
fn tidy_end(mut cut: &str) -> &str {
    loop {
        let before = cut.len();
        cut = cut.trim_end_matches(|c: char| {
            c.is_whitespace()
                || matches!(
                    c,
                    ',' | ';'
                        | ':'
                        | '-'
                        | '.'
                        | '('
                        | '\u{200D}'
                        | '\u{FE0E}'
                        | '\u{FE0F}'
                        | '\u{20E3}'
                )
        });
        let indicators = cut
            .chars()
            .rev()
            .take_while(|c| is_regional_indicator(*c))
            .count();
        if indicators % 2 == 1
            && let Some((last, _)) = cut.char_indices().next_back()
        {
            cut = cut.get(..last).unwrap_or("");
        }
        if cut.len() == before {
            return cut;
        }
    }
}

fn is_regional_indicator(c: char) -> bool {
    ('\u{1F1E6}'..='\u{1F1FF}').contains(&c)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shaper(subs: &BTreeMap<char, String>, max: u32) -> Shaper<'_> {
        Shaper {
            disclosure: "AI here. ",
            max_segments: max,
            substitutions: subs,
        }
    }

    #[test]
    fn word_boundary_and_tidy() {
        assert_eq!(at_word_boundary("hello world", "hello wo"), "hello");
        assert_eq!(at_word_boundary("hello world", "hello"), "hello");
        assert_eq!(at_word_boundary("a verylongword", "a verylong"), "a");
        let url = format!("see https://{}", "x".repeat(40));
        assert_eq!(at_word_boundary(&url, &url[..40]), &url[..40]);
        assert_eq!(tidy_end("well, "), "well");
        assert_eq!(tidy_end("flag 🇺🇸🇫"), "flag 🇺🇸");
        assert_eq!(tidy_end("family 👨\u{200D}"), "family 👨");
    }

    #[test]
    fn truncation_keeps_encoding_and_budget() {
        let subs = BTreeMap::new();
        for max in 1..=4 {
            let s = shaper(&subs, max);
            let gsm = s.shape(&"word ".repeat(400), true);
            assert_eq!(gsm.encoding, Encoding::Gsm7);
            assert!(gsm.truncated && gsm.segments <= max && gsm.text.ends_with("..."));
            assert!(gsm.text.starts_with("AI here. word"));
            let ucs = s.shape(&"😊 word ".repeat(400), false);
            assert_eq!(ucs.encoding, Encoding::Ucs2);
            assert!(ucs.truncated && ucs.segments <= max && ucs.text.ends_with('…'));
        }
    }

    #[test]
    fn empty_reply() {
        let subs = BTreeMap::new();
        let s = shaper(&subs, 4);
        let o = s.shape("  ", false);
        assert_eq!((o.text.as_str(), o.segments, o.truncated), ("", 0, false));
        let o = s.shape("", true);
        assert_eq!((o.text.as_str(), o.segments), ("AI here.", 1));
    }
}
