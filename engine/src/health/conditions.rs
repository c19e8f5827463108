//! Health from generic status fields: `observedGeneration` and conditions.
//!
//! Used for kinds without a specific rule (custom resources above all), in
//! the kstatus convention: `Stalled=True` is a failure, `Reconciling=True` is
//! work in progress, `Ready` says what it says, no conditions means current.

use serde_json::Value;

use super::Health;

/// The condition of the given type, if the object's status lists it.
pub fn find<'a>(object: &'a Value, condition_type: &str) -> Option<&'a Value> {
    object
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| c.get("type").and_then(Value::as_str) == Some(condition_type))
}

/// Whether the condition of the given type has the given status
/// (`"True"`, `"False"` or `"Unknown"`).
pub fn has_status(object: &Value, condition_type: &str, status: &str) -> bool {
    find(object, condition_type)
        .and_then(|c| c.get("status"))
        .and_then(Value::as_str)
        == Some(status)
}

/// A condition's `reason: message`, for people.
pub fn describe(condition: &Value) -> String {
    let field = |name| condition.get(name).and_then(Value::as_str).unwrap_or("");
    match (field("reason"), field("message")) {
        ("", "") => format!("{} is {}", field("type"), field("status")),
        (reason, "") => reason.to_owned(),
        ("", message) => message.to_owned(),
        (reason, message) => format!("{reason}: {message}"),
    }
}

/// `InProgress` when the status reports an `observedGeneration` behind
/// `metadata.generation`; `None` when the status is up to date or has no
/// `observedGeneration`.
pub fn stale_generation(object: &Value) -> Option<Health> {
    let generation = object.pointer("/metadata/generation")?.as_i64()?;
    let observed = object.pointer("/status/observedGeneration")?.as_i64()?;
    (observed < generation).then(|| {
        Health::in_progress(format!(
            "controller has observed generation {observed}, not yet generation {generation}"
        ))
    })
}

/// The kstatus rule for kinds without a specific rule.
pub fn generic(object: &Value) -> Health {
    if let Some(stalled) = find(object, "Stalled").filter(|_| has_status(object, "Stalled", "True"))
    {
        return Health::failed(describe(stalled));
    }
    if let Some(reconciling) =
        find(object, "Reconciling").filter(|_| has_status(object, "Reconciling", "True"))
    {
        return Health::in_progress(describe(reconciling));
    }
    match find(object, "Ready") {
        Some(ready) if !has_status(object, "Ready", "True") => Health::in_progress(describe(ready)),
        _ => Health::Current,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn with_conditions(conditions: Value) -> Value {
        json!({"apiVersion": "example.com/v1", "kind": "Widget",
               "metadata": {"name": "w", "generation": 1},
               "status": {"observedGeneration": 1, "conditions": conditions}})
    }

    #[test]
    fn ready_true_is_current() {
        let w = with_conditions(json!([{"type": "Ready", "status": "True"}]));
        assert_eq!(generic(&w), Health::Current);
    }

    #[test]
    fn ready_false_is_in_progress_with_reason() {
        let w = with_conditions(json!([{"type": "Ready", "status": "False",
            "reason": "Waiting", "message": "database not reachable"}]));
        assert_eq!(
            generic(&w),
            Health::in_progress("Waiting: database not reachable")
        );
    }

    #[test]
    fn stalled_wins_over_ready() {
        let w = with_conditions(json!([
            {"type": "Ready", "status": "True"},
            {"type": "Stalled", "status": "True", "reason": "InvalidSpec"}]));
        assert_eq!(generic(&w), Health::failed("InvalidSpec"));
    }

    #[test]
    fn reconciling_is_in_progress() {
        let w = with_conditions(
            json!([{"type": "Reconciling", "status": "True", "message": "rolling out"}]),
        );
        assert_eq!(generic(&w), Health::in_progress("rolling out"));
    }

    #[test]
    fn up_to_date_generation_is_not_stale() {
        assert_eq!(stale_generation(&with_conditions(json!([]))), None);
    }
}
