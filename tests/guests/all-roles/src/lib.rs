//! `test-all-roles`: a test policy exporting every role, with simple,
//! deterministic behaviour that the engine's tests assert on. Every call
//! logs one `info` line naming the call.
//!
//! Triggers (labels and annotations on the objects in a batch):
//!
//! | where | trigger | effect |
//! |---|---|---|
//! | validate | label `test/deny: <v>` | error at `metadata.labels.test/deny`, message `denied by label test/deny=<v>` |
//! | validate | label `test/warn: <v>` | warning at `metadata.labels.test/warn`, message `warned by label test/warn=<v>` |
//! | validate | label `test/info: <v>` | info at `metadata.labels.test/info`, message `noted by label test/info=<v>` |
//! | validate | container image ending `:latest` | warning at the container's `image` path |
//! | validate | settings `{"max-objects": n}` and more than `n` objects | error about the set (no target) |
//! | transform | every object | label `plumbline.dev/transformed: "true"` added |
//! | transform | annotation `test/fail-transform: <v>` | `Err("<ref> asked to fail: <v>")` |
//! | transform | annotation `test/drop` | object dropped from the output |
//! | transform | annotation `test/duplicate` | a copy named `<name>-copy` added after it |
//! | validate, transform | label `test/panic` | panics (the component traps) |
//! | validate, transform | label `test/loop` | loops forever (for deadline tests) |
//! | validate, transform | label `test/alloc` | allocates until memory runs out |
//! | remediate | settings `{"remediation": "reapply"\|"ignore"\|"recreate"\|"report"\|"defer"}` | that decision (`report("forced by settings")`, `defer(60)`) |
//! | remediate | settings `{"remediation": "abstain"}` | abstains (`None`) |
//! | remediate | object deleted (live `{}`) | `reapply` |
//! | remediate | first change at `spec.replicas` | `ignore` |
//! | remediate | first change under `metadata.labels` | `report("labels drifted at <path>")` |
//! | remediate | first change under `spec.selector` | `recreate` |
//! | remediate | a change at `metadata.annotations.test/defer` | `defer(30)` |
//! | remediate | otherwise | `reapply` |
//! | check-settings | `{"reject": true}` | `Err("settings rejected: reject is true")` |
//! | check-settings | not a JSON object | `Err("settings must be a JSON object, found <type>")` |

use plumbline_sdk::serde_json::Value;
use plumbline_sdk::{
    info, Context, Drift, Metadata, Object, PolicyInfo, Remediation, Remediator, Severity,
    Transformer, Validator, Violation,
};

/// The policy.
struct AllRoles;

impl Metadata for AllRoles {
    fn info() -> PolicyInfo {
        info!("info called");
        PolicyInfo::new(
            "test-all-roles",
            "0.1.0",
            "Test policy: validates, transforms and remediates by labels, annotations and settings.",
        )
        .with_settings_schema(plumbline_sdk::serde_json::json!({
            "type": "object",
            "properties": {
                "reject": {"type": "boolean"},
                "max-objects": {"type": "integer", "minimum": 0},
                "remediation": {"enum": ["reapply", "ignore", "recreate", "report", "defer", "abstain"]}
            }
        }))
    }

    fn check_settings(settings: &Value) -> Result<(), String> {
        info!("check-settings called with {settings}");
        let Some(map) = settings.as_object() else {
            return Err(format!(
                "settings must be a JSON object, found {}",
                json_type(settings)
            ));
        };
        if map.get("reject") == Some(&Value::Bool(true)) {
            return Err("settings rejected: reject is true".to_owned());
        }
        Ok(())
    }
}

