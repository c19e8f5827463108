//! Fault injection controlled from the test: added latency, 429 with `Retry-After`, 500,
//! dropped connections, an API "restart" (all connections cut, state kept, the watch window
//! reset so watches must re-list) and compaction (older resourceVersions get 410 Gone).

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::watch;

use crate::requests::Verb;
use crate::store::Store;

/// A fault answered instead of the real response.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// `429 TooManyRequests` with a `Retry-After` header in seconds (kube's client retries these).
    TooManyRequests {
        /// Value of the `Retry-After` header, in seconds.
        retry_after_secs: u64,
    },
    /// `500 InternalError`.
    InternalError,
    /// The connection is closed without a response.
    DropConnection,
}

#[derive(Debug)]
struct Rule {
    fault: Fault,
    verb: Option<Verb>,
    remaining: u32,
}

#[derive(Debug, Default)]
struct State {
    latency: Duration,
    rules: Vec<Rule>,
}

/// The fault-injection handle (cheap to clone; all clones control the same emulator).
#[derive(Clone)]
pub struct Faults {
    state: Arc<Mutex<State>>,
    restart: Arc<watch::Sender<u64>>,
    store: Arc<Mutex<Store>>,
}

impl std::fmt::Debug for Faults {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Faults")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl Faults {
    pub(crate) fn new(store: Arc<Mutex<Store>>) -> Self {
        let (restart, _) = watch::channel(0);
        Self {
            state: Arc::default(),
            restart: Arc::new(restart),
            store,
        }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds `latency` before every response until set back to zero.
    pub fn set_latency(&self, latency: Duration) {
        self.state().latency = latency;
    }

    /// Answers the next `times` requests (of any verb) with `fault`.
    pub fn inject(&self, fault: Fault, times: u32) {
        self.state().rules.push(Rule {
            fault,
            verb: None,
            remaining: times,
        });
    }

    /// Answers the next `times` requests of `verb` with `fault`.
    pub fn inject_on(&self, verb: Verb, fault: Fault, times: u32) {
        self.state().rules.push(Rule {
            fault,
            verb: Some(verb),
            remaining: times,
        });
    }

    /// Removes all pending faults and the added latency.
    pub fn clear(&self) {
        *self.state() = State::default();
    }

    /// Simulates an API server restart: every open connection (including watches) is cut, the
    /// stored state is kept, and the watch cache starts over (as [`Faults::compact`]), so a
    /// watch resumed from any version handed out before the restart gets 410 Gone and must
    /// re-list.
    pub fn restart(&self) {
        self.compact();
        self.restart.send_modify(|n| *n += 1);
    }

    /// Expires the watch window: every resourceVersion handed out so far is compacted, so new
    /// watches and list continuations from them get 410 Gone (open watches keep running).
    pub fn compact(&self) {
        self.store
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .compact();
    }

    pub(crate) fn restarts(&self) -> watch::Receiver<u64> {
        self.restart.subscribe()
    }

    /// The latency to add and the fault (if any) for one request of `verb`.
    pub(crate) fn take(&self, verb: Verb) -> (Duration, Option<Fault>) {
        let mut s = self.state();
        let latency = s.latency;
        let pos = s
            .rules
            .iter()
            .position(|r| r.remaining > 0 && r.verb.is_none_or(|v| v == verb));
        let fault = pos.map(|i| {
            s.rules[i].remaining -= 1;
            s.rules[i].fault
        });
        s.rules.retain(|r| r.remaining > 0);
        (latency, fault)
    }
}
