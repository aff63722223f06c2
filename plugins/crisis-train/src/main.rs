//! `jules-crisis-train [BUNDLE] [--seed N] [--check] [--errors]` (and the settings'
//! options, `policies/crisis/README.md`): trains the crisis
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
        let set_ok = match a.as_str() {
            "--check" => {
                check = true;
                Ok(())
            }
            "--errors" => {
                errors = true;
                Ok(())
            }
            "--seed" => set(&mut args, &a, &mut settings.seed),
            "--log2" => set(&mut args, &a, &mut settings.log2),
            "--epochs" => set(&mut args, &a, &mut settings.epochs),
            "--min-count" => set(&mut args, &a, &mut settings.min_count),
            "--corpus-weight" => set(&mut args, &a, &mut settings.corpus_weight),
            "--l2" => set(&mut args, &a, &mut settings.l2),
            "--rate" => set(&mut args, &a, &mut settings.rate),
            flag if flag.starts_with("--") => return fail(&format!("unknown option {flag}")),
            path => {
                dir = PathBuf::from(path);
                Ok(())
            }
        };
        if let Err(e) = set_ok {
            return fail(&e);
        }
    }
    if !(10..=20).contains(&settings.log2) {
        return fail(&format!("--log2 {}: give 10 to 20", settings.log2));
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

/// Reads the value after `flag` into `field`.
fn set<T: std::str::FromStr>(
    args: &mut impl Iterator<Item = String>,
    flag: &str,
    field: &mut T,
) -> Result<(), String> {
    let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
    *field = value
        .parse()
        .map_err(|_| format!("{flag}: {value:?} is not a valid value"))?;
    Ok(())
}

fn fail(message: &str) -> ExitCode {
    eprintln!("jules-crisis-train: {message}");
    ExitCode::from(1)
}
