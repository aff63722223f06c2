//! From per-message states to the assessment: escalation, the carry-over from
//! earlier turns, evidence and category order.

use std::cmp::Reverse;

use jules_policy_model::{Assessment, Category, Evidence, Role, Severity, TimestampMs, Turn};

use crate::config::{CatMask, Config, bit};
use crate::evaluate::{Eval, Flags, evaluate};
use crate::matcher::Owner;

/// What earlier turns say about one category.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Prior {
    pub(crate) base: Severity,
    pub(crate) flags: Flags,
}

/// The categories `prior` carries over.
pub(crate) fn context_mask(prior: &[Option<Prior>; 4]) -> CatMask {
    Category::ALL
        .into_iter()
        .filter(|&c| prior[c as usize].is_some())
        .fold(0, |m, c| m | bit(c))
}

/// The crisis state of the person's recent turns: only categories with moderate or
/// worse evidence carry over; plan, means and time words from any of those turns
/// add to it.
pub(crate) fn prior(cfg: &Config, received_at: TimestampMs, recent: &[Turn]) -> [Option<Prior>; 4] {
    let mut out: [Option<Prior>; 4] = [None; 4];
    let from = recent.len().saturating_sub(cfg.max_turns);
    let evals: Vec<Eval> = recent[from..]
        .iter()
        .filter(|t| t.role == Role::User && received_at.saturating_sub(t.at) <= cfg.max_age_ms)
        .map(|t| evaluate(cfg, &t.text, 0))
        .collect();
    for c in Category::ALL {
        let mut base = Severity::None;
        let mut flags = Flags::default();
        for ev in &evals {
            if let Some(st) = &ev.states[c as usize] {
                base = base.max(st.base).max(st.learned);
                flags = flags.union(st.flags);
            }
            flags = flags.union(ev.bare_flags(cfg, c).0);
        }
        if base >= Severity::Moderate {
            out[c as usize] = Some(Prior { base, flags });
        }
    }
    out
}

pub(crate) fn assemble(cfg: &Config, cur: &Eval, prior: &[Option<Prior>; 4]) -> Assessment {
    let mut evidence: Vec<Evidence> = Vec::new();
    let mut cat_sev: [Option<Severity>; 4] = [None; 4];
    // Escalator match index → (severity, category, context id) of its best use.
    let mut esc_use: Vec<Option<(Severity, Category, bool)>> = vec![None; cur.escalators.len()];
    let mut offer = |k: usize, sev: Severity, c: Category, context: bool| {
        let better = esc_use[k].is_none_or(|(s, oc, _)| sev > s || (sev == s && c < oc));
        if better {
            esc_use[k] = Some((sev, c, context));
        }
    };
    for c in Category::ALL {
        let p = prior[c as usize];
        if let Some(st) = &cur.states[c as usize] {
            let (base, flags) = match p {
                Some(p) => (st.base.max(p.base), st.flags.union(p.flags)),
                None => (st.base, st.flags),
            };
            let sev = flags.raise(base).max(st.learned);
            cat_sev[c as usize] = Some(sev);
            for h in &cur.rules {
                if let Owner::Rule(i) = h.owner {
                    let r = &cfg.rules[i as usize];
                    if r.category == c {
                        evidence.push(Evidence {
                            rule_id: r.id.clone(),
                            category: c,
                            severity: r.severity,
                            start: h.start,
                            end: h.end,
                        });
                    }
                }
            }
            evidence.extend(cur.model.iter().filter(|m| m.0 == c).map(
                |&(category, severity, start, end)| Evidence {
                    rule_id: format!("model.{}", category.as_str()),
                    category,
                    severity,
                    start,
                    end,
                },
            ));
            for &k in &st.escalators {
                if let Owner::Escalator(i) = cur.escalators[k].owner
                    && flags.raises_with(cfg.escalators[i as usize].kind)
                {
                    offer(k, sev, c, false);
                }
            }
        } else if let Some(p) = p {
            let (bare, used) = cur.bare_flags(cfg, c);
            let flags = p.flags.union(bare);
            let sev = flags.raise(p.base);
            let mut any = false;
            for k in used {
                if let Owner::Escalator(i) = cur.escalators[k].owner
                    && flags.raises_with(cfg.escalators[i as usize].kind)
                {
                    offer(k, sev, c, true);
                    any = true;
                }
            }
            if any {
                cat_sev[c as usize] = Some(sev);
            }
        }
    }
    for (k, used) in esc_use.into_iter().enumerate() {
        let (Some((sev, c, context)), Owner::Escalator(i)) = (used, cur.escalators[k].owner) else {
            continue;
        };
        let e = &cfg.escalators[i as usize];
        let rule_id = if context {
            format!("context.{}-after-{}", e.kind.as_str(), c.as_str())
        } else {
            e.id.clone()
        };
        let h = &cur.escalators[k];
        evidence.push(Evidence {
            rule_id,
            category: c,
            severity: sev,
            start: h.start,
            end: h.end,
        });
    }
    evidence.sort_by(|a, b| (a.start, a.end, &a.rule_id).cmp(&(b.start, b.end, &b.rule_id)));

    let mut categories: Vec<(Severity, Category)> = Category::ALL
        .into_iter()
        .filter_map(|c| cat_sev[c as usize].map(|s| (s, c)))
        .collect();
    categories.sort_by_key(|&(s, c)| (Reverse(s), c));
    Assessment {
        severity: categories.first().map_or(Severity::None, |&(s, _)| s),
        categories: categories.into_iter().map(|(_, c)| c).collect(),
        evidence,
        discounted: cur.discounted.clone(),
    }
}
