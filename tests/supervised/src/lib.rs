//! A child process that cannot outlive the test process.
//!
//! Each program runs under a tiny `sh` watchdog that holds the read end of a
//! pipe whose write end only the test process has. When the test process
//! closes it — by dropping the [`Supervised`] or by dying in any way, even
//! `SIGKILL` — the watchdog's `read` returns and it kills the program. So a
//! crashed or interrupted test run leaves no server (etcd, kube-apiserver,
//! registry) behind.
//!
//! Shared by the test harnesses in `tests/control-plane` and
//! `tests/registry`; it depends on nothing, so each harness still builds on
//! its own.

use std::ffi::OsString;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};

/// The watchdog: run the program in the background, kill it when stdin (fd 3
/// here) reaches end of file, and exit with the program's own status.
const WATCHDOG: &str = r#"exec 3<&0
"$@" </dev/null &
pid=$!
(read -r _ <&3; kill -9 "$pid" 2>/dev/null) &
wait "$pid"
"#;

/// Why a program could not be started.
#[derive(Debug)]
pub enum SpawnError {
    /// The log file could not be created.
    Log(PathBuf, std::io::Error),
    /// The watchdog could not be started.
    Spawn(String, std::io::Error),
}

/// A running program under the watchdog.
#[derive(Debug)]
pub struct Supervised {
    name: String,
    child: Child,
    lifeline: Option<ChildStdin>,
}

impl Supervised {
    /// Starts `program args…`, with stdout and stderr written to `log`.
    pub fn spawn(
        name: &str,
        program: &Path,
        args: &[OsString],
        log: &Path,
    ) -> Result<Self, SpawnError> {
        let log_error = |e| SpawnError::Log(log.to_path_buf(), e);
        let out = File::create(log).map_err(log_error)?;
        let err = out.try_clone().map_err(log_error)?;
        let mut child = Command::new("sh")
            .arg("-c")
            .arg(WATCHDOG)
            .arg("sh")
            .arg(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(out)
            .stderr(err)
            .spawn()
            .map_err(|e| SpawnError::Spawn(name.into(), e))?;
        let lifeline = child.stdin.take();
        Ok(Self {
            name: name.into(),
            child,
            lifeline,
        })
    }

    /// `Some(description)` when the program has already exited.
    pub fn exited(&mut self) -> Option<String> {
        match self.child.try_wait() {
            Ok(Some(status)) => Some(format!("{} exited with {status}", self.name)),
            Ok(None) => None,
            Err(e) => Some(format!("{}: cannot query its status: {e}", self.name)),
        }
    }

    /// Kills the program and waits until it is gone.
    pub fn stop(&mut self) {
        self.lifeline.take();
        let _ = self.child.wait();
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        self.stop();
    }
}
