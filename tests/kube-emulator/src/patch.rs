//! Non-apply patches: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and a strategic merge
//! patch that merges keyed lists by their merge key and honours `$patch: delete` / `replace`
//! (other directives are dropped). Pure functions over JSON.

use json_patch::PatchOperation;
use serde_json::Value;

use crate::fieldset::{self, list_type, ListType};
use crate::status::ApiError;

/// Applies an RFC 7386 merge patch: objects merge, `null` deletes, everything else replaces.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(p) => {
            if !target.is_object() {
                *target = Value::Object(Default::default());
            }
            let Value::Object(t) = target else { return };
            for (k, v) in p {
                if v.is_null() {
                    t.remove(k);
                } else {
                    merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
        }
        _ => *target = patch.clone(),
    }
}

/// Applies a strategic merge patch for an object of `kind`.
pub fn strategic_merge_patch(kind: &str, target: &mut Value, patch: &Value) {
    smp(kind, target, patch, &mut Vec::new());
}

fn smp<'a>(kind: &str, target: &mut Value, patch: &'a Value, fields: &mut Vec<&'a str>) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if p.get("$patch").and_then(Value::as_str) == Some("replace") {
        let mut clean = patch.clone();
        strip_directives(&mut clean);
        *target = clean;
        return;
    }
    if !target.is_object() {
        *target = Value::Object(Default::default());
    }
    let Value::Object(t) = target else { return };
    for (k, v) in p {
        if k.starts_with('$') {
            continue;
        }
        if v.is_null() {
            t.remove(k);
            continue;
        }
        fields.push(k.as_str());
        let slot = t.entry(k.clone()).or_insert(Value::Null);
        match (slot.as_array_mut(), v, list_type(kind, fields)) {
            (Some(items), Value::Array(pitems), ListType::Map(keys)) => {
                for pi in pitems {
                    let key = fieldset::item_key(pi, keys);
                    let pos = items
                        .iter()
                        .position(|i| key.is_some() && fieldset::item_key(i, keys) == key);
                    let delete = pi.get("$patch").and_then(Value::as_str) == Some("delete");
                    match (pos, delete) {
                        (Some(i), true) => {
                            items.remove(i);
                        }
                        (None, true) => {}
                        (Some(i), false) => smp(kind, &mut items[i], pi, fields),
                        (None, false) => {
                            let mut clean = pi.clone();
                            strip_directives(&mut clean);
                            items.push(clean);
                        }
                    }
                }
            }
            (_, Value::Object(_), _) => smp(kind, slot, v, fields),
            _ => {
                let mut clean = v.clone();
                strip_directives(&mut clean);
                *slot = clean;
            }
        }
        fields.pop();
    }
}

fn strip_directives(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|k, _| !k.starts_with('$'));
            m.values_mut().for_each(strip_directives);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_directives),
        _ => {}
    }
}

/// Applies an RFC 6902 JSON patch (`add`, `remove`, `replace`, `move`, `copy`, `test`) with
/// the `json-patch` crate. Like the API server's json-patch library, a `test` of a missing path
/// compares equal to `null` (kube-runtime's finalizer helper relies on it).
pub fn json_patch(doc: &mut Value, ops: &Value) -> Result<(), ApiError> {
    let ops: Vec<PatchOperation> = serde_json::from_value(ops.clone())
        .map_err(|e| ApiError::bad_request(format!("invalid json patch: {e}")))?;
    for op in ops {
        if let PatchOperation::Test(test) = &op {
            if test.value.is_null() && test.path.resolve(doc).is_err() {
                continue;
            }
        }
        json_patch::patch(doc, std::slice::from_ref(&op))
            .map_err(|e| ApiError::bad_patch(format!("jsonpatch {op}: {}", e.kind)))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_missing_path_tests_equal_to_null_only() {
        let mut d = json!({"metadata": {"name": "a"}});
        let ops = json!([{"op": "test", "path": "/metadata/finalizers", "value": null},
            {"op": "add", "path": "/metadata/finalizers", "value": ["x"]}]);
        json_patch(&mut d, &ops).unwrap();
        assert_eq!(d["metadata"]["finalizers"], json!(["x"]));
        let ops = json!([{"op": "test", "path": "/metadata/labels", "value": {}}]);
        assert!(json_patch(&mut d, &ops).is_err());
    }

    #[test]
    fn strategic_merges_containers_by_name() {
        let mut d = json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "1"}, {"name": "b", "image": "2"}]}}}});
        let p = json!({"spec": {"template": {"spec": {"containers": [{"name": "a", "image": "9"}, {"name": "b", "$patch": "delete"}]}}}});
        strategic_merge_patch("Deployment", &mut d, &p);
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"],
            json!([{"name": "a", "image": "9"}])
        );
    }

    #[test]
    fn json_patch_ops() {
        let mut d = json!({"a": [1, 2], "b": {"c": 1}});
        json_patch(&mut d, &json!([{"op": "add", "path": "/a/-", "value": 3}, {"op": "replace", "path": "/b/c", "value": 2},
            {"op": "move", "from": "/b", "path": "/d"}, {"op": "test", "path": "/d/c", "value": 2}])).unwrap();
        assert_eq!(d, json!({"a": [1, 2, 3], "d": {"c": 2}}));
        assert!(json_patch(&mut d, &json!([{"op": "remove", "path": "/zz"}])).is_err());
        let mut m = json!({"a": {"b": 1, "c": 2}});
        merge_patch(&mut m, &json!({"a": {"b": null, "d": 3}}));
        assert_eq!(m, json!({"a": {"c": 2, "d": 3}}));
    }
}
