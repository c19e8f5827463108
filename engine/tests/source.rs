//! Source tests against real repositories made with the `git` CLI, served over
//! `file://`, `git daemon`, smart HTTP (`git http-backend`) and ssh (through a
//! stand-in `ssh` program that runs the remote command locally).

mod source_support;

use std::num::NonZeroU32;
use std::sync::atomic::AtomicBool;

use plumbline::source::{self, Credentials, Error, FetchOptions, GitRef, Limits, Secret, Source};
use source_support::{git, http::SmartHttp, GitDaemon, Repo};

fn no_interrupt() -> &'static AtomicBool {
    static FLAG: AtomicBool = AtomicBool::new(false);
    &FLAG
}

fn src(url: String, reference: GitRef, path: &str) -> Source {
    Source {
        url,
        reference,
        path: path.into(),
        credentials: Credentials::None,
    }
}

fn fetch(source: &Source, cache: &std::path::Path) -> Result<source::Fetched, Error> {
    fetch_with(source, cache, &FetchOptions::default())
}

fn fetch_with(
    source: &Source,
    cache: &std::path::Path,
    options: &FetchOptions,
) -> Result<source::Fetched, Error> {
    source::fetch(
        source,
        cache,
        options,
        gix::progress::Discard,
        no_interrupt(),
    )
}

fn text(fetched: &source::Fetched, path: &str) -> String {
    String::from_utf8(
        fetched
            .files
            .get(path)
            .unwrap_or_else(|| panic!("{path} missing"))
            .to_vec(),
    )
    .unwrap()
}

/// A repository with `deploy/` (manifests, a binary file, a nested dir) and
/// files outside it.
fn sample_repo() -> (Repo, String) {
    let repo = Repo::new();
    repo.write("deploy/app.yaml", "kind: ConfigMap\n");
    repo.write("deploy/nested/svc.yaml", "kind: Service\n");
    repo.write("deploy/logo.bin", [0u8, 159, 146, 150, 255, 0, 1]);
    repo.write("README.md", "outside the path\n");
    let first = repo.commit("first");
    repo.push();
    (repo, first)
}

#[test]
fn file_url_branch_reads_files_under_the_path_byte_for_byte() {
    let (repo, first) = sample_repo();
    let cache = tempfile::tempdir().unwrap();
    let fetched = fetch(
        &src(repo.url(), GitRef::Branch("main".into()), "deploy"),
        cache.path(),
    )
    .unwrap();
    assert_eq!(fetched.commit.to_string(), first);
    let paths: Vec<_> = fetched.files.iter().map(|(p, _)| p.to_owned()).collect();
    assert_eq!(paths, ["app.yaml", "logo.bin", "nested/svc.yaml"]);
    assert_eq!(
        fetched.files.get("logo.bin").unwrap(),
        &[0u8, 159, 146, 150, 255, 0, 1]
    );
    assert_eq!(text(&fetched, "nested/svc.yaml"), "kind: Service\n");

    // The cache is bare and shallow: no checkout, only the fetched commit.
    let cached: Vec<_> = std::fs::read_dir(cache.path()).unwrap().flatten().collect();
    assert_eq!(cached.len(), 1);
    let dir = cached[0].path();
    assert!(dir.join("HEAD").is_file() && !dir.join("deploy").exists());
    assert!(dir.join("shallow").is_file(), "cache should be shallow");
}

#[test]
fn local_paths_work_like_file_urls_and_the_root_path_reads_everything() {
    let (repo, first) = sample_repo();
    let cache = tempfile::tempdir().unwrap();
    let url = repo.bare().display().to_string();
    let fetched = fetch(&src(url, GitRef::Branch("main".into()), ""), cache.path()).unwrap();
    assert_eq!(fetched.commit.to_string(), first);
    assert_eq!(text(&fetched, "README.md"), "outside the path\n");
    assert_eq!(fetched.files.len(), 4);
}

