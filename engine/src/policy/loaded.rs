//! One loaded policy: load-time checks (imports, roles, settings) and the
//! evaluation of each role under the policy's limits. Reads the component
//! file when loading from a path; evaluations do no IO.
//!
//! Every evaluation gets a fresh `Store` (and so a fresh instance from the
//! policy's `InstancePre`): no state leaks from one evaluation to the next,
//! a fault cannot poison later calls, and every limit starts from zero —
//! except health evaluations through a [`super::WarmPolicy`], which reuse
//! the instance of an earlier successful call of the same run (the `warm`
//! module says what still holds per call).

use std::path::PathBuf;
use std::sync::Arc;

use serde_json::Value;
use wasmtime::component::{Instance, InstancePre};
use wasmtime::Store;

use super::bindings::exports::plumbline::policy::{
    health, metadata, remediator, transformer, validator,
};
use super::cache::ComponentDigest;
use super::compiler::CompileError;
use super::engines::{EngineKey, EngineSlot, EPOCH_TICK};
use super::fault::{classify, Fault, FaultKind, Role};
use super::lift::{self, count_items, violation_bytes};
use super::limits::{Limit, LimitOverrides, Limits};
use super::shape::Shape;
use super::state::{PolicyLog, StoreState};
use super::verdict::{Decision, Drift, EvalContext, GroupKind, PolicyInfo, Violation};
use super::warm::{Idle, Warm};
use super::wasi::inspect_imports;
use super::{Error, HostInner, Result};
use crate::health::Health;
use crate::object::ObjectRef;
use crate::spec::TransformerAllowance;

/// Where a policy's component comes from.
#[derive(Debug, Clone)]
pub enum ComponentSource {
    /// Component bytes in memory.
    Bytes(Vec<u8>),
    /// A `.wasm` component file.
    File(PathBuf),
}

/// The name a policy gets from its path when none is configured:
/// `policies/required-labels` and `required-labels.component.wasm` are both
/// `required-labels`.
pub fn name_from_path(path: &std::path::Path) -> String {
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    file.trim_end_matches(".wasm")
        .trim_end_matches(".component")
        .to_owned()
}

/// How the operator configured one policy.
#[derive(Debug, Clone)]
pub struct PolicySpec {
    /// The name the policy is known by in errors, violations and decisions.
    pub name: String,
    /// The component.
    pub source: ComponentSource,
    /// Settings passed to `check-settings` at load and to every call
    /// (`{}` when none).
    pub settings: Value,
    /// Changes to the host's default limits.
    pub limits: LimitOverrides,
    /// If true, a fault of this policy is reported as a warning and the
    /// policy is skipped; by default (false) a fault fails the evaluation.
    pub fail_open: bool,
    /// What the policy may do as a transformer beyond editing ordinary
    /// fields; checked by the reconcile, not by the host.
    pub transformer_allowance: TransformerAllowance,
}

impl PolicySpec {
    /// A fail-closed policy with no settings and default limits.
    pub fn new(name: impl Into<String>, source: ComponentSource) -> Self {
        Self {
            name: name.into(),
            source,
            settings: Value::Object(Default::default()),
            limits: LimitOverrides::default(),
            fail_open: false,
            transformer_allowance: TransformerAllowance::default(),
        }
    }

    /// Set the settings.
    pub fn settings(mut self, settings: Value) -> Self {
        self.settings = settings;
        self
    }

    /// Set the limit overrides.
    pub fn limits(mut self, limits: LimitOverrides) -> Self {
        self.limits = limits;
        self
    }

    /// Make the policy fail-open (or fail-closed again).
    pub fn fail_open(mut self, fail_open: bool) -> Self {
        self.fail_open = fail_open;
        self
    }

    /// Set what the policy may do as a transformer.
    pub fn transformer_allowance(mut self, allowance: TransformerAllowance) -> Self {
        self.transformer_allowance = allowance;
        self
    }
}

/// The roles a component exports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Roles {
    /// Exports `validator`.
    pub validator: bool,
    /// Exports `transformer`.
    pub transformer: bool,
    /// Exports `remediator`.
    pub remediator: bool,
    /// Exports `health`.
    pub health: bool,
}

/// The result of one successful evaluation and the log it wrote.
#[derive(Debug, Clone)]
pub struct Evaluation<T> {
    /// What the policy returned.
    pub value: T,
    /// What it logged (bounded).
    pub log: PolicyLog,
}

