//! `plumbline render|plan|sync` of a sync with `source.verify`: an unsigned,
//! untrusted or tampered commit is refused with exit code 2 and a message
//! naming the commit, the key expected and what was found, and nothing is
//! rendered or applied; a commit signed by a trusted key goes through, and
//! `plan` shows who signed it.

mod binary_support;
mod cli_support;
mod server_support;
mod source_support;
mod verify_support;

use std::path::Path;

use cli_support::{plumbline, plumbline_async};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::Api;
use server_support::Server;
use verify_support::{tamper, Keys, Signing};

/// A repository (`repo/`) with one ConfigMap, and beside it a sync
/// (`sync/plumbline.yaml`) of its `main` that trusts SSH key alice
/// (`sync/keys/alice.pub`).
fn signed_sync(keys: &Keys, namespace: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    let sync = dir.path().join("sync");
    std::fs::create_dir_all(repo.join("deploy")).unwrap();
    std::fs::create_dir_all(sync.join("keys")).unwrap();
    keys.git(&repo, &["init", "-q"], &Signing::None);
    std::fs::write(sync.join("keys/alice.pub"), keys.ssh_public("alice")).unwrap();
    std::fs::write(
        sync.join("plumbline.yaml"),
        format!(
            "apiVersion: plumbline.dev/v1alpha1\nkind: Sync\nmetadata: {{name: signed}}\n\
             spec:\n  source:\n    url: ../repo\n    ref: {{branch: main}}\n    path: deploy\n    \
             verify:\n      mode: head\n      keys: [{{file: keys/alice.pub}}]\n  \
             targetNamespace: {namespace}\n  createNamespace: true\n"
        ),
    )
    .unwrap();
    dir
}

fn write_config_map(dir: &Path, mode: &str) {
    std::fs::write(
        dir.join("repo/deploy/config.yaml"),
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  mode: {mode}\n"
        ),
    )
    .unwrap();
}

/// Makes the commit of a case and returns its id.
type MakeCommit<'a> = Box<dyn Fn() -> String + 'a>;

/// Commit the repository's files signed as `signing`.
fn commit(keys: &Keys, dir: &Path, message: &str, signing: &Signing) -> String {
    keys.commit(&dir.join("repo"), message, signing)
}

#[test]
fn render_and_plan_refuse_unsigned_untrusted_and_tampered_commits_and_show_the_signer() {
    let keys = Keys::new();
    let dir = signed_sync(&keys, "verify-cli");
    let sync = dir.path().join("sync");
    let alice = keys.ssh_fingerprint("alice");

    write_config_map(dir.path(), "fast");
    let signed = commit(
        &keys,
        dir.path(),
        "signed",
        &Signing::Ssh(keys.ssh_key("alice")),
    );
    let render = plumbline(&sync, &["render", "."]).expect(0);
    assert!(render.stdout.contains("mode: fast"), "{}", render.stdout);
    let plan = plumbline(&sync, &["plan", "."]).expect(1);
    assert!(
        plan.stdout.contains(&format!(
            "verified: commit {signed} signed by SSH key {alice} (keys/alice.pub)"
        )),
        "{}",
        plan.stdout
    );
    let json = plumbline(&sync, &["plan", ".", "-o", "json"]).expect(1);
    let document: serde_json::Value = serde_json::from_str(&json.stdout).unwrap();
    assert_eq!(document["verified"][0]["object"], signed.as_str());
    assert_eq!(
        document["verified"][0]["signer"]["fingerprint"],
        alice.as_str()
    );

    let mallory = keys.ssh_fingerprint("mallory");
    let tampered_base = signed.clone();
    let cases: [(&str, MakeCommit, String); 3] = [
        (
            "unsigned",
            Box::new(|| {
                write_config_map(dir.path(), "unsigned");
                commit(&keys, dir.path(), "unsigned", &Signing::None)
            }),
            "is not signed".to_owned(),
        ),
        (
            "untrusted",
            Box::new(|| {
                write_config_map(dir.path(), "untrusted");
                commit(
                    &keys,
                    dir.path(),
                    "untrusted",
                    &Signing::Ssh(keys.ssh_key("mallory")),
                )
            }),
            format!("signed by SSH key {mallory}, which is not a trusted key"),
        ),
        (
            "tampered",
            Box::new(|| {
                let repo = dir.path().join("repo");
                let id = tamper(&repo, &tampered_base, "signed", "tampered");
                keys.git(&repo, &["reset", "-q", "--hard", &id], &Signing::None);
                id
            }),
            format!("its signature by SSH key {alice} is bad"),
        ),
    ];
    for (case, make, found) in cases {
        let commit = make();
        for command in ["render", "plan"] {
            let refused = plumbline(&sync, &[command, "."]).expect(2);
            assert!(refused.stdout.is_empty(), "{case}: {}", refused.stdout);
            let stderr = refused.stderr.replace('\n', " ");
            assert!(
                stderr.contains(&format!("commit {commit}")),
                "{case}: {stderr}"
            );
            assert!(stderr.contains(&found), "{case}: {stderr}");
            assert!(
                stderr.contains(&format!(
                    "expected a signature by SSH key {alice} (keys/alice.pub)"
                )),
                "{case}: {stderr}"
            );
        }
    }
}

