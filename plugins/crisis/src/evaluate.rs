//! One message on its own: which rules and escalators count, which are discounted,
//! and the per-category state that severity is computed from.

use jules_policy_model::{Category, Discounted, Severity};

use crate::config::{CatMask, Config, Kind, Scope, bit};
use crate::guards::{Target, cues_by_guard, discounting_guard, near};
use crate::matcher::{Hit, Owner};
use crate::model::{Feature, Model, Reading, features, signal};
use crate::normalize::{Normalized, normalize};

/// Which escalator classes are present.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Flags {
    /// A plan or a means.
    pub(crate) pm: bool,
    pub(crate) time: bool,
    /// A time word that raises on its own ("tonight", not "today").
    pub(crate) time_alone: bool,
    /// The act under way, at the place, or a goodbye.
    pub(crate) act: bool,
}

impl Flags {
    pub(crate) fn add(&mut self, kind: Kind, alone: bool) {
        match kind {
            Kind::Plan | Kind::Means => self.pm = true,
            Kind::Time => {
                self.time = true;
                self.time_alone |= alone;
            }
            Kind::Act => self.act = true,
        }
    }

    pub(crate) fn union(self, o: Flags) -> Flags {
        Flags {
            pm: self.pm || o.pm,
            time: self.time || o.time,
            time_alone: self.time_alone || o.time_alone,
            act: self.act || o.act,
        }
    }

    /// Whether an escalator of `kind` takes part in the raise these flags give.
    pub(crate) fn raises_with(self, kind: Kind) -> bool {
        match kind {
            Kind::Plan | Kind::Means => self.pm,
            Kind::Time => self.time && (self.pm || self.time_alone),
            Kind::Act => self.act,
        }
    }

    /// A plan or means raises one step; a time word raises one more (on its own only
    /// when it is marked `alone`); an act makes it imminent.
    pub(crate) fn raise(self, base: Severity) -> Severity {
        if self.act {
            return Severity::Imminent;
        }
        let mut s = base;
        if self.pm {
            s = s.raised();
        }
        if self.time && (self.pm || self.time_alone) {
            s = s.raised();
        }
        s
    }
}

/// A category's matches in one message.
#[derive(Debug, Clone, Default)]
pub(crate) struct CatState {
    pub(crate) base: Severity,
    /// The model's severity, for a category only the model saw: a floor under what
    /// the escalators make of `base`.
    pub(crate) learned: Severity,
    pub(crate) flags: Flags,
    /// Indices into `Eval::escalators` that apply to this category.
    pub(crate) escalators: Vec<usize>,
}

#[derive(Debug, Default)]
pub(crate) struct Eval {
    /// Rule matches that count, in text order.
    pub(crate) rules: Vec<Hit>,
    /// Escalator matches that count, in text order.
    pub(crate) escalators: Vec<Hit>,
    pub(crate) discounted: Vec<Discounted>,
    pub(crate) states: [Option<CatState>; 4],
    /// What the model found that counts: category, its severity, original span.
    pub(crate) model: Vec<(Category, Severity, u32, u32)>,
}

impl Eval {
    /// Whether an escalator here could add to a crisis from an earlier turn.
    pub(crate) fn has_bare_escalators(&self, cfg: &Config) -> bool {
        self.escalators.iter().any(|h| match h.owner {
            Owner::Escalator(i) => cfg.escalators[i as usize].window.is_none(),
            _ => false,
        })
    }

    /// Flags of the escalators that stand on their own (no window), for `category`:
    /// what a message adds to a crisis expressed in an earlier turn.
    pub(crate) fn bare_flags(&self, cfg: &Config, category: Category) -> (Flags, Vec<usize>) {
        let mut flags = Flags::default();
        let mut used = Vec::new();
        for (k, h) in self.escalators.iter().enumerate() {
            if let Owner::Escalator(i) = h.owner {
                let e = &cfg.escalators[i as usize];
                if e.window.is_none() && e.categories & bit(category) != 0 {
                    flags.add(e.kind, e.alone);
                    used.push(k);
                }
            }
        }
        (flags, used)
    }
}

