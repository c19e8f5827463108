//! The object store: every object as JSON keyed by resource, namespace and name, a global
//! resourceVersion counter, the retained window of watch events and a broadcast of new ones.
//! It implements the write semantics (create, update, patch, apply, delete), defaulting,
//! validation, generation, finalizers, garbage collection and namespace/CRD lifecycles, all
//! synchronously under the caller's lock. No IO.

use std::collections::hash_map::RandomState;
use std::collections::{BTreeMap, HashMap, VecDeque};
use std::hash::BuildHasher;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Map, Value};
use tokio::sync::broadcast;

use crate::discovery::{Registry, ResourceType};
use crate::normalize::{self, Allocator};
use crate::patch;
use crate::selectors::Selector;
use crate::ssa::{self, Scope};
use crate::status::{ApiError, Result, Subject};
use crate::validate;

/// `(storage key, namespace, name)`.
type Key = (String, String, String);

/// The type of a watch event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventType {
    /// Object created.
    Added,
    /// Object changed.
    Modified,
    /// Object removed.
    Deleted,
}

impl EventType {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::Added => "ADDED",
            EventType::Modified => "MODIFIED",
            EventType::Deleted => "DELETED",
        }
    }
}

/// One change, as retained for watches.
#[derive(Debug)]
pub struct Event {
    /// The resourceVersion of the change.
    pub rv: u64,
    /// Storage key of the resource (`group/plural`).
    pub resource: String,
    /// Namespace ("" for cluster-scoped).
    pub namespace: String,
    /// Added, modified or deleted.
    pub kind: EventType,
    /// The object after the change (before removal for deletions, with the new rv).
    pub object: Arc<Value>,
    /// For MODIFIED: the object before the change (watches with selectors turn a change into
    /// ADDED or DELETED when the object starts or stops matching).
    pub previous: Option<Arc<Value>>,
}

/// Options common to writes.
#[derive(Debug, Clone, Default)]
pub struct WriteOpts {
    /// Field manager recorded in managedFields.
    pub manager: String,
    /// `dryRun=All`: compute the result but store nothing.
    pub dry_run: bool,
    /// `force=true` for apply.
    pub force: bool,
}

/// The kind of patch, from the request's Content-Type.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum PatchType {
    /// `application/apply-patch+yaml`.
    Apply,
    /// `application/merge-patch+json`.
    Merge,
    /// `application/strategic-merge-patch+json`.
    Strategic,
    /// `application/json-patch+json`.
    Json,
}

/// What a watch starts with.
pub enum WatchStart {
    /// Events to send first, then the live receiver.
    Events(Vec<Arc<Event>>, broadcast::Receiver<Arc<Event>>, u64),
    /// The requested resourceVersion is no longer retained.
    Gone(ApiError),
}

/// How an object is deleted.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Propagation {
    /// Dependents are removed after the owner.
    Background,
    /// Dependents are removed first; the owner waits with the `foregroundDeletion` finalizer.
    Foreground,
    /// Dependents are kept and their ownerReferences removed.
    Orphan,
}

/// Delete options from the request body and query.
#[derive(Debug, Clone)]
pub struct DeleteOpts {
    /// Propagation policy.
    pub propagation: Propagation,
    /// Precondition on uid.
    pub uid: Option<String>,
    /// Precondition on resourceVersion.
    pub resource_version: Option<String>,
    /// `dryRun=All`.
    pub dry_run: bool,
}

struct Alloc<'a> {
    ip: &'a mut u32,
    port: &'a mut i64,
}

impl Allocator for Alloc<'_> {
    fn cluster_ip(&mut self) -> String {
        *self.ip += 1;
        let n = *self.ip;
        format!("10.96.{}.{}", (n >> 8) & 0xff, n & 0xff)
    }
    fn node_port(&mut self) -> i64 {
        *self.port += 1;
        *self.port
    }
}

/// The current time, RFC 3339 with second precision like the real server.
pub fn now() -> String {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0) as i64;
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    // Civil-from-days (Howard Hinnant).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn meta_str<'a>(obj: &'a Value, field: &str) -> Option<&'a str> {
    obj.get("metadata")
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
}

fn meta_mut(obj: &mut Value) -> &mut Map<String, Value> {
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = json!({});
    }
    obj["metadata"]
        .as_object_mut()
        .unwrap_or_else(|| unreachable!("metadata is an object"))
}

