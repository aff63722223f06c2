//! The learned part of the detector: a linear classifier over hashed word and
//! character n-grams of the normalized text, whose weights are bundle data.
//!
//! Rules catch what they were written for; the model catches the same meaning in
//! words nobody listed ("bought a rope", "this is my last text"). It is a set of
//! one-vs-rest logistic heads (one per category, then "high or worse" and
//! "imminent"), quantized to `i8` so that scoring is integer arithmetic: the native
//! detector and the component agree bit for bit. Training lives in
//! `plugins/crisis-train`; the features are defined here only, so training and
//! detection cannot drift apart.

use base64::Engine;
use jules_policy_model::{Category, Severity};
use serde::Deserialize;

use crate::config::{CatMask, bit};
use crate::matcher::Hit;
use crate::normalize::Normalized;

/// The heads, in the order scores are reported.
pub const HEADS: [&str; 6] = [
    "suicide",
    "self-harm",
    "violence",
    "abuse",
    "high",
    "imminent",
];
const HIGH: usize = 4;
const IMMINENT: usize = 5;

/// Evidence entries the model reports per category: its strongest features.
const TOP_FEATURES: usize = 3;
/// Words of one message the model reads; a longer text is scored on its start, which
/// keeps the cost of a pasted essay bounded.
const MAX_WORDS: usize = 400;
/// Character n-grams are taken from words up to this long.
const MAX_CHAR_WORD: usize = 24;

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RawModel {
    #[serde(default)]
    note: Option<String>,
    buckets_log2: u8,
    #[serde(default)]
    trained_on: Option<serde_json::Value>,
    heads: std::collections::BTreeMap<String, RawHead>,
}

#[derive(Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct RawHead {
    bias: i32,
    threshold: i32,
    weights: String,
}

#[derive(Debug)]
pub(crate) struct Model {
    log2: u8,
    bias: [i32; 6],
    threshold: [i32; 6],
    /// Per bucket, every head's weight: one cache line per feature, not six.
    weights: Vec<[i8; 6]>,
}

/// One feature occurrence: its bucket and the words it was read from.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Feature {
    pub(crate) bucket: u32,
    pub(crate) t0: u32,
    pub(crate) t1: u32,
}

/// What the model says about one message.
#[derive(Debug, Default)]
pub(crate) struct Reading {
    /// Per category: the model's severity, when its head fires.
    pub(crate) severity: [Option<Severity>; 4],
    /// Per category: the words of its strongest features (first, last word).
    pub(crate) evidence: [Vec<(u32, u32)>; 4],
}

impl Model {
    pub(crate) fn from_value(v: serde_json::Value) -> Result<Model, String> {
        let raw: RawModel = serde_json::from_value(v).map_err(|e| format!("model: {e}"))?;
        let _ = (raw.note, raw.trained_on);
        if !(10..=20).contains(&raw.buckets_log2) {
            return Err(format!(
                "model.buckets-log2: {} is outside 10..=20",
                raw.buckets_log2
            ));
        }
        let len = 1usize << raw.buckets_log2;
        let mut model = Model {
            log2: raw.buckets_log2,
            bias: [0; 6],
            threshold: [0; 6],
            weights: vec![[0; 6]; len],
        };
        for (k, name) in HEADS.into_iter().enumerate() {
            let Some(h) = raw.heads.get(name) else {
                return Err(format!("model.heads: `{name}` is missing"));
            };
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(&h.weights)
                .map_err(|e| format!("model.heads.{name}.weights: not base64 ({e})"))?;
            if bytes.len() != len {
                return Err(format!(
                    "model.heads.{name}.weights: {} weights, buckets-log2 says {len}",
                    bytes.len()
                ));
            }
            model.bias[k] = h.bias;
            model.threshold[k] = h.threshold;
            for (w, b) in model.weights.iter_mut().zip(bytes) {
                w[k] = b as i8;
            }
        }
        if let Some(extra) = raw.heads.keys().find(|k| !HEADS.contains(&k.as_str())) {
            return Err(format!("model.heads: unknown head `{extra}`"));
        }
        Ok(model)
    }

    pub(crate) fn buckets_log2(&self) -> u8 {
        self.log2
    }

    /// Every head's score (bias included) over `features`.
    pub(crate) fn scores(&self, features: &[Feature]) -> [i32; 6] {
        let mut out = self.bias;
        for f in features {
            let w = &self.weights[f.bucket as usize];
            for (o, &w) in out.iter_mut().zip(w) {
                *o = o.saturating_add(i32::from(w));
            }
        }
        out
    }

