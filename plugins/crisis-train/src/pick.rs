//! Thresholds chosen on the dev files, and what the trained detector does there.

use jules_crisis::Detector;
use jules_policy_model::{Severity, UserContext};

use crate::data::Item;
use crate::learn::Head;

/// Share of dev hard negatives (labelled `none`) one category head may fire on.
const NEGATIVE_BUDGET: f64 = 0.02;

/// Head `k`'s threshold: for a category, the lowest score that at most
/// `NEGATIVE_BUDGET` of the hard negatives reach; for the severity heads, the score
/// that best finds their items, recall weighted twice precision (F2): saying "high"
/// of a moderate message costs little, missing an imminent one a life.
pub fn threshold(k: usize, head: &Head, dev_x: &[Vec<u32>], dev: &[Item]) -> i32 {
    let scored: Vec<(i32, &Item)> = dev_x.iter().map(|x| head.score(x)).zip(dev).collect();
    if k < 4 {
        let mut negatives: Vec<i32> = scored
            .iter()
            .filter(|(_, i)| i.severity == Severity::None)
            .map(|(s, _)| *s)
            .collect();
        negatives.sort_unstable_by(|a, b| b.cmp(a));
        let allowed = (negatives.len() as f64 * NEGATIVE_BUDGET).floor() as usize;
        return negatives.get(allowed).map_or(0, |s| s.saturating_add(1));
    }
    let mut candidates: Vec<i32> = scored.iter().map(|(s, _)| *s).collect();
    candidates.sort_unstable();
    candidates.dedup();
    let f2 = |t: i32| {
        let (mut tp, mut fp, mut fneg) = (0f64, 0f64, 0f64);
        for (s, i) in &scored {
            match (*s >= t, i.targets()[k]) {
                (true, true) => tp += 1.0,
                (true, false) => fp += 1.0,
                (false, true) => fneg += 1.0,
                _ => {}
            }
        }
        5.0 * tp / (5.0 * tp + 4.0 * fneg + fp).max(1.0)
    };
    let mut best = (f64::MIN, 0);
    for t in candidates {
        let f = f2(t);
        if f > best.0 {
            best = (f, t);
        }
    }
    best.1
}

/// Escalation on the dev files by language, as `jules policy test` reports it; with
/// `errors`, every dev message escalated wrongly or missed, with its evidence.
pub fn report(detector: &Detector, dev: &[Item], errors: bool) -> String {
    let at = detector.response().escalate_at;
    let mut out = String::from(
        "dev   crisis recall   imminent escalated   imminent exact   negatives escalated\n",
    );
    for (name, spanish) in [("en", false), ("es", true)] {
        let (mut crisis, mut found, mut imm, mut imm_found, mut imm_exact, mut neg, mut neg_found) =
            (0, 0, 0, 0, 0, 0, 0);
        for i in dev.iter().filter(|i| i.spanish == spanish) {
            let a = detector.assess(&i.message, &UserContext::default(), &i.recent);
            let got = a.severity;
            if errors && (i.severity >= at) != (got >= at) {
                let evidence: Vec<String> = a
                    .evidence
                    .iter()
                    .map(|e| {
                        let words = i.message.text.get(e.start as usize..e.end as usize);
                        format!("{} {:?}", e.rule_id, words.unwrap_or(""))
                    })
                    .collect();
                let kind = if got >= at { "escalated" } else { "missed" };
                out.push_str(&format!(
                    "{kind} ({:?}, got {:?}): {:?} {}\n",
                    i.severity,
                    got,
                    i.message.text,
                    evidence.join(", ")
                ));
            }
            if i.severity >= at {
                crisis += 1;
                found += usize::from(got >= at);
            }
            if i.severity == Severity::Imminent {
                imm += 1;
                imm_found += usize::from(got >= at);
                imm_exact += usize::from(got == Severity::Imminent);
            }
            if i.severity == Severity::None {
                neg += 1;
                neg_found += usize::from(got >= at);
            }
        }
        let r = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        out.push_str(&format!(
            "{name}    {:.2} ({found}/{crisis})    {:.2} ({imm_found}/{imm})    {:.2} ({imm_exact}/{imm})    {:.2} ({neg_found}/{neg})\n",
            r(found, crisis),
            r(imm_found, imm),
            r(imm_exact, imm),
            r(neg_found, neg),
        ));
    }
    out
}
