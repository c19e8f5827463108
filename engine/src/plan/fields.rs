//! Managed fields: which fields a field manager owns, and their values.
//!
//! Server-side apply records, per field manager, the set of fields it owns in
//! `metadata.managedFields[].fieldsV1`, a tree whose keys are:
//!
//! - `f:<name>`: a field of a map;
//! - `k:<json>`: the item of a list whose merge keys have these values, e.g.
//!   `k:{"name":"web"}` in `containers`;
//! - `v:<json>`: an item of a set of scalars, by value;
//! - `i:<n>`: an item of a list by index;
//! - `.`: the map or item itself (its existence), not its fields.
//!
//! A node without children other than `.` is a *leaf*: the manager owns the
//! whole value there. This module turns a fieldsV1 tree into leaf paths and
//! reads the values at those paths from an object. Pure; no IO.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{de, Deserialize, Deserializer, Serialize, Serializer};
use serde_json::{Map, Value};

/// One step of a path through an object, as fieldsV1 names it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Segment {
    /// A field of a map (`f:`).
    Field(String),
    /// The list item whose fields have these values (`k:`), as the JSON
    /// object text fieldsV1 uses, e.g. `{"name":"web"}`.
    Key(String),
    /// The set item with this value (`v:`), as JSON text.
    Value(String),
    /// The list item at this index (`i:`).
    Index(usize),
}

/// A path from the root of an object to one owned field.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct FieldPath(pub Vec<Segment>);

impl FieldPath {
    /// The empty path: the object as a whole.
    pub fn root() -> Self {
        FieldPath(Vec::new())
    }

    /// Whether `prefix` is this path or leads to it.
    pub fn starts_with(&self, prefix: &FieldPath) -> bool {
        self.0.starts_with(&prefix.0)
    }

    /// The first `len` segments of this path.
    pub fn prefix(&self, len: usize) -> FieldPath {
        FieldPath(self.0[..len.min(self.0.len())].to_vec())
    }
}

impl fmt::Display for FieldPath {
    /// Dotted form with list selectors, e.g.
    /// `spec.template.spec.containers[name=web].image`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Field(name) if name.contains(['.', '[', ']']) => {
                    write!(f, "[{name:?}]")?;
                }
                Segment::Field(name) if i == 0 => write!(f, "{name}")?,
                Segment::Field(name) => write!(f, ".{name}")?,
                Segment::Key(json) => {
                    let pairs: Vec<String> = key_pairs(json)
                        .iter()
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect();
                    write!(f, "[{}]", pairs.join(","))?;
                }
                Segment::Value(v) => write!(f, "[={v}]")?,
                Segment::Index(n) => write!(f, "[{n}]")?,
            }
        }
        Ok(())
    }
}

impl Segment {
    /// The fieldsV1 key of this segment, e.g. `f:spec` or `k:{"name":"web"}`.
    pub fn fields_v1_key(&self) -> String {
        match self {
            Segment::Field(name) => format!("f:{name}"),
            Segment::Key(json) => format!("k:{json}"),
            Segment::Value(json) => format!("v:{json}"),
            Segment::Index(n) => format!("i:{n}"),
        }
    }
}

/// Serialised as the list of its fieldsV1 keys, which is unambiguous (the
/// dotted display form is not: label keys contain dots).
impl Serialize for FieldPath {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(Segment::fields_v1_key))
    }
}

impl<'de> Deserialize<'de> for FieldPath {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let keys = Vec::<String>::deserialize(deserializer)?;
        keys.iter()
            .map(|key| {
                parse_segment(key)
                    .ok_or_else(|| de::Error::custom(format!("not a fieldsV1 key: {key:?}")))
            })
            .collect::<Result<_, _>>()
            .map(FieldPath)
    }
}

/// The leaf paths of a fieldsV1 tree: every field the manager owns as a
/// whole. Unknown key prefixes are skipped (a newer server may add some).
pub fn leaves(fields: &Value) -> Vec<FieldPath> {
    let mut out = Vec::new();
    collect_leaves(fields, &mut Vec::new(), &mut out);
    out
}