/// An evaluation that failed: the error, and whether the store's limiter
/// refused memory or a table (which an instance's earlier calls may have
/// used up).
struct Failed {
    error: Error,
    refused: bool,
}

struct Indices {
    metadata: metadata::GuestIndices,
    validator: Option<validator::GuestIndices>,
    transformer: Option<transformer::GuestIndices>,
    remediator: Option<remediator::GuestIndices>,
    health: Option<health::GuestIndices>,
}

/// A policy that passed its load-time checks and can be evaluated, from any
/// number of threads at once.
#[derive(Clone)]
pub struct LoadedPolicy {
    inner: Arc<Loaded>,
}

struct Loaded {
    host: Arc<HostInner>,
    name: String,
    info: PolicyInfo,
    limits: Limits,
    settings_json: String,
    fail_open: bool,
    transformer_allowance: TransformerAllowance,
    /// The kinds a health policy assesses (`health.kinds`); empty for the
    /// other roles.
    health_kinds: Vec<GroupKind>,
    digest: ComponentDigest,
    uses_wasi: bool,
    slot: Arc<EngineSlot>,
    pre: InstancePre<StoreState>,
    indices: Indices,
}

impl std::fmt::Debug for LoadedPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoadedPolicy")
            .field("name", &self.inner.name)
            .field("roles", &self.roles())
            .field("limits", &self.inner.limits)
            .field("fail_open", &self.inner.fail_open)
            .finish_non_exhaustive()
    }
}

impl LoadedPolicy {
    /// Load, check and describe a policy (see [`super::PolicyHost::load`]).
    pub(crate) fn load(host: Arc<HostInner>, spec: PolicySpec) -> Result<Self> {
        let policy = spec.name;
        let limits = spec.limits.apply(&host.defaults);
        if let Some(reason) = limits.problem() {
            return Err(Error::InvalidLimits { policy, reason });
        }
        let bytes = match spec.source {
            ComponentSource::Bytes(bytes) => bytes,
            ComponentSource::File(path) => match std::fs::read(&path) {
                Ok(bytes) => bytes,
                Err(source) => {
                    return Err(Error::Read {
                        policy,
                        path,
                        source,
                    })
                }
            },
        };
        let key = EngineKey {
            stack_bytes: limits.stack_bytes,
            fuel: limits.fuel.is_some(),
        };
        let slot = host
            .engines
            .get(key)
            .map_err(|e| Error::Start(e.into_boxed_dyn_error()))?;
        // Refuse what cannot run within the limits, or whose compilation
        // would be unbounded, before compiling anything.
        let shape = match Shape::of(&bytes) {
            Ok(shape) => shape,
            Err(e) => {
                return Err(Error::Compile {
                    policy,
                    source: Box::new(e),
                })
            }
        };
        if let Some((limit, found)) = shape.check(&limits) {
            return Err(Error::OverLimit {
                policy,
                value: limits.describe(limit),
                limit,
                found,
            });
        }
        let compiled = host
            .cache
            .component(key, &slot, bytes, &host.compiler, &limits);
        let (component, digest) = match compiled {
            Ok(found) => found,
            Err(CompileError::Invalid(reason)) => {
                return Err(Error::Compile {
                    policy,
                    source: reason.into(),
                })
            }
            Err(CompileError::Timeout) => {
                return Err(Error::OverLimit {
                    policy,
                    value: limits.describe(Limit::CompileTime),
                    limit: Limit::CompileTime,
                    found: "its compilation did not finish in time".into(),
                })
            }
            Err(CompileError::OutOfMemory) => {
                return Err(Error::OverLimit {
                    policy,
                    value: limits.describe(Limit::CompileMemory),
                    limit: Limit::CompileMemory,
                    found: "its compilation ran out of memory".into(),
                })
            }
            Err(CompileError::Compiler(reason)) => return Err(Error::Compiler { policy, reason }),
        };
        let imports = inspect_imports(&component, &slot.engine);
        if !imports.unsatisfied.is_empty() {
            return Err(Error::UnsatisfiedImports {
                policy,
                imports: imports.unsatisfied,
            });
        }
        let pre = match slot.linker.instantiate_pre(&component) {
            Ok(pre) => pre,
            Err(e) => {
                return Err(Error::Link {
                    policy,
                    source: e.into_boxed_dyn_error(),
                })
            }
        };
        let Ok(metadata) = metadata::GuestIndices::new(&pre) else {
            return Err(Error::NoMetadata { policy });
        };
        let indices = Indices {
            metadata,
            validator: validator::GuestIndices::new(&pre).ok(),
            transformer: transformer::GuestIndices::new(&pre).ok(),
            remediator: remediator::GuestIndices::new(&pre).ok(),
            health: health::GuestIndices::new(&pre).ok(),
        };
        if indices.validator.is_none()
            && indices.transformer.is_none()
            && indices.remediator.is_none()
            && indices.health.is_none()
        {
            return Err(Error::NoRoles { policy });
        }
        let settings_json = spec.settings.to_string();
        let mut loaded = Loaded {
            host,
            name: policy,
            // Filled in from `metadata.info` below.
            info: PolicyInfo::default(),
            limits,
            settings_json,
            fail_open: spec.fail_open,
            transformer_allowance: spec.transformer_allowance,
            // Filled in from `health.kinds` below.
            health_kinds: Vec::new(),
            digest,
            uses_wasi: imports.uses_wasi,
            slot,
            pre,
            indices,
        };
        let (info, verdict) = loaded.check()?;
        if let Err(message) = verdict {
            return Err(Error::SettingsRejected {
                policy: loaded.name,
                message,
            });
        }
        loaded.info = info;
        loaded.health_kinds = loaded.kinds()?;
        Ok(Self {
            inner: Arc::new(loaded),
        })
    }

