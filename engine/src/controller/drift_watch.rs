//! Watches on the objects SyncUnits manage, so drift is noticed in
//! milliseconds instead of at the next interval.
//!
//! In: the kinds each sync's inventory holds ([`DriftWatch::ensure`]). Out:
//! every changed or deleted managed object, with the SyncUnit owning it, as
//! a [`Noticed`] sent to [`super::repair`], which repairs that one object
//! (or asks for a full reconcile when it cannot). IO: one watch per kind
//! across all namespaces, selecting objects by the `plumbline.dev/sync`
//! label (so only managed objects are streamed); the watcher lists on
//! start and after `410 Gone`, and resumes from bookmarks otherwise.
//!
//! A watch starts after the first reconcile that applied its kind, so a
//! change made between that apply and the watch's first list would
//! otherwise wait for the interval: every object of the first list is
//! therefore noticed (the repair skips those with the `resourceVersion` the
//! reconcile last saw). Status-only changes are not noticed. A later
//! re-list (after `410 Gone` or an API server restart) is compared with
//! what was known before it, so what changed or was deleted while the watch
//! was down is noticed too. Plumbline's own applies also come back as
//! events; their repair finds the `resourceVersion` it wrote and does
//! nothing.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeSet, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, PoisonError};

use futures_util::StreamExt;
use kube::api::{Api, ApiResource, DynamicObject};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{watcher, WatchStreamExt};
use kube::ResourceExt;
use tokio::sync::{mpsc, watch};

use super::crd::SyncUnit;
use super::repair::Noticed;
use super::sync_unit::parse_sync_name;
use crate::apply::{self, Cluster, SYNC_LABEL};
use crate::object::ObjectKey;

/// The set of running watches, shared by every reconcile.
#[derive(Clone)]
pub struct DriftWatch {
    inner: Arc<Inner>,
}

struct Inner {
    client: kube::Client,
    noticed: mpsc::UnboundedSender<Noticed>,
    shutdown: watch::Receiver<bool>,
    /// The registered cluster watched; `None` for the controller's own.
    cluster: Option<String>,
    /// `(apiVersion, kind)` of every kind watched.
    watched: Mutex<BTreeSet<(String, String)>>,
}

impl DriftWatch {
    /// No watches yet; they stop when `shutdown` turns true.
    pub fn new(
        client: kube::Client,
        noticed: mpsc::UnboundedSender<Noticed>,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        DriftWatch {
            inner: Arc::new(Inner {
                client,
                noticed,
                shutdown,
                cluster: None,
                watched: Mutex::new(BTreeSet::new()),
            }),
        }
    }

    /// No watches yet, of the registered cluster `name` (see
    /// [`super::clusters`]): notices name it, so a repair applies only
    /// through a sync's own cluster.
    pub fn of_cluster(
        client: kube::Client,
        noticed: mpsc::UnboundedSender<Noticed>,
        shutdown: watch::Receiver<bool>,
        name: &str,
    ) -> Self {
        DriftWatch {
            inner: Arc::new(Inner {
                client,
                noticed,
                shutdown,
                cluster: Some(name.to_owned()),
                watched: Mutex::new(BTreeSet::new()),
            }),
        }
    }

    /// Start watching the kinds not watched yet. Kinds the API server does
    /// not serve are skipped (and tried again next time).
    pub async fn ensure(&self, cluster: &Cluster, kinds: impl Iterator<Item = (String, String)>) {
        let new: Vec<(String, String)> = {
            let watched = self.watched();
            kinds
                .collect::<BTreeSet<_>>()
                .into_iter()
                .filter(|kind| !watched.contains(kind))
                .collect()
        };
        for (api_version, kind) in new {
            let resolved = match cluster.resolve(&api_version, &kind).await {
                Ok(resolved) => resolved,
                Err(error) => {
                    tracing::debug!(%api_version, %kind, %error, "not watching for drift yet");
                    continue;
                }
            };
            if !self.watched().insert((api_version.clone(), kind.clone())) {
                continue;
            }
            tracing::info!(%api_version, %kind, "watching managed objects for drift");
            let api: Api<DynamicObject> =
                Api::all_with(self.inner.client.clone(), &resolved.resource);
            tokio::spawn(watch_kind(
                api,
                resolved.resource,
                self.inner.noticed.clone(),
                self.inner.shutdown.clone(),
                self.inner.cluster.clone(),
            ));
        }
    }

