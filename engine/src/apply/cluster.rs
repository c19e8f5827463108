//! The connection to one API server, and the reads and writes apply makes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::time::{Duration, Instant};

use futures_util::{stream, StreamExt, TryStreamExt};
use kube::api::{
    Api, ApiResource, DeleteParams, DynamicObject, ListParams, ObjectList, Patch, PatchParams,
    Preconditions,
};
use serde_json::Value;

use super::discovery::{Resolved, Resolver};
use super::{Error, Options, Result};
use crate::health::{self, Health};
use crate::object::ObjectKey;
use crate::plan::cascade::{Cascade, Content, Contents};
use crate::plan::Live;

/// One API server, with Plumbline's write options and a discovery cache.
pub struct Cluster {
    client: kube::Client,
    resolver: Resolver,
    options: Options,
}

/// The outcome of applying one object.
#[derive(Debug)]
pub struct Applied {
    /// The object.
    pub key: ObjectKey,
    /// The object as the API server returned it, or why it failed.
    pub result: Result<Value>,
}

impl Cluster {
    /// Connect with a kubeconfig file and context, or, when both are `None`,
    /// the way `kubectl` does: `$KUBECONFIG` / `~/.kube/config`, else the
    /// in-cluster service account.
    pub async fn connect(
        kubeconfig: Option<&Path>,
        context: Option<&str>,
        options: Options,
    ) -> Result<Self> {
        let config = super::client_config(kubeconfig, context).await?;
        let client = kube::Client::try_from(config).map_err(|e| Error::Connect(e.to_string()))?;
        Ok(Self::new(client, options))
    }

    /// Use an existing client.
    pub fn new(client: kube::Client, options: Options) -> Self {
        Cluster {
            client,
            resolver: Resolver::default(),
            options,
        }
    }

    /// The write options.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// The underlying client.
    pub fn client(&self) -> &kube::Client {
        &self.client
    }

    /// Resolve a kind to its API resource and scope.
    pub async fn resolve(&self, api_version: &str, kind: &str) -> Result<Resolved> {
        self.resolver.resolve(&self.client, api_version, kind).await
    }

    /// Forget resolved kinds, after CRDs were created or deleted.
    pub fn refresh_discovery(&self) {
        self.resolver.invalidate();
    }

    async fn api_for(&self, api_version: &str, key: &ObjectKey) -> Result<Api<DynamicObject>> {
        let resolved = self.resolve(api_version, &key.kind).await?;
        Ok(match (&key.namespace, resolved.namespaced) {
            (Some(ns), true) => Api::namespaced_with(self.client.clone(), ns, &resolved.resource),
            _ => Api::all_with(self.client.clone(), &resolved.resource),
        })
    }

    /// Server-side apply one object; returns it as the API server stored it
    /// (or would, in dry-run). Conflicts are forced when
    /// [`Options::force_conflicts`] is set.
    pub async fn apply_one(&self, object: &Value) -> Result<Value> {
        self.apply_one_with(object, self.options.force_conflicts)
            .await
    }

    /// Server-side apply one object, forcing conflicts if `force` (self-heal
    /// takes back fields another manager took over). A Secret's
    /// `stringData` is sent as `data` ([`crate::plan::fields::stored_form`]),
    /// so that Plumbline owns the keys the API server stores.
    pub async fn apply_one_with(&self, object: &Value, force: bool) -> Result<Value> {
        let key = ObjectKey::of(object).ok_or_else(|| Error::Rejected {
            object: unnamed(),
            code: 422,
            reason: "Invalid".into(),
            message: "object has no apiVersion, kind or metadata.name".into(),
        })?;
        let api_version = object["apiVersion"].as_str().unwrap_or_default();
        let api = self.api_for(api_version, &key).await?;
        let mut params = PatchParams::apply(&self.options.field_manager);
        params.force = force;
        params.dry_run = self.options.dry_run;
        let object = crate::plan::fields::stored_form(object);
        let returned = api
            .patch(&key.name, &params, &Patch::Apply(object.as_ref()))
            .await
            .map_err(|e| Error::from_kube(&key, e))?;
        serde_json::to_value(returned).map_err(|e| Error::Rejected {
            object: key,
            code: 500,
            reason: "BadResponse".into(),
            message: e.to_string(),
        })
    }

