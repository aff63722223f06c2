//! Small text helpers shared by the prompt's parts.

/// At most `max` characters; a clipped text ends with "…" (within the limit).
pub fn clip(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Control characters and line breaks become spaces, runs of spaces collapse, and the
/// ends are trimmed.
pub fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text
        .split(|c: char| c.is_whitespace() || c.is_control())
        .filter(|w| !w.is_empty())
    {
        if !out.is_empty() {
            out.push(' ');
        }
        out.push_str(word);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clip_counts_characters() {
        assert_eq!(clip("hello", 5), "hello");
        assert_eq!(clip("hello!", 5), "hell…");
        assert_eq!(clip("😊😊😊", 2), "😊…");
        assert_eq!(clip("abc", 0), "");
    }

    #[test]
    fn one_line_flattens() {
        assert_eq!(one_line("  a\n\tb\u{0}c \u{2028} "), "a b c");
    }
}
