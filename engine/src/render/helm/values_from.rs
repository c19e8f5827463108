//! `valuesFrom`: values a chart takes from keys of ConfigMaps and Secrets in
//! the SyncUnit's namespace, like Flux's HelmRelease. The controller reads
//! the objects before each reconcile (`controller::values_from`) and hands
//! what it found for each entry to [`ResolvedValues::add`], which checks it
//! and keeps the entry's values; a `plumbline.yaml` has no cluster to read
//! them from and refuses the field.
//!
//! A Secret's values are never printed: not by `Debug`, not in errors (a
//! Secret's key that is not YAML is reported by line and column only).
//!
//! IO: none.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The key read when `valuesKey` is not given.
pub const DEFAULT_VALUES_KEY: &str = "values.yaml";

/// Which kind of object holds values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
pub enum ValuesKind {
    /// A ConfigMap (its `data`, or `binaryData`).
    ConfigMap,
    /// A Secret (its `data`); never printed.
    Secret,
}

impl std::fmt::Display for ValuesKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ValuesKind::ConfigMap => "ConfigMap",
            ValuesKind::Secret => "Secret",
        })
    }
}

/// One entry of `valuesFrom`: a key of a ConfigMap or Secret in the
/// SyncUnit's namespace holding a YAML mapping of values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ValuesReference {
    /// `ConfigMap` or `Secret`.
    pub kind: ValuesKind,
    /// The object's name.
    pub name: String,
    /// The key holding the values (default `values.yaml`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values_key: Option<String>,
    /// Skip this entry when the object or the key does not exist, instead
    /// of failing the sync.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub optional: bool,
}

impl ValuesReference {
    /// The key read.
    pub fn key(&self) -> &str {
        self.values_key.as_deref().unwrap_or(DEFAULT_VALUES_KEY)
    }
}

/// What `valuesFrom` read: one YAML mapping per entry found, in order.
/// `Debug` shows how many, never what.
#[derive(Clone, PartialEq, Default)]
pub struct ResolvedValues {
    /// The documents, each checked to be a YAML mapping.
    pub(super) documents: Vec<Vec<u8>>,
}

impl std::fmt::Debug for ResolvedValues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "ResolvedValues({} document(s), not shown)",
            self.documents.len()
        )
    }
}

impl ResolvedValues {
    /// The documents, in order, for a digest of a sync's inputs.
    pub fn documents(&self) -> impl Iterator<Item = &[u8]> {
        self.documents.iter().map(Vec::as_slice)
    }
}

/// Why an entry of `valuesFrom` was refused. Never carries a value.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The object does not exist (and the entry is not optional).
    #[error("valuesFrom: {kind} {namespace}/{name} not found")]
    NotFound {
        /// ConfigMap or Secret.
        kind: ValuesKind,
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
    },
    /// The object has no such key (and the entry is not optional).
    #[error("valuesFrom: {kind} {namespace}/{name} has no key {key:?}")]
    NoKey {
        /// ConfigMap or Secret.
        kind: ValuesKind,
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
        /// The key.
        key: String,
    },
    /// The key does not hold a YAML mapping.
    #[error("valuesFrom: {kind} {namespace}/{name} key {key:?}: {message}")]
    Invalid {
        /// ConfigMap or Secret.
        kind: ValuesKind,
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
        /// The key.
        key: String,
        /// What is wrong (for a Secret, where only).
        message: String,
    },
}

impl Error {
    /// A short machine-readable reason, for status conditions and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::NotFound { .. } | Error::NoKey { .. } => "ValuesNotFound",
            Error::Invalid { .. } => "InvalidValues",
        }
    }
}

/// What the cluster held for one entry of `valuesFrom`. `Debug` never
/// shows the value.
pub enum Lookup {
    /// The key's value.
    Found(Vec<u8>),
    /// The object does not exist.
    NoObject,
    /// The object exists without the key.
    NoKey,
}

impl std::fmt::Debug for Lookup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Lookup::Found(_) => "Found(not shown)",
            Lookup::NoObject => "NoObject",
            Lookup::NoKey => "NoKey",
        })
    }
}

impl ResolvedValues {
    /// Take what `namespace` held for `reference`, the next entry of
    /// `valuesFrom`: its values when they are a YAML mapping; nothing when
    /// the object or key is missing and the entry is optional; else why
    /// not.
    pub fn add(
        &mut self,
        namespace: &str,
        reference: &ValuesReference,
        found: Lookup,
    ) -> Result<(), Error> {
        let not_found = |error: Error| {
            if reference.optional {
                Ok(())
            } else {
                Err(error)
            }
        };
        match found {
            Lookup::Found(bytes) => self.documents.push(check(namespace, reference, bytes)?),
            Lookup::NoObject => not_found(Error::NotFound {
                kind: reference.kind,
                namespace: namespace.to_owned(),
                name: reference.name.clone(),
            })?,
            Lookup::NoKey => not_found(Error::NoKey {
                kind: reference.kind,
                namespace: namespace.to_owned(),
                name: reference.name.clone(),
                key: reference.key().to_owned(),
            })?,
        }
        Ok(())
    }
}

