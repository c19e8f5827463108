//! Strategic merge patch, as kustomize (kyaml `merge2`) applies it. No IO.
//!
//! - Maps merge recursively; a `null` value deletes the key.
//! - Lists whose field has patch strategy `merge` in the [`Schema`] merge
//!   item by item on the field's merge key (`containers` by `name`); lists
//!   of scalars with that strategy are merged as sets. All other lists,
//!   and every list of a kind the schema does not know (custom resources),
//!   are replaced.
//! - Merged lists are ordered as kustomize (kyaml `merge2`, prepending)
//!   orders them: the patch's items in its order (merged with the
//!   original's item of the same key), then the items only in the
//!   original, in its order.
//! - Directives: `$patch: delete` (a map or a list item goes),
//!   `$patch: replace` (a map or a whole list is replaced by the patch's),
//!   `$deleteFromPrimitiveList/<field>` (removes scalars from a list);
//!   other `$` directives (`$setElementOrder/…`, `$retainKeys`) are dropped.

use serde_json::{Map, Value};

use super::schema::{Field, Schema, Shape};

/// The outcome of patching a whole object.
#[derive(Debug, PartialEq)]
pub(super) enum Outcome {
    /// The object was patched in place.
    Patched,
    /// The patch says `$patch: delete`: the object goes.
    Deleted,
}

/// Apply strategic-merge `patch` to `object`, using the built-in schema for
/// its kind when there is one, else `crd_schema` (the `openAPIV3Schema` of
/// the object's version in its CustomResourceDefinition, when the build
/// has it).
pub(super) fn apply(object: &mut Value, patch: &Value, crd_schema: Option<&Value>) -> Outcome {
    let Some(patch) = patch.as_object() else {
        return Outcome::Patched;
    };
    if directive(patch) == Some("delete") {
        return Outcome::Deleted;
    }
    let s = |k: &str| object.get(k).and_then(Value::as_str).unwrap_or("");
    let schema = Schema::builtin();
    let typed = match (schema.root(s("apiVersion"), s("kind")), crd_schema) {
        (Some(root), _) => Typed::Builtin {
            schema,
            ty: Some(root),
        },
        (None, Some(crd)) => Typed::Crd(Some(crd)),
        (None, None) => Typed::Builtin { schema, ty: None },
    };
    if let Some(map) = object.as_object_mut() {
        merge_map(map, patch, typed);
    }
    Outcome::Patched
}

/// A position in a schema: the type of the value being merged, if known.
#[derive(Clone, Copy)]
enum Typed<'a> {
    /// A type of the built-in table.
    Builtin {
        schema: &'a Schema,
        ty: Option<&'a str>,
    },
    /// A node of a CRD's OpenAPI v3 schema.
    Crd(Option<&'a Value>),
}

/// How a list field merges.
#[derive(Debug, PartialEq)]
enum ListMerge {
    /// The patch's list replaces the original.
    Replace,
    /// A set of scalars: a union.
    Set,
    /// Items merge when they have the same values of these keys.
    ByKeys(Vec<String>),
}

/// What the schema says about a field of the value at a position.
struct Child<'a> {
    /// The field's type (of its items, for lists; of its values, for
    /// `values_map`).
    typed: Typed<'a>,
    /// A map from any key to values of `typed` (built-in table only).
    values_map: bool,
    /// How a list in the field merges.
    list: ListMerge,
}

impl<'a> Typed<'a> {
    fn child(self, name: &str) -> Child<'a> {
        match self {
            Typed::Builtin { schema, ty } => {
                let field: Option<&'a Field> = ty.and_then(|ty| schema.field(ty, name));
                let list = match field {
                    Some(f) if f.merges() => match &f.merge_key {
                        Some(key) => ListMerge::ByKeys(vec![key.clone()]),
                        None => ListMerge::Set,
                    },
                    _ => ListMerge::Replace,
                };
                Child {
                    typed: Typed::Builtin {
                        schema,
                        ty: field.and_then(|f| f.target.as_deref()),
                    },
                    values_map: field.is_some_and(|f| f.shape == Shape::Map),
                    list,
                }
            }
            Typed::Crd(node) => {
                let field = node.and_then(|n| {
                    n.pointer(&format!(
                        "/properties/{}",
                        name.replace('~', "~0").replace('/', "~1")
                    ))
                    .or_else(|| n.get("additionalProperties").filter(|a| a.is_object()))
                });
                let is_list = field.and_then(|f| f.get("type")) == Some(&Value::from("array"));
                Child {
                    typed: Typed::Crd(if is_list {
                        field.and_then(|f| f.get("items"))
                    } else {
                        field
                    }),
                    values_map: false,
                    list: field.map_or(ListMerge::Replace, crd_list_merge),
                }
            }
        }
    }
}

