//! `jules policy test` and `jules policy check`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use crate::harness;
use crate::policy::{BundleSource, PolicyRuntime, RuntimeSettings, SUPPORTED_WIT_VERSIONS, Trust};

use super::PolicyCommand;

mod diff;
mod remote_shadow;
mod rollout;
mod signing;

const FAILED: u8 = 1;
const CANNOT_LOAD: u8 = 2;

pub fn run(cmd: PolicyCommand) -> ExitCode {
    match cmd {
        PolicyCommand::Test {
            bundle,
            corpus,
            format,
            output,
            no_progress,
        } => test(&bundle, corpus, &format, output.as_deref(), !no_progress),
        PolicyCommand::Check { component } => check(&component),
        PolicyCommand::Diff {
            old,
            new,
            corpus,
            allow,
            format,
            output,
            no_progress,
        } => diff::run(diff::Options {
            old: &old,
            new: &new,
            corpus,
            allow,
            format: &format,
            output: output.as_deref(),
            progress: !no_progress,
        }),
        PolicyCommand::Keygen { id, dir } => signing::keygen(&id, &dir),
        PolicyCommand::Sign { bundle, key } => signing::sign(&bundle, &key),
        PolicyCommand::Verify { bundle } => signing::verify(&bundle),
        PolicyCommand::Activate {
            world,
            source,
            reason,
            accept_regression,
            wait,
            remote,
        } => rollout::activate(
            &world,
            &source,
            &reason,
            accept_regression.as_deref(),
            Duration::from_secs(wait),
            &remote,
        ),
        PolicyCommand::Rollback {
            world,
            reason,
            wait,
            remote,
        } => rollout::rollback(&world, &reason, Duration::from_secs(wait), &remote),
        PolicyCommand::Status { remote } => rollout::status(&remote),
        PolicyCommand::Shadow {
            world,
            source,
            sample,
            stop,
            reason,
            remote,
        } => remote_shadow::shadow(&world, source.as_deref(), sample, stop, &reason, &remote),
        PolicyCommand::ShadowReport {
            world,
            since,
            limit,
            show_text,
            remote,
        } => remote_shadow::report(&world, &since, limit, show_text, &remote),
        PolicyCommand::Promote {
            world,
            reason,
            accept_regression,
            wait,
            remote,
        } => remote_shadow::promote(
            &world,
            &reason,
            accept_regression.as_deref(),
            Duration::from_secs(wait),
            &remote,
        ),
        PolicyCommand::History {
            world,
            limit,
            remote,
        } => rollout::history(world.as_deref(), limit, &remote),
        PolicyCommand::Push { bundle, reference } => rollout::push(&bundle, &reference),
        PolicyCommand::Pull { reference, dir } => rollout::pull(&reference, &dir),
    }
}

fn test(
    dir: &Path,
    corpus: Vec<PathBuf>,
    format: &str,
    output: Option<&Path>,
    progress: bool,
) -> ExitCode {
    let settings = RuntimeSettings {
        cache_dir: Some(cache_dir()),
        // Testing a bundle is authoring, not serving: signed or not, it is scored.
        trust: Trust::NotChecked,
        ..RuntimeSettings::default()
    };
    let runtime = match PolicyRuntime::new(settings) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the policy runtime: {e:#}");
            return ExitCode::from(CANNOT_LOAD);
        }
    };
    let loaded = BundleSource::read(dir).and_then(|source| {
        let corpora = if corpus.is_empty() {
            source.corpus_paths()
        } else {
            corpus
        };
        runtime.load_source(source).map(|b| (b, corpora))
    });
    let (bundle, corpora) = match loaded {
        Ok(v) => v,
        Err(e) => {
            eprintln!("error: cannot load bundle {}: {e}", dir.display());
            return ExitCode::from(CANNOT_LOAD);
        }
    };
    let report = match harness::run(&bundle, &corpora, progress) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(CANNOT_LOAD);
        }
    };
    let text = report.render();
    let rendered = match format {
        "junit" => {
            // The table still goes to the terminal; the XML is the machine's copy.
            eprint!("{text}");
            harness::to_junit(&report)
        }
        _ => text,
    };
    let written = match output {
        Some(path) => std::fs::write(path, rendered)
            .map_err(|e| format!("cannot write {}: {e}", path.display())),
        None => {
            print!("{rendered}");
            Ok(())
        }
    };
    if let Err(e) = written {
        eprintln!("error: {e}");
        return ExitCode::from(CANNOT_LOAD);
    }
    if report.failed() > 0 {
        ExitCode::from(FAILED)
    } else {
        ExitCode::SUCCESS
    }
}

fn check(path: &Path) -> ExitCode {
    let inspection = match crate::policy::check_component(path) {
        Ok(i) => i,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(CANNOT_LOAD);
        }
    };
    let world = inspection
        .world
        .map_or("none".to_string(), |w| w.to_string());
    let wit = inspection
        .wit_version
        .as_ref()
        .map_or("unknown".to_string(), |v| v.to_string());
    println!("component  {}", path.display());
    println!("world      {world}");
    println!(
        "wit        jules:policy@{wit} (host supports {})",
        SUPPORTED_WIT_VERSIONS.join(", ")
    );
    println!("exports    {}", inspection.exports.join(", "));
    println!("imports");
    for i in &inspection.imports {
        let verdict = if i.allowed { "ok" } else { "REFUSED" };
        println!("  {verdict:<8} {}", i.name);
    }
    match inspection.require(None) {
        Ok(_) => {
            println!("verdict    loadable");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(CANNOT_LOAD)
        }
    }
}

/// Compiled policies are cached under the data directory (DATA_DIR, default ./data).
pub(super) fn cache_dir() -> PathBuf {
    std::env::var_os("POLICY_CACHE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            std::env::var_os("DATA_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from("data"))
                .join("policy-cache")
        })
}
