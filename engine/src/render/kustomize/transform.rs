//! The kustomize transformers of the supported subset, in kustomize's
//! order: namespace (`namespace`), name prefix/suffix (and references to
//! moved objects), labels,
//! annotations ([`apply`]); images ([`images`], after `patchesJson6902`).
//! No IO.

use std::collections::HashMap;

use serde_json::Value;

use super::config::{Config, FieldSpec};
use super::{namespace, Error};
use crate::render::{Manifest, RenderOptions, Tree};

/// Where a kustomization is, for error messages and relative paths, and
/// the field specs its `configurations` (and those of its resources) add.
pub(super) struct Context<'a> {
    pub file: &'a str,
    pub dir: &'a str,
    pub tree: &'a Tree,
    pub options: &'a RenderOptions,
    pub config: &'a Config,
}

/// Kinds whose name kustomize never prefixes or suffixes.
const KEEP_NAME: [&str; 3] = ["CustomResourceDefinition", "APIService", "Namespace"];

const fn spec(
    group: Option<&'static str>,
    kind: &'static str,
    path: &'static str,
    create: bool,
) -> FieldSpec {
    FieldSpec::builtin(group, Some(kind), path, create)
}

const METADATA_LABELS: FieldSpec = FieldSpec::builtin(None, None, "metadata/labels", true);

/// Pod-template label paths (kustomize's `templateLabels`).
const TEMPLATE_LABELS: [FieldSpec; 8] = [
    spec(
        Some(""),
        "ReplicationController",
        "spec/template/metadata/labels",
        true,
    ),
    spec(None, "Deployment", "spec/template/metadata/labels", true),
    spec(None, "ReplicaSet", "spec/template/metadata/labels", true),
    spec(None, "DaemonSet", "spec/template/metadata/labels", true),
    spec(
        Some("apps"),
        "StatefulSet",
        "spec/template/metadata/labels",
        true,
    ),
    spec(Some("batch"), "Job", "spec/template/metadata/labels", true),
    spec(
        Some("batch"),
        "CronJob",
        "spec/jobTemplate/metadata/labels",
        true,
    ),
    spec(
        Some("batch"),
        "CronJob",
        "spec/jobTemplate/spec/template/metadata/labels",
        true,
    ),
];

/// Selector paths (kustomize's `commonLabels` beyond templates).
const SELECTOR_LABELS: [FieldSpec; 11] = [
    spec(Some(""), "Service", "spec/selector", true),
    spec(Some(""), "ReplicationController", "spec/selector", true),
    spec(None, "Deployment", "spec/selector/matchLabels", true),
    spec(None, "ReplicaSet", "spec/selector/matchLabels", true),
    spec(None, "DaemonSet", "spec/selector/matchLabels", true),
    spec(
        Some("apps"),
        "StatefulSet",
        "spec/selector/matchLabels",
        true,
    ),
    spec(
        Some("apps"),
        "StatefulSet",
        "spec/volumeClaimTemplates[]/metadata/labels",
        true,
    ),
    spec(
        Some("policy"),
        "PodDisruptionBudget",
        "spec/selector/matchLabels",
        false,
    ),
    spec(
        Some("networking.k8s.io"),
        "NetworkPolicy",
        "spec/podSelector/matchLabels",
        false,
    ),
    spec(
        Some("networking.k8s.io"),
        "NetworkPolicy",
        "spec/ingress/from/podSelector/matchLabels",
        false,
    ),
    spec(
        Some("networking.k8s.io"),
        "NetworkPolicy",
        "spec/egress/to/podSelector/matchLabels",
        false,
    ),
];

/// Annotation paths (kustomize's `commonAnnotations`).
const ANNOTATIONS: [FieldSpec; 9] = [
    FieldSpec::builtin(None, None, "metadata/annotations", true),
    spec(
        Some(""),
        "ReplicationController",
        "spec/template/metadata/annotations",
        true,
    ),
    spec(
        None,
        "Deployment",
        "spec/template/metadata/annotations",
        true,
    ),
    spec(
        None,
        "ReplicaSet",
        "spec/template/metadata/annotations",
        true,
    ),
    spec(
        None,
        "DaemonSet",
        "spec/template/metadata/annotations",
        true,
    ),
    spec(
        Some("apps"),
        "StatefulSet",
        "spec/template/metadata/annotations",
        true,
    ),
    spec(
        Some("batch"),
        "Job",
        "spec/template/metadata/annotations",
        true,
    ),
    spec(
        Some("batch"),
        "CronJob",
        "spec/jobTemplate/metadata/annotations",
        true,
    ),
    spec(
        Some("batch"),
        "CronJob",
        "spec/jobTemplate/spec/template/metadata/annotations",
        true,
    ),
];

