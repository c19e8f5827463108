//! Interrupted and overlapping syncs on the real control plane: whatever a
//! sync applied is found again, however it was stopped. A `plumbline sync`
//! killed (SIGKILL or SIGTERM) at several points, a controller killed
//! mid-reconcile, and two syncs of the same sync running at once with
//! different commits all leave objects the inventory did not record; after
//! a revert, `plan` shows every one of them pruned and the next sync
//! prunes them, so nothing labelled as the sync's is left outside its
//! inventory. Issue #23.

mod binary_support;
mod controller_support;
mod reconcile_support;
mod server_support;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

use controller_support::{is_ready, spec_for, Fixture, KillOnDrop, PATIENCE};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams};
use plumbline::apply::{inventory_store, Cluster, Options, SYNC_LABEL};
use reconcile_support::Repo;
use serde_json::{json, Value};
use server_support::Server;

const INVENTORY_NAMESPACE: &str = "plumbline-system";

/// Objects a sync adds on top of its base, enough that a kill lands while
/// it applies them.
const OBJECTS: usize = 400;

fn config_map(name: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  mode: fast\n")
}

/// A Git repository whose `plumbline.yaml` syncs `deploy/` as sync `name`
/// into `default`, with prune and without the mass-deletion guard (a
/// revert prunes most of what the sync holds), and a base ConfigMap.
fn repository(name: &str) -> Repo {
    let repo = Repo::new();
    let config = format!(
        "apiVersion: plumbline.dev/v1alpha1\nkind: Sync\nmetadata: {{name: {name}}}\n\
         spec:\n  source: {{url: ., path: deploy}}\n  targetNamespace: default\n  \
         prune: true\n  pruneGuard: {{allowMassPrune: true}}\n"
    );
    repo.write("plumbline.yaml", &config)
        .write("deploy/base.yaml", &config_map("base"));
    repo.commit("base");
    repo
}

/// Write `count` ConfigMaps named `prefix-<i>` into `deploy/`.
fn write_objects(repo: &Repo, prefix: &str, count: usize) {
    for i in 0..count {
        repo.write(
            &format!("deploy/{prefix}-{i}.yaml"),
            &config_map(&format!("{prefix}-{i}")),
        );
    }
}

/// Remove the ConfigMaps [`write_objects`] wrote.
fn remove_objects(repo: &Repo, prefix: &str, count: usize) {
    for i in 0..count {
        repo.remove(&format!("deploy/{prefix}-{i}.yaml"));
    }
}

/// `plumbline ARGS --kubeconfig K` in the repository, its caches in the
/// repository's scratch `cache`.
fn plumbline(repo: &Repo, kubeconfig: &Path, cache: &Path, args: &[&str]) -> Command {
    let mut command = binary_support::plumbline_command(args);
    command
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .current_dir(repo.dir.path())
        .env_remove("KUBECONFIG")
        .env("NO_COLOR", "1")
        .env("PLUMBLINE_CACHE_DIR", cache)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    command
}

/// Run a command to its end, from a blocking task.
async fn finish(child: Child) -> Output {
    tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap()
}

