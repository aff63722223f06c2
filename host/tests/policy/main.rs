//! The policy runtime against real components: loading, containment of misbehaving
//! components, hot swaps, and the shipped bundles.

#[path = "../../../tests/support/mod.rs"]
mod support;

mod containment;
mod hot_swap;
mod loading;
mod shipped;
