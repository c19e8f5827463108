//! Request accounting: how many requests of each verb the emulator has received, so tests can
//! assert "no writes on a no-change reconcile" and benches can count. Lock-free counters.

use std::sync::atomic::{AtomicU64, Ordering};

/// The verb of an API request, as the real server's audit log classifies it (with `apply`
/// split out of `patch`, and discovery counted separately).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verb {
    /// Read one object.
    Get,
    /// Read a collection.
    List,
    /// Open a watch.
    Watch,
    /// POST a new object.
    Create,
    /// PUT an object (or its status).
    Update,
    /// PATCH with merge, strategic merge or JSON patch.
    Patch,
    /// PATCH with `application/apply-patch+yaml` (server-side apply).
    Apply,
    /// DELETE one object.
    Delete,
    /// DELETE a collection.
    DeleteCollection,
    /// `/version`, `/api`, `/apis` and the group/version resource lists.
    Discovery,
}

const VERBS: usize = 10;

impl Verb {
    fn index(self) -> usize {
        self as usize
    }
}

/// Live counters shared with the server.
#[derive(Debug, Default)]
pub(crate) struct Counters([AtomicU64; VERBS]);

impl Counters {
    pub(crate) fn record(&self, verb: Verb) {
        self.0[verb.index()].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn snapshot(&self) -> RequestCounts {
        let c = |v: Verb| self.0[v.index()].load(Ordering::Relaxed);
        RequestCounts {
            get: c(Verb::Get),
            list: c(Verb::List),
            watch: c(Verb::Watch),
            create: c(Verb::Create),
            update: c(Verb::Update),
            patch: c(Verb::Patch),
            apply: c(Verb::Apply),
            delete: c(Verb::Delete),
            delete_collection: c(Verb::DeleteCollection),
            discovery: c(Verb::Discovery),
        }
    }

    pub(crate) fn reset(&self) {
        for c in &self.0 {
            c.store(0, Ordering::Relaxed);
        }
    }
}

/// A snapshot of request counts per verb. Requests answered by an injected fault are counted
/// too (the server received them).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestCounts {
    /// `get` requests.
    pub get: u64,
    /// `list` requests.
    pub list: u64,
    /// `watch` requests.
    pub watch: u64,
    /// `create` requests.
    pub create: u64,
    /// `update` (PUT) requests.
    pub update: u64,
    /// Non-apply `patch` requests.
    pub patch: u64,
    /// Server-side `apply` requests.
    pub apply: u64,
    /// `delete` requests.
    pub delete: u64,
    /// `deletecollection` requests.
    pub delete_collection: u64,
    /// Discovery requests.
    pub discovery: u64,
}

impl RequestCounts {
    /// Requests that may change state: create, update, patch, apply, delete, deletecollection.
    pub fn writes(&self) -> u64 {
        self.create + self.update + self.patch + self.apply + self.delete + self.delete_collection
    }

    /// Reads: get, list, watch.
    pub fn reads(&self) -> u64 {
        self.get + self.list + self.watch
    }
}
