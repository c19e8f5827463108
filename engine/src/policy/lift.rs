//! Bounding what a policy's results cost the host before they are copied.
//! No IO.
//!
//! wasmtime copies a call's results out of the guest's memory (lifting)
//! before the host sees them, and checks each list's and string's size
//! against the store's *hostcall fuel* before allocating it. The host sets
//! that fuel from the output limits ([`hostcall_fuel`]): room for
//! `outputItems` items plus `outputBytes` of text. So a policy returning
//! 700 000 empty violations, or one 100 MB message, fails at the list or
//! string that does not fit, before it is copied; the host then checks the
//! exact item count and text size of what did fit ([`count_items`],
//! [`violation_bytes`]).
//!
//! (Reading results lazily as `WasmList`/`WasmStr` views would avoid even
//! that copy, but the guest's `post-return` runs before such views can be
//! read, and a real allocator reuses the freed memory.)

use super::bindings::plumbline::policy::types as wit;
use super::limits::{Limit, Limits};

/// Host bytes one item of a result may take when lifted: a violation (the
/// largest item type), or one transformed object's `String`.
fn item_bytes() -> u64 {
    std::mem::size_of::<wit::Violation>().max(std::mem::size_of::<String>()) as u64
}

/// Slack for the fixed parts of a result (option and result tags, records).
const SLACK_BYTES: u64 = 64 << 10;

/// The store's hostcall fuel: the most host bytes one call may move out of
/// the guest (per export call, and per call of a host import such as `log`).
pub(crate) fn hostcall_fuel(limits: &Limits) -> usize {
    let fuel = limits
        .output_items
        .saturating_mul(item_bytes())
        .saturating_add(limits.output_bytes)
        .saturating_add(SLACK_BYTES);
    usize::try_from(fuel).unwrap_or(usize::MAX)
}

/// How the output limits read when wasmtime's hostcall fuel ran out: the
/// result did not fit in `outputItems` items and `outputBytes` of text.
pub(crate) fn exhausted(limits: &Limits) -> String {
    format!(
        "{} and {} (the result is larger than both allow together)",
        limits.describe(Limit::Output),
        limits.describe(Limit::OutputItems)
    )
}

/// Refuse a list of `len` items above the item limit.
pub(crate) fn count_items(len: usize, what: &str, limits: &Limits) -> Result<(), (Limit, String)> {
    if len as u64 > limits.output_items {
        return Err((Limit::OutputItems, format!("returned {len} {what}")));
    }
    Ok(())
}

/// Bytes of text in a violation, for the output size limit.
pub(crate) fn violation_bytes(v: &wit::Violation) -> u64 {
    let target = v.target.as_ref().map_or(0, |t| {
        t.api_version.len()
            + t.kind.len()
            + t.name.len()
            + t.namespace.as_ref().map_or(0, String::len)
    });
    (target + v.path.len() + v.message.len()) as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fuel_covers_the_item_and_byte_limits_together() {
        let limits = Limits::default();
        let fuel = hostcall_fuel(&limits) as u64;
        assert!(fuel >= limits.output_items * item_bytes() + limits.output_bytes);
        // 700 000 violations do not fit, whatever their text.
        assert!(700_000 * std::mem::size_of::<wit::Violation>() as u64 > fuel);
        assert!(count_items(100_000, "violations", &limits).is_ok());
        let (limit, found) = count_items(100_001, "violations", &limits).unwrap_err();
        assert_eq!(
            (limit, found.as_str()),
            (Limit::OutputItems, "returned 100001 violations")
        );
    }
}
