//! The resource limits of one policy evaluation: defaults, per-policy
//! overrides, and the names used in error messages. No IO.
//!
//! Every evaluation (including the `info`/`check-settings` calls made at load
//! time) runs under a [`Limits`] value: the host's defaults with the policy's
//! [`LimitOverrides`] applied on top.

use std::fmt;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The largest wasm stack a policy may ask for. Evaluations run on the host's
/// worker threads, whose native stacks are sized for this plus the host's own
/// frames (see `WORKER_STACK_BYTES`).
pub const MAX_STACK_BYTES: usize = 8 << 20;

/// Native stack size of the host's evaluation threads: the largest wasm stack
/// plus room for wasmtime's and the host's frames.
pub(crate) const WORKER_STACK_BYTES: usize = MAX_STACK_BYTES + (4 << 20);

/// Default [`Limits::max_memories`].
pub const DEFAULT_MAX_MEMORIES: u32 = 4;
/// Default [`Limits::max_tables`].
pub const DEFAULT_MAX_TABLES: u32 = 32;
/// Default [`Limits::max_instances`].
pub const DEFAULT_MAX_INSTANCES: u32 = 100;
/// Default [`Limits::table_elements`].
pub const DEFAULT_TABLE_ELEMENTS: u64 = 1 << 20;
/// Default [`Limits::log_lines`].
pub const DEFAULT_LOG_LINES: u64 = 1000;
/// Default [`Limits::output_items`].
pub const DEFAULT_OUTPUT_ITEMS: u64 = 100_000;
/// Default [`Limits::component_bytes`].
pub const DEFAULT_COMPONENT_BYTES: u64 = 32 << 20;
/// Default [`Limits::function_bytes`].
pub const DEFAULT_FUNCTION_BYTES: u64 = 1 << 20;
/// Default [`Limits::compile_timeout`].
pub const DEFAULT_COMPILE_TIMEOUT: Duration = Duration::from_secs(120);
/// Default [`Limits::max_functions`].
pub const DEFAULT_MAX_FUNCTIONS: u64 = 50_000;
/// Default [`Limits::code_bytes`].
pub const DEFAULT_CODE_BYTES: u64 = 24 << 20;
/// Default [`Limits::function_locals_bytes`].
pub const DEFAULT_FUNCTION_LOCALS_BYTES: u64 = 1 << 27;
/// Default [`Limits::element_items`].
pub const DEFAULT_ELEMENT_ITEMS: u64 = 100_000;
/// Default [`Limits::component_nesting`].
pub const DEFAULT_COMPONENT_NESTING: u32 = 16;
/// Default [`Limits::compile_memory_bytes`].
pub const DEFAULT_COMPILE_MEMORY_BYTES: u64 = 2 << 30;

/// The limits applied to one evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct Limits {
    /// Wall-clock deadline of one evaluation, instantiation included.
    /// Enforced by epoch interruption: the evaluation traps at most one
    /// ticker period (10 ms) after the deadline.
    #[serde(with = "millis", rename = "timeoutMs")]
    pub timeout: Duration,
    /// The memory budget of one evaluation: the sum of every linear memory
    /// and every table (8 bytes per element) of every instance. A
    /// `memory.grow` or `table.grow` past it traps; a component whose
    /// declared minimums exceed it is refused at load.
    pub memory_bytes: u64,
    /// Most linear memories one evaluation may create.
    pub max_memories: u32,
    /// Most tables one evaluation may create.
    pub max_tables: u32,
    /// Most core module instances one evaluation may create.
    pub max_instances: u32,
    /// Largest size of one table, in elements.
    pub table_elements: u64,
    /// Fuel budget (roughly one unit per wasm instruction); `None` means no
    /// budget. Policies with a budget run on an engine with fuel metering.
    pub fuel: Option<u64>,
    /// Largest total size of the strings a policy returns from one call.
    pub output_bytes: u64,
    /// Most items (violations, objects) a policy returns from one call.
    pub output_items: u64,
    /// Largest total size of the log (host `log` plus captured WASI
    /// stdout/stderr) kept from one evaluation, each line charged its
    /// length plus [`LOG_LINE_COST`](crate::policy::LOG_LINE_COST); the rest is dropped and
    /// counted.
    pub log_bytes: u64,
    /// Most log lines kept from one evaluation; the rest are dropped and
    /// counted.
    pub log_lines: u64,
    /// Largest wasm stack, at most [`MAX_STACK_BYTES`].
    pub stack_bytes: usize,
    /// Largest component, in bytes; checked before compiling.
    pub component_bytes: u64,
    /// Largest function body, in bytes; checked before compiling.
    pub function_bytes: u64,
    /// Most function bodies, summed over core modules; checked before
    /// compiling.
    pub max_functions: u64,
    /// Largest total size of all function bodies, in bytes; checked before
    /// compiling.
    pub code_bytes: u64,
    /// Largest product of one function's declared locals and its body size
    /// in bytes; checked before compiling.
    pub function_locals_bytes: u64,
    /// Most items of all element segments together; checked before
    /// compiling.
    pub element_items: u64,
    /// Deepest nesting of components; checked before compiling.
    pub component_nesting: u32,
    /// Longest compilation at load, in wall-clock time and in CPU time of
    /// the compile child process (rounded up to whole seconds). Past either
    /// the child is killed and the load refused.
    #[serde(with = "millis", rename = "compileTimeoutMs")]
    pub compile_timeout: Duration,
    /// Address space of the compile child process (`RLIMIT_AS`): what
    /// compiling may take, memory mapped for the compiler itself included.
    pub compile_memory_bytes: u64,
}

