//! Watch streams: turns a [`WatchStart`] (replayed events plus a live broadcast receiver) into
//! newline-delimited JSON watch events on a channel that the HTTP layer streams as the response
//! body. Sends BOOKMARKs (periodically when `allowWatchBookmarks`, and the initial-events-end
//! bookmark for `sendInitialEvents`), an ERROR event with a 410 `Status` when the requested
//! version is gone or the watcher fell behind, and ends on timeout or API restart. Spawns one
//! task per watch.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use serde_json::{json, Value};
use tokio::sync::{broadcast, mpsc, watch};

use crate::discovery::ResourceType;
use crate::selectors::Selector;
use crate::status::ApiError;
use crate::store::{Event, EventType, WatchStart};

/// The parameters of one watch request.
pub struct WatchParams {
    /// The watched resource type (as requested; custom resources are rewritten to its version).
    pub resource: Arc<ResourceType>,
    /// Namespace filter (None for all namespaces).
    pub namespace: Option<String>,
    /// Label and field selectors.
    pub selector: Selector,
    /// `allowWatchBookmarks=true`.
    pub bookmarks: bool,
    /// `sendInitialEvents=true`: end the initial events with an `initial-events-end` bookmark.
    pub send_initial_events: bool,
    /// `timeoutSeconds`.
    pub timeout: Duration,
    /// Interval between progress bookmarks.
    pub bookmark_interval: Duration,
}

fn line(kind: &str, object: &Value) -> Bytes {
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(b"{\"type\":\"");
    out.extend_from_slice(kind.as_bytes());
    out.extend_from_slice(b"\",\"object\":");
    // Serialising a `Value` into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut out, object);
    out.extend_from_slice(b"}\n");
    Bytes::from(out)
}

fn bookmark(p: &WatchParams, rv: u64, initial_end: bool) -> Bytes {
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if initial_end {
        meta["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    line(
        "BOOKMARK",
        &json!({"kind": p.resource.kind, "apiVersion": p.resource.api_version(), "metadata": meta}),
    )
}

/// The event type this watch sees for `e`, if any: with a selector, a change that makes an
/// object start (stop) matching is ADDED (DELETED), like the real watch cache.
fn effective(p: &WatchParams, e: &Event) -> Option<EventType> {
    let ours = e.resource == p.resource.storage_key()
        && p.namespace
            .as_deref()
            .is_none_or(|n| !p.resource.namespaced || e.namespace == n);
    if !ours {
        return None;
    }
    let now = p.selector.matches(&e.object);
    match (e.kind, &e.previous) {
        (EventType::Modified, Some(prev)) => match (p.selector.matches(prev), now) {
            (true, true) => Some(EventType::Modified),
            (false, true) => Some(EventType::Added),
            (true, false) => Some(EventType::Deleted),
            (false, false) => None,
        },
        (kind, _) => now.then_some(kind),
    }
}

fn event_line(p: &WatchParams, kind: EventType, e: &Event) -> Bytes {
    if p.resource.custom {
        let mut o = (*e.object).clone();
        o["apiVersion"] = json!(p.resource.api_version());
        line(kind.as_str(), &o)
    } else {
        line(kind.as_str(), &e.object)
    }
}

/// Starts streaming; returns the receiving end of the body channel.
pub fn spawn(
    start: WatchStart,
    p: WatchParams,
    mut restarts: watch::Receiver<u64>,
) -> mpsc::Receiver<Bytes> {
    let (tx, rx) = mpsc::channel(256);
    tokio::spawn(async move {
        let (initial, mut live, mut progress) = match start {
            WatchStart::Gone(err) => {
                let _ = tx.send(line("ERROR", &err.to_status())).await;
                return;
            }
            WatchStart::Events(initial, live, rv) => (initial, live, rv),
        };
        restarts.mark_unchanged();
        for e in &initial {
            if let Some(kind) = effective(&p, e) {
                if tx.send(event_line(&p, kind, e)).await.is_err() {
                    return;
                }
            }
        }
        if p.send_initial_events && tx.send(bookmark(&p, progress, true)).await.is_err() {
            return;
        }
        let deadline = tokio::time::sleep(p.timeout);
        tokio::pin!(deadline);
        let mut ticker = tokio::time::interval(p.bookmark_interval);
        ticker.tick().await;
        loop {
            let out = tokio::select! {
                _ = &mut deadline => return,
                _ = restarts.changed() => return,
                _ = ticker.tick(), if p.bookmarks => bookmark(&p, progress, false),
                ev = live.recv() => match ev {
                    Ok(e) => {
                        progress = progress.max(e.rv);
                        let Some(kind) = effective(&p, &e) else { continue };
                        event_line(&p, kind, &e)
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        let _ = tx.send(line("ERROR", &ApiError::gone(progress, progress).to_status())).await;
                        return;
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                },
            };
            if tx.send(out).await.is_err() {
                return;
            }
        }
    });
    rx
}
