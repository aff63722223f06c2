//! Per-message cost of each policy: a fresh isolated instance per call (what
//! production does), a warm reused instance, and the native baseline.
//!
//! Run: `cargo bench -p jules --bench policy` (after scripts/build-policies), then
//! `scripts/bench-table` for the medians.

use std::path::Path;
use std::sync::Arc;

use std::time::{Duration, Instant};

use criterion::{Bencher, Criterion, criterion_group, criterion_main};
use jules::policy::{LoadedBundle, PolicyRuntime, PromptInput, RuntimeSettings};
use jules_policy_model::{Inbound, MemoryFact, Role, Turn, UserContext};

struct Fixture {
    message: Inbound,
    user: UserContext,
    recent: Vec<Turn>,
    facts: Vec<MemoryFact>,
}

fn fixture() -> Fixture {
    let at = 1_767_268_800_000;
    let turn = |role, text: &str, minutes: i64| Turn {
        role,
        text: text.into(),
        at: at - minutes * 60_000,
    };
    Fixture {
        message: Inbound {
            text: "ugh today was so rough, i just feel like nobody at school gets me".into(),
            received_at: at,
        },
        user: UserContext {
            last_disclosure_at: Some(at - 3_600_000),
            messages_today: 12,
            locale: "en-US".into(),
            ..Default::default()
        },
        recent: vec![
            turn(Role::User, "hey jules", 30),
            turn(Role::Assistant, "Hey! How's your day going?", 29),
            turn(Role::User, "kinda meh. had a math test", 20),
            turn(
                Role::Assistant,
                "Oof, math tests. How do you think it went?",
                19,
            ),
            turn(Role::User, "idk probably bad lol", 10),
            turn(
                Role::Assistant,
                "That sounds stressful. Want to talk about it?",
                9,
            ),
        ],
        facts: vec![
            MemoryFact {
                key: "name".into(),
                value: "Sam".into(),
            },
            MemoryFact {
                key: "pet".into(),
                value: "a cat called Miso".into(),
            },
        ],
    }
}

fn runtime() -> PolicyRuntime {
    PolicyRuntime::new(RuntimeSettings {
        max_instances: 64,
        cache_dir: Some(Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/policy-cache-bench")),
        ..Default::default()
    })
    .expect("runtime")
}

fn load(rt: &PolicyRuntime, name: &str) -> Arc<LoadedBundle> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../policies")
        .join(name);
    rt.load(&dir)
        .unwrap_or_else(|e| panic!("{name}: {e} (run scripts/build-policies first)"))
}

fn benches(c: &mut Criterion) {
    // Warm instances grow their memory call after call, which changes the state of
    // the pool slots they used; production never runs them, so they get their own
    // runtime and cannot slow the fresh-instance measurements down.
    let (rt, warm_rt) = (runtime(), runtime());
    let crisis = load(&rt, "crisis");
    let compliance = load(&rt, "compliance");
    let prompt = load(&rt, "prompt");
    let warm_crisis = load(&warm_rt, "crisis");
    let warm_compliance = load(&warm_rt, "compliance");
    let warm_prompt = load(&warm_rt, "prompt");
    let f = fixture();
    let reply = "That sounds really lonely, Sam. Feeling like nobody gets you is hard. What happened today?";
    let assessment = crisis
        .baseline()
        .assess(&f.message, &f.user, &f.recent)
        .unwrap();
    let input = PromptInput {
        message: &f.message,
        user: &f.user,
        recent: &f.recent,
        facts: &f.facts,
        crisis: &assessment,
    };

    let mut g = c.benchmark_group("crisis");
    g.bench_function("fresh", |b| {
        b.iter(|| crisis.assess(&f.message, &f.user, &f.recent).unwrap())
    });
    g.bench_function("warm", |b| {
        warm_loop(
            b,
            || warm_crisis.warm().unwrap(),
            |w| {
                w.assess(&f.message, &f.user, &f.recent).unwrap();
            },
        )
    });
    let native = crisis.baseline();
    g.bench_function("native", |b| {
        b.iter(|| native.assess(&f.message, &f.user, &f.recent).unwrap())
    });
    g.finish();

    let mut g = c.benchmark_group("compliance");
    g.bench_function("fresh", |b| {
        b.iter(|| {
            compliance.evaluate(&f.message, &f.user).unwrap();
            compliance.shape(reply, false).unwrap()
        })
    });
    g.bench_function("warm", |b| {
        warm_loop(
            b,
            || warm_compliance.warm().unwrap(),
            |w| {
                w.evaluate(&f.message, &f.user).unwrap();
                w.shape(reply, false).unwrap();
            },
        )
    });
    let native = compliance.baseline();
    g.bench_function("native", |b| {
        b.iter(|| {
            native.evaluate(&f.message, &f.user).unwrap();
            native.shape(reply, false).unwrap()
        })
    });
    g.finish();

    let mut g = c.benchmark_group("prompt");
    g.bench_function("fresh", |b| b.iter(|| prompt.build(&input).unwrap()));
    g.bench_function("warm", |b| {
        warm_loop(
            b,
            || warm_prompt.warm().unwrap(),
            |w| {
                w.build(&input).unwrap();
            },
        )
    });
    let native = prompt.baseline();
    g.bench_function("native", |b| b.iter(|| native.build(&input).unwrap()));
    g.finish();

    // One message through all three, as the pipeline runs them.
    let mut g = c.benchmark_group("all-three");
    g.bench_function("fresh", |b| {
        b.iter(|| {
            let a = crisis.assess(&f.message, &f.user, &f.recent).unwrap();
            compliance.evaluate(&f.message, &f.user).unwrap();
            prompt
                .build(&PromptInput {
                    crisis: &a,
                    ..input
                })
                .unwrap();
            compliance.shape(reply, false).unwrap()
        })
    });
    g.bench_function("warm", |b| {
        let make = || {
            (
                warm_crisis.warm().unwrap(),
                warm_compliance.warm().unwrap(),
                warm_prompt.warm().unwrap(),
            )
        };
        warm_loop(b, make, |(wc, wp, wr)| {
            let a = wc.assess(&f.message, &f.user, &f.recent).unwrap();
            wp.evaluate(&f.message, &f.user).unwrap();
            wr.build(&PromptInput {
                crisis: &a,
                ..input
            })
            .unwrap();
            wp.shape(reply, false).unwrap();
        })
    });
    let (nc, np, nr) = (crisis.baseline(), compliance.baseline(), prompt.baseline());
    g.bench_function("native", |b| {
        b.iter(|| {
            let a = nc.assess(&f.message, &f.user, &f.recent).unwrap();
            np.evaluate(&f.message, &f.user).unwrap();
            nr.build(&PromptInput {
                crisis: &a,
                ..input
            })
            .unwrap();
            np.shape(reply, false).unwrap()
        })
    });
    g.finish();
}

/// Time `call` on a reused instance. Components never free memory after init (each
/// call normally gets a fresh instance), so the instance is replaced every
/// `WARM_CALLS` calls, outside the measured time.
fn warm_loop<W>(b: &mut Bencher<'_>, mut make: impl FnMut() -> W, mut call: impl FnMut(&mut W)) {
    const WARM_CALLS: u64 = 200;
    b.iter_custom(|iters| {
        let mut total = Duration::ZERO;
        let mut warm = make();
        for i in 0..iters {
            if i > 0 && i % WARM_CALLS == 0 {
                warm = make();
            }
            let start = Instant::now();
            call(&mut warm);
            total += start.elapsed();
        }
        total
    })
}

criterion_group!(policy, benches);
criterion_main!(policy);
