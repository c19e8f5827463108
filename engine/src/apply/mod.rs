//! Apply: execute a plan against a Kubernetes API server.
//!
//! A thin executor, in the manner of Flux's SSA manager: server-side apply
//! with Plumbline's field manager, deletes for prune, reads of the live state
//! the planner needs, and the discovery that maps kinds to API resources. It
//! decides nothing; [`crate::plan`] decided already. Every call talks to the
//! API server through `kube::Client` (IO).
//!
//! - [`Cluster`] connects (kubeconfig, context, or in-cluster) and resolves
//!   kinds through a [`discovery::Resolver`] cache that is refreshed when a
//!   kind is unknown (a CRD of this very sync may just have been applied).
//! - [`Cluster::apply`] server-side applies objects with bounded parallelism;
//!   conflicts with other field managers fail with the manager's name unless
//!   forced. [`Options::dry_run`] turns every write into a server-side
//!   dry-run.
//! - [`Cluster::live`] reads the live objects of a desired set and inventory.
//! - [`Cluster::take_over`] moves the fields of imperative field managers
//!   (`kubectl edit`, `kubectl patch`, ...) to Plumbline's before an
//!   object is adopted or reapplied ([`takeover`]).
//! - [`inventory_store`] keeps a sync's [`crate::plan::Inventory`] in
//!   ConfigMaps.

use std::time::Duration;

use crate::object::ObjectKey;

mod client_config;
mod cluster;
pub mod discovery;
pub mod inventory_store;
pub mod takeover;

pub use client_config::client_config;
pub use cluster::{live_value, Applied, Cluster, Compact};

/// The label that marks every object a sync applied, with the sync's name.
pub const SYNC_LABEL: &str = "plumbline.dev/sync";

/// How writes are made.
#[derive(Debug, Clone)]
pub struct Options {
    /// Server-side apply field manager.
    pub field_manager: String,
    /// Take ownership of fields another manager owns instead of failing.
    pub force_conflicts: bool,
    /// Server-side dry-run: the API server validates and defaults, nothing
    /// is stored.
    pub dry_run: bool,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// How long to wait for CRDs to be established and namespaces to be
    /// active before the objects that need them are applied.
    pub establish_timeout: Duration,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            field_manager: "plumbline".to_owned(),
            force_conflicts: false,
            dry_run: false,
            concurrency: 16,
            establish_timeout: Duration::from_secs(60),
        }
    }
}

