//! Server-side apply and field ownership: computing the field set of an object, merging an
//! applied configuration into the live object, detecting conflicts with other managers (or
//! forcing ownership), removing fields a manager stopped applying, and recording `Update`
//! operations (PUT and non-apply patches) in `metadata.managedFields`. Pure functions over JSON.

use serde_json::{json, Map, Value};

use crate::fieldset::{self, list_type, ListType, Path, Set};

/// Which part of an object a write addresses.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Scope {
    /// The main resource; `.status` is excluded when the type has a status subresource.
    Main {
        /// The type has a status subresource.
        status_subresource: bool,
    },
    /// The `status` subresource; only `.status` counts.
    Status,
}

impl Scope {
    fn subresource(self) -> Option<&'static str> {
        match self {
            Scope::Main { .. } => None,
            Scope::Status => Some("status"),
        }
    }
}

/// One `managedFields` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Field manager name.
    pub manager: String,
    /// `Apply` or `Update`.
    pub operation: String,
    /// API version the manager used.
    pub api_version: String,
    /// RFC 3339 time of the last change of this entry.
    pub time: String,
    /// `status` for the status subresource.
    pub subresource: Option<String>,
    /// The owned fields.
    pub set: Set,
}

impl Entry {
    fn same_slot(&self, manager: &str, operation: &str, scope: Scope) -> bool {
        self.manager == manager
            && self.operation == operation
            && self.subresource.as_deref() == scope.subresource()
    }

    /// How the real server names this manager in conflict messages.
    fn describe(&self) -> String {
        if self.operation == "Apply" {
            format!("{:?}", self.manager)
        } else {
            format!("{:?} using {}", self.manager, self.api_version)
        }
    }
}

/// Decodes `metadata.managedFields`.
pub fn entries(obj: &Value) -> Vec<Entry> {
    let Some(list) = obj
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
    else {
        return Vec::new();
    };
    list.iter()
        .map(|e| Entry {
            manager: str_field(e, "manager"),
            operation: str_field(e, "operation"),
            api_version: str_field(e, "apiVersion"),
            time: str_field(e, "time"),
            subresource: e
                .get("subresource")
                .and_then(Value::as_str)
                .map(str::to_string),
            set: Set::from_json(e.get("fieldsV1").unwrap_or(&Value::Null)),
        })
        .collect()
}

fn str_field(v: &Value, k: &str) -> String {
    v.get(k).and_then(Value::as_str).unwrap_or("").to_string()
}

/// Writes `entries` to `metadata.managedFields` (dropping entries with no fields).
pub fn set_entries(obj: &mut Value, entries: &[Entry]) {
    let list: Vec<Value> = entries
        .iter()
        .filter(|e| !e.set.is_empty())
        .map(|e| {
            let mut v = json!({
                "manager": e.manager,
                "operation": e.operation,
                "apiVersion": e.api_version,
                "time": e.time,
                "fieldsType": "FieldsV1",
                "fieldsV1": e.set.to_json(),
            });
            if let Some(s) = &e.subresource {
                v["subresource"] = json!(s);
            }
            v
        })
        .collect();
    if let Some(Value::Object(meta)) = obj.get_mut("metadata") {
        if list.is_empty() {
            meta.remove("managedFields");
        } else {
            meta.insert("managedFields".into(), Value::Array(list));
        }
    }
}

/// The field set of `obj` within `scope`: every leaf field, list item (by merge key) and set
/// member. System metadata (name, uid, resourceVersion, ...) is not part of any set.
pub fn object_set(kind: &str, obj: &Value, scope: Scope) -> Set {
    let mut set = Set::default();
    let Some(m) = obj.as_object() else { return set };
    let mut path = Vec::new();
    let mut fields = Vec::new();
    for (k, v) in m {
        let include = match (k.as_str(), scope) {
            ("apiVersion" | "kind", _) => false,
            ("status", Scope::Status) => true,
            (_, Scope::Status) => false,
            ("status", Scope::Main { status_subresource }) => !status_subresource,
            _ => true,
        };
        if !include || v.is_null() {
            continue;
        }
        path.push(format!("f:{k}"));
        fields.push(k.as_str());
        if k == "metadata" {
            if let Some(meta) = v.as_object() {
                for mk in ["labels", "annotations", "finalizers", "ownerReferences"] {
                    if let Some(mv) = meta.get(mk).filter(|v| !v.is_null()) {
                        path.push(format!("f:{mk}"));
                        fields.push(mk);
                        walk(kind, mv, &mut path, &mut fields, &mut set);
                        fields.pop();
                        path.pop();
                    }
                }
            }
        } else {
            walk(kind, v, &mut path, &mut fields, &mut set);
        }
        fields.pop();
        path.pop();
    }
    set
}