    /// The configured name.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// What the policy says about itself.
    pub fn info(&self) -> &PolicyInfo {
        &self.inner.info
    }

    /// The roles it exports.
    pub fn roles(&self) -> Roles {
        let i = &self.inner.indices;
        Roles {
            validator: i.validator.is_some(),
            transformer: i.transformer.is_some(),
            remediator: i.remediator.is_some(),
            health: i.health.is_some(),
        }
    }

    /// The kinds a health policy assesses, as it declared them when it was
    /// loaded; empty for a policy without the health role.
    pub fn health_kinds(&self) -> &[GroupKind] {
        &self.inner.health_kinds
    }

    /// Whether this is a health policy that assesses objects of `group`
    /// and `kind`.
    pub fn assesses(&self, group: &str, kind: &str) -> bool {
        self.inner
            .health_kinds
            .iter()
            .any(|k| k.covers(group, kind))
    }

    /// The limits every evaluation runs under.
    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// The settings, as passed to the policy.
    pub fn settings_json(&self) -> &str {
        &self.inner.settings_json
    }

    /// Whether a fault is a warning (true) or an error (false).
    pub fn fail_open(&self) -> bool {
        self.inner.fail_open
    }

    /// What the policy may do as a transformer beyond editing ordinary
    /// fields.
    pub fn transformer_allowance(&self) -> &TransformerAllowance {
        &self.inner.transformer_allowance
    }

    /// SHA-256 of the component bytes, hex-encoded.
    pub fn digest(&self) -> String {
        hex::encode(self.inner.digest)
    }

    /// Whether the component imports WASI (and so gets the empty WASI).
    pub fn uses_wasi(&self) -> bool {
        self.inner.uses_wasi
    }

    /// Validate `objects` (JSON objects).
    pub fn validate(
        &self,
        objects: &[Value],
        ctx: &EvalContext,
    ) -> Result<Evaluation<Vec<Violation>>> {
        self.validate_json(&to_json(objects), ctx)
    }

    /// Transform `objects`; the output objects are checked to be
    /// Kubernetes-style JSON objects.
    pub fn transform(
        &self,
        objects: &[Value],
        ctx: &EvalContext,
    ) -> Result<Evaluation<Vec<Value>>> {
        self.inner.transform(&to_json(objects), ctx)
    }

    /// Decide what to do about `drift`.
    pub fn remediate(
        &self,
        drift: &Drift,
        ctx: &EvalContext,
    ) -> Result<Evaluation<Option<Decision>>> {
        self.inner.remediate(drift, ctx)
    }

    /// Assess the health of `live`, an object as read from the cluster;
    /// `desired` is the object as Plumbline applies it, when known.
    /// `desired_json` is the desired object as JSON text.
    pub fn assess(
        &self,
        live: &Value,
        desired_json: Option<&str>,
        ctx: &EvalContext,
    ) -> Result<Evaluation<Health>> {
        self.inner.assess(live, desired_json, ctx, None)
    }

    /// [`Self::assess`] on an instance from `idle` when there is one, giving
    /// the instance back to `idle` if the call succeeds ([`super::WarmPolicy`]).
    pub(crate) fn assess_reusing(
        &self,
        idle: &Idle,
        live: &Value,
        desired_json: Option<&str>,
        ctx: &EvalContext,
    ) -> Result<Evaluation<Health>> {
        self.inner.assess(live, desired_json, ctx, Some(idle))
    }

