//! `hpa-replicas`: a remediator. When the only drift of a workload scaled
//! by a HorizontalPodAutoscaler is `spec.replicas`, the live replica count
//! is the autoscaler's doing: decide `ignore`. On anything else the policy
//! abstains (`None`), leaving the decision to the next remediator of the
//! sync or to the sync's default.
//!
//! A remediator sees one drift record (the target, its desired and live
//! versions and the changed fields), never the HorizontalPodAutoscaler
//! itself, so the workload must be marked as autoscaled: by the annotation
//! named in `annotation` (default `plumbline.dev/hpa-managed`) set to
//! `"true"` on the desired or the live object, or by an entry in
//! `workloads` (`{kind, namespace, name}`). Only kinds in `kinds` (default
//! Deployment and StatefulSet) are considered. On a deleted object the
//! policy always abstains.

use plumbline_policies_common::names::check_qualified_name;
use plumbline_policies_common::settings::{self, Settings};
use plumbline_sdk::serde_json::{json, Value};
use plumbline_sdk::{Context, Drift, Metadata, Object, PolicyInfo, Remediation, Remediator};

/// The policy.
struct HpaReplicas;

/// The annotation that marks a workload as autoscaled, by default.
const DEFAULT_ANNOTATION: &str = "plumbline.dev/hpa-managed";

/// The only field an autoscaler changes.
const REPLICAS: &str = "spec.replicas";

/// One workload listed in `workloads`.
struct Workload {
    kind: String,
    namespace: Option<String>,
    name: String,
}

/// The settings, checked.
struct Config {
    annotation: String,
    kinds: Vec<String>,
    workloads: Vec<Workload>,
}

impl Config {
    fn parse(value: &Value) -> settings::Result<Self> {
        let s = Settings::new(value, &["annotation", "kinds", "workloads"])?;
        let annotation = s.string("annotation")?.unwrap_or(DEFAULT_ANNOTATION);
        check_qualified_name(annotation).map_err(|reason| s.invalid("annotation", reason))?;
        let kinds: Vec<String> = match s.string_list("kinds")? {
            Some(kinds) if kinds.is_empty() => {
                return Err(s.invalid("kinds", "must name at least one kind"))
            }
            Some(kinds) => kinds.into_iter().map(str::to_owned).collect(),
            None => vec!["Deployment".to_owned(), "StatefulSet".to_owned()],
        };
        let mut workloads = Vec::new();
        for (i, entry) in s.list("workloads")?.unwrap_or_default().iter().enumerate() {
            let at = s.item_name("workloads", i);
            let w = Settings::nested(&at, entry, &["kind", "namespace", "name"])?;
            let required = |key: &str| -> settings::Result<String> {
                match w.string(key)? {
                    Some(text) if !text.is_empty() => Ok(text.to_owned()),
                    _ => Err(settings::Error::Missing { at: w.name(key) }),
                }
            };
            workloads.push(Workload {
                kind: required("kind")?,
                namespace: w.string("namespace")?.map(str::to_owned),
                name: required("name")?,
            });
        }
        Ok(Self {
            annotation: annotation.to_owned(),
            kinds,
            workloads,
        })
    }

    /// Whether the drifted workload is marked as autoscaled.
    fn is_autoscaled(&self, drift: &Drift) -> bool {
        let target = &drift.target;
        let listed = self.workloads.iter().any(|w| {
            w.kind == target.kind && w.name == target.name && w.namespace == target.namespace
        });
        let marked = |object: Result<Object, _>| {
            object.is_ok_and(|o: Object| o.annotation(&self.annotation) == Some("true"))
        };
        listed || marked(drift.desired_object()) || marked(drift.live_object())
    }
}

impl Metadata for HpaReplicas {
    fn info() -> PolicyInfo {
        PolicyInfo::new(
            "hpa-replicas",
            env!("CARGO_PKG_VERSION"),
            "Ignores drift of spec.replicas on workloads marked as scaled by a \
             HorizontalPodAutoscaler; abstains on every other drift.",
        )
        .with_settings_schema(json!({
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "annotation": {"type": "string", "default": DEFAULT_ANNOTATION,
                    "description": "Annotation that, set to \"true\" on the desired or live object, marks it as autoscaled."},
                "kinds": {"type": "array", "items": {"type": "string"}, "minItems": 1,
                    "default": ["Deployment", "StatefulSet"],
                    "description": "Kinds whose replica drift may be ignored."},
                "workloads": {"type": "array", "description": "Workloads known to be autoscaled.",
                    "items": {"type": "object", "additionalProperties": false,
                              "required": ["kind", "name"],
                              "properties": {"kind": {"type": "string"},
                                             "namespace": {"type": "string"},
                                             "name": {"type": "string"}}}}
            }
        }))
    }

    fn check_settings(settings: &Value) -> Result<(), String> {
        Config::parse(settings).map(drop).map_err(String::from)
    }
}

impl Remediator for HpaReplicas {
    fn remediate(drift: &Drift, ctx: &Context) -> Option<Remediation> {
        let config = match Config::parse(&ctx.settings()) {
            Ok(config) => config,
            Err(e) => return Some(Remediation::Report(format!("hpa-replicas settings: {e}"))),
        };
        let only_replicas =
            !drift.changes.is_empty() && drift.changes.iter().all(|c| c.path == REPLICAS);
        if drift.is_deleted()
            || !config.kinds.contains(&drift.target.kind)
            || !only_replicas
            || !config.is_autoscaled(drift)
        {
            return None;
        }
        plumbline_sdk::info!(
            "{}: replica drift left to the HorizontalPodAutoscaler",
            drift.target
        );
        Some(Remediation::Ignore)
    }
}

plumbline_sdk::export_policy!(HpaReplicas, remediator);
