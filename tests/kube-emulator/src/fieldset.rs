//! Field sets in the `fieldsV1` format used by `metadata.managedFields`: a tree whose keys are
//! path elements (`f:name` for a map field, `k:{"name":"x"}` for a list item by merge key,
//! `v:"x"` for a set member, `.` for the item itself). Also the list schema (which lists are
//! associative, by which keys) and path lookup/removal in objects. Pure data; no IO.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

/// A set of field paths, stored as the `fieldsV1` tree. A node with no children is a member;
/// an inner node is only a member if it has a `.` child.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Set(BTreeMap<String, Set>);

/// One path: a sequence of `fieldsV1` elements.
pub type Path = Vec<String>;

impl Set {
    /// Decodes a `fieldsV1` JSON object (unknown shapes decode as empty).
    pub fn from_json(v: &Value) -> Self {
        match v {
            Value::Object(m) => Set(m
                .iter()
                .map(|(k, v)| (k.clone(), Set::from_json(v)))
                .collect()),
            _ => Set::default(),
        }
    }

    /// Encodes as a `fieldsV1` JSON object.
    pub fn to_json(&self) -> Value {
        Value::Object(
            self.0
                .iter()
                .map(|(k, v)| (k.clone(), v.to_json()))
                .collect::<Map<_, _>>(),
        )
    }

    /// True when `v` is this set's `fieldsV1` encoding (compared without decoding `v`).
    pub fn eq_json(&self, v: &Value) -> bool {
        let Value::Object(m) = v else { return false };
        m.len() == self.0.len()
            && self
                .0
                .iter()
                .all(|(k, child)| m.get(k).is_some_and(|cv| child.eq_json(cv)))
    }

    /// True when the set has no members.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Adds a member path.
    pub fn insert<S: AsRef<str>>(&mut self, path: &[S]) {
        let mut node = self;
        for e in path {
            let e = e.as_ref();
            if !node.0.contains_key(e) {
                node.0.insert(e.to_string(), Set::default());
            }
            node = node
                .0
                .get_mut(e)
                .unwrap_or_else(|| unreachable!("just inserted"));
        }
    }

    /// Calls `f` with every member path, without allocating per path.
    pub fn visit<'a>(&'a self, f: &mut dyn FnMut(&[&'a str])) {
        fn rec<'a>(node: &'a Set, path: &mut Vec<&'a str>, f: &mut dyn FnMut(&[&'a str])) {
            for (k, child) in &node.0 {
                path.push(k);
                if child.0.is_empty() {
                    f(path);
                } else {
                    rec(child, path, f);
                }
                path.pop();
            }
        }
        rec(self, &mut Vec::new(), f);
    }

    /// Calls `f` with every path that is a member of both sets.
    pub fn visit_common<'a>(&'a self, other: &Set, f: &mut dyn FnMut(&[&'a str])) {
        fn rec<'a>(a: &'a Set, b: &Set, path: &mut Vec<&'a str>, f: &mut dyn FnMut(&[&'a str])) {
            for (k, ac) in &a.0 {
                let Some(bc) = b.0.get(k) else { continue };
                path.push(k);
                match (ac.0.is_empty(), bc.0.is_empty()) {
                    (true, true) => f(path),
                    (false, false) => rec(ac, bc, path, f),
                    _ => {}
                }
                path.pop();
            }
        }
        rec(self, other, &mut Vec::new(), f);
    }

    /// Every member path (paths to leaves).
    pub fn leaves(&self) -> Vec<Path> {
        let mut out = Vec::new();
        self.collect(&mut Vec::new(), &mut out);
        out
    }

    fn collect(&self, prefix: &mut Path, out: &mut Vec<Path>) {
        for (k, child) in &self.0 {
            prefix.push(k.clone());
            if child.0.is_empty() {
                out.push(prefix.clone());
            } else {
                child.collect(prefix, out);
            }
            prefix.pop();
        }
    }

    fn node<S: AsRef<str>>(&self, path: &[S]) -> Option<&Set> {
        let mut node = self;
        for e in path {
            node = node.0.get(e.as_ref())?;
        }
        Some(node)
    }

    /// True when `path` is a member.
    pub fn contains<S: AsRef<str>>(&self, path: &[S]) -> bool {
        self.node(path).is_some_and(|n| n.0.is_empty())
    }

    /// True when `path` or anything below it is a member.
    pub fn touches<S: AsRef<str>>(&self, path: &[S]) -> bool {
        self.node(path).is_some()
    }

    /// Removes a member path, pruning inner nodes left without members.
    pub fn remove<S: AsRef<str>>(&mut self, path: &[S]) {
        fn rec<S: AsRef<str>>(node: &mut Set, path: &[S]) -> bool {
            let Some((first, rest)) = path.split_first() else {
                return false;
            };
            let Some(child) = node.0.get_mut(first.as_ref()) else {
                return false;
            };
            let drop = if rest.is_empty() {
                child.0.is_empty()
            } else {
                rec(child, rest) && child.0.is_empty()
            };
            if drop {
                node.0.remove(first.as_ref());
            }
            drop
        }
        rec(self, path);
    }

    /// Adds every member of `other`.
    pub fn union_with(&mut self, other: &Set) {
        other.visit(&mut |p| self.insert(p));
    }
}

