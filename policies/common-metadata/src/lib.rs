//! `common-metadata`: a transformer. Adds the `labels` and `annotations`
//! from its settings to every object's metadata. A key the object already
//! has keeps its value unless `overwrite: true`. With
//! `includeTemplates: true` they are also added to pod templates
//! (`spec.template.metadata` of Deployments, StatefulSets, DaemonSets,
//! ReplicaSets, ReplicationControllers and Jobs; `spec.jobTemplate.metadata`
//! and `spec.jobTemplate.spec.template.metadata` of CronJobs;
//! `template.metadata` of PodTemplates). Selectors are never touched.

use plumbline_policies_common::names::{check_label_value, check_qualified_name};
use plumbline_policies_common::settings::{self, Settings};
use plumbline_sdk::serde_json::{json, Map, Value};
use plumbline_sdk::{Context, Metadata, Object, PolicyInfo, Transformer};

/// The policy.
struct CommonMetadata;

/// The settings, checked.
struct Config {
    labels: Vec<(String, String)>,
    annotations: Vec<(String, String)>,
    overwrite: bool,
    include_templates: bool,
}

impl Config {
    fn parse(value: &Value) -> settings::Result<Self> {
        let s = Settings::new(
            value,
            &["labels", "annotations", "overwrite", "includeTemplates"],
        )?;
        let labels = s.string_map("labels")?.unwrap_or_default();
        for (key, value) in &labels {
            check_qualified_name(key)
                .and_then(|()| check_label_value(value))
                .map_err(|reason| s.invalid("labels", reason))?;
        }
        let annotations = s.string_map("annotations")?.unwrap_or_default();
        for key in annotations.keys() {
            check_qualified_name(key).map_err(|reason| s.invalid("annotations", reason))?;
        }
        if labels.is_empty() && annotations.is_empty() {
            return Err(s.invalid(
                "labels",
                "and settings.annotations are both empty: there is nothing to add",
            ));
        }
        let owned = |map: std::collections::BTreeMap<&str, &str>| {
            map.into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect()
        };
        Ok(Self {
            labels: owned(labels),
            annotations: owned(annotations),
            overwrite: s.bool("overwrite", false)?,
            include_templates: s.bool("includeTemplates", false)?,
        })
    }

    /// Add the labels and annotations to one `metadata` map.
    fn apply(&self, metadata: &mut Map<String, Value>) {
        for (field, entries) in [("labels", &self.labels), ("annotations", &self.annotations)] {
            if entries.is_empty() {
                continue;
            }
            let map = object_entry(metadata, field);
            for (key, value) in entries {
                if self.overwrite || !map.contains_key(key) {
                    map.insert(key.clone(), Value::String(value.clone()));
                }
            }
        }
    }
}

/// Where the pod templates (or job templates) of a kind keep their
/// metadata's parent, as paths of keys.
fn template_parents(kind: &str) -> &'static [&'static [&'static str]] {
    match kind {
        "Deployment"
        | "StatefulSet"
        | "DaemonSet"
        | "ReplicaSet"
        | "ReplicationController"
        | "Job" => &[&["spec", "template"]],
        "CronJob" => &[
            &["spec", "jobTemplate"],
            &["spec", "jobTemplate", "spec", "template"],
        ],
        "PodTemplate" => &[&["template"]],
        _ => &[],
    }
}

/// `map[key]` as an object, created (or replacing a value that is not an
/// object) if needed.
fn object_entry<'a>(map: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let entry = map
        .entry(key.to_owned())
        .or_insert_with(|| Value::Object(Map::new()));
    if !entry.is_object() {
        *entry = Value::Object(Map::new());
    }
    match entry {
        Value::Object(inner) => inner,
        _ => unreachable!("replaced by an object above"),
    }
}

/// The object at a path of keys, if every step exists and is an object.
fn existing_map<'a>(
    mut map: &'a mut Map<String, Value>,
    keys: &[&str],
) -> Option<&'a mut Map<String, Value>> {
    for key in keys {
        map = map.get_mut(*key)?.as_object_mut()?;
    }
    Some(map)
}

impl Metadata for CommonMetadata {
    fn info() -> PolicyInfo {
        PolicyInfo::new(
            "common-metadata",
            env!("CARGO_PKG_VERSION"),
            "Adds labels and annotations to every object (and, optionally, to pod templates).",
        )
        .with_settings_schema(json!({
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "labels": {"type": "object", "additionalProperties": {"type": "string"},
                    "description": "Labels to add."},
                "annotations": {"type": "object", "additionalProperties": {"type": "string"},
                    "description": "Annotations to add."},
                "overwrite": {"type": "boolean", "default": false,
                    "description": "Replace values the object already has."},
                "includeTemplates": {"type": "boolean", "default": false,
                    "description": "Also add them to pod templates and job templates."}
            }
        }))
    }

    fn check_settings(settings: &Value) -> Result<(), String> {
        Config::parse(settings).map(drop).map_err(String::from)
    }
}

impl Transformer for CommonMetadata {
    fn transform(mut objects: Vec<Object>, ctx: &Context) -> Result<Vec<Object>, String> {
        let config = Config::parse(&ctx.settings()).map_err(String::from)?;
        for object in &mut objects {
            let kind = object.kind().to_owned();
            let fields = object.fields_mut();
            config.apply(object_entry(fields, "metadata"));
            if config.include_templates {
                for parent in template_parents(&kind) {
                    if let Some(template) = existing_map(fields, parent) {
                        config.apply(object_entry(template, "metadata"));
                    }
                }
            }
        }
        Ok(objects)
    }
}

plumbline_sdk::export_policy!(CommonMetadata, transformer);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn objects_without_metadata_get_it_without_trapping() {
        let objects = vec![
            Object::parse(r#"{"kind":"Deployment","spec":{"template":{}}}"#).expect("object"),
            Object::parse(r#"{"metadata":5}"#).expect("object"),
        ];
        let settings = json!({"labels": {"team": "a"}, "includeTemplates": true});
        let out = CommonMetadata::transform(objects, &Context::with_settings(&settings))
            .expect("transformed");
        assert_eq!(
            out[0].clone().into_value(),
            json!({"kind": "Deployment", "metadata": {"labels": {"team": "a"}},
                   "spec": {"template": {"metadata": {"labels": {"team": "a"}}}}})
        );
        assert_eq!(
            out[1].clone().into_value(),
            json!({"metadata": {"labels": {"team": "a"}}})
        );
    }
}
