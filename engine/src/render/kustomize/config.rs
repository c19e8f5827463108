//! Transformer field specs and the `configurations` field. No IO.
//!
//! A [`FieldSpec`] says where a transformer writes: a path such as
//! `spec/template/metadata/labels` in the objects of a kind (and group or
//! version). The built-in specs live next to their transformers; a
//! kustomization's `configurations` files add more ([`Config`]), as
//! kustomize's transformer configuration does:
//!
//! ```yaml
//! nameReference:
//! - kind: ConfigMap
//!   fieldSpecs:
//!   - {path: spec/configRef, kind: Widget}
//! commonLabels:
//! - {path: spec/selector/labels, kind: Widget, create: true}
//! ```
//!
//! Built: `nameReference`, `namePrefix`, `nameSuffix`, `namespace`,
//! `commonLabels`, `commonAnnotations`, `images` and `varReference`.
//! Configurations of a
//! kustomization's resources and components apply to it too (kustomize
//! merges them upwards).

use std::borrow::Cow;

use serde_json::{Map, Value};

use super::{line_of_key, resolve, Error};
use crate::render::{yaml, RenderOptions, Tree};

/// Where a transformer writes: a `/`-separated path in the objects of a
/// kind, group and version (`None` = any). Lists on the way are entered
/// item by item; `name[]` enters a list only if it exists. With `create`,
/// missing maps on the way are made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct FieldSpec {
    /// API group (`""` for the core group).
    pub group: Option<Cow<'static, str>>,
    /// API version, without the group.
    pub version: Option<Cow<'static, str>>,
    /// Kind.
    pub kind: Option<Cow<'static, str>>,
    /// The path, e.g. `spec/template/metadata/labels`.
    pub path: Cow<'static, str>,
    /// Whether missing maps are created.
    pub create: bool,
}

impl FieldSpec {
    /// A built-in spec.
    pub const fn builtin(
        group: Option<&'static str>,
        kind: Option<&'static str>,
        path: &'static str,
        create: bool,
    ) -> Self {
        FieldSpec {
            group: match group {
                Some(g) => Some(Cow::Borrowed(g)),
                None => None,
            },
            version: None,
            kind: match kind {
                Some(k) => Some(Cow::Borrowed(k)),
                None => None,
            },
            path: Cow::Borrowed(path),
            create,
        }
    }

    /// Whether the spec applies to `object` (its kind, group and version).
    pub fn applies_to(&self, object: &Value) -> bool {
        let api_version = object
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("");
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let kind = object.get("kind").and_then(Value::as_str).unwrap_or("");
        self.kind.as_deref().is_none_or(|k| k == kind)
            && self.group.as_deref().is_none_or(|g| g == group)
            && self.version.as_deref().is_none_or(|v| v == version)
    }

    /// Call `f` on every value at the spec's path in `object`, if the spec
    /// applies to it; items of a list at the end of the path are visited
    /// one by one. With `create` (and the spec's own `create`), missing
    /// maps on the way are made, and a missing field at the end is added
    /// as `null` and visited (`f` gives it its value).
    pub fn each(&self, object: &mut Value, create: bool, f: &mut impl FnMut(&mut Value)) {
        if !self.applies_to(object) {
            return;
        }
        let path: Vec<&str> = self.path.split('/').collect();
        walk(object, &path, create && self.create, f);
    }
}

fn walk(value: &mut Value, path: &[&str], create: bool, f: &mut impl FnMut(&mut Value)) {
    if let Value::Array(items) = value {
        for item in items {
            walk(item, path, create, f);
        }
        return;
    }
    let Some((first, rest)) = path.split_first() else {
        f(value);
        return;
    };
    let Some(map) = value.as_object_mut() else {
        return;
    };
    // `name[]`: a list that is entered only if it exists.
    if let Some(list) = first.strip_suffix("[]") {
        if let Some(items) = map.get_mut(list) {
            walk(items, rest, create, f);
        }
        return;
    }
    if map.get(*first).is_none_or(Value::is_null) {
        if !create {
            return;
        }
        let missing = if rest.is_empty() {
            Value::Null
        } else {
            Value::Object(Map::new())
        };
        map.insert((*first).to_owned(), missing);
    }
    if let Some(next) = map.get_mut(*first) {
        walk(next, rest, create, f);
    }
}

/// A `nameReference` entry: fields that hold the name of an object of
/// `kind` and follow it when it is renamed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct NameReference {
    /// The kind of the referenced object.
    pub kind: String,
    /// The fields that hold its name (a string, or a list of names).
    pub specs: Vec<FieldSpec>,
}