#[test]
fn tags_lightweight_and_annotated_resolve_to_their_commit() {
    let (repo, first) = sample_repo();
    repo.git(&["tag", "v1"]);
    repo.git(&["tag", "-a", "v1-annotated", "-m", "release"]);
    repo.write("deploy/app.yaml", "kind: Secret\n");
    repo.commit("second");
    repo.push();
    let cache = tempfile::tempdir().unwrap();
    for tag in ["v1", "v1-annotated"] {
        let fetched = fetch(
            &src(repo.url(), GitRef::Tag(tag.into()), "deploy"),
            cache.path(),
        )
        .unwrap();
        assert_eq!(fetched.commit.to_string(), first, "{tag}");
        assert_eq!(text(&fetched, "app.yaml"), "kind: ConfigMap\n", "{tag}");
    }
}

#[test]
fn an_exact_commit_that_is_not_a_tip_can_be_fetched() {
    let (repo, first) = sample_repo();
    repo.write("deploy/app.yaml", "kind: Secret\n");
    let second = repo.commit("second");
    repo.push();
    let cache = tempfile::tempdir().unwrap();
    let fetched = fetch(
        &src(repo.url(), GitRef::Commit(first.clone()), "deploy"),
        cache.path(),
    )
    .unwrap();
    assert_eq!(fetched.commit.to_string(), first);
    assert_eq!(text(&fetched, "app.yaml"), "kind: ConfigMap\n");
    let fetched = fetch(
        &src(repo.url(), GitRef::Commit(second.clone()), "deploy"),
        cache.path(),
    )
    .unwrap();
    assert_eq!(fetched.commit.to_string(), second);
    assert_eq!(text(&fetched, "app.yaml"), "kind: Secret\n");
}

#[test]
fn incremental_fetch_sees_a_new_commit_and_force_pushes_are_followed() {
    let (repo, _) = sample_repo();
    let cache = tempfile::tempdir().unwrap();
    let source = src(repo.url(), GitRef::Branch("main".into()), "deploy");
    fetch(&source, cache.path()).unwrap();

    repo.write("deploy/new.yaml", "kind: Namespace\n");
    let second = repo.commit("second");
    repo.push();
    let fetched = fetch(&source, cache.path()).unwrap();
    assert_eq!(fetched.commit.to_string(), second);
    assert_eq!(text(&fetched, "new.yaml"), "kind: Namespace\n");
    // Only new objects travelled: the second pack holds the new commit, its
    // changed trees and the new blob (plus delta bases that complete a thin
    // pack), not the whole tree again like the first pack.
    let packs = pack_object_counts(cache.path());
    assert_eq!(packs.len(), 2, "{packs:?}");
    assert!(packs[0] <= 5 && packs[1] == 8, "{packs:?}");

    // Rewrite history: the branch now points at a commit unrelated to
    // `second`; the fetch follows it.
    repo.git(&["checkout", "-q", "--orphan", "rewritten"]);
    repo.git(&["rm", "-rq", "--cached", "."]);
    std::fs::remove_dir_all(repo.work().join("deploy")).unwrap();
    repo.write("deploy/only.yaml", "kind: Pod\n");
    let rewritten = repo.commit("rewritten");
    repo.git(&["branch", "-f", "main", "rewritten"]);
    repo.push();
    let fetched = fetch(&source, cache.path()).unwrap();
    assert_eq!(fetched.commit.to_string(), rewritten);
    let paths: Vec<_> = fetched.files.iter().map(|(p, _)| p.to_owned()).collect();
    assert_eq!(paths, ["only.yaml"]);
}

