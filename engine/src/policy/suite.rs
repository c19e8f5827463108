//! Policy test suites: parse a suite file, run its cases against a policy
//! component through the real [`PolicyHost`], and compare what the policy
//! returned with what the suite expects.
//!
//! In: a suite file (YAML, format in `docs/policy-testing.md`) and the
//! component to test. Out: a [`SuiteReport`] with one [`CaseReport`] per
//! case, passed or failed with the expected and actual values as JSON. IO:
//! reads the suite, its fixture files and the component; [`resolve_policy`]
//! may build a policy project (running cargo). Nothing is printed.
//!
//! A case that faults (trap, limit exceeded) fails with the fault's message;
//! the other cases still run. Problems with the suite itself (unreadable,
//! invalid YAML, a component that does not load) are [`Error`]s.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use plumbline_policy_build::BuildOptions;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::{
    ComponentSource, Drift, EvalContext, FieldChange, LoadedPolicy, PolicyHost, PolicySpec,
    Remediation, SourceInfo, Violation,
};
use crate::health::Health;
use crate::object::ObjectRef;

/// The `target` every suite evaluation is made for.
pub const TEST_TARGET: &str = "policy-test";

/// The revision every suite evaluation reports (forty zeros).
pub const TEST_REVISION: &str = "0000000000000000000000000000000000000000";

/// Errors that stop a whole suite (as opposed to a failed case).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A suite or fixture file could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The suite is not valid YAML or does not follow the format; the
    /// source names the line and column.
    #[error("{}: invalid suite", path.display())]
    Parse {
        /// The suite file.
        path: PathBuf,
        /// serde_yaml's report, with the location.
        #[source]
        source: serde_yaml::Error,
    },
    /// A fixture file of a case is not valid YAML.
    #[error("{}: case `{case}`: fixture {} is not valid YAML", suite.display(), fixture.display())]
    Fixture {
        /// The suite file.
        suite: PathBuf,
        /// The case that names the fixture.
        case: String,
        /// The fixture file.
        fixture: PathBuf,
        /// serde_yaml's report, with the location.
        #[source]
        source: serde_yaml::Error,
    },
    /// Two cases have the same name.
    #[error("{}: two cases are named `{name}`", path.display())]
    DuplicateCase {
        /// The suite file.
        path: PathBuf,
        /// The repeated name.
        name: String,
    },
    /// `policy:` names neither a `.wasm` file nor a project directory.
    #[error("{}: policy {} is neither a component file nor a policy project directory", suite.display(), policy.display())]
    PolicyMissing {
        /// The suite file.
        suite: PathBuf,
        /// The resolved `policy:` path.
        policy: PathBuf,
    },
    /// The policy project could not be built.
    #[error("{}: cannot build the policy project {}", suite.display(), project.display())]
    Build {
        /// The suite file.
        suite: PathBuf,
        /// The project directory.
        project: PathBuf,
        /// Why.
        #[source]
        source: plumbline_policy_build::Error,
    },
    /// The component could not be loaded (not a component, bad imports,
    /// no roles...).
    #[error("{}: cannot load the policy", suite.display())]
    Load {
        /// The suite file.
        suite: PathBuf,
        /// Why.
        #[source]
        source: super::Error,
    },
}

/// Result of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// A parsed suite.
#[derive(Debug, Clone)]
pub struct Suite {
    /// The suite file.
    pub path: PathBuf,
    /// `policy:` resolved against the suite's directory.
    pub policy: PathBuf,
    /// Settings of every case that does not set its own.
    pub settings: Value,
    /// The cases, in file order.
    pub cases: Vec<Case>,
}

/// One case of a suite.
#[derive(Debug, Clone)]
pub struct Case {
    /// Its unique name.
    pub name: String,
    /// Its own settings, if it overrides the suite's.
    pub settings: Option<Value>,
    /// What to call.
    pub call: Call,
    /// What the call must return.
    pub expect: Expect,
}

/// The call a case makes.
#[derive(Debug, Clone)]
pub enum Call {
    /// `validator.validate` over these objects.
    Validate(Vec<Value>),
    /// `transformer.transform` over these objects.
    Transform(Vec<Value>),
    /// `remediator.remediate` for this drift.
    Remediate(Drift),
    /// `health.assess` of a live object (and the desired one).
    Assess {
        /// The object as read from the cluster.
        live: Value,
        /// The object as Plumbline applies it.
        desired: Option<Value>,
    },
    /// Only `metadata.check-settings` with the case's settings.
    CheckSettings,
}

/// What a case expects.
#[derive(Debug, Clone)]
pub enum Expect {
    /// Exactly these violations, in any order.
    Violations(Vec<ViolationPattern>),
    /// Exactly these objects, matched by identity.
    Objects(Vec<Value>),
    /// The transformer returns an error containing this text.
    TransformError(String),
    /// This remediation.
    Remediation(RemediationPattern),
    /// This health verdict.
    Health(HealthPattern),
    /// `check-settings` refuses with a message containing this text.
    SettingsError(String),
    /// `check-settings` accepts.
    SettingsOk,
}

