//! Cosign signatures of OCI artifacts, end to end: keys made by `openssl`,
//! signatures written by `plumbline sign` (and forged in the tests, as an
//! attacker who can push would), a real registry (`tests/registry`), the
//! `plumbline` binary, the independent oras-py client and `openssl` as
//! oracles of cosign's format, and the real API server. Issue #27.

mod binary_support;
mod chart_support;
mod cli_support;
mod cosign_support;
mod server_support;
mod source_support;

use std::path::Path;
use std::process::Command;

use binary_support::oras;
use cli_support::{plumbline_cached_async, plumbline_cached_in, Run};
use cosign_support::{put_signature, signature_layers, tampered, KeyPair};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;
use plumbline::oci::ArtifactRef;
use registry::{Options, Registry};
use server_support::Server;

fn registry() -> Option<Registry> {
    Registry::start_or_skip(Options::default())
}

/// `plumbline ARGS -o json` that must exit 0, parsed.
fn json(cache: &Path, dir: &Path, args: &[&str]) -> serde_json::Value {
    let mut args = args.to_vec();
    args.extend(["-o", "json"]);
    let run = plumbline_cached_in(cache, dir, &args).expect(0);
    serde_json::from_str(&run.stdout).unwrap()
}

/// `plumbline sign --key KEY REFERENCE --insecure`; the signed digest.
fn sign(dir: &Path, command: &[&str], key: &KeyPair, reference: &str) -> String {
    let mut args = command.to_vec();
    let key = key.private.display().to_string();
    args.extend(["--key", &key, reference, "--insecure"]);
    let report = json(dir, dir, &args);
    report["digest"].as_str().unwrap().to_owned()
}

/// One ConfigMap per name, with `mode` in its data.
fn manifests(dir: &Path, names: &[&str], mode: &str) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).unwrap();
    for name in names {
        std::fs::write(
            dir.join(format!("{name}.yaml")),
            format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\ndata: {{mode: {mode}}}\n"),
        )
        .unwrap();
    }
}

/// `plumbline push DIR REFERENCE`; the digest.
fn push(work: &Path, dir: &str, reference: &str) -> String {
    let report = json(work, work, &["push", dir, reference, "--insecure"]);
    report["digest"].as_str().unwrap().to_owned()
}

/// A sync of the artifact `url` that trusts `keys/trusted.pub`, a copy of
/// `trusted`'s public key.
fn verified_sync_dir(url: &str, trusted: &KeyPair) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("keys")).unwrap();
    std::fs::copy(&trusted.public, dir.path().join("keys/trusted.pub")).unwrap();
    std::fs::write(
        dir.path().join("plumbline.yaml"),
        format!(
            "apiVersion: plumbline.dev/v1alpha1\nkind: Sync\nmetadata:\n  name: signed-manifests\n\
             spec:\n  source:\n    url: {url}\n    insecure: true\n    verify:\n      keys: [{{file: keys/trusted.pub}}]\n\
             \x20 targetNamespace: default\n  prune: true\n"
        ),
    )
    .unwrap();
    dir
}