impl Default for Limits {
    /// The defaults documented in `docs/sandbox.md`.
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(2),
            memory_bytes: 128 << 20,
            max_memories: DEFAULT_MAX_MEMORIES,
            max_tables: DEFAULT_MAX_TABLES,
            max_instances: DEFAULT_MAX_INSTANCES,
            table_elements: DEFAULT_TABLE_ELEMENTS,
            fuel: None,
            output_bytes: 8 << 20,
            output_items: DEFAULT_OUTPUT_ITEMS,
            log_bytes: 64 << 10,
            log_lines: DEFAULT_LOG_LINES,
            stack_bytes: 512 << 10,
            component_bytes: DEFAULT_COMPONENT_BYTES,
            function_bytes: DEFAULT_FUNCTION_BYTES,
            max_functions: DEFAULT_MAX_FUNCTIONS,
            code_bytes: DEFAULT_CODE_BYTES,
            function_locals_bytes: DEFAULT_FUNCTION_LOCALS_BYTES,
            element_items: DEFAULT_ELEMENT_ITEMS,
            component_nesting: DEFAULT_COMPONENT_NESTING,
            compile_timeout: DEFAULT_COMPILE_TIMEOUT,
            compile_memory_bytes: DEFAULT_COMPILE_MEMORY_BYTES,
        }
    }
}

/// Per-policy changes to the host's default [`Limits`]; `None` keeps the
/// default.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LimitOverrides {
    /// See [`Limits::timeout`].
    #[serde(default, with = "opt_millis", rename = "timeoutMs")]
    pub timeout: Option<Duration>,
    /// See [`Limits::memory_bytes`].
    #[serde(default)]
    pub memory_bytes: Option<u64>,
    /// See [`Limits::max_memories`].
    #[serde(default)]
    pub max_memories: Option<u32>,
    /// See [`Limits::max_tables`].
    #[serde(default)]
    pub max_tables: Option<u32>,
    /// See [`Limits::max_instances`].
    #[serde(default)]
    pub max_instances: Option<u32>,
    /// See [`Limits::table_elements`].
    #[serde(default)]
    pub table_elements: Option<u64>,
    /// See [`Limits::fuel`]. `Some(0)` is rejected; to remove a default
    /// budget, raise it.
    #[serde(default)]
    pub fuel: Option<u64>,
    /// See [`Limits::output_bytes`].
    #[serde(default)]
    pub output_bytes: Option<u64>,
    /// See [`Limits::output_items`].
    #[serde(default)]
    pub output_items: Option<u64>,
    /// See [`Limits::log_bytes`].
    #[serde(default)]
    pub log_bytes: Option<u64>,
    /// See [`Limits::log_lines`].
    #[serde(default)]
    pub log_lines: Option<u64>,
    /// See [`Limits::stack_bytes`].
    #[serde(default)]
    pub stack_bytes: Option<usize>,
    /// See [`Limits::component_bytes`].
    #[serde(default)]
    pub component_bytes: Option<u64>,
    /// See [`Limits::function_bytes`].
    #[serde(default)]
    pub function_bytes: Option<u64>,
    /// See [`Limits::max_functions`].
    #[serde(default)]
    pub max_functions: Option<u64>,
    /// See [`Limits::code_bytes`].
    #[serde(default)]
    pub code_bytes: Option<u64>,
    /// See [`Limits::function_locals_bytes`].
    #[serde(default)]
    pub function_locals_bytes: Option<u64>,
    /// See [`Limits::element_items`].
    #[serde(default)]
    pub element_items: Option<u64>,
    /// See [`Limits::component_nesting`].
    #[serde(default)]
    pub component_nesting: Option<u32>,
    /// See [`Limits::compile_timeout`].
    #[serde(default, with = "opt_millis", rename = "compileTimeoutMs")]
    pub compile_timeout: Option<Duration>,
    /// See [`Limits::compile_memory_bytes`].
    #[serde(default)]
    pub compile_memory_bytes: Option<u64>,
}

