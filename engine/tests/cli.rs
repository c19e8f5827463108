//! The `plumbline` binary, run as a subprocess the way people and scripts
//! run it: on the quickstart, on real Git repositories (local and served by
//! `git daemon`), against an API server (the real control plane and the
//! emulator), and on bad input, checking output and exit codes.

mod binary_support;
mod cli_support;
mod server_support;
mod source_support;

use std::time::Duration;

use binary_support::repo_root;
use cli_support::{
    commit_bad_branch, copy_quickstart, plumbline, plumbline_async, plumbline_cached_in,
};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, ListParams};
use serde_json::Value;
use server_support::Server;
use source_support::git;

/// A temp dir with a Git repository made from the quickstart: `main` as
/// shipped, `bad` adding a `:latest` image.
fn quickstart_repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    copy_quickstart(dir.path());
    git(dir.path(), &["init", "-q"]);
    git(dir.path(), &["add", "-A"]);
    git(dir.path(), &["commit", "-q", "-m", "shop: first version"]);
    commit_bad_branch(dir.path());
    dir
}

#[test]
fn the_quickstart_plans_against_an_empty_cluster_with_its_transformations() {
    // The README's main job, exactly as shipped: policies are project
    // directories, built (or found built) on load.
    let run = plumbline(&repo_root(), &["plan", "examples/quickstart"]).expect(1);
    let out = &run.stdout;
    assert!(
        out.contains("source:   examples/quickstart, path deploy (working tree)"),
        "{out}"
    );
    assert!(out.contains("planning against an EMPTY cluster"), "{out}");
    assert!(
        out.contains("validators   required-labels, images-pinned, resources-declared"),
        "{out}"
    );
    assert!(
        out.contains("Violations: 0 error(s), 0 warning(s)"),
        "{out}"
    );
    assert!(
        out.contains("+ metadata.labels.app.kubernetes.io/managed-by"),
        "{out}"
    );
    // What each transformer did, summed up (issue 24).
    assert!(
        out.contains("policy common-metadata added 0, removed 0, changed 4 objects\n")
            && out.contains("    ~ Deployment.apps shop/web\n"),
        "{out}"
    );
    assert!(
        out.contains("+ create    Deployment.apps shop/web  (deploy/deployment.yaml:1)"),
        "{out}"
    );
    // The kustomization's `images` pinned the tag; the full object shows.
    assert!(out.contains("+         image: nginx:1.27.3"), "{out}");
    assert!(
        out.contains("Changes: 4 to create, 0 to update, 0 unchanged"),
        "{out}"
    );
    let json = plumbline(&repo_root(), &["plan", "examples/quickstart", "-o", "json"]).expect(1);
    let document: Value = serde_json::from_str(&json.stdout).unwrap();
    let transformers = &document["transformers"];
    assert_eq!(
        transformers[0]["policy"], "common-metadata",
        "{transformers}"
    );
    assert_eq!(
        transformers[0]["changed"].as_array().map(Vec::len),
        Some(4),
        "{transformers}"
    );
}

/// A commit planned before with the same inputs is not rendered again: the
/// kept render shows the same objects, origins, transformations and
/// findings. Issue #16.
#[test]
fn a_second_plan_of_a_commit_shows_what_the_first_showed() {
    let repo = quickstart_repo();
    let cache = tempfile::tempdir().unwrap();
    let kept_files = || -> Vec<(std::path::PathBuf, std::time::SystemTime)> {
        std::fs::read_dir(cache.path().join("rendered"))
            .unwrap()
            .map(|entry| {
                let path = entry.unwrap().path();
                let modified = path.metadata().unwrap().modified().unwrap();
                (path, modified)
            })
            .collect()
    };
    // Both plans exit 1: `main` has changes to make, `bad` a violation.
    for reference in ["main", "bad"] {
        let plan = || {
            plumbline_cached_in(
                cache.path(),
                repo.path(),
                &["plan", ".", "--ref", reference],
            )
            .expect(1)
        };
        let first = plan();
        let kept = kept_files();
        let second = plan();
        assert_eq!(second.stdout, first.stdout);
        assert_eq!(kept_files(), kept, "the second plan rendered again");
        let out = &first.stdout;
        assert!(
            out.contains("+ metadata.labels.app.kubernetes.io/managed-by"),
            "{out}"
        );
        assert!(
            out.contains("Deployment.apps shop/web  (deploy/deployment.yaml:1)"),
            "{out}"
        );
    }
    assert_eq!(
        kept_files().len(),
        2,
        "one file per configuration: each ref"
    );
    let bad = plumbline_cached_in(cache.path(), repo.path(), &["plan", ".", "--ref", "bad"]);
    assert!(bad.stdout.contains("[images-pinned]"), "{}", bad.stdout);
}

