//! Compile once: an in-memory map and an optional on-disk cache of
//! precompiled components. Does file IO in the cache directory only.
//!
//! Keys are the SHA-256 of the component bytes and the engine's
//! `precompile_compatibility_hash` (which covers the wasmtime version, the
//! target and every codegen-relevant setting, fuel metering included), so a
//! file is never handed to an engine that did not produce compatible code.
//! Identical components are compiled once per engine and shared.
//!
//! File layout: `<cache>/<component sha256>-<compat hash>.cwasm`, holding the
//! SHA-256 of the precompiled bytes followed by those bytes. Files are written
//! to a temporary name and renamed into place, so readers never see a torn
//! file; the checksum catches truncation or corruption on disk, which is then
//! treated as a miss. Cache problems are logged and never fail a load.
//!
//! A component found in neither is compiled in a child process within the
//! policy's compile budget (`super::compiler`); a hit never starts one.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::Engine;

use super::compiler::{compile_in_child, CompileError};
use super::engines::{EngineKey, EngineSlot};
use super::limits::Limits;

/// SHA-256 of a component's bytes.
pub type ComponentDigest = [u8; 32];

/// How loads were served since the host started.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    /// Components compiled with cranelift (in a compile child process).
    pub compiled: u64,
    /// Components deserialized from the on-disk cache.
    pub disk_hits: u64,
    /// Components already loaded in this host (deduplicated by digest).
    pub memory_hits: u64,
}

/// In-memory and on-disk component cache of one host.
pub(crate) struct ComponentCache {
    dir: Option<PathBuf>,
    loaded: Mutex<HashMap<(EngineKey, ComponentDigest), Component>>,
    /// Components whose compilation missed its deadline, with that deadline.
    timed_out: Mutex<HashMap<(EngineKey, ComponentDigest), Duration>>,
    compiled: AtomicU64,
    disk_hits: AtomicU64,
    memory_hits: AtomicU64,
}

impl ComponentCache {
    pub(crate) fn new(dir: Option<PathBuf>) -> Self {
        Self {
            dir,
            loaded: Mutex::default(),
            timed_out: Mutex::default(),
            compiled: AtomicU64::new(0),
            disk_hits: AtomicU64::new(0),
            memory_hits: AtomicU64::new(0),
        }
    }

    pub(crate) fn stats(&self) -> CacheStats {
        CacheStats {
            compiled: self.compiled.load(Ordering::Relaxed),
            disk_hits: self.disk_hits.load(Ordering::Relaxed),
            memory_hits: self.memory_hits.load(Ordering::Relaxed),
        }
    }

    /// The compiled form of `bytes` on `slot`'s engine: from memory, from
    /// disk, or compiled now by `compiler` in a child process within
    /// `limits`' compile budget (and then stored in both).
    pub(crate) fn component(
        &self,
        key: EngineKey,
        slot: &EngineSlot,
        bytes: Vec<u8>,
        compiler: &Path,
        limits: &Limits,
    ) -> Result<(Component, ComponentDigest), CompileError> {
        let timeout = limits.compile_timeout;
        let digest: ComponentDigest = Sha256::digest(&bytes).into();
        let loaded = || self.loaded.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(component) = loaded().get(&(key, digest)) {
            self.memory_hits.fetch_add(1, Ordering::Relaxed);
            return Ok((component.clone(), digest));
        }
        let path = self
            .dir
            .as_deref()
            .map(|dir| dir.join(file_name(&slot.engine, &digest)));
        let component = match path.as_deref().and_then(|p| read_cached(&slot.engine, p)) {
            Some(component) => {
                self.disk_hits.fetch_add(1, Ordering::Relaxed);
                component
            }
            None => {
                let timed_out = || {
                    self.timed_out
                        .lock()
                        .unwrap_or_else(PoisonError::into_inner)
                };
                if timed_out()
                    .get(&(key, digest))
                    .is_some_and(|limit| *limit >= timeout)
                {
                    // Compiling it again would take as long (the earlier
                    // compile child was killed at its deadline).
                    return Err(CompileError::Timeout);
                }
                let precompiled = match compile_in_child(compiler, key, &bytes, limits) {
                    Err(CompileError::Timeout) => {
                        timed_out().insert((key, digest), timeout);
                        return Err(CompileError::Timeout);
                    }
                    result => result?,
                };
                self.compiled.fetch_add(1, Ordering::Relaxed);
                let component = deserialize(&slot.engine, &precompiled)
                    .map_err(|e| CompileError::Compiler(format!("{e:#}")))?;
                if let Some(path) = &path {
                    write_cached(path, &precompiled);
                }
                component
            }
        };
        loaded().insert((key, digest), component.clone());
        Ok((component, digest))
    }
}

