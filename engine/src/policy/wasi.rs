//! The empty WASI 0.2 world given to components built by language runtimes
//! (componentize-py, componentize-qjs, C with wasi-libc), and the check that
//! refuses components importing anything the host does not provide. No IO:
//! nothing in the context reaches the host system.
//!
//! What the guest sees: no preopened directories, no environment variables,
//! no arguments, a closed stdin, TCP/UDP/name lookup denied; stdout and
//! stderr go to the evaluation's bounded policy log; the wall clock is fixed
//! at 2000-01-01T00:00:00Z; the monotonic clock is *virtual* — it starts at 0
//! and only moves when the guest sleeps, and sleeping returns at once, so a
//! guest cannot block a host thread outside the epoch deadline; randomness
//! comes from a fixed seed, so the same input gives the same output.

use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker, Resource, ResourceTable};
use wasmtime::{Engine, StoreContextMut};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{DynPollable, OutputStream, Pollable, StreamError};
use wasmtime_wasi::{
    Deterministic, HostMonotonicClock, HostWallClock, WasiCtx, WasiCtxBuilder, WasiCtxView,
};

use super::state::{append, LogLevel, SharedLog, StoreState};

/// Seconds since the Unix epoch of the fixed wall clock: 2000-01-01T00:00:00Z.
pub const FIXED_WALL_CLOCK_SECS: u64 = 946_684_800;

/// The WASI packages the host links (every interface of WASI 0.2 is present,
/// but empty or denied as described in the module docs).
const WASI_PACKAGES: [&str; 6] = [
    "wasi:cli/",
    "wasi:clocks/",
    "wasi:filesystem/",
    "wasi:io/",
    "wasi:random/",
    "wasi:sockets/",
];

/// The plumbline interfaces a component may import (`types` is imported by
/// components whose exports use its types).
const POLICY_IMPORTS: [&str; 2] = ["plumbline:policy/host@0.1.", "plumbline:policy/types@0.1."];

/// What a component imports, as far as the sandbox is concerned.
#[derive(Debug, Default)]
pub(crate) struct ImportReport {
    /// Imports the host does not provide, by full name.
    pub(crate) unsatisfied: Vec<String>,
    /// Whether it imports any WASI interface.
    pub(crate) uses_wasi: bool,
}

/// Sort a component's imports into provided (plumbline host, WASI 0.2) and
/// unsatisfied.
pub(crate) fn inspect_imports(component: &Component, engine: &Engine) -> ImportReport {
    let mut report = ImportReport::default();
    for (name, _) in component.component_type().imports(engine) {
        if POLICY_IMPORTS.iter().any(|p| name.starts_with(p)) {
            continue;
        }
        let is_wasi = WASI_PACKAGES.iter().any(|p| name.starts_with(p))
            && name
                .rsplit_once('@')
                .is_some_and(|(_, v)| v.starts_with("0.2."));
        if is_wasi {
            report.uses_wasi = true;
        } else {
            report.unsatisfied.push(name.to_owned());
        }
    }
    report
}

/// Add WASI 0.2 (synchronous) to `linker`, with the monotonic clock's
/// `subscribe-*` functions replaced by the virtual-time versions.
pub(crate) fn add_to_linker(linker: &mut Linker<StoreState>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_sync(linker)?;
    linker.allow_shadowing(true);
    let mut clock = linker.instance("wasi:clocks/monotonic-clock@0.2.12")?;
    clock.func_wrap(
        "subscribe-duration",
        |mut store: StoreContextMut<'_, StoreState>, (nanos,): (u64,)| {
            let wasi = store.data_mut().wasi();
            wasi.clock.advance_by(nanos);
            Ok((wasi.ready_pollable()?,))
        },
    )?;
    clock.func_wrap(
        "subscribe-instant",
        |mut store: StoreContextMut<'_, StoreState>, (when,): (u64,)| {
            let wasi = store.data_mut().wasi();
            wasi.clock.advance_to(when);
            Ok((wasi.ready_pollable()?,))
        },
    )?;
    linker.allow_shadowing(false);
    Ok(())
}