impl Validator for AllRoles {
    fn validate(objects: &[Object], ctx: &Context) -> Vec<Violation> {
        info!(
            "validate called with {} objects for target {}",
            objects.len(),
            ctx.target
        );
        let mut violations = Vec::new();
        for object in objects {
            misbehave_if_asked(object);
            let label_rules = [
                ("test/deny", Severity::Error, "denied"),
                ("test/warn", Severity::Warning, "warned"),
                ("test/info", Severity::Info, "noted"),
            ];
            for (label, severity, verb) in label_rules {
                if let Some(value) = object.label(label) {
                    violations.push(object.violation(
                        format!("metadata.labels.{label}"),
                        format!("{verb} by label {label}={value}"),
                        severity,
                    ));
                }
            }
            for container in object.containers() {
                if container.image().is_some_and(|i| i.ends_with(":latest")) {
                    violations.push(object.violation(
                        container.field_path("image"),
                        format!("container {} uses the latest tag", container.name()),
                        Severity::Warning,
                    ));
                }
            }
        }
        if let Some(max) = ctx.settings().get("max-objects").and_then(Value::as_u64) {
            if objects.len() as u64 > max {
                violations.push(Violation::about_set(
                    format!("{} objects, more than max-objects={max}", objects.len()),
                    Severity::Error,
                ));
            }
        }
        violations
    }
}

impl Transformer for AllRoles {
    fn transform(objects: Vec<Object>, ctx: &Context) -> Result<Vec<Object>, String> {
        info!(
            "transform called with {} objects for target {}",
            objects.len(),
            ctx.target
        );
        let mut output = Vec::with_capacity(objects.len());
        for mut object in objects {
            misbehave_if_asked(&object);
            if let Some(reason) = object.annotation("test/fail-transform") {
                return Err(format!("{} asked to fail: {reason}", object.object_ref()));
            }
            if object.annotation("test/drop").is_some() {
                continue;
            }
            object.set_label("plumbline.dev/transformed", "true");
            let copy = object.annotation("test/duplicate").is_some().then(|| {
                let mut copy = object.clone();
                let name = format!("{}-copy", object.name());
                copy.fields_mut()
                    .get_mut("metadata")
                    .and_then(Value::as_object_mut)
                    .map(|metadata| metadata.insert("name".to_owned(), Value::String(name)));
                copy
            });
            output.push(object);
            output.extend(copy);
        }
        Ok(output)
    }
}

impl Remediator for AllRoles {
    fn remediate(drift: &Drift, ctx: &Context) -> Option<Remediation> {
        info!(
            "remediate called for {} with {} changes",
            drift.target,
            drift.changes.len()
        );
        let forced = ctx.settings();
        if let Some(decision) = forced.get("remediation").and_then(Value::as_str) {
            match decision {
                "reapply" => return Some(Remediation::Reapply),
                "ignore" => return Some(Remediation::Ignore),
                "recreate" => return Some(Remediation::Recreate),
                "report" => return Some(Remediation::Report("forced by settings".to_owned())),
                "defer" => return Some(Remediation::Defer(60)),
                "abstain" => return None,
                _ => {}
            }
        }
        if drift.is_deleted() {
            return Some(Remediation::Reapply);
        }
        if drift
            .changes
            .iter()
            .any(|c| c.path == "metadata.annotations.test/defer")
        {
            return Some(Remediation::Defer(30));
        }
        let Some(first) = drift.changes.first() else {
            return Some(Remediation::Reapply);
        };
        let decision = if first.path == "spec.replicas" {
            Remediation::Ignore
        } else if first.path.starts_with("metadata.labels") {
            Remediation::Report(format!("labels drifted at {}", first.path))
        } else if first.path.starts_with("spec.selector") {
            Remediation::Recreate
        } else {
            Remediation::Reapply
        };
        Some(decision)
    }
}

/// Panics, loops or exhausts memory when the object's labels ask for it.
fn misbehave_if_asked(object: &Object) {
    if object.label("test/panic").is_some() {
        panic!("asked to panic by {}", object.object_ref());
    }
    if object.label("test/loop").is_some() {
        let mut counter: u64 = 0;
        loop {
            counter = std::hint::black_box(counter.wrapping_add(1));
        }
    }
    if object.label("test/alloc").is_some() {
        let mut hoard: Vec<Vec<u8>> = Vec::new();
        loop {
            hoard.push(vec![1; 1 << 20]);
            std::hint::black_box(&hoard);
        }
    }
}

/// The JSON type name of a value, for messages.
fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

plumbline_sdk::export_policy!(AllRoles, validator, transformer, remediator);
