//! The repository root and the `plumbline` binary, for the tests that run
//! it as a subprocess.
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