/// Run the transformers that `k` asks for on `objects`.
pub(super) fn apply(
    k: &Value,
    cx: &Context<'_>,
    objects: &mut [Manifest],
    errors: &mut Vec<Error>,
) {
    let invalid = |message: String| Error::Invalid {
        file: cx.file.to_owned(),
        message,
    };
    // Where objects were, for the references that follow them.
    let moving = ["namespace", "namePrefix", "nameSuffix"]
        .iter()
        .any(|field| k.get(field).is_some());
    let before: Vec<references::Identity> = match moving {
        true => objects
            .iter()
            .map(|m| references::Identity::of(&m.object))
            .collect(),
        false => Vec::new(),
    };
    if let Some(ns) = k.get("namespace") {
        match ns.as_str() {
            Some(ns) => {
                for problem in namespace::apply(ns, cx.config, objects) {
                    errors.push(invalid(problem));
                }
            }
            None => errors.push(invalid("`namespace` must be a string".into())),
        }
    }
    let prefix = string_field(k, "namePrefix", cx, errors);
    let suffix = string_field(k, "nameSuffix", cx, errors);
    if !prefix.is_empty() || !suffix.is_empty() {
        rename(&prefix, &suffix, cx.config, objects);
    }
    let moved = references::Moved::between(&before, objects);
    if !moved.is_empty() {
        for m in objects.iter_mut() {
            references::update_maps(&mut m.object, &moved, cx.config);
        }
    }
    if let Some(labels) = k.get("commonLabels") {
        match string_map(labels) {
            Some(pairs) => add_labels(&pairs, true, true, cx.config, objects),
            None => errors.push(invalid("`commonLabels` must map strings to strings".into())),
        }
    }
    if let Some(labels) = k.get("labels") {
        let Some(entries) = labels.as_array() else {
            errors.push(invalid("`labels` must be a list".into()));
            return;
        };
        for entry in entries {
            match label_entry(entry) {
                Ok((pairs, selectors, templates)) => {
                    add_labels(&pairs, selectors, templates, cx.config, objects)
                }
                Err(message) => errors.push(match message {
                    LabelError::Unsupported(field) => Error::Unsupported {
                        file: cx.file.to_owned(),
                        field: format!("labels.{field}"),
                        line: super::line_of_key_anywhere(cx, field),
                        reason: "not supported yet".into(),
                    },
                    LabelError::Invalid(m) => invalid(m),
                }),
            }
        }
    }
    if let Some(annotations) = k.get("commonAnnotations") {
        match string_map(annotations) {
            Some(pairs) => {
                for m in objects.iter_mut() {
                    for spec in ANNOTATIONS.iter().chain(&cx.config.common_annotations) {
                        set_pairs(&mut m.object, spec, &pairs);
                    }
                }
            }
            None => errors.push(invalid(
                "`commonAnnotations` must map strings to strings".into(),
            )),
        }
    }
    if k.get("namespace").is_some() || !prefix.is_empty() || !suffix.is_empty() {
        subject_namespaces(objects);
    }
}

/// Run the `images` transformer that `k` asks for on `objects`.
pub(super) fn images(
    k: &Value,
    cx: &Context<'_>,
    objects: &mut [Manifest],
    errors: &mut Vec<Error>,
) {
    let Some(images) = k.get("images") else {
        return;
    };
    let Some(list) = images.as_array() else {
        errors.push(Error::Invalid {
            file: cx.file.to_owned(),
            message: "`images` must be a list".into(),
        });
        return;
    };
    for (i, image) in list.iter().enumerate() {
        match Image::parse(image) {
            Some(image) => {
                for m in objects.iter_mut() {
                    image.apply(&mut m.object);
                    for spec in &cx.config.images {
                        spec.each(&mut m.object, false, &mut |v| {
                            if let Value::String(s) = v {
                                if let Some(new) = image.rewrite(s) {
                                    *s = new;
                                }
                            }
                        });
                    }
                }
            }
            None => errors.push(Error::Invalid {
                file: cx.file.to_owned(),
                message: format!(
                    "images[{i}] needs a string `name` and string `newName`, `newTag` or `digest`"
                ),
            }),
        }
    }
}