impl LimitOverrides {
    /// `defaults` with these overrides applied.
    pub fn apply(&self, defaults: &Limits) -> Limits {
        Limits {
            timeout: self.timeout.unwrap_or(defaults.timeout),
            memory_bytes: self.memory_bytes.unwrap_or(defaults.memory_bytes),
            max_memories: self.max_memories.unwrap_or(defaults.max_memories),
            max_tables: self.max_tables.unwrap_or(defaults.max_tables),
            max_instances: self.max_instances.unwrap_or(defaults.max_instances),
            table_elements: self.table_elements.unwrap_or(defaults.table_elements),
            fuel: self.fuel.or(defaults.fuel),
            output_bytes: self.output_bytes.unwrap_or(defaults.output_bytes),
            output_items: self.output_items.unwrap_or(defaults.output_items),
            log_bytes: self.log_bytes.unwrap_or(defaults.log_bytes),
            log_lines: self.log_lines.unwrap_or(defaults.log_lines),
            stack_bytes: self.stack_bytes.unwrap_or(defaults.stack_bytes),
            component_bytes: self.component_bytes.unwrap_or(defaults.component_bytes),
            function_bytes: self.function_bytes.unwrap_or(defaults.function_bytes),
            max_functions: self.max_functions.unwrap_or(defaults.max_functions),
            code_bytes: self.code_bytes.unwrap_or(defaults.code_bytes),
            function_locals_bytes: self
                .function_locals_bytes
                .unwrap_or(defaults.function_locals_bytes),
            element_items: self.element_items.unwrap_or(defaults.element_items),
            component_nesting: self.component_nesting.unwrap_or(defaults.component_nesting),
            compile_timeout: self.compile_timeout.unwrap_or(defaults.compile_timeout),
            compile_memory_bytes: self
                .compile_memory_bytes
                .unwrap_or(defaults.compile_memory_bytes),
        }
    }
}

impl Limits {
    /// Why these limits cannot be used, if they cannot.
    pub(crate) fn problem(&self) -> Option<String> {
        if self.timeout.is_zero() {
            return Some("timeoutMs must be positive".into());
        }
        if self.fuel == Some(0) {
            return Some("fuel must be positive".into());
        }
        if self.stack_bytes == 0 || self.stack_bytes > MAX_STACK_BYTES {
            return Some(format!(
                "stackBytes must be between 1 and {MAX_STACK_BYTES}, got {}",
                self.stack_bytes
            ));
        }
        if usize::try_from(self.memory_bytes).is_err() {
            return Some(format!("memoryBytes {} is too large", self.memory_bytes));
        }
        if self.compile_timeout.is_zero() {
            return Some("compileTimeoutMs must be positive".into());
        }
        if self.compile_memory_bytes == 0 {
            return Some("compileMemoryBytes must be positive".into());
        }
        None
    }

    /// The limit of `kind` as a person reads it, e.g. `2s` or `134217728 bytes`.
    pub fn describe(&self, kind: Limit) -> String {
        match kind {
            Limit::Timeout => format!("{:?}", self.timeout),
            Limit::Memory => format!("{} bytes", self.memory_bytes),
            Limit::Fuel => match self.fuel {
                Some(fuel) => format!("{fuel} units"),
                None => "unlimited".into(),
            },
            Limit::Output => format!("{} bytes", self.output_bytes),
            Limit::OutputItems => format!("{} items", self.output_items),
            Limit::Stack => format!("{} bytes", self.stack_bytes),
            Limit::Memories => self.max_memories.to_string(),
            Limit::Tables => self.max_tables.to_string(),
            Limit::Instances => self.max_instances.to_string(),
            Limit::TableElements => format!("{} elements", self.table_elements),
            Limit::ComponentSize => format!("{} bytes", self.component_bytes),
            Limit::FunctionSize => format!("{} bytes", self.function_bytes),
            Limit::CompileTime => format!("{:?}", self.compile_timeout),
            Limit::Functions => self.max_functions.to_string(),
            Limit::CodeSize => format!("{} bytes", self.code_bytes),
            Limit::FunctionLocals => format!("{} local-bytes", self.function_locals_bytes),
            Limit::ElementItems => format!("{} items", self.element_items),
            Limit::ComponentNesting => format!("{} levels", self.component_nesting),
            Limit::CompileMemory => format!("{} bytes", self.compile_memory_bytes),
        }
    }
}

