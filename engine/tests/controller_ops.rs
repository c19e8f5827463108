//! The controller's operational parts against real counterparts: leader
//! election with Leases, sharding of sync units, `plumbline install`, the
//! controller process — on the real control plane and the emulator (the
//! renewal-failure story injects faults: emulator only) — and the HTTP
//! endpoints over real TCP (webhook signatures, probes, metrics after a real
//! reconcile).

mod binary_support;
mod controller_support;
mod reconcile_support;
mod server_support;

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::Duration;

use binary_support::run_in_repo as plumbline;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, Patch, PatchParams};
use kube_emulator::Fault;
use plumbline::controller::http::{self, State, Webhook};
use plumbline::controller::leader::{Elector, Options};
use plumbline::controller::metrics::Metrics;
use plumbline::controller::shard::Shard;
use plumbline::controller::webhook::{self, GitPush};
use plumbline::source::GitRef;
use reconcile_support::{all_roles_policy, World};
use server_support::Server as ApiServer;
use tokio::sync::{mpsc, oneshot, watch};

/// Long enough for anything that must happen; the tests wait for events,
/// not for durations.
const PATIENCE: Duration = Duration::from_secs(60);

// --- leader election ---

fn election(identity: &str) -> Options {
    Options {
        lease_duration: Duration::from_secs(2),
        renew_deadline: Duration::from_millis(1500),
        retry_period: Duration::from_millis(100),
        ..Options::new("default", "plumbline-controller", identity)
    }
}

async fn until(receiver: &mut watch::Receiver<bool>, leading: bool) {
    tokio::time::timeout(PATIENCE, receiver.wait_for(|l| *l == leading))
        .await
        .expect("leadership did not change in time")
        .expect("the elector stopped");
}

async fn lease(server: &ApiServer) -> Lease {
    Api::<Lease>::namespaced(server.client(), "default")
        .get("plumbline-controller")
        .await
        .unwrap()
}

fn holder(lease: &Lease) -> Option<String> {
    lease.spec.as_ref().unwrap().holder_identity.clone()
}

fn transitions(lease: &Lease) -> i32 {
    lease.spec.as_ref().unwrap().lease_transitions.unwrap()
}

async fn the_standby_takes_over_when_the_leaders_lease_expires(api: ApiServer) {
    let server = api;
    let (mut a_leads, a_task) =
        Elector::new(server.client(), election("a")).spawn(std::future::pending());
    until(&mut a_leads, true).await;
    assert_eq!(holder(&lease(&server).await).as_deref(), Some("a"));

    // While a renews, b is refused at every attempt.
    let mut b = Elector::new(server.client(), election("b"));
    for _ in 0..5 {
        assert!(!b.try_acquire_or_renew().await.unwrap());
    }

    // a dies without releasing: its Lease stays, unrenewed, until expiry.
    a_task.abort();
    let _ = a_task.await;
    assert_eq!(holder(&lease(&server).await).as_deref(), Some("a"));
    let (mut b_leads, _b_task) = b.spawn(std::future::pending());
    until(&mut b_leads, true).await;

    let taken = lease(&server).await;
    assert_eq!(holder(&taken).as_deref(), Some("b"));
    assert_eq!(transitions(&taken), 1);
}

