//! Write [Plumbline](https://github.com/plumbline-dev/plumbline) policies in Rust.
//!
//! A policy is a WebAssembly component that implements one or more *roles*
//! of the WIT contract (`wit/policy.wit`): a [`Validator`] inspects the
//! desired state, a [`Transformer`] rewrites it, a [`Remediator`] decides
//! what to do about drift, a [`Health`] policy judges whether live objects
//! of the kinds it declares are ready. Every policy also implements
//! [`Metadata`].
//! Implement the traits on a type and export it with [`export_policy!`],
//! naming the roles; the component exports exactly those roles.
//!
//! ```no_run
//! use plumbline_sdk::{Context, Metadata, Object, PolicyInfo, Severity, Validator, Violation};
//!
//! struct NoLatestTag;
//!
//! impl Metadata for NoLatestTag {
//!     fn info() -> PolicyInfo {
//!         PolicyInfo::new("no-latest-tag", "0.1.0", "Rejects container images tagged `latest`.")
//!     }
//! }
//!
//! impl Validator for NoLatestTag {
//!     fn validate(objects: &[Object], _ctx: &Context) -> Vec<Violation> {
//!         let mut violations = Vec::new();
//!         for object in objects {
//!             for container in object.containers() {
//!                 if container.image().is_some_and(|image| image.ends_with(":latest")) {
//!                     violations.push(object.violation(
//!                         container.field_path("image"),
//!                         format!("container `{}` uses the `latest` tag", container.name()),
//!                         Severity::Error,
//!                     ));
//!                 }
//!             }
//!         }
//!         violations
//!     }
//! }
//!
//! plumbline_sdk::export_policy!(NoLatestTag, validator);
//! ```
//!
//! Build it with `plumbline policy build` (or the `plumbline-policy-build`
//! crate) for `wasm32-unknown-unknown`: the component imports nothing but the
//! host's `log` function. The crate also compiles for the host, so policy
//! logic can be unit-tested with a plain `cargo test` (log lines then go to
//! standard error).

#![deny(missing_docs)]

#[doc(hidden)]
pub mod bindings;
mod export;
mod health;
pub mod log;
mod object;
mod types;
mod workload;

#[doc(hidden)]
pub use export::__private;
pub use health::{Assessment, Condition, GroupKind, HealthStatus};
pub use object::{Object, ParseError};
pub use types::{
    Context, Drift, FieldChange, ObjectRef, PolicyInfo, Remediation, Severity, SourceInfo,
    Violation,
};
pub use workload::{Container, ContainerKind};

/// Re-exported so that policies use the same JSON types as the SDK.
pub use serde_json;

/// Every policy describes itself and checks its settings.
pub trait Metadata {
    /// Name, version and description of the policy (and the JSON Schema of
    /// its settings, if it has any).
    fn info() -> PolicyInfo;

    /// Check the operator's settings once, when the policy is loaded; an
    /// `Err` refuses the policy and its message is shown to the operator.
    ///
    /// `settings` is the parsed settings JSON (`{}` when none were given);
    /// settings that are not valid JSON are refused before this is called.
    /// The default accepts anything.
    fn check_settings(settings: &serde_json::Value) -> Result<(), String> {
        let _ = settings;
        Ok(())
    }
}

/// The validator role: inspect the desired state and report violations.
pub trait Validator: Metadata {
    /// Check the whole desired set and return every violation found; an
    /// empty list accepts the set. An error-severity violation blocks the
    /// sync.
    ///
    /// Objects that are not JSON objects never reach this function: each
    /// becomes an error violation of its own.
    fn validate(objects: &[Object], ctx: &Context) -> Vec<Violation>;
}

/// The transformer role: rewrite the desired state before it is validated.
pub trait Transformer: Metadata {
    /// Return the new desired set (objects may be changed, added or dropped).
    /// An `Err` fails the sync with this message.
    fn transform(objects: Vec<Object>, ctx: &Context) -> Result<Vec<Object>, String>;
}

/// The remediator role: decide what happens when the cluster drifted.
pub trait Remediator: Metadata {
    /// Decide how to handle one drifted object, or return `None` to abstain
    /// when the drift is outside this policy's concern. A sync asks its
    /// remediators in order: the first `Some` wins, and when every one
    /// abstains the sync's default applies (reapply with self-heal, report
    /// otherwise). [`Drift::desired_object`] and [`Drift::live_object`]
    /// parse the two versions.
    fn remediate(drift: &Drift, ctx: &Context) -> Option<Remediation>;
}

/// The health role: judge whether a live object is ready, for the kinds the
/// policy declares. The host asks it about objects of those kinds only and
/// judges every other kind by its built-in (kstatus) rules.
pub trait Health: Metadata {
    /// The kinds this policy assesses, asked once when it is loaded, e.g.
    /// `vec![GroupKind::new("cert-manager.io", "Certificate")]`.
    fn kinds() -> Vec<GroupKind>;

    /// Assess one live object (as read from the cluster, status included).
    /// `desired` is the object as Plumbline applies it, when it is part of
    /// the desired state.
    ///
    /// A live object that is not a JSON object never reaches this
    /// function: it is assessed [`HealthStatus::Unknown`].
    fn assess(live: &Object, desired: Option<&Object>, ctx: &Context) -> Assessment;
}
