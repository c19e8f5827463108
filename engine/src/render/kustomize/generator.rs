//! `configMapGenerator` and `secretGenerator` (with `generatorOptions`):
//! ConfigMaps and Secrets made from literals, files and env files, and the
//! content-hash name suffix that kustomize adds at the end of a build, with
//! references to the generated objects updated. No IO.

use std::collections::{BTreeMap, HashMap};

use base64::Engine as _;
use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use super::config::Config;
use super::transform::{references, Context};
use super::{resolve, Error};
use crate::render::{Manifest, Origin};

/// The annotation that marks an object whose name gets the hash suffix at
/// the end of the build (kustomize's own internal marker); removed then.
const NEEDS_HASH: &str = "internal.config.kubernetes.io/needsHashSuffix";

/// Options of a generator (`options` of an entry, `generatorOptions`).
#[derive(Debug, Clone, Default)]
struct Options {
    labels: Map<String, Value>,
    annotations: Map<String, Value>,
    disable_hash: bool,
    immutable: bool,
}

impl Options {
    fn parse(v: Option<&Value>) -> Options {
        let map = |k: &str| {
            v.and_then(|v| v.get(k))
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default()
        };
        let flag = |k: &str| v.and_then(|v| v.get(k)).and_then(Value::as_bool) == Some(true);
        Options {
            labels: map("labels"),
            annotations: map("annotations"),
            disable_hash: flag("disableNameSuffixHash"),
            immutable: flag("immutable"),
        }
    }

    /// These options refined by an entry's own.
    fn with(&self, own: &Options, own_given: Option<&Value>) -> Options {
        let mut out = self.clone();
        out.labels.extend(own.labels.clone());
        out.annotations.extend(own.annotations.clone());
        let set = |k: &str| own_given.and_then(|v| v.get(k)).is_some();
        if set("disableNameSuffixHash") {
            out.disable_hash = own.disable_hash;
        }
        if set("immutable") {
            out.immutable = own.immutable;
        }
        out
    }
}

/// Which generator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Generated {
    ConfigMap,
    Secret,
}

/// Run `configMapGenerator` and `secretGenerator` of `k`, adding to (or,
/// with `behavior: merge|replace`, changing) `objects`.
pub(super) fn generate(
    k: &Value,
    cx: &Context<'_>,
    origin_line: impl Fn(&str) -> usize,
    objects: &mut Vec<Manifest>,
    errors: &mut Vec<Error>,
) {
    let defaults = Options::parse(k.get("generatorOptions"));
    for (field, generated) in [
        ("configMapGenerator", Generated::ConfigMap),
        ("secretGenerator", Generated::Secret),
    ] {
        let entries = match k.get(field) {
            None | Some(Value::Null) => continue,
            Some(Value::Array(entries)) => entries,
            Some(_) => {
                errors.push(invalid(cx, format!("`{field}` must be a list")));
                continue;
            }
        };
        for (i, entry) in entries.iter().enumerate() {
            let what = format!("{field}[{}]", i + 1);
            let origin = Origin {
                file: cx.file.to_owned(),
                document: 1,
                line: origin_line(field),
            };
            if let Err(message) = one(entry, generated, &defaults, cx, origin, objects) {
                errors.push(invalid(cx, format!("{what}: {message}")));
            }
        }
    }
}

fn invalid(cx: &Context<'_>, message: String) -> Error {
    Error::Invalid {
        file: cx.file.to_owned(),
        message,
    }
}

/// Build one generator entry into `objects`.
fn one(
    entry: &Value,
    generated: Generated,
    defaults: &Options,
    cx: &Context<'_>,
    origin: Origin,
    objects: &mut Vec<Manifest>,
) -> Result<(), String> {
    let known = [
        "name",
        "namespace",
        "behavior",
        "files",
        "literals",
        "envs",
        "env",
        "options",
        "type",
    ];
    let map = entry.as_object().ok_or("must be a mapping")?;
    if let Some(key) = map.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(format!("unknown field `{key}`"));
    }
    let name = map
        .get("name")
        .and_then(Value::as_str)
        .ok_or("needs a `name`")?;
    let namespace = map.get("namespace").and_then(Value::as_str);
    let options = defaults.with(&Options::parse(map.get("options")), map.get("options"));
    let data = collect(map, cx)?;
    let kind = match generated {
        Generated::ConfigMap => "ConfigMap",
        Generated::Secret => "Secret",
    };
    let behavior = map
        .get("behavior")
        .and_then(Value::as_str)
        .unwrap_or("create");
    if behavior != "create" {
        let existing = objects
            .iter_mut()
            .find(|m| {
                m.object["kind"] == kind
                    && m.object["metadata"]["name"] == name
                    && m.object["metadata"]
                        .get("namespace")
                        .and_then(Value::as_str)
                        == namespace
            })
            .ok_or_else(|| format!("behavior {behavior}: no {kind} {name} to change"))?;
        return change(&mut existing.object, behavior, generated, data, &options);
    }
    let mut object = json!({"apiVersion": "v1", "kind": kind, "metadata": {"name": name}});
    if let Some(ns) = namespace {
        object["metadata"]["namespace"] = json!(ns);
    }
    if generated == Generated::Secret {
        let ty = map.get("type").and_then(Value::as_str).unwrap_or("Opaque");
        object["type"] = json!(ty);
    }
    set_data(&mut object, generated, data, false);
    decorate(&mut object, &options);
    objects.push(Manifest { object, origin });
    Ok(())
}