    /// How many kinds are watched.
    pub fn watched_kinds(&self) -> usize {
        self.watched().len()
    }

    fn watched(&self) -> std::sync::MutexGuard<'_, BTreeSet<(String, String)>> {
        self.inner
            .watched
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Stream one kind's managed objects until shutdown, sending every changed
/// or deleted one with its owning SyncUnit (see [`Memory`]).
async fn watch_kind(
    api: Api<DynamicObject>,
    resource: ApiResource,
    noticed: mpsc::UnboundedSender<Noticed>,
    mut shutdown: watch::Receiver<bool>,
    cluster: Option<String>,
) {
    let config = watcher::Config::default().labels(SYNC_LABEL);
    let mut events = watcher(api, config).default_backoff().boxed();
    let mut memory = Memory::default();
    loop {
        let event = tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => return,
            event = events.next() => event,
        };
        let changes = match event {
            None => return,
            Some(Ok(event)) => memory.on(event),
            Some(Err(error)) => {
                tracing::debug!(%error, "drift watch interrupted; resuming");
                continue;
            }
        };
        for change in changes {
            if noticed
                .send(change.into_noticed(&resource, cluster.clone()))
                .is_err()
            {
                return;
            }
        }
    }
}

/// A managed object that changed or went away, as [`Memory`] reports it.
#[derive(Debug)]
struct Change {
    /// The SyncUnit its label names.
    owner: ObjectRef<SyncUnit>,
    /// Its namespace and name.
    identity: Key,
    /// The object as it is now; `None` when it was deleted.
    object: Option<DynamicObject>,
}

impl Change {
    fn of(owner: ObjectRef<SyncUnit>, identity: Key, object: Option<DynamicObject>) -> Self {
        Change {
            owner,
            identity,
            object,
        }
    }

    /// The change as the repair takes it: the object's key and its JSON,
    /// with the `apiVersion` and `kind` that list items lack.
    fn into_noticed(self, resource: &ApiResource, cluster: Option<String>) -> Noticed {
        let (namespace, name) = self.identity;
        Noticed {
            owner: self.owner,
            cluster,
            key: ObjectKey {
                group: resource.group.clone(),
                kind: resource.kind.clone(),
                namespace,
                name,
            },
            live: self
                .object
                .map(|object| apply::live_value(resource, object)),
        }
    }
}

/// A watched object: namespace and name.
type Key = (Option<String>, String);

/// What the watch of one kind knows of a managed object.
#[derive(Debug, Clone)]
struct Known {
    /// Its [`fingerprint`].
    print: u64,
    /// The SyncUnit its label names.
    owner: Option<ObjectRef<SyncUnit>>,
}

impl Known {
    fn of(object: &DynamicObject) -> Self {
        Known {
            print: fingerprint(object),
            owner: owner_label(object),
        }
    }
}

/// The objects one watch has seen, turning watcher events into
/// [`Change`]s.
///
/// Status-only changes are not drift (Plumbline does not own status), and
/// other controllers write status all the time: objects with a
/// `metadata.generation` change only when it, their labels or their
/// annotations change; objects without one (ConfigMaps, Secrets, ...) on
/// every change. One hash per watched object is kept for this.
///
/// Every object of the first list is a change: the watch started after
/// their reconcile applied them, and anything changed in between shows only
/// then. A re-list (the watcher starts over after `410 Gone`) is compared
/// with the memory from before it: an object listed with another
/// fingerprint (or new) is a change, and at the end of the list an object
/// that did not come back was deleted meanwhile.
#[derive(Debug, Default)]
struct Memory {
    seen: HashMap<Key, Known>,
    /// During a re-list: what was known before it started.
    before: Option<HashMap<Key, Known>>,
    /// Whether a list has completed.
    listed: bool,
}

