//! Discovery: from `apiVersion` + `kind` to the API resource that serves it.
//!
//! Kinds are resolved one group-version at a time (one request to
//! `/api/v1` or `/apis/{group}/{version}`) and cached. A miss is asked again
//! the next time, so a kind whose CRD was just established resolves without a
//! restart; [`Resolver::invalidate`] drops everything after CRDs change.

use std::collections::HashMap;
use std::sync::Mutex;

use kube::api::{ApiResource, GroupVersionKind};
use kube::discovery::Scope;

use super::{Error, Result};

/// A resolved kind.
#[derive(Debug, Clone)]
pub struct Resolved {
    /// The API resource (plural name, group, version) for requests.
    pub resource: ApiResource,
    /// Whether objects of this kind live in namespaces.
    pub namespaced: bool,
}

/// A cache of resolved kinds for one API server.
#[derive(Debug, Default)]
pub struct Resolver {
    cache: Mutex<HashMap<(String, String), Resolved>>,
}

impl Resolver {
    /// Resolve `kind` in `api_version`, asking the API server on a miss.
    pub async fn resolve(
        &self,
        client: &kube::Client,
        api_version: &str,
        kind: &str,
    ) -> Result<Resolved> {
        let cache_key = (api_version.to_owned(), kind.to_owned());
        if let Some(hit) = self.lock().get(&cache_key) {
            return Ok(hit.clone());
        }
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let gvk = GroupVersionKind::gvk(group, version, kind);
        let unknown = || Error::UnknownKind {
            api_version: api_version.to_owned(),
            kind: kind.to_owned(),
        };
        let (resource, capabilities) =
            kube::discovery::pinned_kind(client, &gvk)
                .await
                .map_err(|error| match error {
                    kube::Error::Api(status) if status.code == 404 => unknown(),
                    kube::Error::Discovery(_) => unknown(),
                    source => Error::Discovery {
                        what: format!("{api_version} {kind}"),
                        source,
                    },
                })?;
        let resolved = Resolved {
            resource,
            namespaced: capabilities.scope == Scope::Namespaced,
        };
        self.lock().insert(cache_key, resolved.clone());
        Ok(resolved)
    }

    /// Resolve `kind` in `api_version`, or, when that version is no longer
    /// served, in the most stable version of the same group that serves the
    /// kind (an object stored under a retired version is read and deleted
    /// through the version that replaced it). [`Error::UnknownKind`] when
    /// no version of the group serves the kind.
    pub async fn resolve_served(
        &self,
        client: &kube::Client,
        api_version: &str,
        kind: &str,
    ) -> Result<Resolved> {
        let unknown = match self.resolve(client, api_version, kind).await {
            Err(unknown @ Error::UnknownKind { .. }) => unknown,
            resolved => return resolved,
        };
        let Some((group, _)) = api_version.rsplit_once('/') else {
            return Err(unknown);
        };
        let Ok(served) = kube::discovery::group(client, group).await else {
            return Err(unknown);
        };
        let Some((resource, capabilities)) = served
            .resources_by_stability()
            .into_iter()
            .find(|(resource, _)| resource.kind == kind)
        else {
            return Err(unknown);
        };
        Ok(Resolved {
            resource,
            namespaced: capabilities.scope == Scope::Namespaced,
        })
    }

    /// Forget every resolved kind (after CRDs were created or deleted).
    pub fn invalidate(&self) {
        self.lock().clear();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Resolved>> {
        // A panic while holding the lock cannot leave the map half-written
        // (single inserts and clears), so a poisoned lock is still usable.
        self.cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Every kind the server lists, each in its group's most stable version. A
/// kind served by two groups (core `v1 Event` and `events.k8s.io/v1 Event`)
/// appears once per group.
pub async fn listable(client: &kube::Client) -> Result<Vec<Resolved>> {
    let discovery = kube::discovery::Discovery::new(client.clone())
        .run()
        .await
        .map_err(|source| Error::Discovery {
            what: "the kinds the API server serves".into(),
            source,
        })?;
    Ok(discovery
        .groups()
        .flat_map(kube::discovery::ApiGroup::resources_by_stability)
        .filter(|(_, capabilities)| capabilities.supports_operation(kube::discovery::verbs::LIST))
        .map(|(resource, capabilities)| Resolved {
            resource,
            namespaced: capabilities.scope == Scope::Namespaced,
        })
        .collect())
}