#[test]
fn full_history_when_depth_is_none() {
    let (repo, first) = sample_repo();
    let second = repo.commit("second");
    repo.push();
    let cache = tempfile::tempdir().unwrap();
    let options = FetchOptions {
        depth: None,
        ..FetchOptions::default()
    };
    let source = src(repo.url(), GitRef::Branch("main".into()), "deploy");
    assert_eq!(
        fetch_with(&source, cache.path(), &options)
            .unwrap()
            .commit
            .to_string(),
        second
    );
    let dir = std::fs::read_dir(cache.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert!(!dir.join("shallow").exists());
    assert_eq!(git(&dir, &["rev-parse", &format!("{second}^")]), first);
}

#[test]
fn a_vanished_branch_is_a_clear_error_and_the_last_good_revision_stays() {
    let (repo, first) = sample_repo();
    repo.git(&["branch", "feature"]);
    repo.push();
    let cache = tempfile::tempdir().unwrap();
    let source = src(repo.url(), GitRef::Branch("feature".into()), "deploy");
    fetch(&source, cache.path()).unwrap();

    git(&repo.bare(), &["branch", "-D", "feature"]);
    let err = fetch(&source, cache.path()).unwrap_err();
    assert!(matches!(err, Error::RefNotFound { .. }), "{err}");
    assert_eq!(err.last_good().map(|c| c.to_string()), Some(first.clone()));
    let msg = err.to_string();
    assert!(
        msg.contains("branch feature not found") && msg.contains(&first),
        "{msg}"
    );

    let good = source::last_good(
        &source,
        cache.path(),
        &FetchOptions::default(),
        no_interrupt(),
    )
    .unwrap()
    .expect("last good revision");
    assert_eq!(good.commit.to_string(), first);
    assert_eq!(text(&good, "app.yaml"), "kind: ConfigMap\n");
}

#[test]
fn an_unreachable_remote_is_a_clear_error_and_the_last_good_revision_stays() {
    let (repo, first) = sample_repo();
    let cache = tempfile::tempdir().unwrap();
    let source = src(repo.url(), GitRef::Branch("main".into()), "deploy");
    fetch(&source, cache.path()).unwrap();

    std::fs::rename(repo.bare(), repo.root.path().join("moved.git")).unwrap();
    let err = fetch(&source, cache.path()).unwrap_err();
    assert!(matches!(err, Error::Unreachable { .. }), "{err}");
    assert!(err.is_retryable());
    assert!(err.to_string().contains(&first), "{err}");
    let good = source::last_good(
        &source,
        cache.path(),
        &FetchOptions::default(),
        no_interrupt(),
    )
    .unwrap()
    .unwrap();
    assert_eq!(good.commit.to_string(), first);

    // Never fetched, nothing listening: unreachable, no last good revision.
    let nobody = src(
        format!("git://127.0.0.1:{}/none.git", source_support::free_port()),
        GitRef::Branch("main".into()),
        "",
    );
    let err = fetch(&nobody, cache.path()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Unreachable {
                last_good: None,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn a_missing_tag_or_path_is_a_clear_error() {
    let (repo, _) = sample_repo();
    let cache = tempfile::tempdir().unwrap();
    let err = fetch(&src(repo.url(), GitRef::Tag("v9".into()), ""), cache.path()).unwrap_err();
    assert_eq!(err.reason(), "RefNotFound");
    assert!(err.to_string().contains("tag v9"), "{err}");
    let err = fetch(
        &src(repo.url(), GitRef::Branch("main".into()), "nope"),
        cache.path(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::PathNotFound { .. }), "{err}");
    let err = fetch(
        &src(repo.url(), GitRef::Branch("main".into()), "deploy/app.yaml"),
        cache.path(),
    )
    .unwrap_err();
    assert!(matches!(err, Error::PathNotFound { .. }), "{err}");
}

#[test]
fn symlinks_inside_are_followed_and_escapes_are_refused() {
    let repo = Repo::new();
    repo.write("deploy/base/cm.yaml", "kind: ConfigMap\n");
    repo.symlink("deploy/linked.yaml", "base/cm.yaml");
    repo.write("secret.txt", "outside\n");
    repo.commit("links");
    repo.push();
    let cache = tempfile::tempdir().unwrap();
    let source = src(repo.url(), GitRef::Branch("main".into()), "deploy");
    let fetched = fetch(&source, cache.path()).unwrap();
    assert_eq!(text(&fetched, "linked.yaml"), "kind: ConfigMap\n");

    // `../secret.txt` exists in the repository, but outside the path.
    repo.symlink("deploy/evil.yaml", "../secret.txt");
    repo.commit("escape");
    repo.push();
    let err = fetch(&source, cache.path()).unwrap_err();
    assert!(matches!(err, Error::SymlinkEscape { .. }), "{err}");
    assert_eq!(
        err.to_string(),
        "symlink evil.yaml points outside the source path (to \"../secret.txt\")"
    );
}

#[test]
fn size_and_count_limits_are_clear_errors() {
    let repo = Repo::new();
    repo.write("deploy/a.yaml", "a: 1\n");
    repo.write("deploy/b.yaml", "b: 2\n");
    // Larger than the default 8 MiB limit on a single file.
    repo.write("deploy/huge.bin", vec![7u8; 9 << 20]);
    repo.commit("huge");
    repo.push();
    let cache = tempfile::tempdir().unwrap();
    let source = src(repo.url(), GitRef::Branch("main".into()), "deploy");
    let err = fetch(&source, cache.path()).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "file huge.bin is {} bytes, more than the limit of {}",
            9 << 20,
            8 << 20
        )
    );

    let limited = |limits| FetchOptions {
        limits,
        ..FetchOptions::default()
    };
    let err = fetch_with(
        &source,
        cache.path(),
        &limited(Limits {
            max_files: 2,
            ..Limits::default()
        }),
    )
    .unwrap_err();
    assert_eq!(err.to_string(), "more than 2 files under the source path");
    let err = fetch_with(
        &source,
        cache.path(),
        &limited(Limits {
            max_total_size: 1 << 20,
            max_file_size: 10 << 20,
            ..Limits::default()
        }),
    )
    .unwrap_err();
    assert!(
        matches!(err, Error::TotalTooLarge { limit } if limit == 1 << 20),
        "{err}"
    );
}

#[test]
fn an_abbreviated_commit_is_refused_before_any_network_access() {
    let cache = tempfile::tempdir().unwrap();
    let err = fetch(
        &src("/nonexistent".into(), GitRef::Commit("abc1234".into()), ""),
        cache.path(),
    )
    .unwrap_err();
    assert_eq!(err.reason(), "InvalidReference");
}

#[test]
fn interrupt_stops_the_fetch() {
    let (repo, _) = sample_repo();
    let cache = tempfile::tempdir().unwrap();
    let interrupt = AtomicBool::new(true);
    let err = source::fetch(
        &src(repo.url(), GitRef::Branch("main".into()), ""),
        cache.path(),
        &FetchOptions::default(),
        gix::progress::Discard,
        &interrupt,
    )
    .unwrap_err();
    assert!(matches!(err, Error::Interrupted), "{err}");
}

#[test]
fn git_daemon_on_loopback() {
    let (repo, first) = sample_repo();
    let daemon = GitDaemon::start(repo.root.path());
    let cache = tempfile::tempdir().unwrap();
    let url = format!("git://127.0.0.1:{}/remote.git", daemon.port);
    let source = src(url.clone(), GitRef::Branch("main".into()), "deploy");
    let fetched = fetch(&source, cache.path()).unwrap();
    assert_eq!(fetched.commit.to_string(), first);
    assert_eq!(text(&fetched, "app.yaml"), "kind: ConfigMap\n");

    repo.write("deploy/app.yaml", "kind: Secret\n");
    let second = repo.commit("second");
    repo.push();
    let fetched = fetch(&source, cache.path()).unwrap();
    assert_eq!(fetched.commit.to_string(), second);
    assert_eq!(text(&fetched, "app.yaml"), "kind: Secret\n");
    let by_sha = fetch(
        &src(url, GitRef::Commit(first.clone()), "deploy"),
        cache.path(),
    )
    .unwrap();
    assert_eq!(text(&by_sha, "app.yaml"), "kind: ConfigMap\n");
}

#[test]
fn smart_http_with_basic_auth_and_no_credential_leaks() {
    const PASSWORD: &str = "pa55-Zq9-unique-secret";
    let (repo, first) = sample_repo();
    let server = SmartHttp::start(repo.root.path(), Some(("alice", PASSWORD)));
    let url = format!("http://127.0.0.1:{}/remote.git", server.port);
    let cache = tempfile::tempdir().unwrap();
    let mut source = src(url.clone(), GitRef::Branch("main".into()), "deploy");
    source.credentials = Credentials::Basic {
        username: "alice".into(),
        password: Secret::new(PASSWORD),
    };
    let fetched = fetch(&source, cache.path()).unwrap();
    assert_eq!(fetched.commit.to_string(), first);
    assert_eq!(text(&fetched, "app.yaml"), "kind: ConfigMap\n");

    // A token is sent as the password of x-access-token.
    let token_server = SmartHttp::start(repo.root.path(), Some(("x-access-token", PASSWORD)));
    let token_file = repo.root.path().join("token");
    std::fs::write(&token_file, format!("{PASSWORD}\n")).unwrap();
    let mut with_token = src(
        format!("http://127.0.0.1:{}/remote.git", token_server.port),
        GitRef::Branch("main".into()),
        "deploy",
    );
    with_token.credentials = Credentials::Token(Secret::from_file(&token_file).unwrap());
    assert_eq!(
        fetch(&with_token, cache.path()).unwrap().commit.to_string(),
        first
    );

    // Wrong and missing credentials fail clearly, and never show a secret.
    let wrong = "wrong-Kx7-unique-secret";
    source.credentials = Credentials::Basic {
        username: "alice".into(),
        password: Secret::new(wrong),
    };
    let err = fetch(&source, cache.path()).unwrap_err();
    assert!(matches!(err, Error::Unreachable { .. }), "{err}");
    let mut shown = format!("{err:?} {source:?}");
    let mut cause: Option<&dyn std::error::Error> = Some(&err);
    while let Some(e) = cause {
        shown.push_str(&format!(" {e}"));
        cause = e.source();
    }
    assert!(
        !shown.contains(wrong) && !shown.contains(PASSWORD),
        "{shown}"
    );
    source.credentials = Credentials::None;
    assert!(matches!(
        fetch(&source, cache.path()),
        Err(Error::Unreachable { .. })
    ));

    // Nothing in the cache directory holds a secret either.
    for entry in walk(cache.path()) {
        let bytes = std::fs::read(&entry).unwrap();
        for secret in [PASSWORD, wrong] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{} contains a secret",
                entry.display()
            );
        }
    }

    // A password in the URL is refused without echoing it.
    let err = fetch(
        &src(
            format!(
                "http://alice:{PASSWORD}@127.0.0.1:{}/remote.git",
                server.port
            ),
            GitRef::Branch("main".into()),
            "",
        ),
        cache.path(),
    )
    .unwrap_err();
    assert_eq!(err.reason(), "CredentialsInURL");
    assert!(!format!("{err} {err:?}").contains(PASSWORD));
}