impl Memory {
    /// The changes one watcher event makes known.
    fn on(&mut self, event: watcher::Event<DynamicObject>) -> Vec<Change> {
        match event {
            watcher::Event::Init => {
                // A list interrupted and started over keeps comparing with
                // the memory from before the first attempt.
                if self.listed && self.before.is_none() {
                    self.before = Some(std::mem::take(&mut self.seen));
                }
                self.seen.clear();
                Vec::new()
            }
            watcher::Event::InitApply(object) => {
                let known = Known::of(&object);
                let identity = identity(&object);
                let changed = match &self.before {
                    Some(before) => before.get(&identity).map(|k| k.print) != Some(known.print),
                    None => !self.listed,
                };
                let owner = known.owner.clone().filter(|_| changed);
                self.seen.insert(identity.clone(), known);
                owner
                    .map(|owner| Change::of(owner, identity, Some(object)))
                    .into_iter()
                    .collect()
            }
            watcher::Event::InitDone => {
                self.listed = true;
                let Some(before) = self.before.take() else {
                    return Vec::new();
                };
                before
                    .into_iter()
                    .filter(|(key, _)| !self.seen.contains_key(key))
                    .filter_map(|(key, known)| Some(Change::of(known.owner?, key, None)))
                    .collect()
            }
            watcher::Event::Apply(object) => {
                let known = Known::of(&object);
                let print = known.print;
                let owner = known.owner.clone();
                let identity = identity(&object);
                if self.seen.insert(identity.clone(), known).map(|k| k.print) == Some(print) {
                    return Vec::new();
                }
                owner
                    .map(|owner| Change::of(owner, identity, Some(object)))
                    .into_iter()
                    .collect()
            }
            watcher::Event::Delete(object) => {
                let identity = identity(&object);
                self.seen.remove(&identity);
                owner_label(&object)
                    .map(|owner| Change::of(owner, identity, None))
                    .into_iter()
                    .collect()
            }
        }
    }
}

fn identity(object: &DynamicObject) -> Key {
    (object.namespace(), object.name_any())
}

/// What a change must alter to be a trigger: generation, labels and
/// annotations where there is a generation, else the resourceVersion.
fn fingerprint(object: &DynamicObject) -> u64 {
    let meta = &object.metadata;
    let mut hasher = DefaultHasher::new();
    match meta.generation {
        Some(generation) => {
            generation.hash(&mut hasher);
            meta.labels.hash(&mut hasher);
            meta.annotations.hash(&mut hasher);
        }
        None => meta.resource_version.hash(&mut hasher),
    }
    hasher.finish()
}

/// The SyncUnit an object's `plumbline.dev/sync` label names.
fn owner_label(object: &DynamicObject) -> Option<ObjectRef<SyncUnit>> {
    object.labels().get(SYNC_LABEL).and_then(|l| owner_of(l))
}