    /// [`Self::validate`] on objects already serialised to JSON text.
    pub(crate) fn validate_json(
        &self,
        objects: &[String],
        ctx: &EvalContext,
    ) -> Result<Evaluation<Vec<Violation>>> {
        self.inner.validate(objects, ctx)
    }
}

pub(crate) fn to_json(objects: &[Value]) -> Vec<String> {
    objects.iter().map(Value::to_string).collect()
}

impl Loaded {
    fn fault(&self, role: Role, kind: FaultKind) -> Error {
        Error::Fault(Fault {
            policy: self.name.clone(),
            role,
            kind,
        })
    }

    fn missing(&self, role: Role) -> Error {
        Error::RoleMissing {
            policy: self.name.clone(),
            role,
        }
    }

    /// Check that `bytes` returned by the guest fit the output limit.
    fn check_output(&self, role: Role, bytes: u64) -> Result<()> {
        if bytes > self.limits.output_bytes {
            return Err(self.fault(
                role,
                FaultKind::LimitExceeded {
                    limit: Limit::Output,
                    value: format!(
                        "{} (returned {bytes} bytes)",
                        self.limits.describe(Limit::Output)
                    ),
                },
            ));
        }
        Ok(())
    }

    /// Run `call` under the policy's limits, on one of the host's
    /// evaluation threads: in a fresh instance, dropped afterwards; or,
    /// given `idle`, in an idle instance of an earlier call when there is
    /// one, and the instance is kept in `idle` for the next call if this one
    /// succeeds (see the `warm` module for why that is safe).
    fn run<R: Send>(
        &self,
        role: Role,
        idle: Option<&Idle>,
        call: impl Fn(&mut Store<StoreState>, &Instance) -> wasmtime::Result<R> + Sync,
    ) -> Result<Evaluation<R>> {
        self.host.pool.install(|| {
            if let Some((idle, warm)) = idle.and_then(|idle| Some((idle, idle.take()?))) {
                match self.evaluate(role, warm.store, Some(warm.instance), &call) {
                    Ok((evaluation, warm)) => {
                        idle.give_back(warm);
                        return Ok(evaluation);
                    }
                    // Refused memory or a table that earlier calls may have
                    // grown: a fresh instance decides.
                    Err(failed) if failed.refused => {}
                    Err(failed) => return Err(failed.error),
                }
            }
            let store = self.store();
            match self.evaluate(role, store, None, &call) {
                Ok((evaluation, warm)) => {
                    if let Some(idle) = idle {
                        idle.give_back(warm);
                    }
                    Ok(evaluation)
                }
                Err(failed) => Err(failed.error),
            }
        })
    }

    /// A new store under the policy's limits, with no instance yet.
    fn store(&self) -> Store<StoreState> {
        let limits = &self.limits;
        let mut store = Store::new(&self.slot.engine, StoreState::new(limits));
        store.limiter(|s| &mut s.limiter);
        store.set_hostcall_fuel(lift::hostcall_fuel(limits));
        store.epoch_deadline_trap();
        store
    }

    /// Give `store` the whole of the per-call budgets: a deadline
    /// `timeoutMs` from now and a full tank of fuel.
    fn arm(&self, store: &mut Store<StoreState>) -> wasmtime::Result<()> {
        let limits = &self.limits;
        let tick = EPOCH_TICK.as_nanos().max(1);
        let ticks = limits.timeout.as_nanos().div_ceil(tick) + 1;
        store.set_epoch_deadline(u64::try_from(ticks).unwrap_or(u64::MAX));
        if let Some(fuel) = limits.fuel {
            store.set_fuel(fuel)?;
        }
        Ok(())
    }

    /// One call in `store`: on `instance`, or on a new instance of the
    /// component (its instantiation within the call's deadline).
    fn evaluate<R>(
        &self,
        role: Role,
        mut store: Store<StoreState>,
        instance: Option<Instance>,
        call: &impl Fn(&mut Store<StoreState>, &Instance) -> wasmtime::Result<R>,
    ) -> std::result::Result<(Evaluation<R>, Warm), Failed> {
        let result = self
            .arm(&mut store)
            .and_then(|()| match instance {
                Some(instance) => Ok(instance),
                None => self.pre.instantiate(&mut store),
            })
            .and_then(|instance| Ok((call(&mut store, &instance)?, instance)));
        let log = store.data().take_log(&self.limits);
        forward_log(&self.name, role, &log);
        match result {
            Ok((value, instance)) => Ok((Evaluation { value, log }, Warm { store, instance })),
            Err(e) => {
                let refused = store.data().limiter.refused;
                Err(Failed {
                    error: self.fault(role, classify(e, refused, &self.limits)),
                    refused: refused.is_some(),
                })
            }
        }
    }