/// An expected violation; every field left out matches anything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ViolationPattern {
    /// The object; `Some(None)` (`target: null`) for a violation about the
    /// whole set.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub target: Option<Option<TargetPattern>>,
    /// The exact path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// The exact severity (`error`, `warning`, `info`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub severity: Option<super::Severity>,
    /// A substring of the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_contains: Option<String>,
}

/// The expected object of a violation; every field left out matches
/// anything, `namespace: null` matches only a cluster-scoped reference.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TargetPattern {
    /// `apiVersion`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    /// `kind`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// `metadata.name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `metadata.namespace`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "present"
    )]
    pub namespace: Option<Option<String>>,
}

/// An expected health verdict: the status, and the message exactly or by
/// substring (both left out: any message). The host keeps no message for
/// `current`, so a `current` pattern names none.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HealthPattern {
    /// `current`, `in-progress`, `failed` or `unknown`.
    pub status: HealthStatus,
    /// The exact message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// A substring of the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_contains: Option<String>,
}

/// The status of a health verdict, as a suite writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum HealthStatus {
    /// Ready.
    Current,
    /// Still being reconciled.
    InProgress,
    /// Failed.
    Failed,
    /// The policy cannot tell.
    Unknown,
    /// Being deleted (the host's verdict, never a policy's).
    Terminating,
}

impl HealthPattern {
    /// Whether `health` is what the pattern expects.
    pub fn matches(&self, health: &Health) -> bool {
        let (status, message) = health_parts(health);
        status == self.status
            && self.message.as_ref().is_none_or(|m| m == message)
            && self
                .message_contains
                .as_ref()
                .is_none_or(|part| message.contains(part.as_str()))
    }
}

/// A verdict's status and message (empty for `current` and `terminating`).
fn health_parts(health: &Health) -> (HealthStatus, &str) {
    match health {
        Health::Current => (HealthStatus::Current, ""),
        Health::InProgress(m) => (HealthStatus::InProgress, m),
        Health::Failed(m) => (HealthStatus::Failed, m),
        Health::Unknown(m) => (HealthStatus::Unknown, m),
        Health::Terminating => (HealthStatus::Terminating, ""),
    }
}

/// An expected remediation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", try_from = "RawRemediation")]
pub enum RemediationPattern {
    /// `reapply`.
    Reapply,
    /// `ignore`.
    Ignore,
    /// `recreate`.
    Recreate,
    /// `{report: "substring"}`: a report whose message contains this.
    Report(String),
    /// `{defer: seconds}`.
    Defer(u32),
    /// `abstain`: the remediator returned no decision.
    Abstain,
}

/// A remediation as written: a bare word or a one-key mapping.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum RawRemediation {
    Word(String),
    Report { report: String },
    Defer { defer: u32 },
}

impl TryFrom<RawRemediation> for RemediationPattern {
    type Error = String;

    fn try_from(raw: RawRemediation) -> std::result::Result<Self, String> {
        Ok(match raw {
            RawRemediation::Word(word) => match word.as_str() {
                "reapply" => Self::Reapply,
                "ignore" => Self::Ignore,
                "recreate" => Self::Recreate,
                "abstain" => Self::Abstain,
                other => {
                    return Err(format!(
                        "unknown remediation `{other}` (expected reapply, ignore, recreate, \
                         abstain, {{report: text}} or {{defer: seconds}})"
                    ))
                }
            },
            RawRemediation::Report { report } => Self::Report(report),
            RawRemediation::Defer { defer } => Self::Defer(defer),
        })
    }
}

/// Deserialize a field that is present (possibly `null`) as `Some(..)`.
fn present<'de, D, T>(deserializer: D) -> std::result::Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// A suite file as written.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSuite {
    policy: PathBuf,
    #[serde(default)]
    settings: Option<Value>,
    cases: Vec<RawCase>,
}

/// A case as written; checked into a [`Case`] by `TryFrom` while
/// deserializing, so that errors carry a location.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawCaseFields {
    name: String,
    #[serde(default)]
    settings: Option<Value>,
    #[serde(default)]
    validate: Option<RawObjects>,
    #[serde(default)]
    transform: Option<RawObjects>,
    #[serde(default)]
    remediate: Option<RawRemediate>,
    #[serde(default)]
    assess: Option<RawAssess>,
    #[serde(default)]
    check_settings: Option<serde_yaml::Mapping>,
    expect: RawExpect,
}