fn collect_leaves(node: &Value, prefix: &mut Vec<Segment>, out: &mut Vec<FieldPath>) {
    let children: Vec<(&String, &Value)> = node
        .as_object()
        .map(|m| m.iter().filter(|(k, _)| k.as_str() != ".").collect())
        .unwrap_or_default();
    if children.is_empty() {
        if !prefix.is_empty() {
            out.push(FieldPath(prefix.clone()));
        }
        return;
    }
    for (key, child) in children {
        if let Some(segment) = parse_segment(key) {
            prefix.push(segment);
            collect_leaves(child, prefix, out);
            prefix.pop();
        }
    }
}

/// The paths of a fieldsV1 tree that `desired` does not set, each the
/// outermost such path: a map or list item `desired` lacks is one path,
/// not one per field inside it.
pub fn not_set_in(fields: &Value, desired: &Value) -> Vec<FieldPath> {
    let mut out = Vec::new();
    collect_not_set(fields, desired, &mut Vec::new(), &mut out);
    out
}

fn collect_not_set(
    node: &Value,
    desired: &Value,
    prefix: &mut Vec<Segment>,
    out: &mut Vec<FieldPath>,
) {
    let children = node.as_object().into_iter().flatten();
    for (key, child) in children.filter(|(key, _)| key.as_str() != ".") {
        let Some(segment) = parse_segment(key) else {
            continue;
        };
        prefix.push(segment);
        let path = FieldPath(prefix.clone());
        if lookup_desired(desired, &path).is_some() {
            collect_not_set(child, desired, prefix, out);
        } else {
            out.push(path);
        }
        prefix.pop();
    }
}

fn parse_segment(key: &str) -> Option<Segment> {
    let (prefix, rest) = key.split_at_checked(2)?;
    match prefix {
        "f:" => Some(Segment::Field(rest.to_owned())),
        "v:" => Some(Segment::Value(rest.to_owned())),
        "i:" => rest.parse().ok().map(Segment::Index),
        "k:" => Some(Segment::Key(rest.to_owned())),
        _ => None,
    }
}

/// The `(field, value)` pairs of a `k:` selector; empty if it is not a JSON
/// object.
fn key_pairs(json: &str) -> Vec<(String, String)> {
    serde_json::from_str::<Map<String, Value>>(json)
        .map(|keys| {
            keys.iter()
                .map(|(k, v)| (k.clone(), scalar_text(v)))
                .collect()
        })
        .unwrap_or_default()
}

/// A scalar as it appears in a `k:` selector: strings bare, others as JSON.
fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// The value at a path in an object, if it is there.
pub fn lookup<'a>(object: &'a Value, path: &FieldPath) -> Option<&'a Value> {
    lookup_with(object, path, KeyMatch::Exact)
}

/// The value at a path in a desired manifest. List items there may leave
/// out merge-key fields the API server defaults (a Service port without
/// `protocol` is the live item `[port=80,protocol=TCP]`), so an item matches
/// when every key field it sets has the key's value.
pub fn lookup_desired<'a>(object: &'a Value, path: &FieldPath) -> Option<&'a Value> {
    lookup_with(object, path, KeyMatch::Defaulted)
}

/// How a `k:` selector matches list items.
#[derive(Clone, Copy)]
enum KeyMatch {
    /// Every key field is there, with the key's value.
    Exact,
    /// Every key field that is there has the key's value, and at least one is.
    Defaulted,
}

fn lookup_with<'a>(object: &'a Value, path: &FieldPath, key_match: KeyMatch) -> Option<&'a Value> {
    path.0
        .iter()
        .try_fold(object, |node, segment| match segment {
            Segment::Field(name) => node.get(name),
            Segment::Index(n) => node.get(*n),
            Segment::Value(text) => {
                let wanted: Value = serde_json::from_str(text).ok()?;
                node.as_array()?.iter().find(|item| **item == wanted)
            }
            Segment::Key(json) => {
                let pairs = key_pairs(json);
                node.as_array()?
                    .iter()
                    .find(|item| key_matches(item, &pairs, key_match))
            }
        })
}