fn walk<'a>(kind: &str, v: &'a Value, path: &mut Path, fields: &mut Vec<&'a str>, set: &mut Set) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            for (k, child) in m {
                if child.is_null() {
                    continue;
                }
                path.push(format!("f:{k}"));
                fields.push(k.as_str());
                walk(kind, child, path, fields, set);
                fields.pop();
                path.pop();
            }
        }
        Value::Array(items) if !items.is_empty() => match list_type(kind, fields) {
            ListType::Atomic => set.insert(path),
            ListType::Set => {
                path.push(".".into());
                set.insert(path);
                path.pop();
                for i in items {
                    path.push(fieldset::set_key(i));
                    set.insert(path);
                    path.pop();
                }
            }
            ListType::Map(keys) => {
                for i in items {
                    let Some(k) = fieldset::item_key(i, keys) else {
                        set.insert(path);
                        continue;
                    };
                    path.push(k);
                    path.push(".".into());
                    set.insert(path);
                    path.pop();
                    walk(kind, i, path, fields, set);
                    path.pop();
                }
            }
        },
        _ => set.insert(path),
    }
}

/// Merges an applied configuration into `live`: maps recursively, keyed lists item by item,
/// sets by union, everything else replaced.
fn merge<'a>(kind: &str, live: &mut Value, config: &'a Value, fields: &mut Vec<&'a str>) {
    match (live, config) {
        (Value::Object(l), Value::Object(c)) => {
            for (k, cv) in c {
                if cv.is_null() {
                    continue;
                }
                fields.push(k.as_str());
                match l.get_mut(k) {
                    Some(lv) => merge(kind, lv, cv, fields),
                    None => {
                        l.insert(k.clone(), cv.clone());
                    }
                }
                fields.pop();
            }
        }
        (Value::Array(l), Value::Array(c)) if !fields.is_empty() => match list_type(kind, fields) {
            ListType::Map(keys) => {
                for ci in c {
                    let key = fieldset::item_key(ci, keys);
                    match l
                        .iter_mut()
                        .find(|li| key.is_some() && fieldset::item_key(li, keys) == key)
                    {
                        Some(li) => merge(kind, li, ci, fields),
                        None => l.push(ci.clone()),
                    }
                }
            }
            ListType::Set => {
                for ci in c {
                    if !l.contains(ci) {
                        l.push(ci.clone());
                    }
                }
            }
            ListType::Atomic => *l = c.clone(),
        },
        (l, c) => *l = c.clone(),
    }
}

/// One field owned by another manager with a different value.
#[derive(Debug, Clone, PartialEq)]
pub struct Conflict {
    /// The other manager, described as in the real message (`"x" using apps/v1`).
    pub manager: String,
    /// The field, as `.spec.replicas`.
    pub field: String,
}

/// The real server's message for a set of conflicts.
pub fn conflict_message(conflicts: &[Conflict]) -> String {
    let n = conflicts.len();
    let body = if n == 1 {
        format!(
            "conflict with {}: {}",
            conflicts[0].manager, conflicts[0].field
        )
    } else {
        let mut managers: Vec<&str> = Vec::new();
        for c in conflicts {
            if !managers.contains(&c.manager.as_str()) {
                managers.push(&c.manager);
            }
        }
        let mut b = String::from("conflicts with");
        for m in &managers {
            if managers.len() == 1 {
                b.push_str(&format!(" {m}:"));
            } else {
                b.push_str(&format!("\n{m}:"));
            }
            for c in conflicts.iter().filter(|c| &c.manager == m) {
                b.push_str(&format!("\n- {}", c.field));
            }
        }
        b
    };
    format!(
        "Apply failed with {n} conflict{}: {body}",
        if n == 1 { "" } else { "s" }
    )
}

/// Removes what an applied configuration must not merge: managedFields, resourceVersion, and
/// the part of the object outside the addressed scope.
fn strip_for_merge(config: &mut Value, scope: Scope) {
    if let Some(Value::Object(meta)) = config.get_mut("metadata") {
        meta.remove("managedFields");
        meta.remove("resourceVersion");
    }
    if let Some(m) = config.as_object_mut() {
        match scope {
            Scope::Main {
                status_subresource: true,
            } => {
                m.remove("status");
            }
            Scope::Status => m.retain(|k, _| k == "status"),
            Scope::Main {
                status_subresource: false,
            } => {}
        }
    }
}

/// True when the only managedFields entry is this manager's Apply entry, with the same API
/// version and exactly `set`.
fn sole_owner_unchanged(live: &Value, set: &Set, a: Apply<'_>) -> bool {
    let Some([e]) = live
        .pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .map(Vec::as_slice)
    else {
        return false;
    };
    let s = |k: &str| e.get(k).and_then(Value::as_str);
    s("manager") == Some(a.manager)
        && s("operation") == Some("Apply")
        && s("apiVersion") == Some(a.api_version)
        && s("subresource") == a.scope.subresource()
        && e.get("fieldsV1").is_some_and(|f| set.eq_json(f))
}

