//! Running the user's `helm` executable: a timeout, an output cap, and an
//! error that says what to install when there is none.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Error;

/// Most of helm's standard error kept for the error message.
const STDERR_CAP: u64 = 64 << 10;

/// What one run of `helm template` printed.
pub(super) struct Output {
    /// Standard output: the manifests.
    pub stdout: Vec<u8>,
}

/// Run `executable` with `args`; fail when it runs past `timeout`, prints
/// more than `max_output` bytes or exits with an error.
pub(super) fn run(
    executable: &Path,
    args: &[String],
    timeout: Duration,
    max_output: u64,
    chart: &str,
) -> Result<Output, Error> {
    let mut child = Command::new(executable)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| spawn_error(executable, e))?;
    let over = Arc::new(AtomicBool::new(false));
    let stdout = child
        .stdout
        .take()
        .map(|out| read_capped(out, max_output + 1, Some(over.clone())));
    let stderr = child
        .stderr
        .take()
        .map(|err| read_capped(err, STDERR_CAP, None));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().map_err(|e| Error::Io {
            chart: chart.to_owned(),
            message: format!("waiting for helm: {e}"),
        })? {
            break status;
        }
        let too_large = over.load(Ordering::Relaxed);
        if too_large || started.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            return Err(if too_large {
                Error::OutputTooLarge {
                    chart: chart.to_owned(),
                    limit: max_output,
                }
            } else {
                Error::Timeout {
                    chart: chart.to_owned(),
                    timeout,
                }
            });
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let stdout = stdout.map(join).unwrap_or_default();
    let stderr = stderr.map(join).unwrap_or_default();
    if stdout.len() as u64 > max_output {
        return Err(Error::OutputTooLarge {
            chart: chart.to_owned(),
            limit: max_output,
        });
    }
    if !status.success() {
        let printed = String::from_utf8_lossy(&stderr);
        let message = printed.trim();
        let message = message
            .strip_prefix("Error: ")
            .unwrap_or(message)
            .to_owned();
        return Err(Error::Failed {
            chart: chart.to_owned(),
            message: if message.is_empty() {
                format!("helm exited with {status}")
            } else {
                message
            },
        });
    }
    Ok(Output { stdout })
}

/// Read a pipe on a thread, keeping at most `cap` bytes; reaching the cap
/// sets `over`. The thread ends at the end of the stream or at the cap.
fn read_capped(
    pipe: impl Read + Send + 'static,
    cap: u64,
    over: Option<Arc<AtomicBool>>,
) -> std::thread::JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        let _ = pipe.take(cap).read_to_end(&mut bytes);
        if bytes.len() as u64 >= cap {
            if let Some(over) = over {
                over.store(true, Ordering::Relaxed);
            }
        }
        bytes
    })
}

fn join(handle: std::thread::JoinHandle<Vec<u8>>) -> Vec<u8> {
    handle.join().unwrap_or_default()
}

fn spawn_error(executable: &Path, error: std::io::Error) -> Error {
    if error.kind() == std::io::ErrorKind::NotFound {
        Error::HelmMissing {
            executable: executable.to_owned(),
        }
    } else {
        Error::Io {
            chart: String::new(),
            message: format!("starting {}: {error}", executable.display()),
        }
    }
}

/// The `helm` to run: `$PLUMBLINE_HELM` when set, else `helm` from `$PATH`.
pub(super) fn default_executable() -> PathBuf {
    std::env::var_os("PLUMBLINE_HELM")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("helm"))
}
