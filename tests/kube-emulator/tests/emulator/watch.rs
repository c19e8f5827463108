//! List and watch: raw watches from a resourceVersion, bookmarks, 410 Gone after compaction,
//! and a kube-runtime watcher that survives an API restart.

use std::time::Duration;

use futures_util::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::runtime::watcher;
use kube::ResourceExt;
use serde_json::json;

use crate::{obj, start};

fn cm(name: &str, v: &str) -> ConfigMap {
    obj(
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": {"v": v}}),
    )
}

/// Waits (bounded) for the next event matching `pred` on a stream.
async fn next_matching<S, T, F>(stream: &mut S, mut pred: F) -> T
where
    S: futures_util::Stream<Item = T> + Unpin,
    F: FnMut(&T) -> bool,
{
    tokio::time::timeout(Duration::from_secs(20), async {
        loop {
            let item = stream.next().await.expect("stream ended");
            if pred(&item) {
                return item;
            }
        }
    })
    .await
    .expect("event arrives")
}

#[tokio::test]
async fn watch_from_a_version_sees_changes_and_bookmarks() {
    let (_e, client) = start().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    let first = cms
        .create(&PostParams::default(), &cm("before", "0"))
        .await
        .unwrap();
    let rv = first.resource_version().unwrap();
    cms.create(&PostParams::default(), &cm("a", "1"))
        .await
        .unwrap();

    let mut stream = cms
        .watch(&WatchParams::default().timeout(30), &rv)
        .await
        .unwrap()
        .boxed();
    cms.patch(
        "a",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"v": "2"}})),
    )
    .await
    .unwrap();
    cms.delete("a", &DeleteParams::default()).await.unwrap();

    let mut kinds = Vec::new();
    while kinds.len() < 3 {
        match next_matching(&mut stream, |_| true).await.unwrap() {
            WatchEvent::Added(o) => kinds.push(("ADDED", o.name_any())),
            WatchEvent::Modified(o) => kinds.push(("MODIFIED", o.name_any())),
            WatchEvent::Deleted(o) => kinds.push(("DELETED", o.name_any())),
            WatchEvent::Bookmark(_) => {}
            WatchEvent::Error(e) => panic!("unexpected error {e:?}"),
        }
    }
    assert_eq!(
        kinds,
        [
            ("ADDED", "a".to_string()),
            ("MODIFIED", "a".to_string()),
            ("DELETED", "a".to_string())
        ]
    );
    let bookmark = next_matching(&mut stream, |e| matches!(e, Ok(WatchEvent::Bookmark(_))))
        .await
        .unwrap();
    let WatchEvent::Bookmark(b) = bookmark else {
        unreachable!()
    };
    let bookmark_rv: u64 = b.metadata.resource_version.parse().unwrap();
    assert!(bookmark_rv > rv.parse::<u64>().unwrap());
}

#[tokio::test]
async fn compaction_makes_old_versions_gone() {
    let (e, client) = start().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    let first = cms
        .create(&PostParams::default(), &cm("a", "1"))
        .await
        .unwrap();
    cms.create(&PostParams::default(), &cm("b", "1"))
        .await
        .unwrap();
    e.faults().compact();
    let mut stream = cms
        .watch(&WatchParams::default(), &first.resource_version().unwrap())
        .await
        .unwrap()
        .boxed();
    match stream.try_next().await.unwrap() {
        Some(WatchEvent::Error(status)) => {
            assert_eq!((status.code, status.reason.as_str()), (410, "Expired"));
        }
        other => panic!("expected 410, got {other:?}"),
    }
    // A fresh list gives a version that can be watched again.
    let list = cms.list(&Default::default()).await.unwrap();
    let mut stream = cms
        .watch(
            &WatchParams::default(),
            &list.metadata.resource_version.unwrap(),
        )
        .await
        .unwrap()
        .boxed();
    cms.create(&PostParams::default(), &cm("c", "1"))
        .await
        .unwrap();
    let ev = next_matching(&mut stream, |e| matches!(e, Ok(WatchEvent::Added(_))))
        .await
        .unwrap();
    let WatchEvent::Added(o) = ev else {
        unreachable!()
    };
    assert_eq!(o.name_any(), "c");
}