#[derive(Debug, Deserialize)]
#[serde(try_from = "RawCaseFields")]
struct RawCase {
    case: Case,
    files: Vec<PathBuf>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawObjects {
    #[serde(default)]
    objects: Vec<Value>,
    #[serde(default)]
    files: Vec<PathBuf>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRemediate {
    drift: RawDrift,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAssess {
    live: Value,
    #[serde(default)]
    desired: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawDrift {
    target: ObjectRef,
    desired: Value,
    #[serde(default = "empty_object")]
    live: Value,
    #[serde(default)]
    changes: Vec<RawChange>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChange {
    path: String,
    #[serde(default)]
    desired: Option<Value>,
    #[serde(default)]
    live: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct RawExpect {
    #[serde(default)]
    violations: Option<Vec<ViolationPattern>>,
    #[serde(default)]
    objects: Option<Vec<Value>>,
    #[serde(default)]
    error: Option<String>,
    #[serde(default)]
    remediation: Option<RemediationPattern>,
    #[serde(default)]
    health: Option<HealthPattern>,
    #[serde(default)]
    settings_error: Option<String>,
    #[serde(default)]
    settings_ok: Option<bool>,
}

fn empty_object() -> Value {
    Value::Object(Default::default())
}

impl TryFrom<RawCaseFields> for RawCase {
    type Error = String;

    fn try_from(raw: RawCaseFields) -> std::result::Result<Self, String> {
        let name = raw.name;
        let fail = |what: &str| format!("case `{name}`: {what}");
        let calls = [
            raw.validate.is_some(),
            raw.transform.is_some(),
            raw.remediate.is_some(),
            raw.assess.is_some(),
            raw.check_settings.is_some(),
        ];
        if calls.iter().filter(|c| **c).count() != 1 {
            return Err(fail(
                "needs exactly one of validate, transform, remediate, assess, checkSettings",
            ));
        }
        let e = raw.expect;
        let mut files = Vec::new();
        let (call, expect) = if let Some(objects) = raw.validate {
            let Some(violations) = e.violations else {
                return Err(fail("a validate case expects `violations`"));
            };
            files = objects.files;
            (
                Call::Validate(objects.objects),
                Expect::Violations(violations),
            )
        } else if let Some(objects) = raw.transform {
            let expect = match (e.objects, e.error) {
                (Some(objects), None) => Expect::Objects(objects),
                (None, Some(error)) => Expect::TransformError(error),
                _ => return Err(fail("a transform case expects one of `objects`, `error`")),
            };
            files = objects.files;
            (Call::Transform(objects.objects), expect)
        } else if let Some(remediate) = raw.remediate {
            let Some(remediation) = e.remediation else {
                return Err(fail("a remediate case expects `remediation`"));
            };
            let d = remediate.drift;
            let drift = Drift {
                target: d.target,
                desired: d.desired,
                live: d.live,
                changes: d
                    .changes
                    .into_iter()
                    .map(|c| FieldChange {
                        path: c.path,
                        desired: c.desired,
                        live: c.live,
                    })
                    .collect(),
            };
            (Call::Remediate(drift), Expect::Remediation(remediation))
        } else if let Some(assess) = raw.assess {
            let Some(health) = e.health else {
                return Err(fail("an assess case expects `health`"));
            };
            let has_message = health.message.is_some() || health.message_contains.is_some();
            if health.status == HealthStatus::Current && has_message {
                return Err(fail(
                    "a `current` verdict keeps no message: leave out `message` and \
                     `messageContains`",
                ));
            }
            let call = Call::Assess {
                live: assess.live,
                desired: assess.desired,
            };
            (call, Expect::Health(health))
        } else {
            let expect =
                match (e.settings_error, e.settings_ok) {
                    (Some(message), None) => Expect::SettingsError(message),
                    (None, Some(true)) => Expect::SettingsOk,
                    _ => return Err(fail(
                        "a checkSettings case expects one of `settingsError`, `settingsOk: true`",
                    )),
                };
            (Call::CheckSettings, expect)
        };
        Ok(RawCase {
            case: Case {
                name,
                settings: raw.settings,
                call,
                expect,
            },
            files,
        })
    }
}

impl Suite {
    /// Read and check a suite file, including the fixture files its cases
    /// name.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|source| Error::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(path, &text)
    }

    /// Parse suite text; `path` names the file in errors and anchors
    /// relative paths.
    pub fn parse(path: &Path, text: &str) -> Result<Self> {
        let raw: RawSuite = crate::yaml::from_str(text).map_err(|source| Error::Parse {
            path: path.to_owned(),
            source,
        })?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let mut seen = std::collections::BTreeSet::new();
        let mut cases = Vec::with_capacity(raw.cases.len());
        for RawCase { mut case, files } in raw.cases {
            if !seen.insert(case.name.clone()) {
                return Err(Error::DuplicateCase {
                    path: path.to_owned(),
                    name: case.name,
                });
            }
            for file in files {
                let objects = read_fixture(path, &case.name, &dir.join(file))?;
                match &mut case.call {
                    Call::Validate(list) | Call::Transform(list) => list.extend(objects),
                    Call::Remediate(_) | Call::Assess { .. } | Call::CheckSettings => {}
                }
            }
            cases.push(case);
        }
        Ok(Self {
            path: path.to_owned(),
            policy: dir.join(raw.policy),
            settings: raw.settings.unwrap_or_else(empty_object),
            cases,
        })
    }
}

/// The objects of a multi-document YAML fixture (empty documents skipped).
fn read_fixture(suite: &Path, case: &str, fixture: &Path) -> Result<Vec<Value>> {
    let text = std::fs::read_to_string(fixture).map_err(|source| Error::Read {
        path: fixture.to_owned(),
        source,
    })?;
    crate::yaml::documents(&text).map_err(|source| Error::Fixture {
        suite: suite.to_owned(),
        case: case.to_owned(),
        fixture: fixture.to_owned(),
        source,
    })
}

/// The component a suite tests: `policy:` itself when it is a file, or the
/// component built from it when it is a project directory.
pub fn resolve_policy(suite: &Suite, build: &BuildOptions) -> Result<PathBuf> {
    let policy = &suite.policy;
    if policy.is_dir() {
        plumbline_policy_build::build(policy, build)
            .map(|built| built.component_path)
            .map_err(|source| Error::Build {
                suite: suite.path.clone(),
                project: policy.clone(),
                source,
            })
    } else if policy.is_file() {
        Ok(policy.clone())
    } else {
        Err(Error::PolicyMissing {
            suite: suite.path.clone(),
            policy: policy.clone(),
        })
    }
}

/// The results of one suite.
#[derive(Debug, Clone, Serialize)]
pub struct SuiteReport {
    /// The suite file.
    pub suite: PathBuf,
    /// The component that was tested.
    pub component: PathBuf,
    /// One report per case, in file order.
    pub cases: Vec<CaseReport>,
}

impl SuiteReport {
    /// How many cases passed.
    pub fn passed(&self) -> usize {
        self.cases.iter().filter(|c| c.failure.is_none()).count()
    }

    /// How many cases failed.
    pub fn failed(&self) -> usize {
        self.cases.len() - self.passed()
    }
}

/// The result of one case.
#[derive(Debug, Clone, Serialize)]
pub struct CaseReport {
    /// The case's name.
    pub name: String,
    /// `None` when it passed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
}

/// Why a case failed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Failure {
    /// One line for a person.
    pub reason: String,
    /// What the suite expects, as JSON (in the suite's notation).
    pub expected: Value,
    /// What the policy returned, in the same shape where it matched.
    pub actual: Value,
}

/// Run every case of `suite` against `component`.
///
/// The policy is loaded once per distinct settings value; a load that
/// fails for a reason other than refused settings or a fault is an
/// [`Error`].
pub fn run(host: &PolicyHost, suite: &Suite, component: &Path) -> Result<SuiteReport> {
    let bytes = std::fs::read(component).map_err(|source| Error::Read {
        path: component.to_owned(),
        source,
    })?;
    let name = super::name_from_path(component);
    let ctx = EvalContext {
        source: SourceInfo {
            url: format!("suite://{}", suite.path.display()),
            revision: TEST_REVISION.to_owned(),
            path: String::new(),
        },
        target: TEST_TARGET.to_owned(),
    };
    let mut loaded: BTreeMap<String, Load> = BTreeMap::new();
    let mut cases = Vec::with_capacity(suite.cases.len());
    for case in &suite.cases {
        let settings = case.settings.as_ref().unwrap_or(&suite.settings);
        let key = settings.to_string();
        if !loaded.contains_key(&key) {
            let spec = PolicySpec::new(name.clone(), ComponentSource::Bytes(bytes.clone()))
                .settings(settings.clone());
            let policy = match host.load(spec) {
                Ok(policy) => Load::Loaded(policy),
                Err(super::Error::SettingsRejected { message, .. }) => Load::Refused(message),
                Err(super::Error::Fault(fault)) => Load::Faulted(fault.to_string()),
                Err(source) => {
                    return Err(Error::Load {
                        suite: suite.path.clone(),
                        source,
                    })
                }
            };
            loaded.insert(key.clone(), policy);
        }
        let policy = &loaded[&key];
        cases.push(CaseReport {
            name: case.name.clone(),
            failure: run_case(policy, case, &ctx).err(),
        });
    }
    Ok(SuiteReport {
        suite: suite.path.clone(),
        component: component.to_owned(),
        cases,
    })
}

/// How loading the policy with one settings value went.
enum Load {
    /// Loaded: the settings were accepted.
    Loaded(LoadedPolicy),
    /// `check-settings` refused, with this message.
    Refused(String),
    /// `info` or `check-settings` faulted, with this message.
    Faulted(String),
}

/// Run one case: `Ok(())` when it passed.
fn run_case(load: &Load, case: &Case, ctx: &EvalContext) -> std::result::Result<(), Failure> {
    let policy = match load {
        Load::Faulted(message) => {
            return Err(Failure {
                reason: message.clone(),
                expected: expected_json(&case.expect),
                actual: json!({ "error": message }),
            })
        }
        _ if matches!(case.call, Call::CheckSettings) => {
            let refused = match load {
                Load::Refused(message) => Some(message),
                _ => None,
            };
            return check_settings(refused, &case.expect);
        }
        Load::Refused(message) => {
            return Err(Failure {
                reason: format!("the policy refused the case's settings: {message}"),
                expected: json!("settings accepted"),
                actual: json!({ "settingsError": message }),
            })
        }
        Load::Loaded(policy) => policy,
    };
    let fault = |e: super::Error| Failure {
        reason: e.to_string(),
        expected: expected_json(&case.expect),
        actual: json!({ "error": e.to_string() }),
    };
    match (&case.call, &case.expect) {
        (Call::Validate(objects), Expect::Violations(patterns)) => {
            let actual = policy.validate(objects, ctx).map_err(fault)?.value;
            compare_violations(patterns, &actual)
        }
        (Call::Transform(objects), expect) => match (policy.transform(objects, ctx), expect) {
            (Ok(eval), Expect::Objects(expected)) => compare_objects(expected, &eval.value),
            (Err(super::Error::TransformRejected { message, .. }), Expect::TransformError(s))
                if message.contains(s.as_str()) =>
            {
                Ok(())
            }
            (Err(super::Error::TransformRejected { message, .. }), _) => Err(Failure {
                reason: "the transformer returned an error".to_owned(),
                expected: expected_json(expect),
                actual: json!({ "error": message }),
            }),
            (Ok(eval), _) => Err(Failure {
                reason: "the transformer did not return the expected error".to_owned(),
                expected: expected_json(expect),
                actual: json!({ "objects": eval.value }),
            }),
            (Err(e), _) => Err(fault(e)),
        },
        (Call::Remediate(drift), Expect::Remediation(pattern)) => {
            let decision = policy.remediate(drift, ctx).map_err(fault)?.value;
            compare_remediation(pattern, decision.as_ref().map(|d| &d.remediation))
        }
        (Call::Assess { live, desired }, Expect::Health(pattern)) => {
            undeclared_kind(policy, live, pattern)?;
            let desired = desired.as_ref().map(Value::to_string);
            let health = policy
                .assess(live, desired.as_deref(), ctx)
                .map_err(fault)?
                .value;
            compare_health(pattern, &health)
        }
        // `RawCase::try_from` pairs every call with its kind of expectation.
        _ => Err(Failure {
            reason: "the case's expectation does not fit its call".to_owned(),
            expected: expected_json(&case.expect),
            actual: Value::Null,
        }),
    }
}

/// Compare the outcome of loading (`refused`: the settings error, if any)
/// with a checkSettings expectation.
fn check_settings(refused: Option<&String>, expect: &Expect) -> std::result::Result<(), Failure> {
    let actual = match refused {
        Some(message) => json!({ "settingsError": message }),
        None => json!({ "settingsOk": true }),
    };
    let passed = match (expect, refused) {
        (Expect::SettingsOk, None) => true,
        (Expect::SettingsError(part), Some(message)) => message.contains(part.as_str()),
        _ => false,
    };
    if passed {
        return Ok(());
    }
    let reason = match (expect, refused) {
        (Expect::SettingsError(_), None) => "the settings were accepted",
        (_, Some(_)) if matches!(expect, Expect::SettingsOk) => "the settings were refused",
        _ => "the settings were refused with another message",
    };
    Err(Failure {
        reason: reason.to_owned(),
        expected: expected_json(expect),
        actual,
    })
}

/// An expectation as JSON, in the suite's notation.
fn expected_json(expect: &Expect) -> Value {
    match expect {
        Expect::Violations(v) => json!({ "violations": v }),
        Expect::Objects(o) => json!({ "objects": o }),
        Expect::TransformError(s) => json!({ "error": s }),
        Expect::Remediation(r) => json!({ "remediation": r }),
        Expect::Health(h) => json!({ "health": h }),
        Expect::SettingsError(s) => json!({ "settingsError": s }),
        Expect::SettingsOk => json!({ "settingsOk": true }),
    }
}

impl ViolationPattern {
    /// Whether `v` has every field this pattern names.
    pub fn matches(&self, v: &Violation) -> bool {
        let target = match (&self.target, &v.target) {
            (None, _) | (Some(None), None) => true,
            (Some(Some(t)), Some(r)) => t.matches(r),
            _ => false,
        };
        target
            && self.path.as_ref().is_none_or(|p| *p == v.path)
            && self.severity.is_none_or(|s| s == v.severity)
            && self
                .message_contains
                .as_ref()
                .is_none_or(|m| v.message.contains(m.as_str()))
    }
}

impl TargetPattern {
    /// Whether `r` has every field this pattern names.
    pub fn matches(&self, r: &ObjectRef) -> bool {
        self.api_version
            .as_ref()
            .is_none_or(|a| *a == r.api_version)
            && self.kind.as_ref().is_none_or(|k| *k == r.kind)
            && self.name.as_ref().is_none_or(|n| *n == r.name)
            && self.namespace.as_ref().is_none_or(|n| *n == r.namespace)
    }
}

/// Compare violations with patterns as multisets: every pattern must match
/// a distinct violation and no violation may be left over.
fn compare_violations(
    patterns: &[ViolationPattern],
    actual: &[Violation],
) -> std::result::Result<(), Failure> {
    let pairing = max_matching(patterns.len(), actual.len(), |p, a| {
        patterns[p].matches(&actual[a])
    });
    let matched = pairing.iter().flatten().count();
    if matched == patterns.len() && matched == actual.len() {
        return Ok(());
    }
    // Matched violations are shown as their pattern, so that only the
    // differences stand out.
    let mut shown: Vec<Value> = pairing
        .iter()
        .zip(patterns)
        .filter(|(a, _)| a.is_some())
        .map(|(_, p)| json!(p))
        .collect();
    let used = paired(&pairing, actual.len());
    shown.extend(
        actual
            .iter()
            .zip(used)
            .filter(|(_, used)| !used)
            .map(|(v, _)| violation_json(v)),
    );
    Err(Failure {
        reason: format!(
            "{} expected violation(s) not reported, {} unexpected violation(s)",
            patterns.len() - matched,
            actual.len() - matched
        ),
        expected: json!({ "violations": patterns }),
        actual: json!({ "violations": shown }),
    })
}

/// A violation in the suite's notation (with the full message).
fn violation_json(v: &Violation) -> Value {
    json!({
        "target": v.target,
        "path": v.path,
        "severity": v.severity,
        "message": v.message,
    })
}

/// Which of `right` items a pairing uses.
fn paired(pairing: &[Option<usize>], right: usize) -> Vec<bool> {
    let mut used = vec![false; right];
    for r in pairing.iter().flatten() {
        used[*r] = true;
    }
    used
}

/// A maximum bipartite matching: for each left item, the right item it is
/// paired with.
///
/// Left items are the suite's patterns (few, written by a person), right
/// items what the policy returned (up to the output item limit). A greedy
/// pass pairs each pattern with the first free item it fits, which settles
/// almost every case in `left × right` checks; augmenting paths then run
/// only for the patterns left unpaired. So the cost is linear in what the
/// policy returned for a given suite.
fn max_matching(
    left: usize,
    right: usize,
    fits: impl Fn(usize, usize) -> bool,
) -> Vec<Option<usize>> {
    fn augment(
        l: usize,
        fits: &dyn Fn(usize, usize) -> bool,
        right_of: &mut [Option<usize>],
        seen: &mut [bool],
    ) -> bool {
        for r in 0..right_of.len() {
            if seen[r] || !fits(l, r) {
                continue;
            }
            seen[r] = true;
            if right_of[r].is_none_or(|other| augment(other, fits, right_of, seen)) {
                right_of[r] = Some(l);
                return true;
            }
        }
        false
    }
    let mut right_of: Vec<Option<usize>> = vec![None; right];
    let mut unpaired = Vec::new();
    for l in 0..left {
        match (0..right).find(|&r| right_of[r].is_none() && fits(l, r)) {
            Some(r) => right_of[r] = Some(l),
            None => unpaired.push(l),
        }
    }
    for l in unpaired {
        let mut seen = vec![false; right];
        augment(l, &fits, &mut right_of, &mut seen);
    }
    let mut pairing = vec![None; left];
    for (r, l) in right_of.iter().enumerate() {
        if let Some(l) = l {
            pairing[*l] = Some(r);
        }
    }
    pairing
}

/// An object's identity for pairing transform outputs: apiVersion, kind,
/// namespace (empty when none) and name, read leniently.
fn identity(object: &Value) -> [String; 4] {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).unwrap_or_default().to_owned();
    let metadata = object.get("metadata");
    [
        text(object.get("apiVersion")),
        text(object.get("kind")),
        text(metadata.and_then(|m| m.get("namespace"))),
        text(metadata.and_then(|m| m.get("name"))),
    ]
}

/// Compare transform output with the expected objects: pair them by
/// identity, then compare each pair as JSON.
fn compare_objects(expected: &[Value], actual: &[Value]) -> std::result::Result<(), Failure> {
    let pairing = max_matching(expected.len(), actual.len(), |e, a| {
        identity(&expected[e]) == identity(&actual[a])
    });
    let equal = expected.len() == actual.len()
        && pairing
            .iter()
            .zip(expected)
            .all(|(a, e)| a.is_some_and(|a| actual[a] == *e));
    if equal {
        return Ok(());
    }
    // The actual objects in the order of the expected ones they pair with,
    // then the unexpected ones.
    let mut shown: Vec<Value> = pairing
        .iter()
        .flatten()
        .map(|a| actual[*a].clone())
        .collect();
    let used = paired(&pairing, actual.len());
    shown.extend(
        actual
            .iter()
            .zip(used)
            .filter(|(_, used)| !used)
            .map(|(o, _)| o.clone()),
    );
    Err(Failure {
        reason: "the transformed objects differ".to_owned(),
        expected: json!({ "objects": expected }),
        actual: json!({ "objects": shown }),
    })
}

/// Fail an assess case whose live object is of a kind the policy does not
/// declare: the host would never ask the policy about it.
fn undeclared_kind(
    policy: &LoadedPolicy,
    live: &Value,
    pattern: &HealthPattern,
) -> std::result::Result<(), Failure> {
    let text = |field| live.get(field).and_then(Value::as_str).unwrap_or("");
    let group = text("apiVersion").rsplit_once('/').map_or("", |(g, _)| g);
    if !policy.roles().health || policy.assesses(group, text("kind")) {
        return Ok(());
    }
    let declared: Vec<String> = policy
        .health_kinds()
        .iter()
        .map(|k| k.to_string())
        .collect();
    Err(Failure {
        reason: format!(
            "the policy does not assess {kind} objects (group `{group}`): the host would judge \
             them by its built-in rules; it declares [{declared}]",
            kind = text("kind"),
            declared = declared.join(", ")
        ),
        expected: json!({ "health": pattern }),
        actual: json!({ "kinds": declared }),
    })
}

/// Compare a health verdict with the expected one.
fn compare_health(pattern: &HealthPattern, health: &Health) -> std::result::Result<(), Failure> {
    if pattern.matches(health) {
        return Ok(());
    }
    let (status, message) = health_parts(health);
    Err(Failure {
        reason: "another health verdict was returned".to_owned(),
        expected: json!({ "health": pattern }),
        actual: json!({ "health": {"status": status, "message": message} }),
    })
}

/// Compare a remediation (`None`: the remediator abstained) with the expected
/// one (a report by substring). Only `abstain` matches `None`.
fn compare_remediation(
    pattern: &RemediationPattern,
    actual: Option<&Remediation>,
) -> std::result::Result<(), Failure> {
    let passed = match (pattern, actual) {
        (RemediationPattern::Abstain, None)
        | (RemediationPattern::Reapply, Some(Remediation::Reapply))
        | (RemediationPattern::Ignore, Some(Remediation::Ignore))
        | (RemediationPattern::Recreate, Some(Remediation::Recreate)) => true,
        (RemediationPattern::Report(part), Some(Remediation::Report(message))) => {
            message.contains(part.as_str())
        }
        (RemediationPattern::Defer(secs), Some(Remediation::Defer(after))) => {
            *after == Duration::from_secs((*secs).into())
        }
        _ => false,
    };
    if passed {
        return Ok(());
    }
    let actual = match actual {
        None => json!("abstain"),
        Some(Remediation::Reapply) => json!("reapply"),
        Some(Remediation::Ignore) => json!("ignore"),
        Some(Remediation::Recreate) => json!("recreate"),
        Some(Remediation::Report(message)) => json!({ "report": message }),
        Some(Remediation::Defer(after)) => json!({ "defer": after.as_secs() }),
    };
    Err(Failure {
        reason: "another remediation was decided".to_owned(),
        expected: json!({ "remediation": pattern }),
        actual: json!({ "remediation": actual }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::Severity;

    fn violation(kind: &str, name: &str, path: &str, message: &str) -> Violation {
        Violation {
            policy: "p".to_owned(),
            target: Some(ObjectRef {
                api_version: "v1".to_owned(),
                kind: kind.to_owned(),
                namespace: None,
                name: name.to_owned(),
            }),
            path: path.to_owned(),
            message: message.to_owned(),
            severity: Severity::Error,
        }
    }

    fn pattern(yaml: &str) -> ViolationPattern {
        serde_yaml::from_str(yaml).expect("pattern")
    }

    #[test]
    fn violations_are_matched_as_a_multiset_with_optional_fields() {
        let actual = [
            violation("Service", "a", "metadata.labels.team", "missing team"),
            violation("Service", "a", "metadata.labels.tier", "missing tier"),
        ];
        // A loose pattern first must not steal the violation the strict one needs.
        let loose = pattern("{target: {kind: Service}}");
        let strict = pattern("{path: metadata.labels.team, messageContains: team}");
        assert_eq!(
            compare_violations(&[loose.clone(), strict], &actual),
            Ok(())
        );
        let failure = compare_violations(&[loose], &actual).expect_err("one left over");
        assert!(
            failure.reason.contains("1 unexpected"),
            "{}",
            failure.reason
        );
        assert_eq!(failure.actual["violations"][1]["message"], "missing tier");
    }

    #[test]
    fn many_violations_are_compared_in_linear_time() {
        // 100 000 reported, two patterns: the greedy pass pairs both, and
        // the rest are listed without a quadratic scan.
        let actual: Vec<_> = (0..100_000)
            .map(|i| violation("Service", &format!("s{i}"), "", "missing team"))
            .collect();
        let patterns = [
            pattern("{messageContains: team}"),
            pattern("{messageContains: team}"),
        ];
        let failure = compare_violations(&patterns, &actual).expect_err("too many");
        assert!(
            failure
                .reason
                .contains("0 expected violation(s) not reported, 99998 unexpected"),
            "{}",
            failure.reason
        );
        assert_eq!(
            failure.actual["violations"].as_array().unwrap().len(),
            100_000
        );
    }

    #[test]
    fn a_null_target_or_namespace_matches_only_none() {
        let set = Violation {
            target: None,
            ..violation("x", "x", "", "about the set")
        };
        assert!(pattern("{target: null}").matches(&set));
        assert!(!pattern("{target: null}").matches(&violation("Service", "a", "", "")));
        assert!(pattern("{target: {namespace: null}}").matches(&violation("Service", "a", "", "")));
        assert!(!pattern("{target: {namespace: shop}}").matches(&violation("Service", "a", "", "")));
    }

    #[test]
    fn transform_output_is_paired_by_identity_and_compared_as_json() {
        let a = json!({"apiVersion": "v1", "kind": "A", "metadata": {"name": "a"}});
        let b = json!({"apiVersion": "v1", "kind": "B", "metadata": {"name": "b"}});
        assert_eq!(
            compare_objects(&[a.clone(), b.clone()], &[b.clone(), a.clone()]),
            Ok(())
        );
        let mut changed = b.clone();
        changed["spec"] = json!(1);
        let failure = compare_objects(&[a.clone(), b], &[changed.clone(), a]).expect_err("differs");
        assert_eq!(failure.actual["objects"][1], changed);
    }

    #[test]
    fn remediations_are_words_or_one_key_mappings() {
        let parse = serde_yaml::from_str::<RemediationPattern>;
        assert_eq!(parse("ignore").expect("word"), RemediationPattern::Ignore);
        assert_eq!(
            parse("{report: drifted}").expect("report"),
            RemediationPattern::Report("drifted".to_owned())
        );
        assert_eq!(
            parse("{defer: 30}").expect("defer"),
            RemediationPattern::Defer(30)
        );
        let err = parse("restart").expect_err("unknown word").to_string();
        assert!(err.contains("unknown remediation `restart`"), "{err}");
        let report = Remediation::Report("Secret shop/db drifted".to_owned());
        assert_eq!(
            compare_remediation(
                &RemediationPattern::Report("drifted".to_owned()),
                Some(&report)
            ),
            Ok(())
        );
        let failure =
            compare_remediation(&RemediationPattern::Ignore, Some(&report)).expect_err("differs");
        assert_eq!(
            failure.actual,
            json!({"remediation": {"report": "Secret shop/db drifted"}})
        );
    }

    #[test]
    fn abstain_matches_only_no_decision() {
        let parse = serde_yaml::from_str::<RemediationPattern>;
        assert_eq!(parse("abstain").expect("word"), RemediationPattern::Abstain);
        assert_eq!(
            compare_remediation(&RemediationPattern::Abstain, None),
            Ok(())
        );
        let failure = compare_remediation(&RemediationPattern::Reapply, None)
            .expect_err("a decision is expected");
        assert_eq!(failure.expected, json!({"remediation": "reapply"}));
        assert_eq!(failure.actual, json!({"remediation": "abstain"}));
        let failure = compare_remediation(&RemediationPattern::Abstain, Some(&Remediation::Ignore))
            .expect_err("no decision is expected");
        assert_eq!(failure.actual, json!({"remediation": "ignore"}));
    }

    #[test]
    fn case_errors_name_the_line_of_the_suite() {
        let text = "policy: p.wasm\ncases:\n  - name: x\n    validate: {objects: []}\n    transform: {objects: []}\n    expect: {violations: []}\n";
        let err = Suite::parse(Path::new("s.yaml"), text).expect_err("two calls");
        let source = std::error::Error::source(&err).expect("source").to_string();
        assert!(source.contains("exactly one of"), "{source}");
        assert!(source.contains("line"), "{source}");
    }

    #[test]
    fn assess_cases_compare_the_status_and_the_message() {
        let text = "policy: p.wasm\ncases:\n  - name: x\n    assess:\n      live: {kind: Certificate}\n      desired: {kind: Certificate}\n    expect: {health: {status: failed, messageContains: order}}\n";
        let suite = Suite::parse(Path::new("s.yaml"), text).expect("suite");
        let case = &suite.cases[0];
        assert!(matches!(
            &case.call,
            Call::Assess {
                desired: Some(_),
                ..
            }
        ));
        let Expect::Health(pattern) = &case.expect else {
            panic!("{:?}", case.expect);
        };
        let failed = |m: &str| Health::Failed(m.to_owned());
        assert_eq!(compare_health(pattern, &failed("order is invalid")), Ok(()));
        let other = compare_health(pattern, &Health::InProgress("order".into())).unwrap_err();
        assert_eq!(
            other.actual,
            json!({"health": {"status": "in-progress", "message": "order"}})
        );
        assert!(compare_health(pattern, &failed("rate limited")).is_err());
    }

    #[test]
    fn a_current_verdict_with_an_expected_message_is_refused() {
        let text = "policy: p.wasm\ncases:\n  - name: x\n    assess: {live: {}}\n    expect: {health: {status: current, message: ok}}\n";
        let err = Suite::parse(Path::new("s.yaml"), text).expect_err("message on current");
        let source = std::error::Error::source(&err).expect("source").to_string();
        assert!(source.contains("keeps no message"), "{source}");
    }

    #[test]
    fn check_settings_cases_accept_an_empty_mapping_and_compare_substrings() {
        let text = "policy: p.wasm\ncases:\n  - name: x\n    settings: {a: 1}\n    checkSettings: {}\n    expect: {settingsError: must}\n";
        let suite = Suite::parse(Path::new("dir/s.yaml"), text).expect("suite");
        assert_eq!(suite.policy, Path::new("dir/p.wasm"));
        let case = &suite.cases[0];
        assert!(matches!(case.call, Call::CheckSettings));
        let message = "a must be a string".to_owned();
        assert_eq!(check_settings(Some(&message), &case.expect), Ok(()));
        assert!(check_settings(None, &case.expect).is_err());
    }
}
