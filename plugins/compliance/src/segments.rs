//! SMS encoding and segment arithmetic (GSM 03.38 and UCS-2).
//!
//! Segments are counted the way carriers split a long text: a character is never
//! cut in two, so a GSM extension character (escape + code) or a UTF-16 surrogate
//! pair that would straddle a segment boundary starts the next segment. For most
//! texts this equals `ceil(units / 153)` (GSM-7) or `ceil(units / 67)` (UCS-2); it is
//! one more when a pair straddles a boundary, which the plain formula would hide.

use jules_policy_model::Encoding;

/// Septets (GSM-7) or code units (UCS-2) in a single, unsplit segment.
const GSM_SINGLE: usize = 160;
/// Septets per segment of a split text; the rest of the 140 bytes is the UDH.
const GSM_MULTI: usize = 153;
const UCS2_SINGLE: usize = 70;
const UCS2_MULTI: usize = 67;

/// Whether `c` is in the GSM 03.38 default alphabet (one septet).
pub fn is_gsm_basic(c: char) -> bool {
    matches!(c,
        '@' | '£' | '$' | '¥' | 'è' | 'é' | 'ù' | 'ì' | 'ò' | 'Ç' | '\n' | 'Ø' | 'ø' | '\r' | 'Å' | 'å'
        | 'Δ' | '_' | 'Φ' | 'Γ' | 'Λ' | 'Ω' | 'Π' | 'Ψ' | 'Σ' | 'Θ' | 'Ξ' | 'Æ' | 'æ' | 'ß' | 'É'
        | ' ' | '!' | '"' | '#' | '¤' | '%' | '&' | '\'' | '(' | ')' | '*' | '+' | ',' | '-' | '.' | '/'
        | '0'..='9' | ':' | ';' | '<' | '=' | '>' | '?'
        | '¡' | 'A'..='Z' | 'Ä' | 'Ö' | 'Ñ' | 'Ü' | '§'
        | '¿' | 'a'..='z' | 'ä' | 'ö' | 'ñ' | 'ü' | 'à')
}

/// Whether `c` is in the GSM 03.38 extension table (escape + code: two septets).
pub fn is_gsm_extension(c: char) -> bool {
    matches!(
        c,
        '\u{0C}' | '^' | '{' | '}' | '\\' | '[' | '~' | ']' | '|' | '€'
    )
}

pub fn is_gsm(c: char) -> bool {
    is_gsm_basic(c) || is_gsm_extension(c)
}

/// GSM-7 when every character has a GSM encoding, else UCS-2. Empty text is GSM-7.
pub fn encoding_of(text: &str) -> Encoding {
    if text.chars().all(is_gsm) {
        Encoding::Gsm7
    } else {
        Encoding::Ucs2
    }
}

/// Septets or UTF-16 code units `c` takes in `encoding`.
pub fn units_of(c: char, encoding: Encoding) -> usize {
    match encoding {
        Encoding::Gsm7 if is_gsm_extension(c) => 2,
        Encoding::Gsm7 => 1,
        Encoding::Ucs2 => c.len_utf16(),
    }
}

/// Segments the characters occupy in `encoding`; 0 for no characters at all, since
/// an empty text is never sent.
pub fn segments_of(chars: impl Iterator<Item = char> + Clone, encoding: Encoding) -> u32 {
    let (single, multi) = match encoding {
        Encoding::Gsm7 => (GSM_SINGLE, GSM_MULTI),
        Encoding::Ucs2 => (UCS2_SINGLE, UCS2_MULTI),
    };
    let total: usize = chars.clone().map(|c| units_of(c, encoding)).sum();
    if total == 0 {
        return 0;
    }
    if total <= single {
        return 1;
    }
    let mut segments: u32 = 1;
    let mut filled = 0;
    for c in chars {
        let units = units_of(c, encoding);
        if filled + units > multi {
            segments = segments.saturating_add(1);
            filled = 0;
        }
        filled += units;
    }
    segments
}

/// Segments `text` occupies in its own encoding.
pub fn segments(text: &str) -> u32 {
    segments_of(text.chars(), encoding_of(text))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(text: &str) -> (Encoding, u32) {
        (encoding_of(text), segments(text))
    }

    #[test]
    fn alphabet_sizes_match_the_standard() {
        let all = || (0..=0x10FFFF_u32).filter_map(char::from_u32);
        // 128 code points minus ESC, which is not a character of its own.
        assert_eq!(all().filter(|&c| is_gsm_basic(c)).count(), 127);
        assert_eq!(all().filter(|&c| is_gsm_extension(c)).count(), 10);
        assert_eq!(
            all()
                .filter(|&c| is_gsm_basic(c) && is_gsm_extension(c))
                .count(),
            0
        );
    }

    #[test]
    fn gsm_boundaries() {
        assert_eq!(count(""), (Encoding::Gsm7, 0));
        assert_eq!(count("a"), (Encoding::Gsm7, 1));
        assert_eq!(count(&"a".repeat(160)), (Encoding::Gsm7, 1));
        assert_eq!(count(&"a".repeat(161)), (Encoding::Gsm7, 2));
        assert_eq!(count(&"a".repeat(306)), (Encoding::Gsm7, 2));
        assert_eq!(count(&"a".repeat(307)), (Encoding::Gsm7, 3));
        assert_eq!(count(&"a".repeat(459)), (Encoding::Gsm7, 3));
        assert_eq!(count(&"a".repeat(460)), (Encoding::Gsm7, 4));
    }

    #[test]
    fn gsm_extension_counts_two_and_is_not_split() {
        assert_eq!(count(&"€".repeat(80)), (Encoding::Gsm7, 1));
        assert_eq!(count(&"€".repeat(81)), (Encoding::Gsm7, 2));
        // 152 septets then an escape pair: the pair moves whole to segment two.
        let text = format!("{}{}{}", "a".repeat(152), "[", "a".repeat(10));
        assert_eq!(count(&text), (Encoding::Gsm7, 2));
        let text = format!("{}{}{}", "a".repeat(152), "[", "a".repeat(152));
        assert_eq!(count(&text), (Encoding::Gsm7, 3));
    }

    #[test]
    fn ucs2_boundaries() {
        assert_eq!(count(&"é".repeat(70)), (Encoding::Gsm7, 1));
        assert_eq!(count(&"á".repeat(70)), (Encoding::Ucs2, 1));
        assert_eq!(count(&"á".repeat(71)), (Encoding::Ucs2, 2));
        assert_eq!(count(&"á".repeat(134)), (Encoding::Ucs2, 2));
        assert_eq!(count(&"á".repeat(135)), (Encoding::Ucs2, 3));
        assert_eq!(count(&"😊".repeat(35)), (Encoding::Ucs2, 1));
        assert_eq!(count(&"😊".repeat(36)), (Encoding::Ucs2, 2));
    }

    #[test]
    fn surrogate_pairs_are_not_split_across_segments() {
        // 66 units then an emoji: the pair would straddle unit 67, so it moves on.
        let text = format!("{}😊", "á".repeat(66));
        assert_eq!(count(&text), (Encoding::Ucs2, 1));
        let text = format!("{}😊{}", "á".repeat(66), "á".repeat(66));
        assert_eq!(count(&text), (Encoding::Ucs2, 3));
    }
}
