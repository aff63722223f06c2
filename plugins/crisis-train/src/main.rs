//! `jules-crisis-train [BUNDLE] [--seed N] [--check] [--errors]`: trains the crisis
//! detector's model and writes it into `BUNDLE/config.json` (default
//! `policies/crisis`); `--errors` lists the dev messages it gets wrong.
//! `--check` writes nothing and exits 1 when the config's model is not what training
//! gives: the shipped weights are reproducible from the repository.

use std::path::PathBuf;
use std::process::ExitCode;

use jules_crisis_train::learn::Settings;
use jules_crisis_train::train;

fn main() -> ExitCode {
    let mut dir = PathBuf::from("policies/crisis");
    let mut settings = Settings::default();
    let mut check = false;
    let mut errors = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--check" => check = true,
            "--errors" => errors = true,
            "--seed" => match args.next().and_then(|v| v.parse().ok()) {
                Some(seed) => settings.seed = seed,
                None => return fail("--seed needs a whole number"),
            },
            "--log2" => match args.next().and_then(|v| v.parse().ok()) {
                Some(v) => settings.log2 = v,
                None => return fail("--log2 needs a whole number"),
            },
            "--epochs" => match args.next().and_then(|v| v.parse().ok()) {
                Some(v) => settings.epochs = v,
                None => return fail("--epochs needs a whole number"),
            },
            "--min-count" => match args.next().and_then(|v| v.parse().ok()) {
                Some(v) => settings.min_count = v,
                None => return fail("--min-count needs a whole number"),
            },
            "--corpus-weight" => match args.next().and_then(|v| v.parse().ok()) {
                Some(v) => settings.corpus_weight = v,
                None => return fail("--corpus-weight needs a whole number"),
            },
            "--l2" => match args.next().and_then(|v| v.parse().ok()) {
                Some(v) => settings.l2 = v,
                None => return fail("--l2 needs a number"),
            },
            "--rate" => match args.next().and_then(|v| v.parse().ok()) {
                Some(v) => settings.rate = v,
                None => return fail("--rate needs a number"),
            },
            flag if flag.starts_with("--") => return fail(&format!("unknown option {flag}")),
            path => dir = PathBuf::from(path),
        }
    }
    let trained = match train(&dir, &settings, errors) {
        Ok(t) => t,
        Err(e) => return fail(&e),
    };
    print!("{}", trained.report);
    let path = dir.join("config.json");
    if check {
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        if current != trained.config {
            return fail(&format!(
                "{}: its model is not what training gives; run scripts/train-crisis",
                path.display()
            ));
        }
        println!("{}: the model is what training gives", path.display());
        return ExitCode::SUCCESS;
    }
    if let Err(e) = std::fs::write(&path, &trained.config) {
        return fail(&format!("{}: {e}", path.display()));
    }
    println!("wrote {}", path.display());
    ExitCode::SUCCESS
}

fn fail(message: &str) -> ExitCode {
    eprintln!("jules-crisis-train: {message}");
    ExitCode::from(1)
}
