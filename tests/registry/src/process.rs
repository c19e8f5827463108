//! A child process that cannot outlive the test process (as in tests/control-plane).
//!
//! Each program runs under a tiny `sh` watchdog that holds the read end of a
//! pipe whose write end only the test process has. When the test process
//! closes it — by dropping the [`Supervised`] or by dying in any way, even
//! `SIGKILL` — the watchdog's `read` returns and it kills the program. So a
//! crashed or interrupted test run leaves no registry behind.

use std::ffi::OsString;
use std::fs::File;
use std::path::Path;
use std::process::{Child, ChildStdin, Command, Stdio};

use crate::{Error, Result};

/// The watchdog: run the program in the background, kill it when stdin (fd 3
/// here) reaches end of file, and exit with the program's own status.
const WATCHDOG: &str = r#"exec 3<&0
"$@" </dev/null &
pid=$!
(read -r _ <&3; kill -9 "$pid" 2>/dev/null) &
wait "$pid"
"#;

/// A running program under the watchdog.
#[derive(Debug)]
pub struct Supervised {
    name: String,
    child: Child,
    lifeline: Option<ChildStdin>,
}

impl Supervised {
    /// Starts `program args…`, with stdout and stderr appended to `log`.
    pub fn spawn(name: &str, program: &Path, args: &[OsString], log: &Path) -> Result<Self> {
        let out = File::create(log).map_err(|e| Error::io(log, e))?;
        let err = out.try_clone().map_err(|e| Error::io(log, e))?;
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
            .map_err(|e| Error::Spawn(name.into(), e))?;
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