/// How a list of a CRD schema merges: `x-kubernetes-list-type: map` by its
/// `x-kubernetes-list-map-keys`, or `x-kubernetes-patch-strategy: merge`
/// by `x-kubernetes-patch-merge-key` (as a set without one).
fn crd_list_merge(field: &Value) -> ListMerge {
    let text = |k: &str| field.get(k).and_then(Value::as_str);
    if text("x-kubernetes-list-type") == Some("map") {
        let keys: Vec<String> = field
            .get("x-kubernetes-list-map-keys")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|k| k.as_str().map(str::to_owned))
            .collect();
        if !keys.is_empty() {
            return ListMerge::ByKeys(keys);
        }
    }
    let merges =
        text("x-kubernetes-patch-strategy").is_some_and(|s| s.split(',').any(|s| s == "merge"));
    match (merges, text("x-kubernetes-patch-merge-key")) {
        (true, Some(key)) => ListMerge::ByKeys(vec![key.to_owned()]),
        (true, None) => ListMerge::Set,
        (false, _) => ListMerge::Replace,
    }
}

fn directive(map: &Map<String, Value>) -> Option<&str> {
    map.get("$patch").and_then(Value::as_str)
}

fn merge_map(dest: &mut Map<String, Value>, patch: &Map<String, Value>, typed: Typed<'_>) {
    if directive(patch) == Some("replace") {
        *dest = strip(patch);
        return;
    }
    for (key, value) in patch {
        if let Some(field) = key.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(items)), Some(gone)) = (dest.get_mut(field), value.as_array())
            {
                items.retain(|v| !gone.contains(v));
            }
            continue;
        }
        if key.starts_with('$') {
            continue;
        }
        let child = typed.child(key);
        match (dest.get_mut(key), value) {
            (_, Value::Null) => {
                dest.remove(key);
            }
            (_, Value::Object(p)) if directive(p) == Some("delete") => {
                dest.remove(key);
            }
            (Some(Value::Object(d)), Value::Object(p)) => {
                if child.values_map {
                    merge_values_map(d, p, child.typed);
                } else {
                    merge_map(d, p, child.typed);
                }
            }
            (Some(Value::Array(d)), Value::Array(p)) => merge_list(d, p, &child),
            (_, value) => {
                dest.insert(key.clone(), strip_value(value));
            }
        }
    }
}

/// A map whose values all have the type of `typed` (e.g. a map of objects).
fn merge_values_map(dest: &mut Map<String, Value>, patch: &Map<String, Value>, typed: Typed<'_>) {
    for (key, value) in patch {
        match (dest.get_mut(key), value) {
            (_, Value::Null) => {
                dest.remove(key);
            }
            (Some(Value::Object(d)), Value::Object(p)) => merge_map(d, p, typed),
            (_, value) => {
                dest.insert(key.clone(), strip_value(value));
            }
        }
    }
}

fn merge_list(dest: &mut Vec<Value>, patch: &[Value], child: &Child<'_>) {
    let replace = patch
        .iter()
        .any(|item| item.as_object().and_then(directive) == Some("replace"));
    if replace {
        *dest = patch
            .iter()
            .filter(|item| item.as_object().and_then(directive) != Some("replace"))
            .map(strip_value)
            .collect();
        return;
    }
    let keys = match &child.list {
        ListMerge::Replace => {
            *dest = patch.iter().map(strip_value).collect();
            return;
        }
        ListMerge::Set => {
            merge_set(dest, patch);
            return;
        }
        ListMerge::ByKeys(keys) => keys,
    };
    let id = |item: &Value| -> Option<Vec<Option<Value>>> {
        let values: Vec<Option<Value>> = keys.iter().map(|k| item.get(k).cloned()).collect();
        values.iter().any(Option::is_some).then_some(values)
    };
    let mut original_only = std::mem::take(dest);
    let mut from_patch = Vec::new();
    for item in patch {
        let Some(p) = item.as_object() else {
            continue;
        };
        let patch_id = id(item);
        let found = original_only
            .iter()
            .position(|d| patch_id.is_some() && id(d) == patch_id);
        let existing = found.map(|i| original_only.remove(i));
        match (existing, directive(p)) {
            (_, Some("delete")) => {}
            (Some(mut d), _) => {
                if let Some(map) = d.as_object_mut() {
                    merge_map(map, p, child.typed);
                }
                from_patch.push(d);
            }
            (None, _) => from_patch.push(strip_value(item)),
        }
    }
    from_patch.append(&mut original_only);
    *dest = from_patch;
}

