//! `jules policy diff OLD NEW`: two versions of a bundle on the same corpora.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use crate::harness::{self, Diff};
use crate::policy::{BundleSource, PolicyRuntime, RuntimeSettings, Trust};
use crate::rollout::Source;

const REGRESSION: u8 = 1;
const CANNOT_LOAD: u8 = 2;

pub struct Options<'a> {
    pub old: &'a str,
    pub new: &'a str,
    pub corpus: Vec<PathBuf>,
    pub allow: Vec<String>,
    pub format: &'a str,
    pub output: Option<&'a Path>,
    pub progress: bool,
}

fn fail(message: impl std::fmt::Display) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(CANNOT_LOAD)
}

async fn fetch(text: &str, scratch: &Path) -> Result<BundleSource, String> {
    Source::parse(text)?.fetch(scratch).await
}

pub fn run(o: Options<'_>) -> ExitCode {
    let runtime = match PolicyRuntime::new(RuntimeSettings {
        cache_dir: Some(super::cache_dir()),
        // Comparing bundles is authoring: signed or not, both are scored.
        trust: Trust::NotChecked,
        ..RuntimeSettings::default()
    }) {
        Ok(r) => r,
        Err(e) => return fail(format!("cannot start the policy runtime: {e:#}")),
    };
    let Ok(scratch) = tempfile::tempdir() else {
        return fail("cannot make a temporary folder");
    };
    let sources = super::super::run_async_value(async {
        Ok::<_, String>((
            fetch(o.old, scratch.path()).await?,
            fetch(o.new, scratch.path()).await?,
        ))
    });
    let (old, new) = match sources {
        Ok(pair) => pair,
        Err(e) => return fail(e),
    };
    let corpora = if !o.corpus.is_empty() {
        o.corpus.clone()
    } else if !new.manifest.corpus.is_empty() && new.corpus_paths().iter().all(|p| p.exists()) {
        new.corpus_paths()
    } else {
        old.corpus_paths()
    };
    let load = |source: BundleSource, name: &str| {
        runtime
            .load_source(source)
            .map_err(|e| format!("cannot load {name}: {e}"))
    };
    let (old, new) = match (load(old, o.old), load(new, o.new)) {
        (Ok(a), Ok(b)) => (a, b),
        (Err(e), _) | (_, Err(e)) => return fail(e),
    };
    let reports = harness::run(&old, &corpora, o.progress)
        .and_then(|a| harness::run(&new, &corpora, o.progress).map(|b| (a, b)));
    let (old_report, new_report) = match reports {
        Ok(pair) => pair,
        Err(e) => return fail(e),
    };
    let allow: BTreeSet<String> = o.allow.iter().cloned().collect();
    let diff = match Diff::compare(&old_report, &new_report, &allow) {
        Ok(d) => d,
        Err(e) => return fail(e),
    };
    let rendered = match o.format {
        "json" => diff.to_json(),
        "junit" => {
            eprint!("{}", diff.render());
            diff.to_junit()
        }
        _ => diff.render(),
    };
    let written = match o.output {
        Some(path) => {
            std::fs::write(path, rendered).map_err(|e| format!("{}: {e}", path.display()))
        }
        None => {
            print!("{rendered}");
            Ok(())
        }
    };
    if let Err(e) = written {
        return fail(e);
    }
    if diff.regressions() > 0 {
        ExitCode::from(REGRESSION)
    } else {
        ExitCode::SUCCESS
    }
}