fn string_field(k: &Value, key: &str, cx: &Context<'_>, errors: &mut Vec<Error>) -> String {
    match k.get(key) {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => {
            errors.push(Error::Invalid {
                file: cx.file.to_owned(),
                message: format!("`{key}` must be a string"),
            });
            String::new()
        }
    }
}

fn string_map(v: &Value) -> Option<Vec<(String, String)>> {
    let map = v.as_object()?;
    map.iter()
        .map(|(k, v)| match v {
            Value::String(s) => Some((k.clone(), s.clone())),
            Value::Number(n) => Some((k.clone(), n.to_string())),
            Value::Bool(b) => Some((k.clone(), b.to_string())),
            _ => None,
        })
        .collect()
}

fn kind(object: &Value) -> &str {
    object.get("kind").and_then(Value::as_str).unwrap_or("")
}

/// Give ServiceAccount subjects of (Cluster)RoleBindings the namespace of
/// the ServiceAccount of that name in the build, like kustomize's name
/// references do.
fn subject_namespaces(objects: &mut [Manifest]) {
    let accounts: HashMap<String, String> = objects
        .iter()
        .filter(|m| kind(&m.object) == "ServiceAccount")
        .filter_map(|m| {
            let name = m.object.pointer("/metadata/name")?.as_str()?;
            let ns = m.object.pointer("/metadata/namespace")?.as_str()?;
            Some((name.to_owned(), ns.to_owned()))
        })
        .collect();
    for m in objects.iter_mut() {
        if !matches!(kind(&m.object), "RoleBinding" | "ClusterRoleBinding") {
            continue;
        }
        let Some(Value::Array(subjects)) = m.object.get_mut("subjects") else {
            continue;
        };
        for subject in subjects {
            if subject.get("kind").and_then(Value::as_str) != Some("ServiceAccount") {
                continue;
            }
            let name = subject.get("name").and_then(Value::as_str).unwrap_or("");
            if let (Some(ns), Some(s)) = (accounts.get(name).cloned(), subject.as_object_mut()) {
                s.insert("namespace".into(), Value::String(ns));
            }
        }
    }
}

/// Prefix/suffix names (and the fields `configurations` adds to
/// `namePrefix`/`nameSuffix`) and update references to the renamed objects.
fn rename(prefix: &str, suffix: &str, config: &Config, objects: &mut [Manifest]) {
    let mut renamed: HashMap<(String, String), String> = HashMap::new();
    for m in objects.iter_mut() {
        let kind = kind(&m.object).to_owned();
        if KEEP_NAME.contains(&kind.as_str()) {
            continue;
        }
        if let Some(Value::String(name)) = m.object.pointer_mut("/metadata/name") {
            let new = format!("{prefix}{name}{suffix}");
            renamed.insert((kind, name.clone()), new.clone());
            *name = new;
        }
        let extra = [
            (&config.name_prefix, prefix, ""),
            (&config.name_suffix, "", suffix),
        ];
        for (specs, prefix, suffix) in extra {
            // `metadata/name` is renamed above, once.
            for spec in specs.iter().filter(|s| s.path != "metadata/name") {
                spec.each(&mut m.object, false, &mut |v| {
                    if let Value::String(s) = v {
                        *s = format!("{prefix}{s}{suffix}");
                    }
                });
            }
        }
    }
    for m in objects.iter_mut() {
        references::update(&mut m.object, &renamed, config);
    }
}

pub(super) mod references {
    //! References between objects that follow a rename (the common part of
    //! kustomize's name-reference table).

    use std::collections::HashMap;

    use serde_json::Value;

    use super::{Config, FieldSpec};

    type Renamed = HashMap<(String, String), String>;

    /// Kind, name and namespace of an object.
    #[derive(Debug, Clone, PartialEq, Eq)]
    pub(in crate::render::kustomize) struct Identity {
        kind: String,
        name: String,
        namespace: Option<String>,
    }

    impl Identity {
        pub(in crate::render::kustomize) fn of(object: &Value) -> Self {
            let text = |p: &str| object.pointer(p).and_then(Value::as_str);
            Identity {
                kind: text("/kind").unwrap_or("").to_owned(),
                name: text("/metadata/name").unwrap_or("").to_owned(),
                namespace: text("/metadata/namespace").map(str::to_owned),
            }
        }

        /// The namespace, `default` when none is set (kustomize's
        /// "effective namespace").
        fn effective_namespace(&self) -> &str {
            self.namespace.as_deref().unwrap_or("default")
        }
    }

    /// An object whose name or namespace changed: where it was, and
    /// where it is.
    #[derive(Debug)]
    pub(in crate::render::kustomize) struct Moved {
        before: Identity,
        now: Identity,
    }

