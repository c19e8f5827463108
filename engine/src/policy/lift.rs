//! Reading a policy's large results (violations, transformed objects) out of
//! its memory under the output limits, without copying first. No IO.
//!
//! The bindings `bindgen!` generates lift a whole `list<violation>` into
//! host `String`s before the host can look at it, so a policy returning
//! 700 000 empty violations, or one 100 MB message, costs that much host
//! time and memory before the output limit is checked. Here the results are
//! lifted as [`WasmList`]s of [`WasmStr`]s: views into the guest's memory.
//! The number of items is checked before any is read, and each string's
//! size is added up (the text is validated as UTF-8 in place) before it is
//! copied, so the host copies at most the output limit.

use wasmtime::component::{ComponentType, Lift, WasmList, WasmStr};
use wasmtime::{AsContext, AsContextMut};

use super::bindings::plumbline::policy::types as wit;
use super::limits::{Limit, Limits};
use super::state::StoreState;
use super::verdict::Violation;
use crate::object::ObjectRef;

/// `object-ref`, lifted in place.
#[derive(ComponentType, Lift)]
#[component(record)]
pub(crate) struct RawObjectRef {
    #[component(name = "api-version")]
    api_version: WasmStr,
    kind: WasmStr,
    namespace: Option<WasmStr>,
    name: WasmStr,
}

/// `violation`, lifted in place.
#[derive(ComponentType, Lift)]
#[component(record)]
pub(crate) struct RawViolation {
    target: Option<RawObjectRef>,
    path: WasmStr,
    message: WasmStr,
    severity: wit::Severity,
}

/// What `validate` returns, lifted in place.
pub(crate) type RawViolations = WasmList<RawViolation>;

/// What `transform` returns, lifted in place.
pub(crate) type RawTransformed = Result<WasmList<WasmStr>, WasmStr>;

/// The store's hostcall fuel: how many host bytes wasmtime lets one call
/// move out of the guest (default 128 MiB). Lifting a [`WasmList`] charges
/// its whole length times the *host* size of an item up front (a
/// [`RawViolation`] is several times its 60 bytes in the guest), so with the
/// default a list of 700 000 violations would fail inside wasmtime, before
/// [`violations`] can count them and name the item limit. This fuel covers
/// the longest list that fits in the guest's memory budget, so the host's
/// own limits decide; strings are still bounded by that budget and copied
/// only within the output limit. Host imports (`log`) take strings only,
/// which the budget bounds too.
pub(crate) fn hostcall_fuel(limits: &Limits) -> usize {
    fn ratio<T: ComponentType>() -> usize {
        std::mem::size_of::<T>().div_ceil(T::SIZE32.max(1))
    }
    let ratio = ratio::<RawViolation>().max(ratio::<WasmStr>()) + 1;
    usize::try_from(limits.memory_bytes)
        .unwrap_or(usize::MAX)
        .saturating_mul(ratio)
        .max(128 << 20)
}

/// Why a result could not be read.
#[derive(Debug)]
pub(crate) enum LiftError {
    /// An output limit, with what the policy returned.
    Limit(Limit, String),
    /// Not valid according to the canonical ABI (bad UTF-8, out of bounds).
    Invalid(wasmtime::Error),
}

impl From<wasmtime::Error> for LiftError {
    fn from(e: wasmtime::Error) -> Self {
        LiftError::Invalid(e)
    }
}

/// Copies strings out of the guest while counting their bytes against the
/// output limit.
struct Budget {
    left: u64,
    total: u64,
}

impl Budget {
    fn new(limits: &Limits) -> Self {
        Self {
            left: limits.output_bytes,
            total: 0,
        }
    }

    fn copy(
        &mut self,
        store: &mut impl AsContextMut<Data = StoreState>,
        s: &WasmStr,
    ) -> Result<String, LiftError> {
        let text = s.to_str(store.as_context())?;
        let len = text.len() as u64;
        self.total = self.total.saturating_add(len);
        if len > self.left {
            return Err(LiftError::Limit(
                Limit::Output,
                format!("returned more than {} bytes", self.total),
            ));
        }
        self.left -= len;
        Ok(text.into_owned())
    }
}

/// Refuse a list of `len` items above the item limit, before reading any.
fn check_items(len: usize, what: &str, limits: &Limits) -> Result<(), LiftError> {
    if len as u64 > limits.output_items {
        return Err(LiftError::Limit(
            Limit::OutputItems,
            format!("returned {len} {what}"),
        ));
    }
    Ok(())
}

/// The violations of one `validate` call, tagged with `policy`.
pub(crate) fn violations(
    store: &mut impl AsContextMut<Data = StoreState>,
    list: &RawViolations,
    policy: &str,
    limits: &Limits,
) -> Result<Vec<Violation>, LiftError> {
    check_items(list.len(), "violations", limits)?;
    let mut budget = Budget::new(limits);
    let mut out = Vec::with_capacity(list.len());
    for i in 0..list.len() {
        let Some(raw) = list.get(store.as_context_mut(), i) else {
            break;
        };
        let raw = raw?;
        let target = match &raw.target {
            Some(t) => Some(ObjectRef {
                api_version: budget.copy(store, &t.api_version)?,
                kind: budget.copy(store, &t.kind)?,
                namespace: match &t.namespace {
                    Some(ns) => Some(budget.copy(store, ns)?),
                    None => None,
                },
                name: budget.copy(store, &t.name)?,
            }),
            None => None,
        };
        out.push(Violation {
            policy: policy.to_owned(),
            target,
            path: budget.copy(store, &raw.path)?,
            message: budget.copy(store, &raw.message)?,
            severity: raw.severity.into(),
        });
    }
    Ok(out)
}

/// The objects (JSON text) of one `transform` call, or its error message.
pub(crate) fn transformed(
    store: &mut impl AsContextMut<Data = StoreState>,
    result: &RawTransformed,
    limits: &Limits,
) -> Result<Result<Vec<String>, String>, LiftError> {
    let mut budget = Budget::new(limits);
    match result {
        Err(message) => Ok(Err(budget.copy(store, message)?)),
        Ok(list) => {
            check_items(list.len(), "objects", limits)?;
            let mut out = Vec::with_capacity(list.len());
            for i in 0..list.len() {
                let Some(s) = list.get(store.as_context_mut(), i) else {
                    break;
                };
                out.push(budget.copy(store, &s?)?);
            }
            Ok(Ok(out))
        }
    }
}
