//! `namespaces-exist`: a validator with a rule across objects. The
//! namespace of every namespaced object must be created by the desired set
//! itself (a `Namespace` object), be listed in `existing`, or be one of the
//! namespaces every cluster has (`default`, `kube-system`, `kube-public`,
//! `kube-node-lease`).
//!
//! Cluster-scoped kinds are skipped: the built-in ones, those named in
//! `clusterScopedKinds`, and those defined with `scope: Cluster` by a
//! CustomResourceDefinition in the set. Objects without a namespace are
//! skipped (the engine gives them the default namespace later) unless
//! `requireExplicitNamespace: true`.
//!
//! Violations are errors at `metadata.namespace`.

use std::collections::BTreeSet;

use plumbline_policies_common::names::{self, check_namespace};
use plumbline_policies_common::scope::Scopes;
use plumbline_policies_common::settings::{self, Settings};
use plumbline_sdk::serde_json::{json, Value};
use plumbline_sdk::{Context, Metadata, Object, PolicyInfo, Severity, Validator, Violation};

/// The policy.
struct NamespacesExist;

/// Namespaces that exist in every cluster.
const BUILT_IN_NAMESPACES: [&str; 4] = ["default", "kube-system", "kube-public", "kube-node-lease"];

/// The settings, checked.
struct Config {
    /// Namespaces known to exist outside the set.
    existing: Vec<String>,
    /// Objects without a namespace are violations.
    require_explicit_namespace: bool,
    /// Kinds to treat as cluster-scoped besides the built-in ones.
    cluster_scoped_kinds: Vec<String>,
}

impl Config {
    fn parse(value: &Value) -> settings::Result<Self> {
        let s = Settings::new(
            value,
            &["existing", "requireExplicitNamespace", "clusterScopedKinds"],
        )?;
        let existing = s.string_list("existing")?.unwrap_or_default();
        for (i, name) in existing.iter().enumerate() {
            check_namespace(name).map_err(|reason| settings::Error::Invalid {
                at: s.item_name("existing", i),
                reason,
            })?;
        }
        Ok(Self {
            existing: existing.into_iter().map(str::to_owned).collect(),
            require_explicit_namespace: s.bool("requireExplicitNamespace", false)?,
            cluster_scoped_kinds: s
                .string_list("clusterScopedKinds")?
                .unwrap_or_default()
                .into_iter()
                .map(str::to_owned)
                .collect(),
        })
    }
}

/// `Deployment shop/web`, `Deployment web`.
fn describe(object: &Object) -> String {
    names::describe(object.kind(), object.namespace(), object.name())
}

impl Metadata for NamespacesExist {
    fn info() -> PolicyInfo {
        PolicyInfo::new(
            "namespaces-exist",
            env!("CARGO_PKG_VERSION"),
            "The namespace of every namespaced object must be created by the desired set or be \
             known to exist.",
        )
        .with_settings_schema(json!({
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "existing": {"type": "array", "items": {"type": "string"}, "default": [],
                    "description": "Namespaces that exist in the cluster outside this set."},
                "requireExplicitNamespace": {"type": "boolean", "default": false,
                    "description": "Namespaced objects without metadata.namespace are violations."},
                "clusterScopedKinds": {"type": "array", "items": {"type": "string"}, "default": [],
                    "description": "Further kinds to treat as cluster-scoped (custom resources)."}
            }
        }))
    }

    fn check_settings(settings: &Value) -> Result<(), String> {
        Config::parse(settings).map(drop).map_err(String::from)
    }
}

impl Validator for NamespacesExist {
    fn validate(objects: &[Object], ctx: &Context) -> Vec<Violation> {
        let config = match Config::parse(&ctx.settings()) {
            Ok(config) => config,
            Err(e) => return vec![Violation::about_set(e.to_string(), Severity::Error)],
        };
        let scopes = Scopes::new(
            config.cluster_scoped_kinds.iter().map(String::as_str),
            objects,
        );
        let created: BTreeSet<&str> = objects
            .iter()
            .filter(|o| o.kind() == "Namespace")
            .map(Object::name)
            .collect();
        let known = |namespace: &str| {
            created.contains(namespace)
                || BUILT_IN_NAMESPACES.contains(&namespace)
                || config.existing.iter().any(|e| e == namespace)
        };
        let mut violations = Vec::new();
        for object in objects
            .iter()
            .filter(|o| !scopes.is_cluster_scoped(o.kind()))
        {
            match object.namespace().filter(|ns| !ns.is_empty()) {
                None if config.require_explicit_namespace => {
                    violations.push(object.violation(
                        "metadata.namespace",
                        format!(
                            "{} has no namespace (requireExplicitNamespace is set)",
                            describe(object)
                        ),
                        Severity::Error,
                    ));
                }
                None => {}
                Some(namespace) if known(namespace) => {}
                Some(namespace) => violations.push(object.violation(
                    "metadata.namespace",
                    format!(
                        "namespace `{namespace}` of {} is not created by this set (no Namespace \
                         object) and not listed in settings.existing",
                        describe(object)
                    ),
                    Severity::Error,
                )),
            }
        }
        violations
    }
}

plumbline_sdk::export_policy!(NamespacesExist, validator);