fn key_matches(item: &Value, pairs: &[(String, String)], key_match: KeyMatch) -> bool {
    let values = pairs.iter().map(|(k, v)| (item.get(k).map(scalar_text), v));
    match key_match {
        KeyMatch::Exact => values
            .into_iter()
            .all(|(found, wanted)| found.as_ref() == Some(wanted)),
        KeyMatch::Defaulted => {
            let present: Vec<(String, &String)> = values
                .filter_map(|(found, wanted)| Some((found?, wanted)))
                .collect();
            !present.is_empty() && present.iter().all(|(found, wanted)| found == *wanted)
        }
    }
}

/// The `k:` selector of a live list item by the given key fields, e.g.
/// `k:{"port":8081,"protocol":"TCP"}` for a Service port.
pub fn item_key(item: &Value, key_fields: &[String]) -> Segment {
    let key: Map<String, Value> = key_fields
        .iter()
        .filter_map(|field| Some((field.clone(), item.get(field)?.clone())))
        .collect();
    Segment::Key(Value::Object(key).to_string())
}

/// The field names of a `k:` selector.
pub fn key_fields(json: &str) -> Vec<String> {
    key_pairs(json)
        .into_iter()
        .map(|(field, _)| field)
        .collect()
}

/// Where the API server stores a field an object is written with. Secret
/// `stringData` is write-only: the server stores each key base64-encoded in
/// `data` and drops `stringData`, so what can be compared is `data.<key>`.
/// Every other field is stored where it is written.
pub fn stored_path(object: &Value, path: &FieldPath) -> FieldPath {
    let is_secret = object.get("kind").and_then(Value::as_str) == Some("Secret")
        && object.get("apiVersion").and_then(Value::as_str) == Some("v1");
    match path.0.split_first() {
        Some((Segment::Field(first), rest)) if is_secret && first == "stringData" => {
            let mut stored = vec![Segment::Field("data".to_owned())];
            stored.extend_from_slice(rest);
            FieldPath(stored)
        }
        _ => path.clone(),
    }
}

/// A manifest as the API server stores it, which is how Plumbline applies
/// it: a `v1` Secret's write-only `stringData` is merged into `data`,
/// base64-encoded, and dropped (a key in both takes `stringData`'s value,
/// as the API server does). Applied this way, Plumbline owns `data.<key>`,
/// so a key that leaves Git's `stringData` is removed from the Secret by
/// server-side apply (owning only `stringData.<key>`, which the API server
/// never stores, it would stay in `data` forever). Every other object,
/// and a Secret whose `stringData` or `data` is not a map of strings (the
/// API server refuses it by name), is returned as it is.
pub fn stored_form(object: &Value) -> std::borrow::Cow<'_, Value> {
    use base64::Engine as _;
    let is_secret = object.get("kind").and_then(Value::as_str) == Some("Secret")
        && object.get("apiVersion").and_then(Value::as_str) == Some("v1");
    if !is_secret || object.get("stringData").is_none() {
        return std::borrow::Cow::Borrowed(object);
    }
    let strings = |field: &str| -> Option<Vec<(&String, &str)>> {
        let map = match object.get(field) {
            None => return Some(Vec::new()),
            Some(map) => map.as_object()?,
        };
        map.iter()
            .map(|(key, value)| Some((key, value.as_str()?)))
            .collect()
    };
    let (Some(string_data), Some(data)) = (strings("stringData"), strings("data")) else {
        return std::borrow::Cow::Borrowed(object);
    };
    let mut merged: Map<String, Value> = data
        .into_iter()
        .map(|(key, value)| (key.clone(), Value::String(value.to_owned())))
        .collect();
    for (key, text) in string_data {
        let encoded = base64::engine::general_purpose::STANDARD.encode(text);
        merged.insert(key.clone(), Value::String(encoded));
    }
    let mut stored = object.clone();
    if let Some(fields) = stored.as_object_mut() {
        fields.remove("stringData");
        fields.insert("data".to_owned(), Value::Object(merged));
    }
    std::borrow::Cow::Owned(stored)
}

