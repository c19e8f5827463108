//! The top-level fields of a kustomization: which ones are built, which are
//! accepted because they do not change the output, and which are refused
//! (with the reason). Every refused field of a file is reported at once,
//! each with its line. No IO.

use serde_json::Value;

use super::Error;

/// What this implementation does with a kustomize field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Support {
    /// Built as kustomize builds it.
    Built,
    /// Refused, with the reason shown to the user.
    Refused(&'static str),
}

const NOT_YET: Support = Support::Refused("not supported yet");
const HELM_GENERATOR: Support = Support::Refused("deprecated by kustomize; use helmCharts");

/// Every field of kustomize's `Kustomization` (v5.5), in its order.
const FIELDS: [(&str, Support); 34] = [
    ("apiVersion", Support::Built),
    ("kind", Support::Built),
    ("metadata", Support::Built),
    ("openapi", NOT_YET),
    ("namePrefix", Support::Built),
    ("nameSuffix", Support::Built),
    ("namespace", Support::Built),
    ("commonLabels", Support::Built),
    ("labels", Support::Built),
    ("commonAnnotations", Support::Built),
    ("patchesStrategicMerge", Support::Built),
    ("patchesJson6902", Support::Built),
    ("patches", Support::Built),
    ("images", Support::Built),
    ("imageTags", NOT_YET),
    ("replacements", Support::Built),
    ("replicas", Support::Built),
    ("vars", Support::Built),
    ("sortOptions", Support::Built),
    ("resources", Support::Built),
    ("components", Support::Built),
    ("crds", NOT_YET),
    ("bases", NOT_YET),
    ("configMapGenerator", Support::Built),
    ("secretGenerator", Support::Built),
    ("helmGlobals", Support::Built),
    ("helmCharts", Support::Built),
    ("helmChartInflationGenerator", HELM_GENERATOR),
    ("generatorOptions", Support::Built),
    ("configurations", Support::Built),
    ("generators", NOT_YET),
    ("transformers", NOT_YET),
    ("validators", NOT_YET),
    ("buildMetadata", Support::Built),
];

/// Check the top-level fields of kustomization `k` (from `file`, whose text
/// is `text`): one error per refused or unknown field. A field without a
/// value (`components:`, `vars: []`) does nothing and is accepted, as
/// kustomize does.
pub(super) fn check(k: &serde_json::Map<String, Value>, file: &str, text: &str) -> Vec<Error> {
    let mut errors = Vec::new();
    for (key, value) in k {
        let empty = match value {
            Value::Null => true,
            Value::Array(items) => items.is_empty(),
            Value::Object(map) => map.is_empty(),
            _ => false,
        };
        if empty {
            continue;
        }
        let reason = match FIELDS.iter().find(|(name, _)| name == key) {
            Some((_, Support::Built)) => continue,
            Some((_, Support::Refused(reason))) => (*reason).to_owned(),
            None => "not a kustomize field".to_owned(),
        };
        errors.push(Error::Unsupported {
            file: file.to_owned(),
            field: key.clone(),
            line: super::line_of_key(text, key),
            reason,
        });
    }
    errors.sort_by_key(|e| match e {
        Error::Unsupported { line, .. } => *line,
        _ => 0,
    });
    errors
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refused_field_is_reported_with_its_line_and_empty_keys_are_accepted() {
        let text =
            "resources: [a.yaml]\ncomponents:\ncrds:\n- x.yaml\nhelmChartInflationGenerator:\n- chartName: y\nfoo: 1\n";
        let k: Value = serde_yaml::from_str(text).unwrap();
        let errors = check(k.as_object().unwrap(), "k.yaml", text);
        let shown: Vec<String> = errors.iter().map(ToString::to_string).collect();
        assert_eq!(
            shown,
            [
                "k.yaml: line 3: field `crds` is not supported (not supported yet)",
                "k.yaml: line 5: field `helmChartInflationGenerator` is not supported (deprecated by kustomize; use helmCharts)",
                "k.yaml: line 7: field `foo` is not supported (not a kustomize field)",
            ]
        );
    }
}
