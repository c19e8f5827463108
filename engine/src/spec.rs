//! The sync specification: what to reconcile, from where, with which
//! policies.
//!
//! One shape serves both ways of running Plumbline: a `plumbline.yaml` file
//! for the CLI, and the same field names in the `spec` of the controller's
//! `SyncUnit` custom resource ([`crate::controller::crd`]), so a sync tested
//! on a laptop moves into the cluster with the same words.
//!
//! ```yaml
//! apiVersion: plumbline.dev/v1alpha1
//! kind: Sync
//! metadata:
//!   name: shop
//! spec:
//!   source:
//!     url: https://git.example.com/platform/shop.git
//!     ref: {branch: main}          # or {tag: v1.2.0} or {commit: <40 hex>}
//!     path: deploy
//!     verify:                      # optional: refuse unsigned revisions
//!       mode: head                 # or tag, tagAndHead
//!       keys: [{file: keys/alice.pub}]
//!     helm: {valuesFiles: [values-prod.yaml]}   # path is a chart (docs/helm.md)
//!   targetNamespace: shop          # for namespaced objects that name none
//!   policies:
//!     - module: policies/required-labels.wasm
//!       settings: {labels: [team]}
//!       limits: {timeoutMs: 500}
//!     - module: oci://ghcr.io/acme/policies/labels:v1
//!       verify: {keys: [{file: keys/cosign.pub}]}   # cosign-signed (docs/verify.md)
//!     - module: policies/network-defaults.wasm
//!       allow:                     # what a transformer may add (default: nothing)
//!         add: [{kind: NetworkPolicy, group: networking.k8s.io}]
//!         namespaces: [shop]
//!   prune: true
//!   selfHeal: true
//!   wait: true                     # done only once the objects are healthy
//!   timeout: 5m                    # how long one wait for health may take
//!   pruneGuard: {maxShare: 0.5, allowCascade: false, pruneAdopted: false}
//!   takeOver: {managers: [kubectl-edit]}   # default: kubectl's managers
//! ```
//!
//! Parsing only; files are read by the caller ([`SyncConfig::from_yaml`]
//! takes text and a name for error messages).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::policy::LimitOverrides;
use crate::source::{Credentials, GitRef, Secret, Source};

/// The `apiVersion` of sync configurations.
pub const API_VERSION: &str = "plumbline.dev/v1alpha1";

/// A whole sync configuration (`plumbline.yaml`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SyncConfig {
    /// Must be [`API_VERSION`].
    pub api_version: String,
    /// Must be `Sync`.
    pub kind: String,
    /// The sync's name (labels its objects and names its inventory).
    pub metadata: Metadata,
    /// What to sync.
    pub spec: ConfigSpec,
}

/// Name of a sync.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Metadata {
    /// A DNS label: lowercase letters, digits and `-`, at most 63 characters.
    pub name: String,
}

/// The `spec` of a `plumbline.yaml`: the [`SyncSpec`] every sync has, and
/// what only a file says (credentials from files or variables, policy
/// modules as local paths, where the inventory lives). Unknown fields are
/// refused by [`SyncConfig::from_yaml`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ConfigSpec {
    /// The Git source.
    pub source: SourceSpec,
    /// Policies, in order: transformers run in this order, the first
    /// remediator that decides wins, all validators run.
    #[serde(default)]
    pub policies: Vec<PolicySpec>,
    /// Namespace of the ConfigMaps holding the inventory.
    #[serde(default = "default_inventory_namespace")]
    pub inventory_namespace: String,
    /// How to sync.
    #[serde(flatten)]
    pub sync: SyncSpec,
    /// The keys no field took, which [`SyncConfig::from_yaml`] refuses
    /// (serde's `deny_unknown_fields` does not work beside a flattened
    /// struct; declared after `sync`, this takes only what `sync` left).
    #[serde(flatten, skip_serializing)]
    pub(crate) unknown: BTreeMap<String, serde_yaml::Value>,
}