/// Field specs added by `configurations` files, on top of the built-in
/// ones.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Config {
    /// Fields that get the name prefix.
    pub name_prefix: Vec<FieldSpec>,
    /// Fields that get the name suffix.
    pub name_suffix: Vec<FieldSpec>,
    /// Fields that hold a namespace and get the kustomization's
    /// `namespace` (e.g. a webhook's `clientConfig/service/namespace`).
    pub namespace: Vec<FieldSpec>,
    /// Label maps `commonLabels` (and selector `labels`) write to.
    pub common_labels: Vec<FieldSpec>,
    /// Annotation maps `commonAnnotations` writes to.
    pub common_annotations: Vec<FieldSpec>,
    /// Image fields `images` rewrites.
    pub images: Vec<FieldSpec>,
    /// Fields where `$(VAR)` is replaced.
    pub var_reference: Vec<FieldSpec>,
    /// Name references.
    pub name_reference: Vec<NameReference>,
}

/// The keys of a configurations file: built, or refused with a reason.
const KEYS: [(&str, Option<&str>); 10] = [
    ("nameReference", None),
    ("namePrefix", None),
    ("nameSuffix", None),
    ("namespace", None),
    ("commonLabels", None),
    ("commonAnnotations", None),
    ("images", None),
    ("varReference", None),
    ("templateLabels", Some("not supported yet")),
    ("replicas", Some("not supported yet")),
];

impl Config {
    /// Add `other`'s specs that are not already here.
    pub fn merge(&mut self, other: Config) {
        fn add<T: PartialEq>(to: &mut Vec<T>, from: Vec<T>) {
            for item in from {
                if !to.contains(&item) {
                    to.push(item);
                }
            }
        }
        add(&mut self.name_prefix, other.name_prefix);
        add(&mut self.name_suffix, other.name_suffix);
        add(&mut self.namespace, other.namespace);
        add(&mut self.common_labels, other.common_labels);
        add(&mut self.common_annotations, other.common_annotations);
        add(&mut self.images, other.images);
        add(&mut self.var_reference, other.var_reference);
        add(&mut self.name_reference, other.name_reference);
    }

    /// Read the `configurations` files of kustomization `k` (the file
    /// `file` in directory `dir` of `tree`).
    pub fn load(
        k: &Value,
        file: &str,
        dir: &str,
        tree: &Tree,
        options: &RenderOptions,
        errors: &mut Vec<Error>,
    ) -> Config {
        let mut config = Config::default();
        let files = match k.get("configurations") {
            None | Some(Value::Null) => return config,
            Some(Value::Array(files)) => files,
            Some(_) => {
                errors.push(invalid(file, "`configurations` must be a list".into()));
                return config;
            }
        };
        for entry in files {
            let Some(path) = entry.as_str() else {
                errors.push(invalid(
                    file,
                    "`configurations` must list file paths".into(),
                ));
                continue;
            };
            let Some(resolved) = resolve(dir, path) else {
                errors.push(Error::Outside {
                    file: file.to_owned(),
                    path: path.to_owned(),
                });
                continue;
            };
            let Some(bytes) = tree.get(&resolved) else {
                errors.push(Error::NotFound {
                    file: file.to_owned(),
                    what: "configurations file",
                    path: path.to_owned(),
                });
                continue;
            };
            let mut parse_errors = Vec::new();
            let docs = yaml::parse(&resolved, bytes, options, &mut parse_errors);
            for e in parse_errors {
                errors.push(invalid(&resolved, e.to_string()));
            }
            let text = String::from_utf8_lossy(bytes);
            for doc in docs {
                match parse(&doc.value, &resolved, &text) {
                    Ok(file_config) => config.merge(file_config),
                    Err(file_errors) => errors.extend(file_errors),
                }
            }
        }
        config
    }
}

fn invalid(file: &str, message: String) -> Error {
    Error::Invalid {
        file: file.to_owned(),
        message,
    }
}

