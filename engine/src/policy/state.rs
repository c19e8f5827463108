//! The host state of one evaluation's `Store`: resource limiter, bounded
//! policy log, and (only for components that import WASI) the empty WASI
//! context. No IO: the log is kept in memory and handed to the caller.

use std::sync::{Arc, Mutex, PoisonError};

use wasmtime::ResourceLimiter;
use wasmtime_wasi::{WasiCtxView, WasiView};

use super::bindings::plumbline::policy::host;
use super::limits::{Limit, Limits};
use super::shape::TABLE_ELEMENT_BYTES;
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

/// What every kept log line costs against the byte budget on top of its
/// text: the host's own bookkeeping of one line. An empty line is not free,
/// so a loop of `log("")` exhausts the budget like any other.
pub const LOG_LINE_COST: u64 = 64;

/// The log of one evaluation, bounded in bytes and in lines: lines past
/// either bound are dropped and counted, never an error.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PolicyLog {
    /// The lines kept, in order.
    pub lines: Vec<LogLine>,
    /// Bytes of text that were dropped because a bound was reached.
    pub dropped_bytes: u64,
    /// Lines that were dropped because a bound was reached (empty ones
    /// included).
    pub dropped_lines: u64,
    budget: u64,
    max_lines: u64,
}

impl PolicyLog {
    pub(crate) fn new(limits: &Limits) -> Self {
        Self {
            budget: limits.log_bytes,
            max_lines: limits.log_lines,
            ..Self::default()
        }
    }

    /// Keep `message` if it fits in the remaining budget (its length plus
    /// [`LOG_LINE_COST`]) and under the line cap, else count it.
    pub(crate) fn push(&mut self, level: LogLevel, message: String) {
        let len = message.len() as u64;
        let cost = len.saturating_add(LOG_LINE_COST);
        if cost <= self.budget && (self.lines.len() as u64) < self.max_lines {
            self.budget -= cost;
            self.lines.push(LogLine { level, message });
        } else {
            self.dropped_bytes = self.dropped_bytes.saturating_add(len);
            self.dropped_lines = self.dropped_lines.saturating_add(1);
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

/// The resource limiter of one evaluation: one memory budget shared by
/// every linear memory and table of every instance in the store (tables
/// charged [`TABLE_ELEMENT_BYTES`] per element), a cap on the size of one
/// table, and caps on the number of memories, tables and instances.
///
/// wasmtime asks before creating a memory or table (`current == 0`) and
/// before every growth, so the sum of what it allowed is an upper bound of
/// what the guest can touch. A refusal is an error (a trap in the guest),
/// recorded in [`Limiter::refused`] so the fault names the limit.
pub(crate) struct Limiter {
    budget: u64,
    used: u64,
    /// Charged by the last allowed growth, returned if the growth then
    /// failed anyway.
    last_charge: u64,
    table_elements: u64,
    memories: usize,
    tables: usize,
    instances: usize,
    /// The limit that refused a creation or growth, if one did.
    pub(crate) refused: Option<Limit>,
}

impl Limiter {
    pub(crate) fn new(limits: &Limits) -> Self {
        let count = |n: u32| usize::try_from(n).unwrap_or(usize::MAX);
        Self {
            budget: limits.memory_bytes,
            used: 0,
            last_charge: 0,
            table_elements: limits.table_elements,
            memories: count(limits.max_memories),
            tables: count(limits.max_tables),
            instances: count(limits.max_instances),
            refused: None,
        }
    }

    /// Bytes charged to the budget so far.
    #[cfg(test)]
    pub(crate) fn used(&self) -> u64 {
        self.used
    }

    /// Charge `bytes` to the budget, or refuse with `limit`.
    fn charge(&mut self, bytes: u64, limit: Limit) -> wasmtime::Result<bool> {
        match self.used.checked_add(bytes) {
            Some(total) if total <= self.budget => {
                self.used = total;
                self.last_charge = bytes;
                Ok(true)
            }
            _ => self.refuse(limit),
        }
    }

    fn refuse(&mut self, limit: Limit) -> wasmtime::Result<bool> {
        self.refused.get_or_insert(limit);
        self.last_charge = 0;
        Err(wasmtime::format_err!("policy sandbox: {limit} reached"))
    }

    fn undo_last(&mut self) {
        self.used = self.used.saturating_sub(self.last_charge);
        self.last_charge = 0;
    }
}

impl ResourceLimiter for Limiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if maximum.is_some_and(|max| desired > max) {
            // Past the memory's own maximum: `memory.grow` returns -1 as
            // the spec says; nothing is allocated.
            return Ok(false);
        }
        self.charge(desired.saturating_sub(current) as u64, Limit::Memory)
    }

    fn memory_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.undo_last();
        Ok(())
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if maximum.is_some_and(|max| desired > max) {
            return Ok(false);
        }
        if desired as u64 > self.table_elements {
            return self.refuse(Limit::TableElements);
        }
        let elements = desired.saturating_sub(current) as u64;
        self.charge(elements.saturating_mul(TABLE_ELEMENT_BYTES), Limit::Memory)
    }