async fn a_leader_that_shuts_down_releases_the_lease_to_the_standby(api: ApiServer) {
    let server = api;
    let (stop_a, a_stopped) = oneshot::channel::<()>();
    let (mut a_leads, a_task) = Elector::new(server.client(), election("a")).spawn(async move {
        let _ = a_stopped.await;
    });
    until(&mut a_leads, true).await;
    let mut b = Elector::new(server.client(), election("b"));
    assert!(!b.try_acquire_or_renew().await.unwrap());

    stop_a.send(()).unwrap();
    a_task.await.unwrap();
    assert!(!*a_leads.borrow(), "a still claims to lead after shutdown");
    assert_eq!(holder(&lease(&server).await), None, "a did not release");
    // No waiting for expiry: b, which saw a's record a moment ago, takes
    // the released Lease at its very next attempt.
    assert!(b.try_acquire_or_renew().await.unwrap());
    let taken = lease(&server).await;
    assert_eq!(holder(&taken).as_deref(), Some("b"));
    assert_eq!(transitions(&taken), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_that_cannot_renew_stops_leading_and_recovers() {
    let server = ApiServer::emulator().await;
    let (mut leads, _task) =
        Elector::new(server.client(), election("a")).spawn(std::future::pending());
    until(&mut leads, true).await;

    // The API server fails every request: after the renew deadline the
    // leader must stop leading on its own.
    server
        .emulator_handle()
        .faults()
        .inject(Fault::InternalError, u32::MAX);
    until(&mut leads, false).await;

    server.emulator_handle().faults().clear();
    until(&mut leads, true).await;
    assert_eq!(holder(&lease(&server).await).as_deref(), Some("a"));
}

// --- sharding ---

fn unit_meta(index: usize) -> ObjectMeta {
    ObjectMeta {
        namespace: Some(format!("team-{}", index % 7)),
        name: Some(format!("app-{index}")),
        ..ObjectMeta::default()
    }
}

#[test]
fn hash_shards_split_sync_units_without_overlap_or_gap() {
    let units: Vec<ObjectMeta> = (0..100).map(unit_meta).collect();
    for count in [2u32, 3, 5] {
        let shards: Vec<Shard> = (0..count)
            .map(|index| Shard::Hash { index, count })
            .collect();
        let mut sizes = vec![0usize; count as usize];
        for unit in &units {
            let owners: Vec<usize> = shards
                .iter()
                .enumerate()
                .filter(|(_, shard)| shard.owns(unit))
                .map(|(i, _)| i)
                .collect();
            assert_eq!(owners.len(), 1, "{unit:?} is owned by shards {owners:?}");
            sizes[owners[0]] += 1;
        }
        // Every replica gets a real share (the hash spreads).
        let fair = 100 / count as usize;
        for size in &sizes {
            assert!(*size >= fair / 2, "{count} shards: sizes {sizes:?}");
        }
    }
}

#[test]
fn label_shards_split_by_value_and_leave_unlabelled_units_to_no_one() {
    let a: Shard = "label:plumbline.dev/shard=a".parse().unwrap();
    let b: Shard = "label:plumbline.dev/shard=b".parse().unwrap();
    let mut owned = [0, 0];
    for index in 0..100 {
        let mut meta = unit_meta(index);
        let value = if index % 4 == 0 { "a" } else { "b" };
        meta.labels = Some([("plumbline.dev/shard".to_owned(), value.to_owned())].into());
        assert!(a.owns(&meta) != b.owns(&meta), "{meta:?}");
        owned[usize::from(b.owns(&meta))] += 1;
    }
    assert_eq!(owned, [25, 75]);
    assert!(!a.owns(&unit_meta(1)) && !b.owns(&unit_meta(1)));
}

async fn two_runners_on_two_shards_each_reconcile_only_their_own(api: ApiServer) {
    let fixture = controller_support::Fixture::on(api).await;
    let repo = &fixture.world.repo;
    let names: Vec<String> = (0..12).map(|i| format!("unit-{i}")).collect();
    for name in &names {
        repo.write(
            &format!("apps/{name}/config.yaml"),
            &format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\ndata:\n  owner: {name}\n"),
        );
    }
    repo.commit("twelve apps");
    let shards = [
        Shard::Hash { index: 0, count: 2 },
        Shard::Hash { index: 1, count: 2 },
    ];
    let runners: Vec<_> = shards
        .iter()
        .enumerate()
        .map(|(index, shard)| {
            fixture.start_with(|options| {
                options.shard = shard.clone();
                options.instance = Some(format!("replica-{index}"));
            })
        })
        .collect();
    for name in &names {
        let spec = controller_support::spec_for(
            &repo.url(),
            &format!("apps/{name}"),
            serde_json::json!({}),
        );
        fixture.put_sync_unit("shop", name, spec).await;
    }
    for name in &names {
        fixture
            .wait_for_unit("shop", name, "Ready", controller_support::is_ready)
            .await;
    }

    // Every SyncUnit's Events come from the one replica whose shard owns it.
    let events: Api<k8s_openapi::api::events::v1::Event> =
        Api::namespaced(fixture.client(), "shop");
    let events = events.list(&Default::default()).await.unwrap().items;
    let mut owned = [0usize; 2];
    for name in &names {
        let meta = ObjectMeta {
            namespace: Some("shop".into()),
            name: Some(name.clone()),
            ..ObjectMeta::default()
        };
        let owner = shards.iter().position(|s| s.owns(&meta)).unwrap();
        owned[owner] += 1;
        let reporters: Vec<&str> = events
            .iter()
            .filter(|e| e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(name))
            .filter_map(|e| e.reporting_instance.as_deref())
            .collect();
        assert!(!reporters.is_empty(), "no Events about {name}");
        let expected = format!("replica-{owner}");
        assert!(
            reporters.iter().all(|r| *r == expected),
            "{name} belongs to {expected}, Events came from {reporters:?}"
        );
    }
    assert!(owned[0] > 0 && owned[1] > 0, "a one-sided split: {owned:?}");
    for (index, runner) in runners.iter().enumerate() {
        assert!(
            runner.reconciles("synced") >= owned[index] as u64,
            "replica-{index} reconciled fewer units than it owns"
        );
    }
    for runner in runners {
        runner.stop().await;
    }
}

// --- HTTP endpoints ---

/// One HTTP/1.1 request over a fresh TCP connection; the status code and
/// the body.
async fn request(
    address: std::net::SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    let mut text = format!(
        "{method} {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (name, value) in headers {
        text.push_str(&format!("{name}: {value}\r\n"));
    }
    text.push_str("\r\n");
    let mut bytes = text.into_bytes();
    bytes.extend_from_slice(body);
    tokio::task::spawn_blocking(move || {
        let mut stream = std::net::TcpStream::connect(address).unwrap();
        stream.set_read_timeout(Some(PATIENCE)).unwrap();
        stream.write_all(&bytes).unwrap();
        let mut response = String::new();
        stream.read_to_string(&mut response).unwrap();
        let (head, body) = response.split_once("\r\n\r\n").unwrap();
        let status = head.split(' ').nth(1).unwrap().parse().unwrap();
        (status, body.to_owned())
    })
    .await
    .unwrap()
}

struct Server {
    address: std::net::SocketAddr,
    metrics: Arc<Metrics>,
    ready: watch::Sender<bool>,
    pushes: mpsc::Receiver<GitPush>,
    _stop: oneshot::Sender<()>,
}

async fn server(secret: Option<&str>) -> Server {
    let listener = http::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let metrics = Arc::new(Metrics::new());
    let (ready, ready_rx) = watch::channel(false);
    let (push_tx, pushes) = mpsc::channel(8);
    let (stop, stopped) = oneshot::channel::<()>();
    let state = State {
        metrics: Arc::clone(&metrics),
        ready: ready_rx,
        webhook: secret.map(|secret| Webhook {
            secret: secret.as_bytes().to_vec(),
            pushes: push_tx,
        }),
    };
    tokio::spawn(http::serve(listener, state, async move {
        let _ = stopped.await;
    }));
    Server {
        address,
        metrics,
        ready,
        pushes,
        _stop: stop,
    }
}

const PUSH: &str = r#"{"ref":"refs/heads/main","after":"9f2c1e0","repository":{"full_name":"shop/app",
"clone_url":"https://git.example.com/shop/app.git","ssh_url":"git@git.example.com:shop/app.git"}}"#;