/// The SyncUnit a `plumbline.dev/sync` label value names.
fn owner_of(label: &str) -> Option<ObjectRef<SyncUnit>> {
    let (namespace, name) = parse_sync_name(label)?;
    Some(ObjectRef::new(name).within(namespace))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: serde_json::Value) -> DynamicObject {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn status_only_changes_are_not_triggers() {
        let deployment = |generation: i64, label: &str, ready: i64, version: &str| {
            object(json!({
                "apiVersion": "apps/v1", "kind": "Deployment",
                "metadata": {"name": "web", "namespace": "shop", "generation": generation,
                             "resourceVersion": version, "labels": {"tier": label}},
                "status": {"readyReplicas": ready},
            }))
        };
        let base = fingerprint(&deployment(1, "web", 0, "10"));
        assert_eq!(base, fingerprint(&deployment(1, "web", 2, "11")));
        assert_ne!(base, fingerprint(&deployment(2, "web", 0, "12")));
        assert_ne!(base, fingerprint(&deployment(1, "db", 0, "13")));
        let config_map = |version: &str| {
            object(json!({"apiVersion": "v1", "kind": "ConfigMap",
                          "metadata": {"name": "c", "resourceVersion": version}}))
        };
        assert_ne!(fingerprint(&config_map("1")), fingerprint(&config_map("2")));
    }

    fn config_map(name: &str, owner: &str, version: &str) -> DynamicObject {
        object(json!({"apiVersion": "v1", "kind": "ConfigMap",
                      "metadata": {"name": name, "namespace": "shop", "resourceVersion": version,
                                   "labels": {SYNC_LABEL: owner}}}))
    }

    /// Owner and object name of each change, `-` marking a deletion.
    fn names(changes: Vec<Change>) -> Vec<String> {
        changes
            .into_iter()
            .map(|c| {
                let gone = if c.object.is_none() { "-" } else { "" };
                format!("{}:{gone}{}", c.owner.name, c.identity.1)
            })
            .collect()
    }

    #[test]
    fn a_relist_notices_what_changed_or_went_away_while_the_watch_was_down() {
        use watcher::Event::{Apply, Init, InitApply, InitDone};
        let mut memory = Memory::default();
        // Every object of the first list is noticed (changes since their
        // apply show only now).
        assert!(memory.on(Init).is_empty());
        let mut first = Vec::new();
        for (name, owner) in [("same", "t.a"), ("edited", "t.b"), ("deleted", "t.c")] {
            first.extend(names(memory.on(InitApply(config_map(name, owner, "1")))));
        }
        assert_eq!(first, ["a:same", "b:edited", "c:deleted"]);
        assert!(memory.on(InitDone).is_empty());
        assert_eq!(
            names(memory.on(Apply(config_map("same", "t.a", "2")))),
            ["a:same"]
        );

        // 410 Gone: the watcher lists again.
        assert!(memory.on(Init).is_empty());
        assert!(memory
            .on(InitApply(config_map("same", "t.a", "2")))
            .is_empty());
        assert_eq!(
            names(memory.on(InitApply(config_map("edited", "t.b", "3")))),
            ["b:edited"]
        );
        // Interrupted and started over: still compared with the old memory.
        assert!(memory.on(Init).is_empty());
        assert!(memory
            .on(InitApply(config_map("same", "t.a", "2")))
            .is_empty());
        assert_eq!(
            names(memory.on(InitApply(config_map("edited", "t.b", "3")))),
            ["b:edited"]
        );
        assert_eq!(
            names(memory.on(InitApply(config_map("new", "t.d", "4")))),
            ["d:new"]
        );
        assert_eq!(names(memory.on(InitDone)), ["c:-deleted"]);
        // The deleted object is forgotten.
        assert!(!memory
            .seen
            .contains_key(&(Some("shop".into()), "deleted".into())));
        assert_eq!(memory.seen.len(), 3);
        assert!(memory
            .on(Apply(config_map("edited", "t.b", "3")))
            .is_empty());
    }

    #[test]
    fn a_deletion_is_noticed_without_an_object() {
        use watcher::Event::{Delete, Init, InitApply, InitDone};
        let mut memory = Memory::default();
        memory.on(Init);
        memory.on(InitApply(config_map("one", "t.a", "1")));
        memory.on(InitDone);
        assert_eq!(
            names(memory.on(Delete(config_map("one", "t.a", "2")))),
            ["a:-one"]
        );
        assert!(memory.seen.is_empty());
    }

    #[test]
    fn labels_name_the_owning_sync_unit() {
        let owner = owner_of("team-a.shop").unwrap();
        assert_eq!(owner.name, "shop");
        assert_eq!(owner.namespace.as_deref(), Some("team-a"));
        assert!(owner_of("no-dot").is_none());
    }
}
