//! Instances of a policy kept between the evaluations of one run, for the
//! role the host asks once per object (`health`). No IO.
//!
//! Every other evaluation gets a fresh `Store` and instance. For a health
//! policy, asked about each object of a sync one at a time, that fresh
//! instance is most of the cost: creating the store, mapping and
//! initialising linear memory, and the page faults of a guest touching its
//! stack and heap for the first time — tens of microseconds for a call
//! whose own work takes a few. A [`WarmPolicy`] keeps the instance of each
//! successful evaluation and gives it to the next one.
//!
//! Why reuse is safe for health, and what still holds per call:
//!
//! - **The contract makes `assess` a function of its arguments.** A
//!   policy that keeps state between calls (a global, the WASI random
//!   stream or virtual clock) could answer differently for an object
//!   depending on which objects its instance judged before, and in a batch
//!   that order depends on scheduling — that is a bug of the policy, not a
//!   hole in the sandbox: an instance only ever sees objects of the run
//!   that created it (one [`WarmPolicy`] per run and policy, dropped with
//!   it), which the same policy is shown anyway.
//! - **Time, fuel and output are per call.** Before each call the epoch
//!   deadline is set again from the policy's `timeoutMs`, the fuel is
//!   filled to `fuel` again, the log starts empty with its whole budget,
//!   and wasmtime's hostcall fuel (the output bound) is per call by
//!   definition.
//! - **Memory is per instance.** `memoryBytes` bounds all the memory the
//!   instance ever grew; linear memory never shrinks, so a call may find
//!   memory an earlier call grew. If a call on a reused instance is refused
//!   memory (or a table), it is run again on a fresh instance and that
//!   answer counts: what earlier calls left behind never fails an object
//!   that fits on its own.
//! - **A fault discards the instance.** An instance whose call failed in any
//!   way (trap, limit, a host error) is dropped, never reused: the next call
//!   gets a fresh one, so a trap in one object cannot touch another's
//!   verdict.
//! - **Idle instances are bounded** by the number of evaluations running at
//!   once (at most the host's evaluation threads), each within its memory
//!   limit, and freed when the run's [`WarmPolicy`] is dropped.

use std::sync::{Mutex, PoisonError};

use serde_json::Value;
use wasmtime::component::Instance;
use wasmtime::Store;

use super::loaded::{Evaluation, LoadedPolicy};
use super::state::StoreState;
use super::verdict::EvalContext;
use super::Result;
use crate::health::Health;

/// An instance that answered its last call, with its store.
pub(crate) struct Warm {
    pub(crate) store: Store<StoreState>,
    pub(crate) instance: Instance,
}

/// The idle instances of one policy: taken by an evaluation, given back
/// when it succeeds.
#[derive(Default)]
pub(crate) struct Idle(Mutex<Vec<Warm>>);

impl Idle {
    /// An idle instance, if there is one.
    pub(crate) fn take(&self) -> Option<Warm> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).pop()
    }

    /// Keep `warm` for the next evaluation.
    pub(crate) fn give_back(&self, warm: Warm) {
        self.0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(warm);
    }

    fn len(&self) -> usize {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).len()
    }
}

/// A health policy whose instances are kept between its evaluations, for
/// one run (see the module docs for why that is safe). Create one per run
/// and policy; the instances are freed when it is dropped.
pub struct WarmPolicy {
    policy: LoadedPolicy,
    idle: Idle,
}

impl std::fmt::Debug for WarmPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WarmPolicy")
            .field("policy", &self.policy.name())
            .field("idle", &self.idle.len())
            .finish()
    }
}

impl WarmPolicy {
    /// `policy`, with no instance yet.
    pub fn new(policy: LoadedPolicy) -> Self {
        Self {
            policy,
            idle: Idle::default(),
        }
    }

    /// The policy.
    pub fn policy(&self) -> &LoadedPolicy {
        &self.policy
    }

    /// [`LoadedPolicy::assess`] on an idle instance of an earlier call when
    /// there is one, else on a fresh instance that is kept for the next
    /// call if this one succeeds.
    pub fn assess(
        &self,
        live: &Value,
        desired_json: Option<&str>,
        ctx: &EvalContext,
    ) -> Result<Evaluation<Health>> {
        self.policy
            .assess_reusing(&self.idle, live, desired_json, ctx)
    }
}
