//! Logistic regression with AdaGrad over hashed binary features, and its
//! quantization to the `i8` weights the detector scores with.
//!
//! Reproducible by construction: a seeded generator orders the examples, the
//! arithmetic is IEEE basic operations only (the sigmoid's `exp` is computed here,
//! not by the platform's libm), so the same data and seed give the same bytes.

/// How a head is fitted.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub log2: u8,
    pub epochs: u32,
    pub rate: f64,
    pub l2: f64,
    pub seed: u64,
    /// Buckets seen in fewer training messages than this keep weight zero: a feature
    /// one message had is that message's noise, and collides with words never seen.
    pub min_count: u32,
    /// Times each regression-corpus fixture is seen per epoch.
    pub corpus_weight: u32,
}

impl Default for Settings {
    fn default() -> Self {
        // Chosen on the dev files: strong L2 and few passes generalize best on a few
        // thousand short texts; 2^17 buckets keep most character n-grams of ~13,000
        // messages apart (2^18 did no better on dev and doubled the config a host
        // verifies and parses); the regression corpus seen four times is the least
        // that keeps all of it passing at 2^17.
        Settings {
            log2: 17,
            epochs: 8,
            rate: 0.1,
            l2: 0.1,
            seed: 1,
            min_count: 1,
            corpus_weight: 4,
        }
    }
}

/// A head's weights, quantized: score = bias + Σ weights[bucket].
pub struct Head {
    pub weights: Vec<i8>,
    pub bias: i32,
}

impl Head {
    pub fn score(&self, input: &[u32]) -> i32 {
        input.iter().fold(self.bias, |acc, &b| {
            acc.saturating_add(i32::from(self.weights[b as usize]))
        })
    }
}

/// Fits one head to `targets` and quantizes it. `salt` keeps heads' example orders
/// independent.
pub fn fit(inputs: &[Vec<u32>], targets: &[bool], s: &Settings, salt: u64) -> Head {
    let n = 1usize << s.log2;
    let mut w = vec![0f64; n];
    let mut g2 = vec![0f64; n];
    let (mut bias, mut bias_g2) = (0f64, 0f64);
    let positives = targets.iter().filter(|&&t| t).count().max(1) as f64;
    let negatives = targets.iter().filter(|&&t| !t).count().max(1) as f64;
    // Rare classes (imminent) would otherwise be learned as "never".
    let pos_weight = (negatives / positives).clamp(1.0, 8.0);
    let mut rng = Rng::new(s.seed ^ salt.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let mut order: Vec<usize> = (0..inputs.len()).collect();
    for _ in 0..s.epochs {
        rng.shuffle(&mut order);
        for &i in &order {
            let x = &inputs[i];
            let z = x.iter().fold(bias, |acc, &b| acc + w[b as usize]);
            let y = if targets[i] { 1.0 } else { 0.0 };
            let cw = if targets[i] { pos_weight } else { 1.0 };
            let g = (sigmoid(z) - y) * cw;
            for &b in x {
                let b = b as usize;
                let gb = g + s.l2 * w[b];
                g2[b] += gb * gb;
                w[b] -= s.rate * gb / (g2[b].sqrt() + 1e-9);
            }
            bias_g2 += g * g;
            bias -= s.rate * g / (bias_g2.sqrt() + 1e-9);
        }
    }
    quantize(&w, bias)
}

fn quantize(w: &[f64], bias: f64) -> Head {
    let max = w.iter().fold(0f64, |m, v| m.max(v.abs()));
    let scale = if max > 0.0 { max / 127.0 } else { 1.0 };
    Head {
        weights: w
            .iter()
            .map(|v| (v / scale).round().clamp(-127.0, 127.0) as i8)
            .collect(),
        bias: (bias / scale).round() as i32,
    }
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + exp(-z))
}

/// e^x from basic operations: x = k·ln2 + r with |r| ≤ ln2/2, then a Taylor series.
fn exp(x: f64) -> f64 {
    let x = x.clamp(-40.0, 40.0);
    let k = (x / std::f64::consts::LN_2).round();
    let r = x - k * std::f64::consts::LN_2;
    let (mut term, mut sum) = (1f64, 1f64);
    for i in 1..=14 {
        term *= r / f64::from(i);
        sum += term;
    }
    let mut scale = 1f64;
    let step = if k >= 0.0 { 2.0 } else { 0.5 };
    for _ in 0..(k.abs() as u32) {
        scale *= step;
    }
    sum * scale
}

/// xorshift64*: small, seeded, the same everywhere.
struct Rng(u64);

impl Rng {
    fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn shuffle<T>(&mut self, v: &mut [T]) {
        for i in (1..v.len()).rev() {
            let j = (self.next() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exp_matches_the_platform_to_rounding() {
        for i in -400..=400 {
            let x = f64::from(i) / 10.0;
            let rel = (exp(x) - x.exp()).abs() / x.exp();
            assert!(rel < 1e-13, "exp({x}): {} vs {}", exp(x), x.exp());
        }
    }

    #[test]
    fn a_head_learns_a_separable_feature() {
        // Bucket 1 marks the positives; bucket 2 is noise on everything.
        let inputs: Vec<Vec<u32>> = (0..40)
            .map(|i| if i % 4 == 0 { vec![1, 2] } else { vec![2] })
            .collect();
        let targets: Vec<bool> = (0..40).map(|i| i % 4 == 0).collect();
        let s = Settings {
            log2: 10,
            ..Settings::default()
        };
        let h = fit(&inputs, &targets, &s, 0);
        assert!(h.score(&[1, 2]) > 0 && h.score(&[2]) < 0);
        assert_eq!(h.weights[1], 127);
    }
}
