//! Run the real `plumbline` binary and measure its peak resident memory,
//! for the tests that show a hostile input cannot take the host's memory.
//!
//! The peak is `ru_maxrss` from `wait4`: the largest resident set of the
//! process and of every child it waited for (the compile child included),
//! measured by the kernel, so nothing between two polls is missed.
#![allow(dead_code)]

use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The most resident memory a hostile input may cost the host.
pub const HOST_RSS_BUDGET: u64 = 400 << 20;

/// How long a measured run may take before it is killed (a generous bound,
/// not a timing assertion: the run is expected to end in seconds).
const RUN_BOUND: Duration = Duration::from_secs(300);

/// What a measured run printed, how it ended, and its peak memory.
#[derive(Debug)]
pub struct Measured {
    /// The exit status.
    pub status: ExitStatus,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
    /// Peak resident memory of the process and its waited-for children,
    /// in bytes.
    pub peak_rss: u64,
}

impl Measured {
    /// Panic unless the peak stayed under [`HOST_RSS_BUDGET`].
    pub fn assert_rss_within_budget(&self) -> &Self {
        assert!(
            self.peak_rss < HOST_RSS_BUDGET,
            "peak RSS {} MB, over {} MB; stderr:\n{}",
            self.peak_rss >> 20,
            HOST_RSS_BUDGET >> 20,
            tail(&self.stderr)
        );
        self
    }
}

/// The last few lines of `text`, for failure messages.
pub fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(20)..].join("\n")
}

/// Run `command` to its end (killing it after a generous bound) and
/// measure it.
#[allow(unsafe_code)]
pub fn run_measured(command: &mut Command) -> Measured {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("plumbline starts");
    let pid = libc::pid_t::try_from(child.id()).unwrap();
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            pipe.read_to_end(&mut bytes).unwrap();
            String::from_utf8_lossy(&bytes).into_owned()
        })
    };
    let stdout = drain(Box::new(child.stdout.take().unwrap()));
    let stderr = drain(Box::new(child.stderr.take().unwrap()));
    let reaped = Arc::new(AtomicBool::new(false));
    let watchdog = {
        let reaped = Arc::clone(&reaped);
        std::thread::spawn(move || {
            let started = Instant::now();
            while !reaped.load(Ordering::SeqCst) {
                if started.elapsed() > RUN_BOUND {
                    // SAFETY: `pid` is our child and not reaped yet (the
                    // flag is set only after `wait4` returned).
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                    return;
                }
                std::thread::sleep(Duration::from_millis(50));
            }
        })
    };
    let mut status = 0;
    // SAFETY: an all-zero `rusage` is a valid value of the plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `pid` is our child, not waited for by anyone else (`child`
    // is never waited on); `status` and `usage` are valid for writes.
    let waited = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    // (`ru_maxrss` is in kilobytes on Linux.)
    reaped.store(true, Ordering::SeqCst);
    assert_eq!(waited, pid, "wait4: {}", std::io::Error::last_os_error());
    watchdog.join().unwrap();
    drop(child);
    let peak_rss = u64::try_from(usage.ru_maxrss).unwrap_or(0) * 1024;
    // Shown with `--nocapture`: what each hostile input cost.
    println!("peak RSS {} MB: {command:?}", peak_rss >> 20);
    Measured {
        status: ExitStatus::from_raw(status),
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
        peak_rss,
    }
}
