//! From parsed documents to objects: `*List` flattening and the identity
//! check. No IO.

use serde_json::Value;

use super::{yaml, Error, Manifest, Origin, RenderOptions};

/// Parse one file and return its objects; problems go to `errors`.
pub(crate) fn from_file(
    file: &str,
    bytes: &[u8],
    options: &RenderOptions,
    errors: &mut Vec<Error>,
) -> Vec<Manifest> {
    let mut out = Vec::new();
    for doc in yaml::parse(file, bytes, options, errors) {
        let origin = Origin {
            file: file.to_owned(),
            document: doc.index,
            line: doc.line,
        };
        collect(doc.value, origin, &mut out, errors);
    }
    out
}

/// Check `value` and push it (or, for a `*List`, its items).
pub(crate) fn collect(
    value: Value,
    origin: Origin,
    out: &mut Vec<Manifest>,
    errors: &mut Vec<Error>,
) {
    if !value.is_object() {
        errors.push(Error::NotAnObject {
            origin,
            found: kind_of(&value),
        });
        return;
    }
    let is_list = value
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|k| k.ends_with("List"))
        && value.get("items").is_some_and(Value::is_array);
    if is_list {
        if let Some(Value::Array(items)) = value.get("items") {
            for item in items {
                collect(item.clone(), origin.clone(), out, errors);
            }
        }
        return;
    }
    let missing = if !value.get("apiVersion").is_some_and(non_empty) {
        Some("apiVersion")
    } else if !value.get("kind").is_some_and(non_empty) {
        Some("kind")
    } else if !value.pointer("/metadata/name").is_some_and(non_empty) {
        Some("metadata.name")
    } else {
        None
    };
    match missing {
        Some(field) => errors.push(Error::MissingField { origin, field }),
        None => out.push(Manifest {
            object: value,
            origin,
        }),
    }
}

fn non_empty(v: &Value) -> bool {
    v.as_str().is_some_and(|s| !s.is_empty())
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}