fn file_name(engine: &Engine, digest: &ComponentDigest) -> String {
    let mut hasher = Sha256Hasher::default();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    let compat = hex::encode(&hasher.0.finalize()[..16]);
    format!("{}-{compat}.cwasm", hex::encode(digest))
}

/// The component cached at `path`, or `None` on any miss or problem.
fn read_cached(engine: &Engine, path: &Path) -> Option<Component> {
    let data = match std::fs::read(path) {
        Ok(data) => data,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cannot read cached component");
            return None;
        }
    };
    let (checksum, precompiled) = data.split_at_checked(32)?;
    if Sha256::digest(precompiled).as_slice() != checksum {
        tracing::warn!(path = %path.display(), "cached component is corrupt; recompiling");
        return None;
    }
    match deserialize(engine, precompiled) {
        Ok(component) => Some(component),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "cached component unusable; recompiling");
            None
        }
    }
}

/// Store `precompiled` at `path` atomically (temporary file + rename).
fn write_cached(path: &Path, precompiled: &[u8]) {
    let result = (|| {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let tmp = path.with_extension(format!("tmp{}", std::process::id()));
        let mut data = Vec::with_capacity(32 + precompiled.len());
        data.extend_from_slice(&Sha256::digest(precompiled));
        data.extend_from_slice(precompiled);
        std::fs::write(&tmp, &data)?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = result {
        tracing::warn!(path = %path.display(), error = %e, "cannot write component cache");
    }
}

/// Load precompiled bytes that this module produced.
#[allow(unsafe_code)]
fn deserialize(engine: &Engine, precompiled: &[u8]) -> wasmtime::Result<Component> {
    // SAFETY: `Component::deserialize` trusts its input to be native code
    // produced by a compatible wasmtime. The bytes passed here are either the
    // output of `Engine::precompile_component` in the host's compile child
    // (the host's own executable unless the operator configured another
    // Plumbline binary, with the same engine configuration; its answer
    // carries the compiler's marker), or a file in
    // the host's cache directory that this module wrote (under a name keyed
    // by the component digest and the engine's compatibility hash) and whose
    // checksum still matches; wasmtime additionally rejects bytes from an
    // incompatible engine or version. The cache directory must be writable
    // only by the engine's user (see docs/sandbox.md); that is the trust
    // boundary, as for the engine binary itself.
    unsafe { Component::deserialize(engine, precompiled) }
}

/// Feeds `Hash` output into SHA-256, for a stable file-name key.
#[derive(Default)]
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn finish(&self) -> u64 {
        let digest = self.0.clone().finalize();
        u64::from_le_bytes([
            digest[0], digest[1], digest[2], digest[3], digest[4], digest[5], digest[6], digest[7],
        ])
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::engines::config;

    #[test]
    fn determinism_settings_are_part_of_the_cache_key() {
        let key = EngineKey {
            stack_bytes: 512 << 10,
            fuel: false,
        };
        let digest = [0; 32];
        let name = |c: &wasmtime::Config| file_name(&Engine::new(c).unwrap(), &digest);
        let ours = name(&config(key));
        let mut nan = config(key);
        nan.cranelift_nan_canonicalization(false);
        let mut simd = config(key);
        simd.relaxed_simd_deterministic(false);
        assert_ne!(ours, name(&nan));
        assert_ne!(ours, name(&simd));
        assert_ne!(name(&nan), name(&simd));
        assert_eq!(ours, name(&config(key)));
    }
}