    /// `info` and `check-settings`, at load time.
    fn check(&self) -> Result<(PolicyInfo, Result<(), String>)> {
        let indices = &self.indices;
        let settings = self.settings_json.as_str();
        let eval = self.run(Role::Metadata, None, |store, instance| {
            // Type-check every exported role now, so a mismatch is a load
            // error rather than a fault at the first call.
            if let Some(v) = &indices.validator {
                v.load(&mut *store, instance)?;
            }
            if let Some(t) = &indices.transformer {
                t.load(&mut *store, instance)?;
            }
            if let Some(r) = &indices.remediator {
                r.load(&mut *store, instance)?;
            }
            if let Some(h) = &indices.health {
                h.load(&mut *store, instance)?;
            }
            let guest = indices.metadata.load(&mut *store, instance)?;
            let info = guest.call_info(&mut *store)?;
            let verdict = guest.call_check_settings(&mut *store, settings)?;
            Ok((info, verdict))
        })?;
        let (info, verdict) = eval.value;
        let bytes = info.name.len()
            + info.version.len()
            + info.description.len()
            + info.settings_schema.as_ref().map_or(0, String::len)
            + verdict.as_ref().err().map_or(0, String::len);
        self.check_output(Role::Metadata, bytes as u64)?;
        Ok((info.into(), verdict))
    }

    /// `health.kinds`, at load time (none without the health role).
    fn kinds(&self) -> Result<Vec<GroupKind>> {
        let role = Role::Health;
        let Some(indices) = &self.indices.health else {
            return Ok(Vec::new());
        };
        let eval = self.run(role, None, |store, instance| {
            indices.load(&mut *store, instance)?.call_kinds(&mut *store)
        })?;
        self.check_items(role, eval.value.len(), "kinds")?;
        let bytes = eval
            .value
            .iter()
            .map(|k| k.group.len() + k.kind.len())
            .sum::<usize>();
        self.check_output(role, bytes as u64)?;
        Ok(eval.value.into_iter().map(GroupKind::from).collect())
    }

    fn assess(
        &self,
        live: &Value,
        desired: Option<&str>,
        ctx: &EvalContext,
        idle: Option<&Idle>,
    ) -> Result<Evaluation<Health>> {
        let role = Role::Health;
        let indices = self
            .indices
            .health
            .as_ref()
            .ok_or_else(|| self.missing(role))?;
        let wit_ctx = ctx.to_wit(&self.settings_json);
        let live = live.to_string();
        let desired = desired.map(str::to_owned);
        let eval = self.run(role, idle, |store, instance| {
            indices.load(&mut *store, instance)?.call_assess(
                &mut *store,
                &live,
                desired.as_ref(),
                &wit_ctx,
            )
        })?;
        self.check_output(role, eval.value.message.len() as u64)?;
        Ok(Evaluation {
            value: eval.value.into(),
            log: eval.log,
        })
    }

    fn validate(
        &self,
        objects: &[String],
        ctx: &EvalContext,
    ) -> Result<Evaluation<Vec<Violation>>> {
        let role = Role::Validator;
        let indices = self
            .indices
            .validator
            .as_ref()
            .ok_or_else(|| self.missing(role))?;
        let wit_ctx = ctx.to_wit(&self.settings_json);
        let eval = self.run(role, None, |store, instance| {
            indices
                .load(&mut *store, instance)?
                .call_validate(&mut *store, objects, &wit_ctx)
        })?;
        self.check_items(role, eval.value.len(), "violations")?;
        self.check_output(role, eval.value.iter().map(violation_bytes).sum())?;
        Ok(Evaluation {
            value: eval
                .value
                .into_iter()
                .map(|v| Violation::from_wit(&self.name, v))
                .collect(),
            log: eval.log,
        })
    }

    /// Check that a result of `len` items fits the output item limit.
    fn check_items(&self, role: Role, len: usize, what: &str) -> Result<()> {
        count_items(len, what, &self.limits).map_err(|(limit, found)| {
            self.fault(
                role,
                FaultKind::LimitExceeded {
                    limit,
                    value: format!("{} ({found})", self.limits.describe(limit)),
                },
            )
        })
    }

