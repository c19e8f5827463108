//! The controller's custom resources, as Rust types: `SyncUnit` (namespaced)
//! and `ClusterSyncPolicy` (cluster-scoped), group `plumbline.dev`, version
//! `v1alpha1`. No IO.
//!
//! The CustomResourceDefinitions are generated from these types (kube's
//! `CustomResource` derive with schemars), so the schema in the cluster and
//! the code can never disagree: `plumbline install --print` prints them.
//!
//! A `SyncUnit`'s spec flattens the same [`crate::spec::SyncSpec`] as
//! `plumbline.yaml`, so a sync tried with the CLI moves into the cluster
//! with the same field names and the same validation; what only makes sense
//! in a cluster is added (interval, suspend, dependsOn, a credentials
//! Secret, a service account to impersonate, and policy modules fetched by
//! URL and pinned by sha256).

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, LabelSelector, Time};
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The API group of every Plumbline resource.
pub const GROUP: &str = "plumbline.dev";
/// The API version of the resources defined here.
pub const VERSION: &str = "v1alpha1";

/// Desired state of one sync: where the manifests are, how to apply them,
/// and which policies decide about them.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "plumbline.dev",
    version = "v1alpha1",
    kind = "SyncUnit",
    plural = "syncunits",
    shortname = "su",
    category = "plumbline",
    namespaced,
    status = "SyncUnitStatus",
    derive = "PartialEq",
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Reason","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].reason"}"#,
    printcolumn = r#"{"name":"Revision","type":"string","jsonPath":".status.lastAppliedRevision"}"#,
    printcolumn = r#"{"name":"Objects","type":"integer","jsonPath":".status.inventoryCount"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct SyncUnitSpec {
    /// The Git source.
    pub source: SourceSpec,
    /// How often Git is polled and the whole sync reconciled, e.g. `5m`,
    /// `1h`, `90s` (default `5m`). Drift of managed objects and Git push
    /// webhooks trigger reconciles in between.
    #[serde(default = "default_interval")]
    pub interval: String,
    /// The sync's own policies, in order. ClusterSyncPolicies that select
    /// this SyncUnit run before them.
    #[serde(default)]
    pub policies: Vec<PolicyRef>,
    /// How to sync, as in `plumbline.yaml`.
    #[serde(flatten)]
    pub sync: crate::spec::SyncSpec,
    /// Stop reconciling (no fetch, no apply, no drift remediation) until
    /// set back to false. Status keeps its last values.
    #[serde(default)]
    pub suspend: bool,
    /// SyncUnits that must be Ready (for the generation they last
    /// observed) before this one is reconciled.
    #[serde(default)]
    pub depends_on: Vec<DependencyRef>,
    /// Apply as this ServiceAccount of the SyncUnit's namespace
    /// (impersonation) instead of the controller's own identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
    /// The registered cluster to sync into: the name of a cluster
    /// registration Secret in the controller's namespace (see
    /// docs/clusters.md). Default: the cluster the controller runs in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
}

/// Where the desired state lives.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SourceSpec {
    /// Repository URL (`https://`, `ssh://`, `git://`, `file://`, or
    /// scp-like `git@host:path`), an OCI artifact of manifests or a Helm
    /// chart (`oci://host/repository:tag` or `@sha256:…`, see docs/oci.md),
    /// or, with `chart`, a Helm chart repository (docs/helm.md).
    pub url: String,
    /// Branch, tag or commit: exactly one (default: branch `main`).
    #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<crate::source::GitRef>,
    /// Directory inside the repository (default: the root).
    #[serde(default)]
    pub path: String,
    /// A Secret in the SyncUnit's namespace with the credentials: keys
    /// `username` + `password` (HTTP basic), `password` or `token` alone
    /// (token), or `identity` (SSH private key) with optional `known_hosts`;
    /// for an `oci://` source, a `kubernetes.io/dockerconfigjson` Secret.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<LocalObjectRef>,
    /// Signatures the fetched revision must carry; without it, nothing is
    /// verified (see docs/verify.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<VerifySpec>,
    /// For an `oci://` source: speak plain HTTP to the registry instead of
    /// HTTPS.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
    /// For an `oci://` source without tag or digest: take the highest tag
    /// that is a semver version in this range (`^1.4`, `>=1.2, <2`),
    /// checked at every interval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub semver: Option<String>,
    /// A chart of the Helm chart repository at `url` (an HTTP(S) URL with
    /// an `index.yaml`), or of the OCI registry repository at `url`
    /// (`oci://host/charts` + `podinfo` is `oci://host/charts/podinfo`):
    /// Plumbline fetches it and renders it (docs/helm.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart: Option<String>,
    /// With `chart` (or an `oci://` chart): the chart version, exact
    /// (`6.14.1`) or a Helm constraint (`>=6 <7`, `^6.1`, `6.x`), resolved
    /// to the highest matching version at every fetch; default the highest
    /// stable version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// Render `path` as a Helm chart with these settings (docs/helm.md). A
    /// `path` holding a `Chart.yaml` is rendered as a chart without it too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub helm: Option<crate::render::helm::HelmSpec>,
}