fn finalizers(obj: &Value) -> Vec<String> {
    obj.pointer("/metadata/finalizers")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn set_finalizers(obj: &mut Value, f: &[String]) {
    let meta = meta_mut(obj);
    if f.is_empty() {
        meta.remove("finalizers");
    } else {
        meta.insert("finalizers".into(), json!(f));
    }
}

fn owner_uids(obj: &Value) -> Vec<String> {
    obj.pointer("/metadata/ownerReferences")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|r| r.get("uid").and_then(Value::as_str))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Whether anything but metadata and status differs: what bumps `metadata.generation`.
fn spec_differs(a: &Value, b: &Value) -> bool {
    let (Some(a), Some(b)) = (a.as_object(), b.as_object()) else {
        return a != b;
    };
    let relevant = |k: &String| k != "metadata" && k != "status";
    a.iter()
        .filter(|(k, _)| relevant(k))
        .any(|(k, v)| b.get(k) != Some(v))
        || b.keys().filter(|k| relevant(k)).any(|k| !a.contains_key(k))
}

fn subject<'a>(t: &'a ResourceType, name: &'a str) -> Subject<'a> {
    Subject {
        group: &t.group,
        plural: &t.plural,
        name,
    }
}

/// The object store. See the module docs.
pub struct Store {
    /// Served resource types (built-in and CRD-defined).
    pub registry: Registry,
    objects: BTreeMap<Key, Arc<Value>>,
    uids: HashMap<String, Key>,
    rv: u64,
    log: VecDeque<Arc<Event>>,
    window: usize,
    compacted: u64,
    events: broadcast::Sender<Arc<Event>>,
    ip: u32,
    port: i64,
    random: RandomState,
    counter: u64,
    gc_pending: bool,
}

impl Store {
    /// A store with the namespaces a fresh cluster has, retaining `window` watch events.
    pub fn new(window: usize) -> Self {
        let (events, _) = broadcast::channel(65_536);
        let mut s = Self {
            registry: Registry::default(),
            objects: BTreeMap::new(),
            uids: HashMap::new(),
            rv: 0,
            log: VecDeque::new(),
            window: window.max(1),
            compacted: 0,
            events,
            ip: 0,
            port: 30_000,
            random: RandomState::new(),
            counter: 0,
            gc_pending: false,
        };
        let ns = s
            .registry
            .get("", "v1", "namespaces")
            .unwrap_or_else(|| unreachable!("built-in"));
        for name in ["default", "kube-system", "kube-public", "kube-node-lease"] {
            let body = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}});
            // Creating the built-in namespaces cannot fail on an empty store.
            let _ = s.create(
                &ns,
                None,
                body,
                &WriteOpts {
                    manager: "kube-apiserver".into(),
                    ..Default::default()
                },
            );
        }
        s
    }

    /// The current (latest) resourceVersion.
    pub fn resource_version(&self) -> u64 {
        self.rv
    }

    /// Expires every resourceVersion handed out so far: the counter moves on by one (no object
    /// changes), retained events are dropped, and watches or continue tokens from any earlier
    /// version get 410 Gone. A list made afterwards returns a version that can be watched.
    pub fn compact(&mut self) {
        self.rv += 1;
        self.log.clear();
        self.compacted = self.rv;
    }

    /// Number of stored objects.
    pub fn len(&self) -> usize {
        self.objects.len()
    }

    fn uid(&mut self) -> String {
        self.counter += 1;
        let a = self.random.hash_one(self.counter);
        let b = self.random.hash_one(a ^ 0x9e37_79b9_7f4a_7c15);
        format!(
            "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            (b >> 48) & 0xfff,
            b & 0xffff_ffff_ffff
        )
    }

    fn key(t: &ResourceType, ns: &str, name: &str) -> Key {
        (
            t.storage_key(),
            if t.namespaced {
                ns.to_string()
            } else {
                String::new()
            },
            name.to_string(),
        )
    }

    /// Presents a stored object as `t`'s version (only apiVersion differs between versions).
    fn present(t: &ResourceType, obj: &Arc<Value>) -> Arc<Value> {
        let av = t.api_version();
        if t.custom && obj.get("apiVersion").and_then(Value::as_str) != Some(av.as_str()) {
            let mut v = (**obj).clone();
            v["apiVersion"] = json!(av);
            return Arc::new(v);
        }
        obj.clone()
    }

    /// Whether an object exists.
    pub fn contains(&self, t: &ResourceType, ns: &str, name: &str) -> bool {
        self.objects.contains_key(&Self::key(t, ns, name))
    }

    fn namespace_ready(&self, t: &ResourceType, ns: &str) -> Result<()> {
        if !t.namespaced {
            return Ok(());
        }
        let key = (String::from("/namespaces"), String::new(), ns.to_string());
        match self.objects.get(&key) {
            None => Err(ApiError::not_found(Subject { group: "", plural: "namespaces", name: ns })),
            Some(n) if n.pointer("/metadata/deletionTimestamp").is_some() => Err(ApiError::forbidden(format!(
                "{} \"{}\" is forbidden: unable to create new content in namespace {ns} because it is being terminated",
                t.plural,
                meta_str(n, "name").unwrap_or("")
            ))),
            Some(_) => Ok(()),
        }
    }

    /// `GET` one object.
    pub fn get(&self, t: &ResourceType, ns: &str, name: &str) -> Result<Arc<Value>> {
        self.objects
            .get(&Self::key(t, ns, name))
            .map(|o| Self::present(t, o))
            .ok_or_else(|| ApiError::not_found(subject(t, name)))
    }

    /// `GET` a collection, filtered and paged. `ns` None lists across namespaces.
    pub fn list(
        &self,
        t: &ResourceType,
        ns: Option<&str>,
        sel: &Selector,
        limit: Option<usize>,
        cont: Option<&str>,
    ) -> Result<Value> {
        let (snapshot_rv, start) = match cont {
            Some(token) => {
                let (rv, start) = decode_continue(token)?;
                if rv < self.compacted {
                    return Err(ApiError {
                        code: 410,
                        reason: "Expired",
                        message: "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter.".into(),
                        details: None,
                    });
                }
                (rv, Some(start))
            }
            None => (self.rv, None),
        };
        let sk = t.storage_key();
        let lower = match (&start, ns) {
            (Some((sns, sname)), _) => (sk.clone(), sns.clone(), sname.clone()),
            (None, Some(n)) if t.namespaced => (sk.clone(), n.to_string(), String::new()),
            _ => (sk.clone(), String::new(), String::new()),
        };
        let mut items = Vec::new();
        let mut next = None;
        let mut remaining = 0usize;
        for ((k, ons, oname), obj) in self.objects.range(lower..) {
            if *k != sk {
                break;
            }
            if start
                .as_ref()
                .is_some_and(|(sns, sname)| (ons, oname) <= (sns, sname))
            {
                continue;
            }
            if let (Some(n), true) = (ns, t.namespaced) {
                if ons != n {
                    break;
                }
            }
            if !sel.matches(obj) {
                continue;
            }
            if limit.is_some_and(|l| items.len() >= l) {
                if next.is_none() {
                    let last: &Value = items.last().unwrap_or(&Value::Null);
                    next = Some(encode_continue(
                        snapshot_rv,
                        meta_str(last, "namespace").unwrap_or(""),
                        meta_str(last, "name").unwrap_or(""),
                    ));
                }
                remaining += 1;
                continue;
            }
            let mut item = Self::present(t, obj).as_ref().clone();
            if !t.custom {
                if let Some(m) = item.as_object_mut() {
                    m.remove("apiVersion");
                    m.remove("kind");
                }
            }
            items.push(item);
        }
        let mut metadata = json!({"resourceVersion": snapshot_rv.to_string()});
        if let Some(c) = next {
            metadata["continue"] = json!(c);
            metadata["remainingItemCount"] = json!(remaining);
        }
        Ok(
            json!({"kind": format!("{}List", t.kind), "apiVersion": t.api_version(), "metadata": metadata, "items": items}),
        )
    }

    /// Starts a watch: replays retained events after `rv` (or synthesises ADDED events for the
    /// current state when `rv` is None) and subscribes to new ones, atomically.
    pub fn watch(
        &self,
        t: &ResourceType,
        ns: Option<&str>,
        sel: &Selector,
        rv: Option<u64>,
    ) -> WatchStart {
        let sk = t.storage_key();
        let matches =
            |e: &Event| e.resource == sk && ns.is_none_or(|n| !t.namespaced || e.namespace == n);
        let initial = match rv {
            Some(n) if n < self.compacted => {
                return WatchStart::Gone(ApiError::gone(n, self.compacted))
            }
            Some(n) => self
                .log
                .iter()
                .filter(|e| e.rv > n && matches(e))
                .cloned()
                .collect(),
            None => self
                .objects
                .iter()
                .filter(|((k, ons, _), o)| {
                    *k == sk && ns.is_none_or(|n| !t.namespaced || ons == n) && sel.matches(o)
                })
                .map(|((_, ons, _), o)| {
                    Arc::new(Event {
                        rv: meta_str(o, "resourceVersion")
                            .and_then(|r| r.parse().ok())
                            .unwrap_or(0),
                        resource: sk.clone(),
                        namespace: ons.clone(),
                        kind: EventType::Added,
                        object: o.clone(),
                        previous: None,
                    })
                })
                .collect(),
        };
        WatchStart::Events(initial, self.events.subscribe(), self.rv)
    }

    fn emit(
        &mut self,
        t: &ResourceType,
        ns: &str,
        kind: EventType,
        object: Arc<Value>,
        previous: Option<Arc<Value>>,
    ) {
        let e = Arc::new(Event {
            rv: self.rv,
            resource: t.storage_key(),
            namespace: if t.namespaced {
                ns.to_string()
            } else {
                String::new()
            },
            kind,
            object,
            previous,
        });
        self.log.push_back(e.clone());
        while self.log.len() > self.window {
            if let Some(old) = self.log.pop_front() {
                self.compacted = old.rv;
            }
        }
        let _ = self.events.send(e);
    }

    /// `POST`: creates an object in `ns` (None for cluster-scoped).
    pub fn create(
        &mut self,
        t: &ResourceType,
        ns: Option<&str>,
        mut body: Value,
        opts: &WriteOpts,
    ) -> Result<Arc<Value>> {
        let ns = ns.unwrap_or("");
        check_type(t, &body)?;
        let meta = meta_mut(&mut body);
        for k in [
            "uid",
            "resourceVersion",
            "creationTimestamp",
            "deletionTimestamp",
            "deletionGracePeriodSeconds",
            "generation",
            "managedFields",
            "selfLink",
        ] {
            meta.remove(k);
        }
        if meta
            .get("name")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            if let Some(prefix) = meta
                .get("generateName")
                .and_then(Value::as_str)
                .map(str::to_string)
            {
                let suffix = self.uid().replace('-', "");
                meta_mut(&mut body)
                    .insert("name".into(), json!(format!("{prefix}{}", &suffix[..5])));
            }
        }
        self.insert_new(t, ns, body, opts, None)
    }

    /// Stores a new object: namespace checks, uid, timestamps, defaults, validation, managedFields.
    fn insert_new(
        &mut self,
        t: &ResourceType,
        ns: &str,
        mut body: Value,
        opts: &WriteOpts,
        applied: Option<()>,
    ) -> Result<Arc<Value>> {
        let name = meta_str(&body, "name").unwrap_or("").to_string();
        let body_ns = meta_str(&body, "namespace").unwrap_or("").to_string();
        if t.namespaced && !body_ns.is_empty() && body_ns != ns {
            return Err(ApiError::bad_request("the namespace of the provided object does not match the namespace sent on the request"));
        }
        if !name.is_empty() {
            self.namespace_ready(t, ns)?;
            if self.objects.contains_key(&Self::key(t, ns, &name)) {
                return Err(ApiError::already_exists(subject(t, &name)));
            }
        }
        if t.status {
            if let Some(m) = body.as_object_mut() {
                m.remove("status");
            }
        }
        body["apiVersion"] = json!(t.api_version());
        body["kind"] = json!(t.kind);
        let uid = self.uid();
        let meta = meta_mut(&mut body);
        if t.namespaced {
            meta.insert("namespace".into(), json!(ns));
        } else {
            meta.remove("namespace");
        }
        meta.insert("uid".into(), json!(uid));
        meta.insert("creationTimestamp".into(), json!(now()));
        if t.generation || t.custom {
            meta.insert("generation".into(), json!(1));
        }
        self.default_and_validate(t, &mut body, None)?;
        if t.kind == "CustomResourceDefinition" && !t.custom {
            let mut f = finalizers(&body);
            if !f.iter().any(|x| x == CRD_CLEANUP) {
                f.push(CRD_CLEANUP.into());
            }
            set_finalizers(&mut body, &f);
            crd_status(&mut body, None);
        }
        if applied.is_none() {
            ssa::record_update(
                &t.kind,
                None,
                &mut body,
                &opts.manager,
                &t.api_version(),
                main_scope(t),
                &now(),
            );
        }
        if opts.dry_run {
            return Ok(Arc::new(body));
        }
        self.rv += 1;
        meta_mut(&mut body).insert("resourceVersion".into(), json!(self.rv.to_string()));
        self.uids.insert(uid, Self::key(t, ns, &name));
        if !owner_uids(&body).iter().all(|u| self.uids.contains_key(u)) {
            self.gc_pending = true;
        }
        self.after_write(t, &body);
        let body = Arc::new(body);
        self.objects.insert(Self::key(t, ns, &name), body.clone());
        self.emit(t, ns, EventType::Added, body.clone(), None);
        self.collect_garbage();
        Ok(Self::present(t, &body))
    }

    fn default_and_validate(
        &mut self,
        t: &ResourceType,
        body: &mut Value,
        old: Option<&Value>,
    ) -> Result<()> {
        let mut alloc = Alloc {
            ip: &mut self.ip,
            port: &mut self.port,
        };
        normalize::apply_defaults(&t.kind, body, old, &mut alloc);
        validate::validate(t, body)
    }

    /// Registry updates after a CRD write.
    fn after_write(&mut self, t: &ResourceType, obj: &Value) {
        if t.kind == "CustomResourceDefinition" && !t.custom {
            register_crd(&mut self.registry, obj);
        }
    }

    /// `PUT` (main resource or `status`).
    pub fn update(
        &mut self,
        t: &ResourceType,
        ns: &str,
        name: &str,
        body: Value,
        scope: Scope,
        opts: &WriteOpts,
    ) -> Result<Arc<Value>> {
        let old = self
            .objects
            .get(&Self::key(t, ns, name))
            .cloned()
            .ok_or_else(|| ApiError::not_found(subject(t, name)))?;
        check_type(t, &body)?;
        if meta_str(&body, "name").is_some_and(|n| n != name) {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({}) does not match the name on the URL ({name})",
                meta_str(&body, "name").unwrap_or("")
            )));
        }
        if let Some(rv) = meta_str(&body, "resourceVersion").filter(|r| !r.is_empty()) {
            if Some(rv) != meta_str(&old, "resourceVersion") {
                return Err(ApiError::stale(subject(t, name)));
            }
        }
        self.write_existing(t, ns, name, old, body, scope, opts, false)
    }

    /// `PATCH` with any patch type; apply creates missing objects.
    #[allow(clippy::too_many_arguments)]
    pub fn patch(
        &mut self,
        t: &ResourceType,
        ns: &str,
        name: &str,
        kind: PatchType,
        body: Value,
        scope: Scope,
        opts: &WriteOpts,
    ) -> Result<Arc<Value>> {
        let existing = self.objects.get(&Self::key(t, ns, name)).cloned();
        if kind == PatchType::Apply {
            return self.apply(t, ns, name, existing, body, scope, opts);
        }
        let old = existing.ok_or_else(|| ApiError::not_found(subject(t, name)))?;
        let mut new = (*old).clone();
        match kind {
            PatchType::Merge => patch::merge_patch(&mut new, &body),
            PatchType::Strategic => patch::strategic_merge_patch(&t.kind, &mut new, &body),
            PatchType::Json => patch::json_patch(&mut new, &body)?,
            PatchType::Apply => unreachable!("handled above"),
        }
        if let Some(rv) = meta_str(&new, "resourceVersion").filter(|r| !r.is_empty()) {
            if Some(rv) != meta_str(&old, "resourceVersion") {
                return Err(ApiError::stale(subject(t, name)));
            }
        }
        self.write_existing(t, ns, name, old, new, scope, opts, false)
    }

    #[allow(clippy::too_many_arguments)]
    fn apply(
        &mut self,
        t: &ResourceType,
        ns: &str,
        name: &str,
        existing: Option<Arc<Value>>,
        config: Value,
        scope: Scope,
        opts: &WriteOpts,
    ) -> Result<Arc<Value>> {
        if opts.manager.is_empty() {
            return Err(ApiError::invalid(
                "PatchOptions",
                "meta.k8s.io",
                "",
                vec![(
                    "fieldManager".into(),
                    "Required value: is required for apply patch".into(),
                )],
            ));
        }
        check_type(t, &config)?;
        if config.get("apiVersion").is_none() || config.get("kind").is_none() {
            return Err(ApiError::bad_request(
                "apply patches must specify apiVersion and kind",
            ));
        }
        if meta_str(&config, "name").is_some_and(|n| n != name) {
            return Err(ApiError::bad_request(
                "the name of the object does not match the name on the URL",
            ));
        }
        let mut config = config;
        normalize::canonicalize_quantities(&t.kind, &mut config);
        let now = now();
        let a = ssa::Apply {
            kind: &t.kind,
            manager: &opts.manager,
            force: opts.force,
            api_version: &t.api_version(),
            scope,
            now: &now,
        };
        let conflict = |c: Vec<ssa::Conflict>| {
            let causes = c
                .iter()
                .map(|c| (c.manager.clone(), c.field.clone()))
                .collect();
            ApiError::apply_conflict(subject(t, name), ssa::conflict_message(&c), causes)
        };
        match existing {
            None => {
                if scope == Scope::Status {
                    return Err(ApiError::not_found(subject(t, name)));
                }
                let mut skeleton = json!({"apiVersion": t.api_version(), "kind": t.kind, "metadata": {"name": name}});
                if t.namespaced {
                    skeleton["metadata"]["namespace"] = json!(ns);
                }
                let merged = ssa::apply(&skeleton, config, a).map_err(conflict)?;
                self.insert_new(t, ns, merged, opts, Some(()))
            }
            Some(old) => {
                let merged = ssa::apply(&old, config, a).map_err(conflict)?;
                self.write_existing(t, ns, name, old, merged, scope, opts, true)
            }
        }
    }

    /// The shared tail of update, patch and apply on an existing object.
    #[allow(clippy::too_many_arguments)]
    fn write_existing(
        &mut self,
        t: &ResourceType,
        ns: &str,
        name: &str,
        old: Arc<Value>,
        mut new: Value,
        scope: Scope,
        opts: &WriteOpts,
        applied: bool,
    ) -> Result<Arc<Value>> {
        if scope == Scope::Status {
            let mut merged = (*old).clone();
            merged["status"] = new.get("status").cloned().unwrap_or(Value::Null);
            if merged["status"].is_null() {
                if let Some(m) = merged.as_object_mut() {
                    m.remove("status");
                }
            }
            if applied {
                merged["metadata"]["managedFields"] = new
                    .pointer("/metadata/managedFields")
                    .cloned()
                    .unwrap_or(json!([]));
            }
            new = merged;
        } else {
            if t.status {
                match old.get("status") {
                    Some(s) => new["status"] = s.clone(),
                    None => {
                        if let Some(m) = new.as_object_mut() {
                            m.remove("status");
                        }
                    }
                }
            }
            new["apiVersion"] = json!(t.api_version());
            new["kind"] = json!(t.kind);
            let empty = Map::new();
            let old_meta = old
                .get("metadata")
                .and_then(Value::as_object)
                .unwrap_or(&empty);
            let meta = meta_mut(&mut new);
            for k in [
                "uid",
                "creationTimestamp",
                "deletionTimestamp",
                "deletionGracePeriodSeconds",
                "generation",
                "namespace",
                "name",
            ] {
                match old_meta.get(k) {
                    Some(v) => meta.insert(k.into(), v.clone()),
                    None => meta.remove(k),
                };
            }
            if !applied && meta.get("managedFields").is_none() {
                if let Some(mf) = old_meta.get("managedFields") {
                    meta.insert("managedFields".into(), mf.clone());
                }
            }
            self.default_and_validate(t, &mut new, Some(&old))?;
            if t.kind == "CustomResourceDefinition" && !t.custom {
                crd_status(&mut new, old.get("status"));
            }
        }
        if let Some(rv) = meta_str(&old, "resourceVersion").map(str::to_string) {
            meta_mut(&mut new).insert("resourceVersion".into(), json!(rv));
        }
        if !applied {
            ssa::record_update(
                &t.kind,
                Some(&old),
                &mut new,
                &opts.manager,
                &t.api_version(),
                scope,
                &now(),
            );
        }
        if (t.generation || t.custom) && spec_differs(&old, &new) {
            let g = old
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            meta_mut(&mut new).insert("generation".into(), json!(g + 1));
        }
        if new == *old {
            return Ok(Self::present(t, &old));
        }
        if opts.dry_run {
            return Ok(Self::present(t, &Arc::new(new)));
        }
        self.rv += 1;
        meta_mut(&mut new).insert("resourceVersion".into(), json!(self.rv.to_string()));
        if new.pointer("/metadata/deletionTimestamp").is_some()
            || !owner_uids(&new).iter().all(|u| self.uids.contains_key(u))
        {
            self.gc_pending = true;
        }
        self.after_write(t, &new);
        let new = Arc::new(new);
        let previous = self.objects.insert(Self::key(t, ns, name), new.clone());
        self.emit(t, ns, EventType::Modified, new.clone(), previous);
        self.collect_garbage();
        let current = self.objects.get(&Self::key(t, ns, name)).unwrap_or(&new);
        Ok(Self::present(t, current))
    }

    /// `DELETE` one object.
    pub fn delete(
        &mut self,
        t: &ResourceType,
        ns: &str,
        name: &str,
        opts: &DeleteOpts,
    ) -> Result<Arc<Value>> {
        let key = Self::key(t, ns, name);
        let old = self
            .objects
            .get(&key)
            .map(|o| (**o).clone())
            .ok_or_else(|| ApiError::not_found(subject(t, name)))?;
        if opts
            .uid
            .as_deref()
            .is_some_and(|u| Some(u) != meta_str(&old, "uid"))
            || opts
                .resource_version
                .as_deref()
                .is_some_and(|r| Some(r) != meta_str(&old, "resourceVersion"))
        {
            return Err(ApiError::stale(subject(t, name)));
        }
        let mut obj = old.clone();
        let mut fins = finalizers(&obj);
        let extra = match opts.propagation {
            Propagation::Background => None,
            Propagation::Foreground => Some(FOREGROUND),
            Propagation::Orphan => Some(ORPHAN),
        };
        if let Some(f) = extra {
            if !fins.iter().any(|x| x == f) {
                fins.push(f.into());
            }
        }
        let namespace_finalizing = t.kind == "Namespace" && !t.custom;
        if fins.is_empty() && !namespace_finalizing {
            if opts.dry_run {
                return Ok(Self::present(t, &Arc::new(obj)));
            }
            let removed = self.remove(&key).unwrap_or_else(|| Arc::new(obj));
            self.collect_garbage();
            return Ok(Self::present(t, &removed));
        }
        if obj.pointer("/metadata/deletionTimestamp").is_none() {
            set_finalizers(&mut obj, &fins);
            let meta = meta_mut(&mut obj);
            meta.insert("deletionTimestamp".into(), json!(now()));
            meta.insert("deletionGracePeriodSeconds".into(), json!(0));
            if t.generation || t.custom {
                let g = meta.get("generation").and_then(Value::as_i64).unwrap_or(0);
                meta.insert("generation".into(), json!(g + 1));
            }
            if namespace_finalizing {
                obj["status"]["phase"] = json!("Terminating");
            }
        } else if extra.is_some() {
            set_finalizers(&mut obj, &fins);
        }
        if opts.dry_run || obj == old {
            return Ok(Self::present(t, &Arc::new(obj)));
        }
        self.rv += 1;
        meta_mut(&mut obj).insert("resourceVersion".into(), json!(self.rv.to_string()));
        let obj = Arc::new(obj);
        let previous = self.objects.insert(key.clone(), obj.clone());
        self.emit(t, ns, EventType::Modified, obj.clone(), previous);
        self.gc_pending = true;
        self.collect_garbage();
        Ok(Self::present(t, self.objects.get(&key).unwrap_or(&obj)))
    }

    /// `DELETE` a collection: deletes every matching object in `ns`.
    pub fn delete_collection(
        &mut self,
        t: &ResourceType,
        ns: Option<&str>,
        sel: &Selector,
        opts: &DeleteOpts,
    ) -> Result<Value> {
        let sk = t.storage_key();
        let names: Vec<(String, String)> = self
            .objects
            .iter()
            .filter(|((k, ons, _), o)| {
                *k == sk && ns.is_none_or(|n| !t.namespaced || ons == n) && sel.matches(o)
            })
            .map(|((_, ons, n), _)| (ons.clone(), n.clone()))
            .collect();
        let mut items = Vec::new();
        for (ons, n) in names {
            items.push(self.delete(t, &ons, &n, opts)?.as_ref().clone());
        }
        Ok(
            json!({"kind": format!("{}List", t.kind), "apiVersion": t.api_version(), "metadata": {"resourceVersion": self.rv.to_string()}, "items": items}),
        )
    }

    /// Removes an object for good, emitting DELETED. Returns the removed object.
    fn remove(&mut self, key: &Key) -> Option<Arc<Value>> {
        let mut obj = Arc::unwrap_or_clone(self.objects.remove(key)?);
        if let Some(uid) = meta_str(&obj, "uid") {
            self.uids.remove(uid);
        }
        self.rv += 1;
        meta_mut(&mut obj).insert("resourceVersion".into(), json!(self.rv.to_string()));
        let t = self.type_of(&obj);
        if let Some(t) = &t {
            if t.kind == "CustomResourceDefinition" && !t.custom {
                let group = obj
                    .pointer("/spec/group")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                let plural = obj
                    .pointer("/spec/names/plural")
                    .and_then(Value::as_str)
                    .unwrap_or("");
                self.registry.remove_custom(group, plural);
            }
            let obj = Arc::new(obj);
            self.emit(t, &key.1, EventType::Deleted, obj.clone(), None);
            self.gc_pending = true;
            return Some(obj);
        }
        self.gc_pending = true;
        Some(Arc::new(obj))
    }

    /// The type an object is stored as, from its storage key.
    fn type_of(&self, obj: &Value) -> Option<Arc<ResourceType>> {
        let av = obj.get("apiVersion").and_then(Value::as_str)?;
        let kind = obj.get("kind").and_then(Value::as_str)?;
        self.registry.by_kind(av, kind).or_else(|| {
            let group = av.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
            self.registry_any_version(group, kind)
        })
    }

    fn registry_any_version(&self, group: &str, kind: &str) -> Option<Arc<ResourceType>> {
        ["v1", "v1beta1", "v1alpha1", "v2", "v2beta1"]
            .iter()
            .find_map(|v| {
                self.registry.by_kind(
                    &if group.is_empty() {
                        v.to_string()
                    } else {
                        format!("{group}/{v}")
                    },
                    kind,
                )
            })
    }

    /// Runs the garbage collector, namespace and CRD finalisation to a fixpoint.
    fn collect_garbage(&mut self) {
        while self.gc_pending {
            self.gc_pending = false;
            let keys: Vec<Key> = self.objects.keys().cloned().collect();
            for key in keys {
                let Some(obj) = self.objects.get(&key).cloned() else {
                    continue;
                };
                let Some(t) = self.type_of(&obj) else {
                    continue;
                };
                let deleting = obj.pointer("/metadata/deletionTimestamp").is_some();
                let owners = owner_uids(&obj);
                if !deleting
                    && !owners.is_empty()
                    && owners.iter().all(|u| !self.uids.contains_key(u))
                {
                    self.delete_quietly(&t, &key);
                    continue;
                }
                if !deleting {
                    continue;
                }
                let uid = meta_str(&obj, "uid").unwrap_or("").to_string();
                let mut fins = finalizers(&obj);
                let before = fins.clone();
                if fins.iter().any(|f| f == ORPHAN) {
                    self.orphan_dependents(&uid);
                    fins.retain(|f| f != ORPHAN);
                }
                if fins.iter().any(|f| f == FOREGROUND) {
                    let deps = self.dependents(&uid);
                    for (dt, dk) in &deps {
                        self.delete_quietly(dt, dk);
                    }
                    if self.dependents(&uid).is_empty() {
                        fins.retain(|f| f != FOREGROUND);
                    }
                }
                if t.kind == "CustomResourceDefinition"
                    && !t.custom
                    && fins.iter().any(|f| f == CRD_CLEANUP)
                {
                    let group = obj
                        .pointer("/spec/group")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string();
                    let plural = obj
                        .pointer("/spec/names/plural")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string();
                    let sk = format!("{group}/{plural}");
                    let crs: Vec<Key> =
                        self.objects.keys().filter(|k| k.0 == sk).cloned().collect();
                    for k in &crs {
                        if let Some(ct) = self.objects.get(k).and_then(|o| self.type_of(o)) {
                            self.delete_quietly(&ct, k);
                        }
                    }
                    if !self.objects.keys().any(|k| k.0 == sk) {
                        fins.retain(|f| f != CRD_CLEANUP);
                    }
                }
                if t.kind == "Namespace" && !t.custom {
                    let ns = key.2.clone();
                    let contents: Vec<Key> = self
                        .objects
                        .keys()
                        .filter(|k| k.1 == ns && !k.1.is_empty())
                        .cloned()
                        .collect();
                    for k in &contents {
                        if let Some(ct) = self.objects.get(k).and_then(|o| self.type_of(o)) {
                            self.delete_quietly(&ct, k);
                        }
                    }
                    if !self.objects.keys().any(|k| k.1 == ns) && fins.is_empty() {
                        self.remove(&key);
                        continue;
                    }
                }
                if fins != before {
                    let mut updated = (*obj).clone();
                    set_finalizers(&mut updated, &fins);
                    self.rv += 1;
                    meta_mut(&mut updated)
                        .insert("resourceVersion".into(), json!(self.rv.to_string()));
                    let updated = Arc::new(updated);
                    let previous = self.objects.insert(key.clone(), updated.clone());
                    self.emit(&t, &key.1, EventType::Modified, updated, previous);
                    self.gc_pending = true;
                }
                if fins.is_empty() && (t.custom || t.kind != "Namespace") {
                    self.remove(&key);
                }
            }
        }
    }

    /// Background deletion from the garbage collector (no-op if already terminating).
    fn delete_quietly(&mut self, t: &ResourceType, key: &Key) {
        let Some(obj) = self.objects.get(key) else {
            return;
        };
        if obj.pointer("/metadata/deletionTimestamp").is_some() {
            return;
        }
        let opts = DeleteOpts {
            propagation: Propagation::Background,
            uid: None,
            resource_version: None,
            dry_run: false,
        };
        let (ns, name) = (key.1.clone(), key.2.clone());
        let _ = self.delete(t, &ns, &name, &opts);
    }

    fn dependents(&self, uid: &str) -> Vec<(Arc<ResourceType>, Key)> {
        self.objects
            .iter()
            .filter(|(_, o)| owner_uids(o).iter().any(|u| u == uid))
            .filter_map(|(k, o)| self.type_of(o).map(|t| (t, k.clone())))
            .collect()
    }

    fn orphan_dependents(&mut self, uid: &str) {
        for (t, key) in self.dependents(uid) {
            let Some(mut obj) = self.objects.get(&key).map(|o| (**o).clone()) else {
                continue;
            };
            if let Some(Value::Array(refs)) = obj.pointer_mut("/metadata/ownerReferences") {
                refs.retain(|r| r.get("uid").and_then(Value::as_str) != Some(uid));
                if refs.is_empty() {
                    meta_mut(&mut obj).remove("ownerReferences");
                }
            }
            self.rv += 1;
            meta_mut(&mut obj).insert("resourceVersion".into(), json!(self.rv.to_string()));
            let obj = Arc::new(obj);
            let previous = self.objects.insert(key.clone(), obj.clone());
            self.emit(&t, &key.1, EventType::Modified, obj, previous);
        }
    }
}

