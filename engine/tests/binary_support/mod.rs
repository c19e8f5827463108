//! The repository root, the `plumbline` binary and the project's oras-py,
//! for the tests that run them as subprocesses, and the files they read.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_owned()
}

/// Write `text` to `path`, creating the directories it is in.
pub fn write_file(path: &Path, text: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

/// `plumbline ARGS` as a command in the repository root, with this
/// process's environment (add to it before running).
pub fn plumbline_command(args: &[&str]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_plumbline"));
    command.args(args).current_dir(repo_root());
    command
}

/// Run `plumbline ARGS` in the repository root and wait for it.
pub fn run_in_repo(args: &[&str]) -> Output {
    plumbline_command(args).output().expect("run plumbline")
}

/// Run a Python snippet with the project's oras-py (`ORAS_*` values in the
/// environment) in `dir`; panics, with its output, if it fails.
pub fn oras(dir: &Path, script: &str, env: &[(&str, &str)]) -> Output {
    let python = repo_root().join(".tools/python/bin/python");
    let output = Command::new(python)
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .envs(env.iter().copied())
        .output()
        .expect("the project venv's python runs (scripts/setup installs oras)");
    assert!(
        output.status.success(),
        "oras failed:\n{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}
