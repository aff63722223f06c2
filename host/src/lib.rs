//! Jules, the host: an SMS AI companion backend.
//!
//! Follow the folders: `cli` (what the binary can be asked to do), `policy` (the
//! WebAssembly policy runtime), `harness` (testing bundles against their corpora).

pub mod cli;
pub mod harness;
pub mod policy;