/// The parameters of one apply.
#[derive(Debug, Clone, Copy)]
pub struct Apply<'a> {
    /// Object kind (selects the list schema).
    pub kind: &'a str,
    /// Field manager.
    pub manager: &'a str,
    /// Take ownership of conflicting fields.
    pub force: bool,
    /// API version of the request.
    pub api_version: &'a str,
    /// Main resource or status.
    pub scope: Scope,
    /// Time to record.
    pub now: &'a str,
}

/// Applies `config` to `live` (a skeleton with metadata for a create) and returns the merged
/// object with updated `managedFields`, or the conflicts.
pub fn apply(live: &Value, mut config: Value, a: Apply<'_>) -> Result<Value, Vec<Conflict>> {
    let config_set = object_set(a.kind, &config, a.scope);
    if sole_owner_unchanged(live, &config_set, a) {
        // Fast path for the common re-apply: this manager is the only one and applies the same
        // fields, so there is nothing to conflict with, remove, or re-record.
        strip_for_merge(&mut config, a.scope);
        let mut merged = live.clone();
        merge(a.kind, &mut merged, &config, &mut Vec::new());
        return Ok(merged);
    }
    let mut entries = entries(live);
    let mut conflicts = Vec::new();
    let mut conflicting: Vec<(usize, Path)> = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        if e.same_slot(a.manager, "Apply", a.scope)
            || e.subresource.as_deref() != a.scope.subresource()
        {
            continue;
        }
        config_set.visit_common(&e.set, &mut |p| {
            if p.last() != Some(&".") && fieldset::get(live, p) != fieldset::get(&config, p) {
                conflicts.push(Conflict {
                    manager: e.describe(),
                    field: fieldset::display(p),
                });
                conflicting.push((i, p.iter().map(|s| s.to_string()).collect()));
            }
        });
    }
    if !conflicts.is_empty() && !a.force {
        return Err(conflicts);
    }
    let entries_changed = !conflicting.is_empty();
    for (i, p) in &conflicting {
        entries[*i].set.remove(p);
    }
    strip_for_merge(&mut config, a.scope);
    let mut merged = live.clone();
    merge(a.kind, &mut merged, &config, &mut Vec::new());

    let previous = entries
        .iter()
        .position(|e| e.same_slot(a.manager, "Apply", a.scope));
    if let Some(prev) = previous {
        let mut others = Set::default();
        for (i, e) in entries.iter().enumerate() {
            if i != prev {
                others.union_with(&e.set);
            }
        }
        entries[prev].set.visit(&mut |p| {
            if config_set.contains(p) {
                return;
            }
            let target = if p.last() == Some(&".") {
                &p[..p.len() - 1]
            } else {
                p
            };
            if !others.touches(target) && !config_set.touches(target) {
                fieldset::remove(&mut merged, p);
            }
        });
    }
    match previous {
        Some(i)
            if !entries_changed
                && entries[i].set == config_set
                && entries[i].api_version == a.api_version =>
        {
            // Ownership unchanged: the live managedFields (already in `merged`) stay as they are.
            return Ok(merged);
        }
        Some(i) if entries[i].set == config_set && entries[i].api_version == a.api_version => {}
        Some(i) => {
            let e = &mut entries[i];
            e.set = config_set;
            e.api_version = a.api_version.to_string();
            e.time = a.now.to_string();
        }
        None => entries.push(Entry {
            manager: a.manager.to_string(),
            operation: "Apply".into(),
            api_version: a.api_version.to_string(),
            time: a.now.to_string(),
            subresource: a.scope.subresource().map(str::to_string),
            set: config_set,
        }),
    }
    set_entries(&mut merged, &entries);
    Ok(merged)
}