/// Both streams of a run, for messages.
fn printed(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// The names of the ConfigMaps in `default` that start with `prefix`.
async fn existing(client: &kube::Client, prefix: &str) -> BTreeSet<String> {
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    config_maps
        .list_metadata(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .filter(|name| name.starts_with(&format!("{prefix}-")))
        .collect()
}

/// Wait until at least `count` ConfigMaps starting with `prefix` exist.
async fn wait_for_applied(client: &kube::Client, prefix: &str, count: usize) {
    let started = Instant::now();
    while existing(client, prefix).await.len() < count {
        assert!(
            started.elapsed() < PATIENCE,
            "fewer than {count} {prefix}-* applied"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Send `signal` (`KILL`, `TERM`) to a process.
fn kill(pid: u32, signal: &str) {
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{signal} {pid}");
}

/// Every object that carries the sync's label is in its stored inventory.
async fn assert_all_recorded(client: &kube::Client, sync: &str) {
    let cluster = Cluster::new(client.clone(), Options::default());
    let stored = inventory_store::load(&cluster, INVENTORY_NAMESPACE, sync)
        .await
        .unwrap();
    let labelled = cluster.labelled(sync).await.unwrap();
    let unrecorded: Vec<String> = labelled
        .keys()
        .filter(|key| !stored.inventory.entries.contains_key(*key))
        .map(ToString::to_string)
        .collect();
    assert!(
        unrecorded.is_empty(),
        "labelled {SYNC_LABEL}={sync} but not in its inventory: {unrecorded:?}"
    );
}

/// The names `plumbline plan -o json` says it prunes.
fn planned_prunes(output: &Output) -> BTreeSet<String> {
    let document: Value = serde_json::from_slice(&output.stdout)
        .unwrap_or_else(|e| panic!("plan -o json: {e}\n{}", printed(output)));
    document["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["action"]["action"] == "prune")
        .map(|o| o["key"]["name"].as_str().unwrap().to_owned())
        .collect()
}

/// A `plumbline sync` killed while it applies, by SIGKILL or SIGTERM, at
/// several points: after a revert, `plan` shows everything it applied
/// pruned, and the next sync prunes it; nothing labelled as the sync's is
/// left outside its inventory.
async fn a_killed_sync_leaves_nothing_a_revert_does_not_prune(server: Server) {
    let client = server.client();
    let repo = repository("killed");
    let scratch = tempfile::TempDir::new().unwrap();
    let kubeconfig = server.kubeconfig_file(scratch.path());
    let cache = scratch.path().join("cache");
    let run = |args: &[&str]| {
        plumbline(&repo, &kubeconfig, &cache, args)
            .output()
            .unwrap()
    };
    let synced = run(&["sync", "."]);
    assert!(synced.status.success(), "{}", printed(&synced));

    for (round, (signal, after)) in [("KILL", 1), ("TERM", 100), ("KILL", 200)]
        .into_iter()
        .enumerate()
    {
        let prefix = format!("round{round}");
        write_objects(&repo, &prefix, OBJECTS);
        let child = plumbline(&repo, &kubeconfig, &cache, &["sync", "."])
            .spawn()
            .unwrap();
        let pid = child.id();
        let mut child = KillOnDrop(Some(child));
        wait_for_applied(&client, &prefix, after).await;
        kill(pid, signal);
        let output = finish(child.0.take().unwrap()).await;
        assert!(!output.status.success(), "{}", printed(&output));
        // Requests already sent may still land.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let applied = existing(&client, &prefix).await;
        assert!(
            applied.len() < OBJECTS,
            "round {round}: the sync finished before SIG{signal}"
        );

        remove_objects(&repo, &prefix, OBJECTS);
        let plan = run(&["plan", ".", "-o", "json"]);
        let prunes = planned_prunes(&plan);
        assert_eq!(
            prunes,
            applied,
            "round {round} (SIG{signal} after {} applied): plan must prune what was applied",
            applied.len()
        );
        let reverted = run(&["sync", "."]);
        assert!(reverted.status.success(), "{}", printed(&reverted));
        assert_eq!(existing(&client, &prefix).await, BTreeSet::new());
        assert_all_recorded(&client, "killed").await;
    }
}

/// Two `plumbline sync` of the same sync with different commits, the
/// second started while the first applies: the one whose inventory write
/// loses says so, and names what happens to what it applied; once the
/// winner syncs again, none of the loser's objects are left.
async fn overlapping_syncs_leave_nothing_of_the_loser_once_the_winner_syncs_again(server: Server) {
    overlapping_syncs(server, false).await;
}

/// The same with both started at once: whichever marks the inventory
/// second applies nothing and says so, or, if it read the inventory after
/// the other marked it, loses at its final write as above.
async fn syncs_started_at_once_leave_nothing_of_the_loser(server: Server) {
    overlapping_syncs(server, true).await;
}

/// A sync of commit `first` (new ConfigMaps) and one of commit `second`
/// (50 others), started `together` or the second once the first applied
/// something (then the first has 1,500, so that it still applies while the
/// second finds what it applied so far, applies and records).
async fn overlapping_syncs(server: Server, together: bool) {
    let client = server.client();
    let repo = repository("overlap");
    let first_objects = if together { OBJECTS } else { 1500 };
    write_objects(&repo, "first", first_objects);
    repo.git(&["checkout", "-q", "-b", "first"]);
    repo.commit("the first commit");
    repo.git(&["checkout", "-q", "main"]);
    write_objects(&repo, "second", 50);
    repo.git(&["checkout", "-q", "-b", "second"]);
    repo.commit("the second commit");
    repo.git(&["checkout", "-q", "main"]);
    let scratch = tempfile::TempDir::new().unwrap();
    let kubeconfig = server.kubeconfig_file(scratch.path());
    // Each run has its own caches, as on two machines.
    let sync = |reference: &str| {
        let cache = scratch.path().join(format!("cache-{reference}"));
        plumbline(
            &repo,
            &kubeconfig,
            &cache,
            &["sync", ".", "--ref", reference],
        )
    };
    let synced = sync("main").output().unwrap();
    assert!(synced.status.success(), "{}", printed(&synced));

    let mut first = KillOnDrop(Some(sync("first").spawn().unwrap()));
    if !together {
        wait_for_applied(&client, "first", 1).await;
    }
    let second = sync("second").output().unwrap();
    let first = finish(first.0.take().unwrap()).await;
    let (winner, loser, loser_output) = match (first.status.success(), second.status.success()) {
        (false, true) => ("second", "first", first),
        (true, false) => ("first", "second", second),
        _ => panic!(
            "exactly one sync should win:\nfirst:\n{}\nsecond:\n{}",
            printed(&first),
            printed(&second)
        ),
    };
    let again = sync(winner).output().unwrap();
    assert!(again.status.success(), "{}", printed(&again));
    assert_eq!(existing(&client, loser).await, BTreeSet::new());
    assert!(!existing(&client, winner).await.is_empty());
    assert_all_recorded(&client, "overlap").await;
    let said = printed(&loser_output);
    let told = [
        "nothing was applied",
        "the next sync finds it by the sync's label",
    ];
    assert!(
        said.contains("changed by another sync of it") && told.iter().any(|t| said.contains(t)),
        "the loser ({loser}) must say what happened:\n{said}"
    );
}

/// A controller killed while it applies a large commit, then a revert in
/// Git and a new controller: the SyncUnit becomes Ready at the revert with
/// nothing of the large commit left, and nothing labelled as the sync's
/// outside its inventory. Killed at two points.
async fn a_controller_killed_mid_reconcile_prunes_after_a_revert_and_a_restart(server: Server) {
    let fixture = Fixture::on(server).await;
    let client = fixture.client();
    let repo = &fixture.world.repo;
    repo.write("app/base.yaml", &config_map("base"));
    repo.commit("base");
    let kubeconfig = fixture
        .world
        .server
        .kubeconfig_file(fixture.world.scratch.path());
    let spec = spec_for(
        &repo.url(),
        "app",
        json!({"targetNamespace": "default", "pruneGuard": {"allowMassPrune": true}}),
    );
    let running = fixture.start();
    fixture.put_sync_unit("team", "shop", spec).await;
    fixture
        .wait_for_unit("team", "shop", "Ready at the base", is_ready)
        .await;
    running.stop().await;
    let sync = "team.shop";

    for (round, after) in [1, 150].into_iter().enumerate() {
        let prefix = format!("round{round}");
        for i in 0..OBJECTS {
            let name = format!("{prefix}-{i}");
            repo.write(&format!("app/{name}.yaml"), &config_map(&name));
        }
        repo.commit("many objects");
        let binary = std::env::var("PLUMBLINE_BIN")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_plumbline").to_owned());
        let child = Command::new(binary)
            .arg("controller")
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .arg("--cache-dir")
            .arg(fixture.world.scratch.path().join(format!("cache-{round}")))
            .args(["--listen", "127.0.0.1:0", "--identity", "killed-replica"])
            .arg("--allow-file-urls")
            .env("POD_NAMESPACE", "plumbline-system")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let pid = child.id();
        let mut child = KillOnDrop(Some(child));
        wait_for_applied(&client, &prefix, after).await;
        kill(pid, "KILL");
        finish(child.0.take().unwrap()).await;
        let applied = existing(&client, &prefix).await;
        assert!(
            applied.len() < OBJECTS,
            "round {round}: the reconcile finished before the kill"
        );

        for i in 0..OBJECTS {
            repo.remove(&format!("app/{prefix}-{i}.yaml"));
        }
        repo.commit("revert");
        let revert = git_head(repo);
        let restarted = fixture.start();
        fixture
            .wait_for_unit("team", "shop", "Ready at the revert", |unit| {
                is_ready(unit)
                    && unit
                        .status
                        .as_ref()
                        .and_then(|s| s.last_applied_revision.as_deref())
                        .is_some_and(|r| r.contains(&revert))
            })
            .await;
        restarted.stop().await;
        assert_eq!(
            existing(&client, &prefix).await,
            BTreeSet::new(),
            "round {round}: {} applied before the kill",
            applied.len()
        );
        assert_all_recorded(&client, sync).await;
    }
}

/// The commit the repository's `main` is at.
fn git_head(repo: &Repo) -> String {
    let output = Command::new("git")
        .args(["rev-parse", "HEAD"])
        .current_dir(repo.dir.path())
        .output()
        .unwrap();
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

on_real_server!(
    a_killed_sync_leaves_nothing_a_revert_does_not_prune,
    overlapping_syncs_leave_nothing_of_the_loser_once_the_winner_syncs_again,
    syncs_started_at_once_leave_nothing_of_the_loser,
    a_controller_killed_mid_reconcile_prunes_after_a_revert_and_a_restart,
);
