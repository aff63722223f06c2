//! Text normalization with a map back to the original bytes.
//!
//! Matching runs over a canonical form (`" tok tok tok "`: lowercase, accents folded,
//! leetspeak decoded inside words, repeated letters collapsed, spaced-out letters
//! joined, slang and contractions expanded by the configured aliases), so the
//! lexicons only list each phrase once. Every byte of that form remembers the span
//! of original text it came from, so evidence can point into what the person wrote.

use std::collections::BTreeMap;

use crate::fold::{
    fold, is_apostrophe, is_clause_break, is_combining, is_emoji, is_invisible, is_leet_symbol,
    leet,
};

/// At most this many words on the left side of an alias.
pub(crate) const MAX_ALIAS_WORDS: usize = 4;

/// The words after the first of an alias's phrase, and the words that replace it.
type AliasTail = (Vec<String>, Vec<String>);

/// Slang, contractions and run-together spellings rewritten before matching.
#[derive(Debug, Default)]
pub(crate) struct Aliases {
    /// First word of the source phrase → (remaining source words, replacement words),
    /// longest source first so the most specific alias wins.
    by_first: BTreeMap<String, Vec<AliasTail>>,
}

impl Aliases {
    pub(crate) fn insert(&mut self, from: Vec<String>, to: Vec<String>) -> Result<(), String> {
        let Some((first, rest)) = from.split_first() else {
            return Err("normalizes to nothing".into());
        };
        let entry = self.by_first.entry(first.clone()).or_default();
        if entry.iter().any(|(r, _)| r.as_slice() == rest) {
            return Err(format!("`{}` is aliased twice", from.join(" ")));
        }
        entry.push((rest.to_vec(), to));
        entry.sort_by_key(|(r, _)| std::cmp::Reverse(r.len()));
        Ok(())
    }
}

#[derive(Debug, Clone, Copy)]
struct Unit {
    ch: char,
    start: u32,
    end: u32,
}

/// Separators seen since the last word.
#[derive(Debug, Clone, Copy, Default)]
struct Sep {
    brk: bool,
    len: u32,
    newline: bool,
}

impl Sep {
    fn note(&mut self, c: char) {
        self.len = self.len.saturating_add(1);
        self.brk |= is_clause_break(c);
        self.newline |= c == '\n' || c == '\r';
    }

    /// "k i l l" or "k.i.l.l", not letters from different lines or sentences apart.
    fn tight(&self) -> bool {
        self.len <= 2 && !self.newline
    }
}

#[derive(Debug, Clone, Copy)]
struct RawTok {
    first: usize,
    end: usize,
    sep: Sep,
}

/// The canonical form of a text and its map back to the original.
#[derive(Debug, Clone)]
pub(crate) struct Normalized {
    /// `" tok tok tok "`: words separated and surrounded by single spaces.
    pub(crate) text: String,
    /// The original byte span each byte of `text` comes from.
    spans: Vec<(u32, u32)>,
    /// Where each word starts in `text`.
    tok_starts: Vec<u32>,
    /// Whether a clause break (sentence punctuation, a new line) precedes each word.
    breaks: Vec<bool>,
}

impl Normalized {
    /// Original byte span of `text[s..e]` (which must start and end inside words).
    pub(crate) fn original(&self, s: usize, e: usize) -> (u32, u32) {
        let start = self.spans.get(s).map_or(0, |p| p.0);
        let end = e
            .checked_sub(1)
            .and_then(|i| self.spans.get(i))
            .map_or(start, |p| p.1);
        (start, end.max(start))
    }

    /// Index of the word that byte `at` of `text` belongs to.
    pub(crate) fn token_at(&self, at: usize) -> usize {
        self.tok_starts
            .partition_point(|&s| s as usize <= at)
            .saturating_sub(1)
    }

    /// Whether a clause break separates word `a` from a later word `b`.
    pub(crate) fn break_between(&self, a: usize, b: usize) -> bool {
        (a + 1..=b).any(|k| self.breaks.get(k).copied().unwrap_or(false))
    }

