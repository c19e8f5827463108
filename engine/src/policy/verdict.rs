//! What policies decide (verdicts) and what they are given (context, drift),
//! as engine types, with the conversions to and from the WIT bindings. No IO.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::bindings::exports::plumbline::policy::health as wit_health;
use super::bindings::plumbline::policy::types as wit;
use crate::health::Health;
use crate::object::ObjectRef;

/// How serious a violation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Blocks the sync.
    Error,
    /// Reported, does not block.
    Warning,
    /// Informational only.
    Info,
}

/// One rule broken by the desired state, tagged with the policy that found it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Violation {
    /// The configured name of the policy that reported it.
    pub policy: String,
    /// The offending object; `None` for a rule about the whole set.
    pub target: Option<ObjectRef>,
    /// Dotted JSON path of the offending field; empty for the whole object.
    pub path: String,
    /// What is wrong, for a person.
    pub message: String,
    /// How serious it is.
    pub severity: Severity,
}

/// What to do about a drifted object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Remediation {
    /// Apply the desired state again.
    Reapply,
    /// Accept the live state until Git changes these fields.
    Ignore,
    /// Leave the object alone and report the drift with this message.
    Report(String),
    /// Delete the object and create it again.
    Recreate,
    /// Decide again after this long.
    Defer(Duration),
}

/// A remediation decision, recorded with the policy that made it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Decision {
    /// The configured name of the deciding policy.
    pub policy: String,
    /// What it decided.
    pub remediation: Remediation,
}

/// Where the desired state came from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceInfo {
    /// Git remote URL, without credentials.
    pub url: String,
    /// Resolved commit id.
    pub revision: String,
    /// Path inside the repository that was rendered.
    pub path: String,
}

/// What every evaluation knows about the sync it runs for (each policy's own
/// settings are added by the host).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct EvalContext {
    /// The source of the desired state.
    pub source: SourceInfo,
    /// The target (cluster or sync unit) being reconciled.
    pub target: String,
}

/// One field whose live value differs from what Plumbline applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FieldChange {
    /// Dotted JSON path, e.g. `spec.replicas`.
    pub path: String,
    /// The applied value; `None` if Plumbline did not set the field.
    pub desired: Option<Value>,
    /// The live value; `None` if the field is gone.
    pub live: Option<Value>,
}

/// A live object that no longer matches what Plumbline applied.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Drift {
    /// The drifted object.
    pub target: ObjectRef,
    /// The object as Plumbline wants it.
    pub desired: Value,
    /// The object in the cluster (`{}` if it was deleted).
    pub live: Value,
    /// The fields that drifted.
    pub changes: Vec<FieldChange>,
}

/// A kind a health policy assesses (`health.kinds`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct GroupKind {
    /// The API group; empty for the core group; `*.` and a domain
    /// (`*.upbound.io`) for every group under that domain.
    pub group: String,
    /// The kind; `*` for every kind of the group.
    pub kind: String,
}

impl GroupKind {
    /// Whether an object of `group` and `kind` is of this kind.
    pub fn covers(&self, group: &str, kind: &str) -> bool {
        let group_matches = match self.group.strip_prefix("*.") {
            // `*.upbound.io` covers `s3.aws.upbound.io`, not `upbound.io`
            // nor `notupbound.io`.
            Some(domain) => group
                .strip_suffix(domain)
                .is_some_and(|sub| sub.len() > 1 && sub.ends_with('.')),
            None => self.group == group,
        };
        group_matches && (self.kind == "*" || self.kind == kind)
    }
}

impl std::fmt::Display for GroupKind {
    /// `Certificate.cert-manager.io`, or `Service` for the core group.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.group.as_str() {
            "" => f.write_str(&self.kind),
            group => write!(f, "{}.{group}", self.kind),
        }
    }
}

impl From<wit_health::GroupKind> for GroupKind {
    fn from(k: wit_health::GroupKind) -> Self {
        Self {
            group: k.group,
            kind: k.kind,
        }
    }
}

impl From<wit_health::Assessment> for Health {
    fn from(a: wit_health::Assessment) -> Self {
        match a.status {
            wit_health::Status::Current => Health::Current,
            wit_health::Status::InProgress => Health::InProgress(a.message),
            wit_health::Status::Failed => Health::Failed(a.message),
            wit_health::Status::Unknown => Health::Unknown(a.message),
        }
    }
}