/// Lists of scalars with strategy `merge`: a set union, the patch's
/// values first.
fn merge_set(dest: &mut Vec<Value>, patch: &[Value]) {
    let original = std::mem::take(dest);
    let mut from_patch: Vec<Value> = Vec::new();
    for item in patch {
        if !from_patch.contains(item) {
            from_patch.push(strip_value(item));
        }
    }
    for item in original {
        if !from_patch.contains(&item) {
            from_patch.push(item);
        }
    }
    *dest = from_patch;
}

/// A map without its `$` directives (recursively) and without `null`s.
fn strip(map: &Map<String, Value>) -> Map<String, Value> {
    map.iter()
        .filter(|(k, v)| !k.starts_with('$') && !v.is_null())
        .map(|(k, v)| (k.clone(), strip_value(v)))
        .collect()
}

fn strip_value(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(strip(map)),
        Value::Array(items) => Value::Array(items.iter().map(strip_value).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(containers: Value) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "finalizers": ["a"]},
               "spec": {"template": {"spec": {"containers": containers}}}})
    }

    #[test]
    fn built_in_lists_merge_by_key_and_scalars_as_sets() {
        let mut d = deployment(json!([
            {"name": "app", "image": "app:1", "args": ["x"], "env": [{"name": "A", "value": "1"}]},
            {"name": "side", "image": "side:1"}
        ]));
        let patch = json!({"metadata": {"finalizers": ["b", "a"]}, "spec": {"template": {"spec": {"containers": [
            {"name": "app", "args": ["y"], "env": [{"name": "B", "value": "2"}]},
            {"name": "side", "$patch": "delete"},
            {"name": "new", "image": "new:1"}
        ]}}}});
        assert_eq!(apply(&mut d, &patch, None), Outcome::Patched);
        assert_eq!(d["metadata"]["finalizers"], json!(["b", "a"]));
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"],
            json!([
                {"name": "app", "image": "app:1", "args": ["y"],
                 "env": [{"name": "B", "value": "2"}, {"name": "A", "value": "1"}]},
                {"name": "new", "image": "new:1"}
            ])
        );
    }

    #[test]
    fn directives_and_nulls() {
        let mut d = deployment(json!([{"name": "app", "image": "app:1"}]));
        let patch = json!({"metadata": {"finalizers": null}, "spec": {"template": {"spec": {
            "containers": [{"name": "only", "image": "o:1"}, {"$patch": "replace"}],
            "securityContext": {"runAsUser": 1, "$patch": "replace"}
        }}}});
        apply(&mut d, &patch, None);
        assert!(d["metadata"].get("finalizers").is_none());
        assert_eq!(
            d["spec"]["template"]["spec"]["containers"],
            json!([{"name": "only", "image": "o:1"}])
        );
        assert_eq!(
            d["spec"]["template"]["spec"]["securityContext"],
            json!({"runAsUser": 1})
        );
        assert_eq!(
            apply(&mut d, &json!({"$patch": "delete"}), None),
            Outcome::Deleted
        );
    }

    #[test]
    fn custom_resources_replace_lists() {
        let mut cr = json!({"apiVersion": "example.com/v1", "kind": "Widget", "metadata": {"name": "w"},
            "spec": {"parts": [{"name": "a", "size": 1}], "tags": ["x"]}});
        apply(
            &mut cr,
            &json!({"spec": {"parts": [{"name": "b"}], "tags": ["y"]}}),
            None,
        );
        assert_eq!(cr["spec"], json!({"parts": [{"name": "b"}], "tags": ["y"]}));
    }

    #[test]
    fn crd_schemas_merge_lists_by_their_keys() {
        let schema = json!({"properties": {"spec": {"properties": {
            "rules": {"type": "array", "x-kubernetes-list-type": "map",
                      "x-kubernetes-list-map-keys": ["host", "port"],
                      "items": {"properties": {"paths": {"type": "array",
                          "x-kubernetes-patch-strategy": "merge"}}}},
            "hosts": {"type": "array"}
        }}}});
        let mut cr = json!({"apiVersion": "example.com/v1", "kind": "Route", "metadata": {"name": "r"},
            "spec": {"rules": [{"host": "a", "port": 80, "paths": ["/x"]}, {"host": "a", "port": 443}],
                     "hosts": ["a"]}});
        let patch = json!({"spec": {"rules": [{"host": "a", "port": 80, "paths": ["/y"]}],
                                    "hosts": ["b"]}});
        apply(&mut cr, &patch, Some(&schema));
        assert_eq!(
            cr["spec"],
            json!({"rules": [{"host": "a", "port": 80, "paths": ["/y", "/x"]}, {"host": "a", "port": 443}],
                   "hosts": ["b"]})
        );
    }
}
