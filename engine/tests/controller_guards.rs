//! What a tenant or a sick server cannot make the controller do: read the
//! controller's own files through `file://` URLs (unless it runs with
//! `--allow-file-urls`), hang a reconcile on a module server that never
//! answers or sends too much, or keep a replica leading while its Lease
//! renewals hang. Against the Kubernetes API emulation and real loopback
//! TCP servers.

mod controller_support;
mod reconcile_support;
mod server_support;

use std::time::Duration;

use controller_support::{condition, ready, spec_for, Fixture, PATIENCE};
use kube_emulator::Emulator;
use plumbline::controller::crd::SyncUnit;
use plumbline::controller::leader::{self, Elector};
use plumbline::controller::sync_unit::{self, Access, Resolver};
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::watch;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_urls_are_refused_with_a_status_reason_unless_allowed() {
    let fixture = Fixture::new().await;
    let running = fixture.start_with(|options| options.access = Access::default());

    // A source in the controller's file system (the fixture's repository,
    // which the other tests sync with file URLs allowed).
    let url = fixture.world.repo.url();
    fixture
        .put_sync_unit("team", "shop", spec_for(&url, "app", json!({})))
        .await;
    // A module that is a file of the controller's.
    let mut spec = spec_for("https://git.example.com/tools.git", "app", json!({}));
    spec["policies"] = json!([{"name": "peek", "module": {
        "url": "file:///etc/hostname", "sha256": "0".repeat(64),
    }}]);
    fixture.put_sync_unit("team", "tools", spec).await;

    for (name, named) in [
        ("shop", format!("spec.source.url {url:?}")),
        (
            "tools",
            "policy \"peek\": module url \"file:///etc/hostname\"".to_owned(),
        ),
    ] {
        let unit = fixture
            .wait_for_unit("team", name, "refused", |u| {
                ready(u).is_some_and(|(_, reason)| reason == "FileUrlRefused")
            })
            .await;
        assert_eq!(ready(&unit).unwrap().0, "False");
        // Not retryable: the SyncUnit must change.
        assert_eq!(condition(&unit, "Stalled").unwrap().0, "True");
        let message = message(&unit);
        assert!(message.contains(&named), "{name}: {message}");
        assert!(message.contains("--allow-file-urls"), "{name}: {message}");
    }
    running.stop().await;
}

fn message(unit: &SyncUnit) -> String {
    let status = unit.status.as_ref().unwrap();
    let ready = status.conditions.iter().find(|c| c.type_ == "Ready");
    ready.unwrap().message.clone()
}

/// A SyncUnit whose only policy is downloaded from `url`.
fn unit_with_module(url: &str) -> SyncUnit {
    serde_json::from_value(json!({
        "apiVersion": "plumbline.dev/v1alpha1", "kind": "SyncUnit",
        "metadata": {"name": "shop", "namespace": "team"},
        "spec": {
            "source": {"url": "https://git.example.com/shop.git"},
            "policies": [{"name": "remote", "module": {"url": url, "sha256": "0".repeat(64)}}],
        },
    }))
    .unwrap()
}

async fn resolve(fixture: &Fixture, access: &Access, url: &str) -> sync_unit::Error {
    let client = fixture.client();
    let cache = fixture.world.scratch.path().join("resolver");
    let resolver = Resolver {
        client: &client,
        host: &fixture.world.host,
        cache_dir: &cache,
        inventory_namespace: "plumbline-system",
        access,
    };
    tokio::time::timeout(
        PATIENCE,
        resolver.resolve(&unit_with_module(url), &[], None),
    )
    .await
    .expect("the download never gave up")
    .expect_err("nothing valid was served")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_module_server_that_never_answers_times_out() {
    let fixture = Fixture::new().await;
    // Accepts connections and holds them open without a byte of answer.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let mut held = Vec::new();
        loop {
            let (socket, _) = listener.accept().await.unwrap();
            held.push(socket);
        }
    });
    let access = Access::default().with_download_limits(Duration::from_millis(300), 1 << 20);
    let url = format!("http://{address}/policy.wasm");
    let error = resolve(&fixture, &access, &url).await;
    assert_eq!(error.reason(), "ModuleDownloadFailed");
    assert!(error.is_retryable());
    let text = error.to_string();
    assert!(
        text.contains(&url) && text.contains("no complete answer within 300ms"),
        "{text}"
    );
    server.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_module_larger_than_the_limit_is_not_read_to_the_end() {
    let fixture = Fixture::new().await;
    // Answers every request with an endless body of unknown length.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (sent_tx, sent) = watch::channel(0usize);
    let server = tokio::spawn(async move {
        let (mut socket, _) = listener.accept().await.unwrap();
        let mut request = Vec::new();
        while !request.ends_with(b"\r\n\r\n") {
            request.push(socket.read_u8().await.unwrap());
        }
        socket
            .write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
            .await
            .unwrap();
        let chunk = vec![0u8; 64 << 10];
        while socket.write_all(&chunk).await.is_ok() {
            sent_tx.send_modify(|n| *n += chunk.len());
        }
    });
    let access = Access::default().with_download_limits(PATIENCE, 1 << 20);
    let url = format!("http://{address}/policy.wasm");
    let error = resolve(&fixture, &access, &url).await;
    assert_eq!(error.reason(), "ModuleDownloadFailed");
    let text = error.to_string();
    assert!(
        text.contains("larger than the limit of 1048576 bytes"),
        "{text}"
    );
    // The client hung up instead of reading on: the server got stuck far
    // short of an endless body (socket buffers hold a few MiB at most).
    tokio::time::timeout(PATIENCE, server)
        .await
        .expect("the server was never cut off")
        .unwrap();
    assert!(*sent.borrow() < 64 << 20, "{} bytes sent", *sent.borrow());
}

async fn until(receiver: &mut watch::Receiver<bool>, leading: bool) {
    tokio::time::timeout(PATIENCE, receiver.wait_for(|l| *l == leading))
        .await
        .unwrap_or_else(|_| panic!("leading never became {leading}"))
        .expect("the elector stopped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_whose_renewals_hang_steps_down_at_the_renew_deadline() {
    let emulator = Emulator::start().await.unwrap();
    let options = leader::Options {
        lease_duration: Duration::from_secs(2),
        renew_deadline: Duration::from_millis(1500),
        retry_period: Duration::from_millis(100),
        ..leader::Options::new("default", "plumbline-controller", "a")
    };
    let (mut leads, task) =
        Elector::new(emulator.client().unwrap(), options).spawn(std::future::pending());
    until(&mut leads, true).await;

    // Every request now waits far longer than the test: a renewal that is
    // never abandoned would keep `a` leading.
    emulator.faults().set_latency(Duration::from_secs(3600));
    until(&mut leads, false).await;

    // Once the API server answers again, `a` leads again.
    emulator.faults().clear();
    until(&mut leads, true).await;
    task.abort();
}