const ORPHAN: &str = "orphan";
const FOREGROUND: &str = "foregroundDeletion";
const CRD_CLEANUP: &str = "customresourcecleanup.apiextensions.k8s.io";

fn main_scope(t: &ResourceType) -> Scope {
    Scope::Main {
        status_subresource: t.status,
    }
}

/// Rejects a body whose apiVersion/kind do not match the URL (when given).
fn check_type(t: &ResourceType, body: &Value) -> Result<()> {
    if !body.is_object() {
        return Err(ApiError::bad_request(
            "the request body must be a JSON object",
        ));
    }
    let kind_ok = body
        .get("kind")
        .and_then(Value::as_str)
        .is_none_or(|k| k == t.kind);
    let av_ok = body
        .get("apiVersion")
        .and_then(Value::as_str)
        .is_none_or(|a| {
            let group = a.rsplit_once('/').map(|(g, _)| g).unwrap_or("");
            group == t.group
        });
    if kind_ok && av_ok {
        Ok(())
    } else {
        Err(ApiError::bad_request(format!(
            "the API version in the data ({}) does not match the expected API version ({}) or kind ({}) differs",
            body.get("apiVersion").and_then(Value::as_str).unwrap_or(""),
            t.api_version(),
            body.get("kind").and_then(Value::as_str).unwrap_or("")
        )))
    }
}

