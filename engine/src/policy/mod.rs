//! The sandboxed WebAssembly policy host.
//!
//! In: component bytes or files plus the operator's settings and limits
//! ([`PolicySpec`]); objects, drift and context per evaluation. Out: loaded
//! policies ([`LoadedPolicy`], grouped in a [`PolicySet`]) and their verdicts
//! ([`Violation`], transformed objects, [`Decision`]) or typed errors:
//! load errors, a policy's rejection, or a [`Fault`] (trap, limit exceeded,
//! bad output). IO: reading component files and the compile cache directory;
//! evaluations do none.
//!
//! Policies are wasmtime components bound with `bindgen!` against
//! `wit/policy.wit`. A pure component gets only `plumbline:policy/host`; one
//! that imports WASI 0.2 gets an empty WASI (the `wasi` module docs); anything
//! else is refused at load. Every evaluation gets a fresh `Store` with its
//! own limits ([`Limits`]), on a worker pool that uses every core; a health
//! policy's evaluations within one run reuse instances ([`WarmPolicy`]). The user
//! documentation is `docs/sandbox.md`.

pub mod bindings;
mod cache;
mod compiler;
mod engines;
mod escape;
mod fault;
mod lift;
mod limits;
mod loaded;
mod set;
mod shape;
mod state;
#[cfg(feature = "policy-build")]
pub mod suite;
mod verdict;
mod warm;
mod wasi;

use std::path::PathBuf;
use std::sync::Arc;

use rayon::prelude::*;

use crate::text::error_chain;

pub use cache::CacheStats;
pub use compiler::{compiler_main, COMPILE_SUBCOMMAND};
pub use engines::EPOCH_TICK;
pub use escape::{printable, printable_lines};
pub use fault::{Fault, FaultKind, Role};
pub use limits::{Limit, LimitOverrides, Limits, MAX_STACK_BYTES};
pub use loaded::{name_from_path, ComponentSource, Evaluation, LoadedPolicy, PolicySpec, Roles};
pub use set::{NamedLog, Outcome, PolicySet, Timing};
pub use state::{LogLevel, LogLine, PolicyLog, LOG_LINE_COST};
pub use verdict::{
    Decision, Drift, EvalContext, FieldChange, GroupKind, PolicyInfo, Remediation, Severity,
    SourceInfo, Violation,
};
pub use warm::WarmPolicy;
pub use wasi::FIXED_WALL_CLOCK_SECS;
pub use wasmtime::Trap;

/// A boxed error from wasmtime (whose error type is not `std::error::Error`).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// Errors of loading and evaluating policies.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The host could not start (engine, linker or worker threads).
    #[error("cannot start the policy host")]
    Start(#[source] BoxError),
    /// The component file could not be read.
    #[error("policy `{}`: cannot read {}", printable(policy), path.display())]
    Read {
        /// Configured policy name.
        policy: String,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The policy's limits are out of range.
    #[error("policy `{}`: invalid limits: {reason}", printable(policy))]
    InvalidLimits {
        /// Configured policy name.
        policy: String,
        /// What is wrong.
        reason: String,
    },
    /// The bytes are not a valid component, or cranelift failed; the
    /// message says why (escaped: it may quote the component's names).
    #[error(
        "policy `{}`: not a valid WebAssembly component: {}",
        printable(policy),
        printable(&error_chain(source.as_ref()))
    )]
    Compile {
        /// Configured policy name.
        policy: String,
        /// wasmtime's report.
        #[source]
        source: BoxError,
    },
    /// The compiler executable could not be run, or did not answer as a
    /// Plumbline compiler.
    #[error(
        "policy `{}`: cannot compile: {}",
        printable(policy),
        printable(reason)
    )]
    Compiler {
        /// Configured policy name.
        policy: String,
        /// What went wrong.
        reason: String,
    },
    /// The component cannot run within the sandbox's limits, or compiling
    /// it would exceed the compile budget: refused before it runs.
    #[error("policy `{}` refused at load: {found}, over the {limit} of {value} (`{key}`)", printable(policy), key = limit.key())]
    OverLimit {
        /// Configured policy name.
        policy: String,
        /// The limit.
        limit: Limit,
        /// The limit's value, as a person reads it.
        value: String,
        /// What the component declares or did.
        found: String,
    },
    /// The component imports interfaces the sandbox does not provide.
    #[error("policy `{}` imports what the sandbox does not provide: {}", printable(policy), printable(&imports.join(", ")))]
    UnsatisfiedImports {
        /// Configured policy name.
        policy: String,
        /// Every unsatisfied import, by full name.
        imports: Vec<String>,
    },
    /// The component's imports have the right names but the wrong types.
    #[error(
        "policy `{}`: its imports do not match what the host provides: {}",
        printable(policy),
        printable(&error_chain(source.as_ref()))
    )]
    Link {
        /// Configured policy name.
        policy: String,
        /// wasmtime's report.
        #[source]
        source: BoxError,
    },
    /// The component does not export `plumbline:policy/metadata`.
    #[error(
        "policy `{}` does not export plumbline:policy/metadata@0.1.0",
        printable(policy)
    )]
    NoMetadata {
        /// Configured policy name.
        policy: String,
    },
    /// The component exports none of the roles.
    #[error(
        "policy `{}` exports no role (validator, transformer, remediator or health)",
        printable(policy)
    )]
    NoRoles {
        /// Configured policy name.
        policy: String,
    },
    /// `check-settings` refused the operator's settings.
    #[error(
        "policy `{}` rejected its settings: {}",
        printable(policy),
        printable(message)
    )]
    SettingsRejected {
        /// Configured policy name.
        policy: String,
        /// The policy's own message.
        message: String,
    },
    /// A role was requested that the policy does not export.
    #[error("policy `{}` is not a {role}", printable(policy))]
    RoleMissing {
        /// Configured policy name.
        policy: String,
        /// The requested role.
        role: Role,
    },
    /// A transformer refused the desired state (a verdict, not a fault:
    /// fail-open does not apply).
    #[error(
        "policy `{}` rejected the desired state: {}",
        printable(policy),
        printable(message)
    )]
    TransformRejected {
        /// Configured policy name.
        policy: String,
        /// The policy's own message.
        message: String,
    },
    /// An evaluation faulted (trap, limit exceeded, bad output).
    #[error(transparent)]
    Fault(#[from] Fault),
}