/// How to sync: the fields a `plumbline.yaml` and a `SyncUnit`
/// ([`crate::controller::crd::SyncUnitSpec`]) share, with one validation
/// ([`SyncSpec::validate`]). Each side flattens it into its own spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SyncSpec {
    /// Namespace given to namespaced objects that name none (default:
    /// `default` in a `plumbline.yaml`, as with `kubectl apply`; the
    /// SyncUnit's own namespace in a SyncUnit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_namespace: Option<String>,
    /// Create `targetNamespace` as part of the sync when the desired set
    /// does not contain it (like Argo CD's `CreateNamespace=true`). The
    /// namespace is then owned, and pruned, like any other object.
    #[serde(default)]
    pub create_namespace: bool,
    /// Delete objects that left Git (default true).
    #[serde(default = "yes")]
    pub prune: bool,
    /// Accept a source path that renders no objects (default false: an
    /// empty render is an error, so it can never prune everything).
    #[serde(default)]
    pub allow_empty: bool,
    /// Reapply drifted objects when no remediator decides (default false:
    /// report drift only).
    #[serde(default)]
    pub self_heal: bool,
    /// Take fields owned by other field managers instead of failing.
    #[serde(default)]
    pub force_conflicts: bool,
    /// The mass-deletion guard of prune.
    #[serde(default)]
    pub prune_guard: PruneGuard,
    /// Field managers whose fields Plumbline takes over when it adopts an
    /// object or reapplies a drifted one.
    #[serde(default)]
    pub take_over: TakeOver,
    /// The longest a remediator may defer its decision about a drifted
    /// object, in seconds (default one hour); longer deferrals are cut to it.
    #[serde(default = "default_max_deferral_seconds")]
    pub max_deferral_seconds: u32,
    /// How much transformers may grow the set of objects; what each one
    /// may add is its policy's `allow`.
    #[serde(default)]
    pub transformer_guard: TransformerGuard,
    /// Wait until the applied objects are healthy before the sync counts
    /// as done (like Flux's `wait`): a sync whose objects are not healthy
    /// within `timeout` fails, naming them, and a SyncUnit is Ready only
    /// once they are. Waves and phases wait for the steps before them
    /// either way (see docs/waves.md).
    #[serde(default)]
    pub wait: bool,
    /// How long one wait for health may take: for each wave and phase, and
    /// with `wait`, for the last one, e.g. `90s`, `5m`, `1h` (default `5m`).
    #[serde(default = "default_timeout")]
    pub timeout: String,
}

impl Default for SyncSpec {
    fn default() -> Self {
        SyncSpec {
            target_namespace: None,
            create_namespace: false,
            prune: true,
            allow_empty: false,
            self_heal: false,
            force_conflicts: false,
            prune_guard: PruneGuard::default(),
            take_over: TakeOver::default(),
            max_deferral_seconds: default_max_deferral_seconds(),
            transformer_guard: TransformerGuard::default(),
            wait: false,
            timeout: default_timeout(),
        }
    }
}

impl SyncSpec {
    /// Check what the types cannot: the prune guard's share is between 0
    /// and 1. The message names the field as both sides spell it.
    pub fn validate(&self) -> Result<(), String> {
        let share = self.prune_guard.max_share;
        if !(0.0..=1.0).contains(&share) {
            return Err(format!(
                "spec.pruneGuard.maxShare must be between 0 and 1, got {share}"
            ));
        }
        self.health_timeout()?;
        Ok(())
    }

    /// How long one wait for health may take (`timeout`), or why it is
    /// not a duration.
    pub fn health_timeout(&self) -> Result<std::time::Duration, String> {
        match humantime::parse_duration(self.timeout.trim()) {
            Ok(timeout) if !timeout.is_zero() => Ok(timeout),
            _ => Err(format!(
                "spec.timeout must be a duration like 90s, 5m or 1h, got {:?}",
                self.timeout
            )),
        }
    }
}

/// Where the desired state lives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SourceSpec {
    /// Repository URL or local path; an `oci://` artifact; with `chart`, a
    /// Helm chart repository.
    pub url: String,
    /// Branch, tag or commit (`{branch: main}`, `{tag: v1}` or `{commit:
    /// <40 hex>}`). Without one, a local directory is read as it is on disk
    /// (working tree, uncommitted changes included) and a remote
    /// repository's branch `main` is fetched.
    #[serde(rename = "ref", default, skip_serializing_if = "Option::is_none")]
    pub reference: Option<GitRef>,
    /// Directory inside the repository (default: the root).
    #[serde(default)]
    pub path: String,
    /// How to authenticate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials: Option<CredentialsSpec>,
    /// Signatures the fetched revision must carry; without it, nothing is
    /// verified.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<VerifySpec>,
    /// For an `oci://` source: speak plain HTTP to the registry instead of
    /// HTTPS.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
    /// For an `oci://` source without tag or digest: take the highest tag
    /// that is a semver version in this range (`^1.4`, `>=1.2, <2`).
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

