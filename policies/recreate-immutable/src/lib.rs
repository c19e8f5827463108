//! `recreate-immutable`: a remediator. The API server refuses to change
//! immutable fields, so reapplying an object whose immutable field drifted
//! fails forever; deleting and creating it again works. When a drifted path
//! is (or lies below) an immutable field of the object's kind, decide
//! `recreate`; otherwise abstain (`None`), leaving the decision to the next
//! remediator of the sync or to the sync's default.
//!
//! Immutable fields known by default:
//!
//! | kind | fields |
//! |---|---|
//! | Service | `spec.clusterIP`, `spec.clusterIPs` |
//! | Deployment, DaemonSet, ReplicaSet | `spec.selector` |
//! | StatefulSet | `spec.selector`, `spec.volumeClaimTemplates`, `spec.serviceName`, `spec.podManagementPolicy` |
//! | Job | `spec.selector`, `spec.template` |
//! | PersistentVolumeClaim | `spec.storageClassName`, `spec.accessModes`, `spec.volumeName`, `spec.volumeMode`, `spec.selector`, `spec.dataSource`, `spec.dataSourceRef` |
//! | ConfigMap with `immutable: true` | `data`, `binaryData` |
//! | Secret | `type`; with `immutable: true` also `data`, `stringData` |
//!
//! `fields` adds immutable fields per kind (e.g. for custom resources);
//! for kinds in `reportKinds` the drift is reported instead of recreated
//! (recreating a PersistentVolumeClaim, for example, loses its data). On a
//! deleted object the policy abstains (creating it is all that is needed).

use std::collections::BTreeMap;

use plumbline_policies_common::names;
use plumbline_policies_common::path::is_at_or_below;
use plumbline_policies_common::settings::{self, Settings};
use plumbline_sdk::serde_json::{json, Value};
use plumbline_sdk::{Context, Drift, Metadata, Object, PolicyInfo, Remediation, Remediator};

/// The policy.
struct RecreateImmutable;

/// The settings, checked.
struct Config {
    /// Further immutable fields per kind.
    fields: BTreeMap<String, Vec<String>>,
    /// Kinds whose immutable drift is reported, not recreated.
    report_kinds: Vec<String>,
}

impl Config {
    fn parse(value: &Value) -> settings::Result<Self> {
        let s = Settings::new(value, &["fields", "reportKinds"])?;
        let mut fields = BTreeMap::new();
        match s.get("fields") {
            None => {}
            Some(Value::Object(kinds)) => {
                for (kind, paths) in kinds {
                    let at = plumbline_policies_common::path::child(&s.name("fields"), kind);
                    let bad = |i: Option<usize>, found: &Value| settings::Error::WrongType {
                        at: i.map_or_else(|| at.clone(), |i| format!("{at}[{i}]")),
                        expected: if i.is_some() {
                            "a non-empty field path"
                        } else {
                            "a list of field paths"
                        },
                        found: settings::json_type(found),
                    };
                    let Value::Array(items) = paths else {
                        return Err(bad(None, paths));
                    };
                    let paths = items
                        .iter()
                        .enumerate()
                        .map(|(i, item)| match item {
                            Value::String(p) if !p.is_empty() => Ok(p.clone()),
                            other => Err(bad(Some(i), other)),
                        })
                        .collect::<settings::Result<Vec<_>>>()?;
                    fields.insert(kind.clone(), paths);
                }
            }
            Some(_) => {
                return Err(s.invalid("fields", "must be an object of kind -> list of field paths"))
            }
        }
        Ok(Self {
            fields,
            report_kinds: s
                .string_list("reportKinds")?
                .unwrap_or_default()
                .into_iter()
                .map(str::to_owned)
                .collect(),
        })
    }

    /// The immutable fields of the drifted object.
    fn immutable_fields(&self, drift: &Drift) -> Vec<String> {
        let kind = drift.target.kind.as_str();
        let mut fields: Vec<String> = built_in_fields(kind)
            .iter()
            .map(|f| f.to_string())
            .collect();
        let immutable_flag = |object: Result<Object, _>| {
            object.is_ok_and(|o: Object| o.get("immutable") == Some(&Value::Bool(true)))
        };
        let is_immutable =
            immutable_flag(drift.desired_object()) || immutable_flag(drift.live_object());
        match kind {
            "ConfigMap" if is_immutable => fields.extend(["data".into(), "binaryData".into()]),
            "Secret" if is_immutable => fields.extend(["data".into(), "stringData".into()]),
            _ => {}
        }
        if let Some(extra) = self.fields.get(kind) {
            fields.extend(extra.iter().cloned());
        }
        fields
    }
}

/// The immutable fields of a kind that do not depend on the object.
fn built_in_fields(kind: &str) -> &'static [&'static str] {
    match kind {
        "Service" => &["spec.clusterIP", "spec.clusterIPs"],
        "Deployment" | "DaemonSet" | "ReplicaSet" => &["spec.selector"],
        "StatefulSet" => &[
            "spec.selector",
            "spec.volumeClaimTemplates",
            "spec.serviceName",
            "spec.podManagementPolicy",
        ],
        "Job" => &["spec.selector", "spec.template"],
        "PersistentVolumeClaim" => &[
            "spec.storageClassName",
            "spec.accessModes",
            "spec.volumeName",
            "spec.volumeMode",
            "spec.selector",
            "spec.dataSource",
            "spec.dataSourceRef",
        ],
        "Secret" => &["type"],
        _ => &[],
    }
}

impl Metadata for RecreateImmutable {
    fn info() -> PolicyInfo {
        PolicyInfo::new(
            "recreate-immutable",
            env!("CARGO_PKG_VERSION"),
            "Recreates objects whose immutable fields drifted (a reapply would be refused by \
             the API server); abstains on every other drift.",
        )
        .with_settings_schema(json!({
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "fields": {"type": "object",
                    "additionalProperties": {"type": "array", "items": {"type": "string"}},
                    "description": "Further immutable fields per kind (kind -> dotted paths)."},
                "reportKinds": {"type": "array", "items": {"type": "string"}, "default": [],
                    "description": "Kinds whose immutable drift is reported instead of recreated."}
            }
        }))
    }

    fn check_settings(settings: &Value) -> Result<(), String> {
        Config::parse(settings).map(drop).map_err(String::from)
    }
}

impl Remediator for RecreateImmutable {
    fn remediate(drift: &Drift, ctx: &Context) -> Option<Remediation> {
        let config = match Config::parse(&ctx.settings()) {
            Ok(config) => config,
            Err(e) => {
                return Some(Remediation::Report(format!(
                    "recreate-immutable settings: {e}"
                )))
            }
        };
        if drift.is_deleted() {
            return None;
        }
        let immutable = config.immutable_fields(drift);
        let drifted: Vec<&str> = drift
            .changes
            .iter()
            .map(|c| c.path.as_str())
            .filter(|path| immutable.iter().any(|field| is_at_or_below(path, field)))
            .collect();
        if drifted.is_empty() {
            return None;
        }
        let target = &drift.target;
        let object = names::describe(&target.kind, target.namespace.as_deref(), &target.name);
        if config.report_kinds.contains(&target.kind) {
            return Some(Remediation::Report(format!(
                "{object}: immutable fields drifted ({}); recreating {} objects is disabled by \
                 reportKinds",
                drifted.join(", "),
                target.kind
            )));
        }
        plumbline_sdk::info!(
            "{object}: immutable fields drifted ({}); recreating it",
            drifted.join(", ")
        );
        Some(Remediation::Recreate)
    }
}

plumbline_sdk::export_policy!(RecreateImmutable, remediator);
