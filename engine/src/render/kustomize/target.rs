//! Patch targets: which objects a patch applies to, by anchored regular
//! expressions on group, version, kind, name and namespace and by
//! equality-based label and annotation selectors. No IO.

use regex_lite::Regex;
use serde_json::Value;

/// A patch target: anchored regular expressions and label/annotation
/// selectors.
#[derive(Clone)]
pub(super) struct Target {
    group: Option<Regex>,
    version: Option<Regex>,
    kind: Option<Regex>,
    name: Option<Regex>,
    namespace: Option<Regex>,
    labels: Vec<Requirement>,
    annotations: Vec<Requirement>,
}

impl Target {
    pub(super) fn parse(v: &Value) -> Result<Self, String> {
        let map = v.as_object().ok_or("must be a mapping")?;
        let known = [
            "group",
            "version",
            "kind",
            "name",
            "namespace",
            "labelSelector",
            "annotationSelector",
        ];
        if let Some(k) = map.keys().find(|k| !known.contains(&k.as_str())) {
            return Err(format!("unknown field {k}"));
        }
        let re = |key: &str| -> Result<Option<Regex>, String> {
            match map.get(key) {
                None | Some(Value::Null) => Ok(None),
                Some(Value::String(s)) => Regex::new(&format!("^(?:{s})$"))
                    .map(Some)
                    .map_err(|e| format!("{key}: {e}")),
                Some(_) => Err(format!("{key} must be a string")),
            }
        };
        let selector = |key: &str| -> Result<Vec<Requirement>, String> {
            match map.get(key) {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(Value::String(s)) => {
                    Requirement::parse_all(s).map_err(|e| format!("{key}: {e}"))
                }
                Some(_) => Err(format!("{key} must be a string")),
            }
        };
        Ok(Self {
            group: re("group")?,
            version: re("version")?,
            kind: re("kind")?,
            name: re("name")?,
            namespace: re("namespace")?,
            labels: selector("labelSelector")?,
            annotations: selector("annotationSelector")?,
        })
    }

    pub(super) fn matches(&self, object: &Value) -> bool {
        let name = object.pointer("/metadata/name").and_then(Value::as_str);
        self.matches_as(object, name.unwrap_or(""))
    }

    /// Whether the target selects `object` when its name is `name` (e.g.
    /// its name before this kustomization's prefix and suffix).
    pub(super) fn matches_as(&self, object: &Value, name: &str) -> bool {
        let s = |p: &str| object.pointer(p).and_then(Value::as_str).unwrap_or("");
        let api_version = s("/apiVersion");
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let ok = |re: &Option<Regex>, v: &str| re.as_ref().is_none_or(|re| re.is_match(v));
        ok(&self.group, group)
            && ok(&self.version, version)
            && ok(&self.kind, s("/kind"))
            && ok(&self.name, name)
            && ok(&self.namespace, s("/metadata/namespace"))
            && self
                .labels
                .iter()
                .all(|r| r.matches(object.pointer("/metadata/labels")))
            && self
                .annotations
                .iter()
                .all(|r| r.matches(object.pointer("/metadata/annotations")))
    }
}

/// One requirement of an equality-based selector: `k=v`, `k==v`, `k!=v`,
/// `k` (exists) or `!k` (absent).
#[derive(Clone)]
enum Requirement {
    Equals(String, String),
    NotEquals(String, String),
    Exists(String),
    Absent(String),
}

impl Requirement {
    fn parse_all(s: &str) -> Result<Vec<Self>, String> {
        s.split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| {
                if p.contains(" in ") || p.contains(" notin ") || p.contains('(') {
                    Err(format!("set-based requirement {p:?} is not supported"))
                } else if let Some((k, v)) = p.split_once("!=") {
                    Ok(Self::NotEquals(k.trim().into(), v.trim().into()))
                } else if let Some((k, v)) = p.split_once("==").or_else(|| p.split_once('=')) {
                    Ok(Self::Equals(k.trim().into(), v.trim().into()))
                } else if let Some(k) = p.strip_prefix('!') {
                    Ok(Self::Absent(k.trim().into()))
                } else {
                    Ok(Self::Exists(p.into()))
                }
            })
            .collect()
    }

    fn matches(&self, map: Option<&Value>) -> bool {
        let get = |k: &str| map.and_then(|m| m.get(k)).and_then(Value::as_str);
        match self {
            Self::Equals(k, v) => get(k) == Some(v.as_str()),
            Self::NotEquals(k, v) => get(k) != Some(v.as_str()),
            Self::Exists(k) => get(k).is_some(),
            Self::Absent(k) => get(k).is_none(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn targets_are_anchored_regexes_with_selectors() {
        let t = Target::parse(
            &json!({"kind": "Deployment", "name": "(a|b)-ctl", "labelSelector": "app=x,!skip"}),
        )
        .unwrap();
        let obj = |name: &str, labels: Value| json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": labels}});
        assert!(t.matches(&obj("a-ctl", json!({"app": "x"}))));
        assert!(!t.matches(&obj("a-ctl-2", json!({"app": "x"}))));
        assert!(!t.matches(&obj("b-ctl", json!({"app": "x", "skip": "1"}))));
    }
}