    pub(crate) fn read(&self, features: &[Feature]) -> Reading {
        let scores = self.scores(features);
        let fires = |i: usize| scores[i] >= self.threshold[i];
        let mut level = Severity::Moderate;
        if fires(HIGH) {
            level = Severity::High;
        }
        if fires(IMMINENT) {
            level = Severity::Imminent;
        }
        let mut out = Reading::default();
        for c in Category::ALL {
            let i = c as usize;
            if !fires(i) {
                continue;
            }
            out.severity[i] = Some(level);
            out.evidence[i] = self.strongest(i, features);
        }
        out
    }

    /// The words of head `i`'s strongest positive features, in text order.
    fn strongest(&self, i: usize, features: &[Feature]) -> Vec<(u32, u32)> {
        let mut ranked: Vec<(i8, u32, u32)> = features
            .iter()
            .map(|f| (self.weights[f.bucket as usize][i], f.t0, f.t1))
            .filter(|&(w, _, _)| w > 0)
            .collect();
        ranked.sort_by_key(|&(w, t0, t1)| (std::cmp::Reverse(w), t0, t1));
        let mut spans: Vec<(u32, u32)> = Vec::with_capacity(TOP_FEATURES);
        for (_, t0, t1) in ranked {
            if spans.len() == TOP_FEATURES {
                break;
            }
            if !spans.contains(&(t0, t1)) {
                spans.push((t0, t1));
            }
        }
        spans.sort_unstable();
        spans
    }
}

/// The features of a normalized text: word 1–3-grams, character 3–5-grams inside
/// each word (typos and inflections share most of them) and, when earlier turns of
/// the person showed a crisis in some categories, each word and word pair crossed
/// with those categories ("here" after a suicide turn is not "here").
pub(crate) fn features(norm: &Normalized, context: CatMask, log2: u8) -> Vec<Feature> {
    let words: Vec<&str> = norm.words().take(MAX_WORDS).collect();
    let mut out = Vec::with_capacity(words.len() * 16);
    let mut push = |h: u64, t0: usize, t1: usize| {
        out.push(Feature {
            bucket: bucket(h, log2),
            t0: t0 as u32,
            t1: t1 as u32,
        })
    };
    for (t, w) in words.iter().enumerate() {
        push(fnv(b"w", &[w.as_bytes()]), t, t);
        if t >= 1 {
            push(
                fnv(b"b", &[words[t - 1].as_bytes(), w.as_bytes()]),
                t - 1,
                t,
            );
        }
        if t >= 2 {
            let (a, b) = (words[t - 2].as_bytes(), words[t - 1].as_bytes());
            push(fnv(b"t", &[a, b, w.as_bytes()]), t - 2, t);
        }
        if w.len() <= MAX_CHAR_WORD {
            let mut marked = [0u8; MAX_CHAR_WORD + 2];
            marked[0] = b'<';
            marked[1..=w.len()].copy_from_slice(w.as_bytes());
            marked[w.len() + 1] = b'>';
            let marked = &marked[..w.len() + 2];
            // One pass per start: the 3-, 4- and 5-gram hashes extend each other.
            for i in 0..marked.len().saturating_sub(2) {
                let mut h = fnv(b"c", &[&marked[i..i + 2]]);
                for &b in marked[i + 2..].iter().take(3) {
                    h = fnv_step(h, b);
                    push(h, t, t);
                }
            }
        }
    }
    for c in Category::ALL {
        if context & bit(c) == 0 {
            continue;
        }
        let tag = [b'x', c as u8];
        if let Some(last) = words.len().checked_sub(1) {
            push(fnv(&tag, &[]), 0, last);
        }
        for (t, w) in words.iter().enumerate() {
            push(fnv(&tag, &[w.as_bytes()]), t, t);
            if t >= 1 {
                push(
                    fnv(&tag, &[words[t - 1].as_bytes(), w.as_bytes()]),
                    t - 1,
                    t,
                );
            }
        }
    }
    out
}

/// A feature from what the rules saw (a rule, guard or escalator match `h`).
pub(crate) fn signal(log2: u8, tag: &[u8], parts: &[&[u8]], h: &Hit) -> Feature {
    Feature {
        bucket: bucket(fnv(tag, parts), log2),
        t0: h.t0 as u32,
        t1: h.t1 as u32,
    }
}

fn bucket(h: u64, log2: u8) -> u32 {
    ((h ^ (h >> 29)) & ((1u64 << log2) - 1)) as u32
}

/// FNV-1a over a tag and words joined by spaces: stable across platforms and
/// releases, unlike the standard library's hasher.
fn fnv(tag: &[u8], parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    h = tag.iter().fold(h, |h, &b| fnv_step(h, b));
    for (i, p) in parts.iter().enumerate() {
        h = fnv_step(h, if i == 0 { b'|' } else { b' ' });
        h = p.iter().fold(h, |h, &b| fnv_step(h, b));
    }
    h
}

fn fnv_step(h: u64, b: u8) -> u64 {
    (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
}

#[cfg(test)]
mod tests;