/// `source.verify` of a `plumbline.yaml`: what must be signed, and the files
/// of the keys whose signatures count (see docs/verify.md).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VerifySpec {
    /// `head` (the default), `tag` or `tagAndHead`.
    #[serde(default)]
    pub mode: crate::source::verify::Mode,
    /// Trusted keys, at least one file.
    pub keys: Vec<KeyFile>,
}

/// One file of trusted keys: an armored OpenPGP public key block, SSH
/// public keys, or an allowed-signers file (Git); PEM P-256 public keys
/// (cosign, for `oci://` artifacts).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyFile {
    /// Its path, relative to the configuration file.
    pub file: PathBuf,
}

/// Where credentials come from. Secrets are never written in the file
/// itself: they are read from an environment variable or a file (in the
/// cluster, a mounted Secret).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CredentialsSpec {
    /// HTTP user name for basic authentication (with a password source).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    /// Environment variable holding the password or token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_env: Option<String>,
    /// File holding the password or token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_file: Option<PathBuf>,
    /// SSH private key file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ssh_key_file: Option<PathBuf>,
    /// `known_hosts` file for strict host key checking.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub known_hosts_file: Option<PathBuf>,
    /// For an `oci://` source: a docker `config.json` with the registry's
    /// credentials (default: the user's, `$DOCKER_CONFIG/config.json` or
    /// `~/.docker/config.json`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry_config_file: Option<PathBuf>,
}

/// One policy of a sync.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PolicySpec {
    /// The name the policy is known by in violations and decisions
    /// (default: the module's file or directory name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Path of the component (`.wasm`) or of a policy project directory
    /// (built on load), relative to the configuration file; or an OCI
    /// artifact, `oci://host/repository:tag` or `@sha256:<digest>` (a tag
    /// is resolved to a digest once per run; see docs/oci.md).
    pub module: PathBuf,
    /// Reach the module's OCI registry over plain HTTP instead of HTTPS.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure: bool,
    /// For an `oci://` module: the cosign keys one of which must have
    /// signed the digest it resolves to; verified before the module is
    /// pulled or compiled (see docs/verify.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<VerifySpec>,
    /// The policy's settings (default `{}`), checked by the policy at load.
    #[serde(default = "empty_object")]
    pub settings: Value,
    /// Changes to the host's default limits.
    #[serde(default)]
    pub limits: LimitOverrides,
    /// When the policy faults (trap, timeout, limit), report a warning and
    /// go on instead of failing the sync. Default false (fail closed).
    #[serde(default)]
    pub fail_open: bool,
    /// What the policy may do as a transformer beyond editing ordinary
    /// fields (default: nothing).
    #[serde(default)]
    pub allow: TransformerAllowance,
}

/// The mass-deletion guard of prune.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PruneGuard {
    /// Largest share of the inventory one reconcile may delete (default 0.5).
    #[serde(default = "half")]
    pub max_share: f64,
    /// Allow deleting more than `maxShare`, or everything.
    #[serde(default)]
    pub allow_mass_prune: bool,
    /// Allow deletions that take objects this sync does not own with them:
    /// pruning a Namespace or CustomResourceDefinition that still holds
    /// such objects, and a remediator's `recreate` of a Namespace or
    /// CustomResourceDefinition.
    #[serde(default)]
    pub allow_cascade: bool,
    /// Prune objects the sync adopted (they existed before it first applied
    /// them) when they leave Git; by default they are left in place and
    /// reported.
    #[serde(default)]
    pub prune_adopted: bool,
}

impl Default for PruneGuard {
    fn default() -> Self {
        PruneGuard {
            max_share: half(),
            allow_mass_prune: false,
            allow_cascade: false,
            prune_adopted: false,
        }
    }
}