/// How a list is merged: atomically, as a set of scalars, or as a map keyed by fields.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ListType {
    /// Replaced as a whole; owned as one field.
    Atomic,
    /// A set of scalars (`v:` elements).
    Set,
    /// Items identified by these key fields (`k:` elements).
    Map(&'static [&'static str]),
}

/// The list type of the list at `fields` (the chain of field names from the root, list items
/// skipped) in an object of `kind`, following the built-in OpenAPI schema's merge keys.
pub fn list_type(kind: &str, fields: &[&str]) -> ListType {
    let n = fields.len();
    let last = fields[n - 1];
    let parent = if n >= 2 { fields[n - 2] } else { "" };
    let container = matches!(
        parent,
        "containers" | "initContainers" | "ephemeralContainers"
    );
    match last {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "imagePullSecrets"
        | "resourceClaims" => ListType::Map(&["name"]),
        "env" if container => ListType::Map(&["name"]),
        "ports" if container => ListType::Map(&["containerPort", "protocol"]),
        "ports" if kind == "Service" && fields == ["spec", "ports"] => {
            ListType::Map(&["port", "protocol"])
        }
        "volumeMounts" if container => ListType::Map(&["mountPath"]),
        "volumeDevices" if container => ListType::Map(&["devicePath"]),
        "hostAliases" => ListType::Map(&["ip"]),
        "topologySpreadConstraints" => ListType::Map(&["topologyKey", "whenUnsatisfiable"]),
        "conditions" if fields.first() == Some(&"status") => ListType::Map(&["type"]),
        "ownerReferences" if fields == ["metadata", "ownerReferences"] => ListType::Map(&["uid"]),
        "finalizers" if fields == ["metadata", "finalizers"] => ListType::Set,
        "versions" if kind == "CustomResourceDefinition" && fields == ["spec", "versions"] => {
            ListType::Map(&["name"])
        }
        _ => ListType::Atomic,
    }
}

/// A key field's default when absent (`protocol` defaults to TCP).
fn key_default(key: &str) -> Option<Value> {
    (key == "protocol").then(|| Value::String("TCP".into()))
}

/// The `k:{...}` element for a list item, or `None` if the item lacks a required key field.
pub fn item_key(item: &Value, keys: &[&str]) -> Option<String> {
    let mut m = Map::new();
    for k in keys {
        let v = item
            .get(*k)
            .filter(|v| !v.is_null())
            .cloned()
            .or_else(|| key_default(k))?;
        m.insert((*k).to_string(), v);
    }
    Some(format!("k:{}", Value::Object(m)))
}

/// The `v:...` element for a set member.
pub fn set_key(item: &Value) -> String {
    format!("v:{item}")
}

/// Finds the index of the item matching a `k:` or `v:` element.
fn find_item(items: &[Value], elem: &str) -> Option<usize> {
    if elem.starts_with("v:") {
        return items.iter().position(|i| set_key(i) == elem);
    }
    let want: Map<String, Value> = serde_json::from_str(elem.strip_prefix("k:")?).ok()?;
    items.iter().position(|i| {
        want.iter().all(|(k, v)| {
            i.get(k)
                .filter(|x| !x.is_null())
                .cloned()
                .or_else(|| key_default(k))
                .as_ref()
                == Some(v)
        })
    })
}

/// The value at `path` in `obj` (`.` is the enclosing value itself).
pub fn get<'a, S: AsRef<str>>(obj: &'a Value, path: &[S]) -> Option<&'a Value> {
    let mut cur = obj;
    for e in path {
        let e = e.as_ref();
        cur = if let Some(f) = e.strip_prefix("f:") {
            cur.get(f)?
        } else if e == "." {
            cur
        } else {
            let items = cur.as_array()?;
            &items[find_item(items, e)?]
        };
    }
    Some(cur)
}