#[test]
fn a_key_file_that_holds_no_key_is_an_error_naming_it() {
    let keys = Keys::new();
    let dir = signed_sync(&keys, "verify-cli");
    let sync = dir.path().join("sync");
    write_config_map(dir.path(), "fast");
    commit(
        &keys,
        dir.path(),
        "signed",
        &Signing::Ssh(keys.ssh_key("alice")),
    );
    std::fs::write(sync.join("keys/alice.pub"), "not a key\n").unwrap();
    let run = plumbline(&sync, &["render", "."]).expect(2);
    assert!(run.stderr.contains("keys/alice.pub"), "{}", run.stderr);
    std::fs::remove_file(sync.join("keys/alice.pub")).unwrap();
    let run = plumbline(&sync, &["render", "."]).expect(2);
    assert!(
        run.stderr.contains("cannot read key file keys/alice.pub"),
        "{}",
        run.stderr
    );
}

async fn sync_applies_nothing_from_an_unsigned_commit_and_goes_on_once_signed(server: Server) {
    let keys = Keys::new();
    let dir = signed_sync(&keys, "verify-sync");
    let sync = dir.path().join("sync");
    let kubeconfig = server.kubeconfig_file(&sync).display().to_string();
    let config_maps: Api<ConfigMap> = Api::namespaced(server.client(), "verify-sync");
    let mode = |c: Option<ConfigMap>| c.and_then(|c| c.data).and_then(|d| d.get("mode").cloned());

    write_config_map(dir.path(), "unsigned");
    let unsigned = commit(&keys, dir.path(), "unsigned", &Signing::None);
    let refused = plumbline_async(&sync, &["sync", ".", "--kubeconfig", &kubeconfig])
        .await
        .expect(2);
    assert!(refused.stderr.contains(&unsigned), "{}", refused.stderr);
    assert_eq!(mode(config_maps.get_opt("settings").await.unwrap()), None);

    write_config_map(dir.path(), "signed");
    let signed = commit(
        &keys,
        dir.path(),
        "signed",
        &Signing::Ssh(keys.ssh_key("alice")),
    );
    let synced = plumbline_async(&sync, &["sync", ".", "--kubeconfig", &kubeconfig])
        .await
        .expect(0);
    let alice = keys.ssh_fingerprint("alice");
    assert!(
        synced.stdout.contains(&format!(
            "verified commit {signed} signed by SSH key {alice} (keys/alice.pub)"
        )),
        "{}",
        synced.stdout
    );
    assert_eq!(
        mode(config_maps.get_opt("settings").await.unwrap()).as_deref(),
        Some("signed")
    );

    // A later unsigned commit changes nothing, and prunes nothing.
    std::fs::remove_file(dir.path().join("repo/deploy/config.yaml")).unwrap();
    std::fs::write(
        dir.path().join("repo/deploy/other.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: other\n",
    )
    .unwrap();
    commit(&keys, dir.path(), "unsigned again", &Signing::None);
    plumbline_async(&sync, &["sync", ".", "--kubeconfig", &kubeconfig])
        .await
        .expect(2);
    assert_eq!(
        mode(config_maps.get_opt("settings").await.unwrap()).as_deref(),
        Some("signed")
    );
    assert!(config_maps.get_opt("other").await.unwrap().is_none());
}

on_real_server!(sync_applies_nothing_from_an_unsigned_commit_and_goes_on_once_signed);
