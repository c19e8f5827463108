//! `resources-declared`: a validator. Every container (and, unless
//! `initContainers: false`, every init container) of a workload must
//! declare CPU and memory requests and limits in its manifest. Settings
//! `requests`, `limits`, `cpu` and `memory` (all `true` by default) choose
//! which of the four are required. Ephemeral containers are skipped: the
//! API does not allow them resources.
//!
//! One error per missing value, at its path, e.g.
//! `spec.template.spec.containers[0].resources.limits.memory`.

use plumbline_policies_common::settings::{self, Settings};
use plumbline_sdk::serde_json::{json, Value};
use plumbline_sdk::{
    ContainerKind, Context, Metadata, Object, PolicyInfo, Severity, Validator, Violation,
};

/// The policy.
struct ResourcesDeclared;

/// The settings, checked: the sections and resources that are required.
struct Config {
    /// `requests` and/or `limits`.
    sections: Vec<&'static str>,
    /// `cpu` and/or `memory`.
    resources: Vec<&'static str>,
    /// Whether init containers are checked.
    init_containers: bool,
}

impl Config {
    fn parse(value: &Value) -> settings::Result<Self> {
        let s = Settings::new(
            value,
            &["requests", "limits", "cpu", "memory", "initContainers"],
        )?;
        let sections: Vec<&'static str> = [("requests", true), ("limits", true)]
            .into_iter()
            .map(|(key, default)| Ok((key, s.bool(key, default)?)))
            .collect::<settings::Result<Vec<_>>>()?
            .into_iter()
            .filter_map(|(key, on)| on.then_some(key))
            .collect();
        let resources: Vec<&'static str> = [("cpu", true), ("memory", true)]
            .into_iter()
            .map(|(key, default)| Ok((key, s.bool(key, default)?)))
            .collect::<settings::Result<Vec<_>>>()?
            .into_iter()
            .filter_map(|(key, on)| on.then_some(key))
            .collect();
        if sections.is_empty() {
            return Err(s.invalid(
                "requests",
                "and settings.limits are both false: nothing would be required",
            ));
        }
        if resources.is_empty() {
            return Err(s.invalid(
                "cpu",
                "and settings.memory are both false: nothing would be required",
            ));
        }
        Ok(Self {
            sections,
            resources,
            init_containers: s.bool("initContainers", true)?,
        })
    }
}

/// Whether a quantity is declared: a non-empty string or a number.
fn declared(value: Option<&Value>) -> bool {
    match value {
        Some(Value::String(s)) => !s.trim().is_empty(),
        Some(Value::Number(_)) => true,
        _ => false,
    }
}

/// `CPU request`, `memory limit`, ...
fn what(resource: &str, section: &str) -> String {
    let resource = if resource == "cpu" { "CPU" } else { resource };
    let section = section.trim_end_matches('s');
    format!("{resource} {section}")
}

impl Metadata for ResourcesDeclared {
    fn info() -> PolicyInfo {
        PolicyInfo::new(
            "resources-declared",
            env!("CARGO_PKG_VERSION"),
            "Every container must declare CPU and memory requests and limits (which of the \
             four are required is configurable).",
        )
        .with_settings_schema(json!({
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "requests": {"type": "boolean", "default": true, "description": "Require resources.requests."},
                "limits": {"type": "boolean", "default": true, "description": "Require resources.limits."},
                "cpu": {"type": "boolean", "default": true, "description": "Require the cpu resource."},
                "memory": {"type": "boolean", "default": true, "description": "Require the memory resource."},
                "initContainers": {"type": "boolean", "default": true, "description": "Check init containers too."}
            }
        }))
    }

    fn check_settings(settings: &Value) -> Result<(), String> {
        Config::parse(settings).map(drop).map_err(String::from)
    }
}

impl Validator for ResourcesDeclared {
    fn validate(objects: &[Object], ctx: &Context) -> Vec<Violation> {
        let config = match Config::parse(&ctx.settings()) {
            Ok(config) => config,
            Err(e) => return vec![Violation::about_set(e.to_string(), Severity::Error)],
        };
        let mut violations = Vec::new();
        for object in objects {
            for container in object.containers() {
                let label = match container.kind() {
                    ContainerKind::Container => "container",
                    ContainerKind::Init if config.init_containers => "init container",
                    ContainerKind::Init | ContainerKind::Ephemeral => continue,
                };
                let resources = container.fields().get("resources");
                for section in &config.sections {
                    for resource in &config.resources {
                        let value = resources
                            .and_then(|r| r.get(section))
                            .and_then(|s| s.get(resource));
                        if !declared(value) {
                            violations.push(object.violation(
                                container.field_path(&format!("resources.{section}.{resource}")),
                                format!(
                                    "{label} `{}` declares no {}",
                                    container.name(),
                                    what(resource, section)
                                ),
                                Severity::Error,
                            ));
                        }
                    }
                }
            }
        }
        violations
    }
}

plumbline_sdk::export_policy!(ResourcesDeclared, validator);
