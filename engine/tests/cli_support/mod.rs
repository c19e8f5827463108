//! Fixtures for the CLI tests: run the real `plumbline` binary as a
//! subprocess, and make copies of the quickstart that use the prebuilt
//! policy components (so tests do not rebuild policy projects).
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

use super::binary_support::repo_root;

/// What one run of the binary printed and returned.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// What it printed, standard output then standard error, for a message
    /// that may be on either.
    pub fn output(&self) -> String {
        format!("{}{}", self.stdout, self.stderr)
    }

    /// Panic with both streams unless the exit code is `code`.
    pub fn expect(self, code: i32) -> Self {
        assert_eq!(
            self.code, code,
            "exit code; stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        self
    }
}

/// Caches shared by all CLI tests (Git repositories, compiled policies).
pub fn cache_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("cli-cache")
}

/// The directory the prebuilt policy components were built into, so that
/// policy projects named by a config are found already built.
pub fn guest_target_dir() -> PathBuf {
    // <target>/wasm32-unknown-unknown/plumbline-policy/<name>.component.wasm
    Path::new(policy_artifacts::REQUIRED_LABELS)
        .ancestors()
        .nth(3)
        .unwrap()
        .to_owned()
}

/// Run `plumbline ARGS` in `dir`, without a KUBECONFIG from the
/// environment.
pub fn plumbline(dir: &Path, args: &[&str]) -> Run {
    plumbline_cached_in(&cache_dir(), dir, args)
}

/// [`plumbline`] with its caches in `cache`.
pub fn plumbline_cached_in(cache: &Path, dir: &Path, args: &[&str]) -> Run {
    run(&mut command(cache, dir, args))
}

/// The command [`plumbline_cached_in`] runs, to change before running it
/// with [`run`]: without a KUBECONFIG from the environment, without colour.
pub fn command(cache: &Path, dir: &Path, args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_plumbline"));
    command
        .args(args)
        .current_dir(dir)
        .env_remove("KUBECONFIG")
        .env("NO_COLOR", "1")
        .env("PLUMBLINE_CACHE_DIR", cache)
        .env("PLUMBLINE_GUEST_TARGET_DIR", guest_target_dir());
    command
}

/// Run `command` to its end.
pub fn run(command: &mut Command) -> Run {
    let out = command.output().expect("plumbline runs");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8(out.stdout).unwrap(),
        stderr: String::from_utf8(out.stderr).unwrap(),
    }
}

/// The same, from a blocking task, for tests whose runtime serves the API
/// emulator the subprocess talks to.
pub async fn plumbline_async(dir: &Path, args: &[&str]) -> Run {
    plumbline_cached_async(&cache_dir(), dir, args).await
}

/// [`plumbline_cached_in`] from a blocking task, off the test's runtime.
pub async fn plumbline_cached_async(cache: &Path, dir: &Path, args: &[&str]) -> Run {
    let (cache, dir): (PathBuf, PathBuf) = (cache.to_owned(), dir.to_owned());
    let args: Vec<String> = args.iter().map(|a| (*a).to_owned()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        plumbline_cached_in(&cache, &dir, &args)
    })
    .await
    .unwrap()
}

/// Copy `examples/quickstart` to `to`, with its policy modules pointing at
/// the prebuilt components instead of the policy projects.
pub fn copy_quickstart(to: &Path) {
    let from = repo_root().join("examples/quickstart");
    copy_dir(&from, to);
    let config = to.join("plumbline.yaml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    for artifact in policy_artifacts::ALL {
        let module = format!("../../policies/{}\n", artifact.name);
        text = text.replace(&module, &format!("{}\n", artifact.path));
    }
    assert!(
        !text.contains("../../policies/"),
        "a quickstart policy has no prebuilt component:\n{text}"
    );
    std::fs::write(config, text).unwrap();
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

/// Put the deliberately bad manifest of the quickstart on a new branch
/// `bad` of the repository in `dir` (on branch `main`), and go back to
/// `main`.
pub fn commit_bad_branch(dir: &Path) {
    let git = |args: &[&str]| super::source_support::git(dir, args);
    git(&["checkout", "-q", "-b", "bad"]);
    std::fs::copy(
        dir.join("branch-bad/worker.yaml"),
        dir.join("deploy/worker.yaml"),
    )
    .unwrap();
    let kustomization = dir.join("deploy/kustomization.yaml");
    let text = std::fs::read_to_string(&kustomization).unwrap();
    let text = text.replace("  - service.yaml\n", "  - service.yaml\n  - worker.yaml\n");
    std::fs::write(kustomization, text).unwrap();
    git(&["add", "-A"]);
    git(&["commit", "-q", "-m", "worker: run the latest busybox"]);
    git(&["checkout", "-q", "main"]);
}
