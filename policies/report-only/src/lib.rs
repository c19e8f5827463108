//! `report-only`: a remediator. Drift of objects of the kinds in `kinds`
//! (default `["Secret"]`) is reported and left alone:
//! `report("Secret shop/db drifted: data.password; Plumbline does not
//! overwrite it")`. The message names the drifted paths, never their
//! values (Secret values must not reach logs). On every other drift the
//! policy abstains (`None`): the next remediator of the sync, or the sync's
//! default, decides.

use plumbline_policies_common::names;
use plumbline_policies_common::settings::{self, Settings};
use plumbline_sdk::serde_json::{json, Value};
use plumbline_sdk::{Context, Drift, Metadata, PolicyInfo, Remediation, Remediator};

/// The policy.
struct ReportOnly;

/// The settings, checked: the kinds whose drift is only reported.
struct Config {
    kinds: Vec<String>,
}

impl Config {
    fn parse(value: &Value) -> settings::Result<Self> {
        let s = Settings::new(value, &["kinds"])?;
        let kinds = match s.string_list("kinds")? {
            None => vec!["Secret".to_owned()],
            Some(kinds) if kinds.is_empty() => {
                return Err(s.invalid("kinds", "must name at least one kind"))
            }
            Some(kinds) => kinds.into_iter().map(str::to_owned).collect(),
        };
        if let Some(empty) = kinds.iter().position(String::is_empty) {
            return Err(settings::Error::Invalid {
                at: s.item_name("kinds", empty),
                reason: "must not be empty".to_owned(),
            });
        }
        Ok(Self { kinds })
    }
}

/// The report for one drift.
fn message(drift: &Drift) -> String {
    let target = &drift.target;
    let object = names::describe(&target.kind, target.namespace.as_deref(), &target.name);
    let what = if drift.is_deleted() {
        "the object was deleted".to_owned()
    } else if drift.changes.is_empty() {
        "no field changes listed".to_owned()
    } else {
        drift
            .changes
            .iter()
            .map(|c| c.path.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    format!("{object} drifted: {what}; Plumbline does not overwrite it")
}

impl Metadata for ReportOnly {
    fn info() -> PolicyInfo {
        PolicyInfo::new(
            "report-only",
            env!("CARGO_PKG_VERSION"),
            "Reports drift of the chosen kinds (Secrets by default) instead of overwriting it; \
             abstains on every other drift.",
        )
        .with_settings_schema(json!({
            "type": "object",
            "additionalProperties": false,
            "properties": {
                "kinds": {"type": "array", "items": {"type": "string"}, "minItems": 1,
                    "default": ["Secret"], "description": "Kinds whose drift is only reported."}
            }
        }))
    }

    fn check_settings(settings: &Value) -> Result<(), String> {
        Config::parse(settings).map(drop).map_err(String::from)
    }
}

impl Remediator for ReportOnly {
    fn remediate(drift: &Drift, ctx: &Context) -> Option<Remediation> {
        let config = match Config::parse(&ctx.settings()) {
            Ok(config) => config,
            Err(e) => return Some(Remediation::Report(format!("report-only settings: {e}"))),
        };
        if config.kinds.contains(&drift.target.kind) {
            Some(Remediation::Report(message(drift)))
        } else {
            None
        }
    }
}

plumbline_sdk::export_policy!(ReportOnly, remediator);