#[tokio::test]
async fn a_correctly_signed_push_triggers_and_a_bad_signature_is_refused() {
    let mut server = server(Some("hook-secret")).await;
    let good = webhook::sign(b"hook-secret", PUSH.as_bytes());
    let (status, _) = request(
        server.address,
        "POST",
        "/hooks/git",
        &[
            ("X-GitHub-Event", "push"),
            ("X-Hub-Signature-256", &good),
            ("Content-Type", "application/json"),
        ],
        PUSH.as_bytes(),
    )
    .await;
    assert_eq!(status, 202);
    let push = server
        .pushes
        .try_recv()
        .expect("the push reached the runner");
    assert_eq!(push.reference, "refs/heads/main");
    assert_eq!(push.after.as_deref(), Some("9f2c1e0"));
    assert!(push.affects(
        "ssh://git@git.example.com/shop/app",
        &GitRef::Branch("main".into())
    ));

    // Signed with another secret, unsigned, or a tampered body: 401 and
    // nothing reaches the runner.
    let wrong = webhook::sign(b"guess", PUSH.as_bytes());
    let tampered = PUSH.replace("main", "prod");
    for (signature, body) in [
        (Some(wrong.as_str()), PUSH),
        (None, PUSH),
        (Some(good.as_str()), tampered.as_str()),
    ] {
        let mut headers = vec![("X-GitHub-Event", "push")];
        if let Some(signature) = signature {
            headers.push(("X-Hub-Signature-256", signature));
        }
        let (status, text) = request(
            server.address,
            "POST",
            "/hooks/git",
            &headers,
            body.as_bytes(),
        )
        .await;
        assert_eq!(status, 401, "{text}");
    }
    assert!(
        server.pushes.try_recv().is_err(),
        "a refused delivery triggered"
    );

    // A signed ping (sent when the hook is created) is fine but triggers
    // nothing.
    let ping = br#"{"zen":"Design for failure."}"#;
    let signature = webhook::sign(b"hook-secret", ping);
    let (status, _) = request(
        server.address,
        "POST",
        "/hooks/git",
        &[
            ("X-GitHub-Event", "ping"),
            ("X-Hub-Signature-256", &signature),
        ],
        ping,
    )
    .await;
    assert_eq!(status, 200);
    assert!(server.pushes.try_recv().is_err());

    let (_, metrics) = request(server.address, "GET", "/metrics", &[], b"").await;
    for line in [
        "plumbline_webhook_deliveries_total{outcome=\"accepted\"} 1",
        "plumbline_webhook_deliveries_total{outcome=\"bad_signature\"} 3",
        "plumbline_webhook_deliveries_total{outcome=\"ignored\"} 1",
    ] {
        assert!(metrics.contains(line), "missing {line:?} in\n{metrics}");
    }
}

