//! Policies from OCI registries, end to end: a real registry (Debian's
//! docker-registry, `tests/registry`), the `plumbline` binary, an
//! independent client (oras-py) and the real API server. Issue #26.

mod binary_support;
mod cli_support;
mod server_support;
mod source_support;

use std::path::Path;

use binary_support::oras;
use cli_support::{plumbline, plumbline_cached_async, Run};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;
use registry::{Options, Registry};
use server_support::Server;

/// The component every test publishes: the standard `required-labels`
/// validator.
fn component() -> &'static str {
    policy_artifacts::REQUIRED_LABELS
}

fn registry() -> Option<Registry> {
    Registry::start_or_skip(Options::default())
}

/// `policy push COMPONENT REFERENCE --insecure`, and the digest it printed.
fn push(dir: &Path, component: &str, reference: &str) -> String {
    let run = plumbline(
        dir,
        &[
            "policy",
            "push",
            component,
            reference,
            "--insecure",
            "-o",
            "json",
        ],
    )
    .expect(0);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    report["digest"].as_str().unwrap().to_owned()
}

fn sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("sha256:{}", hex::encode(sha2::Sha256::digest(bytes)))
}

/// `plumbline push deploy REFERENCE --insecure` in `work`, and the digest
/// it printed.
fn push_deploy(work: &Path, reference: &str) -> String {
    let run = plumbline(
        work,
        &["push", "deploy", reference, "--insecure", "-o", "json"],
    )
    .expect(0);
    let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
    report["digest"].as_str().unwrap().to_owned()
}

/// `plumbline sync .` of `dir` into `server`, with its caches in `cache`.
async fn sync(server: &Server, cache: &Path, dir: &Path) -> Run {
    let kubeconfig = server.kubeconfig_file(dir).display().to_string();
    plumbline_cached_async(cache, dir, &["sync", ".", "--kubeconfig", &kubeconfig]).await
}

#[test]
fn a_pushed_policy_pulls_back_byte_for_byte_by_tag_and_by_digest() {
    let Some(registry) = registry() else { return };
    let dir = tempfile::tempdir().unwrap();
    let reference = format!("oci://{}/policies/required-labels:v1", registry.host());
    let digest = push(dir.path(), component(), &reference);
    assert!(
        digest.starts_with("sha256:") && digest.len() == 71,
        "{digest}"
    );
    // The same component gives the same digest.
    assert_eq!(push(dir.path(), component(), &reference), digest);

    let original = std::fs::read(component()).unwrap();
    let by_digest = format!(
        "oci://{}/policies/required-labels@{digest}",
        registry.host()
    );
    for (source, file) in [(&reference, "by-tag.wasm"), (&by_digest, "by-digest.wasm")] {
        let run = plumbline(
            dir.path(),
            &[
                "policy",
                "pull",
                source,
                "-O",
                file,
                "--insecure",
                "-o",
                "json",
            ],
        )
        .expect(0);
        let report: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        assert_eq!(report["digest"], digest.as_str(), "{source}");
        assert_eq!(report["componentDigest"], sha256(&original).as_str());
        assert_eq!(std::fs::read(dir.path().join(file)).unwrap(), original);
    }
}