    impl Moved {
        /// The objects whose identity differs from `before` (index-aligned).
        pub(in crate::render::kustomize) fn between(
            before: &[Identity],
            objects: &[crate::render::Manifest],
        ) -> Vec<Moved> {
            before
                .iter()
                .zip(objects)
                .map(|(before, m)| Moved {
                    before: before.clone(),
                    now: Identity::of(&m.object),
                })
                .filter(|m| m.before != m.now)
                .collect()
        }
    }

    /// References that name an object together with its namespace:
    /// `{name, namespace}` maps (kustomize's name references that end at
    /// a map).
    const SERVICE_MAPS: [FieldSpec; 2] = [
        FieldSpec::builtin(
            Some("admissionregistration.k8s.io"),
            Some("ValidatingWebhookConfiguration"),
            "webhooks/clientConfig/service",
            false,
        ),
        FieldSpec::builtin(
            Some("admissionregistration.k8s.io"),
            Some("MutatingWebhookConfiguration"),
            "webhooks/clientConfig/service",
            false,
        ),
    ];

    /// Update the `{name, namespace}` references in `object` (a webhook's
    /// `clientConfig.service`, and `nameReference` field specs of
    /// `config` that end at a map) to objects that `moved`, as kustomize
    /// does: the reference's `namespace`, when it has one, must be the
    /// object's namespace before or after the move; the new name is
    /// written, and the new namespace when the object has one.
    pub(in crate::render::kustomize) fn update_maps(
        object: &mut Value,
        moved: &[Moved],
        config: &Config,
    ) {
        for spec in &SERVICE_MAPS {
            spec.each(object, false, &mut |v| set_map(v, "Service", moved));
        }
        for reference in &config.name_reference {
            for spec in &reference.specs {
                spec.each(object, false, &mut |v| set_map(v, &reference.kind, moved));
            }
        }
    }

    fn set_map(reference: &mut Value, kind: &str, moved: &[Moved]) {
        let Some(map) = reference.as_object_mut() else {
            return;
        };
        let Some(name) = map.get("name").and_then(Value::as_str) else {
            return;
        };
        let namespace = map.get("namespace").and_then(Value::as_str);
        let candidates: Vec<&Identity> = {
            let named = || {
                moved
                    .iter()
                    .filter(move |m| m.before.kind == kind && m.before.name == name)
            };
            match namespace {
                None => named().map(|m| &m.now).collect(),
                Some(ns) => {
                    let before: Vec<&Identity> = named()
                        .filter(|m| m.before.effective_namespace() == ns)
                        .map(|m| &m.now)
                        .collect();
                    if before.is_empty() {
                        named()
                            .filter(|m| m.now.effective_namespace() == ns)
                            .map(|m| &m.now)
                            .collect()
                    } else {
                        before
                    }
                }
            }
        };
        // Several candidates that moved to different places: kustomize
        // cannot choose either.
        let Some(now) = candidates.first() else {
            return;
        };
        if candidates.iter().any(|c| c != now) {
            return;
        }
        map.insert("name".into(), Value::String(now.name.clone()));
        if let Some(ns) = &now.namespace {
            map.insert("namespace".into(), Value::String(ns.clone()));
        }
    }

    fn set(field: Option<&mut Value>, kind: &str, renamed: &Renamed) {
        if let Some(Value::String(name)) = field {
            if let Some(new) = renamed.get(&(kind.to_owned(), name.clone())) {
                *name = new.clone();
            }
        }
    }

    fn pod_spec(object: &mut Value) -> Option<&mut Value> {
        match object.get("kind").and_then(Value::as_str)? {
            "Pod" => object.get_mut("spec"),
            "CronJob" => object.pointer_mut("/spec/jobTemplate/spec/template/spec"),
            _ => object.pointer_mut("/spec/template/spec"),
        }
    }

