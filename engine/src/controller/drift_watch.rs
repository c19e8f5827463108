//! Watches on the objects SyncUnits manage, so drift is noticed in seconds
//! instead of at the next interval.
//!
//! In: the kinds each sync's inventory holds ([`DriftWatch::ensure`]). Out:
//! the SyncUnit owning a changed or deleted object, sent on the trigger
//! channel the runner feeds into the controller. IO: one watch per kind
//! across all namespaces, selecting objects by the `plumbline.dev/sync`
//! label (so only managed objects are streamed); the watcher lists on
//! start and after `410 Gone`, and resumes from bookmarks otherwise.
//!
//! Events of the initial list are not triggers (every SyncUnit is
//! reconciled at start anyway), nor are status-only changes. Plumbline's own applies also come back as
//! events; the reconcile they trigger finds nothing to do and writes
//! nothing, and kube-runtime merges triggers for a SyncUnit that arrive
//! while it is queued.

use std::collections::hash_map::DefaultHasher;
use std::collections::{BTreeSet, HashMap};
use std::hash::{Hash, Hasher};
use std::sync::{Arc, Mutex, PoisonError};

use futures_util::StreamExt;
use kube::api::{Api, DynamicObject};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{watcher, WatchStreamExt};
use kube::ResourceExt;
use tokio::sync::{mpsc, watch};

use super::crd::SyncUnit;
use super::sync_unit::parse_sync_name;
use crate::apply::{Cluster, SYNC_LABEL};

/// The set of running watches, shared by every reconcile.
#[derive(Clone)]
pub struct DriftWatch {
    inner: Arc<Inner>,
}

struct Inner {
    client: kube::Client,
    triggers: mpsc::UnboundedSender<ObjectRef<SyncUnit>>,
    shutdown: watch::Receiver<bool>,
    /// `(apiVersion, kind)` of every kind watched.
    watched: Mutex<BTreeSet<(String, String)>>,
}

impl DriftWatch {
    /// No watches yet; they stop when `shutdown` turns true.
    pub fn new(
        client: kube::Client,
        triggers: mpsc::UnboundedSender<ObjectRef<SyncUnit>>,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        DriftWatch {
            inner: Arc::new(Inner {
                client,
                triggers,
                shutdown,
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
                self.inner.triggers.clone(),
                self.inner.shutdown.clone(),
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

/// Stream one kind's managed objects until shutdown, sending the owning
/// SyncUnit of every changed or deleted object.
///
/// Status-only changes are not drift (Plumbline does not own status), and
/// other controllers write status all the time: objects with a
/// `metadata.generation` trigger only when it, their labels or their
/// annotations change; objects without one (ConfigMaps, Secrets, ...) on
/// every change. One hash per watched object is kept for this.
async fn watch_kind(
    api: Api<DynamicObject>,
    triggers: mpsc::UnboundedSender<ObjectRef<SyncUnit>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let config = watcher::Config::default().labels(SYNC_LABEL);
    let mut events = watcher(api, config).default_backoff().boxed();
    let mut seen: HashMap<(Option<String>, String), u64> = HashMap::new();
    loop {
        let event = tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => return,
            event = events.next() => event,
        };
        let object = match event {
            None => return,
            Some(Ok(watcher::Event::InitApply(object))) => {
                seen.insert(identity(&object), fingerprint(&object));
                continue;
            }
            Some(Ok(watcher::Event::Apply(object))) => {
                let print = fingerprint(&object);
                if seen.insert(identity(&object), print) == Some(print) {
                    continue;
                }
                object
            }
            Some(Ok(watcher::Event::Delete(object))) => {
                seen.remove(&identity(&object));
                object
            }
            Some(Ok(_)) => continue,
            Some(Err(error)) => {
                tracing::debug!(%error, "drift watch interrupted; resuming");
                continue;
            }
        };
        let Some(owner) = object.labels().get(SYNC_LABEL).and_then(|l| owner_of(l)) else {
            continue;
        };
        if triggers.send(owner).is_err() {
            return;
        }
    }
}

fn identity(object: &DynamicObject) -> (Option<String>, String) {
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

    #[test]
    fn labels_name_the_owning_sync_unit() {
        let owner = owner_of("team-a.shop").unwrap();
        assert_eq!(owner.name, "shop");
        assert_eq!(owner.namespace.as_deref(), Some("team-a"));
        assert!(owner_of("no-dot").is_none());
    }
}