/// Sets the CRD status a real server would: names accepted, established, stored versions.
fn crd_status(obj: &mut Value, old: Option<&Value>) {
    let now = now();
    let since = |ty: &str| {
        old.and_then(|s| s.get("conditions"))
            .and_then(Value::as_array)
            .and_then(|cs| {
                cs.iter()
                    .find(|c| c.get("type").and_then(Value::as_str) == Some(ty))
            })
            .and_then(|c| c.get("lastTransitionTime").cloned())
            .unwrap_or(json!(now))
    };
    let storage: Vec<Value> = obj
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|v| v.get("storage").and_then(Value::as_bool) == Some(true))
        .filter_map(|v| v.get("name").cloned())
        .collect();
    let mut stored: Vec<Value> = old
        .and_then(|s| s.get("storedVersions"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    for s in storage {
        if !stored.contains(&s) {
            stored.push(s);
        }
    }
    obj["status"] = json!({
        "acceptedNames": obj.pointer("/spec/names").cloned().unwrap_or(json!({})),
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "reason": "NoConflicts", "message": "no conflicts found", "lastTransitionTime": since("NamesAccepted")},
            {"type": "Established", "status": "True", "reason": "InitialNamesAccepted", "message": "the initial names have been accepted", "lastTransitionTime": since("Established")},
        ],
        "storedVersions": stored,
    });
}