#[test]
fn signatures_have_cosigns_shape_and_verify_with_openssl() {
    let Some(registry) = registry() else { return };
    let work = tempfile::tempdir().unwrap();
    let (alice, bob) = (
        KeyPair::generate(work.path(), "alice"),
        KeyPair::generate(work.path(), "bob"),
    );
    manifests(&work.path().join("deploy"), &["web"], "blue");
    let reference = format!("oci://{}/shop/manifests:v1", registry.host());
    let digest = push(work.path(), "deploy", &reference);
    let report = json(
        work.path(),
        work.path(),
        &[
            "sign",
            "--key",
            alice.private.to_str().unwrap(),
            &reference,
            "--insecure",
        ],
    );
    assert_eq!(report["digest"], digest.as_str());
    assert_eq!(report["fingerprint"], alice.fingerprint().as_str());
    let tag = format!("sha256-{}.sig", digest.trim_start_matches("sha256:"));
    assert!(
        report["signature"].as_str().unwrap().ends_with(&tag),
        "{report}"
    );

    // oras-py reads the signature image as cosign writes it, and openssl
    // verifies the ECDSA signature over the payload with the public key.
    let target = format!("{}/shop/manifests:{tag}", registry.host());
    let read = oras(
        work.path(),
        "import os, json, base64, oras.client\n\
         c = oras.client.OrasClient(insecure=True)\n\
         m = c.get_manifest(os.environ['TARGET'])\n\
         layer = m['layers'][0]\n\
         repo = os.environ['TARGET'].rsplit(':', 1)[0]\n\
         blob = c.get_blob(repo, layer['digest']).content\n\
         open('payload.json', 'wb').write(blob)\n\
         sig = layer['annotations']['dev.cosignproject.cosign/signature']\n\
         open('payload.sig', 'wb').write(base64.b64decode(sig))\n\
         print(json.dumps(m))\n",
        &[("TARGET", &target)],
    );
    let manifest: serde_json::Value = serde_json::from_slice(&read.stdout).unwrap();
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.oci.image.manifest.v1+json"
    );
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.oci.image.config.v1+json"
    );
    assert_eq!(manifest["layers"].as_array().unwrap().len(), 1);
    assert_eq!(
        manifest["layers"][0]["mediaType"],
        "application/vnd.dev.cosign.simplesigning.v1+json"
    );
    let payload: serde_json::Value =
        serde_json::from_slice(&std::fs::read(work.path().join("payload.json")).unwrap()).unwrap();
    assert_eq!(
        payload["critical"]["image"]["docker-manifest-digest"],
        digest.as_str()
    );
    assert_eq!(
        payload["critical"]["type"],
        "cosign container image signature"
    );
    let openssl = Command::new("openssl")
        .args(["dgst", "-sha256", "-verify"])
        .arg(&alice.public)
        .args(["-signature", "payload.sig", "payload.json"])
        .current_dir(work.path())
        .output()
        .unwrap();
    assert!(
        openssl.status.success(),
        "{}",
        String::from_utf8_lossy(&openssl.stdout)
    );

    // The same key again changes nothing; another key adds its layer, as
    // `cosign sign` does.
    sign(work.path(), &["sign"], &alice, &reference);
    let repository: ArtifactRef = reference.parse().unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let layers = runtime.block_on(signature_layers(&repository, &digest));
    assert_eq!(layers.len(), 1);
    sign(work.path(), &["sign"], &bob, &reference);
    let layers = runtime.block_on(signature_layers(&repository, &digest));
    assert_eq!(layers.len(), 2);
}

/// `sync` with the artifact's current digest must be refused with exit 2,
/// a message naming the reference and digest, `found` and the trusted key;
/// and nothing applied or pruned: `web` stays blue, `worker` stays.
async fn assert_refused(
    cache: &Path,
    dir: &Path,
    kubeconfig: &str,
    (pinned, found): (&str, &str),
    configs: &Api<ConfigMap>,
    trusted: &KeyPair,
) {
    let refused =
        plumbline_cached_async(cache, dir, &["sync", ".", "--kubeconfig", kubeconfig]).await;
    assert_eq!(refused.code, 2, "{refused:?}");
    for expected in [pinned, found, "is not verified", &trusted.fingerprint()] {
        assert!(
            refused.stderr.contains(expected),
            "{expected:?} missing from: {}",
            refused.stderr
        );
    }
    let web = configs.get("web").await.unwrap();
    assert_eq!(web.data.unwrap()["mode"], "blue", "applied after refusal");
    assert!(
        configs.get_opt("worker").await.unwrap().is_some(),
        "pruned after refusal"
    );
}

