//! Character classes and foldings used by normalization.
//!
//! Small hand-written tables instead of a Unicode normalization crate: only Latin
//! letters matter to the lexicons (English and Spanish), and the tables keep the
//! guest small.

/// Code points that render as nothing and are used to split words so that filters
/// miss them: zero-width characters, bidi controls, variation selectors, emoji
/// skin tones and tags, the soft hyphen.
pub(crate) fn is_invisible(c: char) -> bool {
    matches!(
        c as u32,
        0x00AD
            | 0x034F
            | 0x061C
            | 0x180E
            | 0x200B..=0x200F
            | 0x202A..=0x202E
            | 0x2060..=0x2064
            | 0x2066..=0x2069
            | 0xFE00..=0xFE0F
            | 0xFEFF
            | 0x1F3FB..=0x1F3FF
            | 0xE0000..=0xE007F
            | 0xE0100..=0xE01EF
    )
}

/// Combining marks: dropped so that decomposed accents fold like precomposed ones.
pub(crate) fn is_combining(c: char) -> bool {
    matches!(
        c as u32,
        0x0300..=0x036F | 0x1AB0..=0x1AFF | 0x1DC0..=0x1DFF | 0x20D0..=0x20FF | 0xFE20..=0xFE2F
    )
}

/// Pictographs are kept as one-character tokens so guards can use them ("💀", "😂").
pub(crate) fn is_emoji(c: char) -> bool {
    matches!(
        c as u32,
        0x2600..=0x27BF | 0x2B50 | 0x2B55 | 0x1F000..=0x1FAFF
    )
}

/// Apostrophes vanish inside words, so "don't", "dont" and "don’t" read alike.
pub(crate) fn is_apostrophe(c: char) -> bool {
    matches!(
        c,
        '\'' | '\u{2018}' | '\u{2019}' | '\u{02BC}' | '`' | '\u{00B4}'
    )
}

/// Separators that end a clause: a negation or a window never reaches across them.
pub(crate) fn is_clause_break(c: char) -> bool {
    matches!(
        c,
        '.' | '!' | '?' | ';' | ':' | ',' | '\n' | '\r' | '\u{2026}' | '\u{00A1}' | '\u{00BF}'
    )
}

/// Folds an already-lowercased character: accents to their base letter, fullwidth
/// forms to ASCII, and the Cyrillic look-alikes used to dodge filters to Latin.
pub(crate) fn fold(c: char) -> char {
    let u = c as u32;
    if (0xFF01..=0xFF5E).contains(&u) {
        let ascii = char::from_u32(u - 0xFEE0).unwrap_or(c);
        return ascii.to_ascii_lowercase();
    }
    if u < 0xC0 {
        return c;
    }
    match c {
        'à'..='å' | 'ā' | 'ă' | 'ą' | 'а' => 'a',
        'ç' | 'ć' | 'ĉ' | 'ċ' | 'č' | 'с' => 'c',
        'ď' | 'đ' | 'ԁ' => 'd',
        'è'..='ë' | 'ē' | 'ĕ' | 'ė' | 'ę' | 'ě' | 'е' => 'e',
        'ĝ' | 'ğ' | 'ġ' | 'ģ' => 'g',
        'ĥ' | 'ħ' | 'һ' => 'h',
        'ì'..='ï' | 'ĩ' | 'ī' | 'ĭ' | 'į' | 'ı' | 'і' => 'i',
        'ĵ' | 'ј' => 'j',
        'ķ' => 'k',
        'ĺ' | 'ļ' | 'ľ' | 'ŀ' | 'ł' | 'ӏ' => 'l',
        'ñ' | 'ń' | 'ņ' | 'ň' | 'ŉ' => 'n',
        'ò'..='ö' | 'ø' | 'ō' | 'ŏ' | 'ő' | 'о' => 'o',
        'р' => 'p',
        'ŕ' | 'ŗ' | 'ř' => 'r',
        'ś' | 'ŝ' | 'ş' | 'š' | 'ѕ' => 's',
        'ţ' | 'ť' | 'ŧ' => 't',
        'ù'..='ü' | 'ũ' | 'ū' | 'ŭ' | 'ů' | 'ű' | 'ų' => 'u',
        'ŵ' => 'w',
        'х' => 'x',
        'ý' | 'ÿ' | 'ŷ' | 'у' => 'y',
        'ź' | 'ż' | 'ž' => 'z',
        _ => c,
    }
}

/// The letter a leetspeak symbol or digit stands for.
pub(crate) fn leet(c: char) -> Option<char> {
    match c {
        '1' | '!' | '|' => Some('i'),
        '3' => Some('e'),
        '0' => Some('o'),
        '4' | '@' => Some('a'),
        '5' | '$' => Some('s'),
        '7' => Some('t'),
        _ => None,
    }
}

/// Symbols that are letters in leetspeak but punctuation otherwise.
pub(crate) fn is_leet_symbol(c: char) -> bool {
    matches!(c, '!' | '|' | '$' | '@')
}