/// Fewer words than this, without earlier turns, are left to the rules: a short
/// everyday request ("tell me something") says too little for the model.
const MIN_WORDS: usize = 4;

/// Evaluates one message; `context` holds the categories earlier turns showed a
/// crisis in (the model reads the message differently after them).
pub(crate) fn evaluate(cfg: &Config, text: &str, context: CatMask) -> Eval {
    let log2 = cfg.model.as_ref().map(Model::buckets_log2);
    evaluate_with_features(cfg, text, context, log2).0
}

/// `evaluate`, and the model's input for the message when `log2` is given: its
/// n-grams and what the rules saw (which rules counted, which guards discounted
/// them, which escalators and guard cues are there), so the model can learn where
/// the rules are right.
pub(crate) fn evaluate_with_features(
    cfg: &Config,
    text: &str,
    context: CatMask,
    log2: Option<u8>,
) -> (Eval, Vec<Feature>) {
    let norm = normalize(text, &cfg.aliases);
    let hits = cfg.matcher.scan(&norm);
    let Some(log2) = log2 else {
        if !hits
            .iter()
            .any(|h| matches!(h.owner, Owner::Rule(_) | Owner::Escalator(_)))
        {
            return (Eval::default(), Vec::new());
        }
        return (evaluate_hits(cfg, &norm, context, &hits, None), Vec::new());
    };
    let mut feats = features(&norm, context, log2);
    let out = evaluate_hits(cfg, &norm, context, &hits, Some((log2, &mut feats)));
    (out, feats)
}