/// Number of objects in each pack of the (single) cache repository, sorted.
fn pack_object_counts(cache: &std::path::Path) -> Vec<usize> {
    let mut counts: Vec<usize> = walk(cache)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|e| e == "idx"))
        .map(|idx| {
            let out = std::process::Command::new("git")
                .args(["show-index", "--object-format=sha1"])
                .stdin(std::fs::File::open(&idx).unwrap())
                .output()
                .unwrap();
            String::from_utf8(out.stdout).unwrap().lines().count()
        })
        .collect();
    counts.sort();
    counts
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let p = entry.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn ssh_uses_the_configured_program_with_the_key() {
    let (repo, first) = sample_repo();
    let bin = tempfile::tempdir().unwrap();
    let log = bin.path().join("args.log");
    // A stand-in for `ssh`: records its arguments, skips the options and the
    // host, and runs the remote command locally, which is what sshd would do.
    let program = bin.path().join("fake-ssh");
    std::fs::write(
        &program,
        format!(
            "#!/bin/sh\nprintf '%s\\n' \"$@\" > '{}'\n\
             while [ $# -gt 0 ]; do case $1 in -o|-i|-p|-F) shift 2;; -*) shift;; *) break;; esac; done\n\
             shift\nexec sh -c \"$*\" 2>'{}'\n",
            log.display(),
            bin.path().join("stderr.log").display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&program, std::fs::Permissions::from_mode(0o755)).unwrap();
    let key = bin.path().join("id_ed25519");
    std::fs::write(&key, "not a real key").unwrap();

    let cache = tempfile::tempdir().unwrap();
    let mut source = src(
        format!("ssh://git@localhost{}", repo.bare().display()),
        GitRef::Branch("main".into()),
        "deploy",
    );
    source.credentials = Credentials::SshKey {
        private_key: key.clone(),
        known_hosts: None,
    };
    let options = FetchOptions {
        ssh_program: Some(program.display().to_string()),
        ..FetchOptions::default()
    };
    let fetched = fetch_with(&source, cache.path(), &options).unwrap_or_else(|e| {
        panic!(
            "{e:?}\nargs: {:?}\nstderr: {:?}",
            std::fs::read_to_string(&log),
            std::fs::read_to_string(bin.path().join("stderr.log"))
        )
    });
    assert_eq!(fetched.commit.to_string(), first);
    let args = std::fs::read_to_string(&log).unwrap();
    let args: Vec<&str> = args.lines().collect();
    assert!(
        args.windows(2).any(|w| w == ["-i", key.to_str().unwrap()]),
        "{args:?}"
    );
    assert!(
        args.contains(&"IdentitiesOnly=yes") && args.contains(&"BatchMode=yes"),
        "{args:?}"
    );
    assert!(args.contains(&"git@localhost"), "{args:?}");
}

#[test]
fn local_directories_are_read_through_cap_std() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("root");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::write(root.join("sub/a.yaml"), "a: 1\n").unwrap();
    std::os::unix::fs::symlink("sub/a.yaml", root.join("link.yaml")).unwrap();
    let tree = source::read_local_dir(&root, &Limits::default()).unwrap();
    assert_eq!(tree.get("sub/a.yaml"), Some(&b"a: 1\n"[..]));
    assert_eq!(tree.get("link.yaml"), Some(&b"a: 1\n"[..]));

    std::fs::write(dir.path().join("outside.yaml"), "secret: 1\n").unwrap();
    std::os::unix::fs::symlink("../outside.yaml", root.join("evil.yaml")).unwrap();
    let err = source::read_local_dir(&root, &Limits::default()).unwrap_err();
    assert!(
        matches!(err, Error::SymlinkEscape { ref path, .. } if path == "evil.yaml"),
        "{err}"
    );
    std::fs::remove_file(root.join("evil.yaml")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", root.join("abs.yaml")).unwrap();
    assert!(matches!(
        source::read_local_dir(&root, &Limits::default()),
        Err(Error::SymlinkEscape { .. })
    ));
}

#[test]
fn depth_two_keeps_two_commits_of_history() {
    // Depth 2 keeps two commits of history in the cache.
    let (repo, first) = sample_repo();
    let second = repo.commit("second");
    repo.commit("third");
    repo.push();
    let cache = tempfile::tempdir().unwrap();
    let options = FetchOptions {
        depth: NonZeroU32::new(2),
        ..FetchOptions::default()
    };
    fetch_with(
        &src(repo.url(), GitRef::Branch("main".into()), ""),
        cache.path(),
        &options,
    )
    .unwrap();
    let dir = std::fs::read_dir(cache.path())
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    assert_eq!(git(&dir, &["cat-file", "-t", &second]), "commit");
    let shallow = std::fs::read_to_string(dir.join("shallow")).unwrap();
    assert_eq!(shallow.trim(), second);
    assert!(!shallow.contains(&first));
}

/// Many syncs of one repository (the controller's usual case) fetch into
/// the same cache at the same time; none may fail on the other's locks.
#[test]
fn concurrent_fetches_of_one_repository_share_the_cache() {
    let (repo, first) = sample_repo();
    let cache = tempfile::tempdir().unwrap();
    let source = src(repo.url(), GitRef::Branch("main".into()), "deploy");
    std::thread::scope(|scope| {
        let fetches: Vec<_> = (0..8)
            .map(|_| scope.spawn(|| fetch(&source, cache.path())))
            .collect();
        for fetched in fetches {
            let fetched = fetched.join().unwrap().expect("a concurrent fetch failed");
            assert_eq!(fetched.commit.to_string(), first);
        }
    });
}