    /// Original byte span of words `t0..=t1`.
    pub(crate) fn words_original(&self, t0: usize, t1: usize) -> (u32, u32) {
        let at = |t: usize| {
            self.tok_starts
                .get(t)
                .map_or(self.text.len(), |&s| s as usize)
        };
        let (s, last) = (at(t0), at(t1));
        let e = self.text[last..]
            .find(' ')
            .map_or(self.text.len(), |k| last + k);
        self.original(s, e)
    }

    pub(crate) fn words(&self) -> impl Iterator<Item = &str> {
        self.text.split(' ').filter(|w| !w.is_empty())
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.tok_starts.is_empty()
    }
}

/// Offsets are u32 on the wire; anything beyond is not read (an SMS never gets there).
fn readable(text: &str) -> &str {
    let mut len = text.len().min(u32::MAX as usize);
    while !text.is_char_boundary(len) {
        len -= 1;
    }
    &text[..len]
}

pub(crate) fn normalize(text: &str, aliases: &Aliases) -> Normalized {
    let text = readable(text);
    let mut units: Vec<Unit> = Vec::with_capacity(text.len());
    let mut toks: Vec<RawTok> = Vec::new();
    let mut run: Vec<Unit> = Vec::new();
    let mut sep = Sep::default();
    for (i, c) in text.char_indices() {
        let (start, end) = (i as u32, (i + c.len_utf8()) as u32);
        if is_invisible(c) {
            continue;
        }
        for lc in c.to_lowercase() {
            if is_combining(lc) {
                // The mark belongs to the letter before it: keep it inside the span.
                if let Some(last) = run.last_mut() {
                    last.end = end;
                }
                continue;
            }
            let f = fold(lc);
            if is_apostrophe(f) {
                continue;
            }
            if f.is_alphanumeric() || is_leet_symbol(f) {
                run.push(Unit { ch: f, start, end });
            } else {
                flush(&mut run, &mut units, &mut toks, &mut sep);
                if is_emoji(f) {
                    let first = units.len();
                    units.push(Unit { ch: f, start, end });
                    toks.push(RawTok {
                        first,
                        end: first + 1,
                        sep: std::mem::take(&mut sep),
                    });
                } else {
                    sep.note(f);
                }
            }
        }
    }
    flush(&mut run, &mut units, &mut toks, &mut sep);
    let toks = join_spaced_letters(&mut units, toks);
    build(&units, &toks, aliases)
}

/// Decodes leetspeak in one run of letters, digits and symbols, and cuts it into words.
fn flush(run: &mut Vec<Unit>, units: &mut Vec<Unit>, toks: &mut Vec<RawTok>, sep: &mut Sep) {
    let n = run.len();
    if n == 0 {
        return;
    }
    let has_letter = run.iter().any(|u| u.ch.is_alphabetic());
    let lead_digits = run.iter().take_while(|u| u.ch.is_ascii_digit()).count();
    let wordish = |j: usize| {
        let c = run[j].ch;
        c.is_alphabetic() || (c.is_ascii_digit() && leet(c).is_some())
    };
    let mut open: Option<(usize, Sep)> = None;
    for j in 0..n {
        let u = run[j];
        let out = if is_leet_symbol(u.ch) {
            let prev = j > 0 && wordish(j - 1);
            let next = j + 1 < n && wordish(j + 1);
            let leading_ok = matches!(u.ch, '$' | '@') && j == 0;
            (has_letter && next && (prev || leading_ok))
                .then(|| leet(u.ch))
                .flatten()
        } else if u.ch.is_ascii_digit() && has_letter {
            // Times and counts ("7pm", "20mg") keep their digits; "5uicide" does not.
            let decode =
                j >= lead_digits || (lead_digits == 1 && n >= 4 && run[1].ch.is_alphabetic());
            Some(if decode {
                leet(u.ch).unwrap_or(u.ch)
            } else {
                u.ch
            })
        } else {
            Some(u.ch)
        };
        match out {
            Some(ch) => {
                let first = match open {
                    Some((first, _)) => first,
                    None => {
                        open = Some((units.len(), std::mem::take(sep)));
                        units.len()
                    }
                };
                push_collapsed(units, first, Unit { ch, ..u });
            }
            None => {
                if let Some((first, s)) = open.take() {
                    close(units, toks, first, s);
                }
                sep.note(u.ch);
            }
        }
    }
    if let Some((first, s)) = open.take() {
        close(units, toks, first, s);
    }
    run.clear();
}