/// `source.verify` of a SyncUnit: what must be signed, and the Secret
/// holding the trusted keys.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerifySpec {
    /// `head` (the default: the commit), `tag` (the annotated tag) or
    /// `tagAndHead` (both); Git only (an `oci://` artifact is verified by
    /// its cosign signature).
    #[serde(default)]
    pub mode: crate::source::verify::Mode,
    /// A Secret whose every value is a file of trusted keys: an armored
    /// OpenPGP public key block, SSH public keys, or an allowed-signers file
    /// (Git); PEM P-256 public keys (cosign, for `oci://` artifacts).
    pub secret_ref: LocalObjectRef,
}

/// The name of an object in the same namespace.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct LocalObjectRef {
    /// Its name.
    pub name: String,
}

/// Another SyncUnit this one waits for.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
pub struct DependencyRef {
    /// Its name.
    pub name: String,
    /// Its namespace (default: the depending SyncUnit's namespace).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// One policy of a SyncUnit.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PolicyRef {
    /// The name the policy is known by in violations and decisions
    /// (default: the module's file name without `.wasm`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Where the component comes from.
    pub module: ModuleRef,
    /// The policy's settings (default `{}`), checked by the policy at load.
    #[serde(default = "empty_object")]
    #[schemars(schema_with = "any_object")]
    pub settings: Value,
    /// Changes to the host's default limits.
    #[serde(default)]
    pub limits: LimitsSpec,
    /// When the policy faults, warn and go on instead of failing the sync.
    #[serde(default)]
    pub fail_open: bool,
    /// What the policy may do as a transformer beyond editing ordinary
    /// fields (default: nothing), as in `plumbline.yaml`.
    #[serde(default)]
    pub allow: crate::spec::TransformerAllowance,
}

/// Where a policy component comes from: a `.wasm` file in the sync's
/// repository (`path`), a URL pinned by its sha256 (`url` + `sha256`), or
/// an OCI artifact (`url: oci://host/repository:tag` or `@sha256:…`; a tag
/// is resolved at every reconcile, and the digest shown in
/// `status.artifacts`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ModuleRef {
    /// Path of a component file, relative to the repository root.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// `https://` (or `http://`, `file://`) URL of a component file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Lowercase hex sha256 of the file at `url`; required with an
    /// `https://`, `http://` or `file://` url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// For an `oci://` url: a `kubernetes.io/dockerconfigjson` Secret in the
    /// SyncUnit's namespace with the registry's credentials.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_secret_ref: Option<LocalObjectRef>,
    /// For an `oci://` url: speak plain HTTP to the registry instead of
    /// HTTPS.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
    /// For an `oci://` url: a Secret whose values are cosign public keys
    /// (PEM); the digest the url resolves to must be signed by one of them,
    /// checked before the module is pulled or compiled. A SyncUnit's policy
    /// reads it in the SyncUnit's namespace, a ClusterSyncPolicy in the
    /// controller's (see docs/verify.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<VerifySpec>,
}

/// An OCI artifact a reconcile used, as the status shows it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactStatus {
    /// What it is for: `source`, or `policy <name>`.
    pub used_for: String,
    /// The artifact's repository, `oci://host/repository`, or the Helm
    /// chart repository's URL.
    pub url: String,
    /// For a chart of a Helm chart repository: the chart's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chart: Option<String>,
    /// The tag it was named by, if any; for a chart of a Helm chart
    /// repository, the version its constraint resolved to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// The manifest digest it resolved to (what ran); for a chart of a
    /// Helm chart repository, the archive's digest.
    pub digest: String,
    /// The fingerprint of the cosign key whose signature of the digest was
    /// verified (`verify`), if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_by: Option<String>,
}