#[test]
fn plumbline_pulls_the_layouts_oras_pushes_and_oras_pulls_what_plumbline_pushes() {
    let Some(registry) = registry() else { return };
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(component(), dir.path().join("policy.wasm")).unwrap();
    std::fs::write(dir.path().join("config.json"), "{}").unwrap();
    let original = std::fs::read(component()).unwrap();
    // oras pushes each accepted layout; Plumbline pulls it.
    for (tag, layer, config) in [
        (
            "cncf",
            "application/wasm",
            "application/vnd.wasm.config.v0+json",
        ),
        (
            "kubewarden",
            "application/vnd.wasm.content.layer.v1+wasm",
            "application/vnd.cncf.kubewarden.config.v1+json",
        ),
        (
            "module",
            "application/vnd.module.wasm.content.layer.v1+wasm",
            "application/vnd.oci.image.config.v1+json",
        ),
    ] {
        let target = format!("{}/interop/policy:{tag}", registry.host());
        oras(
            dir.path(),
            "import os, oras.client\n\
             c = oras.client.OrasClient(insecure=True)\n\
             c.push(target=os.environ['TARGET'], files=['policy.wasm:' + os.environ['LAYER']],\n\
                    manifest_config='config.json:' + os.environ['CONFIG'])\n",
            &[("TARGET", &target), ("LAYER", layer), ("CONFIG", config)],
        );
        let file = format!("{tag}.wasm");
        plumbline(
            dir.path(),
            &[
                "policy",
                "pull",
                &format!("oci://{target}"),
                "-O",
                &file,
                "--insecure",
            ],
        )
        .expect(0);
        assert_eq!(
            std::fs::read(dir.path().join(&file)).unwrap(),
            original,
            "{tag}"
        );
    }

    // Plumbline pushes; oras pulls the same bytes, and sees the CNCF layout.
    let target = format!("{}/interop/pushed:v1", registry.host());
    push(dir.path(), component(), &format!("oci://{target}"));
    let out = oras(
        dir.path(),
        "import os, json, oras.client\n\
         c = oras.client.OrasClient(insecure=True)\n\
         m = c.get_manifest(os.environ['TARGET'])\n\
         files = c.pull(target=os.environ['TARGET'], outdir='pulled')\n\
         print(json.dumps({'manifest': m, 'files': files}))\n",
        &[("TARGET", &target)],
    );
    let pulled: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let manifest = &pulled["manifest"];
    assert_eq!(
        manifest["config"]["mediaType"],
        "application/vnd.wasm.config.v0+json"
    );
    assert_eq!(manifest["layers"][0]["mediaType"], "application/wasm");
    let files = pulled["files"].as_array().unwrap();
    assert_eq!(files.len(), 1);
    assert_eq!(
        std::fs::read(dir.path().join(files[0].as_str().unwrap())).unwrap(),
        original
    );
}

#[test]
fn the_cli_takes_registry_credentials_from_a_docker_config() {
    let Some(registry) = Registry::start_or_skip(Options::with_user("ci", "s3cret")) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let reference = format!("oci://{}/policies/labels:v1", registry.host());
    let config = |auth: &str| {
        let file = dir.path().join(format!("{auth}.json"));
        let json = serde_json::json!({"auths": {registry.host(): {"auth": auth}}});
        std::fs::write(&file, json.to_string()).unwrap();
        file.display().to_string()
    };
    // base64 of "ci:s3cret" and of "ci:wrong".
    let (right, wrong) = (config("Y2k6czNjcmV0"), config("Y2k6d3Jvbmc="));
    let args = |file: &str| {
        vec![
            "policy".to_owned(),
            "push".to_owned(),
            component().to_owned(),
            reference.clone(),
            "--insecure".to_owned(),
            "--registry-config".to_owned(),
            file.to_owned(),
        ]
    };
    let run = |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        plumbline(dir.path(), &args)
    };
    let refused = run(args(&wrong)).expect(2);
    assert!(
        refused.stderr.contains("refused the credentials"),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains(&reference), "{}", refused.stderr);
    run(args(&right)).expect(0);
    // Without --registry-config: $DOCKER_CONFIG/config.json.
    std::fs::create_dir(dir.path().join("docker")).unwrap();
    std::fs::copy(&right, dir.path().join("docker/config.json")).unwrap();
    let mut pull = cli_support::command(
        &cli_support::cache_dir(),
        dir.path(),
        &[
            "policy",
            "pull",
            &reference,
            "-O",
            "pulled.wasm",
            "--insecure",
        ],
    );
    pull.env("DOCKER_CONFIG", dir.path().join("docker"));
    cli_support::run(&mut pull).expect(0);
    assert_eq!(
        std::fs::read(dir.path().join("pulled.wasm")).unwrap(),
        std::fs::read(component()).unwrap()
    );
}

