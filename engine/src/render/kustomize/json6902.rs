//! JSON patch (RFC 6902) operations, with kustomize's leniency: `add`
//! creates missing parent objects. No IO.

use serde_json::Value;

/// Apply RFC 6902 operations to `doc`.
pub(super) fn apply_ops(doc: &mut Value, ops: &[Value]) -> Result<(), String> {
    for (i, op) in ops.iter().enumerate() {
        apply_op(doc, op).map_err(|e| format!("operation {}: {e}", i + 1))?;
    }
    Ok(())
}

fn apply_op(doc: &mut Value, op: &Value) -> Result<(), String> {
    let field = |k: &str| op.get(k).and_then(Value::as_str);
    let name = field("op").ok_or("missing `op`")?;
    let path = field("path").ok_or("missing `path`")?;
    let value = || {
        op.get("value")
            .cloned()
            .ok_or_else(|| "missing `value`".to_owned())
    };
    match name {
        "add" => add(doc, path, value()?),
        "remove" => remove(doc, path).map(drop),
        "replace" => {
            let target = doc
                .pointer_mut(path)
                .ok_or_else(|| format!("path {path} does not exist"))?;
            *target = value()?;
            Ok(())
        }
        "move" => {
            let from = field("from").ok_or("missing `from`")?;
            let v = remove(doc, from)?;
            add(doc, path, v)
        }
        "copy" => {
            let from = field("from").ok_or("missing `from`")?;
            let v = doc
                .pointer(from)
                .cloned()
                .ok_or_else(|| format!("path {from} does not exist"))?;
            add(doc, path, v)
        }
        "test" => {
            let expected = value()?;
            match doc.pointer(path) {
                Some(actual) if *actual == expected => Ok(()),
                _ => Err(format!("test failed at {path}")),
            }
        }
        other => Err(format!("unknown op {other:?}")),
    }
}

/// Split a JSON pointer into its parent pointer and unescaped last token.
fn split(path: &str) -> Result<(&str, String), String> {
    let slash = path
        .rfind('/')
        .ok_or_else(|| format!("invalid path {path:?}"))?;
    let token = path[slash + 1..].replace("~1", "/").replace("~0", "~");
    Ok((&path[..slash], token))
}

/// `add`, creating missing parent objects like kustomize does
/// (json-patch's `EnsurePathExistsOnAdd`).
fn add(doc: &mut Value, path: &str, value: Value) -> Result<(), String> {
    if path.is_empty() {
        *doc = value;
        return Ok(());
    }
    let (parent, token) = split(path)?;
    if doc.pointer(parent).is_none() {
        add(doc, parent, Value::Object(serde_json::Map::new()))?;
    }
    match doc.pointer_mut(parent) {
        Some(Value::Object(map)) => {
            map.insert(token, value);
            Ok(())
        }
        Some(Value::Array(items)) => {
            if token == "-" {
                items.push(value);
                return Ok(());
            }
            let i: usize = token
                .parse()
                .map_err(|_| format!("invalid index in {path}"))?;
            if i > items.len() {
                return Err(format!("index out of range in {path}"));
            }
            items.insert(i, value);
            Ok(())
        }
        _ => Err(format!("parent of {path} does not exist")),
    }
}

fn remove(doc: &mut Value, path: &str) -> Result<Value, String> {
    let (parent, token) = split(path)?;
    match doc.pointer_mut(parent) {
        Some(Value::Object(map)) => map.remove(&token),
        Some(Value::Array(items)) => token
            .parse::<usize>()
            .ok()
            .filter(|i| *i < items.len())
            .map(|i| items.remove(i)),
        _ => None,
    }
    .ok_or_else(|| format!("path {path} does not exist"))
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
    }
}
