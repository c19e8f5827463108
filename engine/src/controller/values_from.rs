//! Reads a chart's `valuesFrom` from the cluster: the ConfigMaps and
//! Secrets of the SyncUnit's namespace, each key handed to
//! [`ResolvedValues::add`], which checks it, skips a missing optional entry
//! and keeps the order. The render stage gets the [`ResolvedValues`] and
//! reads nothing itself.
//!
//! A Secret's values are never printed: errors name the object and key only.
//!
//! IO: gets each ConfigMap and Secret from the API server.

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::Api;

use crate::render::helm::values_from::{self, Lookup, ResolvedValues, ValuesKind, ValuesReference};

/// Why `valuesFrom` could not be read. Never carries a value.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// An entry was refused: its object or key is missing (and it is not
    /// optional), or it holds no YAML mapping.
    #[error(transparent)]
    Values(#[from] values_from::Error),
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
            Error::Values(error) => error.reason(),
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
    let mut resolved = ResolvedValues::default();
    for reference in references {
        let found = read_key(client, namespace, reference).await?;
        resolved.add(namespace, reference, found)?;
    }
    Ok(resolved)
}

/// What `namespace` holds for one entry.
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