/// Field takeover (the same type in plumbline.yaml and the SyncUnit CRD):
/// before adopting an existing object or reapplying a drifted one, the fields last written by these field managers are
/// transferred to Plumbline's (as Flux does), so a field someone set with
/// `kubectl` and Git no longer sets is removed, and a list item someone
/// added in place of Plumbline's does not stay next to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TakeOver {
    /// Field manager names, matched exactly (default: those of `kubectl
    /// apply` and of kubectl's imperative commands, and
    /// `before-first-apply`); `[]` turns takeover off.
    #[serde(default = "take_over_managers")]
    pub managers: Vec<String>,
    /// Other syncs whose objects this sync may take over when it declares
    /// them too (their `plumbline.dev/sync` label, e.g. `team.shop` for a
    /// SyncUnit, the `metadata.name` of a plumbline.yaml). Default none: an
    /// object another sync applied is refused, naming that sync, and a
    /// sync whose object was taken over reports it lost instead of taking
    /// it back.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub syncs: Vec<String>,
}

impl Default for TakeOver {
    fn default() -> Self {
        TakeOver {
            managers: take_over_managers(),
            syncs: Vec::new(),
        }
    }
}

/// The field managers taken over by default: those of `kubectl apply`
/// (server- and client-side), of kubectl's imperative commands, and the
/// `before-first-apply` entry the API server makes when an object written
/// without managedFields is first applied.
pub const TAKE_OVER_MANAGERS: [&str; 10] = [
    "kubectl",
    "kubectl-client-side-apply",
    "kubectl-create",
    "kubectl-edit",
    "kubectl-patch",
    "kubectl-replace",
    "kubectl-set",
    "kubectl-label",
    "kubectl-annotate",
    "before-first-apply",
];

/// How much transformers may grow the set of objects, all together (see
/// `reconcile::transform_guard`). What each transformer may add, move or
/// change is its policy's [`TransformerAllowance`]. The same type in
/// plumbline.yaml and the SyncUnit CRD.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TransformerGuard {
    /// Transformers may add at most this share of the rendered object count
    /// (in percent; at least 10 objects). Default 100: the set may double.
    #[serde(default = "hundred")]
    pub max_added_percent: u32,
}

impl Default for TransformerGuard {
    fn default() -> Self {
        TransformerGuard {
            max_added_percent: hundred(),
        }
    }
}

/// What one transformer may do beyond editing ordinary fields of the
/// objects it is given (`allow` of a policy). Nothing by default: a
/// transformer may add no object, move none to another namespace, and make
/// no security-sensitive edit. The same type in plumbline.yaml, the
/// SyncUnit and the ClusterSyncPolicy.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TransformerAllowance {
    /// Kinds of objects the transformer may add, or move to another
    /// namespace.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub add: Vec<KindRef>,
    /// Namespaces it may add objects to or move objects into (a namespaced
    /// object added without a namespace goes to the sync's target
    /// namespace).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub namespaces: Vec<String>,
    /// Security-sensitive edits it may make, to objects it adds or changes.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub sensitive: Vec<SensitiveEdit>,
}

impl TransformerAllowance {
    /// Whether objects of `kind` in `group` may be added or moved.
    pub fn allows_kind(&self, group: &str, kind: &str) -> bool {
        self.add.iter().any(|k| k.group == group && k.kind == kind)
    }

    /// Whether objects may be added to or moved into `namespace`.
    pub fn allows_namespace(&self, namespace: &str) -> bool {
        self.namespaces.iter().any(|n| n == namespace)
    }

    /// Whether edits of the `rule` kind may be made.
    pub fn allows(&self, rule: SensitiveEdit) -> bool {
        self.sensitive.contains(&rule)
    }
}

/// A kind, by its API group (empty, the default, for the core group) and
/// name: `{kind: ConfigMap}`, `{kind: NetworkPolicy, group:
/// networking.k8s.io}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct KindRef {
    /// The kind, e.g. `ConfigMap`.
    pub kind: String,
    /// The API group, e.g. `apps`; empty for the core group.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub group: String,
}