#[tokio::test]
async fn without_a_secret_the_webhook_is_off() {
    let server = server(None).await;
    let signature = webhook::sign(b"", PUSH.as_bytes());
    let (status, _) = request(
        server.address,
        "POST",
        "/hooks/git",
        &[("X-Hub-Signature-256", &signature)],
        PUSH.as_bytes(),
    )
    .await;
    assert_eq!(status, 404);
}

#[tokio::test]
async fn probes_answer_liveness_and_readiness() {
    let server = server(None).await;
    assert_eq!(
        request(server.address, "GET", "/healthz", &[], b"").await.0,
        200
    );
    assert_eq!(
        request(server.address, "GET", "/readyz", &[], b"").await.0,
        503
    );
    server.ready.send_replace(true);
    assert_eq!(
        request(server.address, "GET", "/readyz", &[], b"").await.0,
        200
    );
    assert_eq!(
        request(server.address, "GET", "/nothing", &[], b"").await.0,
        404
    );
    assert_eq!(
        request(server.address, "POST", "/metrics", &[], b"")
            .await
            .0,
        405
    );
}

async fn metrics_after_real_reconciles(api: ApiServer) {
    let world = World::on(api);
    world
        .repo
        .write(
            "namespace.yaml",
            "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n",
        )
        .write(
            "config.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  mode: fast\n",
        )
        .commit("shop");
    let unit = world.unit(&all_roles_policy("reapply"));
    let server = server(None).await;

    let started = std::time::Instant::now();
    let report = world.reconcile(&unit).await;
    server.metrics.record_reconcile(&report, started.elapsed());
    assert!(report.errors.is_empty(), "{:?}", report.errors);

    // Someone edits the ConfigMap; the next reconcile reapplies it.
    Api::<ConfigMap>::namespaced(world.client(), "shop")
        .patch(
            "settings",
            &PatchParams {
                field_manager: Some("kubectl-edit".into()),
                ..PatchParams::default()
            },
            &Patch::Merge(serde_json::json!({"data": {"mode": "slow"}})),
        )
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let report = world.reconcile(&unit).await;
    server.metrics.record_reconcile(&report, started.elapsed());
    assert!(report.errors.is_empty(), "{:?}", report.errors);

    let (status, text) = request(server.address, "GET", "/metrics", &[], b"").await;
    assert_eq!(status, 200);
    for line in [
        "plumbline_reconcile_duration_seconds_count{result=\"synced\"} 2",
        "plumbline_reconcile_duration_seconds_count{result=\"failed\"} 0",
        "plumbline_objects_applied_total 3",
        "plumbline_objects_pruned_total 0",
        "plumbline_drift_events_total{decision=\"reapply\"} 1",
        "plumbline_drift_events_total{decision=\"ignore\"} 0",
        "plumbline_git_fetch_duration_seconds_count 2",
        "# EOF",
    ] {
        assert!(text.contains(line), "missing {line:?} in\n{text}");
    }
    for role in ["validator", "transformer", "remediator"] {
        let series = format!(",role=\"{role}\"}} ");
        assert!(
            text.lines().any(|l| l
                .starts_with("plumbline_policy_evaluation_duration_seconds_count{policy=")
                && l.contains(&series)),
            "no {role} timing in\n{text}"
        );
    }
}