/// Errors of the apply stage. Each names the object involved.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Connecting to the API server failed (kubeconfig, context, in-cluster
    /// configuration). Retryable.
    #[error("cannot connect to the Kubernetes API: {0}")]
    Connect(String),
    /// No API resource serves this kind: its CRD is missing or not
    /// established. Retryable.
    #[error("{api_version} {kind}: no such kind in the cluster (is its CustomResourceDefinition installed?)")]
    UnknownKind {
        /// The `apiVersion` asked for.
        api_version: String,
        /// The kind asked for.
        kind: String,
    },
    /// Another field manager owns fields this apply sets (a 409). Retryable:
    /// the other manager may let go; `force_conflicts` takes the fields.
    #[error(
        "{object}: conflict with another field manager: {message}; to make Git win, set \
         forceConflicts: true in the sync (or pass --force-conflicts), or add the manager \
         to takeOver.managers if its edits are to be taken over"
    )]
    Conflict {
        /// The object.
        object: ObjectKey,
        /// The API server's message, naming the manager and fields.
        message: String,
    },
    /// The API server refuses to change immutable fields: only deleting the
    /// object and creating it again changes them. Not retryable.
    #[error(
        "{object}: immutable field {} cannot be changed; delete the object so the next sync creates it again ({message})",
        fields.join(", ")
    )]
    Immutable {
        /// The object.
        object: ObjectKey,
        /// The immutable fields the change touched, as the API server names
        /// them (e.g. `spec.template`, `roleRef`).
        fields: Vec<String>,
        /// The API server's message.
        message: String,
    },
    /// The API server refused the object (invalid, forbidden, ...).
    /// Retryable unless the code says the object itself is refused (400,
    /// 413, 422).
    #[error("{object}: rejected by the API server ({code} {reason}): {message}")]
    Rejected {
        /// The object.
        object: ObjectKey,
        /// HTTP status code.
        code: u16,
        /// The API server's reason, e.g. `Invalid`.
        reason: String,
        /// The API server's message.
        message: String,
    },
    /// The request failed before the API server answered (network, timeout,
    /// server error). Retryable.
    #[error("{object}: request failed: {}", kube_message(source))]
    Request {
        /// The object.
        object: ObjectKey,
        /// The client error.
        #[source]
        source: kube::Error,
    },
    /// Discovery (which API resource serves a kind) failed before the API
    /// server answered, or with a server error. Retryable.
    #[error("discovering {what}: request failed: {}", kube_message(source))]
    Discovery {
        /// What was looked up, e.g. `v1 Namespace`, or `the served API groups`.
        what: String,
        /// The client error.
        #[source]
        source: kube::Error,
    },
    /// An object did not reach the awaited state in time (a CRD established,
    /// a namespace active, a deleted object gone). Retryable.
    #[error("{object}: still {health} after {timeout:?}")]
    Timeout {
        /// The object waited for.
        object: ObjectKey,
        /// How long was waited.
        timeout: Duration,
        /// Its last health.
        health: crate::health::Health,
    },
    /// A DELETE's uid precondition failed: the object was replaced since it
    /// was read, so it is not the one this sync owns. Not retryable.
    #[error("{object}: not deleted, ownership changed: {message}")]
    OwnershipChanged {
        /// The object.
        object: ObjectKey,
        /// The API server's message.
        message: String,
    },
    /// The stored inventory could not be read or written. Retryable.
    #[error("inventory of sync {sync:?}: {message}")]
    Inventory {
        /// The sync.
        sync: String,
        /// What went wrong.
        message: String,
    },
}

impl Error {
    /// Whether retrying later may succeed without anyone changing anything:
    /// network failures, 5xx and 429 responses, timeouts, 409 conflicts
    /// (another writer, or another field manager that may let go), kinds not
    /// served yet, 403/404 (a role or a namespace may appear). An object the
    /// API server refuses as invalid (400, 413, 422) or whose immutable
    /// fields change is refused again until the object changes.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Connect(_)
            | Error::UnknownKind { .. }
            | Error::Conflict { .. }
            | Error::Request { .. }
            | Error::Discovery { .. }
            | Error::Timeout { .. }
            | Error::Inventory { .. } => true,
            Error::Rejected { code, .. } => !matches!(code, 400 | 413 | 422),
            Error::Immutable { .. } | Error::OwnershipChanged { .. } => false,
        }
    }

    /// A short machine-readable reason, for metrics and conditions.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::Connect(_) => "ConnectFailed",
            Error::UnknownKind { .. } => "UnknownKind",
            Error::Conflict { .. } => "FieldManagerConflict",
            Error::Immutable { .. } => "ImmutableField",
            Error::Rejected { .. } => "Rejected",
            Error::Request { .. } | Error::Discovery { .. } => "RequestFailed",
            Error::Timeout { .. } => "Timeout",
            Error::OwnershipChanged { .. } => "OwnershipChanged",
            Error::Inventory { .. } => "InventoryFailed",
        }
    }

    /// Classify a client error for an object.
    pub(crate) fn from_kube(object: &ObjectKey, error: kube::Error) -> Self {
        match error {
            kube::Error::Api(status)
                if status.code == 409
                    && status.reason == "Conflict"
                    && status.message.contains("conflict") =>
            {
                Error::Conflict {
                    object: object.clone(),
                    message: status.message,
                }
            }
            kube::Error::Api(status) if !immutable_fields(&status).is_empty() => Error::Immutable {
                object: object.clone(),
                fields: immutable_fields(&status),
                message: status.message,
            },
            kube::Error::Api(status) if (400..500).contains(&status.code) && status.code != 429 => {
                Error::Rejected {
                    object: object.clone(),
                    code: status.code,
                    reason: status.reason,
                    message: status.message,
                }
            }
            source => Error::Request {
                object: object.clone(),
                source,
            },
        }
    }
}