#[test]
fn render_prints_transformed_objects_as_yaml_or_a_json_list() {
    let repo = quickstart_repo();
    let yaml = plumbline(repo.path(), &["render", "."]).expect(0).stdout;
    assert_eq!(yaml.matches("---\n").count(), 4, "{yaml}");
    assert!(
        yaml.contains("app.kubernetes.io/managed-by: plumbline"),
        "{yaml}"
    );
    assert!(yaml.contains("plumbline.dev/sync: quickstart"), "{yaml}");

    let json = plumbline(repo.path(), &["render", ".", "-o", "json"])
        .expect(0)
        .stdout;
    let objects: Vec<Value> = serde_json::from_str(&json).unwrap();
    let names: Vec<&str> = objects
        .iter()
        .map(|o| o["kind"].as_str().unwrap())
        .collect();
    // In the order of the kustomization's resources.
    assert_eq!(names, ["Namespace", "ConfigMap", "Deployment", "Service"]);

    // A directory of plain manifests: no config, no policies.
    let plain = plumbline(&repo.path().join("deploy"), &["render", "-o", "json", "."]).expect(0);
    let objects: Vec<Value> = serde_json::from_str(&plain.stdout).unwrap();
    assert_eq!(objects.len(), 4);
    assert!(objects[0]["metadata"]["labels"]
        .get("app.kubernetes.io/managed-by")
        .is_none());
}

#[test]
fn a_bad_image_on_a_branch_is_blocked_by_validate_and_plan() {
    let repo = quickstart_repo();
    let dir = repo.path();
    let main = plumbline(dir, &["validate", ".", "--ref", "main"]).expect(0);
    assert!(
        main.stdout
            .contains("4 object(s) checked by 3 validator(s): 0 error(s)"),
        "{}",
        main.stdout
    );

    let bad = plumbline(dir, &["validate", ".", "--ref", "bad"]).expect(1);
    let out = &bad.stdout;
    assert!(
        out.contains("Deployment.apps shop/worker (deploy/worker.yaml:4)"),
        "{out}"
    );
    assert!(
        out.contains("error   [images-pinned] spec.template.spec.containers[0].image:"),
        "{out}"
    );
    assert!(out.contains("busybox:latest"), "{out}");

    let json = plumbline(dir, &["validate", ".", "--ref", "bad", "-o", "json"]).expect(1);
    let report: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(report["blocking"], 1);
    assert_eq!(report["violations"][0]["origin"], "deploy/worker.yaml:4");
    assert_eq!(report["revision"].as_str().map(str::len), Some(40));

    let plan = plumbline(dir, &["plan", ".", "--ref", "bad"]).expect(1);
    assert!(
        plan.stdout
            .contains("BLOCKED: 1 error-severity violation(s); a sync would apply nothing"),
        "{}",
        plan.stdout
    );
    assert!(
        plan.stdout.contains("(branch bad at commit "),
        "{}",
        plan.stdout
    );
}

/// Colour goes to a terminal only, unless `CLICOLOR_FORCE` asks for it;
/// `NO_COLOR` wins over both.
#[test]
fn colour_follows_no_color_and_clicolor_force() {
    let repo = quickstart_repo();
    let validate = |env: &[(&str, &str)]| {
        let mut command = cli_support::command(
            &cli_support::cache_dir(),
            repo.path(),
            &["validate", ".", "--ref", "bad"],
        );
        command.env_remove("NO_COLOR").env_remove("CLICOLOR_FORCE");
        for (name, value) in env {
            command.env(name, value);
        }
        cli_support::run(&mut command).expect(1).stdout
    };
    const RED: &str = "\x1b[31m";
    let piped = validate(&[]);
    assert!(
        piped.contains("error   [images-pinned]") && !piped.contains('\x1b'),
        "{piped}"
    );
    let forced = validate(&[("CLICOLOR_FORCE", "1")]);
    assert!(forced.contains(&format!("{RED}error  ")), "{forced:?}");
    let refused = validate(&[("CLICOLOR_FORCE", "1"), ("NO_COLOR", "1")]);
    assert_eq!(refused, piped);
}

#[test]
fn a_git_url_served_by_git_daemon_renders_with_policies_from_a_config_file() {
    let repo = quickstart_repo();
    let served = tempfile::tempdir().unwrap();
    git(
        served.path(),
        &[
            "clone",
            "-q",
            "--bare",
            repo.path().to_str().unwrap(),
            "shop.git",
        ],
    );
    let daemon = source_support::GitDaemon::start(served.path());
    let url = format!("git://127.0.0.1:{}/shop.git", daemon.port);
    let config = repo.path().join("plumbline.yaml");
    let config = config.to_str().unwrap();

    let run = plumbline(
        repo.path(),
        &[
            "render", &url, "--ref", "main", "--path", "deploy", "--config", config, "-o", "json",
        ],
    )
    .expect(0);
    let objects: Vec<Value> = serde_json::from_str(&run.stdout).unwrap();
    assert_eq!(objects.len(), 4);
    assert_eq!(
        objects[0]["metadata"]["annotations"]["example.com/owner"],
        "payments@example.com"
    );

    let bad = plumbline(
        repo.path(),
        &[
            "validate", &url, "--ref", "bad", "--path", "deploy", "--config", config,
        ],
    )
    .expect(1);
    assert!(bad.stdout.contains("[images-pinned]"), "{}", bad.stdout);
}

