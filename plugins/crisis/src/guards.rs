//! Guards: phrases that show a match is not a crisis (an idiom, a negation, a game,
//! a news story, grief), with where they must stand relative to the match.

use jules_policy_model::Severity;

use crate::config::{CatMask, Config, Guard, Kind, Scope};
use crate::matcher::{Hit, Owner};
use crate::normalize::Normalized;

/// What is being checked: a rule match or an escalator match.
pub(crate) enum Target {
    Rule {
        index: u16,
        category: CatMask,
        severity: Severity,
    },
    Escalator {
        categories: CatMask,
    },
}

/// Each guard's cue matches in one message, minus those inside one of its
/// exceptions; computed once per message so that checking a match stays linear.
pub(crate) fn cues_by_guard(cfg: &Config, hits: &[Hit]) -> Vec<Vec<Hit>> {
    let mut cues = vec![Vec::new(); cfg.guards.len()];
    let mut excepts = vec![Vec::new(); cfg.guards.len()];
    for h in hits {
        match h.owner {
            Owner::Guard(g) => cues[g as usize].push(*h),
            Owner::Except(g) => excepts[g as usize].push(*h),
            _ => {}
        }
    }
    for (list, except) in cues.iter_mut().zip(&excepts) {
        if !except.is_empty() {
            list.retain(|cue| !except.iter().any(|x| x.overlaps(cue)));
        }
    }
    cues
}

/// The index of the first guard that discounts `target`, if any.
///
/// `present` lists the escalator kinds counted in the message: a guard with
/// `unless` steps aside when one of them is there ("kill him lol, I have a gun").
pub(crate) fn discounting_guard(
    cfg: &Config,
    norm: &Normalized,
    cues: &[Vec<Hit>],
    target: &Hit,
    what: &Target,
    present: &[Kind],
) -> Option<usize> {
    cfg.guards.iter().zip(cues).position(|(g, cues)| {
        !cues.is_empty()
            && applies(g, what, present)
            && cues.iter().any(|cue| placed(g, norm, cue, target))
    })
}

fn applies(g: &Guard, what: &Target, present: &[Kind]) -> bool {
    if g.unless.iter().any(|k| present.contains(k)) {
        return false;
    }
    match *what {
        Target::Rule {
            index,
            category,
            severity,
        } => {
            g.rules
                && g.categories & category != 0
                && severity <= g.max_severity
                && g.only_rules
                    .as_ref()
                    .is_none_or(|only| only.contains(&index))
        }
        Target::Escalator { categories } => g.escalators && g.categories & categories != 0,
    }
}

fn placed(g: &Guard, norm: &Normalized, cue: &Hit, target: &Hit) -> bool {
    let before = || {
        cue.t1 < target.t0
            && target.t0 - cue.t1 - 1 <= g.window as usize
            && !norm.break_between(cue.t1, target.t0)
    };
    let after = || {
        cue.t0 > target.t1
            && cue.t0 - target.t1 - 1 <= g.window as usize
            && !norm.break_between(target.t1, cue.t0)
    };
    match g.scope {
        Scope::Overlap => cue.overlaps(target),
        Scope::Before => before(),
        Scope::After => after(),
        Scope::Around => before() || after(),
        Scope::Message => true,
    }
}

/// Whether hit `a` stands within `window` words of hit `b` in the same clause.
pub(crate) fn near(norm: &Normalized, a: &Hit, b: &Hit, window: u32) -> bool {
    let w = window as usize;
    if a.t0 <= b.t1 && b.t0 <= a.t1 {
        return true;
    }
    if a.t1 < b.t0 {
        b.t0 - a.t1 - 1 <= w && !norm.break_between(a.t1, b.t0)
    } else {
        a.t0 - b.t1 - 1 <= w && !norm.break_between(b.t1, a.t0)
    }
}