/// Result of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How to build a [`PolicyHost`].
#[derive(Debug, Clone, Default)]
pub struct HostConfig {
    /// Directory of the precompiled-component cache; `None` keeps compiled
    /// components in memory only.
    pub cache_dir: Option<PathBuf>,
    /// Limits of every evaluation unless a policy overrides them.
    pub defaults: Limits,
    /// Evaluation threads; `None` uses one per core.
    pub threads: Option<usize>,
    /// The executable that compiles components, in a child process under
    /// the compile limits: a `plumbline` binary, or any binary that calls
    /// [`compiler_main`] when its first argument is [`COMPILE_SUBCOMMAND`].
    /// `None` is this process's own executable (`std::env::current_exe`),
    /// right for the `plumbline` CLI and controller; programs and tests that
    /// embed the engine set it (integration tests:
    /// `env!("CARGO_BIN_EXE_plumbline")`). Loads served by the compile
    /// cache never run it.
    pub compiler: Option<PathBuf>,
}

/// Loads and runs policies: wasmtime engines, linkers, the compile cache,
/// the epoch ticker and the evaluation thread pool. Cheap to clone; shared
/// by every sync unit.
#[derive(Clone, Debug)]
pub struct PolicyHost {
    inner: Arc<HostInner>,
}

pub(crate) struct HostInner {
    defaults: Limits,
    compiler: PathBuf,
    engines: engines::Engines,
    cache: cache::ComponentCache,
    pool: rayon::ThreadPool,
}

impl std::fmt::Debug for HostInner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HostInner")
            .field("defaults", &self.defaults)
            .field("cache", &self.cache.stats())
            .finish_non_exhaustive()
    }
}

impl PolicyHost {
    /// Start a host: no engine is compiled until the first load.
    pub fn new(config: HostConfig) -> Result<Self> {
        let engines = engines::Engines::new().map_err(|e| Error::Start(e.into()))?;
        let mut pool = rayon::ThreadPoolBuilder::new()
            .thread_name(|i| format!("plumbline-policy-{i}"))
            .stack_size(limits::WORKER_STACK_BYTES);
        if let Some(threads) = config.threads {
            pool = pool.num_threads(threads);
        }
        let pool = pool.build().map_err(|e| Error::Start(e.into()))?;
        let compiler = match config.compiler {
            Some(compiler) => compiler,
            None => std::env::current_exe().map_err(|e| Error::Start(e.into()))?,
        };
        Ok(Self {
            inner: Arc::new(HostInner {
                defaults: config.defaults,
                compiler,
                engines,
                cache: cache::ComponentCache::new(config.cache_dir),
                pool,
            }),
        })
    }

    /// Load one policy: compile (or fetch from the cache), refuse unknown
    /// imports, find its roles, and call `info` and `check-settings`.
    pub fn load(&self, spec: PolicySpec) -> Result<LoadedPolicy> {
        LoadedPolicy::load(Arc::clone(&self.inner), spec)
    }

    /// Load policies in parallel into a set that keeps their order; fails on
    /// the first policy (in order) that does not load.
    pub fn load_set(&self, specs: Vec<PolicySpec>) -> Result<PolicySet> {
        let loaded: Vec<Result<LoadedPolicy>> = self
            .inner
            .pool
            .install(|| specs.into_par_iter().map(|spec| self.load(spec)).collect());
        let policies = loaded.into_iter().collect::<Result<Vec<_>>>()?;
        Ok(PolicySet::new(Arc::clone(&self.inner), policies))
    }

    /// A set of already loaded policies, in the given order.
    pub fn set(&self, policies: Vec<LoadedPolicy>) -> PolicySet {
        PolicySet::new(Arc::clone(&self.inner), policies)
    }

    /// The default limits.
    pub fn defaults(&self) -> &Limits {
        &self.inner.defaults
    }

    /// How component loads were served so far.
    pub fn cache_stats(&self) -> CacheStats {
        self.inner.cache.stats()
    }
}