/// A limit whose excess fails an evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Limit {
    /// [`Limits::timeout`].
    Timeout,
    /// [`Limits::memory_bytes`].
    Memory,
    /// [`Limits::fuel`].
    Fuel,
    /// [`Limits::output_bytes`].
    Output,
    /// [`Limits::stack_bytes`].
    Stack,
    /// [`Limits::output_items`].
    OutputItems,
    /// [`Limits::max_memories`].
    Memories,
    /// [`Limits::max_tables`].
    Tables,
    /// [`Limits::max_instances`].
    Instances,
    /// [`Limits::table_elements`].
    TableElements,
    /// [`Limits::component_bytes`] (at load).
    ComponentSize,
    /// [`Limits::function_bytes`] (at load).
    FunctionSize,
    /// [`Limits::compile_timeout`] (at load).
    CompileTime,
    /// [`Limits::max_functions`] (at load).
    Functions,
    /// [`Limits::code_bytes`] (at load).
    CodeSize,
    /// [`Limits::function_locals_bytes`] (at load).
    FunctionLocals,
    /// [`Limits::element_items`] (at load).
    ElementItems,
    /// [`Limits::component_nesting`] (at load).
    ComponentNesting,
    /// [`Limits::compile_memory_bytes`] (at load).
    CompileMemory,
}

impl Limit {
    /// The key that overrides this limit (in [`LimitOverrides`]' JSON/YAML).
    pub fn key(&self) -> &'static str {
        match self {
            Limit::Timeout => "timeoutMs",
            Limit::Memory => "memoryBytes",
            Limit::Fuel => "fuel",
            Limit::Output => "outputBytes",
            Limit::OutputItems => "outputItems",
            Limit::Stack => "stackBytes",
            Limit::Memories => "maxMemories",
            Limit::Tables => "maxTables",
            Limit::Instances => "maxInstances",
            Limit::TableElements => "tableElements",
            Limit::ComponentSize => "componentBytes",
            Limit::FunctionSize => "functionBytes",
            Limit::CompileTime => "compileTimeoutMs",
            Limit::Functions => "maxFunctions",
            Limit::CodeSize => "codeBytes",
            Limit::FunctionLocals => "functionLocalsBytes",
            Limit::ElementItems => "elementItems",
            Limit::ComponentNesting => "componentNesting",
            Limit::CompileMemory => "compileMemoryBytes",
        }
    }
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Limit::Timeout => "wall-clock timeout",
            Limit::Memory => "memory limit",
            Limit::Fuel => "fuel budget",
            Limit::Output => "output size limit",
            Limit::OutputItems => "output item limit",
            Limit::Stack => "wasm stack limit",
            Limit::Memories => "memory count limit",
            Limit::Tables => "table count limit",
            Limit::Instances => "instance count limit",
            Limit::TableElements => "table size limit",
            Limit::ComponentSize => "component size limit",
            Limit::FunctionSize => "function size limit",
            Limit::CompileTime => "compile time limit",
            Limit::Functions => "function count limit",
            Limit::CodeSize => "code size limit",
            Limit::FunctionLocals => "function locals limit",
            Limit::ElementItems => "element segment limit",
            Limit::ComponentNesting => "component nesting limit",
            Limit::CompileMemory => "compile memory limit",
        })
    }
}

mod millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        u64::deserialize(d).map(Duration::from_millis)
    }
}

mod opt_millis {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => super::millis::serialize(d, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Option::<u64>::deserialize(d).map(|ms| ms.map(Duration::from_millis))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overrides_replace_only_what_they_name() {
        let defaults = Limits::default();
        let o: LimitOverrides =
            serde_json::from_str(r#"{"timeoutMs": 250, "fuel": 1000}"#).unwrap();
        let l = o.apply(&defaults);
        assert_eq!(l.timeout, Duration::from_millis(250));
        assert_eq!(l.fuel, Some(1000));
        assert_eq!(l.memory_bytes, defaults.memory_bytes);
        assert_eq!(l.stack_bytes, defaults.stack_bytes);
    }

    #[test]
    fn unknown_override_keys_and_bad_values_are_rejected() {
        assert!(serde_json::from_str::<LimitOverrides>(r#"{"timeout": 1}"#).is_err());
        let l = LimitOverrides {
            stack_bytes: Some(MAX_STACK_BYTES + 1),
            ..Default::default()
        }
        .apply(&Limits::default());
        assert!(l.problem().unwrap().contains("stackBytes"));
        assert!(Limits::default().problem().is_none());
    }
}