/// A sync configuration whose only policy is `module` (required-labels,
/// requiring `team`), over one ConfigMap labelled `labels`.
fn sync_dir(module: &str, labels: &str) -> tempfile::TempDir {
    sync_dir_named(module, labels, "settings")
}

/// [`sync_dir`] with the ConfigMap named `name`, in a sync of its own.
fn sync_dir_named(module: &str, labels: &str, name: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("deploy")).unwrap();
    std::fs::write(
        dir.path().join("deploy/settings.yaml"),
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {name}\n  namespace: default\n  labels: {labels}\ndata:\n  mode: blue\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("plumbline.yaml"),
        format!(
            "apiVersion: plumbline.dev/v1alpha1\nkind: Sync\nmetadata:\n  name: policy-{name}\n\
             spec:\n  source:\n    url: .\n    path: deploy\n  policies:\n\
             \x20   - module: {module}\n      insecure: true\n      settings: {{labels: [team]}}\n"
        ),
    )
    .unwrap();
    dir
}

async fn a_sync_runs_a_policy_pulled_by_tag_and_by_digest(server: Server) {
    let Some(registry) = registry() else { return };
    let work = tempfile::tempdir().unwrap();
    let by_tag = format!("oci://{}/policies/required-labels:v1", registry.host());
    let digest = push(work.path(), component(), &by_tag);
    let by_digest = format!(
        "oci://{}/policies/required-labels@{digest}",
        registry.host()
    );
    let cache = tempfile::tempdir().unwrap();
    let configs: Api<ConfigMap> = Api::namespaced(server.client(), "default");

    for (module, name) in [(&by_tag, "by-tag"), (&by_digest, "by-digest")] {
        // Unlabelled: the pulled validator blocks the sync, nothing applied.
        let dir = sync_dir_named(module, "{}", name);
        let plan =
            plumbline_cached_async(cache.path(), dir.path(), &["plan", ".", "-o", "json"]).await;
        let plan: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
        assert_eq!(plan["modules"][0]["digest"], digest.as_str(), "{plan}");
        assert_eq!(plan["modules"][0]["policy"], "required-labels");
        let blocked = sync(&server, cache.path(), dir.path()).await;
        assert_eq!(blocked.code, 1, "{blocked:?}");
        assert!(
            blocked.stdout.contains("metadata.labels.team"),
            "{}",
            blocked.stdout
        );
        assert!(configs.get_opt(name).await.unwrap().is_none());

        // Labelled: it passes and the sync applies.
        let dir = sync_dir_named(module, "{team: shop}", name);
        sync(&server, cache.path(), dir.path()).await.expect(0);
        assert!(configs.get_opt(name).await.unwrap().is_some());
    }
}

async fn a_sync_whose_policy_cannot_be_pulled_fails_and_prunes_nothing(server: Server) {
    let Some(registry) = registry() else { return };
    let work = tempfile::tempdir().unwrap();
    let good = format!("oci://{}/policies/required-labels:v1", registry.host());
    push(work.path(), component(), &good);
    let cache = tempfile::tempdir().unwrap();
    let dir = sync_dir(&good, "{team: shop}");
    sync(&server, cache.path(), dir.path()).await.expect(0);

    // The manifests are gone from Git, and the policy names a tag that does
    // not exist: the sync fails before planning, naming the reference, and
    // prunes nothing.
    let missing = format!("oci://{}/policies/required-labels:v9", registry.host());
    let dir = sync_dir(&missing, "{team: shop}");
    std::fs::remove_file(dir.path().join("deploy/settings.yaml")).unwrap();
    std::fs::write(dir.path().join("deploy/other.yaml"), "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: other, namespace: default, labels: {team: shop}}\n").unwrap();
    let failed = sync(&server, cache.path(), dir.path()).await;
    assert_eq!(failed.code, 2, "{failed:?}");
    assert!(failed.stderr.contains(&missing), "{}", failed.stderr);
    assert!(failed.stderr.contains("not found"), "{}", failed.stderr);
    let configs: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    assert!(
        configs.get_opt("settings").await.unwrap().is_some(),
        "pruned after a failed pull"
    );
    assert!(
        configs.get_opt("other").await.unwrap().is_none(),
        "applied after a failed pull"
    );
}