/// A class of security-sensitive edits a transformer needs an explicit
/// allowance for (`reconcile::transform_guard::rules` says what each
/// covers).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum SensitiveEdit {
    /// RBAC: rules and aggregation of roles, subjects and role of bindings,
    /// service-account token Secrets.
    Rbac,
    /// Admission webhooks and admission policies and their bindings.
    Admission,
    /// CustomResourceDefinitions and APIServices.
    ApiExtensions,
    /// Privileged pod settings: privileged, host namespaces, host paths and
    /// ports, added capabilities, root users, unconfined profiles, another
    /// service account, and protections taken away.
    PrivilegedPods,
    /// `pod-security.kubernetes.io/*` labels of Namespaces.
    NamespaceSecurity,
    /// PersistentVolumes on a host's file system (`hostPath`, `local`).
    HostVolumes,
}

impl SensitiveEdit {
    /// The name used in `allow.sensitive`.
    pub fn name(self) -> &'static str {
        match self {
            SensitiveEdit::Rbac => "rbac",
            SensitiveEdit::Admission => "admission",
            SensitiveEdit::ApiExtensions => "api-extensions",
            SensitiveEdit::PrivilegedPods => "privileged-pods",
            SensitiveEdit::NamespaceSecurity => "namespace-security",
            SensitiveEdit::HostVolumes => "host-volumes",
        }
    }
}

impl std::fmt::Display for SensitiveEdit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// The default of [`SyncSpec::timeout`].
pub fn default_timeout() -> String {
    "5m".to_owned()
}

fn hundred() -> u32 {
    100
}

/// One hour: the default [`SyncSpec::max_deferral_seconds`].
pub fn default_max_deferral_seconds() -> u32 {
    3600
}

/// [`TAKE_OVER_MANAGERS`] as owned names.
pub fn take_over_managers() -> Vec<String> {
    TAKE_OVER_MANAGERS.iter().map(|&m| m.to_owned()).collect()
}

fn yes() -> bool {
    true
}

fn half() -> f64 {
    0.5
}

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

fn default_inventory_namespace() -> String {
    "plumbline-system".into()
}

/// Errors in a sync configuration.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The text is not valid YAML for a sync configuration.
    #[error("{file}{}: {message}", location.map(|(l, c)| format!(":{l}:{c}")).unwrap_or_default())]
    Parse {
        /// The file (or a description of where the text came from).
        file: String,
        /// Line and column, 1-based, when known.
        location: Option<(usize, usize)>,
        /// What is wrong.
        message: String,
    },
    /// The configuration parsed but makes no sense.
    #[error("{file}: {message}")]
    Invalid {
        /// The file.
        file: String,
        /// What is wrong.
        message: String,
    },
    /// A file of trusted keys (`source.verify.keys`) could not be read or
    /// holds no usable key.
    #[error("{file}: source.verify: {message}")]
    Keys {
        /// The configuration file.
        file: String,
        /// What is wrong, naming the key file.
        message: String,
    },
    /// A credential could not be read from its environment variable or file.
    #[error("{file}: credentials: {source}")]
    Credentials {
        /// The file.
        file: String,
        /// The cause (never contains the secret).
        #[source]
        source: crate::source::Error,
    },
}

impl SyncConfig {
    /// Parse and check a configuration; `file` names it in errors.
    pub fn from_yaml(text: &str, file: &str) -> Result<Self, Error> {
        let config: SyncConfig = crate::yaml::from_str(text).map_err(|e| Error::Parse {
            file: file.to_owned(),
            location: e.location().map(|l| (l.line(), l.column())),
            message: e.to_string(),
        })?;
        let invalid = |message: String| Error::Invalid {
            file: file.to_owned(),
            message,
        };
        if let Some(field) = config.spec.unknown.keys().next() {
            return Err(invalid(format!("unknown field `spec.{field}`")));
        }
        if config.api_version != API_VERSION || config.kind != "Sync" {
            return Err(invalid(format!(
                "expected apiVersion {API_VERSION} and kind Sync, found {} {}",
                config.api_version, config.kind
            )));
        }
        let name = &config.metadata.name;
        let dns_label = !name.is_empty()
            && name.len() <= 63
            && name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            && !name.starts_with('-')
            && !name.ends_with('-');
        if !dns_label {
            return Err(invalid(format!(
                "metadata.name {name:?} must be a DNS label (lowercase letters, digits, '-', at most 63)"
            )));
        }
        config.spec.sync.validate().map_err(invalid)?;
        if let Some(helm) = &config.spec.source.helm {
            if !helm.values_from.is_empty() {
                return Err(invalid(
                    "spec.source.helm.valuesFrom reads ConfigMaps and Secrets, which only a SyncUnit \
                     in the controller can: in a plumbline.yaml give valuesFiles, or --values"
                        .into(),
                ));
            }
        }
        for policy in &config.spec.policies {
            let module = policy.module.to_string_lossy();
            if policy.verify.is_some() && !crate::oci::is_oci(&module) {
                return Err(invalid(format!(
                    "policy {module}: verify checks the cosign signature of an oci:// module; \
                     a local module has none"
                )));
            }
        }
        Ok(config)
    }