/// `behavior: merge` or `replace` on an object of the build.
fn change(
    object: &mut Value,
    behavior: &str,
    generated: Generated,
    data: BTreeMap<String, Vec<u8>>,
    options: &Options,
) -> Result<(), String> {
    match behavior {
        "merge" => set_data(object, generated, data, true),
        "replace" => {
            if let Some(map) = object.as_object_mut() {
                map.remove("data");
                map.remove("binaryData");
            }
            set_data(object, generated, data, false);
        }
        other => return Err(format!("unknown behavior {other:?}")),
    }
    decorate(object, options);
    Ok(())
}

/// The key/value pairs of an entry: `literals`, `envs` (and `env`),
/// `files`, in kustomize's order.
fn collect(
    map: &Map<String, Value>,
    cx: &Context<'_>,
) -> Result<BTreeMap<String, Vec<u8>>, String> {
    let list = |k: &str| -> Result<Vec<String>, String> {
        match map.get(k) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(Value::String(s)) if k == "env" => Ok(vec![s.clone()]),
            Some(Value::Array(items)) => items
                .iter()
                .map(|v| {
                    v.as_str()
                        .map(str::to_owned)
                        .ok_or(format!("`{k}` must list strings"))
                })
                .collect(),
            Some(_) => Err(format!("`{k}` must be a list of strings")),
        }
    };
    let read = |path: &str| -> Result<Vec<u8>, String> {
        let resolved =
            resolve(cx.dir, path).ok_or(format!("{path:?} is outside the source path"))?;
        cx.tree
            .get(&resolved)
            .map(<[u8]>::to_vec)
            .ok_or(format!("file {path:?} not found"))
    };
    let mut data = BTreeMap::new();
    let mut insert = |key: String, value: Vec<u8>| -> Result<(), String> {
        if data.insert(key.clone(), value).is_some() {
            return Err(format!("key {key:?} is given twice"));
        }
        Ok(())
    };
    for literal in list("literals")? {
        let (key, value) = literal
            .split_once('=')
            .ok_or(format!("literal {literal:?} is not key=value"))?;
        insert(key.to_owned(), unquote(value).as_bytes().to_vec())?;
    }
    for file in list("envs")?.into_iter().chain(list("env")?) {
        let text = String::from_utf8(read(&file)?).map_err(|_| format!("{file:?} is not UTF-8"))?;
        for line in text.lines() {
            let line = line.trim_start();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (key, value) = line
                .split_once('=')
                .ok_or(format!("{file:?}: {line:?} is not key=value (values from the environment are not supported)"))?;
            insert(key.to_owned(), value.as_bytes().to_vec())?;
        }
    }
    for file in list("files")? {
        let (key, path) = match file.split_once('=') {
            Some((key, path)) => (key.to_owned(), path.to_owned()),
            None => (
                file.rsplit('/').next().unwrap_or(&file).to_owned(),
                file.clone(),
            ),
        };
        insert(key, read(&path)?)?;
    }
    Ok(data)
}

/// A literal's value without surrounding quotes, as kustomize reads it.
fn unquote(value: &str) -> &str {
    for q in ['"', '\''] {
        if let Some(inner) = value.strip_prefix(q).and_then(|v| v.strip_suffix(q)) {
            return inner;
        }
    }
    value
}

/// Put `data` into a ConfigMap (`data`, or `binaryData` for bytes that are
/// not UTF-8) or a Secret (`data`, base64); `merge` keeps existing keys.
fn set_data(
    object: &mut Value,
    generated: Generated,
    data: BTreeMap<String, Vec<u8>>,
    merge: bool,
) {
    let b64 = |bytes: &[u8]| Value::String(base64::engine::general_purpose::STANDARD.encode(bytes));
    let mut text = Map::new();
    let mut binary = Map::new();
    for (key, bytes) in data {
        match (generated, String::from_utf8(bytes)) {
            (Generated::ConfigMap, Ok(s)) => {
                text.insert(key, Value::String(s));
            }
            (Generated::ConfigMap, Err(e)) => {
                binary.insert(key, b64(e.as_bytes()));
            }
            (Generated::Secret, Ok(s)) => {
                text.insert(key, b64(s.as_bytes()));
            }
            (Generated::Secret, Err(e)) => {
                text.insert(key, b64(e.as_bytes()));
            }
        }
    }
    for (field, values) in [("data", text), ("binaryData", binary)] {
        if values.is_empty() {
            continue;
        }
        match object.get_mut(field) {
            Some(Value::Object(existing)) if merge => existing.extend(values),
            _ => object[field] = Value::Object(values),
        }
    }
}

