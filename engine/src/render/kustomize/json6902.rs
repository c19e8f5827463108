//! JSON patch (RFC 6902) operations through the `json-patch` crate, with
//! kustomize's leniency: `add` creates missing parent objects. No IO.

use json_patch::jsonptr::Pointer;
use json_patch::{PatchErrorKind, PatchOperation};
use serde_json::{Map, Value};

/// Apply RFC 6902 operations to `doc`; an error names the operation
/// (1-based) and what failed.
pub(super) fn apply_ops(doc: &mut Value, ops: &[Value]) -> Result<(), String> {
    for (i, op) in ops.iter().enumerate() {
        apply_op(doc, op).map_err(|e| format!("operation {}: {e}", i + 1))?;
    }
    Ok(())
}

fn apply_op(doc: &mut Value, op: &Value) -> Result<(), String> {
    let op: PatchOperation = serde_json::from_value(op.clone()).map_err(|e| e.to_string())?;
    if let PatchOperation::Add(add) = &op {
        if let Some(parent) = add.path.parent() {
            create_objects(doc, parent);
        }
    }
    json_patch::patch(doc, std::slice::from_ref(&op)).map_err(|error| match (&error.kind, &op) {
        (PatchErrorKind::TestFailed, _) => format!("test failed at {}", error.path),
        (PatchErrorKind::InvalidFromPointer, PatchOperation::Move(m)) => {
            format!("path {} does not exist", m.from)
        }
        (PatchErrorKind::InvalidFromPointer, PatchOperation::Copy(c)) => {
            format!("path {} does not exist", c.from)
        }
        (PatchErrorKind::InvalidPointer, _) => format!("path {} does not exist", error.path),
        (kind, _) => format!("{kind} at {}", error.path),
    })
}

/// Create the missing objects on the way to `path`, as kustomize does
/// (json-patch's `EnsurePathExistsOnAdd`); stops at anything that is not
/// an object.
fn create_objects(doc: &mut Value, path: &Pointer) {
    let mut at = doc;
    for token in path.tokens() {
        let Value::Object(map) = at else { return };
        at = map
            .entry(token.decoded().into_owned())
            .or_insert_with(|| Value::Object(Map::new()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_patch_operations() {
        let mut doc = json!({"a": {"b": [1, 2]}, "c": "x"});
        let ops = json!([
            {"op": "add", "path": "/a/b/-", "value": 3},
            {"op": "add", "path": "/a/b/0", "value": 0},
            {"op": "replace", "path": "/c", "value": "y"},
            {"op": "copy", "from": "/c", "path": "/d"},
            {"op": "move", "from": "/d", "path": "/a/e~1f"},
            {"op": "remove", "path": "/a/b/1"},
            {"op": "test", "path": "/a/b", "value": [0, 2, 3]}
        ]);
        apply_ops(&mut doc, ops.as_array().unwrap()).unwrap();
        assert_eq!(doc, json!({"a": {"b": [0, 2, 3], "e/f": "y"}, "c": "y"}));
        let err = apply_ops(&mut doc, &[json!({"op": "remove", "path": "/nope"})]).unwrap_err();
        assert_eq!(err, "operation 1: path /nope does not exist");
        let err = apply_ops(
            &mut doc,
            &[json!({"op": "move", "from": "/x", "path": "/y"})],
        );
        assert_eq!(err.unwrap_err(), "operation 1: path /x does not exist");
    }

    #[test]
    fn add_creates_missing_parent_objects_like_kustomize() {
        let mut doc = json!({"metadata": {"name": "a"}});
        let add = json!({"op": "add", "path": "/metadata/labels/team", "value": "shop"});
        apply_ops(&mut doc, &[add]).unwrap();
        assert_eq!(doc["metadata"]["labels"], json!({"team": "shop"}));
    }
}