// --- install ---

#[test]
fn the_committed_deploy_manifests_are_what_install_prints() {
    let printed = plumbline(&["install", "--print"]);
    assert!(printed.status.success(), "{printed:?}");
    let committed =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/deploy/plumbline.yaml");
    let committed = std::fs::read_to_string(&committed).unwrap();
    assert!(
        committed == String::from_utf8(printed.stdout).unwrap(),
        "examples/deploy/plumbline.yaml is stale: regenerate it with \
         `plumbline install --print > examples/deploy/plumbline.yaml`"
    );
}

async fn install_applies_everything_and_the_api_serves_sync_units(api: ApiServer) {
    let dir = tempfile::TempDir::new().unwrap();
    let kubeconfig = api.kubeconfig_file(dir.path());
    let path = kubeconfig.to_str().unwrap().to_owned();
    let output = tokio::task::spawn_blocking(move || {
        plumbline(&[
            "install",
            "--kubeconfig",
            &path,
            "--shards",
            "2",
            "--webhook",
        ])
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    for line in [
        "applied CustomResourceDefinition.apiextensions.k8s.io syncunits.plumbline.dev",
        "applied Deployment.apps plumbline-system/plumbline-controller-1",
        "applied Service plumbline-system/plumbline-controller-1",
    ] {
        assert!(stdout.contains(line), "missing {line:?} in\n{stdout}");
    }

    let client = api.client();
    let units: Api<plumbline::controller::crd::SyncUnit> = Api::all(client.clone());
    assert!(units
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .is_empty());
    let deployments: Api<k8s_openapi::api::apps::v1::Deployment> =
        Api::namespaced(client, "plumbline-system");
    let shard1 = deployments.get("plumbline-controller-1").await.unwrap();
    let shard1 = serde_json::to_value(shard1).unwrap();
    let args: Vec<String> =
        serde_json::from_value(shard1["spec"]["template"]["spec"]["containers"][0]["args"].clone())
            .unwrap();
    assert!(args.contains(&"--shard=hash:1/2".to_owned()), "{args:?}");
    assert!(
        args.contains(&"--webhook-secret-file=/etc/plumbline/webhook/secret".to_owned()),
        "{args:?}"
    );
}

// --- the `plumbline controller` process ---

/// A free loopback port (bound, then released for the child to bind).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

async fn wait_http(address: std::net::SocketAddr, path: &str, want: impl Fn(u16, &str) -> bool) {
    tokio::time::timeout(PATIENCE, async {
        loop {
            let reachable = std::net::TcpStream::connect(address).is_ok();
            if reachable {
                let (status, body) = request(address, "GET", path, &[], b"").await;
                if want(status, &body) {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{path} never answered as expected"));
}

/// Wait until the child answers `/readyz` with 200 on `address`; false if
/// it exited first (it could not bind the port).
async fn serves_readyz(
    child: &mut controller_support::KillOnDrop,
    address: std::net::SocketAddr,
) -> bool {
    let started = std::time::Instant::now();
    loop {
        let process = child.0.as_mut().unwrap();
        if process.try_wait().unwrap().is_some() {
            return false;
        }
        if std::net::TcpStream::connect(address).is_ok()
            && request(address, "GET", "/readyz", &[], b"").await.0 == 200
        {
            // Answered while the child runs: it holds the port.
            return process.try_wait().unwrap().is_none();
        }
        assert!(started.elapsed() < PATIENCE, "/readyz never answered");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn the_controller_process_leads_serves_metrics_and_releases_on_sigterm(api: ApiServer) {
    let fixture = controller_support::Fixture::on(api).await;
    fixture.ensure_namespace("plumbline-system").await;
    let dir = tempfile::TempDir::new().unwrap();
    let kubeconfig = fixture.world.server.kubeconfig_file(dir.path());
    // The command cannot report the port it bound, so a free port is
    // picked and released first; should something else take it meanwhile,
    // the child fails to bind and exits, and another port is tried.
    let mut attempts = 0;
    let (mut child, address) = loop {
        attempts += 1;
        let address: std::net::SocketAddr = format!("127.0.0.1:{}", free_port()).parse().unwrap();
        let child = std::process::Command::new(env!("CARGO_BIN_EXE_plumbline"))
            .args(["controller", "--leader-elect", "--identity", "pod-a"])
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .arg("--cache-dir")
            .arg(dir.path().join("cache"))
            .arg("--listen")
            .arg(address.to_string())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut child = controller_support::KillOnDrop(Some(child));
        if serves_readyz(&mut child, address).await {
            break (child, address);
        }
        assert!(attempts < 5, "the controller never served /readyz");
    };
    wait_http(address, "/metrics", |_, body| {
        body.contains("plumbline_leader 1")
    })
    .await;
    assert_eq!(request(address, "GET", "/healthz", &[], b"").await.0, 200);
    let leases: Api<Lease> = Api::namespaced(fixture.client(), "plumbline-system");
    let held = leases.get("plumbline-controller").await.unwrap();
    assert_eq!(holder(&held).as_deref(), Some("pod-a"));

    let mut process = child.0.take().unwrap();
    let term = std::process::Command::new("kill")
        .args(["-TERM", &process.id().to_string()])
        .status()
        .unwrap();
    assert!(term.success());
    let status = tokio::task::spawn_blocking(move || process.wait().unwrap())
        .await
        .unwrap();
    assert!(status.success(), "exit status {status:?} after SIGTERM");
    let released = leases.get("plumbline-controller").await.unwrap();
    assert_eq!(holder(&released), None, "the Lease was not released");
}

on_both_servers!(
    the_standby_takes_over_when_the_leaders_lease_expires,
    a_leader_that_shuts_down_releases_the_lease_to_the_standby,
    two_runners_on_two_shards_each_reconcile_only_their_own,
    metrics_after_real_reconciles,
    install_applies_everything_and_the_api_serves_sync_units,
    the_controller_process_leads_serves_metrics_and_releases_on_sigterm,
);