    /// Move the fields of the field `managers` to Plumbline's field manager
    /// in `live`'s managedFields, and a Secret's `stringData` fields an
    /// earlier Plumbline owned to `data` ([`super::takeover`]), with a patch
    /// that fails if the object changed since it was read. Nothing is sent
    /// when there is nothing to move, or in dry-run (the API server
    /// cannot dry-run a change that the next request depends on). Returns
    /// the `resourceVersion` the patch made, if one was sent.
    pub async fn take_over(&self, live: &Value, managers: &[String]) -> Result<Option<String>> {
        let Some(key) = ObjectKey::of(live) else {
            return Ok(None);
        };
        let managed = super::takeover::managed_fields(live, managers, &self.options.field_manager);
        let Some(managed) = managed.filter(|_| !self.options.dry_run) else {
            return Ok(None);
        };
        let api_version = live["apiVersion"].as_str().unwrap_or_default();
        let api = self.api_for(api_version, &key).await?;
        let patch = serde_json::json!({"metadata": {
            "managedFields": managed,
            "resourceVersion": live.pointer("/metadata/resourceVersion"),
        }});
        let params = PatchParams {
            field_manager: Some(self.options.field_manager.clone()),
            ..PatchParams::default()
        };
        let patched = api
            .patch(&key.name, &params, &Patch::Merge(&patch))
            .await
            .map_err(|e| Error::from_kube(&key, e))?;
        tracing::debug!(object = %key, "took over fields of imperative field managers");
        Ok(patched.metadata.resource_version)
    }

    /// Server-side apply many objects, at most `concurrency` at a time.
    /// Results come back in input order.
    pub async fn apply(&self, objects: &[Value]) -> Vec<Applied> {
        let mut results: Vec<(usize, Result<Value>)> = self
            .apply_each(objects, self.options.force_conflicts)
            .collect()
            .await;
        results.sort_by_key(|(index, _)| *index);
        objects
            .iter()
            .zip(results)
            .map(|(object, (_, result))| Applied {
                key: ObjectKey::of(object).unwrap_or_else(unnamed),
                result,
            })
            .collect()
    }

