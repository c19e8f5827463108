//! The host state of one evaluation's `Store`: resource limiter, bounded
//! policy log, and (only for components that import WASI) the empty WASI
//! context. No IO: the log is kept in memory and handed to the caller.

use std::sync::{Arc, Mutex, PoisonError};

use wasmtime::{ResourceLimiter, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtxView, WasiView};

use super::bindings::plumbline::policy::host;
use super::wasi::SandboxWasi;

/// Severity of one policy log line (the WIT `host.level`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// Trace.
    Trace,
    /// Debug.
    Debug,
    /// Info; also WASI stdout.
    Info,
    /// Warning; also WASI stderr.
    Warn,
    /// Error.
    Error,
}

impl From<host::Level> for LogLevel {
    fn from(level: host::Level) -> Self {
        match level {
            host::Level::Trace => LogLevel::Trace,
            host::Level::Debug => LogLevel::Debug,
            host::Level::Info => LogLevel::Info,
            host::Level::Warn => LogLevel::Warn,
            host::Level::Error => LogLevel::Error,
        }
    }
}

/// One line a policy logged.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine {
    /// Severity.
    pub level: LogLevel,
    /// The text, as the policy wrote it.
    pub message: String,
}

/// The log of one evaluation, bounded in bytes: lines past the bound are
/// dropped and counted, never an error.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyLog {
    /// The lines kept, in order.
    pub lines: Vec<LogLine>,
    /// Bytes that were dropped because the bound was reached.
    pub dropped_bytes: u64,
    budget: u64,
}

impl PolicyLog {
    pub(crate) fn new(budget: u64) -> Self {
        Self {
            budget,
            ..Self::default()
        }
    }

    /// Keep `message` if it fits in the remaining budget, else count it.
    pub(crate) fn push(&mut self, level: LogLevel, message: String) {
        let len = message.len() as u64;
        if len <= self.budget {
            self.budget -= len;
            self.lines.push(LogLine { level, message });
        } else {
            self.dropped_bytes += len;
        }
    }
}

/// A [`PolicyLog`] shared between the store and WASI output streams.
pub(crate) type SharedLog = Arc<Mutex<PolicyLog>>;

/// Append to a shared log, surviving a poisoned lock (a panic elsewhere
/// cannot corrupt a `Vec` push).
pub(crate) fn append(log: &SharedLog, level: LogLevel, message: String) {
    log.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(level, message);
}

/// `StoreLimits` plus a record of whether it refused a memory growth, so a
/// refused growth is reported as the memory limit rather than a bare trap.
pub(crate) struct Limiter {
    inner: StoreLimits,
    pub(crate) memory_refused: bool,
}

impl Limiter {
    pub(crate) fn new(memory_bytes: usize) -> Self {
        Self {
            inner: StoreLimitsBuilder::new()
                .memory_size(memory_bytes)
                .trap_on_grow_failure(true)
                .build(),
            memory_refused: false,
        }
    }
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let verdict = self.inner.memory_growing(current, desired, maximum);
        if !matches!(verdict, Ok(true)) {
            self.memory_refused = true;
        }
        verdict
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.inner.table_growing(current, desired, maximum)
    }

    fn instances(&self) -> usize {
        self.inner.instances()
    }

    fn tables(&self) -> usize {
        self.inner.tables()
    }

    fn memories(&self) -> usize {
        self.inner.memories()
    }
}

/// The `T` of every policy `Store`.
pub(crate) struct StoreState {
    pub(crate) limiter: Limiter,
    pub(crate) log: SharedLog,
    /// Built on first use, so pure components never pay for it.
    wasi: Option<SandboxWasi>,
}

impl StoreState {
    pub(crate) fn new(memory_bytes: usize, log_bytes: u64) -> Self {
        Self {
            limiter: Limiter::new(memory_bytes),
            log: Arc::new(Mutex::new(PolicyLog::new(log_bytes))),
            wasi: None,
        }
    }

    /// The WASI state, built on first use.
    pub(crate) fn wasi(&mut self) -> &mut SandboxWasi {
        let log = &self.log;
        self.wasi.get_or_insert_with(|| SandboxWasi::new(log))
    }

    /// The log written so far.
    pub(crate) fn take_log(&self) -> PolicyLog {
        std::mem::take(&mut *self.log.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl host::Host for StoreState {
    fn log(&mut self, level: host::Level, message: String) {
        append(&self.log, level.into(), message);
    }
}

/// `types` has no functions; the impl only lets the (empty) instance be
/// linked for components that import it.
impl super::bindings::plumbline::policy::types::Host for StoreState {}

impl WasiView for StoreState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        self.wasi().view()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_keeps_lines_within_budget_and_counts_the_rest() {
        let mut log = PolicyLog::new(10);
        log.push(LogLevel::Info, "12345".into());
        log.push(LogLevel::Warn, "1234567".into());
        log.push(LogLevel::Error, "12345".into());
        let kept: Vec<_> = log.lines.iter().map(|l| l.message.as_str()).collect();
        assert_eq!(kept, ["12345", "12345"]);
        assert_eq!(log.dropped_bytes, 7);
    }
}
