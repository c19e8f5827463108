//! `test-emitter`: a test transformer that does to the desired set exactly
//! what its settings say, so the engine's tests can play any transformer,
//! hostile ones included, with one component.
//!
//! Settings (all optional):
//!
//! | key | effect |
//! |---|---|
//! | `add` | objects appended to the set |
//! | `replace` | each object takes the place of the object of the same kind and name (in any namespace): an edit, or a move when its namespace differs |
//! | `remove` | names of objects dropped from the set |

use plumbline_sdk::serde_json::Value;
use plumbline_sdk::{Context, Metadata, Object, PolicyInfo, Transformer};

/// The policy.
struct Emitter;

impl Metadata for Emitter {
    fn info() -> PolicyInfo {
        PolicyInfo::new(
            "test-emitter",
            "0.1.0",
            "Test policy: adds, replaces and removes the objects its settings name.",
        )
    }

    fn check_settings(settings: &Value) -> Result<(), String> {
        for key in ["add", "replace", "remove"] {
            if settings.get(key).is_some_and(|v| !v.is_array()) {
                return Err(format!("{key} must be a list"));
            }
        }
        Ok(())
    }
}

impl Transformer for Emitter {
    fn transform(objects: Vec<Object>, ctx: &Context) -> Result<Vec<Object>, String> {
        let settings = ctx.settings();
        let list = |key: &str| {
            settings
                .get(key)
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        };
        let parse = |value: Value| Object::from_value(value).map_err(|e| e.to_string());
        let replacements = list("replace")
            .into_iter()
            .map(parse)
            .collect::<Result<Vec<_>, _>>()?;
        let removed: Vec<Value> = list("remove");
        let mut output = Vec::with_capacity(objects.len());
        for object in objects {
            if removed.iter().any(|name| name == object.name()) {
                continue;
            }
            let replacement = replacements
                .iter()
                .find(|r| r.kind() == object.kind() && r.name() == object.name());
            output.push(replacement.cloned().unwrap_or(object));
        }
        for added in list("add") {
            output.push(parse(added)?);
        }
        Ok(output)
    }
}

plumbline_sdk::export_policy!(Emitter, transformer);
