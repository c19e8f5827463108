//! Turns a core wasm module (with the `component-type` custom sections that
//! `wit-bindgen` embeds) into a component with `wit-component`, and skips
//! the work when the module has not changed since the last time. Reads the
//! module, writes the component and a stamp file next to it.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// Written into the stamp with the module's digest, so that a change of
/// encoder re-encodes.
const ENCODER: &str = "wit-component 0.254";

/// Why a module could not be turned into a component.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The core module could not be read.
    #[error("cannot read core module {}", path.display())]
    Read {
        /// The module's path.
        path: PathBuf,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// `wit-component` refused the module (a missing export, an import the
    /// contract does not have, an invalid module, ...).
    #[error("cannot make a component of {}", module.display())]
    Encode {
        /// The module's path.
        module: PathBuf,
        /// `wit-component`'s error, with its chain of causes.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The component (or its stamp) could not be written.
    #[error("cannot write {}", path.display())]
    Write {
        /// The file that could not be written.
        path: PathBuf,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
}

/// Result of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Make `component` from `module`. Returns `false` when `component` was
/// already made from identical module bytes and was left as is.
pub fn componentize(module: &Path, component: &Path) -> Result<bool> {
    let bytes = std::fs::read(module).map_err(|source| Error::Read {
        path: module.to_owned(),
        source,
    })?;
    let stamp_path = stamp_path(component);
    let stamp = format!("{}\n{ENCODER}\n", hex::encode(Sha256::digest(&bytes)));
    let up_to_date = component.is_file()
        && std::fs::read_to_string(&stamp_path).is_ok_and(|existing| existing == stamp);
    if up_to_date {
        return Ok(false);
    }
    let encoded = encode(&bytes).map_err(|source| Error::Encode {
        module: module.to_owned(),
        source,
    })?;
    write_atomically(component, &encoded)?;
    std::fs::write(&stamp_path, stamp).map_err(|source| Error::Write {
        path: stamp_path,
        source,
    })?;
    Ok(true)
}

/// Encode a core module as a validated component.
pub fn encode(module: &[u8]) -> Result<Vec<u8>, Box<dyn std::error::Error + Send + Sync>> {
    let component = wit_component::ComponentEncoder::default()
        .module(module)?
        .validate(true)
        .encode()?;
    Ok(component)
}

/// `<component>.core-sha256`: the digest of the module it was made from.
fn stamp_path(component: &Path) -> PathBuf {
    let mut name = component.as_os_str().to_owned();
    name.push(".core-sha256");
    PathBuf::from(name)
}

/// Write through a temporary file and rename, so that a reader never sees a
/// half-written component.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    // Unique per process: two builds of the same policy may finish at once.
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(".{}.tmp", std::process::id()));
    let temporary = PathBuf::from(temporary);
    std::fs::write(&temporary, bytes).map_err(|source| Error::Write {
        path: temporary.clone(),
        source,
    })?;
    std::fs::rename(&temporary, path).map_err(|source| Error::Write {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_module_without_component_metadata_becomes_an_empty_component() {
        let dir = tempfile::tempdir().expect("temp dir");
        let module = dir.path().join("empty.wasm");
        std::fs::write(&module, b"\0asm\x01\0\0\0").expect("module");
        let component = dir.path().join("empty.component.wasm");
        assert!(componentize(&module, &component).expect("encoded"));
        let interfaces = crate::inspect::interfaces(&std::fs::read(&component).expect("read"))
            .expect("a component");
        assert_eq!(interfaces, crate::inspect::Interfaces::default());
        // Same bytes: left alone.
        assert!(!componentize(&module, &component).expect("cached"));
    }

    #[test]
    fn an_invalid_module_is_refused_naming_it() {
        let dir = tempfile::tempdir().expect("temp dir");
        let module = dir.path().join("broken.wasm");
        std::fs::write(&module, b"\0asm\x01\0\0\0\x01").expect("module");
        let err = componentize(&module, &dir.path().join("broken.component.wasm"))
            .expect_err("truncated module");
        assert!(err.to_string().contains("broken.wasm"), "{err}");
    }
}
