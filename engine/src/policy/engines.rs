//! The wasmtime engines of a host and the epoch ticker that enforces
//! deadlines. No IO besides one ticker thread.
//!
//! `max_wasm_stack` and fuel metering are `Engine` settings, not `Store`
//! settings, so the host keeps one engine (with its own linker) per distinct
//! [`EngineKey`]; almost every policy shares the default one. All engines tick
//! from the same thread.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::JoinHandle;
use std::time::Duration;

use wasmtime::component::Linker;
use wasmtime::{Config, Engine};

use super::bindings::plumbline::policy::{host, types};
use super::state::StoreState;
use super::wasi;

/// Period of the epoch ticker: deadlines are enforced to within this.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);

/// The engine settings a policy's limits decide.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct EngineKey {
    pub(crate) stack_bytes: usize,
    pub(crate) fuel: bool,
}

/// An engine and the linker that provides the sandbox's imports on it.
pub(crate) struct EngineSlot {
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<StoreState>,
}

/// The engines of one host, created on demand, ticked by one thread that
/// stops when this value is dropped.
pub(crate) struct Engines {
    slots: Arc<Mutex<HashMap<EngineKey, Arc<EngineSlot>>>>,
    stop: Arc<AtomicBool>,
    ticker: Option<JoinHandle<()>>,
}

impl Engines {
    pub(crate) fn new() -> std::io::Result<Self> {
        let slots: Arc<Mutex<HashMap<EngineKey, Arc<EngineSlot>>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let ticker = {
            let slots = Arc::clone(&slots);
            let stop = Arc::clone(&stop);
            std::thread::Builder::new()
                .name("plumbline-epoch".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::park_timeout(EPOCH_TICK);
                        for slot in slots
                            .lock()
                            .unwrap_or_else(PoisonError::into_inner)
                            .values()
                        {
                            slot.engine.increment_epoch();
                        }
                    }
                })?
        };
        Ok(Self {
            slots,
            stop,
            ticker: Some(ticker),
        })
    }

    /// The engine for `key`, created (with its linker) on first use.
    pub(crate) fn get(&self, key: EngineKey) -> wasmtime::Result<Arc<EngineSlot>> {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(slot) = slots.get(&key) {
            return Ok(Arc::clone(slot));
        }
        let slot = Arc::new(new_slot(key)?);
        slots.insert(key, Arc::clone(&slot));
        Ok(slot)
    }
}

impl Drop for Engines {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(ticker) = self.ticker.take() {
            ticker.thread().unpark();
            // A panicked ticker has nothing left to clean up.
            let _ = ticker.join();
        }
    }
}

/// The wasmtime configuration of the engine for `key`.
///
/// Besides the limits' settings, execution is made deterministic across
/// CPUs: NaN results are canonicalised (otherwise their sign and payload
/// bits depend on the CPU, and a policy could observe them), and the relaxed
/// SIMD instructions take their deterministic semantics. Both are part of
/// the engine's compatibility hash, so the compile cache never mixes code
/// compiled with and without them.
pub(crate) fn config(key: EngineKey) -> Config {
    let mut config = Config::new();
    config
        .cranelift_nan_canonicalization(true)
        .relaxed_simd_deterministic(true);
    config
        .wasm_component_model(true)
        .epoch_interruption(true)
        .consume_fuel(key.fuel)
        .max_wasm_stack(key.stack_bytes)
        // wasmtime-wasi enables wasmtime's `async` feature, under which the
        // wasm stack may not exceed the (unused) async stack size.
        .async_stack_size(key.stack_bytes.max(2 << 20) + (1 << 20))
        .parallel_compilation(true);
    config
}

fn new_slot(key: EngineKey) -> wasmtime::Result<EngineSlot> {
    let engine = Engine::new(&config(key))?;
    let mut linker = Linker::new(&engine);
    host::add_to_linker::<_, wasmtime::component::HasSelf<_>>(&mut linker, |s| s)?;
    types::add_to_linker::<_, wasmtime::component::HasSelf<_>>(&mut linker, |s| s)?;
    wasi::add_to_linker(&mut linker)?;
    Ok(EngineSlot { engine, linker })
}