fn evaluate_hits(
    cfg: &Config,
    norm: &Normalized,
    context: CatMask,
    hits: &[Hit],
    mut model_input: Option<(u8, &mut Vec<Feature>)>,
) -> Eval {
    let mut out = Eval::default();
    let cues = cues_by_guard(cfg, hits);
    let mut discounted: Vec<(Hit, &str, &str)> = Vec::new();
    for h in hits {
        if let Owner::Escalator(i) = h.owner {
            let e = &cfg.escalators[i as usize];
            let what = Target::Escalator {
                categories: e.categories,
            };
            match discounting_guard(cfg, norm, &cues, h, &what, &[]) {
                Some(g) => discounted.push((*h, &e.id, &cfg.guards[g].id)),
                None => out.escalators.push(*h),
            }
        }
    }
    // "bottle of pills" and "pills" are one means, not two.
    let all = std::mem::take(&mut out.escalators);
    out.escalators = all
        .iter()
        .enumerate()
        .filter(|&(i, h)| {
            !neighbours(&all, i).any(|(j, o)| {
                o.owner == h.owner && o.contains(h) && (o.s != h.s || o.e != h.e || j < i)
            })
        })
        .map(|(_, h)| *h)
        .collect();
    let present: Vec<Kind> = out
        .escalators
        .iter()
        .filter_map(|h| match h.owner {
            Owner::Escalator(i) => Some(cfg.escalators[i as usize].kind),
            _ => None,
        })
        .collect();
    let mut discounted_rules: Vec<(Hit, usize)> = Vec::new();
    let mut counted = Vec::new();
    for h in hits {
        if let Owner::Rule(i) = h.owner {
            let r = &cfg.rules[i as usize];
            let what = Target::Rule {
                index: i,
                category: bit(r.category),
                severity: r.severity,
            };
            match discounting_guard(cfg, norm, &cues, h, &what, &present) {
                Some(g) => discounted_rules.push((*h, g)),
                None => counted.push(*h),
            }
        }
    }
    // A phrase inside a discounted longer phrase goes with it: "kill myself" in a
    // negated "want to kill myself" is negated too.
    let (counted, inherited): (Vec<Hit>, Vec<Hit>) = counted.into_iter().partition(|h| {
        !discounted_rules
            .iter()
            .any(|(d, _)| d.contains(h) && same_category(cfg, d, h))
    });
    for h in inherited {
        if let Some((_, g)) = discounted_rules
            .iter()
            .find(|(d, _)| d.contains(&h) && same_category(cfg, d, &h))
        {
            let g = *g;
            discounted_rules.push((h, g));
        }
    }
    discounted_rules.sort_by_key(|(h, _)| (h.s, h.e, h.owner));
    let keep = kept(cfg, &counted);
    out.rules = counted
        .into_iter()
        .zip(keep)
        .filter_map(|(h, k)| k.then_some(h))
        .collect();
    // A news story, a game, lyrics or grief discounts the whole message: the model's
    // reading of those words does not count either.
    let in_context: CatMask = discounted_rules
        .iter()
        .filter(|(_, g)| cfg.guards[*g].scope == Scope::Message)
        .filter_map(|(h, _)| match h.owner {
            Owner::Rule(i) => Some(bit(cfg.rules[i as usize].category)),
            _ => None,
        })
        .fold(0, |a, b| a | b);
    if let Some((log2, feats)) = model_input.as_mut() {
        signals(cfg, *log2, &cues, &discounted_rules, feats);
    }
    let only: Vec<Hit> = discounted_rules.iter().map(|(h, _)| *h).collect();
    for ((h, g), k) in discounted_rules.into_iter().zip(kept(cfg, &only)) {
        if let (Owner::Rule(i), true) = (h.owner, k) {
            discounted.push((h, &cfg.rules[i as usize].id, &cfg.guards[g].id));
        }
    }
    discounted.sort_by(|a, b| (a.0.start, a.0.end, a.1).cmp(&(b.0.start, b.0.end, b.1)));
    out.discounted = discounted
        .into_iter()
        .map(|(h, rule, reason)| Discounted {
            rule_id: rule.to_string(),
            reason: reason.to_string(),
            start: h.start,
            end: h.end,
        })
        .collect();

    for h in &out.rules {
        let Owner::Rule(i) = h.owner else { continue };
        let r = &cfg.rules[i as usize];
        let st = out.states[r.category as usize].get_or_insert_with(CatState::default);
        st.base = st.base.max(r.severity);
    }
    if let Some((log2, feats)) = model_input.as_mut() {
        for h in &out.rules {
            if let Owner::Rule(i) = h.owner {
                let r = &cfg.rules[i as usize];
                let grade = [r.category as u8, r.severity as u8];
                feats.push(signal(*log2, b"r", &[r.id.as_bytes()], h));
                feats.push(signal(*log2, b"s", &[&grade], h));
            }
        }
        for h in &out.escalators {
            if let Owner::Escalator(i) = h.owner {
                let kind = cfg.escalators[i as usize].kind.as_str();
                feats.push(signal(*log2, b"e", &[kind.as_bytes()], h));
            }
        }
    }
    let reading = match (&cfg.model, &model_input) {
        // A word or two says too little on its own; after earlier turns it may say
        // everything ("did it"), and the model then reads it with that context.
        (Some(m), Some((_, feats)))
            if context != 0 || norm.words().nth(MIN_WORDS - 1).is_some() =>
        {
            m.read(feats)
        }
        _ => Reading::default(),
    };
    // Where earlier turns and this message's escalators already make a crisis by
    // the rules ("tonight" after "i want to die"), the rules say how severe.
    let carried = Category::ALL
        .into_iter()
        .filter(|&c| context & bit(c) != 0 && !out.bare_flags(cfg, c).1.is_empty())
        .fold(0, |m, c| m | bit(c));
    let learned = add_reading(norm, &mut out, in_context | carried, reading);
    for (k, e_hit) in out.escalators.iter().enumerate() {
        let Owner::Escalator(i) = e_hit.owner else {
            continue;
        };
        let e = &cfg.escalators[i as usize];
        for c in Category::ALL {
            let Some(st) = out.states[c as usize].as_mut() else {
                continue;
            };
            if e.categories & bit(c) == 0 {
                continue;
            }
            let in_reach = learned & bit(c) != 0
                || e.window.is_none_or(|w| {
                    out.rules.iter().any(|r| match r.owner {
                        Owner::Rule(ri) => {
                            cfg.rules[ri as usize].category == c && near(norm, e_hit, r, w)
                        }
                        _ => false,
                    })
                });
            if in_reach {
                st.flags.add(e.kind, e.alone);
                st.escalators.push(k);
            }
        }
    }
    out
}