/// What a policy says about itself (`metadata.info`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PolicyInfo {
    /// The policy's own short name.
    pub name: String,
    /// The policy's own version.
    pub version: String,
    /// What it does.
    pub description: String,
    /// JSON Schema of its settings, if it has settings.
    pub settings_schema: Option<String>,
}

impl From<wit::PolicyInfo> for PolicyInfo {
    fn from(i: wit::PolicyInfo) -> Self {
        Self {
            name: i.name,
            version: i.version,
            description: i.description,
            settings_schema: i.settings_schema,
        }
    }
}

impl From<&ObjectRef> for wit::ObjectRef {
    fn from(r: &ObjectRef) -> Self {
        Self {
            api_version: r.api_version.clone(),
            kind: r.kind.clone(),
            namespace: r.namespace.clone(),
            name: r.name.clone(),
        }
    }
}

impl From<wit::ObjectRef> for ObjectRef {
    fn from(r: wit::ObjectRef) -> Self {
        Self {
            api_version: r.api_version,
            kind: r.kind,
            namespace: r.namespace,
            name: r.name,
        }
    }
}

impl From<wit::Severity> for Severity {
    fn from(s: wit::Severity) -> Self {
        match s {
            wit::Severity::Error => Severity::Error,
            wit::Severity::Warning => Severity::Warning,
            wit::Severity::Info => Severity::Info,
        }
    }
}

impl From<wit::Remediation> for Remediation {
    fn from(r: wit::Remediation) -> Self {
        match r {
            wit::Remediation::Reapply => Remediation::Reapply,
            wit::Remediation::Ignore => Remediation::Ignore,
            wit::Remediation::Report(message) => Remediation::Report(message),
            wit::Remediation::Recreate => Remediation::Recreate,
            wit::Remediation::Defer(secs) => Remediation::Defer(Duration::from_secs(secs.into())),
        }
    }
}

impl Violation {
    pub(crate) fn from_wit(policy: &str, v: wit::Violation) -> Self {
        Self {
            policy: policy.to_owned(),
            target: v.target.map(ObjectRef::from),
            path: v.path,
            message: v.message,
            severity: v.severity.into(),
        }
    }
}

impl EvalContext {
    pub(crate) fn to_wit(&self, settings_json: &str) -> wit::Context {
        wit::Context {
            source: wit::SourceInfo {
                url: self.source.url.clone(),
                revision: self.source.revision.clone(),
                path: self.source.path.clone(),
            },
            target: self.target.clone(),
            settings_json: settings_json.to_owned(),
        }
    }
}

impl Drift {
    pub(crate) fn to_wit(&self) -> wit::Drift {
        let json = |v: &Value| v.to_string();
        wit::Drift {
            target: (&self.target).into(),
            desired: json(&self.desired),
            live: json(&self.live),
            changes: self
                .changes
                .iter()
                .map(|c| wit::FieldChange {
                    path: c.path.clone(),
                    desired_json: c.desired.as_ref().map(json),
                    live_json: c.live.as_ref().map(json),
                })
                .collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::GroupKind;

    fn kind(group: &str, kind: &str) -> GroupKind {
        GroupKind {
            group: group.into(),
            kind: kind.into(),
        }
    }

    #[test]
    fn a_group_kind_covers_its_group_and_kind_or_every_kind_and_subdomain_it_names() {
        assert!(kind("cert-manager.io", "Certificate").covers("cert-manager.io", "Certificate"));
        assert!(!kind("cert-manager.io", "Certificate").covers("cert-manager.io", "Issuer"));
        assert!(kind("cert-manager.io", "*").covers("cert-manager.io", "Issuer"));
        assert!(!kind("cert-manager.io", "*").covers("acme.cert-manager.io", "Order"));
        assert!(kind("", "Service").covers("", "Service"));

        let upbound = kind("*.upbound.io", "*");
        assert!(upbound.covers("s3.aws.upbound.io", "Bucket"));
        assert!(upbound.covers("ec2.aws.m.upbound.io", "VPC"));
        assert!(!upbound.covers("upbound.io", "Bucket"));
        assert!(!upbound.covers("notupbound.io", "Bucket"));
        assert!(!upbound.covers("", "Bucket"));
        assert!(!kind("*.upbound.io", "Bucket").covers("s3.aws.upbound.io", "Object"));
    }
}