#[test]
fn errors_name_what_is_wrong_and_exit_2() {
    let repo = quickstart_repo();
    let dir = repo.path();

    let unknown = plumbline(dir, &["plan", ".", "--ref", "no-such-branch"]).expect(2);
    assert!(
        unknown.stderr.contains("no-such-branch"),
        "{}",
        unknown.stderr
    );
    assert!(unknown.stdout.is_empty());

    std::fs::write(
        dir.join("deploy/service.yaml"),
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n spec: [\n",
    )
    .unwrap();
    let invalid = plumbline(dir, &["render", "."]).expect(2);
    assert!(
        invalid.stderr.contains("service.yaml"),
        "{}",
        invalid.stderr
    );
    assert!(invalid.stderr.contains("line 5"), "{}", invalid.stderr);

    let missing = plumbline(
        dir,
        &["validate", "deploy", "--policy", "nowhere/missing.wasm"],
    )
    .expect(2);
    assert!(
        missing
            .stderr
            .contains("nowhere/missing.wasm: no such file or directory"),
        "{}",
        missing.stderr
    );

    let no_cluster = plumbline(dir, &["plan", "deploy", "--server-dry-run"]).expect(2);
    assert!(
        no_cluster
            .stderr
            .contains("--server-dry-run needs a cluster"),
        "{}",
        no_cluster.stderr
    );

    for command in ["render", "plan"] {
        let no_path = plumbline(dir, &[command, "deploy", "--path", "no-such-path"]).expect(2);
        assert!(
            no_path
                .stderr
                .contains("path \"deploy/no-such-path\" does not exist in the source"),
            "{}",
            no_path.stderr
        );
        assert!(no_path.stdout.is_empty(), "{}", no_path.stdout);
    }

    let nothing = plumbline(dir, &["plan", "no-such-dir"]).expect(2);
    assert!(
        nothing
            .stderr
            .contains("no-such-dir: no such file or directory"),
        "{}",
        nothing.stderr
    );
}

#[test]
fn an_overlay_renders_its_base_from_elsewhere_in_the_repository_but_not_outside_it() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let files = [
        ("base/kustomization.yaml", "resources: [cm.yaml]\n"),
        (
            "base/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n",
        ),
        (
            "overlays/prod/kustomization.yaml",
            "resources: [../../base]\nnamePrefix: prod-\n",
        ),
        (
            "overlays/escape/kustomization.yaml",
            "resources: [../../../outside]\n",
        ),
    ];
    for (path, text) in files {
        binary_support::write_file(&repo.join(path), text);
    }
    std::fs::create_dir_all(dir.path().join("outside")).unwrap();
    git(&repo, &["init", "-q"]);

    let rendered = plumbline(&repo, &["render", "overlays/prod", "-o", "json"]).expect(0);
    let objects: Value = serde_json::from_str(&rendered.stdout).unwrap();
    assert_eq!(objects[0]["metadata"]["name"], "prod-web");

    let escape = plumbline(&repo, &["render", "overlays/escape"]).expect(2);
    assert!(
        escape.stderr.contains(
            "overlays/escape/kustomization.yaml: \"../../../outside\" is outside the source path"
        ),
        "{}",
        escape.stderr
    );
}