/// The guard signals of the model's input: which guards have cues here, and which
/// discounted a rule (and of what category).
fn signals(
    cfg: &Config,
    log2: u8,
    cues: &[Vec<Hit>],
    discounted_rules: &[(Hit, usize)],
    feats: &mut Vec<Feature>,
) {
    for (g, list) in cues.iter().enumerate() {
        if let Some(first) = list.first() {
            feats.push(signal(log2, b"g", &[cfg.guards[g].id.as_bytes()], first));
        }
    }
    for (h, g) in discounted_rules {
        if let Owner::Rule(i) = h.owner {
            let category = [cfg.rules[i as usize].category as u8];
            let id = cfg.guards[*g].id.as_bytes();
            feats.push(signal(log2, b"d", &[id, &category], h));
        }
    }
}

/// Adds the categories only the model saw (unless `vetoed`): where a rule counts,
/// even a low one (someone else, the past), the rules stay the authority. Such a
/// category counts as ideation (moderate) that escalators raise, with the model's own
/// severity as a floor. Returns the
/// categories it added, where every escalator counts (its words are what made the
/// model see a crisis, wherever they stand).
fn add_reading(norm: &Normalized, out: &mut Eval, vetoed: CatMask, reading: Reading) -> CatMask {
    let mut learned = 0;
    for c in Category::ALL {
        let i = c as usize;
        let Some(sev) = reading.severity[i] else {
            continue;
        };
        if vetoed & bit(c) != 0 || out.states[i].is_some() {
            continue;
        }
        out.states[i] = Some(CatState {
            base: Severity::Moderate,
            learned: sev,
            ..CatState::default()
        });
        learned |= bit(c);
        for &(t0, t1) in &reading.evidence[i] {
            let (start, end) = norm.words_original(t0 as usize, t1 as usize);
            out.model.push((c, sev, start, end));
        }
    }
    learned
}

fn same_category(cfg: &Config, a: &Hit, b: &Hit) -> bool {
    match (a.owner, b.owner) {
        (Owner::Rule(x), Owner::Rule(y)) => {
            cfg.rules[x as usize].category == cfg.rules[y as usize].category
        }
        _ => false,
    }
}

/// Which matches to keep: a match that lies inside another match of the same
/// category that is at least as severe ("suicidal" inside "i am suicidal") is
/// dropped, so evidence is not repeated.
fn kept(cfg: &Config, hits: &[Hit]) -> Vec<bool> {
    let rule = |h: &Hit| match h.owner {
        Owner::Rule(i) => Some(&cfg.rules[i as usize]),
        _ => None,
    };
    hits.iter()
        .enumerate()
        .map(|(a_i, a)| {
            let Some(ra) = rule(a) else { return false };
            !neighbours(hits, a_i).any(|(b_i, b)| {
                let Some(rb) = rule(b) else { return false };
                if rb.category != ra.category || !b.contains(a) || rb.severity < ra.severity {
                    return false;
                }
                // Of two identical spans and severities keep the first only.
                let same = b.s == a.s && b.e == a.e && rb.severity == ra.severity;
                !same || b_i < a_i
            })
        })
        .collect()
}

/// Matches that may contain `hits[i]`: they overlap it, so in text order they sit
/// close by. Bounding the look-around keeps a 10 KB message of repeats linear.
fn neighbours(hits: &[Hit], i: usize) -> impl Iterator<Item = (usize, &Hit)> {
    const REACH: usize = 24;
    let from = i.saturating_sub(REACH);
    let to = (i + REACH + 1).min(hits.len());
    (from..to)
        .filter(move |&j| j != i)
        .map(move |j| (j, &hits[j]))
}
