//! `valuesFrom`: values a chart takes from keys of ConfigMaps and Secrets in
//! the SyncUnit's namespace, like Flux's HelmRelease. The controller reads
//! them before each reconcile ([`read`]); a `plumbline.yaml` has no cluster
//! to read them from and refuses the field.
//!
//! A Secret's values are never printed: not by `Debug`, not in errors (a
//! Secret's key that is not YAML is reported by line and column only).
//!
//! IO: [`read`] gets the objects from the API server.

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Api;
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

/// Why `valuesFrom` could not be read. Never carries a value.
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
    /// The API server did not answer the read.
    #[error("valuesFrom: reading {kind} {namespace}/{name}: {source}")]
    Read {
        /// ConfigMap or Secret.
        kind: ValuesKind,
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
        /// The request's error.
        #[source]
        source: kube::Error,
    },
}

impl Error {
    /// A short machine-readable reason, for status conditions and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::NotFound { .. } | Error::NoKey { .. } => "ValuesNotFound",
            Error::Invalid { .. } => "InvalidValues",
            Error::Read { .. } => "ValuesFromFailed",
        }
    }
}

/// Read every entry of `references` from `namespace`, in order; entries
/// marked optional whose object or key is missing are skipped.
pub async fn read(
    client: &kube::Client,
    namespace: &str,
    references: &[ValuesReference],
) -> Result<ResolvedValues, Error> {
    let mut documents = Vec::new();
    for reference in references {
        let found = read_key(client, namespace, reference).await?;
        let not_found = |error: Error| {
            if reference.optional {
                Ok(())
            } else {
                Err(error)
            }
        };
        match found {
            Lookup::Found(bytes) => documents.push(check(namespace, reference, bytes)?),
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
    }
    Ok(ResolvedValues { documents })
}

/// What reading one key found.
enum Lookup {
    Found(Vec<u8>),
    NoObject,
    NoKey,
}

async fn read_key(
    client: &kube::Client,
    namespace: &str,
    reference: &ValuesReference,
) -> Result<Lookup, Error> {
    let failed = |source| Error::Read {
        kind: reference.kind,
        namespace: namespace.to_owned(),
        name: reference.name.clone(),
        source,
    };
    let key = reference.key();
    let value = match reference.kind {
        ValuesKind::ConfigMap => {
            let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
            let Some(object) = api.get_opt(&reference.name).await.map_err(failed)? else {
                return Ok(Lookup::NoObject);
            };
            let text = object.data.and_then(|mut data| data.remove(key));
            let binary = || object.binary_data.and_then(|mut data| data.remove(key));
            text.map(String::into_bytes)
                .or_else(|| binary().map(|b| b.0))
        }
        ValuesKind::Secret => {
            let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
            let Some(object) = api.get_opt(&reference.name).await.map_err(failed)? else {
                return Ok(Lookup::NoObject);
            };
            object
                .data
                .and_then(|mut data| data.remove(key))
                .map(|b| b.0)
        }
    };
    Ok(value.map_or(Lookup::NoKey, Lookup::Found))
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
    fn resolved_values_are_not_shown() {
        let resolved = ResolvedValues {
            documents: vec![b"password: hunter2\n".to_vec()],
        };
        let shown = format!("{resolved:?}");
        assert_eq!(shown, "ResolvedValues(1 document(s), not shown)");
    }
}