    /// The Git source, with credentials read from their environment
    /// variables or files.
    pub fn source(&self, file: &str) -> Result<Source, Error> {
        let spec = &self.spec.source;
        let credentials = match &spec.credentials {
            None => Credentials::None,
            Some(c) => resolve_credentials(c).map_err(|source| Error::Credentials {
                file: file.to_owned(),
                source,
            })?,
        };
        Ok(Source {
            url: spec.url.clone(),
            reference: spec
                .reference
                .clone()
                .unwrap_or_else(|| GitRef::Branch("main".into())),
            path: spec.path.clone(),
            credentials,
        })
    }
}

impl SyncConfig {
    /// The verification `source.verify` asks for, with its key files read
    /// through `resolve` (which makes a relative path absolute); `None`
    /// without `source.verify`.
    pub fn verification(
        &self,
        file: &str,
        resolve: impl Fn(&std::path::Path) -> PathBuf,
    ) -> Result<Option<crate::source::Verification>, Error> {
        let Some(spec) = &self.spec.source.verify else {
            return Ok(None);
        };
        spec.read(resolve).map(Some).map_err(|message| Error::Keys {
            file: file.to_owned(),
            message,
        })
    }
}

impl VerifySpec {
    /// The verification it asks for, with its key files read through
    /// `resolve`; the message names the key file that cannot be used.
    pub fn read(
        &self,
        resolve: impl Fn(&std::path::Path) -> PathBuf,
    ) -> Result<crate::source::Verification, String> {
        if self.keys.is_empty() {
            return Err("keys lists no key file".into());
        }
        let mut keys = crate::source::verify::TrustedKeys::default();
        for key in &self.keys {
            let origin = key.file.display().to_string();
            let text = std::fs::read_to_string(resolve(&key.file))
                .map_err(|e| format!("cannot read key file {origin}: {e}"))?;
            keys.add(&text, &origin).map_err(|e| e.to_string())?;
        }
        Ok(crate::source::Verification {
            mode: self.mode,
            keys: std::sync::Arc::new(keys),
        })
    }
}

/// The trusted keys of a verification of an OCI artifact, which is
/// verified by its cosign signature: the mode must be the default (`tag`
/// and `tagAndHead` name Git objects), and a cosign public key must be
/// among the keys.
pub fn artifact_keys(
    verification: &crate::source::Verification,
) -> Result<&crate::source::verify::TrustedKeys, String> {
    use crate::source::verify::Mode;
    if verification.mode != Mode::Head {
        return Err(format!(
            "mode {} names Git objects; an oci:// artifact is verified by its cosign \
             signature (leave mode out)",
            verification.mode.name()
        ));
    }
    if verification.keys.cosign().is_empty() {
        return Err(format!(
            "an oci:// artifact is verified by cosign signatures, but the keys hold no \
             PEM P-256 public key (cosign.pub); found {}",
            verification.keys.describe()
        ));
    }
    Ok(&verification.keys)
}

