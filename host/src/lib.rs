//! Jules, the host: an SMS AI companion backend.
//!
//! Follow the folders: `cli` (what the binary can be asked to do), `startup` (build
//! the app), `http` (routes), `policy` (the WebAssembly policy runtime), `harness`
//! (testing bundles against their corpora), `config` (the environment), `crypto`
//! (sealing personal data at rest).

pub mod age;
pub mod billing;
pub mod carrier;
pub mod cli;
pub mod config;
pub mod crypto;
pub mod domain;
pub mod harness;
pub mod heap;
pub mod http;
pub mod langfuse;
pub mod llm;
pub mod memory;
pub mod net;
pub mod pipeline;
pub mod policy;
pub mod reporting;
pub mod rollout;
pub mod startup;
pub mod store;
pub mod telemetry;