// Issue #30, finding 4: outside any Git work tree the boundary is the
// directory named on the command line, widened by `--root`.
#[test]
fn outside_git_an_overlay_reaches_its_base_only_with_root() {
    let dir = tempfile::tempdir().unwrap();
    let files = [
        ("base/kustomization.yaml", "resources: [cm.yaml]\n"),
        (
            "base/cm.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web\n",
        ),
        (
            "overlays/prod/kustomization.yaml",
            "resources: [../../base]\nnamePrefix: prod-\n",
        ),
        (
            "overlays/escape/kustomization.yaml",
            "resources: [../../../outside]\n",
        ),
    ];
    for (path, text) in files {
        binary_support::write_file(&dir.path().join("plain").join(path), text);
    }
    std::fs::create_dir_all(dir.path().join("outside")).unwrap();
    let plain = dir.path().join("plain");
    assert!(
        !plain.ancestors().any(|a| a.join(".git").exists()),
        "the test directory must not be in a Git work tree"
    );

    let refused = plumbline(&plain, &["render", "overlays/prod"]).expect(2);
    assert!(
        refused
            .stderr
            .contains("kustomization.yaml: \"../../base\" is outside the source path")
            && refused.stderr.contains(
            "overlays/prod is not in a Git work tree, so its kustomizations may only use files under it; pass --root DIR"
        ),
        "{}",
        refused.stderr
    );

    let rendered = plumbline(
        &plain,
        &["render", "overlays/prod", "--root", ".", "-o", "json"],
    )
    .expect(0);
    let objects: Value = serde_json::from_str(&rendered.stdout).unwrap();
    assert_eq!(objects[0]["metadata"]["name"], "prod-web");
    let kubectl = std::process::Command::new("kubectl")
        .args(["kustomize", "overlays/prod"])
        .current_dir(&plain)
        .output()
        .expect("kubectl must be installed (scripts/setup installs it)");
    assert!(String::from_utf8_lossy(&kubectl.stdout).contains("name: prod-web"));
    // --path is relative to SOURCE, as inside a work tree.
    let by_path = plumbline(
        &plain,
        &[
            "render", "overlays", "--root", ".", "--path", "prod", "-o", "json",
        ],
    )
    .expect(0);
    let objects: Value = serde_json::from_str(&by_path.stdout).unwrap();
    assert_eq!(objects[0]["metadata"]["name"], "prod-web");

    // --root is the boundary: not wider than it says.
    let escape = plumbline(&plain, &["render", "overlays/escape", "--root", "."]).expect(2);
    assert!(
        escape
            .stderr
            .contains("\"../../../outside\" is outside the source path"),
        "{}",
        escape.stderr
    );
    let narrow = plumbline(&plain, &["render", "overlays/prod", "--root", "overlays"]).expect(2);
    assert!(
        narrow
            .stderr
            .contains("\"../../base\" is outside the source path")
            && !narrow.stderr.contains("pass --root"),
        "{}",
        narrow.stderr
    );
    let not_inside = plumbline(&plain, &["render", "base", "--root", "overlays"]).expect(2);
    assert!(
        not_inside.stderr.contains("is not inside --root"),
        "{}",
        not_inside.stderr
    );
}

#[test]
fn a_policy_that_traps_fails_validate_with_its_name() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: boom\n  labels: {test/panic: \"yes\"}\n",
    )
    .unwrap();
    let run = plumbline(
        dir.path(),
        &[
            "validate",
            ".",
            "--policy",
            policy_artifacts::TEST_ALL_ROLES,
        ],
    )
    .expect(2);
    assert!(run.stderr.contains("test-all-roles"), "{}", run.stderr);
    assert!(
        run.stderr.to_lowercase().contains("trap") || run.stderr.contains("panic"),
        "{}",
        run.stderr
    );
}

/// The server's kubeconfig in a file.
fn kubeconfig_file(server: &Server, dir: &std::path::Path) -> String {
    server.kubeconfig_file(dir).display().to_string()
}

/// The resourceVersions of the objects a CLI under test manages (in the
/// quickstart's namespace), to show that a run stored nothing.
async fn stored_versions(server: &Server) -> Vec<(String, Option<String>)> {
    use k8s_openapi::api::core::v1::{ConfigMap, Secret, Service};
    use kube::api::{Api, ListParams};
    let client = server.client();
    let mut versions = Vec::new();
    let list = ListParams::default();
    for cm in Api::<ConfigMap>::namespaced(client.clone(), "shop")
        .list(&list)
        .await
        .unwrap()
    {
        versions.push((
            format!("cm/{:?}", cm.metadata.name),
            cm.metadata.resource_version,
        ));
    }
    for secret in Api::<Secret>::namespaced(client.clone(), "shop")
        .list(&list)
        .await
        .unwrap()
    {
        versions.push((
            format!("secret/{:?}", secret.metadata.name),
            secret.metadata.resource_version,
        ));
    }
    for svc in Api::<Service>::namespaced(client, "shop")
        .list(&list)
        .await
        .unwrap()
    {
        versions.push((
            format!("svc/{:?}", svc.metadata.name),
            svc.metadata.resource_version,
        ));
    }
    versions.sort();
    versions
}