#[tokio::test]
async fn runtime_watcher_survives_an_api_restart() {
    let (e, client) = start().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    cms.create(&PostParams::default(), &cm("a-one", "1"))
        .await
        .unwrap();
    let mut events = watcher(cms.clone(), watcher::Config::default()).boxed();
    let mut names: Vec<String> = Vec::new();
    let name_of = |ev: &Result<watcher::Event<ConfigMap>, watcher::Error>| match ev {
        Ok(watcher::Event::Apply(o) | watcher::Event::InitApply(o)) => Some(o.name_any()),
        _ => None,
    };
    let _ = next_matching(&mut events, |ev| name_of(ev).is_some_and(|n| n == "a-one")).await;
    let before = e.requests();

    cms.create(&PostParams::default(), &cm("b-two", "2"))
        .await
        .unwrap();
    e.faults().restart();
    cms.create(&PostParams::default(), &cm("c-three", "3"))
        .await
        .unwrap();
    let _ = next_matching(&mut events, |ev| {
        let n = name_of(ev);
        names.extend(n.clone());
        n.is_some_and(|n| n == "c-three")
    })
    .await;
    let after = e.requests();
    assert!(after.watch > before.watch, "the watcher reconnected");
    assert!(
        after.list > before.list,
        "the resumed watch got 410 and the watcher re-listed"
    );
    assert!(
        names.iter().any(|n| n == "b-two"),
        "nothing was lost: {names:?}"
    );
}

#[tokio::test]
async fn streaming_list_watcher_gets_initial_events_then_changes() {
    let (e, client) = start().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    cms.create(&PostParams::default(), &cm("existing", "1"))
        .await
        .unwrap();
    let config = watcher::Config::default().streaming_lists();
    let mut events = watcher(cms.clone(), config).boxed();
    let init = next_matching(&mut events, |ev| {
        matches!(ev, Ok(watcher::Event::InitApply(_)))
    })
    .await
    .unwrap();
    let watcher::Event::InitApply(o) = init else {
        unreachable!()
    };
    assert_eq!(o.name_any(), "existing");
    let _ = next_matching(&mut events, |ev| matches!(ev, Ok(watcher::Event::InitDone))).await;
    cms.create(&PostParams::default(), &cm("later", "1"))
        .await
        .unwrap();
    let ev = next_matching(&mut events, |ev| matches!(ev, Ok(watcher::Event::Apply(_))))
        .await
        .unwrap();
    let watcher::Event::Apply(o) = ev else {
        unreachable!()
    };
    assert_eq!(o.name_any(), "later");
    assert_eq!(
        e.requests().list,
        0,
        "the initial state came through the watch (sendInitialEvents)"
    );
}

#[tokio::test]
async fn selector_watches_see_objects_enter_and_leave() {
    let (_e, client) = start().await;
    let cms: Api<ConfigMap> = Api::default_namespaced(client);
    let list = cms.list(&Default::default()).await.unwrap();
    let rv = list.metadata.resource_version.unwrap();
    let mut stream = cms
        .watch(
            &WatchParams::default().labels("app=x").disable_bookmarks(),
            &rv,
        )
        .await
        .unwrap()
        .boxed();
    let labelled = |app: &str| json!({"metadata": {"labels": {"app": app}}});
    cms.create(&PostParams::default(), &obj(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "s", "labels": {"app": "x"}}})))
        .await
        .unwrap();
    cms.patch("s", &PatchParams::default(), &Patch::Merge(labelled("y")))
        .await
        .unwrap();
    cms.patch(
        "s",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"ignored": "while not matching"}})),
    )
    .await
    .unwrap();
    cms.patch("s", &PatchParams::default(), &Patch::Merge(labelled("x")))
        .await
        .unwrap();
    let mut kinds = Vec::new();
    while kinds.len() < 3 {
        kinds.push(match next_matching(&mut stream, |_| true).await.unwrap() {
            WatchEvent::Added(_) => "ADDED",
            WatchEvent::Modified(_) => "MODIFIED",
            WatchEvent::Deleted(_) => "DELETED",
            other => panic!("unexpected {other:?}"),
        });
    }
    assert_eq!(kinds, ["ADDED", "DELETED", "ADDED"]);
}