mod bad_input {
    //! Each bad input fails with a typed error naming the reference.

    use std::time::Duration;

    use plumbline::oci::{self, policy, ArtifactRef, Auth, Blob, Error};
    use registry::{Hanging, Options, Registry};

    fn insecure() -> oci::Options {
        oci::Options {
            insecure: true,
            ..oci::Options::default()
        }
    }

    fn reference(registry: &Registry, rest: &str) -> ArtifactRef {
        format!("oci://{}/{rest}", registry.host()).parse().unwrap()
    }

    fn component() -> Vec<u8> {
        std::fs::read(super::component()).unwrap()
    }

    #[tokio::test]
    async fn an_unknown_tag_is_not_found() {
        let Some(registry) = Registry::start_or_skip(Options::default()) else {
            return;
        };
        let known = reference(&registry, "p/labels:v1");
        policy::push_policy(&known, component(), &insecure())
            .await
            .unwrap();
        let unknown = reference(&registry, "p/labels:v2");
        let error = policy::pull_policy(&unknown, &insecure())
            .await
            .unwrap_err();
        assert!(matches!(error, Error::NotFound { .. }), "{error:?}");
        assert!(error.to_string().contains(&unknown.to_string()), "{error}");
        assert!(!error.is_retryable());
        let missing_repository = reference(&registry, "nothing/here:v1");
        let error = policy::pull_policy(&missing_repository, &insecure())
            .await
            .unwrap_err();
        assert!(matches!(error, Error::NotFound { .. }), "{error:?}");
    }

    #[tokio::test]
    async fn artifacts_that_are_not_wasm_components_are_refused() {
        let Some(registry) = Registry::start_or_skip(Options::default()) else {
            return;
        };
        let config = Blob::new(policy::WASM_CONFIG, b"{}".to_vec());
        for (tag, bytes, expected) in [
            ("text", b"not wasm at all".to_vec(), "not WebAssembly"),
            ("core", b"\0asm\x01\0\0\0".to_vec(), "core module"),
        ] {
            let target = reference(&registry, &format!("p/bad:{tag}"));
            let layer = Blob::new(policy::WASM_LAYER, bytes);
            oci::push(
                &target,
                &insecure(),
                None,
                &config,
                &[layer],
                Default::default(),
            )
            .await
            .unwrap();
            let error = policy::pull_policy(&target, &insecure()).await.unwrap_err();
            assert!(matches!(error, Error::Layout { .. }), "{error:?}");
            let text = error.to_string();
            assert!(
                text.contains(expected) && text.contains(&target.to_string()),
                "{text}"
            );
        }
        // An artifact with no Wasm layer at all.
        let target = reference(&registry, "p/bad:tarball");
        let layer = Blob::new("application/vnd.oci.image.layer.v1.tar+gzip", b"x".to_vec());
        oci::push(
            &target,
            &insecure(),
            None,
            &config,
            &[layer],
            Default::default(),
        )
        .await
        .unwrap();
        let error = policy::pull_policy(&target, &insecure()).await.unwrap_err();
        assert!(error.to_string().contains("no Wasm layer"), "{error}");
        // Pushing refuses what is not a component in the first place.
        let error = policy::push_policy(
            &reference(&registry, "p/bad:push"),
            b"text".to_vec(),
            &insecure(),
        )
        .await
        .unwrap_err();
        assert!(error.to_string().contains("not WebAssembly"), "{error}");
    }