async fn sync_then_plan_against_a_cluster_shows_changes_as_diffs(server: Server) {
    let repo = quickstart_repo();
    let dir = repo.path();
    let kubeconfig = kubeconfig_file(&server, dir);
    let kc = kubeconfig.as_str();

    let before = plumbline_async(dir, &["plan", ".", "--kubeconfig", kc])
        .await
        .expect(1);
    assert!(
        before.stdout.contains("cluster:  current context of "),
        "{}",
        before.stdout
    );
    assert!(before.stdout.contains("4 to create"), "{}", before.stdout);

    let synced = plumbline_async(dir, &["sync", ".", "--kubeconfig", kc])
        .await
        .expect(0);
    assert!(
        synced
            .stdout
            .contains("+ created    Deployment.apps shop/web"),
        "{}",
        synced.stdout
    );
    assert!(
        synced.stdout.contains("sync quickstart: Synced: 4 created"),
        "{}",
        synced.stdout
    );
    // What the transformer did is shown with the objects (issue 24).
    assert!(
        synced.stdout.contains(
            "Transformers:\n  policy common-metadata added 0, removed 0, changed 4 objects\n"
        ),
        "{}",
        synced.stdout
    );

    let again = plumbline_async(dir, &["plan", ".", "--kubeconfig", kc])
        .await
        .expect(0);
    assert!(
        again
            .stdout
            .contains("In sync: 0 to create, 0 to update, 4 unchanged"),
        "{}",
        again.stdout
    );

    // Git changes a value and adds a Secret: an update with a diff and a
    // create whose values never show.
    let configmap = dir.join("deploy/configmap.yaml");
    let text = std::fs::read_to_string(&configmap)
        .unwrap()
        .replace("MODE: fast", "MODE: safe");
    std::fs::write(&configmap, text).unwrap();
    std::fs::write(dir.join("deploy/secret.yaml"), "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  labels: {team: payments}\nstringData:\n  password: hunter2-very-secret\n").unwrap();
    let kustomization = dir.join("deploy/kustomization.yaml");
    let text = std::fs::read_to_string(&kustomization)
        .unwrap()
        .replace("  - service.yaml\n", "  - service.yaml\n  - secret.yaml\n");
    std::fs::write(&kustomization, text).unwrap();
    let changed = plumbline_async(dir, &["plan", ".", "--kubeconfig", kc])
        .await
        .expect(1);
    // The API server accepts the changes as server-side dry-runs.
    let checked = plumbline_async(dir, &["plan", ".", "--kubeconfig", kc, "--server-dry-run"])
        .await
        .expect(1);
    assert!(
        !checked.stdout.contains("server dry-run:"),
        "{}",
        checked.stdout
    );
    let before_dry_run = stored_versions(&server).await;
    let dry = plumbline_async(dir, &["sync", ".", "--kubeconfig", kc, "--dry-run"])
        .await
        .expect(0);
    assert!(
        dry.stdout
            .contains("Synced (dry run): 1 created, 1 updated"),
        "{}",
        dry.stdout
    );
    assert_eq!(
        stored_versions(&server).await,
        before_dry_run,
        "a dry run stores nothing"
    );
    let out = &changed.stdout;
    assert!(
        out.contains("~ update    ConfigMap shop/web-config"),
        "{out}"
    );
    assert!(
        out.contains("-   MODE: fast") && out.contains("+   MODE: safe"),
        "{out}"
    );
    assert!(out.contains("+ create    Secret shop/db"), "{out}");
    assert!(out.contains("password: (hidden)"), "{out}");
    assert!(!out.contains("hunter2"), "{out}");
    let json = plumbline_async(dir, &["plan", ".", "--kubeconfig", kc, "-o", "json"])
        .await
        .expect(1);
    assert!(!json.stdout.contains("hunter2"), "{}", json.stdout);
    let plan: Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(plan["summary"]["update"], 1);
    assert_eq!(plan["summary"]["create"], 1);
    assert_eq!(plan["emptyCluster"], false);

    // Without prune, a removed file is left behind and reported.
    let text = std::fs::read_to_string(&kustomization)
        .unwrap()
        .replace("  - service.yaml\n", "");
    std::fs::write(&kustomization, text).unwrap();
    let kept = plumbline_async(
        dir,
        &["sync", ".", "--kubeconfig", kc, "--no-prune", "-o", "json"],
    )
    .await
    .expect(0);
    let report: Value = serde_json::from_str(&kept.stdout).unwrap();
    assert_eq!(report["status"], "Synced");
    assert_eq!(
        report["transformers"][0]["policy"], "common-metadata",
        "{report:#}"
    );
    let orphaned: Vec<&Value> = report["objects"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|o| o["outcome"] == "orphaned")
        .collect();
    assert_eq!(orphaned.len(), 1, "{report:#}");
    assert_eq!(orphaned[0]["key"]["kind"], "Service");
}

async fn sync_of_a_blocked_branch_applies_nothing_and_exits_1(server: Server) {
    let repo = quickstart_repo();
    let kubeconfig = kubeconfig_file(&server, repo.path());
    let namespaces: kube::Api<k8s_openapi::api::core::v1::Namespace> =
        kube::Api::all(server.client());
    let run = plumbline_async(
        repo.path(),
        &["sync", ".", "--ref", "bad", "--kubeconfig", &kubeconfig],
    )
    .await
    .expect(1);
    assert!(run.stdout.contains("Blocked"), "{}", run.stdout);
    assert!(run.stdout.contains("[images-pinned]"), "{}", run.stdout);
    assert!(
        namespaces.get_opt("shop").await.unwrap().is_none(),
        "nothing was applied"
    );
}