/// `bytes` if they are a YAML mapping (or empty); else why not, without
/// quoting a Secret.
fn check(namespace: &str, reference: &ValuesReference, bytes: Vec<u8>) -> Result<Vec<u8>, Error> {
    let invalid = |message: String| Error::Invalid {
        kind: reference.kind,
        namespace: namespace.to_owned(),
        name: reference.name.clone(),
        key: reference.key().to_owned(),
        message,
    };
    let text = std::str::from_utf8(&bytes).map_err(|_| invalid("not UTF-8 text".into()))?;
    let value: Value = crate::yaml::from_str(text).map_err(|e| {
        invalid(match (reference.kind, e.location()) {
            (ValuesKind::ConfigMap, _) => format!("not YAML: {e}"),
            (ValuesKind::Secret, Some(at)) => {
                format!("not YAML (line {} column {})", at.line(), at.column())
            }
            (ValuesKind::Secret, None) => "not YAML".to_owned(),
        })
    })?;
    if !(value.is_object() || value.is_null()) {
        return Err(invalid("not a mapping of values".into()));
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(kind: ValuesKind) -> ValuesReference {
        ValuesReference {
            kind,
            name: "creds".into(),
            values_key: None,
            optional: false,
        }
    }

    #[test]
    fn a_secret_that_is_not_yaml_is_reported_without_its_content() {
        let secret = b"password: [hunter2\n".to_vec();
        let error = check("shop", &reference(ValuesKind::Secret), secret.clone()).unwrap_err();
        let message = error.to_string();
        assert!(
            message
                .starts_with("valuesFrom: Secret shop/creds key \"values.yaml\": not YAML (line"),
            "{message}"
        );
        assert!(!message.contains("hunter2"), "{message}");
        let config_map = check("shop", &reference(ValuesKind::ConfigMap), secret).unwrap_err();
        assert!(
            config_map.to_string().contains("not YAML: "),
            "{config_map}"
        );
        let list = check("shop", &reference(ValuesKind::Secret), b"- a\n".to_vec()).unwrap_err();
        assert!(
            list.to_string().ends_with("not a mapping of values"),
            "{list}"
        );
    }

    #[test]
    fn a_missing_optional_entry_is_skipped_and_a_missing_required_one_refused() {
        let optional = ValuesReference {
            optional: true,
            ..reference(ValuesKind::ConfigMap)
        };
        let mut resolved = ResolvedValues::default();
        resolved
            .add("shop", &optional, Lookup::Found(b"a: 1\n".to_vec()))
            .unwrap();
        resolved.add("shop", &optional, Lookup::NoObject).unwrap();
        resolved.add("shop", &optional, Lookup::NoKey).unwrap();
        let required = reference(ValuesKind::Secret);
        resolved
            .add("shop", &required, Lookup::Found(b"b: 2\n".to_vec()))
            .unwrap();
        let kept: Vec<&[u8]> = resolved.documents().collect();
        assert_eq!(kept, [b"a: 1\n".as_slice(), b"b: 2\n".as_slice()]);

        let missing = resolved
            .add("shop", &required, Lookup::NoObject)
            .unwrap_err();
        assert_eq!(
            missing.to_string(),
            "valuesFrom: Secret shop/creds not found"
        );
        assert_eq!(missing.reason(), "ValuesNotFound");
        let no_key = resolved.add("shop", &required, Lookup::NoKey).unwrap_err();
        assert_eq!(
            no_key.to_string(),
            "valuesFrom: Secret shop/creds has no key \"values.yaml\""
        );
        assert_eq!(no_key.reason(), "ValuesNotFound");
        let invalid = resolved
            .add("shop", &optional, Lookup::Found(b"- a\n".to_vec()))
            .unwrap_err();
        assert_eq!(invalid.reason(), "InvalidValues");
        assert_eq!(
            resolved.documents().count(),
            2,
            "a refused entry adds nothing"
        );
    }

    #[test]
    fn resolved_values_are_not_shown() {
        let resolved = ResolvedValues {
            documents: vec![b"password: hunter2\n".to_vec()],
        };
        let shown = format!("{resolved:?}");
        assert_eq!(shown, "ResolvedValues(1 document(s), not shown)");
        let found = Lookup::Found(b"password: hunter2\n".to_vec());
        assert_eq!(format!("{found:?}"), "Found(not shown)");
    }
}