    #[tokio::test]
    async fn blobs_and_manifests_over_their_caps_are_refused() {
        let Some(registry) = Registry::start_or_skip(Options::default()) else {
            return;
        };
        let target = reference(&registry, "p/labels:v1");
        policy::push_policy(&target, component(), &insecure())
            .await
            .unwrap();
        let small_blobs = oci::Options {
            max_blob_bytes: 1024,
            ..insecure()
        };
        let error = policy::pull_policy(&target, &small_blobs)
            .await
            .unwrap_err();
        assert!(
            matches!(error, Error::TooLarge { limit: 1024, .. }),
            "{error:?}"
        );
        assert!(error.to_string().contains(&target.to_string()), "{error}");
        let small_manifests = oci::Options {
            max_manifest_bytes: 64,
            ..insecure()
        };
        let error = policy::pull_policy(&target, &small_manifests)
            .await
            .unwrap_err();
        assert!(
            error
                .to_string()
                .contains("manifest is larger than the limit of 64"),
            "{error}"
        );
    }

    #[tokio::test]
    async fn a_blob_whose_bytes_changed_in_the_registry_fails_its_digest() {
        let Some(registry) = Registry::start_or_skip(Options::default()) else {
            return;
        };
        let target = reference(&registry, "p/labels:v1");
        let bytes = component();
        let layer_digest = super::sha256(&bytes);
        policy::push_policy(&target, bytes.clone(), &insecure())
            .await
            .unwrap();
        // Swap the stored layer for other bytes of the same length.
        let hex = layer_digest.trim_start_matches("sha256:");
        let data = registry.storage().join(format!(
            "docker/registry/v2/blobs/sha256/{}/{hex}/data",
            &hex[..2]
        ));
        let mut tampered = bytes;
        let last = tampered.len() - 1;
        tampered[last] ^= 0xff;
        std::fs::write(&data, &tampered).unwrap();
        let error = policy::pull_policy(&target, &insecure()).await.unwrap_err();
        assert!(matches!(error, Error::DigestMismatch { .. }), "{error:?}");
        let text = error.to_string();
        assert!(
            text.contains(&layer_digest) && text.contains(&target.to_string()),
            "{text}"
        );
    }

    #[tokio::test]
    async fn an_htpasswd_registry_takes_its_user_and_refuses_wrong_or_no_credentials() {
        let Some(registry) = Registry::start_or_skip(Options::with_user("ci", "s3cret")) else {
            return;
        };
        let target = reference(&registry, "p/labels:v1");
        let with = |username: &str, password: &str| oci::Options {
            auth: Auth::Basic {
                username: username.to_owned(),
                password: password.to_owned(),
            },
            ..insecure()
        };
        policy::push_policy(&target, component(), &with("ci", "s3cret"))
            .await
            .unwrap();
        for options in [with("ci", "wrong"), insecure()] {
            let error = policy::pull_policy(&target, &options).await.unwrap_err();
            assert!(matches!(error, Error::Unauthorized { .. }), "{error:?}");
            assert!(error.to_string().contains(&target.to_string()), "{error}");
        }
        let pulled = policy::pull_policy(&target, &with("ci", "s3cret"))
            .await
            .unwrap();
        assert_eq!(pulled.component, component());
    }

    #[tokio::test]
    async fn a_registry_that_hangs_times_out_naming_the_reference() {
        let hanging = Hanging::start().unwrap();
        let target: ArtifactRef = format!("oci://{}/p/labels:v1", hanging.host())
            .parse()
            .unwrap();
        let options = oci::Options {
            timeout: Duration::from_millis(500),
            ..insecure()
        };
        let error = policy::pull_policy(&target, &options).await.unwrap_err();
        assert!(matches!(error, Error::Timeout { .. }), "{error:?}");
        assert!(error.to_string().contains(&target.to_string()), "{error}");
        assert!(error.is_retryable());
    }
}