/// Records an `Update` by `manager` that turned `old` (None on create) into `new`: the manager
/// takes every field it changed or added, other managers lose those fields, and removed fields
/// leave every set. If `new` carries managedFields different from `old`'s, they are kept as
/// given (the real server lets clients rewrite them); `[{}]` clears them.
pub fn record_update(
    kind: &str,
    old: Option<&Value>,
    new: &mut Value,
    manager: &str,
    api_version: &str,
    scope: Scope,
    now: &str,
) {
    let requested = new.pointer("/metadata/managedFields").cloned();
    let current = old
        .and_then(|o| o.pointer("/metadata/managedFields"))
        .cloned();
    if let Some(req) = &requested {
        if Some(req) != current.as_ref() {
            if req
                .as_array()
                .is_some_and(|a| a.iter().all(|e| e.as_object().is_some_and(Map::is_empty)))
            {
                set_entries(new, &[]);
            }
            return;
        }
    }
    let empty = Value::Null;
    let old_obj = old.unwrap_or(&empty);
    let old_set = object_set(kind, old_obj, scope);
    let new_set = object_set(kind, new, scope);
    let mut changed = Set::default();
    new_set.visit(&mut |p| {
        if fieldset::get(old_obj, p) != fieldset::get(new, p) {
            changed.insert(p);
        }
    });
    let mut removed: Vec<Path> = Vec::new();
    old_set.visit(&mut |p| {
        if !new_set.contains(p) {
            removed.push(p.iter().map(|s| s.to_string()).collect());
        }
    });
    let changed_paths = changed.leaves();
    let mut entries = old.map(entries).unwrap_or_default();
    for e in entries.iter_mut() {
        for p in changed_paths.iter().chain(&removed) {
            e.set.remove(p);
        }
    }
    if !changed.is_empty() {
        match entries
            .iter_mut()
            .find(|e| e.same_slot(manager, "Update", scope))
        {
            Some(e) => {
                e.set.union_with(&changed);
                e.time = now.to_string();
                e.api_version = api_version.to_string();
            }
            None => entries.push(Entry {
                manager: manager.to_string(),
                operation: "Update".into(),
                api_version: api_version.to_string(),
                time: now.to_string(),
                subresource: scope.subresource().map(str::to_string),
                set: changed,
            }),
        }
    }
    set_entries(new, &entries);
}

#[cfg(test)]
mod tests {
    use super::*;

    const MAIN: Scope = Scope::Main {
        status_subresource: true,
    };

    fn dep(replicas: i64, image: &str) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "labels": {"a": "b"}},
               "spec": {"replicas": replicas, "template": {"spec": {"containers": [{"name": "c", "image": image, "ports": [{"containerPort": 80}]}]}}}})
    }

    fn apply_as(
        live: &Value,
        cfg: &Value,
        manager: &str,
        force: bool,
    ) -> Result<Value, Vec<Conflict>> {
        apply(
            live,
            cfg.clone(),
            Apply {
                kind: "Deployment",
                manager,
                force,
                api_version: "apps/v1",
                scope: MAIN,
                now: "t",
            },
        )
    }

    #[test]
    fn fields_v1_shape_matches_real_server() {
        let set = object_set("Deployment", &dep(1, "x"), MAIN);
        assert_eq!(
            set.to_json(),
            json!({"f:metadata": {"f:labels": {"f:a": {}}}, "f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {
                "k:{\"name\":\"c\"}": {".": {}, "f:image": {}, "f:name": {}, "f:ports": {
                    "k:{\"containerPort\":80,\"protocol\":\"TCP\"}": {".": {}, "f:containerPort": {}}}}}}}}})
        );
    }

    #[test]
    fn conflict_then_force_moves_ownership() {
        let live = apply_as(
            &json!({"metadata": {"name": "d"}}),
            &dep(1, "x"),
            "a",
            false,
        )
        .unwrap();
        let mut edited = live.clone();
        edited["spec"]["replicas"] = json!(5);
        record_update(
            "Deployment",
            Some(&live),
            &mut edited,
            "kubectl-edit",
            "apps/v1",
            MAIN,
            "t",
        );
        let err = apply_as(&edited, &dep(1, "x"), "a", false).unwrap_err();
        assert_eq!(conflict_message(&err), "Apply failed with 1 conflict: conflict with \"kubectl-edit\" using apps/v1: .spec.replicas");
        let forced = apply_as(&edited, &dep(1, "x"), "a", true).unwrap();
        assert_eq!(forced["spec"]["replicas"], json!(1));
        assert_eq!(
            forced["metadata"]["managedFields"]
                .as_array()
                .unwrap()
                .len(),
            1
        );
    }

    #[test]
    fn dropped_fields_are_removed_unless_owned_elsewhere() {
        let live = apply_as(
            &json!({"metadata": {"name": "d"}}),
            &dep(1, "x"),
            "a",
            false,
        )
        .unwrap();
        let mut cfg = dep(1, "x");
        cfg["metadata"]["labels"] = json!({});
        cfg["spec"]["template"]["spec"]["containers"][0]
            .as_object_mut()
            .unwrap()
            .remove("ports");
        let out = apply_as(&live, &cfg, "a", false).unwrap();
        assert_eq!(out["metadata"].get("labels"), None);
        assert_eq!(
            out["spec"]["template"]["spec"]["containers"][0].get("ports"),
            None
        );
        let shared = apply_as(&live, &dep(1, "x"), "b", false).unwrap();
        let out = apply_as(&shared, &cfg, "a", false).unwrap();
        assert_eq!(out["metadata"]["labels"], json!({"a": "b"}));
    }
}
