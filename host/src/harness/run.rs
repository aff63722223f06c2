use std::path::{Path, PathBuf};

use indicatif::{ProgressBar, ProgressStyle};
use jules_policy_corpus::{Case, Fixture, Output, check, parse};

use super::report::{Outcome, Report, ResultRow};
use crate::policy::{LoadedBundle, PromptInput};

#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error("cannot read corpus {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("corpus {path} has bad lines:\n{lines}")]
    Corpus { path: PathBuf, lines: String },
    #[error("no corpus: the manifest lists none and no --corpus was given")]
    NoCorpus,
}

/// Run every fixture of `corpora` through `bundle`'s component.
pub fn run(
    bundle: &LoadedBundle,
    corpora: &[PathBuf],
    progress: bool,
) -> Result<Report, HarnessError> {
    if corpora.is_empty() {
        return Err(HarnessError::NoCorpus);
    }
    let mut fixtures = Vec::new();
    for path in corpora {
        fixtures.extend(
            read_corpus(bundle, path)?
                .into_iter()
                .map(|f| (path.clone(), f)),
        );
    }
    let bar = if progress {
        let bar = ProgressBar::new(fixtures.len() as u64);
        if let Ok(style) = ProgressStyle::with_template("{bar:40} {pos}/{len} fixtures {elapsed}") {
            bar.set_style(style);
        }
        bar
    } else {
        ProgressBar::hidden()
    };
    let mut rows = Vec::with_capacity(fixtures.len());
    for (corpus, fixture) in fixtures {
        let outcome = run_one(bundle, &fixture);
        rows.push(ResultRow {
            corpus,
            fixture,
            outcome,
        });
        bar.inc(1);
    }
    bar.finish_and_clear();
    Ok(Report::new(bundle, rows))
}

fn read_corpus(bundle: &LoadedBundle, path: &Path) -> Result<Vec<Fixture>, HarnessError> {
    let text = std::fs::read_to_string(path).map_err(|source| HarnessError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse(bundle.world, &text).map_err(|errors| HarnessError::Corpus {
        path: path.to_path_buf(),
        lines: errors
            .iter()
            .map(|e| format!("  {e}"))
            .collect::<Vec<_>>()
            .join("\n"),
    })
}

fn run_one(bundle: &LoadedBundle, fixture: &Fixture) -> Outcome {
    let output = match &fixture.case {
        Case::Assess {
            message,
            user,
            recent,
            ..
        } => bundle.assess(message, user, recent).map(Output::Assessment),
        Case::Evaluate { message, user, .. } => {
            bundle.evaluate(message, user).map(Output::Decision)
        }
        Case::Shape {
            reply, disclose, ..
        } => bundle.shape(reply, *disclose).map(Output::Outbound),
        Case::Build {
            message,
            user,
            recent,
            facts,
            crisis,
            ..
        } => bundle
            .build(&PromptInput {
                message,
                user,
                recent,
                facts,
                crisis,
            })
            .map(Output::Request),
    };
    match output {
        Ok(output) => {
            let verdict = check(&fixture.case, &output);
            Outcome::Checked { output, verdict }
        }
        Err(e) => Outcome::Error(e),
    }
}