async fn drift_shows_in_plan_and_the_remediator_decides_at_sync(server: Server) {
    use k8s_openapi::api::core::v1::ConfigMap;
    use kube::api::{Api, Patch, PatchParams};

    let repo = quickstart_repo();
    let dir = repo.path();
    let kubeconfig = kubeconfig_file(&server, dir);
    let kc = kubeconfig.as_str();
    plumbline_async(dir, &["sync", ".", "--kubeconfig", kc])
        .await
        .expect(0);

    // `kubectl edit`: another field manager changes the ConfigMap.
    let config_maps: Api<ConfigMap> = Api::namespaced(server.client(), "shop");
    let edit = PatchParams {
        field_manager: Some("kubectl-edit".into()),
        ..PatchParams::default()
    };
    let patch = Patch::Merge(serde_json::json!({"data": {"MODE": "slow"}}));
    config_maps
        .patch("web-config", &edit, &patch)
        .await
        .unwrap();

    let plan = plumbline_async(dir, &["plan", ".", "--kubeconfig", kc])
        .await
        .expect(1);
    let out = &plan.stdout;
    assert!(
        out.contains("! drifted   ConfigMap shop/web-config"),
        "{out}"
    );
    assert!(
        out.contains(r#"data.MODE: live "slow", desired "fast" (taken over by kubectl-edit)"#),
        "{out}"
    );
    assert!(out.contains("1 drifted"), "{out}");

    // The quickstart's report-only remediator reports ConfigMap drift and
    // leaves the edit in place.
    let synced = plumbline_async(dir, &["sync", ".", "--kubeconfig", kc])
        .await
        .expect(0);
    assert!(
        synced
            .stdout
            .contains("? reported   ConfigMap shop/web-config"),
        "{}",
        synced.stdout
    );
    let live = config_maps.get("web-config").await.unwrap();
    assert_eq!(live.data.unwrap()["MODE"], "slow");
}

/// The quickstart with a Secret (written with base64 `data`) added.
fn quickstart_with_a_secret() -> tempfile::TempDir {
    let repo = quickstart_repo();
    let dir = repo.path();
    let secret =
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  labels: {team: payments}\n\
                  data:\n  password: czNjcjN0LXZhbHVl\n"; // s3cr3t-value
    std::fs::write(dir.join("deploy/secret.yaml"), secret).unwrap();
    let kustomization = dir.join("deploy/kustomization.yaml");
    let text = std::fs::read_to_string(&kustomization).unwrap();
    let text = text.replace("  - service.yaml\n", "  - service.yaml\n  - secret.yaml\n");
    std::fs::write(kustomization, text).unwrap();
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "-m", "shop: a secret"]);
    repo
}

