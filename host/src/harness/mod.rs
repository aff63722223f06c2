//! The author harness: runs a bundle's fixture corpora through its component (never
//! the native code), scores them per label and reports failures with evidence. It
//! only reads files and prints; it never changes a bundle.

mod diff;
mod escalation;
mod junit;
mod report;
mod run;

pub use diff::{Changed, Diff};
pub use escalation::{Escalation, Tally};
pub use junit::to_junit;
pub use report::{LabelScore, Outcome, Report, ResultRow};
pub use run::{HarnessError, run};
