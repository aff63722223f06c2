//! Trains the crisis detector's model (see `jules_crisis`'s `model` module) from the
//! bundle's labelled sets and writes it into the bundle's `config.json`, as its last
//! key, `model`. Weights are fitted on the train files, thresholds chosen on the dev
//! files; the blind test is never read.
//!
//! Two stages, because the model reads a message differently after earlier turns that
//! showed a crisis, and which turns did depends on the model: the first stage sees
//! the context the rules find, the second the context the rules and the first model
//! find.

pub mod data;
pub mod learn;
mod pick;
mod splice;

use std::path::Path;

use base64::Engine;
use jules_crisis::{Detector, HEADS};

use crate::data::{DEV, Item, TRAIN, inputs, load};
use crate::learn::{Head, Settings, fit};

/// The new config text and what training saw on the dev files.
pub struct Trained {
    pub config: String,
    pub report: String,
}

/// Trains on the bundle in `dir` (its `config.json` and labelled files); the report
/// lists the dev errors when `errors` is set.
pub fn train(dir: &Path, s: &Settings, errors: bool) -> Result<Trained, String> {
    let path = dir.join("config.json");
    let text = std::fs::read_to_string(&path).map_err(|e| format!("{}: {e}", path.display()))?;
    let base = splice::without_model(&text)?;
    let rules_only = Detector::from_config_json(&base).map_err(|e| format!("config: {e}"))?;
    // The regression corpus is what the bundle promises: it is seen several times.
    let curated = load(dir, &TRAIN[..1])?;
    let rest = load(dir, &TRAIN[1..])?;
    let mut train: Vec<Item> = Vec::new();
    for _ in 0..s.corpus_weight {
        train.extend(curated.iter().cloned());
    }
    train.extend(rest);
    let dev = load(dir, &DEV)?;

    let first = fit_heads(&rules_only, &train, &dev, s);
    let staged = Detector::from_config_json(&splice::with_model(
        &base,
        &model_json(&first, s, &train, &dev),
    ))?;
    let heads = fit_heads(&staged, &train, &dev, s);
    let config = splice::with_model(&base, &model_json(&heads, s, &train, &dev));
    let detector =
        Detector::from_config_json(&config).map_err(|e| format!("trained config: {e}"))?;
    Ok(Trained {
        report: pick::report(&detector, &dev, errors),
        config,
    })
}

/// Each head fitted on `train` and given its threshold on `dev`, with the model
/// input as `detector` builds it.
fn fit_heads(detector: &Detector, train: &[Item], dev: &[Item], s: &Settings) -> Vec<(Head, i32)> {
    let x = common(inputs(detector, s.log2, train), s);
    let dev_x = inputs(detector, s.log2, dev);
    (0..HEADS.len())
        .map(|k| {
            let targets: Vec<bool> = train.iter().map(|i| i.targets()[k]).collect();
            let head = fit(&x, &targets, s, k as u64);
            let threshold = pick::threshold(k, &head, &dev_x, dev);
            (head, threshold)
        })
        .collect()
}

/// `x` without the buckets fewer than `min_count` training messages had.
fn common(mut x: Vec<Vec<u32>>, s: &Settings) -> Vec<Vec<u32>> {
    if s.min_count <= 1 {
        return x;
    }
    let mut seen = vec![0u32; 1 << s.log2];
    for input in &x {
        let mut buckets = input.clone();
        buckets.sort_unstable();
        buckets.dedup();
        for b in buckets {
            seen[b as usize] += 1;
        }
    }
    for input in &mut x {
        input.retain(|&b| seen[b as usize] >= s.min_count);
    }
    x
}

fn model_json(heads: &[(Head, i32)], s: &Settings, train: &[Item], dev: &[Item]) -> String {
    let files = |f: &[&str]| {
        f.iter()
            .map(|f| format!("\"{f}\""))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut out = String::from("{\n");
    out.push_str("    \"note\": \"Written by scripts/train-crisis (plugins/crisis-train); do not edit. See README.md.\",\n");
    out.push_str(&format!("    \"buckets-log2\": {},\n", s.log2));
    out.push_str(&format!(
        "    \"trained-on\": {{ \"weights\": [{}], \"thresholds\": [{}], \"items\": [{}, {}], \"seed\": {}, \"epochs\": {}, \"corpus-weight\": {}, \"min-count\": {} }},\n",
        files(&TRAIN),
        files(&DEV),
        train.len(),
        dev.len(),
        s.seed,
        s.epochs,
        s.corpus_weight,
        s.min_count
    ));
    out.push_str("    \"heads\": {\n");
    for (k, (head, threshold)) in heads.iter().enumerate() {
        let bytes: Vec<u8> = head.weights.iter().map(|&w| w as u8).collect();
        let weights = base64::engine::general_purpose::STANDARD.encode(bytes);
        let comma = if k + 1 < heads.len() { "," } else { "" };
        out.push_str(&format!(
            "      \"{}\": {{ \"bias\": {}, \"threshold\": {threshold}, \"weights\": \"{weights}\" }}{comma}\n",
            HEADS[k], head.bias
        ));
    }
    out.push_str("    }\n  }");
    out
}
