//! `no-privileged`: a validator. Workloads must not run with elevated
//! privileges:
//!
//! - the pod spec must not set `hostNetwork`, `hostPID` or `hostIPC` to
//!   `true`;
//! - no container (init and ephemeral included) may set
//!   `securityContext.privileged: true` or
//!   `securityContext.allowPrivilegeEscalation: true`; with
//!   `requireNoEscalation`, each must set `allowPrivilegeEscalation: false`
//!   explicitly;
//! - `securityContext.capabilities.add` may only name capabilities in
//!   `allowedCapabilities` (default: none; `CAP_NET_ADMIN` and `net_admin`
//!   both mean `NET_ADMIN`).
//!
//! Each finding is an error at the offending field's path.

use plumbline_policies_common::settings::{self, Settings};
use plumbline_sdk::serde_json::{json, Map, Value};
use plumbline_sdk::{
    Container, ContainerKind, Context, Metadata, Object, PolicyInfo, Severity, Validator, Violation,
};

/// The policy.
struct NoPrivileged;

/// The pod spec fields that share a host namespace.
const HOST_NAMESPACES: [&str; 3] = ["hostNetwork", "hostPID", "hostIPC"];

/// The settings, checked.
struct Config {
    /// Every container must set `allowPrivilegeEscalation: false`.
    require_no_escalation: bool,
    /// Normalised capability names containers may add.
    allowed_capabilities: Vec<String>,
}

impl Config {
    fn parse(value: &Value) -> settings::Result<Self> {
        let s = Settings::new(value, &["requireNoEscalation", "allowedCapabilities"])?;
        let mut allowed_capabilities = Vec::new();
        for (i, name) in s
            .string_list("allowedCapabilities")?
            .unwrap_or_default()
            .into_iter()
            .enumerate()
        {
            let valid =
                !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            if !valid {
                return Err(settings::Error::Invalid {
                    at: s.item_name("allowedCapabilities", i),
                    reason: format!(
                        "`{name}` is not a capability name (letters, digits and `_`, e.g. \
                         NET_BIND_SERVICE)"
                    ),
                });
            }
            allowed_capabilities.push(normalise_capability(name));
        }
        Ok(Self {
            require_no_escalation: s.bool("requireNoEscalation", false)?,
            allowed_capabilities,
        })
    }

    fn check_container(
        &self,
        object: &Object,
        container: &Container<'_>,
        out: &mut Vec<Violation>,
    ) {
        let who = format!(
            "{} `{}`",
            match container.kind() {
                ContainerKind::Container => "container",
                ContainerKind::Init => "init container",
                ContainerKind::Ephemeral => "ephemeral container",
            },
            container.name()
        );
        let empty = Map::new();
        let context = container
            .fields()
            .get("securityContext")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        let mut report = |field: &str, message: String| {
            out.push(object.violation(
                container.field_path(&format!("securityContext.{field}")),
                message,
                Severity::Error,
            ));
        };
        if context.get("privileged") == Some(&Value::Bool(true)) {
            report("privileged", format!("{who} runs privileged"));
        }
        match context.get("allowPrivilegeEscalation") {
            Some(Value::Bool(true)) => report(
                "allowPrivilegeEscalation",
                format!("{who} allows privilege escalation"),
            ),
            Some(Value::Bool(false)) => {}
            _ if self.require_no_escalation => report(
                "allowPrivilegeEscalation",
                format!(
                    "{who} must set securityContext.allowPrivilegeEscalation: false \
                     (requireNoEscalation is set)"
                ),
            ),
            _ => {}
        }
        let added = context
            .get("capabilities")
            .and_then(|c| c.get("add"))
            .and_then(Value::as_array);
        for (i, capability) in added.into_iter().flatten().enumerate() {
            let name = capability.as_str().unwrap_or("");
            if !self
                .allowed_capabilities
                .contains(&normalise_capability(name))
            {
                let allowed = if self.allowed_capabilities.is_empty() {
                    "no capabilities may be added".to_owned()
                } else {
                    format!("allowed: {}", self.allowed_capabilities.join(", "))
                };
                report(
                    &format!("capabilities.add[{i}]"),
                    format!("{who} adds capability `{name}`, which is not allowed ({allowed})"),
                );
            }
        }
    }
}

/// `cap_net_admin` -> `NET_ADMIN`.
fn normalise_capability(name: &str) -> String {
    let upper = name.to_ascii_uppercase();
    upper
        .strip_prefix("CAP_")
        .map_or_else(|| upper.clone(), str::to_owned)
}

impl Metadata for NoPrivileged {
    fn info() -> PolicyInfo {
        PolicyInfo::new(
            "no-privileged",
            env!("CARGO_PKG_VERSION"),
            "Workloads must not run privileged, allow privilege escalation, share the host's \
             network, PID or IPC namespace, or add capabilities beyond an allow-list.",
        )
        .with_settings_schema(json!({
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "requireNoEscalation": {"type": "boolean", "default": false,
                    "description": "Every container must set allowPrivilegeEscalation: false explicitly."},
                "allowedCapabilities": {"type": "array", "items": {"type": "string"}, "default": [],
                    "description": "Capabilities containers may add (e.g. NET_BIND_SERVICE)."}
            }
        }))
    }

    fn check_settings(settings: &Value) -> Result<(), String> {
        Config::parse(settings).map(drop).map_err(String::from)
    }
}

impl Validator for NoPrivileged {
    fn validate(objects: &[Object], ctx: &Context) -> Vec<Violation> {
        let config = match Config::parse(&ctx.settings()) {
            Ok(config) => config,
            Err(e) => return vec![Violation::about_set(e.to_string(), Severity::Error)],
        };
        let mut violations = Vec::new();
        for object in objects {
            if let (Some(spec_path), Some(spec)) = (object.pod_spec_path(), object.pod_spec()) {
                for field in HOST_NAMESPACES {
                    if spec.get(field) == Some(&Value::Bool(true)) {
                        violations.push(object.violation(
                            format!("{spec_path}.{field}"),
                            format!("the pod spec sets {field}: true"),
                            Severity::Error,
                        ));
                    }
                }
            }
            for container in object.containers() {
                config.check_container(object, &container, &mut violations);
            }
        }
        violations
    }
}

plumbline_sdk::export_policy!(NoPrivileged, validator);