/// Repeated letters collapse to one ("killlll", "kill" and "kil" all read "kil").
fn push_collapsed(units: &mut Vec<Unit>, first: usize, u: Unit) {
    if units.len() > first
        && let Some(last) = units.last_mut()
        && last.ch == u.ch
        && u.ch.is_alphabetic()
    {
        last.end = u.end;
        return;
    }
    units.push(u);
}

/// Ends a word. A number becomes `#` (one digit) or `##` (more), so lexicons can
/// say "took ## pills" for any count from ten up without matching "took 2 pills".
fn close(units: &mut Vec<Unit>, toks: &mut Vec<RawTok>, first: usize, sep: Sep) {
    if units.len() <= first {
        return;
    }
    if units[first..].iter().all(|u| u.ch.is_ascii_digit()) {
        let (start, end) = (units[first].start, units[units.len() - 1].end);
        let many = units.len() - first > 1;
        units.truncate(first);
        units.push(Unit {
            ch: '#',
            start,
            end,
        });
        if many {
            units.push(Unit {
                ch: '#',
                start,
                end,
            });
        }
    }
    toks.push(RawTok {
        first,
        end: units.len(),
        sep,
    });
}

/// Three or more single letters in a row ("k i l l", "s.u.i.c.i.d.e") become one word.
fn join_spaced_letters(units: &mut Vec<Unit>, toks: Vec<RawTok>) -> Vec<RawTok> {
    let single =
        |t: &RawTok, units: &[Unit]| t.end - t.first == 1 && units[t.first].ch.is_alphabetic();
    let mut out = Vec::with_capacity(toks.len());
    let mut i = 0;
    while i < toks.len() {
        let mut j = i;
        if single(&toks[i], units) {
            j = i + 1;
            while j < toks.len() && single(&toks[j], units) && toks[j].sep.tight() {
                j += 1;
            }
        }
        if j - i >= 3 {
            let first = units.len();
            for k in toks[i].first..toks[j - 1].end {
                let u = units[k];
                push_collapsed(units, first, u);
            }
            out.push(RawTok {
                first,
                end: units.len(),
                sep: toks[i].sep,
            });
            i = j;
        } else {
            out.push(toks[i]);
            i += 1;
        }
    }
    out
}