async fn a_signed_artifact_syncs_and_unsigned_foreign_tampered_or_replayed_signatures_are_refused(
    server: Server,
) {
    let Some(registry) = registry() else { return };
    let work = tempfile::tempdir().unwrap();
    let (alice, mallory) = (
        KeyPair::generate(work.path(), "alice"),
        KeyPair::generate(work.path(), "mallory"),
    );
    let tag = format!("oci://{}/shop/signed:stable", registry.host());
    let repository: ArtifactRef = tag.parse().unwrap();
    let deploy = work.path().join("deploy");
    manifests(&deploy, &["web", "worker"], "blue");
    let first = push(work.path(), "deploy", &tag);
    sign(work.path(), &["sign"], &alice, &tag);

    let cache = tempfile::tempdir().unwrap();
    let dir = verified_sync_dir(&tag, &alice);
    let kubeconfig = server.kubeconfig_file(dir.path()).display().to_string();
    let plan = plumbline_cached_async(cache.path(), dir.path(), &["plan", ".", "-o", "json"]).await;
    let plan: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
    let verified = &plan["verified"][0];
    assert_eq!(verified["kind"], "artifact", "{plan}");
    assert_eq!(verified["object"], format!("{tag}@{first}").as_str());
    assert_eq!(verified["signer"]["format"], "cosign");
    assert_eq!(
        verified["signer"]["fingerprint"],
        alice.fingerprint().as_str()
    );
    assert_eq!(verified["signer"]["origin"], "keys/trusted.pub");
    let text = plumbline_cached_async(cache.path(), dir.path(), &["plan", "."]).await;
    assert!(
        text.stdout.contains(&format!(
            "verified: artifact {tag}@{first} signed by cosign key {}",
            alice.fingerprint()
        )),
        "{}",
        text.stdout
    );
    plumbline_cached_async(
        cache.path(),
        dir.path(),
        &["sync", ".", "--kubeconfig", &kubeconfig],
    )
    .await
    .expect(0);
    let configs: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    assert_eq!(
        configs.get("web").await.unwrap().data.unwrap()["mode"],
        "blue"
    );

    // A new artifact behind the tag that would change `web` and prune
    // `worker`: unsigned, it is refused.
    manifests(&deploy, &["web"], "green");
    let second = push(work.path(), "deploy", &tag);
    let pinned = format!("{tag}@{second}");
    let signature_tag = format!("sha256-{}.sig", second.trim_start_matches("sha256:"));
    let refused = |found: String| {
        let (cache, dir, kubeconfig, configs) = (
            cache.path().to_owned(),
            dir.path().to_owned(),
            kubeconfig.clone(),
            configs.clone(),
        );
        let (pinned, alice) = (pinned.clone(), &alice);
        async move {
            assert_refused(
                &cache,
                &dir,
                &kubeconfig,
                (&pinned, &found),
                &configs,
                alice,
            )
            .await;
        }
    };
    refused(format!(
        "it is not signed (no cosign signature under the tag {signature_tag})"
    ))
    .await;

    // Signed by a key that is not trusted.
    sign(work.path(), &["sign"], &mallory, &tag);
    refused("none of its 1 signature(s) verifies with a trusted key".to_owned()).await;

    // Alice's genuine signature of the first artifact, its payload edited
    // to name the second.
    let forged = tampered(&alice, &repository, &first, &second);
    put_signature(&repository, &second, &[forged]).await;
    refused("none of its 1 signature(s) verifies with a trusted key".to_owned()).await;

    // Alice's signature of the first artifact, copied as it is.
    let copied = signature_layers(&repository, &first).await;
    put_signature(&repository, &second, &copied).await;
    refused(format!(
        "its signature by cosign key {} (keys/trusted.pub) signs another artifact, {first}",
        alice.fingerprint()
    ))
    .await;

    // Alice signs it: the sync proceeds, updates and prunes.
    sign(work.path(), &["sign"], &alice, &tag);
    plumbline_cached_async(
        cache.path(),
        dir.path(),
        &["sync", ".", "--kubeconfig", &kubeconfig],
    )
    .await
    .expect(0);
    assert_eq!(
        configs.get("web").await.unwrap().data.unwrap()["mode"],
        "green"
    );
    assert!(configs.get_opt("worker").await.unwrap().is_none());
}

/// A sync of one ConfigMap in a local directory whose only policy is the
/// `oci://` module `module`, verified with `keys/trusted.pub`.
fn policy_sync_dir(module: &str, trusted: &KeyPair) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("deploy")).unwrap();
    std::fs::create_dir(dir.path().join("keys")).unwrap();
    std::fs::copy(&trusted.public, dir.path().join("keys/trusted.pub")).unwrap();
    std::fs::write(
        dir.path().join("deploy/settings.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: settings, namespace: default, labels: {team: shop}}\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("plumbline.yaml"),
        format!(
            "apiVersion: plumbline.dev/v1alpha1\nkind: Sync\nmetadata:\n  name: signed-policy\n\
             spec:\n  source:\n    url: .\n    path: deploy\n  policies:\n\
             \x20   - module: {module}\n      insecure: true\n      settings: {{labels: [team]}}\n\
             \x20     verify: {{keys: [{{file: keys/trusted.pub}}]}}\n"
        ),
    )
    .unwrap();
    dir
}

