//! The steps every language's builder ends with: skip the tool when a stamp
//! says its inputs did not change, then read the component back, inspect
//! it and hash it into a [`Built`].

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::{inspect, Built, Language};

/// Why a written component could not be described.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The component (or the stamp beside it) could not be read or written.
    #[error("cannot access {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// The component that was written could not be inspected.
    #[error("cannot inspect the component {}", path.display())]
    Inspect {
        /// The component.
        path: PathBuf,
        /// Why.
        #[source]
        source: inspect::Error,
    },
}

/// The digest of a build's inputs, kept beside the component
/// (`<name>.inputs.sha256`): while it matches, the component is current.
pub(crate) struct Stamp {
    path: PathBuf,
    inputs: String,
}

impl Stamp {
    /// The stamp of `name` in `out_dir` for inputs with digest `inputs`.
    pub(crate) fn new(out_dir: &Path, name: &str, inputs: String) -> Self {
        Stamp {
            path: out_dir.join(format!("{name}.inputs.sha256")),
            inputs,
        }
    }

    /// Whether `component` exists and was built from these inputs.
    pub(crate) fn is_current(&self, component: &Path) -> bool {
        component.is_file()
            && std::fs::read_to_string(&self.path).is_ok_and(|s| s.trim() == self.inputs)
    }

    /// Record that the component was built from these inputs.
    pub(crate) fn record(&self) -> Result<(), Error> {
        std::fs::write(&self.path, self.inputs.as_bytes()).map_err(|source| Error::Io {
            path: self.path.clone(),
            source,
        })
    }
}

/// What a builder knows about a component it wrote (or kept).
pub(crate) struct Origin {
    /// The policy's name.
    pub name: String,
    /// The project directory.
    pub project_dir: PathBuf,
    /// Its language.
    pub language: Language,
    /// The toolchain, for people.
    pub toolchain: String,
    /// The core module (or source module) it was made from.
    pub core_module_path: PathBuf,
    /// Whether this build wrote it.
    pub componentized: bool,
}

/// Read the component at `component_path` back, inspect its interfaces
/// and hash it.
pub(crate) fn describe(component_path: PathBuf, origin: Origin) -> Result<Built, Error> {
    let bytes = std::fs::read(&component_path).map_err(|source| Error::Io {
        path: component_path.clone(),
        source,
    })?;
    let interfaces = inspect::interfaces(&bytes).map_err(|source| Error::Inspect {
        path: component_path.clone(),
        source,
    })?;
    Ok(Built {
        name: origin.name,
        project_dir: origin.project_dir,
        language: origin.language,
        toolchain: origin.toolchain,
        component_path,
        core_module_path: origin.core_module_path,
        size: bytes.len() as u64,
        sha256: hex::encode(Sha256::digest(&bytes)),
        componentized: origin.componentized,
        interfaces,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_is_current_only_for_its_inputs_and_an_existing_component() {
        let dir = tempfile::tempdir().expect("temp dir");
        let component = dir.path().join("p.component.wasm");
        let stamp = Stamp::new(dir.path(), "p", "abc".into());
        assert!(!stamp.is_current(&component));
        stamp.record().unwrap();
        assert!(!stamp.is_current(&component), "no component yet");
        std::fs::write(&component, b"\0asm").unwrap();
        assert!(stamp.is_current(&component));
        assert!(!Stamp::new(dir.path(), "p", "def".into()).is_current(&component));
    }
}