/// Applies aliases and lays the words out as `" tok tok "` with the byte map.
fn build(units: &[Unit], toks: &[RawTok], aliases: &Aliases) -> Normalized {
    let mut pool = String::new();
    let mut ranges = Vec::with_capacity(toks.len());
    for t in toks {
        let s = pool.len();
        pool.extend(units[t.first..t.end].iter().map(|u| u.ch));
        ranges.push(s..pool.len());
    }
    let word = |i: usize| &pool[ranges[i].clone()];
    let mut out = Normalized {
        text: String::with_capacity(pool.len() + toks.len() + 2),
        spans: Vec::with_capacity(pool.len() + toks.len() + 2),
        tok_starts: Vec::with_capacity(toks.len()),
        breaks: Vec::with_capacity(toks.len()),
    };
    let mut prev_end = 0u32;
    let mut push_word =
        |out: &mut Normalized, w: &str, span: Option<(u32, u32)>, first: usize, brk: bool| {
            out.text.push(' ');
            out.spans.push((prev_end, prev_end));
            out.tok_starts.push(out.text.len() as u32);
            out.breaks.push(brk);
            match span {
                Some(sp) => {
                    out.text.push_str(w);
                    out.spans.extend(std::iter::repeat_n(sp, w.len()));
                    prev_end = sp.1;
                }
                None => {
                    for (k, ch) in w.chars().enumerate() {
                        let u = units[first + k];
                        out.text.push(ch);
                        out.spans
                            .extend(std::iter::repeat_n((u.start, u.end), ch.len_utf8()));
                        prev_end = u.end;
                    }
                }
            }
        };
    let mut i = 0;
    'words: while i < toks.len() {
        if let Some(cands) = aliases.by_first.get(word(i)) {
            for (rest, target) in cands {
                let last = i + rest.len();
                if last < toks.len() && rest.iter().enumerate().all(|(k, r)| word(i + 1 + k) == r) {
                    let span = (units[toks[i].first].start, units[toks[last].end - 1].end);
                    for (k, w) in target.iter().enumerate() {
                        push_word(&mut out, w, Some(span), 0, k == 0 && toks[i].sep.brk);
                    }
                    i = last + 1;
                    continue 'words;
                }
            }
        }
        push_word(&mut out, word(i), None, toks[i].first, toks[i].sep.brk);
        i += 1;
    }
    out.text.push(' ');
    out.spans.push((prev_end, prev_end));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(text: &str) -> Normalized {
        normalize(text, &Aliases::default())
    }

    /// The original text behind the normalized word at `index`.
    fn source<'a>(n: &Normalized, text: &'a str, index: usize) -> &'a str {
        let s = n.tok_starts[index] as usize;
        let e = n.text[s..].find(' ').map_or(n.text.len(), |k| s + k);
        let (a, b) = n.original(s, e);
        &text[a as usize..b as usize]
    }

    #[test]
    fn lowercases_folds_and_collapses() {
        let n = plain("I WANT to Kiiiill   MYSELF!!! Suicidárme");
        assert_eq!(n.text, " i want to kil myself suicidarme ");
        assert_eq!(
            source(&n, "I WANT to Kiiiill   MYSELF!!! Suicidárme", 3),
            "Kiiiill"
        );
        assert_eq!(
            source(&n, "I WANT to Kiiiill   MYSELF!!! Suicidárme", 5),
            "Suicidárme"
        );
    }

    #[test]
    fn decoded_accents_keep_their_marks_inside_the_span() {
        let text = "sui\u{0301}cide";
        let n = plain(text);
        assert_eq!(n.text, " suicide ");
        assert_eq!(source(&n, text, 0), text);
    }

    #[test]
    fn leetspeak_inside_words_only() {
        assert_eq!(plain("k!ll mys3lf").text, " kil myself ");
        assert_eq!(
            plain("su1c1de $uicide @buse 5uicide").text,
            " suicide suicide abuse suicide "
        );
        assert_eq!(
            plain("at 7pm i took 20 pills help!").text,
            " at 7pm i tok ## pils help "
        );
        assert_eq!(plain("3 pills").text, " # pils ");
    }

    #[test]
    fn invisible_characters_do_not_split_words() {
        let text = "k\u{200B}i\u{200D}l\u{2060}l \u{202E}me\u{FEFF}";
        let n = plain(text);
        assert_eq!(n.text, " kil me ");
        assert_eq!(source(&n, text, 0), "k\u{200B}i\u{200D}l\u{2060}l");
    }

    #[test]
    fn spaced_letters_join() {
        assert_eq!(plain("k i l l myself").text, " kil myself ");
        assert_eq!(plain("s.u.i.c.i.d.e").text, " suicide ");
        assert_eq!(plain("i a").text, " i a ");
        assert_eq!(
            source(&plain("x k i l l y"), "x k i l l y", 0),
            "x k i l l y"
        );
    }

    #[test]
    fn apostrophes_vanish_and_emoji_are_words() {
        let n = plain("don’t 😂😂 i'm");
        assert_eq!(n.text, " dont 😂 😂 im ");
    }

    #[test]
    fn aliases_rewrite_and_map_to_their_source() {
        let mut a = Aliases::default();
        a.insert(vec!["kms".into()], vec!["kil".into(), "myself".into()])
            .unwrap();
        a.insert(vec!["my".into(), "self".into()], vec!["myself".into()])
            .unwrap();
        let text = "ugh KMS or kill my self";
        let n = normalize(text, &a);
        assert_eq!(n.text, " ugh kil myself or kil myself ");
        assert_eq!(source(&n, text, 1), "KMS");
        assert_eq!(source(&n, text, 2), "KMS");
        assert_eq!(source(&n, text, 5), "my self");
        assert!(a.insert(vec!["kms".into()], vec!["x".into()]).is_err());
    }

    #[test]
    fn clause_breaks_are_remembered() {
        let n = plain("not ok, i want");
        assert!(!n.break_between(0, 1));
        assert!(n.break_between(1, 2));
        assert!(n.break_between(0, 3));
    }
}