/// Per-policy changes to the host's default limits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LimitsSpec {
    /// Wall-clock deadline of one evaluation, in milliseconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_ms: Option<u64>,
    /// Largest linear memory, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<u64>,
    /// Fuel (instruction budget) of one evaluation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fuel: Option<u64>,
    /// Largest output, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_bytes: Option<u64>,
    /// Largest log, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_bytes: Option<u64>,
    /// Wasm stack, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stack_bytes: Option<u64>,
}

/// What the controller last observed and did, in the kstatus style.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncUnitStatus {
    /// `Ready`, `Reconciling` and `Stalled`, as `metav1.Condition`s.
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// The `metadata.generation` the status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// The commit last applied successfully.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_applied_revision: Option<String>,
    /// The commit of the last attempt, successful or not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_attempted_revision: Option<String>,
    /// The signed tag and commit of the last applied revision, with their
    /// signers (`source.verify`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub verified: Vec<VerifiedStatus>,
    /// Objects the sync manages.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub inventory_count: Option<u64>,
    /// Violations of the last attempt (at most [`MAX_STATUS_ENTRIES`];
    /// `violationCount` has the total).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub violations: Vec<ViolationStatus>,
    /// How many violations the last attempt found.
    #[serde(default)]
    pub violation_count: u64,
    /// The last drift found and what was decided about it (kept until a
    /// reconcile finds drift again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub drift: Option<DriftSummary>,
    /// When the last reconcile finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_reconcile_time: Option<Time>,
    /// The OCI artifacts the last attempt used (an `oci://` source and
    /// policy modules), with the digest each tag resolved to.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub artifacts: Vec<ArtifactStatus>,
}

/// The most entries a list in the status holds, so the object stays small
/// however large the sync.
pub const MAX_STATUS_ENTRIES: usize = 20;

/// A signed object of the applied revision, as the status shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct VerifiedStatus {
    /// `commit`, `tag` or `artifact`.
    pub kind: String,
    /// Its id: the commit or tag id, or the artifact's reference pinned to
    /// its digest (`oci://host/repository:tag@sha256:…`).
    pub object: String,
    /// `ssh`, `openpgp` or `cosign`.
    pub format: String,
    /// The signing key's fingerprint (`SHA256:…` for SSH and cosign keys,
    /// the primary key's for OpenPGP).
    pub fingerprint: String,
}

/// One violation, as the status shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ViolationStatus {
    /// The policy that reported it.
    pub policy: String,
    /// The object, as `Kind namespace/name`; empty for the whole set.
    #[serde(default)]
    pub object: String,
    /// The offending field.
    #[serde(default)]
    pub path: String,
    /// What is wrong.
    pub message: String,
    /// `error`, `warning` or `info`.
    pub severity: String,
}

/// Drift found by one reconcile.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DriftSummary {
    /// When the drift was found (RFC 3339).
    #[serde(default)]
    pub detected_time: String,
    /// Drifted objects.
    pub detected: u64,
    /// Drifted objects per decision (`reapplied`, `ignored`, `reported`,
    /// `recreated`, `deferred`, `failed`).
    #[serde(default)]
    pub decisions: BTreeMap<String, u64>,
    /// The drifted objects (at most [`MAX_STATUS_ENTRIES`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entries: Vec<DriftEntry>,
}

/// One drifted object and the decision about it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct DriftEntry {
    /// The object, as `Kind namespace/name`.
    pub object: String,
    /// The drifted fields.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fields: Vec<String>,
    /// What was done (`reapplied`, `ignored`, ...).
    pub decision: String,
    /// The policy that decided; empty when the sync's default decided.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub policy: String,
}

/// A policy that applies to every SyncUnit its selector matches, so a
/// platform team can enforce rules on every team's sync.
#[derive(CustomResource, Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "plumbline.dev",
    version = "v1alpha1",
    kind = "ClusterSyncPolicy",
    plural = "clustersyncpolicies",
    shortname = "csp",
    category = "plumbline",
    derive = "PartialEq",
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct ClusterSyncPolicySpec {
    /// Where the component comes from; a `path` is read from each selected
    /// sync's repository. Its roles are the ones the module exports.
    pub module: ModuleRef,
    /// The policy's settings (default `{}`).
    #[serde(default = "empty_object")]
    #[schemars(schema_with = "any_object")]
    pub settings: Value,
    /// Changes to the host's default limits.
    #[serde(default)]
    pub limits: LimitsSpec,
    /// When the policy faults, warn and go on instead of failing the sync.
    #[serde(default)]
    pub fail_open: bool,
    /// What the policy may do as a transformer beyond editing ordinary
    /// fields (default: nothing), as in `plumbline.yaml`.
    #[serde(default)]
    pub allow: crate::spec::TransformerAllowance,
    /// The SyncUnits it applies to, by label; empty or absent selects all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sync_selector: Option<LabelSelector>,
    /// The registered clusters whose SyncUnits it applies to, by the labels
    /// of their registration Secrets (`matchLabels`, `matchExpressions`).
    /// When set, SyncUnits into the controller's own cluster are not
    /// selected; absent, the cluster does not matter. A SyncUnit is selected
    /// when both selectors match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster_selector: Option<LabelSelector>,
}