    fn table_grow_failed(&mut self, _error: wasmtime::Error) -> wasmtime::Result<()> {
        self.undo_last();
        Ok(())
    }

    fn instances(&self) -> usize {
        self.instances
    }

    fn tables(&self) -> usize {
        self.tables
    }

    fn memories(&self) -> usize {
        self.memories
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
    pub(crate) fn new(limits: &Limits) -> Self {
        Self {
            limiter: Limiter::new(limits),
            log: Arc::new(Mutex::new(PolicyLog::new(limits))),
            wasi: None,
        }
    }

    /// The WASI state, built on first use.
    pub(crate) fn wasi(&mut self) -> &mut SandboxWasi {
        let log = &self.log;
        self.wasi.get_or_insert_with(|| SandboxWasi::new(log))
    }

    /// The log written so far, leaving an empty log with the whole budget
    /// of `limits` for the store's next call.
    pub(crate) fn take_log(&self, limits: &Limits) -> PolicyLog {
        let mut log = self.log.lock().unwrap_or_else(PoisonError::into_inner);
        std::mem::replace(&mut *log, PolicyLog::new(limits))
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
        let limits = Limits {
            log_bytes: 10 + 2 * LOG_LINE_COST,
            ..Limits::default()
        };
        let mut log = PolicyLog::new(&limits);
        log.push(LogLevel::Info, "12345".into());
        log.push(LogLevel::Warn, "1234567".into());
        log.push(LogLevel::Error, "12345".into());
        let kept: Vec<_> = log.lines.iter().map(|l| l.message.as_str()).collect();
        assert_eq!(kept, ["12345", "12345"]);
        assert_eq!((log.dropped_bytes, log.dropped_lines), (7, 1));
    }

    #[test]
    fn empty_log_lines_are_charged_and_capped() {
        // Every line costs LOG_LINE_COST: the byte budget runs out.
        let limits = Limits {
            log_bytes: 10 * LOG_LINE_COST,
            ..Limits::default()
        };
        let mut log = PolicyLog::new(&limits);
        for _ in 0..1000 {
            log.push(LogLevel::Info, String::new());
        }
        assert_eq!((log.lines.len(), log.dropped_lines), (10, 990));
        // The line cap holds whatever the byte budget.
        let limits = Limits {
            log_bytes: u64::MAX,
            log_lines: 3,
            ..Limits::default()
        };
        let mut log = PolicyLog::new(&limits);
        for _ in 0..5 {
            log.push(LogLevel::Info, "x".into());
        }
        assert_eq!((log.lines.len(), log.dropped_lines), (3, 2));
        assert_eq!(log.dropped_bytes, 2);
    }

    #[test]
    fn one_budget_is_shared_by_every_memory_and_table() {
        let limits = Limits {
            memory_bytes: 10 << 16,
            table_elements: 100,
            ..Limits::default()
        };
        let mut l = Limiter::new(&limits);
        // Two memories of 4 pages each fit; a third does not.
        assert!(l.memory_growing(0, 4 << 16, None).unwrap());
        assert!(l.memory_growing(0, 4 << 16, None).unwrap());
        assert!(l.memory_growing(0, 4 << 16, None).is_err());
        assert_eq!(l.refused, Some(Limit::Memory));
        assert_eq!(l.used(), 8 << 16);
        // A table counts 8 bytes per element against the same budget.
        let mut l = Limiter::new(&limits);
        assert!(l.table_growing(0, 50, None).unwrap());
        assert_eq!(l.used(), 400);
        assert!(l.table_growing(50, 101, None).is_err());
        assert_eq!(l.refused, Some(Limit::TableElements));
        // A growth past the memory's own maximum is a plain failure.
        let mut l = Limiter::new(&limits);
        assert!(!l.memory_growing(0, 2 << 16, Some(1 << 16)).unwrap());
        assert_eq!((l.used(), l.refused), (0, None));
        // A growth that then fails is not charged.
        assert!(l.memory_growing(0, 2 << 16, None).unwrap());
        l.memory_grow_failed(wasmtime::format_err!("mmap")).unwrap();
        assert_eq!(l.used(), 0);
    }
}