    /// Update the references in `object` to renamed objects: the built-in
    /// ones, then the `nameReference`s of `config`.
    pub(in crate::render::kustomize) fn update(
        object: &mut Value,
        renamed: &Renamed,
        config: &Config,
    ) {
        for reference in &config.name_reference {
            for spec in &reference.specs {
                spec.each(object, false, &mut |v| {
                    set(Some(v), &reference.kind, renamed)
                });
            }
        }
        let kind = object
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        match kind.as_str() {
            "RoleBinding" | "ClusterRoleBinding" => {
                if let Some(role_ref) = object.get_mut("roleRef") {
                    let ref_kind = role_ref
                        .get("kind")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned();
                    set(role_ref.get_mut("name"), &ref_kind, renamed);
                }
                if let Some(Value::Array(subjects)) = object.get_mut("subjects") {
                    for s in subjects {
                        if s.get("kind").and_then(Value::as_str) == Some("ServiceAccount") {
                            set(s.get_mut("name"), "ServiceAccount", renamed);
                        }
                    }
                }
            }
            "HorizontalPodAutoscaler" => {
                if let Some(target) = object.pointer_mut("/spec/scaleTargetRef") {
                    let k = target
                        .get("kind")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_owned();
                    set(target.get_mut("name"), &k, renamed);
                }
            }
            "StatefulSet" => set(object.pointer_mut("/spec/serviceName"), "Service", renamed),
            "Ingress" => {
                set(
                    object.pointer_mut("/spec/defaultBackend/service/name"),
                    "Service",
                    renamed,
                );
                if let Some(Value::Array(rules)) = object.pointer_mut("/spec/rules") {
                    for rule in rules {
                        if let Some(Value::Array(paths)) = rule.pointer_mut("/http/paths") {
                            for p in paths {
                                set(p.pointer_mut("/backend/service/name"), "Service", renamed);
                            }
                        }
                    }
                }
            }
            _ => {}
        }
        let Some(spec) = pod_spec(object) else {
            return;
        };
        set(
            spec.get_mut("serviceAccountName"),
            "ServiceAccount",
            renamed,
        );
        if let Some(Value::Array(secrets)) = spec.get_mut("imagePullSecrets") {
            for s in secrets {
                set(s.get_mut("name"), "Secret", renamed);
            }
        }
        if let Some(Value::Array(volumes)) = spec.get_mut("volumes") {
            for v in volumes {
                set(v.pointer_mut("/configMap/name"), "ConfigMap", renamed);
                set(v.pointer_mut("/secret/secretName"), "Secret", renamed);
                set(
                    v.pointer_mut("/persistentVolumeClaim/claimName"),
                    "PersistentVolumeClaim",
                    renamed,
                );
                if let Some(Value::Array(sources)) = v.pointer_mut("/projected/sources") {
                    for s in sources {
                        set(s.pointer_mut("/configMap/name"), "ConfigMap", renamed);
                        set(s.pointer_mut("/secret/name"), "Secret", renamed);
                    }
                }
            }
        }
        for list in ["containers", "initContainers"] {
            let Some(Value::Array(containers)) = spec.get_mut(list) else {
                continue;
            };
            for c in containers {
                if let Some(Value::Array(env)) = c.get_mut("env") {
                    for e in env {
                        set(
                            e.pointer_mut("/valueFrom/configMapKeyRef/name"),
                            "ConfigMap",
                            renamed,
                        );
                        set(
                            e.pointer_mut("/valueFrom/secretKeyRef/name"),
                            "Secret",
                            renamed,
                        );
                    }
                }
                if let Some(Value::Array(env_from)) = c.get_mut("envFrom") {
                    for e in env_from {
                        set(e.pointer_mut("/configMapRef/name"), "ConfigMap", renamed);
                        set(e.pointer_mut("/secretRef/name"), "Secret", renamed);
                    }
                }
            }
        }
    }
}

