//! One Aho-Corasick automaton over every phrase of the configuration.
//!
//! Phrases are stored as `" w1 w2 "` so that matches always fall on word
//! boundaries of the normalized text; a prefix phrase drops the trailing space.

use std::collections::{BTreeMap, BTreeSet};

use aho_corasick::{AhoCorasick, AhoCorasickKind, MatchKind};

use crate::normalize::Normalized;

/// What a phrase belongs to (indices into the configuration's lists).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Owner {
    Rule(u16),
    Escalator(u16),
    Guard(u16),
    /// A guard's exception: a cue inside it does not count ("not ok").
    Except(u16),
}

/// A phrase found in the normalized text.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Hit {
    pub(crate) owner: Owner,
    /// Byte range in the normalized text, without the surrounding spaces.
    pub(crate) s: usize,
    pub(crate) e: usize,
    /// First and last word.
    pub(crate) t0: usize,
    pub(crate) t1: usize,
    /// Byte range in the original text.
    pub(crate) start: u32,
    pub(crate) end: u32,
}

impl Hit {
    pub(crate) fn overlaps(&self, other: &Hit) -> bool {
        self.s < other.e && other.s < self.e
    }

    pub(crate) fn contains(&self, other: &Hit) -> bool {
        self.s <= other.s && other.e <= self.e
    }
}

#[derive(Debug)]
pub(crate) struct Matcher {
    ac: AhoCorasick,
    /// Per automaton pattern: its owners and whether it is a prefix.
    patterns: Vec<(Vec<Owner>, bool)>,
}

impl Matcher {
    pub(crate) fn build(
        phrases: BTreeMap<(String, bool), BTreeSet<Owner>>,
    ) -> Result<Matcher, String> {
        let mut needles = Vec::with_capacity(phrases.len());
        let mut patterns = Vec::with_capacity(phrases.len());
        for ((words, prefix), owners) in phrases {
            needles.push(if prefix {
                format!(" {words}")
            } else {
                format!(" {words} ")
            });
            patterns.push((owners.into_iter().collect(), prefix));
        }
        // A contiguous NFA, not a DFA: the DFA of these phrases weighs ~17 MB, and
        // every call on a fresh component instance pays for the pages it touches.
        let ac = AhoCorasick::builder()
            .kind(Some(AhoCorasickKind::ContiguousNFA))
            .match_kind(MatchKind::Standard)
            .build(&needles)
            .map_err(|e| format!("patterns: the matcher cannot be built: {e}"))?;
        Ok(Matcher { ac, patterns })
    }

    /// Every phrase occurrence, overlapping ones included.
    pub(crate) fn scan(&self, norm: &Normalized) -> Vec<Hit> {
        let text = norm.text.as_str();
        let mut hits = Vec::new();
        for m in self.ac.find_overlapping_iter(text) {
            let Some((owners, prefix)) = self.patterns.get(m.pattern().as_usize()) else {
                continue;
            };
            let s = m.start() + 1;
            let e = if *prefix {
                // Evidence covers the whole word, not just the stem.
                text[m.end()..]
                    .find(' ')
                    .map_or(text.len(), |k| m.end() + k)
            } else {
                m.end() - 1
            };
            if s >= e {
                continue;
            }
            let (start, end) = norm.original(s, e);
            let (t0, t1) = (norm.token_at(s), norm.token_at(e - 1));
            for &owner in owners {
                hits.push(Hit {
                    owner,
                    s,
                    e,
                    t0,
                    t1,
                    start,
                    end,
                });
            }
        }
        hits.sort_by_key(|h| (h.s, h.e, h.owner));
        hits
    }
}
