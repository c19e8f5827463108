//! The render cache: what `helm template` printed, kept in memory by
//! everything that decides it (the chart's files, the values, the release,
//! the capabilities, the executable), so that a reconcile whose chart and
//! values did not change starts no helm process.
//!
//! Bounded: the [`ENTRIES`] most recently stored renders are kept.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

/// How many renders are kept.
pub const ENTRIES: usize = 64;

/// A render's identity: the SHA-256 of everything that decides its output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Key([u8; 32]);

/// Builds a [`Key`] from the parts of a render, each length-prefixed so
/// that no two different inputs hash alike.
pub(super) struct KeyBuilder(Sha256);

impl KeyBuilder {
    pub(super) fn new() -> Self {
        KeyBuilder(Sha256::new())
    }

    /// Add one named part.
    pub(super) fn part(mut self, name: &str, bytes: &[u8]) -> Self {
        for chunk in [name.as_bytes(), bytes] {
            self.0.update((chunk.len() as u64).to_le_bytes());
            self.0.update(chunk);
        }
        self
    }

    pub(super) fn finish(self) -> Key {
        Key(self.0.finalize().into())
    }
}

static RENDERS: Mutex<VecDeque<(Key, Arc<Vec<u8>>)>> = Mutex::new(VecDeque::new());

/// The output stored for `key`, if any.
pub(super) fn get(key: &Key) -> Option<Arc<Vec<u8>>> {
    let renders = RENDERS.lock().unwrap_or_else(|e| e.into_inner());
    renders
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, output)| output.clone())
}

/// Store the output of a successful render.
pub(super) fn put(key: Key, output: Arc<Vec<u8>>) {
    let mut renders = RENDERS.lock().unwrap_or_else(|e| e.into_inner());
    renders.retain(|(k, _)| *k != key);
    if renders.len() >= ENTRIES {
        renders.pop_front();
    }
    renders.push_back((key, output));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_are_delimited_and_renders_are_found_by_key() {
        let a = KeyBuilder::new().part("x", b"ab").part("y", b"c").finish();
        let b = KeyBuilder::new().part("x", b"a").part("y", b"bc").finish();
        assert_ne!(a, b);
        put(a, Arc::new(b"printed".to_vec()));
        assert_eq!(get(&a).as_deref().map(Vec::as_slice), Some(&b"printed"[..]));
        assert!(get(&b).is_none());
    }
}