#[test]
fn a_policy_module_is_verified_before_it_is_pulled_or_compiled() {
    let Some(registry) = registry() else { return };
    let work = tempfile::tempdir().unwrap();
    let (alice, mallory) = (
        KeyPair::generate(work.path(), "alice"),
        KeyPair::generate(work.path(), "mallory"),
    );
    // A component header followed by junk: `policy push` takes it, and
    // compiling it fails.
    let junk = work.path().join("junk.wasm");
    std::fs::write(
        &junk,
        [
            &[0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00][..],
            b"junk",
        ]
        .concat(),
    )
    .unwrap();
    let broken = format!("oci://{}/policies/broken:v1", registry.host());
    let broken_digest = json(
        work.path(),
        work.path(),
        &[
            "policy",
            "push",
            junk.to_str().unwrap(),
            &broken,
            "--insecure",
        ],
    )["digest"]
        .as_str()
        .unwrap()
        .to_owned();
    let cache = tempfile::tempdir().unwrap();
    let dir = policy_sync_dir(&broken, &alice);
    let cached = cache
        .path()
        .join("oci/policies")
        .join(broken_digest.replace(':', "-"));

    // Unsigned, then signed by an untrusted key: refused before the pull,
    // so the junk is neither in the cache nor compiled.
    let unsigned = plumbline_cached_in(cache.path(), dir.path(), &["plan", "."]).expect(2);
    assert!(
        unsigned.stderr.contains(&format!(
            "{broken}@{broken_digest} is not verified: it is not signed"
        )),
        "{}",
        unsigned.stderr
    );
    assert!(!cached.exists(), "pulled into the cache unverified");
    sign(work.path(), &["policy", "sign"], &mallory, &broken);
    let foreign = plumbline_cached_in(cache.path(), dir.path(), &["plan", "."]).expect(2);
    assert!(
        foreign
            .stderr
            .contains("none of its 1 signature(s) verifies with a trusted key"),
        "{}",
        foreign.stderr
    );
    assert!(!cached.exists(), "pulled into the cache unverified");
    // Signed by the trusted key, it is pulled and its compile fails: what
    // the refusals above kept from running.
    sign(work.path(), &["sign"], &alice, &broken);
    let compiled = plumbline_cached_in(cache.path(), dir.path(), &["plan", "."]).expect(2);
    assert!(
        compiled
            .stderr
            .contains("policy `broken`: not a valid WebAssembly component")
            && !compiled.stderr.contains("is not verified"),
        "{}",
        compiled.stderr
    );
    assert!(cached.exists(), "not pulled once verified");

    // `policy sign` refuses what is not a policy.
    manifests(&work.path().join("deploy"), &["web"], "blue");
    let not_policy = format!("oci://{}/shop/not-a-policy:v1", registry.host());
    push(work.path(), "deploy", &not_policy);
    let refused = plumbline_cached_in(
        work.path(),
        work.path(),
        &[
            "policy",
            "sign",
            "--key",
            alice.private.to_str().unwrap(),
            &not_policy,
            "--insecure",
        ],
    )
    .expect(2);
    assert!(
        refused.stderr.contains("no Wasm layer"),
        "{}",
        refused.stderr
    );

    // A real validator signed by the trusted key runs; plan says by whom.
    let labels = format!("oci://{}/policies/required-labels:v1", registry.host());
    json(
        work.path(),
        work.path(),
        &[
            "policy",
            "push",
            policy_artifacts::REQUIRED_LABELS,
            &labels,
            "--insecure",
        ],
    );
    let digest = sign(work.path(), &["policy", "sign"], &alice, &labels);
    let dir = policy_sync_dir(&labels, &alice);
    let plan =
        plumbline_cached_in(cache.path(), dir.path(), &["plan", ".", "-o", "json"]).expect(1);
    let plan: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
    let module = &plan["modules"][0];
    assert_eq!(module["digest"], digest.as_str(), "{plan}");
    assert_eq!(
        module["verified"]["signer"]["fingerprint"],
        alice.fingerprint().as_str()
    );
    assert_eq!(module["verified"]["kind"], "artifact");
}