/// Removes the value at `path` from `obj` (a trailing `.` removes the enclosing item), then
/// prunes maps and lists left empty by the removal. Returns whether anything was removed.
pub fn remove<S: AsRef<str>>(obj: &mut Value, path: &[S]) -> bool {
    let path = match path.last() {
        Some(l) if l.as_ref() == "." => &path[..path.len() - 1],
        _ => path,
    };
    fn rec<S: AsRef<str>>(cur: &mut Value, path: &[S]) -> bool {
        let Some((first, rest)) = path.split_first() else {
            return false;
        };
        let first = first.as_ref();
        if let Some(f) = first.strip_prefix("f:") {
            let Some(m) = cur.as_object_mut() else {
                return false;
            };
            if rest.is_empty() {
                return m.remove(f).is_some();
            }
            let Some(child) = m.get_mut(f) else {
                return false;
            };
            let removed = rec(child, rest);
            if removed && is_empty(child) {
                m.remove(f);
            }
            removed
        } else {
            let Some(items) = cur.as_array_mut() else {
                return false;
            };
            let Some(i) = find_item(items, first) else {
                return false;
            };
            if rest.is_empty() {
                items.remove(i);
                return true;
            }
            let removed = rec(&mut items[i], rest);
            if removed && is_empty(&items[i]) {
                items.remove(i);
            }
            removed
        }
    }
    rec(obj, path)
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Object(m) => m.is_empty(),
        Value::Array(a) => a.is_empty(),
        _ => false,
    }
}

/// Renders a path the way the real server names fields in conflicts: `.spec.containers[name="x"].image`.
pub fn display<S: AsRef<str>>(path: &[S]) -> String {
    let mut out = String::new();
    for e in path {
        let e = e.as_ref();
        if let Some(f) = e.strip_prefix("f:") {
            out.push('.');
            out.push_str(f);
        } else if let Some(k) = e.strip_prefix("k:") {
            let m: Map<String, Value> = serde_json::from_str(k).unwrap_or_default();
            let parts: Vec<String> = m.iter().map(|(k, v)| format!("{k}={v}")).collect();
            out.push_str(&format!("[{}]", parts.join(",")));
        } else if let Some(v) = e.strip_prefix("v:") {
            out.push_str(&format!("[={v}]"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn p(s: &[&str]) -> Path {
        s.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn set_roundtrip_and_remove() {
        let j = json!({"f:spec": {"f:replicas": {}, "f:containers": {"k:{\"name\":\"a\"}": {".": {}, "f:image": {}}}}});
        let mut s = Set::from_json(&j);
        assert_eq!(s.to_json(), j);
        assert!(s.eq_json(&j));
        assert!(!s.eq_json(&json!({"f:spec": {"f:replicas": {}}})));
        assert!(s.contains(&p(&["f:spec", "f:replicas"])));
        assert!(!s.contains(&p(&["f:spec"])));
        assert!(s.touches(&p(&["f:spec"])));
        s.remove(&p(&["f:spec", "f:replicas"]));
        s.remove(&p(&["f:spec", "f:containers", "k:{\"name\":\"a\"}", "."]));
        s.remove(&p(&[
            "f:spec",
            "f:containers",
            "k:{\"name\":\"a\"}",
            "f:image",
        ]));
        assert!(s.is_empty());
    }

    #[test]
    fn get_and_remove_by_key() {
        let mut o = json!({"spec": {"ports": [{"port": 80, "protocol": "TCP"}, {"port": 443}]}});
        let k = item_key(&json!({"port": 443}), &["port", "protocol"]).unwrap();
        assert_eq!(k, "k:{\"port\":443,\"protocol\":\"TCP\"}");
        let path = vec![
            "f:spec".into(),
            "f:ports".into(),
            k.clone(),
            "f:port".into(),
        ];
        assert_eq!(get(&o, &path), Some(&json!(443)));
        assert_eq!(
            display(&path),
            ".spec.ports[port=443,protocol=\"TCP\"].port"
        );
        assert!(remove(
            &mut o,
            &["f:spec".into(), "f:ports".into(), k, ".".into()]
        ));
        assert_eq!(
            o,
            json!({"spec": {"ports": [{"port": 80, "protocol": "TCP"}]}})
        );
    }
}