    /// Server-side apply `objects`, `concurrency` at a time, forcing
    /// conflicts if `force`. Each result comes as soon as it is ready, with
    /// the index of its object in `objects`, and the next request goes out
    /// at once: a slow answer holds up no other request (as results in
    /// input order would). A caller that records them as they come holds
    /// only those in flight (objects are taken from `objects` only as
    /// requests go out).
    pub fn apply_each<'a, O: std::borrow::Borrow<Value> + 'a>(
        &'a self,
        objects: impl IntoIterator<Item = O> + 'a,
        force: bool,
    ) -> impl futures_util::Stream<Item = (usize, Result<Value>)> + 'a {
        stream::iter(objects.into_iter().enumerate())
            .map(move |(index, object)| async move {
                (index, self.apply_one_with(object.borrow(), force).await)
            })
            .buffer_unordered(self.options.concurrency.max(1))
    }

    /// Delete an object with background propagation. With a `uid`, the
    /// API server deletes it only if it still has that uid, and a replaced
    /// object is [`Error::OwnershipChanged`]. An object that is already gone
    /// is not an error.
    pub async fn delete(
        &self,
        key: &ObjectKey,
        api_version: &str,
        uid: Option<&str>,
    ) -> Result<()> {
        let api = self.api_for(api_version, key).await?;
        let params = DeleteParams {
            dry_run: self.options.dry_run,
            preconditions: uid.map(|uid| Preconditions {
                uid: Some(uid.to_owned()),
                resource_version: None,
            }),
            ..DeleteParams::background()
        };
        match api.delete(&key.name, &params).await {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
            Err(kube::Error::Api(status)) if status.code == 409 && uid.is_some() => {
                Err(Error::OwnershipChanged {
                    object: key.clone(),
                    message: status.message,
                })
            }
            Err(e) => Err(Error::from_kube(key, e)),
        }
    }

    /// Read one object; `None` if it does not exist.
    pub async fn get(&self, key: &ObjectKey, api_version: &str) -> Result<Option<Value>> {
        let api = self.api_for(api_version, key).await?;
        let object = api
            .get_opt(&key.name)
            .await
            .map_err(|e| Error::from_kube(key, e))?;
        Ok(object.map(|o| serde_json::to_value(o).unwrap_or(Value::Null)))
    }

    /// Wait until an object is ready by the rules of [`health::assess`]
    /// (a CRD established, a namespace active), polling.
    pub async fn wait_ready(&self, key: &ObjectKey, api_version: &str) -> Result<()> {
        let deadline = Instant::now() + self.options.establish_timeout;
        let mut last = Health::InProgress("not found".into());
        while Instant::now() < deadline {
            if let Some(object) = self.get(key, api_version).await? {
                last = health::assess(&object);
                if last.is_current() {
                    return Ok(());
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(Error::Timeout {
            object: key.clone(),
            timeout: self.options.establish_timeout,
            health: last,
        })
    }

    /// Wait until an object is gone (finalizers done), polling.
    pub async fn wait_deleted(&self, key: &ObjectKey, api_version: &str) -> Result<()> {
        let deadline = Instant::now() + self.options.establish_timeout;
        while Instant::now() < deadline {
            if self.options.dry_run || self.get(key, api_version).await?.is_none() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Err(Error::Timeout {
            object: key.clone(),
            timeout: self.options.establish_timeout,
            health: Health::Terminating,
        })
    }

    /// Read the live objects for `wanted` (identity and `apiVersion`): one
    /// labelled list per kind, then a GET for each object the lists did not
    /// return (objects not labelled yet, e.g. before adoption), except that
    /// where 16 or more of one kind are missing in one namespace (a first
    /// sync) a metadata-only list of the kind there says which exist, and
    /// only those are read. A kind whose
    /// `apiVersion` is no longer served is read through another served
    /// version of its group; kinds the server does not serve at all (a CRD
    /// not yet applied) have no live objects. Where listing a namespaced
    /// kind across the cluster is forbidden (a sync impersonating a service
    /// account with rights in some namespaces only), it is listed in each
    /// namespace `wanted` names instead.
    pub async fn live(&self, wanted: &[(ObjectKey, String)], sync: &str) -> Result<Live> {
        self.live_compacting(wanted, sync, &|_, object| object)
            .await
    }

    /// [`Cluster::live`], passing each listed object through `compact` as
    /// its page arrives (reconcile keeps objects unchanged since their
    /// apply as [`crate::plan::summary`]s).
    pub async fn live_compacting(
        &self,
        wanted: &[(ObjectKey, String)],
        sync: &str,
        compact: &Compact<'_>,
    ) -> Result<Live> {
        let mut kinds: BTreeMap<(&str, &str), BTreeSet<Option<&str>>> = BTreeMap::new();
        for (key, api_version) in wanted {
            kinds
                .entry((api_version.as_str(), key.kind.as_str()))
                .or_default()
                .insert(key.namespace.as_deref());
        }
        let selector = format!("{}={sync}", super::SYNC_LABEL);
        // Kinds are listed side by side: one parses a page while the API
        // server serves another's.
        let listed: Vec<Live> = stream::iter(&kinds)
            .map(|((api_version, kind), namespaces)| {
                let selector = &selector;
                async move {
                    let resolved = match self.resolve_served(api_version, kind).await {
                        Ok(resolved) => resolved,
                        Err(Error::UnknownKind { .. }) => return Ok(Live::new()),
                        Err(e) => return Err(e),
                    };
                    self.list_labelled(&resolved, selector, namespaces, compact)
                        .await
                }
            })
            .buffer_unordered(LISTS_AT_ONCE)
            .try_collect()
            .await?;
        let mut live = Live::new();
        for kind in listed {
            live.extend(kind);
        }
        let missing: Vec<&(ObjectKey, String)> = wanted
            .iter()
            .filter(|(key, _)| !live.contains_key(key))
            .collect();
        let fetched: Vec<(ObjectKey, Value)> = stream::iter(self.existing(missing).await)
            .map(|(key, api_version)| async move {
                let served = match self.resolve_served(api_version, &key.kind).await {
                    Ok(resolved) => resolved.resource.api_version,
                    Err(Error::UnknownKind { .. }) => return Ok(None),
                    Err(e) => return Err(e),
                };
                match self.get(key, &served).await {
                    Ok(found) => Ok(found.map(|object| (key.clone(), object))),
                    Err(Error::UnknownKind { .. }) => Ok(None),
                    Err(e) => Err(e),
                }
            })
            .buffer_unordered(self.options.concurrency.max(1))
            .try_filter_map(|found| async move { Ok(found) })
            .try_collect()
            .await?;
        live.extend(fetched);
        Ok(live)
    }

    /// The objects of `missing` (not returned by the labelled lists) that
    /// may exist, to be read one GET each. Where [`LIST_INSTEAD_OF_GETS`]
    /// or more of one kind are missing in one namespace (a first sync, a
    /// new namespace), the kind is listed there first, metadata only, and
    /// only the objects that list finds are kept: one LIST instead of a
    /// GET per object. When that list fails (forbidden, say), every object
    /// is kept: the GETs read them, or fail, as without the list.
    async fn existing<'w>(
        &self,
        missing: Vec<&'w (ObjectKey, String)>,
    ) -> Vec<&'w (ObjectKey, String)> {
        let mut groups: ByKindAndNamespace<'w> = BTreeMap::new();
        for wanted in missing {
            let (key, api_version) = wanted;
            groups
                .entry((api_version, &key.kind, key.namespace.as_deref()))
                .or_default()
                .push(wanted);
        }
        let (few, many): (Vec<_>, Vec<_>) = groups
            .into_iter()
            .partition(|(_, members)| members.len() < LIST_INSTEAD_OF_GETS);
        let listed: Vec<Vec<&(ObjectKey, String)>> = stream::iter(many)
            .map(|((api_version, kind, namespace), members)| async move {
                let resolved = match self.resolve_served(api_version, kind).await {
                    Ok(resolved) => resolved,
                    Err(Error::UnknownKind { .. }) => return Vec::new(),
                    Err(_) => return members,
                };
                let namespace = namespace.filter(|_| resolved.namespaced);
                match self.list_metadata(&resolved.resource, namespace).await {
                    Ok(found) => {
                        let names: BTreeSet<String> =
                            found.into_iter().map(|content| content.key.name).collect();
                        members
                            .into_iter()
                            .filter(|(key, _)| names.contains(&key.name))
                            .collect()
                    }
                    Err(error) => {
                        let why = "listing instead of reading each object";
                        tracing::debug!(%kind, ?namespace, %error, "{why}");
                        members
                    }
                }
            })
            .buffer_unordered(LISTS_AT_ONCE)
            .collect()
            .await;
        few.into_iter()
            .flat_map(|(_, members)| members)
            .chain(listed.into_iter().flatten())
            .collect()
    }

    /// Resolve a kind for reading: in `api_version`, or in another served
    /// version of its group (see [`Resolver::resolve_served`]).
    pub async fn resolve_served(&self, api_version: &str, kind: &str) -> Result<Resolved> {
        self.resolver
            .resolve_served(&self.client, api_version, kind)
            .await
    }

    /// Every object of every listable kind that carries `sync`'s label: the
    /// fallback when the inventory is lost or partly written. One LIST per
    /// kind, skipping kinds the client may not list; an object served by
    /// two groups appears under both keys.
    pub async fn labelled(&self, sync: &str) -> Result<Live> {
        let selector = format!("{}={sync}", super::SYNC_LABEL);
        let kinds = super::discovery::listable(&self.client).await?;
        let listed: Vec<Live> = stream::iter(&kinds)
            .map(|resolved| {
                let selector = &selector;
                async move {
                    let none = BTreeSet::new();
                    match self
                        .list_labelled(resolved, selector, &none, &|_, object| object)
                        .await
                    {
                        Ok(listed) => Ok(listed),
                        // The sync's identity may not list this kind: it
                        // cannot have applied anything it cannot see either.
                        Err(Error::Rejected { code: 403, .. }) => Ok(Live::new()),
                        Err(error) => Err(error),
                    }
                }
            })
            .buffer_unordered(LISTS_AT_ONCE)
            .try_collect()
            .await?;
        let mut live = Live::new();
        for kind in listed {
            live.extend(kind);
        }
        Ok(live)
    }

    /// What deleting an object takes with it ([`Cascade`]), as listed now:
    /// everything in a Namespace (one metadata-only LIST per namespaced
    /// kind), or every custom resource of a kind. Kinds the client may not
    /// list are named in [`Contents::unlisted`]; a kind no longer served
    /// has nothing left to delete.
    pub async fn contents(&self, cascade: &Cascade) -> Result<Contents> {
        let kinds: Vec<(Resolved, Option<&str>)> = match cascade {
            Cascade::Namespace(namespace) => super::discovery::listable(&self.client)
                .await?
                .into_iter()
                .filter(|resolved| resolved.namespaced)
                .map(|resolved| (resolved, Some(namespace.as_str())))
                .collect(),
            Cascade::CustomResources { api_version, kind } => {
                match self.resolve_served(api_version, kind).await {
                    Ok(resolved) => vec![(resolved, None)],
                    Err(Error::UnknownKind { .. }) => Vec::new(),
                    Err(error) => return Err(error),
                }
            }
        };
        let listed: Vec<(String, Option<Vec<Content>>)> = stream::iter(&kinds)
            .map(|(resolved, namespace)| async move {
                let kind = resolved.resource.kind.clone();
                match self.list_metadata(&resolved.resource, *namespace).await {
                    Ok(found) => Ok((kind, Some(found))),
                    Err(kube::Error::Api(status)) if status.code == 403 => Ok((kind, None)),
                    Err(error) => {
                        let listing = ObjectKey {
                            group: resolved.resource.group.clone(),
                            kind,
                            namespace: namespace.map(str::to_owned),
                            name: "*".into(),
                        };
                        Err(Error::from_kube(&listing, error))
                    }
                }
            })
            .buffer_unordered(LISTS_AT_ONCE)
            .try_collect()
            .await?;
        let mut contents = Contents::default();
        for (kind, found) in listed {
            match found {
                Some(found) => contents.objects.extend(found),
                None => contents.unlisted.push(kind),
            }
        }
        contents.objects.sort_by(|a, b| a.key.cmp(&b.key));
        contents.unlisted.sort();
        Ok(contents)
    }

    /// The metadata of every object of one kind (in `namespace`, or
    /// everywhere), [`LIST_PAGE`] at a time.
    async fn list_metadata(
        &self,
        resource: &ApiResource,
        namespace: Option<&str>,
    ) -> std::result::Result<Vec<Content>, kube::Error> {
        let api: Api<DynamicObject> = match namespace {
            Some(namespace) => Api::namespaced_with(self.client.clone(), namespace, resource),
            None => Api::all_with(self.client.clone(), resource),
        };
        let mut params = ListParams::default().limit(LIST_PAGE);
        let mut found = Vec::new();
        loop {
            let page = api.list_metadata(&params).await?;
            for item in page.items {
                let metadata = item.metadata;
                found.push(Content {
                    key: ObjectKey {
                        group: resource.group.clone(),
                        kind: resource.kind.clone(),
                        namespace: metadata.namespace,
                        name: metadata.name.unwrap_or_default(),
                    },
                    sync_label: metadata
                        .labels
                        .and_then(|mut labels| labels.remove(super::SYNC_LABEL)),
                    uid: metadata.uid,
                    owners: metadata
                        .owner_references
                        .unwrap_or_default()
                        .into_iter()
                        .map(|owner| owner.uid)
                        .collect(),
                });
            }
            match page.metadata.continue_ {
                Some(token) if !token.is_empty() => params.continue_token = Some(token),
                _ => return Ok(found),
            }
        }
    }

    /// The objects of one kind with `selector`, by key: one list across the
    /// cluster, or, if that is forbidden for a namespaced kind, one list in
    /// each of `namespaces`.
    async fn list_labelled(
        &self,
        resolved: &Resolved,
        selector: &str,
        namespaces: &BTreeSet<Option<&str>>,
        compact: &Compact<'_>,
    ) -> Result<Live> {
        let fail = |namespace: Option<&str>, error| {
            let listing = ObjectKey {
                group: resolved.resource.group.clone(),
                kind: resolved.resource.kind.clone(),
                namespace: namespace.map(str::to_owned),
                name: "*".into(),
            };
            Error::from_kube(&listing, error)
        };
        let mut live = Live::new();
        let resource = &resolved.resource;
        match self
            .list_pages(resource, None, selector, compact, &mut live)
            .await
        {
            Ok(()) => Ok(live),
            Err(kube::Error::Api(status)) if status.code == 403 && resolved.namespaced => {
                for namespace in namespaces.iter().flatten() {
                    self.list_pages(resource, Some(namespace), selector, compact, &mut live)
                        .await
                        .map_err(|e| fail(Some(namespace), e))?;
                }
                Ok(live)
            }
            Err(error) => Err(fail(None, error)),
        }
    }

    /// List one kind's objects with `selector` (in `namespace`, or
    /// everywhere) into `live`, [`LIST_PAGE`] at a time, each parsed once,
    /// straight into JSON, and passed through `compact`.
    async fn list_pages(
        &self,
        resource: &ApiResource,
        namespace: Option<&str>,
        selector: &str,
        compact: &Compact<'_>,
        live: &mut Live,
    ) -> std::result::Result<(), kube::Error> {
        let url = <DynamicObject as kube::Resource>::url_path(resource, namespace);
        let mut params = ListParams::default().labels(selector).limit(LIST_PAGE);
        loop {
            let request = kube::core::Request::new(&url)
                .list(&params)
                .map_err(kube::Error::BuildRequest)?;
            let page: ObjectList<Value> = self.client.request(request).await?;
            for item in page.items {
                let value = with_type(resource, item);
                if let Some(key) = ObjectKey::of(&value) {
                    let value = compact(&key, value);
                    live.insert(key, value);
                }
            }
            match page.metadata.continue_ {
                Some(token) if !token.is_empty() => params.continue_token = Some(token),
                _ => return Ok(()),
            }
        }
    }
}

/// What [`Cluster::live_compacting`] does to each listed object.
pub type Compact<'a> = dyn Fn(&ObjectKey, Value) -> Value + Sync + 'a;

/// Objects to read (identity and `apiVersion`) by `apiVersion`, kind and
/// namespace.
type ByKindAndNamespace<'w> =
    BTreeMap<(&'w str, &'w str, Option<&'w str>), Vec<&'w (ObjectKey, String)>>;

/// Objects per page of a list: the API server answers each page from one
/// consistent snapshot, and no response body holds the whole kind.
const LIST_PAGE: u32 = 500;

/// How many objects of one kind must be missing from the labelled lists in
/// one namespace for [`Cluster::live_compacting`] to list the kind there
/// (metadata only) instead of sending a GET for each: as many GETs as are
/// in flight at once by default, one round trip.
const LIST_INSTEAD_OF_GETS: usize = 16;

/// How many kinds [`Cluster::live_compacting`] lists at once.
const LISTS_AT_ONCE: usize = 4;

/// A listed or watched object of `resource` as JSON, with the `apiVersion`
/// and `kind` API servers leave out of list items.
pub fn live_value(resource: &ApiResource, object: DynamicObject) -> Value {
    with_type(
        resource,
        serde_json::to_value(object).unwrap_or(Value::Null),
    )
}

/// `object` with `resource`'s `apiVersion` and `kind` where it has none.
fn with_type(resource: &ApiResource, mut object: Value) -> Value {
    if let Some(fields) = object.as_object_mut() {
        fields
            .entry("apiVersion")
            .or_insert_with(|| Value::String(resource.api_version.clone()));
        fields
            .entry("kind")
            .or_insert_with(|| Value::String(resource.kind.clone()));
    }
    object
}

/// The key used for an object that has none (it is rejected anyway).
fn unnamed() -> ObjectKey {
    ObjectKey {
        group: String::new(),
        kind: String::new(),
        namespace: None,
        name: "<unnamed>".into(),
    }
}