#[test]
fn keys_that_cannot_verify_an_artifact_are_refused_naming_the_file() {
    let Some(registry) = registry() else { return };
    let work = tempfile::tempdir().unwrap();
    let alice = KeyPair::generate(work.path(), "alice");
    let tag = format!("oci://{}/shop/keys:v1", registry.host());
    manifests(&work.path().join("deploy"), &["web"], "blue");
    push(work.path(), "deploy", &tag);
    let dir = verified_sync_dir(&tag, &alice);
    // An SSH key cannot verify a cosign signature.
    let keygen = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-f"])
        .arg(work.path().join("id_ed25519"))
        .status()
        .unwrap();
    assert!(keygen.success());
    std::fs::copy(
        work.path().join("id_ed25519.pub"),
        dir.path().join("keys/trusted.pub"),
    )
    .unwrap();
    let ssh = plumbline_cached_in(work.path(), dir.path(), &["plan", "."]).expect(2);
    assert!(
        ssh.stderr.contains("hold no PEM P-256 public key")
            && ssh.stderr.contains("keys/trusted.pub"),
        "{}",
        ssh.stderr
    );
    // The private key by mistake.
    std::fs::copy(&alice.private, dir.path().join("keys/trusted.pub")).unwrap();
    let private = plumbline_cached_in(work.path(), dir.path(), &["plan", "."]).expect(2);
    assert!(
        private.stderr.contains("keys/trusted.pub"),
        "{}",
        private.stderr
    );
}

/// `plumbline plan .` in `dir` with the test `helm`.
fn plan_with_helm(cache: &Path, dir: &Path, json: bool) -> Run {
    let mut args = vec!["plan", "."];
    if json {
        args.extend(["-o", "json"]);
    }
    let mut command = cli_support::command(cache, dir, &args);
    command.env("PLUMBLINE_HELM", chart_support::helm());
    cli_support::run(&mut command)
}

#[test]
fn a_helm_chart_in_a_registry_is_verified_like_any_artifact() {
    let Some(registry) = registry() else { return };
    let work = tempfile::tempdir().unwrap();
    let alice = KeyPair::generate(work.path(), "alice");
    // Pushed by Helm's own registry client, in Helm's media types.
    chart_support::push(&registry.host(), "1.0.0", false);
    let chart = format!("oci://{}/charts/demo:1.0.0", registry.host());
    let dir = verified_sync_dir(&chart, &alice);
    let config = dir.path().join("plumbline.yaml");
    let text = std::fs::read_to_string(&config).unwrap();
    let cache = tempfile::tempdir().unwrap();
    let unsigned = plan_with_helm(cache.path(), dir.path(), false).expect(2);
    assert!(
        unsigned.stderr.contains(&format!("{chart}@sha256:"))
            && unsigned
                .stderr
                .contains("is not verified: it is not signed"),
        "{}",
        unsigned.stderr
    );
    let digest = sign(work.path(), &["sign"], &alice, &chart);
    let plan = plan_with_helm(cache.path(), dir.path(), true).expect(1);
    let plan: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
    assert_eq!(
        plan["verified"][0]["object"],
        format!("{chart}@{digest}").as_str(),
        "{plan}"
    );
    assert_eq!(
        plan["verified"][0]["signer"]["fingerprint"],
        alice.fingerprint().as_str()
    );

    // A chart of an HTTP chart repository has no cosign signature:
    // verify is refused rather than ignored.
    std::fs::write(
        &config,
        text.replace(
            &format!("    url: {chart}\n"),
            "    url: https://charts.example.com\n    chart: demo\n    version: 1.0.0\n",
        ),
    )
    .unwrap();
    let http = plan_with_helm(cache.path(), dir.path(), false).expect(2);
    assert!(
        http.stderr
            .contains("source.verify and source.semver are not read for a chart repository"),
        "{}",
        http.stderr
    );
}

on_real_server!(
    a_signed_artifact_syncs_and_unsigned_foreign_tampered_or_replayed_signatures_are_refused
);
