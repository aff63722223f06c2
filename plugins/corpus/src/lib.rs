//! Fixture corpora for policy bundles (format documented in `policies/README.md`).
//!
//! A corpus is JSONL: one fixture per line, blank lines and lines starting with `//`
//! ignored. This crate parses fixtures and checks a policy's output against them; it
//! never runs a policy itself, so the same checks serve the host's harness (which
//! runs components) and the logic crates' native tests.

mod check;
mod describe;
mod fixture;
mod native;

pub use check::{Verdict, action_label, check};
pub use describe::describe;
pub use fixture::{
    Case, ComplianceExpect, CorpusError, CrisisExpect, Fixture, Output, PromptExpect, ShapeExpect,
    parse,
};
pub use native::{NativeRun, run_native};
