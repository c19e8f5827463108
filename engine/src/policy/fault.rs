//! Faults: an evaluation that failed because of the policy's *behaviour*
//! (trap, limit exceeded, malformed output), as opposed to a verdict the
//! policy returned. No IO.
//!
//! [`classify`] turns the error of a wasmtime call into a [`FaultKind`],
//! using the store's record of a refused memory growth and
//! `downcast::<Trap>()` for everything else.

use std::fmt;

use wasmtime::Trap;

use super::escape::printable;
use super::limits::{Limit, Limits};

/// The part of the contract an evaluation exercised.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// `metadata` (`info` and `check-settings`, called at load time).
    Metadata,
    /// `validator.validate`.
    Validator,
    /// `transformer.transform`.
    Transformer,
    /// `remediator.remediate`.
    Remediator,
    /// `health.kinds` (at load time) and `health.assess`.
    Health,
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Role::Metadata => "metadata",
            Role::Validator => "validator",
            Role::Transformer => "transformer",
            Role::Remediator => "remediator",
            Role::Health => "health",
        })
    }
}

/// One evaluation of one policy failed; the engine keeps running and the
/// next evaluation starts from a fresh instance.
#[derive(Debug, thiserror::Error)]
#[error("policy `{}` ({role}) faulted: {kind}", printable(policy))]
pub struct Fault {
    /// The configured name of the policy.
    pub policy: String,
    /// The role that was being evaluated.
    pub role: Role,
    /// What went wrong.
    #[source]
    pub kind: FaultKind,
}

/// What went wrong in a faulted evaluation.
#[derive(Debug, thiserror::Error)]
pub enum FaultKind {
    /// A limit was exceeded; `value` is the limit in force.
    #[error("exceeded the {limit} of {value}")]
    LimitExceeded {
        /// Which limit.
        limit: Limit,
        /// The limit's value, as a person reads it.
        value: String,
    },
    /// The guest trapped (`unreachable`, out-of-bounds access, a panic in the
    /// guest language, ...).
    #[error("trapped: {trap}")]
    Trap {
        /// The trap code.
        trap: Trap,
        /// wasmtime's full report, with the guest backtrace when available.
        detail: String,
    },
    /// The guest returned something the contract does not allow (e.g. a
    /// transformer output that is not a JSON object).
    #[error("returned bad output: {}", printable(.0))]
    BadOutput(String),
    /// The call failed for another reason (instantiation, a host function
    /// error, a type mismatch found at call time).
    #[error("failed: {}", printable(.0))]
    Other(String),
}

/// Classify the error of a call into the guest.
///
/// `refused` is the limit the store's limiter refused a memory or table
/// creation or growth with, if it did; it takes precedence, because the trap
/// it causes carries no trap code of its own. wasmtime refuses a memory,
/// table or instance past the limiter's counts itself, with an error whose
/// text names the count ("resource limit exceeded: memory count too high");
/// load-time checks refuse such components first, so this is a backstop.
/// wasmtime's hostcall fuel running out (see [`super::lift::hostcall_fuel`])
/// is reported as the output limits.
pub(crate) fn classify(
    error: wasmtime::Error,
    refused: Option<Limit>,
    limits: &Limits,
) -> FaultKind {
    let exceeded = |limit| FaultKind::LimitExceeded {
        limit,
        value: limits.describe(limit),
    };
    if let Some(limit) = refused {
        return exceeded(limit);
    }
    let message = error.to_string();
    if message.contains("fuel allocated for hostcalls has been exhausted") {
        // The result (or a `log` line) is larger than the output limits
        // allow: see `lift::hostcall_fuel`.
        return FaultKind::LimitExceeded {
            limit: Limit::Output,
            value: super::lift::exhausted(limits),
        };
    }
    for (text, limit) in [
        ("memory count too high", Limit::Memories),
        ("table count too high", Limit::Tables),
        ("instance count too high", Limit::Instances),
    ] {
        if message.contains(text) {
            return exceeded(limit);
        }
    }
    let detail = format!("{error:?}");
    match error.downcast::<Trap>() {
        Ok(Trap::Interrupt) => exceeded(Limit::Timeout),
        Ok(Trap::OutOfFuel) => exceeded(Limit::Fuel),
        Ok(Trap::StackOverflow) => exceeded(Limit::Stack),
        Ok(trap) => FaultKind::Trap { trap, detail },
        Err(_) => FaultKind::Other(detail),
    }
}