/// The WASI state of one store.
pub(crate) struct SandboxWasi {
    ctx: WasiCtx,
    table: ResourceTable,
    clock: VirtualClock,
}

impl SandboxWasi {
    pub(crate) fn new(log: &SharedLog) -> Self {
        let clock = VirtualClock::default();
        let ctx = WasiCtxBuilder::new()
            .stdout(LogStream::new(log.clone(), LogLevel::Info))
            .stderr(LogStream::new(log.clone(), LogLevel::Warn))
            .wall_clock(FixedWallClock)
            .monotonic_clock(clock.clone())
            .secure_random(Deterministic::new(seed_bytes(b"plumbline secure")))
            .insecure_random(Deterministic::new(seed_bytes(b"plumbline insecure")))
            .insecure_random_seed(0x706c_756d_626c_696e_6500_0000_0000_0001)
            .allow_tcp(false)
            .allow_udp(false)
            .allow_ip_name_lookup(false)
            .build();
        Self {
            ctx,
            table: ResourceTable::new(),
            clock,
        }
    }

    pub(crate) fn view(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.ctx,
            table: &mut self.table,
        }
    }

    fn ready_pollable(&mut self) -> wasmtime::Result<Resource<DynPollable>> {
        let ready = self.table.push(Ready)?;
        wasmtime_wasi::p2::subscribe(&mut self.table, ready)
    }
}

/// 4 KiB of fixed pseudo-random bytes (a SHA-256 chain over `label`), cycled
/// by [`Deterministic`].
fn seed_bytes(label: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(4096);
    let mut block = Sha256::digest(label);
    while out.len() < 4096 {
        out.extend_from_slice(&block);
        block = Sha256::digest(block);
    }
    out
}

/// The wall clock stands still at [`FIXED_WALL_CLOCK_SECS`].
struct FixedWallClock;

impl HostWallClock for FixedWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }

    fn now(&self) -> Duration {
        Duration::from_secs(FIXED_WALL_CLOCK_SECS)
    }
}

/// A monotonic clock in nanoseconds that moves only when the guest sleeps.
#[derive(Clone, Default)]
struct VirtualClock(Arc<AtomicU64>);

impl VirtualClock {
    fn advance_by(&self, nanos: u64) {
        // fetch_update cannot fail with a closure that always returns Some.
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |now| {
                Some(now.saturating_add(nanos))
            });
    }

    fn advance_to(&self, when: u64) {
        self.0.fetch_max(when, Ordering::Relaxed);
    }
}

impl HostMonotonicClock for VirtualClock {
    fn resolution(&self) -> u64 {
        1
    }

    fn now(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A pollable that is always ready (a sleep in virtual time).
struct Ready;

#[wasmtime_wasi::async_trait]
impl Pollable for Ready {
    async fn ready(&mut self) {}
}

/// WASI stdout/stderr: each write is split into lines and appended to the
/// bounded policy log at a fixed level. Never blocks, never fails: output
/// past the log bound is dropped and counted.
#[derive(Clone)]
struct LogStream {
    log: SharedLog,
    level: LogLevel,
}

impl LogStream {
    fn new(log: SharedLog, level: LogLevel) -> Self {
        Self { log, level }
    }

    fn write_text(&self, bytes: &[u8]) {
        let text = String::from_utf8_lossy(bytes);
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            append(&self.log, self.level, line.to_owned());
        }
    }
}

impl IsTerminal for LogStream {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogStream {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for LogStream {
    async fn ready(&mut self) {}
}

impl OutputStream for LogStream {
    fn write(&mut self, bytes: bytes::Bytes) -> Result<(), StreamError> {
        self.write_text(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(64 << 10)
    }
}

impl tokio::io::AsyncWrite for LogStream {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.write_text(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