/// Parse one configurations document of `file` (whose text is `text`);
/// every refused key is reported, each with its line.
fn parse(doc: &Value, file: &str, text: &str) -> Result<Config, Vec<Error>> {
    let Some(map) = doc.as_object() else {
        return Err(vec![invalid(file, "must be a mapping".into())]);
    };
    let mut config = Config::default();
    let mut errors = Vec::new();
    for (key, value) in map {
        let known = KEYS.iter().find(|(name, _)| name == key);
        let reason = match known {
            Some((_, None)) => None,
            Some((_, Some(reason))) => Some(*reason),
            None => Some("not a kustomize transformer configuration field"),
        };
        if let Some(reason) = reason {
            errors.push(Error::Unsupported {
                file: file.to_owned(),
                field: key.clone(),
                line: line_of_key(text, key),
                reason: reason.to_owned(),
            });
            continue;
        }
        let parsed = if key == "nameReference" {
            name_references(value).map(|refs| config.name_reference = refs)
        } else {
            specs(value).map(|specs| match key.as_str() {
                "namePrefix" => config.name_prefix = specs,
                "nameSuffix" => config.name_suffix = specs,
                "namespace" => config.namespace = specs,
                "commonLabels" => config.common_labels = specs,
                "commonAnnotations" => config.common_annotations = specs,
                "images" => config.images = specs,
                _ => config.var_reference = specs,
            })
        };
        if let Err(message) = parsed {
            errors.push(invalid(file, format!("{key}: {message}")));
        }
    }
    if errors.is_empty() {
        Ok(config)
    } else {
        errors.sort_by_key(|e| match e {
            Error::Unsupported { line, .. } => *line,
            _ => 0,
        });
        Err(errors)
    }
}

fn name_references(value: &Value) -> Result<Vec<NameReference>, String> {
    let Some(entries) = value.as_array() else {
        return Err("must be a list".into());
    };
    entries
        .iter()
        .map(|entry| {
            let map = entry.as_object().ok_or("entries must be mappings")?;
            if let Some(k) = map
                .keys()
                .find(|k| !["kind", "group", "version", "fieldSpecs"].contains(&k.as_str()))
            {
                return Err(format!("unknown field {k}"));
            }
            Ok(NameReference {
                kind: map
                    .get("kind")
                    .and_then(Value::as_str)
                    .ok_or("entries need a `kind`")?
                    .to_owned(),
                specs: specs(map.get("fieldSpecs").unwrap_or(&Value::Null))?,
            })
        })
        .collect()
}

/// A list of field specs `{path, group, version, kind, create}`.
fn specs(value: &Value) -> Result<Vec<FieldSpec>, String> {
    let Some(entries) = value.as_array() else {
        return Err("must be a list of field specs".into());
    };
    entries.iter().map(spec).collect()
}

fn spec(value: &Value) -> Result<FieldSpec, String> {
    let map = value.as_object().ok_or("field specs must be mappings")?;
    let text = |key: &str| -> Result<Option<Cow<'static, str>>, String> {
        match map.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(Cow::Owned(s.clone()))),
            Some(_) => Err(format!("field spec `{key}` must be a string")),
        }
    };
    if let Some(k) = map
        .keys()
        .find(|k| !["path", "group", "version", "kind", "create"].contains(&k.as_str()))
    {
        return Err(format!("unknown field spec field {k}"));
    }
    Ok(FieldSpec {
        group: text("group")?,
        version: text("version")?,
        kind: text("kind")?,
        path: text("path")?.ok_or("a field spec needs a `path`")?,
        create: map.get("create").and_then(Value::as_bool).unwrap_or(false),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn specs_walk_lists_and_create_maps() {
        let spec = FieldSpec::builtin(Some("apps"), Some("Deployment"), "spec/items/labels", true);
        let mut d = json!({"apiVersion": "apps/v1", "kind": "Deployment",
                           "spec": {"items": [{"labels": {"a": "1"}}, {}]}});
        spec.each(&mut d, true, &mut |v| {
            if v.is_null() {
                *v = json!({});
            }
            v.as_object_mut().unwrap().insert("b".into(), json!("2"));
        });
        assert_eq!(
            d["spec"]["items"],
            json!([{"labels": {"a": "1", "b": "2"}}, {"labels": {"b": "2"}}])
        );
        let mut other = json!({"apiVersion": "v1", "kind": "Deployment"});
        spec.each(&mut other, true, &mut |_| panic!("wrong group"));
    }

    #[test]
    fn refused_keys_are_reported_with_their_lines() {
        let text =
            "commonLabels:\n- path: spec/x\n  kind: W\nreplicas:\n- path: spec/size\nbogus: 1\n";
        let doc: Value = serde_yaml::from_str(text).unwrap();
        let errors = parse(&doc, "conf.yaml", text).unwrap_err();
        let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "conf.yaml: line 4: field `replicas` is not supported (not supported yet)",
                "conf.yaml: line 6: field `bogus` is not supported (not a kustomize transformer configuration field)",
            ]
        );
    }
}
