//! Helpers shared by the standard Plumbline policies in `policies/`:
//!
//! - [`settings`]: strict reading of settings JSON, with messages that name
//!   the offending setting;
//! - [`image`]: container image references with Docker's normalisation;
//! - [`scope`]: which kinds are cluster-scoped;
//! - [`path`]: field paths in the engine's dotted notation;
//! - [`names`]: checks of label keys, label values and namespace names.
//!
//! Everything here is pure; nothing does IO. The crate is a plain library
//! linked into each policy, not a component.

#![deny(missing_docs)]

pub mod image;
pub mod names;
pub mod path;
pub mod scope;
pub mod settings;

pub use settings::Settings;
