//! `unique-ingress-hosts`: a validator with a rule across objects. A host
//! name may be claimed by only one Ingress of the whole desired set. An
//! Ingress claims the hosts of its `spec.rules[].host` and, unless
//! `includeTlsHosts: false`, of its `spec.tls[].hosts[]`. Host names are
//! compared without regard to case; a wildcard (`*.example.com`) is a name
//! of its own and does not overlap `a.example.com`. Rules without a host
//! are not compared. With `perIngressClass`, only Ingresses of the same
//! class (`spec.ingressClassName`, else the `kubernetes.io/ingress.class`
//! annotation) conflict.
//!
//! Each Ingress that shares a host gets one error, at the first place it
//! names the host, naming the other Ingresses.

use std::collections::BTreeMap;

use plumbline_policies_common::names;
use plumbline_policies_common::settings::{self, Settings};
use plumbline_sdk::serde_json::{json, Value};
use plumbline_sdk::{Context, Metadata, Object, PolicyInfo, Severity, Validator, Violation};

/// The policy.
struct UniqueIngressHosts;

/// The settings, checked.
struct Config {
    /// TLS hosts count as claims too.
    include_tls_hosts: bool,
    /// Only Ingresses of the same class conflict.
    per_ingress_class: bool,
}

impl Config {
    fn parse(value: &Value) -> settings::Result<Self> {
        let s = Settings::new(value, &["includeTlsHosts", "perIngressClass"])?;
        Ok(Self {
            include_tls_hosts: s.bool("includeTlsHosts", true)?,
            per_ingress_class: s.bool("perIngressClass", false)?,
        })
    }

    /// The hosts one Ingress claims (lower-cased), each with the path where
    /// it is first named.
    fn claims(&self, ingress: &Object) -> Vec<(String, String)> {
        let mut claims: Vec<(String, String)> = Vec::new();
        let mut claim = |host: Option<&Value>, path: String| {
            if let Some(host) = host.and_then(Value::as_str).filter(|h| !h.is_empty()) {
                let host = host.to_ascii_lowercase();
                if !claims.iter().any(|(h, _)| *h == host) {
                    claims.push((host, path));
                }
            }
        };
        for (i, rule) in items(ingress.get("spec.rules")).enumerate() {
            claim(rule.get("host"), format!("spec.rules[{i}].host"));
        }
        if self.include_tls_hosts {
            for (i, tls) in items(ingress.get("spec.tls")).enumerate() {
                for (j, host) in items(tls.get("hosts")).enumerate() {
                    claim(Some(host), format!("spec.tls[{i}].hosts[{j}]"));
                }
            }
        }
        claims
    }

    /// The class an Ingress belongs to for conflicts: empty unless
    /// `perIngressClass`.
    fn class<'a>(&self, ingress: &'a Object) -> &'a str {
        if !self.per_ingress_class {
            return "";
        }
        ingress
            .get("spec.ingressClassName")
            .and_then(Value::as_str)
            .or_else(|| ingress.annotation("kubernetes.io/ingress.class"))
            .unwrap_or("")
    }
}

/// The items of a list value (none if it is not a list).
fn items(value: Option<&Value>) -> impl Iterator<Item = &Value> {
    value.and_then(Value::as_array).into_iter().flatten()
}

/// `Ingress shop/web`, `Ingress web` without a namespace.
fn describe(ingress: &Object) -> String {
    names::describe("Ingress", ingress.namespace(), ingress.name())
}

impl Metadata for UniqueIngressHosts {
    fn info() -> PolicyInfo {
        PolicyInfo::new(
            "unique-ingress-hosts",
            env!("CARGO_PKG_VERSION"),
            "Every Ingress host (rules and, by default, TLS hosts) must be claimed by only one \
             Ingress of the whole desired set.",
        )
        .with_settings_schema(json!({
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "includeTlsHosts": {"type": "boolean", "default": true,
                    "description": "Hosts in spec.tls[].hosts[] count as claims too."},
                "perIngressClass": {"type": "boolean", "default": false,
                    "description": "Only Ingresses of the same class conflict."}
            }
        }))
    }

    fn check_settings(settings: &Value) -> Result<(), String> {
        Config::parse(settings).map(drop).map_err(String::from)
    }
}

impl Validator for UniqueIngressHosts {
    fn validate(objects: &[Object], ctx: &Context) -> Vec<Violation> {
        let config = match Config::parse(&ctx.settings()) {
            Ok(config) => config,
            Err(e) => return vec![Violation::about_set(e.to_string(), Severity::Error)],
        };
        let ingresses: Vec<&Object> = objects.iter().filter(|o| o.kind() == "Ingress").collect();
        // (class, host) -> [(ingress index, path)], in the order of the set.
        let mut claimants: BTreeMap<(&str, String), Vec<(usize, String)>> = BTreeMap::new();
        for (index, ingress) in ingresses.iter().enumerate() {
            for (host, path) in config.claims(ingress) {
                claimants
                    .entry((config.class(ingress), host))
                    .or_default()
                    .push((index, path));
            }
        }
        let mut violations = Vec::new();
        for ((_, host), claims) in claimants.iter().filter(|(_, c)| c.len() > 1) {
            for (index, path) in claims {
                let others: Vec<String> = claims
                    .iter()
                    .filter(|(other, _)| other != index)
                    .map(|(other, _)| describe(ingresses[*other]))
                    .collect();
                violations.push(ingresses[*index].violation(
                    path.clone(),
                    format!("host `{host}` is also claimed by {}", others.join(", ")),
                    Severity::Error,
                ));
            }
        }
        violations
    }
}

plumbline_sdk::export_policy!(UniqueIngressHosts, validator);