async fn plan_shows_drifted_list_items_with_their_values_and_hides_secrets(server: Server) {
    use k8s_openapi::api::core::v1::{Secret, Service};
    use kube::api::{Api, Patch, PatchParams};

    let repo = quickstart_with_a_secret();
    let dir = repo.path();
    let kubeconfig = kubeconfig_file(&server, dir);
    let kc = kubeconfig.as_str();
    plumbline_async(dir, &["sync", ".", "--kubeconfig", kc])
        .await
        .expect(0);

    // `kubectl patch svc web --type json -p '[{"op":"replace","path":"/spec/ports/0/port","value":8081}]'`
    let by = |manager: &str| PatchParams {
        field_manager: Some(manager.into()),
        ..PatchParams::default()
    };
    let services: Api<Service> = Api::namespaced(server.client(), "shop");
    let replace = serde_json::from_value(serde_json::json!([
        {"op": "replace", "path": "/spec/ports/0/port", "value": 8081}
    ]))
    .unwrap();
    services
        .patch("web", &by("kubectl-patch"), &Patch::Json::<()>(replace))
        .await
        .unwrap();
    // `kubectl edit secret db`: the password becomes "leaked-value".
    let secrets: Api<Secret> = Api::namespaced(server.client(), "shop");
    let edit = serde_json::json!({"data": {"password": "bGVha2VkLXZhbHVl"}});
    secrets
        .patch("db", &by("kubectl-edit"), &Patch::Merge(edit))
        .await
        .unwrap();

    let plan = plumbline_async(dir, &["plan", ".", "--kubeconfig", kc])
        .await
        .expect(1);
    let out = &plan.stdout;
    assert!(
        out.contains(r#"spec.ports[port=80,protocol=TCP]: live (absent), desired {"port":80,"targetPort":80}"#),
        "{out}"
    );
    assert!(
        out.contains(r#"spec.ports[port=8081,protocol=TCP]: live {"port":8081,"protocol":"TCP","targetPort":80}, desired (absent) (taken over by kubectl-patch)"#),
        "{out}"
    );
    assert!(
        out.contains("data.password: live (hidden), desired (hidden)"),
        "{out}"
    );

    let json = plumbline_async(dir, &["plan", ".", "--kubeconfig", kc, "-o", "json"])
        .await
        .expect(1)
        .stdout;
    for value in ["czNjcjN0LXZhbHVl", "s3cr3t", "bGVha2VkLXZhbHVl", "leaked"] {
        assert!(!json.contains(value), "{value} shows in {json}");
    }
    let document: Value = serde_json::from_str(&json).unwrap();
    let secret = document["objects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["object"] == "Secret shop/db")
        .unwrap();
    assert_eq!(secret["action"]["action"], "drifted", "{secret}");
    assert_eq!(
        secret["action"]["changes"][0]["live"], "(hidden)",
        "{secret}"
    );
}

/// Issue 23, finding 11: `plan` shows the mass-deletion guard that `sync`
/// trips, and both name the setting that allows it.
async fn plan_shows_the_mass_deletion_guard_that_sync_trips_and_names_its_setting(server: Server) {
    let repo = quickstart_repo();
    let dir = repo.path();
    let kubeconfig = kubeconfig_file(&server, dir);
    let kc = kubeconfig.as_str();
    plumbline_async(dir, &["sync", ".", "--kubeconfig", kc])
        .await
        .expect(0);
    let kustomization = dir.join("deploy/kustomization.yaml");
    let text = std::fs::read_to_string(&kustomization).unwrap();
    let only_the_namespace = text.replace(
        "  - configmap.yaml\n  - deployment.yaml\n  - service.yaml\n",
        "",
    );
    assert_ne!(text, only_the_namespace);
    std::fs::write(&kustomization, only_the_namespace).unwrap();

    let refused = "refusing to prune 3 of 4 objects this sync owns";
    let plan = plumbline_async(dir, &["plan", ".", "--kubeconfig", kc])
        .await
        .expect(1);
    assert!(plan.stdout.contains("REFUSED"), "{}", plan.stdout);
    assert!(plan.stdout.contains(refused), "{}", plan.stdout);
    assert!(
        plan.stdout.contains("spec.pruneGuard.allowMassPrune: true"),
        "{}",
        plan.stdout
    );
    let sync = plumbline_async(dir, &["sync", ".", "--kubeconfig", kc])
        .await
        .expect(2);
    let said = sync.output();
    assert!(said.contains(refused), "{said}");
    assert!(
        said.contains("spec.pruneGuard.allowMassPrune: true"),
        "{said}"
    );
}

/// Issue 23, findings 7, 8 and 13: a key removed from a Secret's
/// `stringData` shows in the plan's diff and leaves the Secret; dropping
/// `clusterIP: None` is immutable in the plan and fails the sync by name,
/// with the error on stderr; the JSON summary is camelCase.
async fn plan_and_sync_agree_on_a_removed_secret_key_and_an_immutable_service(server: Server) {
    use k8s_openapi::api::core::v1::Secret;

    let repo = tempfile::TempDir::new().unwrap();
    let dir = repo.path();
    let secret =
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\nstringData:\n  password: s3cret\n";
    let service =
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  ports:\n  - port: 80\n";
    let headless = service.replace("spec:\n", "spec:\n  clusterIP: None\n");
    std::fs::write(dir.join("secret.yaml"), format!("{secret}  user: admin\n")).unwrap();
    std::fs::write(dir.join("service.yaml"), &headless).unwrap();
    let kubeconfig = kubeconfig_file(&server, dir);
    let kc = kubeconfig.as_str();
    plumbline_async(dir, &["sync", ".", "--kubeconfig", kc])
        .await
        .expect(0);

    std::fs::write(dir.join("secret.yaml"), secret).unwrap();
    std::fs::write(dir.join("service.yaml"), service).unwrap();
    let plan = plumbline_async(dir, &["plan", ".", "--kubeconfig", kc])
        .await
        .expect(1);
    let out = &plan.stdout;
    assert!(out.contains("~ update    Secret default/db"), "{out}");
    assert!(out.contains("-   user: (hidden)"), "{out}");
    assert!(!out.contains("YWRtaW4") && !out.contains("admin"), "{out}");
    assert!(out.contains("! immutable Service default/web"), "{out}");
    assert!(
        out.contains(r#"spec.clusterIP: live "None", desired (absent): immutable"#),
        "{out}"
    );
    let json = plumbline_async(dir, &["plan", ".", "--kubeconfig", kc, "-o", "json"])
        .await
        .expect(1)
        .stdout;
    let document: Value = serde_json::from_str(&json).unwrap();
    let summary = document["summary"].as_object().unwrap();
    assert_eq!(summary["immutable"], 1, "{summary:?}");
    assert!(summary.keys().all(|k| !k.contains('_')), "{summary:?}");

    let sync = plumbline_async(dir, &["sync", ".", "--kubeconfig", kc])
        .await
        .expect(2);
    assert!(
        sync.stderr
            .contains("error: Service default/web: immutable field spec.clusterIP"),
        "{}",
        sync.stderr
    );
    assert!(!sync.stdout.contains("error:"), "{}", sync.stdout);
    assert!(
        sync.stdout.contains("~ updated    Secret default/db"),
        "{}",
        sync.stdout
    );
    let secrets: Api<Secret> = Api::namespaced(server.client(), "default");
    let data = secrets.get("db").await.unwrap().data.unwrap();
    assert_eq!(data.keys().collect::<Vec<_>>(), ["password"]);
}

/// Issue 23: `plan` shows an object another sync applied as the refusal
/// `sync` makes, in text and JSON, counted in the summary, with exit 1.
async fn plan_shows_an_object_of_another_sync_as_refused_like_sync(server: Server) {
    let repo = tempfile::TempDir::new().unwrap();
    let dir = repo.path();
    for sync in ["first", "second"] {
        let shared = format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: shared\ndata:\n  mode: {sync}\n"
        );
        std::fs::create_dir(dir.join(sync)).unwrap();
        std::fs::write(dir.join(sync).join("shared.yaml"), shared).unwrap();
    }
    let kubeconfig = kubeconfig_file(&server, dir);
    let kc = kubeconfig.as_str();
    plumbline_async(dir, &["sync", "first", "--kubeconfig", kc])
        .await
        .expect(0);

    let plan = plumbline_async(dir, &["plan", "second", "--kubeconfig", kc])
        .await
        .expect(1);
    let out = &plan.stdout;
    assert!(
        out.contains("! refused   ConfigMap default/shared"),
        "{out}"
    );
    assert!(
        out.contains(r#"applied by sync "first", not this one"#),
        "{out}"
    );
    assert!(out.contains("takeOver.syncs"), "{out}");
    assert!(
        out.contains("REFUSED: a sync would fail, not applying what another sync applied"),
        "{out}"
    );
    let json = plumbline_async(dir, &["plan", "second", "--kubeconfig", kc, "-o", "json"])
        .await
        .expect(1)
        .stdout;
    let document: Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        document["objects"][0]["action"],
        serde_json::json!({"action": "ownedByAnotherSync", "owner": "first"}),
        "{document}"
    );
    assert_eq!(document["summary"]["ownedByAnotherSync"], 1, "{document}");
    assert_eq!(document["inSync"], false, "{document}");

    let sync = plumbline_async(dir, &["sync", "second", "--kubeconfig", kc])
        .await
        .expect(2);
    assert!(
        sync.stderr
            .contains(r#"applied by sync "first", not this one"#),
        "{}",
        sync.stderr
    );
}

on_real_server!(
    plan_shows_an_object_of_another_sync_as_refused_like_sync,
    plan_shows_the_mass_deletion_guard_that_sync_trips_and_names_its_setting,
    plan_and_sync_agree_on_a_removed_secret_key_and_an_immutable_service,
    plan_shows_drifted_list_items_with_their_values_and_hides_secrets,
    sigterm_stops_a_running_sync_between_api_requests,
);

on_both_servers!(
    sync_then_plan_against_a_cluster_shows_changes_as_diffs,
    sync_of_a_blocked_branch_applies_nothing_and_exits_1,
    drift_shows_in_plan_and_the_remediator_decides_at_sync,
);

/// SIGTERM stops a running `plumbline sync` promptly, with a message that
/// says so, and nothing is written after it. Issue #18.
async fn sigterm_stops_a_running_sync_between_api_requests(server: Server) {
    let repo = tempfile::TempDir::new().unwrap();
    let dir = repo.path();
    const OBJECTS: usize = 3000;
    for i in 0..OBJECTS {
        let manifest = format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-{i}\ndata:\n  n: \"{i}\"\n"
        );
        std::fs::write(dir.join(format!("cm-{i}.yaml")), manifest).unwrap();
    }
    let kubeconfig = kubeconfig_file(&server, dir);
    let child = binary_support::plumbline_command(&["sync", ".", "--kubeconfig", &kubeconfig])
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    let config_maps: Api<ConfigMap> = Api::namespaced(server.client(), "default");
    let count = || async {
        let list = config_maps
            .list_metadata(&ListParams::default())
            .await
            .unwrap();
        list.items
            .iter()
            .filter(|c| {
                c.metadata
                    .name
                    .as_deref()
                    .is_some_and(|n| n.starts_with("cm-"))
            })
            .count()
    };
    let started = std::time::Instant::now();
    while count().await == 0 {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "nothing applied"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let status = std::process::Command::new("kill")
        .args(["-TERM", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let signalled = std::time::Instant::now();
    let output = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    assert!(
        signalled.elapsed() < Duration::from_secs(5),
        "took {:?} to stop",
        signalled.elapsed()
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("SIGTERM: the sync of")
            && stderr.contains("stopped before its next API request"),
        "{stderr}"
    );
    // Requests already on the wire may land; none is sent after.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let after = count().await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(count().await, after, "written after the process exited");
    assert!(after < OBJECTS, "the sync finished before the signal");
}

/// A reader that goes away (`plumbline render | head`) ends the command
/// with 141, as SIGPIPE would, without a panic or an error message.
#[test]
fn a_closed_stdout_ends_render_with_141_quietly() {
    let mut child = binary_support::plumbline_command(&["render", "examples/quickstart"])
        .env("NO_COLOR", "1")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(141), "{stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("error"),
        "{stderr}"
    );
}