/// A client error for people: the API server's own message, code and
/// reason for an answer (kube's `Display` of it appends the Rust `Debug`
/// of the whole `Status`), the client's message otherwise.
pub fn kube_message(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) => {
            format!("{} ({} {})", status.message, status.code, status.reason)
        }
        other => other.to_string(),
    }
}

/// The fields a 422 (Invalid) response says cannot change. The API server
/// words this per kind: "field is immutable" (Job template, Deployment
/// selector), "may not change once set" (Service clusterIP), "cannot change
/// roleRef" (RoleBinding).
fn immutable_fields(status: &kube::core::Status) -> Vec<String> {
    let is_immutable = |message: &str| {
        ["immutable", "may not change once set", "cannot change"]
            .iter()
            .any(|words| message.contains(words))
    };
    let causes = status.details.iter().flat_map(|d| &d.causes);
    let mut fields: Vec<String> = causes
        .filter(|cause| status.code == 422 && is_immutable(&cause.message))
        .map(|cause| cause.field.clone())
        .collect();
    fields.dedup();
    fields
}

/// The result type of the apply stage.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The error of an API response with `code` and `reason`.
    fn answered(code: u16, reason: &str, message: &str) -> Error {
        let status: kube::core::Status = serde_json::from_value(json!({
            "status": "Failure", "code": code, "reason": reason, "message": message,
        }))
        .unwrap();
        let key = ObjectKey {
            group: String::new(),
            kind: "ConfigMap".into(),
            namespace: Some("shop".into()),
            name: "settings".into(),
        };
        Error::from_kube(&key, kube::Error::Api(Box::new(status)))
    }

    #[test]
    fn messages_say_what_to_do_and_never_show_rust_debug() {
        let conflict = answered(409, "Conflict", "Apply failed with 1 conflict: ...");
        let text = conflict.to_string();
        assert!(
            text.contains("forceConflicts: true") && text.contains("takeOver.managers"),
            "{text}"
        );
        let unavailable = answered(503, "ServiceUnavailable", "etcd is down");
        let text = unavailable.to_string();
        assert_eq!(
            text,
            "ConfigMap shop/settings: request failed: etcd is down (503 ServiceUnavailable)"
        );
        let status: kube::core::Status = serde_json::from_value(json!({
            "status": "Failure", "code": 403, "reason": "Forbidden",
            "message": "configmaps is forbidden: User \"ci\" cannot list resource \"configmaps\"",
        }))
        .unwrap();
        let forbidden = kube_message(&kube::Error::Api(Box::new(status)));
        assert!(!forbidden.contains("Status {"), "{forbidden}");
        assert!(forbidden.ends_with("(403 Forbidden)"), "{forbidden}");
    }

    #[test]
    fn refused_objects_are_permanent_and_everything_else_is_retried() {
        let invalid = answered(422, "Invalid", "data[not a key!]: Invalid value");
        assert_eq!(invalid.reason(), "Rejected");
        assert!(!invalid.is_retryable());
        assert!(!answered(400, "BadRequest", "malformed").is_retryable());

        let field_manager = answered(409, "Conflict", "Apply failed with 1 conflict: ...");
        assert_eq!(field_manager.reason(), "FieldManagerConflict");
        assert!(field_manager.is_retryable());
        let modified = answered(409, "Conflict", "the object has been modified");
        assert!(modified.is_retryable(), "{modified}");
        for (code, reason) in [
            (500, "InternalError"),
            (503, "ServiceUnavailable"),
            (504, "Timeout"),
            (429, "TooManyRequests"),
            (403, "Forbidden"),
            (404, "NotFound"),
        ] {
            let error = answered(code, reason, "try again");
            assert!(error.is_retryable(), "{code}: {error}");
        }
    }
}