/// Labels, annotations, `immutable` and the hash marker from the options.
fn decorate(object: &mut Value, options: &Options) {
    let meta = &mut object["metadata"];
    for (field, values) in [
        ("labels", &options.labels),
        ("annotations", &options.annotations),
    ] {
        if values.is_empty() {
            continue;
        }
        if !meta[field].is_object() {
            meta[field] = Value::Object(Map::new());
        }
        if let Some(map) = meta[field].as_object_mut() {
            map.extend(values.clone());
        }
    }
    if !options.disable_hash {
        if !meta["annotations"].is_object() {
            meta["annotations"] = Value::Object(Map::new());
        }
        meta["annotations"][NEEDS_HASH] = json!("enabled");
    }
    if options.immutable {
        object["immutable"] = json!(true);
    }
}

/// At the end of a build: give every marked object its content-hash name
/// suffix and update the references to it.
pub(super) fn add_hashes(objects: &mut [Manifest], config: &Config) {
    let mut renamed: HashMap<(String, String), String> = HashMap::new();
    for m in objects.iter_mut() {
        let Some(Value::Object(annotations)) = m.object.pointer_mut("/metadata/annotations") else {
            continue;
        };
        if annotations.remove(NEEDS_HASH).is_none() {
            continue;
        }
        if annotations.is_empty() {
            if let Some(meta) = m.object["metadata"].as_object_mut() {
                meta.remove("annotations");
            }
        }
        let kind = m.object["kind"].as_str().unwrap_or("").to_owned();
        let name = m.object["metadata"]["name"]
            .as_str()
            .unwrap_or("")
            .to_owned();
        let new = format!("{name}-{}", hash(&m.object));
        m.object["metadata"]["name"] = json!(new);
        renamed.insert((kind, name), new);
    }
    if renamed.is_empty() {
        return;
    }
    for m in objects.iter_mut() {
        references::update(&mut m.object, &renamed, config);
    }
}

/// kustomize's content hash of a ConfigMap or Secret: SHA-256 of the JSON
/// of kind, an empty name, data (and binaryData, type, immutable where
/// set), its
/// first 10 hex digits with `0 1 3 a e` made into `g h k m t`.
fn hash(object: &Value) -> String {
    let mut m = BTreeMap::new();
    let kind = object["kind"].as_str().unwrap_or("");
    m.insert("kind", json!(kind));
    // kustomize hashes with an empty name.
    m.insert("name", json!(""));
    m.insert("data", object.get("data").cloned().unwrap_or(json!({})));
    if kind == "Secret" {
        m.insert("type", object.get("type").cloned().unwrap_or(json!("")));
    }
    if let Some(binary) = object
        .get("binaryData")
        .filter(|b| b.as_object().is_some_and(|b| !b.is_empty()))
    {
        m.insert("binaryData", binary.clone());
    }
    if object.get("immutable") == Some(&Value::Bool(true)) {
        m.insert("immutable", json!(true));
    }
    let encoded = go_json(&serde_json::to_string(&m).unwrap_or_default());
    let digest = hex::encode(Sha256::digest(encoded.as_bytes()));
    digest[..10]
        .chars()
        .map(|c| match c {
            '0' => 'g',
            '1' => 'h',
            '3' => 'k',
            'a' => 'm',
            'e' => 't',
            other => other,
        })
        .collect()
}

/// JSON text as Go's `encoding/json` writes it: `<`, `>`, `&`, U+2028 and
/// U+2029 escaped.
fn go_json(text: &str) -> String {
    text.replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
        .replace('\u{2028}', "\\u2028")
        .replace('\u{2029}', "\\u2029")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_kustomizes() {
        // podinfo's redis-config, as `kubectl kustomize` names it.
        let conf = "maxmemory 64mb\nmaxmemory-policy allkeys-lru\nsave \"\"\nappendonly no\n";
        let cm = json!({"kind": "ConfigMap", "metadata": {"name": "redis-config"},
                        "data": {"redis.conf": conf}});
        assert_eq!(hash(&cm), "bd2fcfgt6k");
        assert_eq!(go_json("<&>"), "\\u003c\\u0026\\u003e");
    }

    #[test]
    fn marked_objects_are_renamed_and_referenced() {
        let manifest = |object: Value| Manifest {
            object,
            origin: Origin {
                file: "k.yaml".into(),
                document: 1,
                line: 1,
            },
        };
        let mut cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"a": "b"}});
        decorate(&mut cm, &Options::default());
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"},
                         "spec": {"volumes": [{"name": "v", "configMap": {"name": "c"}}]}});
        let mut objects = vec![manifest(cm), manifest(pod)];
        add_hashes(&mut objects, &Config::default());
        let name = objects[0].object["metadata"]["name"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(name.starts_with("c-") && name.len() == 12, "{name}");
        assert!(objects[0].object["metadata"].get("annotations").is_none());
        assert_eq!(
            objects[1].object["spec"]["volumes"][0]["configMap"]["name"],
            name
        );
    }
}
