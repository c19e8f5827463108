//! `required-labels`: a validator. Every object of the desired set (or of
//! the kinds in `kinds`) must carry each label in `labels`; where
//! `valuePattern` gives a regular expression for a label, the label's value
//! must match it as a whole. A pattern for a label that is not required is
//! checked only when the label is present.
//!
//! One error per missing or mismatching label, at the label's path
//! (`metadata.labels.team`, `metadata.labels["app.kubernetes.io/name"]`).

use plumbline_policies_common::path;
use plumbline_policies_common::settings::{self, Settings};
use plumbline_sdk::serde_json::{json, Value};
use plumbline_sdk::{Context, Metadata, Object, PolicyInfo, Severity, Validator, Violation};
use regex_lite::Regex;

/// The policy.
struct RequiredLabels;

/// The settings, checked.
struct Config {
    /// Labels every object must carry, in the order given.
    labels: Vec<String>,
    /// `(label, pattern as written, compiled anchored pattern)`.
    patterns: Vec<(String, String, Regex)>,
    /// Only objects of these kinds are checked; `None` for all.
    kinds: Option<Vec<String>>,
}

impl Config {
    fn parse(value: &Value) -> settings::Result<Self> {
        let s = Settings::new(value, &["labels", "valuePattern", "kinds"])?;
        let labels: Vec<String> = s
            .string_list("labels")?
            .unwrap_or_default()
            .into_iter()
            .map(str::to_owned)
            .collect();
        for label in &labels {
            plumbline_policies_common::names::check_qualified_name(label)
                .map_err(|reason| s.invalid("labels", reason))?;
        }
        let mut patterns = Vec::new();
        for (label, pattern) in s.string_map("valuePattern")?.unwrap_or_default() {
            let at = path::child(&s.name("valuePattern"), label);
            let regex =
                Regex::new(&format!("^(?:{pattern})$")).map_err(|e| settings::Error::Invalid {
                    at,
                    reason: format!("is not a valid regular expression: {e}"),
                })?;
            patterns.push((label.to_owned(), pattern.to_owned(), regex));
        }
        if labels.is_empty() && patterns.is_empty() {
            return Err(s.invalid(
                "labels",
                "must name at least one label (or give settings.valuePattern)",
            ));
        }
        let kinds = match s.string_list("kinds")? {
            Some(kinds) if kinds.is_empty() => {
                return Err(s.invalid(
                    "kinds",
                    "must name at least one kind (leave it out to check every kind)",
                ))
            }
            kinds => kinds.map(|kinds| kinds.into_iter().map(str::to_owned).collect()),
        };
        Ok(Self {
            labels,
            patterns,
            kinds,
        })
    }

    fn applies_to(&self, object: &Object) -> bool {
        self.kinds
            .as_ref()
            .is_none_or(|kinds| kinds.iter().any(|k| k == object.kind()))
    }

    fn check(&self, object: &Object, violations: &mut Vec<Violation>) {
        for label in &self.labels {
            if object.labels().and_then(|l| l.get(label)).is_none() {
                violations.push(object.violation(
                    path::child("metadata.labels", label),
                    format!("missing required label `{label}`"),
                    Severity::Error,
                ));
            }
        }
        for (label, pattern, regex) in &self.patterns {
            let Some(value) = object.labels().and_then(|l| l.get(label)) else {
                continue;
            };
            let message = match value.as_str() {
                Some(text) if regex.is_match(text) => continue,
                Some(text) => {
                    format!("label `{label}` has value `{text}`, which does not match `{pattern}`")
                }
                None => format!("label `{label}` must be a string, found {value}"),
            };
            violations.push(object.violation(
                path::child("metadata.labels", label),
                message,
                Severity::Error,
            ));
        }
    }
}

impl Metadata for RequiredLabels {
    fn info() -> PolicyInfo {
        PolicyInfo::new(
            "required-labels",
            env!("CARGO_PKG_VERSION"),
            "Every object (optionally only of some kinds) must carry the required labels, \
             with values matching the given regular expressions.",
        )
        .with_settings_schema(json!({
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "labels": {"type": "array", "items": {"type": "string"},
                           "description": "Label keys every checked object must carry."},
                "valuePattern": {"type": "object", "additionalProperties": {"type": "string"},
                                 "description": "Label key -> regular expression the whole value must match."},
                "kinds": {"type": "array", "items": {"type": "string"},
                          "description": "Only check objects of these kinds (default: all)."}
            }
        }))
    }

    fn check_settings(settings: &Value) -> Result<(), String> {
        Config::parse(settings).map(drop).map_err(String::from)
    }
}

impl Validator for RequiredLabels {
    fn validate(objects: &[Object], ctx: &Context) -> Vec<Violation> {
        let config = match Config::parse(&ctx.settings()) {
            Ok(config) => config,
            Err(e) => return vec![Violation::about_set(e.to_string(), Severity::Error)],
        };
        let mut violations = Vec::new();
        for object in objects.iter().filter(|o| config.applies_to(o)) {
            config.check(object, &mut violations);
        }
        violations
    }
}

plumbline_sdk::export_policy!(RequiredLabels, validator);
