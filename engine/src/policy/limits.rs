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
/// frames (see [`WORKER_STACK_BYTES`]).
pub const MAX_STACK_BYTES: usize = 8 << 20;

/// Native stack size of the host's evaluation threads: the largest wasm stack
/// plus room for wasmtime's and the host's frames.
pub(crate) const WORKER_STACK_BYTES: usize = MAX_STACK_BYTES + (4 << 20);

/// The limits applied to one evaluation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Limits {
    /// Wall-clock deadline of one evaluation, instantiation included.
    /// Enforced by epoch interruption: the evaluation traps at most one
    /// ticker period (10 ms) after the deadline.
    #[serde(with = "millis", rename = "timeoutMs")]
    pub timeout: Duration,
    /// Largest size of any linear memory (and the sum the guest may grow to).
    /// A `memory.grow` past it traps.
    pub memory_bytes: u64,
    /// Fuel budget (roughly one unit per wasm instruction); `None` means no
    /// budget. Policies with a budget run on an engine with fuel metering.
    pub fuel: Option<u64>,
    /// Largest total size of the strings a policy returns from one call.
    pub output_bytes: u64,
    /// Largest total size of the log (host `log` plus captured WASI
    /// stdout/stderr) kept from one evaluation; the rest is dropped and
    /// counted.
    pub log_bytes: u64,
    /// Largest wasm stack, at most [`MAX_STACK_BYTES`].
    pub stack_bytes: usize,
}

impl Default for Limits {
    /// The defaults documented in `docs/sandbox.md`.
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(2),
            memory_bytes: 128 << 20,
            fuel: None,
            output_bytes: 8 << 20,
            log_bytes: 64 << 10,
            stack_bytes: 512 << 10,
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
    /// See [`Limits::fuel`]. `Some(0)` is rejected; to remove a default
    /// budget, raise it.
    #[serde(default)]
    pub fuel: Option<u64>,
    /// See [`Limits::output_bytes`].
    #[serde(default)]
    pub output_bytes: Option<u64>,
    /// See [`Limits::log_bytes`].
    #[serde(default)]
    pub log_bytes: Option<u64>,
    /// See [`Limits::stack_bytes`].
    #[serde(default)]
    pub stack_bytes: Option<usize>,
}

impl LimitOverrides {
    /// `defaults` with these overrides applied.
    pub fn apply(&self, defaults: &Limits) -> Limits {
        Limits {
            timeout: self.timeout.unwrap_or(defaults.timeout),
            memory_bytes: self.memory_bytes.unwrap_or(defaults.memory_bytes),
            fuel: self.fuel.or(defaults.fuel),
            output_bytes: self.output_bytes.unwrap_or(defaults.output_bytes),
            log_bytes: self.log_bytes.unwrap_or(defaults.log_bytes),
            stack_bytes: self.stack_bytes.unwrap_or(defaults.stack_bytes),
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
            Limit::Stack => format!("{} bytes", self.stack_bytes),
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
}

impl fmt::Display for Limit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Limit::Timeout => "wall-clock timeout",
            Limit::Memory => "memory limit",
            Limit::Fuel => "fuel budget",
            Limit::Output => "output size limit",
            Limit::Stack => "wasm stack limit",
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
