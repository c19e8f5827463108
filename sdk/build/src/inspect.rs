//! Lists what a component imports and exports at its top level, e.g.
//! `plumbline:policy/validator@0.1.0`. Pure: bytes in, names out.

/// The top-level imports and exports of a component, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Interfaces {
    /// Imported names, e.g. `plumbline:policy/host@0.1.0`.
    pub imports: Vec<String>,
    /// Exported names, e.g. `plumbline:policy/metadata@0.1.0`.
    pub exports: Vec<String>,
}

/// Why a component could not be inspected.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The bytes are a core wasm module, not a component.
    #[error("expected a WebAssembly component, found a core module")]
    CoreModule,
    /// The bytes are not valid WebAssembly.
    #[error("not a readable WebAssembly component")]
    Parse(#[source] wasmparser::BinaryReaderError),
}

/// Result of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The top-level imports and exports of `component`.
pub fn interfaces(component: &[u8]) -> Result<Interfaces> {
    use wasmparser::{Encoding, Parser, Payload};

    let mut found = Interfaces::default();
    // Nesting depth: sections inside nested modules and components are not
    // the component's own imports and exports.
    let mut depth = 0usize;
    for payload in Parser::new(0).parse_all(component) {
        match payload.map_err(Error::Parse)? {
            Payload::Version {
                encoding: Encoding::Module,
                ..
            } if depth == 0 => return Err(Error::CoreModule),
            Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => depth += 1,
            Payload::End(_) => depth = depth.saturating_sub(1),
            Payload::ComponentImportSection(reader) if depth == 0 => {
                for import in reader {
                    let import = import.map_err(Error::Parse)?;
                    found.imports.push(import.name.name.to_owned());
                }
            }
            Payload::ComponentExportSection(reader) if depth == 0 => {
                for export in reader {
                    let export = export.map_err(Error::Parse)?;
                    found.exports.push(export.name.name.to_owned());
                }
            }
            _ => {}
        }
    }
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_a_core_module() {
        let core = b"\0asm\x01\0\0\0";
        assert!(matches!(interfaces(core), Err(Error::CoreModule)));
    }

    #[test]
    fn refuses_garbage() {
        assert!(matches!(interfaces(b"not wasm"), Err(Error::Parse(_))));
    }
}