/// An object with any fields, kept as given (policy settings).
fn any_object(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true
    })
}

fn default_interval() -> String {
    "5m".into()
}

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kube::CustomResourceExt;

    #[test]
    fn the_crds_have_the_agreed_names_and_scopes() {
        let crd = SyncUnit::crd();
        assert_eq!(
            crd.metadata.name.as_deref(),
            Some("syncunits.plumbline.dev")
        );
        assert_eq!(crd.spec.scope, "Namespaced");
        assert_eq!(crd.spec.names.short_names, Some(vec!["su".to_owned()]));
        let crd = ClusterSyncPolicy::crd();
        assert_eq!(
            crd.metadata.name.as_deref(),
            Some("clustersyncpolicies.plumbline.dev")
        );
        assert_eq!(crd.spec.scope, "Cluster");
    }

    #[test]
    fn a_minimal_sync_unit_gets_the_documented_defaults() {
        let spec: SyncUnitSpec =
            serde_json::from_value(serde_json::json!({"source": {"url": "https://g/r.git"}}))
                .unwrap();
        assert_eq!(spec.interval, "5m");
        assert!(!spec.suspend);
        assert_eq!(spec.sync, crate::spec::SyncSpec::default());
        assert!(spec.sync.prune && !spec.sync.self_heal);
        assert_eq!(spec.sync.prune_guard.max_share, 0.5);
        assert_eq!(
            spec.sync.take_over.managers,
            crate::spec::take_over_managers()
        );
        assert!(spec.depends_on.is_empty());
    }

    #[test]
    fn the_shared_sync_spec_and_the_ref_are_in_the_schema() {
        let crd = serde_json::to_value(SyncUnit::crd()).unwrap();
        let spec = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
        for field in [
            "prune",
            "selfHeal",
            "forceConflicts",
            "pruneGuard",
            "targetNamespace",
            "takeOver",
        ] {
            assert!(spec["properties"][field].is_object(), "{field}: {spec}");
        }
        // Exactly one of branch, tag or commit, enforced by the API server.
        let reference = &spec["properties"]["source"]["properties"]["ref"];
        assert_eq!(reference["type"], "object", "{reference}");
        let one_of = reference["oneOf"].as_array().unwrap();
        assert_eq!(one_of.len(), 3, "{reference}");
    }

    #[test]
    fn settings_keep_unknown_fields_in_the_schema() {
        let crd = serde_json::to_value(SyncUnit::crd()).unwrap();
        let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
        let settings = &schema["properties"]["spec"]["properties"]["policies"]["items"]
            ["properties"]["settings"];
        assert_eq!(settings["x-kubernetes-preserve-unknown-fields"], true);
        assert_eq!(settings["type"], "object");
    }

    #[test]
    fn a_policy_allows_its_transformer_what_the_sync_unit_says_and_nothing_by_default() {
        let crd = serde_json::to_value(SyncUnit::crd()).unwrap();
        let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"];
        let allow =
            &schema["properties"]["spec"]["properties"]["policies"]["items"]["properties"]["allow"];
        for field in ["add", "namespaces", "sensitive"] {
            assert!(allow["properties"][field].is_object(), "{field}: {allow}");
        }
        let spec: SyncUnitSpec = serde_json::from_value(serde_json::json!({
            "source": {"url": "https://git.example.com/shop.git"},
            "policies": [
                {"module": {"path": "a.wasm"}},
                {"module": {"path": "b.wasm"}, "allow": {"add": [{"kind": "ConfigMap"}],
                    "namespaces": ["shop"], "sensitive": ["privileged-pods"]}},
            ]
        }))
        .unwrap();
        assert_eq!(
            spec.policies[0].allow,
            crate::spec::TransformerAllowance::default()
        );
        let allow = &spec.policies[1].allow;
        assert!(allow.allows_kind("", "ConfigMap") && allow.allows_namespace("shop"));
        assert!(allow.allows(crate::spec::SensitiveEdit::PrivilegedPods));
    }
}