enum LabelError {
    Unsupported(&'static str),
    Invalid(String),
}

/// One entry of `labels`: pairs, includeSelectors, includeTemplates.
/// Label pairs with where they go: `(pairs, selectors, templates)`.
type LabelEntry = (Vec<(String, String)>, bool, bool);

fn label_entry(entry: &Value) -> Result<LabelEntry, LabelError> {
    let Some(map) = entry.as_object() else {
        return Err(LabelError::Invalid(
            "`labels` entries must be mappings".into(),
        ));
    };
    for key in map.keys() {
        match key.as_str() {
            "pairs" | "includeSelectors" | "includeTemplates" => {}
            "fields" => return Err(LabelError::Unsupported("fields")),
            other => {
                return Err(LabelError::Invalid(format!("unknown field labels.{other}")));
            }
        }
    }
    let pairs = map
        .get("pairs")
        .and_then(string_map)
        .ok_or_else(|| LabelError::Invalid("labels.pairs must map strings to strings".into()))?;
    let flag = |name: &str| map.get(name).and_then(Value::as_bool).unwrap_or(false);
    let selectors = flag("includeSelectors");
    Ok((pairs, selectors, selectors || flag("includeTemplates")))
}

fn add_labels(
    pairs: &[(String, String)],
    selectors: bool,
    templates: bool,
    config: &Config,
    objects: &mut [Manifest],
) {
    for m in objects.iter_mut() {
        set_pairs(&mut m.object, &METADATA_LABELS, pairs);
        if templates {
            for spec in &TEMPLATE_LABELS {
                set_pairs(&mut m.object, spec, pairs);
            }
        }
        if selectors {
            for spec in SELECTOR_LABELS.iter().chain(&config.common_labels) {
                set_pairs(&mut m.object, spec, pairs);
            }
        }
    }
}

/// Add `pairs` to the map at `spec`'s path if `spec` applies to `object`.
fn set_pairs(object: &mut Value, spec: &FieldSpec, pairs: &[(String, String)]) {
    spec.each(object, true, &mut |v| {
        if v.is_null() {
            *v = Value::Object(serde_json::Map::new());
        }
        if let Some(map) = v.as_object_mut() {
            for (k, value) in pairs {
                map.insert(k.clone(), Value::String(value.clone()));
            }
        }
    });
}

/// One `images` entry.
struct Image {
    name: String,
    new_name: Option<String>,
    new_tag: Option<String>,
    digest: Option<String>,
}

impl Image {
    fn parse(v: &Value) -> Option<Self> {
        let map = v.as_object()?;
        let get = |k: &str| -> Option<Option<String>> {
            match map.get(k) {
                None | Some(Value::Null) => Some(None),
                Some(Value::String(s)) => Some(Some(s.clone())),
                Some(Value::Number(n)) => Some(Some(n.to_string())),
                Some(_) => None,
            }
        };
        if map
            .keys()
            .any(|k| !["name", "newName", "newTag", "digest"].contains(&k.as_str()))
        {
            return None;
        }
        Some(Self {
            name: get("name")??,
            new_name: get("newName")?,
            new_tag: get("newTag")?,
            digest: get("digest")?,
        })
    }

    /// Rewrite every matching `image` under `containers`/`initContainers`,
    /// anywhere in the object (kustomize's legacy image filter).
    fn apply(&self, value: &mut Value) {
        match value {
            Value::Object(map) => {
                for (key, v) in map.iter_mut() {
                    if key == "containers" || key == "initContainers" {
                        if let Value::Array(containers) = v {
                            for c in containers.iter_mut() {
                                if let Some(Value::String(image)) = c.get_mut("image") {
                                    if let Some(new) = self.rewrite(image) {
                                        *image = new;
                                    }
                                }
                            }
                        }
                    }
                    self.apply(v);
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|v| self.apply(v)),
            _ => {}
        }
    }

    fn rewrite(&self, image: &str) -> Option<String> {
        let (rest, digest) = match image.split_once('@') {
            Some((r, d)) => (r, Some(d)),
            None => (image, None),
        };
        let slash = rest.rfind('/').map_or(0, |i| i + 1);
        let (name, tag) = match rest[slash..].rfind(':') {
            Some(i) => (&rest[..slash + i], Some(&rest[slash + i + 1..])),
            None => (rest, None),
        };
        if name != self.name {
            return None;
        }
        let name = self.new_name.as_deref().unwrap_or(name);
        Some(match (&self.digest, &self.new_tag) {
            (Some(d), _) => format!("{name}@{d}"),
            (None, Some(t)) => format!("{name}:{t}"),
            (None, None) => match (tag, digest) {
                (Some(t), Some(d)) => format!("{name}:{t}@{d}"),
                (Some(t), None) => format!("{name}:{t}"),
                (None, Some(d)) => format!("{name}@{d}"),
                (None, None) => name.to_owned(),
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_rewritten_like_kustomize() {
        let image = Image {
            name: "nginx".into(),
            new_name: Some("reg.example/nginx".into()),
            new_tag: Some("1.2".into()),
            digest: None,
        };
        assert_eq!(
            image.rewrite("nginx:1.0").as_deref(),
            Some("reg.example/nginx:1.2")
        );
        assert_eq!(
            image.rewrite("nginx").as_deref(),
            Some("reg.example/nginx:1.2")
        );
        assert_eq!(image.rewrite("nginx-other:1"), None);
        let digest = Image {
            name: "localhost:5000/app".into(),
            new_name: None,
            new_tag: None,
            digest: Some("sha256:abc".into()),
        };
        assert_eq!(
            digest.rewrite("localhost:5000/app:v1").as_deref(),
            Some("localhost:5000/app@sha256:abc")
        );
    }
}