    fn transform(&self, objects: &[String], ctx: &EvalContext) -> Result<Evaluation<Vec<Value>>> {
        let role = Role::Transformer;
        let indices = self
            .indices
            .transformer
            .as_ref()
            .ok_or_else(|| self.missing(role))?;
        let wit_ctx = ctx.to_wit(&self.settings_json);
        let eval = self.run(role, None, |store, instance| {
            indices
                .load(&mut *store, instance)?
                .call_transform(&mut *store, objects, &wit_ctx)
        })?;
        let output = match eval.value {
            Ok(output) => output,
            Err(message) => {
                self.check_output(role, message.len() as u64)?;
                return Err(Error::TransformRejected {
                    policy: self.name.clone(),
                    message,
                });
            }
        };
        self.check_items(role, output.len(), "objects")?;
        self.check_output(role, output.iter().map(|o| o.len() as u64).sum())?;
        let value = output
            .iter()
            .enumerate()
            .map(|(i, text)| {
                parse_object(text).map_err(|why| {
                    self.fault(role, FaultKind::BadOutput(format!("object {i}: {why}")))
                })
            })
            .collect::<Result<_>>()?;
        Ok(Evaluation {
            value,
            log: eval.log,
        })
    }

    fn remediate(&self, drift: &Drift, ctx: &EvalContext) -> Result<Evaluation<Option<Decision>>> {
        let role = Role::Remediator;
        let indices = self
            .indices
            .remediator
            .as_ref()
            .ok_or_else(|| self.missing(role))?;
        let wit_ctx = ctx.to_wit(&self.settings_json);
        let wit_drift = drift.to_wit();
        let eval = self.run(role, None, |store, instance| {
            indices
                .load(&mut *store, instance)?
                .call_remediate(&mut *store, &wit_drift, &wit_ctx)
        })?;
        let bytes = match &eval.value {
            Some(super::bindings::plumbline::policy::types::Remediation::Report(m)) => m.len(),
            _ => 0,
        };
        self.check_output(role, bytes as u64)?;
        Ok(Evaluation {
            value: eval.value.map(|remediation| Decision {
                policy: self.name.clone(),
                remediation: remediation.into(),
            }),
            log: eval.log,
        })
    }
}

/// Parse one transformer output: a JSON object with `apiVersion`, `kind`
/// and `metadata.name`.
fn parse_object(text: &str) -> std::result::Result<Value, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    if !value.is_object() {
        return Err("not a JSON object".into());
    }
    if ObjectRef::of(&value).is_none() {
        return Err("lacks apiVersion, kind or metadata.name".into());
    }
    Ok(value)
}

/// Send a policy's log lines to `tracing`, tagged with the policy and role.
fn forward_log(policy: &str, role: Role, log: &PolicyLog) {
    use super::state::LogLevel;
    let policy = super::escape::printable(policy);
    let policy = policy.as_ref();
    for line in &log.lines {
        let message = super::escape::printable(&line.message);
        match line.level {
            LogLevel::Trace => {
                tracing::trace!(target: "plumbline::policy::guest", policy, %role, "{message}")
            }
            LogLevel::Debug => {
                tracing::debug!(target: "plumbline::policy::guest", policy, %role, "{message}")
            }
            LogLevel::Info => {
                tracing::info!(target: "plumbline::policy::guest", policy, %role, "{message}")
            }
            LogLevel::Warn => {
                tracing::warn!(target: "plumbline::policy::guest", policy, %role, "{message}")
            }
            LogLevel::Error => {
                tracing::error!(target: "plumbline::policy::guest", policy, %role, "{message}")
            }
        }
    }
    if log.dropped_lines > 0 {
        tracing::warn!(
            policy,
            %role,
            dropped_lines = log.dropped_lines,
            dropped_bytes = log.dropped_bytes,
            "policy log exceeded its limit; lines dropped"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::parse_object;

    #[test]
    fn transformer_output_must_be_an_identified_object() {
        assert!(
            parse_object(r#"{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"}}"#)
                .is_ok()
        );
        assert!(parse_object("[1]")
            .unwrap_err()
            .contains("not a JSON object"));
        assert!(parse_object("{").unwrap_err().contains("not JSON"));
        assert!(parse_object(r#"{"kind":"ConfigMap"}"#)
            .unwrap_err()
            .contains("lacks"));
    }
}