/// The fieldsV1 tree of one manager's `Apply` entry in an object's
/// `metadata.managedFields` (merged when the manager has several entries,
/// e.g. one per subresource).
pub fn applied_by(object: &Value, manager: &str) -> Option<Value> {
    let entries = object.pointer("/metadata/managedFields")?.as_array()?;
    let mut merged: Option<Value> = None;
    for entry in entries {
        let is_ours = entry.get("manager").and_then(Value::as_str) == Some(manager)
            && entry.get("operation").and_then(Value::as_str) == Some("Apply")
            && entry.get("subresource").is_none();
        if let (true, Some(fields)) = (is_ours, entry.get("fieldsV1")) {
            match &mut merged {
                Some(tree) => merge_trees(tree, fields),
                None => merged = Some(fields.clone()),
            }
        }
    }
    merged
}

/// Add the fields of fieldsV1 tree `from` to tree `into` (set union).
pub fn merge_trees(into: &mut Value, from: &Value) {
    if let (Some(into), Some(from)) = (into.as_object_mut(), from.as_object()) {
        for (key, child) in from {
            match into.get_mut(key) {
                Some(existing) => merge_trees(existing, child),
                None => {
                    into.insert(key.clone(), child.clone());
                }
            }
        }
    }
}

/// The managers owning each leaf path, over every entry of an object's
/// `metadata.managedFields`. Several managers share a field when they applied
/// the same value.
pub fn owners(object: &Value) -> BTreeMap<FieldPath, BTreeSet<String>> {
    let mut owners: BTreeMap<FieldPath, BTreeSet<String>> = BTreeMap::new();
    let entries = object
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array);
    for entry in entries.into_iter().flatten() {
        let manager = entry.get("manager").and_then(Value::as_str).unwrap_or("");
        if let Some(fields) = entry.get("fieldsV1") {
            for path in leaves(fields) {
                owners.entry(path).or_default().insert(manager.to_owned());
            }
        }
    }
    owners
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment() -> Value {
        json!({
            "apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "labels": {"app": "web"},
                "managedFields": [
                    {"manager": "plumbline", "operation": "Apply", "apiVersion": "apps/v1",
                     "fieldsType": "FieldsV1", "fieldsV1": {
                        "f:metadata": {"f:labels": {"f:app": {}}},
                        "f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {
                            "k:{\"name\":\"web\"}": {".": {}, "f:image": {}, "f:name": {}}}}}}}},
                    {"manager": "kubectl-edit", "operation": "Update", "apiVersion": "apps/v1",
                     "fieldsType": "FieldsV1", "fieldsV1": {"f:spec": {"f:replicas": {}}}}
                ]},
            "spec": {"replicas": 5, "template": {"spec": {"containers": [
                {"name": "sidecar", "image": "envoy:1"},
                {"name": "web", "image": "nginx:1.27"}]}}}
        })
    }

    #[test]
    fn leaves_render_as_readable_paths() {
        let fields = applied_by(&deployment(), "plumbline").unwrap();
        let paths: Vec<String> = leaves(&fields).iter().map(ToString::to_string).collect();
        assert_eq!(
            paths,
            [
                "metadata.labels.app",
                "spec.replicas",
                "spec.template.spec.containers[name=web].image",
                "spec.template.spec.containers[name=web].name",
            ]
        );
    }

    #[test]
    fn lookup_follows_merge_keys_not_positions() {
        let d = deployment();
        let fields = applied_by(&d, "plumbline").unwrap();
        let image = leaves(&fields)
            .into_iter()
            .find(|p| p.to_string().ends_with("image"))
            .unwrap();
        assert_eq!(lookup(&d, &image), Some(&json!("nginx:1.27")));
    }

    #[test]
    fn lookup_of_sets_and_indices() {
        let obj = json!({"finalizers": ["a", "b"], "args": ["x", "y"]});
        let set_item = FieldPath(vec![
            Segment::Field("finalizers".into()),
            Segment::Value("\"b\"".into()),
        ]);
        let index = FieldPath(vec![Segment::Field("args".into()), Segment::Index(1)]);
        assert_eq!(lookup(&obj, &set_item), Some(&json!("b")));
        assert_eq!(lookup(&obj, &index), Some(&json!("y")));
        assert_eq!(set_item.to_string(), "finalizers[=\"b\"]");
    }

    #[test]
    fn every_manager_listing_a_field_owns_it() {
        let owners = owners(&deployment());
        let replicas = FieldPath(vec![
            Segment::Field("spec".into()),
            Segment::Field("replicas".into()),
        ]);
        let managers: Vec<&str> = owners[&replicas].iter().map(String::as_str).collect();
        assert_eq!(managers, ["kubectl-edit", "plumbline"]);
    }

    #[test]
    fn paths_round_trip_through_serde() {
        let fields = applied_by(&deployment(), "plumbline").unwrap();
        let paths = leaves(&fields);
        let text = serde_json::to_string(&paths).unwrap();
        assert!(text.contains(r#""k:{\"name\":\"web\"}""#), "{text}");
        let back: Vec<FieldPath> = serde_json::from_str(&text).unwrap();
        assert_eq!(back, paths);
        assert!(serde_json::from_str::<FieldPath>(r#"["x:what"]"#).is_err());
    }

    #[test]
    fn fields_with_dots_are_quoted() {
        let path = FieldPath(vec![
            Segment::Field("metadata".into()),
            Segment::Field("labels".into()),
            Segment::Field("app.kubernetes.io/name".into()),
        ]);
        assert_eq!(
            path.to_string(),
            "metadata.labels[\"app.kubernetes.io/name\"]"
        );
    }

    #[test]
    fn desired_items_may_leave_out_defaulted_key_fields() {
        let desired = json!({"ports": [{"port": 80, "protocol": "UDP"}, {"port": 80}]});
        let tcp = FieldPath(vec![
            Segment::Field("ports".into()),
            Segment::Key(r#"{"port":80,"protocol":"TCP"}"#.into()),
        ]);
        assert_eq!(lookup(&desired, &tcp), None);
        assert_eq!(lookup_desired(&desired, &tcp), Some(&json!({"port": 80})));
        let item = json!({"port": 8081, "protocol": "TCP", "targetPort": 80});
        let key = item_key(&item, &key_fields(r#"{"port":80,"protocol":"TCP"}"#));
        assert_eq!(
            key,
            Segment::Key(r#"{"port":8081,"protocol":"TCP"}"#.into())
        );
    }

    #[test]
    fn secret_string_data_is_stored_as_data() {
        let path = FieldPath(vec![
            Segment::Field("stringData".into()),
            Segment::Field("password".into()),
        ]);
        let secret = json!({"apiVersion": "v1", "kind": "Secret"});
        assert_eq!(stored_path(&secret, &path).to_string(), "data.password");
        let other = json!({"apiVersion": "example.com/v1", "kind": "Secret"});
        assert_eq!(stored_path(&other, &path), path);
    }

    #[test]
    fn a_secret_is_applied_with_string_data_merged_into_data() {
        let secret = json!({"apiVersion": "v1", "kind": "Secret",
            "data": {"a": "eA==", "b": "eA=="}, "stringData": {"b": "yes", "c": "no"}});
        assert_eq!(
            stored_form(&secret).into_owned(),
            json!({"apiVersion": "v1", "kind": "Secret",
                "data": {"a": "eA==", "b": "eWVz", "c": "bm8="}})
        );
        let not_strings =
            json!({"apiVersion": "v1", "kind": "Secret", "stringData": {"port": 5432}});
        assert_eq!(stored_form(&not_strings).as_ref(), &not_strings);
        let config = json!({"apiVersion": "v1", "kind": "ConfigMap", "stringData": {"a": "b"}});
        assert_eq!(stored_form(&config).as_ref(), &config);
    }

    #[test]
    fn fields_desired_does_not_set_are_found_at_their_outermost_path() {
        let tree = json!({"f:metadata": {"f:labels": {"f:app": {}, "f:team": {}}},
            "f:spec": {"f:ports": {"k:{\"port\":80}": {".": {}, "f:port": {}},
                                   "k:{\"port\":81}": {".": {}, "f:port": {}}}}});
        let desired =
            json!({"metadata": {"labels": {"app": "web"}}, "spec": {"ports": [{"port": 80}]}});
        let paths: Vec<String> = not_set_in(&tree, &desired)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(paths, ["metadata.labels.team", "spec.ports[port=81]"]);
    }

    #[test]
    fn update_entries_are_not_applied_fields() {
        assert!(applied_by(&deployment(), "kubectl-edit").is_none());
        assert!(applied_by(&json!({"metadata": {}}), "plumbline").is_none());
    }
}