/// A sync configuration whose source is the OCI artifact `url`.
fn artifact_sync_dir(url: &str, path: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("plumbline.yaml"),
        format!(
            "apiVersion: plumbline.dev/v1alpha1\nkind: Sync\nmetadata:\n  name: oci-manifests\n\
             spec:\n  source:\n    url: {url}\n    path: {path:?}\n    insecure: true\n  targetNamespace: default\n"
        ),
    )
    .unwrap();
    dir
}

/// A kustomization over a base, with one ConfigMap per name.
fn manifests(dir: &Path, names: &[&str], mode: &str) {
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir.join("base")).unwrap();
    let mut resources = String::new();
    for name in names {
        std::fs::write(
            dir.join(format!("base/{name}.yaml")),
            format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\ndata: {{mode: {mode}}}\n"),
        )
        .unwrap();
        resources.push_str(&format!("  - {name}.yaml\n"));
    }
    std::fs::write(
        dir.join("base/kustomization.yaml"),
        format!("resources:\n{resources}"),
    )
    .unwrap();
    std::fs::write(
        dir.join("kustomization.yaml"),
        "resources: [base]\ncommonLabels: {shipped-by: oci}\n",
    )
    .unwrap();
}

#[test]
fn a_semver_range_picks_the_highest_matching_tag() {
    let Some(registry) = registry() else { return };
    let work = tempfile::tempdir().unwrap();
    let repository = format!("oci://{}/shop/versioned", registry.host());
    let mut digests = std::collections::BTreeMap::new();
    for version in ["v1.2.0", "v1.3.1", "v2.0.0", "latest"] {
        manifests(
            &work.path().join("deploy"),
            &[&version.replace('.', "-")],
            version,
        );
        let digest = push_deploy(work.path(), &format!("{repository}:{version}"));
        digests.insert(version, digest);
    }
    let dir = artifact_sync_dir(&repository, "");
    let config = dir.path().join("plumbline.yaml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace(
            "    insecure: true\n",
            "    insecure: true\n    semver: \"^1.2\"\n",
        ),
    )
    .unwrap();
    let plan = plumbline(dir.path(), &["plan", ".", "-o", "json"]).expect(1);
    let plan: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
    assert_eq!(
        plan["revision"],
        format!("v1.3.1@{}", digests["v1.3.1"]).as_str()
    );

    // No tag in the range: a clear error, exit 2.
    std::fs::write(
        &config,
        text.replace(
            "    insecure: true\n",
            "    insecure: true\n    semver: \">=3\"\n",
        ),
    )
    .unwrap();
    let failed = plumbline(dir.path(), &["plan", "."]).expect(2);
    assert!(
        failed
            .stderr
            .contains("no tag matches the semver range >=3"),
        "{}",
        failed.stderr
    );
    assert!(failed.stderr.contains(&repository), "{}", failed.stderr);
}