fn resolve_credentials(spec: &CredentialsSpec) -> crate::source::Result<Credentials> {
    if let Some(key) = &spec.ssh_key_file {
        return Ok(Credentials::SshKey {
            private_key: key.clone(),
            known_hosts: spec.known_hosts_file.clone(),
        });
    }
    let secret = match (&spec.password_env, &spec.password_file) {
        (Some(var), _) => Some(Secret::from_env(var)?),
        (None, Some(path)) => Some(Secret::from_file(path)?),
        (None, None) => None,
    };
    Ok(match (secret, &spec.username) {
        (Some(password), Some(username)) => Credentials::Basic {
            username: username.clone(),
            password,
        },
        (Some(token), None) => Credentials::Token(token),
        (None, _) => Credentials::None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: &str = r#"
apiVersion: plumbline.dev/v1alpha1
kind: Sync
metadata:
  name: shop
spec:
  source:
    url: https://git.example.com/platform/shop.git
    ref: {tag: v1.2.0}
    path: deploy
  targetNamespace: shop
  policies:
    - module: policies/required-labels.wasm
      settings: {labels: [team]}
      limits: {timeoutMs: 500, memoryBytes: 67108864}
      failOpen: true
  selfHeal: true
  pruneGuard: {maxShare: 0.25}
"#;

    #[test]
    fn values_from_is_refused_in_a_file_naming_the_field() {
        let with = |helm: &str| {
            FULL.replace(
                "    path: deploy\n",
                &format!("    path: deploy\n    helm: {helm}\n"),
            )
        };
        let refused = SyncConfig::from_yaml(
            &with("{valuesFrom: [{kind: Secret, name: creds}]}"),
            "plumbline.yaml",
        )
        .unwrap_err();
        assert!(
            refused.to_string().starts_with(
                "plumbline.yaml: spec.source.helm.valuesFrom reads ConfigMaps and Secrets"
            ),
            "{refused}"
        );
        let files = SyncConfig::from_yaml(&with("{valuesFiles: [prod.yaml]}"), "plumbline.yaml");
        assert!(files.is_ok(), "{files:?}");
    }

    #[test]
    fn a_full_configuration_parses_with_defaults_filled_in() {
        let config = SyncConfig::from_yaml(FULL, "plumbline.yaml").unwrap();
        let spec = &config.spec;
        assert_eq!(spec.source.reference, Some(GitRef::Tag("v1.2.0".into())));
        let sync = &spec.sync;
        assert!(sync.prune && sync.self_heal && !sync.force_conflicts);
        assert_eq!(sync.prune_guard.max_share, 0.25);
        assert_eq!(spec.inventory_namespace, "plumbline-system");
        assert_eq!(sync.take_over.managers, take_over_managers());
        let policy = &spec.policies[0];
        assert_eq!(
            policy.limits.timeout,
            Some(std::time::Duration::from_millis(500))
        );
        assert!(policy.fail_open);
        let source = config.source("plumbline.yaml").unwrap();
        assert_eq!(source.reference, GitRef::Tag("v1.2.0".into()));
        assert_eq!(source.credentials, Credentials::None);
    }

    #[test]
    fn without_a_reference_remote_sources_fetch_main_and_settings_default_to_empty() {
        let text = "apiVersion: plumbline.dev/v1alpha1\nkind: Sync\nmetadata: {name: a}\n\
                    spec:\n  source: {url: ./repo}\n  policies: [{module: p.wasm}]\n";
        let config = SyncConfig::from_yaml(text, "x.yaml").unwrap();
        assert_eq!(config.spec.source.reference, None);
        let source = config.source("x.yaml").unwrap();
        assert_eq!(source.reference, GitRef::Branch("main".into()));
        assert_eq!(config.spec.policies[0].settings, serde_json::json!({}));
    }

    #[test]
    fn only_oci_policy_modules_take_verify() {
        let text = |module: &str| {
            format!(
                "apiVersion: plumbline.dev/v1alpha1\nkind: Sync\nmetadata: {{name: a}}\n\
                 spec:\n  source: {{url: ./repo}}\n  policies:\n\
                 \x20   - {{module: {module}, verify: {{keys: [{{file: cosign.pub}}]}}}}\n"
            )
        };
        let oci = SyncConfig::from_yaml(&text("oci://r.example/p:v1"), "x.yaml").unwrap();
        assert!(oci.spec.policies[0].verify.is_some());
        let local = SyncConfig::from_yaml(&text("p.wasm"), "x.yaml").unwrap_err();
        assert!(
            local.to_string().contains("policy p.wasm: verify checks")
                && local.to_string().starts_with("x.yaml"),
            "{local}"
        );
    }

    #[test]
    fn unknown_fields_are_errors_naming_the_field() {
        let cases = [
            (
                FULL.replace("selfHeal: true", "selfHeel: true"),
                "spec.selfHeel",
            ),
            (
                FULL.replace("maxShare: 0.25", "maxShare: 0.25, allowMass: true"),
                "`allowMass`",
            ),
            (
                FULL.replace("    path: deploy\n", "    path: deploy\n    branch: x\n"),
                "spec.source: unknown field `branch`",
            ),
        ];
        for (text, path) in cases {
            let message = SyncConfig::from_yaml(&text, "plumbline.yaml")
                .unwrap_err()
                .to_string();
            assert!(message.starts_with("plumbline.yaml:"), "{message}");
            assert!(message.contains(path), "{message}");
        }
    }

    #[test]
    fn a_reference_names_exactly_one_of_branch_tag_or_commit() {
        let both = FULL.replace("ref: {tag: v1.2.0}", "ref: {tag: v1.2.0, branch: main}");
        let error = SyncConfig::from_yaml(&both, "p.yaml").unwrap_err();
        assert!(
            matches!(
                error,
                Error::Parse {
                    location: Some(_),
                    ..
                }
            ),
            "{error}"
        );
        let branch = FULL.replace("ref: {tag: v1.2.0}", "ref: {branch: main}");
        let config = SyncConfig::from_yaml(&branch, "p.yaml").unwrap();
        assert_eq!(
            config.spec.source.reference,
            Some(GitRef::Branch("main".into()))
        );
    }

    #[test]
    fn bad_names_kinds_and_shares_are_refused() {
        let cases = [
            (FULL.replace("name: shop", "name: Shop_1"), "DNS label"),
            (FULL.replace("kind: Sync", "kind: Application"), "kind Sync"),
            (
                FULL.replace("maxShare: 0.25", "maxShare: 2"),
                "between 0 and 1",
            ),
            (
                FULL.replace("selfHeal: true", "selfHeal: true\n  timeout: soon"),
                "spec.timeout must be a duration like 90s, 5m or 1h, got \"soon\"",
            ),
        ];
        for (text, expected) in cases {
            let error = SyncConfig::from_yaml(&text, "p.yaml")
                .unwrap_err()
                .to_string();
            assert!(error.contains(expected), "{error}");
        }
    }

    #[test]
    fn a_policy_allows_nothing_unless_its_allow_says_so() {
        let config = SyncConfig::from_yaml(FULL, "p.yaml").unwrap();
        assert_eq!(
            config.spec.policies[0].allow,
            TransformerAllowance::default()
        );
        let allowing = FULL.replace(
            "      failOpen: true\n",
            "      failOpen: true\n      allow:\n        add: [{kind: ConfigMap}, \
             {kind: NetworkPolicy, group: networking.k8s.io}]\n        namespaces: [shop]\n        \
             sensitive: [rbac, privileged-pods]\n",
        );
        let config = SyncConfig::from_yaml(&allowing, "p.yaml").unwrap();
        let allow = &config.spec.policies[0].allow;
        assert!(allow.allows_kind("", "ConfigMap"));
        assert!(allow.allows_kind("networking.k8s.io", "NetworkPolicy"));
        assert!(
            !allow.allows_kind("", "NetworkPolicy"),
            "groups match exactly"
        );
        assert!(allow.allows_namespace("shop") && !allow.allows_namespace("kube-system"));
        assert!(allow.allows(SensitiveEdit::Rbac) && !allow.allows(SensitiveEdit::Admission));

        let unknown = allowing.replace("privileged-pods", "everything");
        let error = SyncConfig::from_yaml(&unknown, "p.yaml")
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("unknown variant `everything`") && error.contains("privileged-pods"),
            "{error}"
        );
    }

    #[test]
    fn credentials_come_from_the_environment_and_never_show() {
        std::env::set_var("PLUMBLINE_SPEC_TEST_TOKEN", "s3cr3t-token");
        let text = FULL.replace(
            "    path: deploy\n",
            "    path: deploy\n    credentials: {passwordEnv: PLUMBLINE_SPEC_TEST_TOKEN}\n",
        );
        let config = SyncConfig::from_yaml(&text, "p.yaml").unwrap();
        let source = config.source("p.yaml").unwrap();
        assert!(matches!(&source.credentials, Credentials::Token(_)));
        assert!(!format!("{source:?}").contains("s3cr3t-token"));
    }
}