/// Serves every served version of a CRD (replacing what was registered before).
fn register_crd(registry: &mut Registry, crd: &Value) {
    let s = |p: &str| {
        crd.pointer(p)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    let (group, plural, kind) = (
        s("/spec/group"),
        s("/spec/names/plural"),
        s("/spec/names/kind"),
    );
    registry.remove_custom(&group, &plural);
    if crd.pointer("/metadata/deletionTimestamp").is_some() {
        return;
    }
    let singular = crd
        .pointer("/spec/names/singular")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| kind.to_lowercase());
    let short_names: Vec<String> = crd
        .pointer("/spec/names/shortNames")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    for v in crd
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if v.get("served").and_then(Value::as_bool) == Some(false) {
            continue;
        }
        registry.insert(ResourceType {
            group: group.clone(),
            version: v
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            kind: kind.clone(),
            plural: plural.clone(),
            singular: singular.clone(),
            namespaced: s("/spec/scope") == "Namespaced",
            status: v.pointer("/subresources/status").is_some(),
            generation: true,
            short_names: short_names.clone(),
            custom: true,
        });
    }
}

fn hex(s: &str) -> String {
    s.bytes().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<String> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    let bytes: Option<Vec<u8>> = (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect();
    String::from_utf8(bytes?).ok()
}

fn encode_continue(rv: u64, ns: &str, name: &str) -> String {
    hex(&format!("{rv}\u{0}{ns}\u{0}{name}"))
}

fn decode_continue(token: &str) -> Result<(u64, (String, String))> {
    let bad = || ApiError::bad_request("continue key is not valid: malformed token");
    let s = unhex(token).ok_or_else(bad)?;
    let mut parts = s.split('\u{0}');
    let rv = parts.next().and_then(|r| r.parse().ok()).ok_or_else(bad)?;
    let ns = parts.next().ok_or_else(bad)?.to_string();
    let name = parts.next().ok_or_else(bad)?.to_string();
    Ok((rv, (ns, name)))
}