async fn a_sync_applies_manifests_pushed_as_an_oci_artifact_and_follows_its_tag(server: Server) {
    let Some(registry) = registry() else { return };
    let work = tempfile::tempdir().unwrap();
    let deploy = work.path().join("deploy");
    let tag = format!("oci://{}/shop/manifests:stable", registry.host());
    let cache = tempfile::tempdir().unwrap();
    let configs: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    let push_manifests = |names: &[&str], mode: &str| {
        manifests(&deploy, names, mode);
        push_deploy(work.path(), &tag)
    };

    let first = push_manifests(&["web", "worker"], "blue");
    // The same files give the same digest.
    assert_eq!(push_manifests(&["web", "worker"], "blue"), first);
    let dir = artifact_sync_dir(&tag, "");
    let plan = plumbline_cached_async(cache.path(), dir.path(), &["plan", ".", "-o", "json"]).await;
    let plan: serde_json::Value = serde_json::from_str(&plan.stdout).unwrap();
    assert_eq!(
        plan["revision"],
        format!("stable@{first}").as_str(),
        "{plan}"
    );
    sync(&server, cache.path(), dir.path()).await.expect(0);
    let web = configs.get("web").await.unwrap();
    assert_eq!(web.data.unwrap()["mode"], "blue");
    assert_eq!(web.metadata.labels.unwrap()["shipped-by"], "oci");
    assert!(configs.get_opt("worker").await.unwrap().is_some());

    // A new artifact behind the same tag: the next sync updates and prunes.
    let second = push_manifests(&["web"], "green");
    assert_ne!(second, first);
    let synced = sync(&server, cache.path(), dir.path()).await;
    assert_eq!(synced.code, 0, "{synced:?}");
    assert_eq!(
        configs.get("web").await.unwrap().data.unwrap()["mode"],
        "green"
    );
    assert!(
        configs.get_opt("worker").await.unwrap().is_none(),
        "not pruned"
    );

    // Pinned by digest, the first artifact comes back.
    let pinned = format!("oci://{}/shop/manifests@{first}", registry.host());
    let dir = artifact_sync_dir(&pinned, "");
    sync(&server, cache.path(), dir.path()).await.expect(0);
    assert_eq!(
        configs.get("web").await.unwrap().data.unwrap()["mode"],
        "blue"
    );
}

async fn a_directory_oras_pushes_as_a_tar_gzip_layer_syncs(server: Server) {
    let Some(registry) = registry() else { return };
    let work = tempfile::tempdir().unwrap();
    manifests(&work.path().join("deploy"), &["from-oras"], "red");
    let target = format!("{}/shop/oras-manifests:v1", registry.host());
    oras(
        work.path(),
        "import os, oras.client\n\
         c = oras.client.OrasClient(insecure=True)\n\
         c.push(target=os.environ['TARGET'], files=['deploy'])\n",
        &[("TARGET", &target)],
    );
    // oras packs the directory under its own name.
    let dir = artifact_sync_dir(&format!("oci://{target}"), "deploy");
    let cache = tempfile::tempdir().unwrap();
    sync(&server, cache.path(), dir.path()).await.expect(0);
    let configs: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    assert_eq!(
        configs.get("from-oras").await.unwrap().data.unwrap()["mode"],
        "red"
    );
}

async fn a_sync_whose_artifact_is_missing_fails_and_prunes_nothing(server: Server) {
    let Some(registry) = registry() else { return };
    let work = tempfile::tempdir().unwrap();
    manifests(&work.path().join("deploy"), &["kept"], "blue");
    let tag = format!("oci://{}/shop/manifests:v1", registry.host());
    push_deploy(work.path(), &tag);
    let cache = tempfile::tempdir().unwrap();
    let dir = artifact_sync_dir(&tag, "");
    sync(&server, cache.path(), dir.path()).await.expect(0);

    let missing = format!("oci://{}/shop/manifests:v2", registry.host());
    let dir = artifact_sync_dir(&missing, "");
    let failed = sync(&server, cache.path(), dir.path()).await;
    assert_eq!(failed.code, 2, "{failed:?}");
    assert!(
        failed.stderr.contains(&missing) && failed.stderr.contains("not found"),
        "{}",
        failed.stderr
    );
    let configs: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    assert!(
        configs.get_opt("kept").await.unwrap().is_some(),
        "pruned after a failed pull"
    );
}

on_real_server!(
    a_sync_runs_a_policy_pulled_by_tag_and_by_digest,
    a_sync_whose_policy_cannot_be_pulled_fails_and_prunes_nothing,
    a_sync_applies_manifests_pushed_as_an_oci_artifact_and_follows_its_tag,
    a_directory_oras_pushes_as_a_tar_gzip_layer_syncs,
    a_sync_whose_artifact_is_missing_fails_and_prunes_nothing,
);
