//! The `buildMetadata` field. No IO.
//!
//! `originAnnotations` is built as kustomize builds it: when the rendered
//! kustomization asks for it, every object gets
//! `config.kubernetes.io/origin`, the file it was read from (relative to
//! the rendered directory) or, for a generated ConfigMap or Secret, the
//! kustomization and generator that made it. `transformerAnnotations` and
//! `managedByLabel` are refused by name.

use serde_json::Value;

use super::{line_of_key, Error, FILE_NAMES};
use crate::object::metadata_map_mut;
use crate::render::Manifest;

/// The annotation `originAnnotations` adds.
const ORIGIN: &str = "config.kubernetes.io/origin";

/// Check the `buildMetadata` of kustomization `k` (from `file`, whose text
/// is `text`): whether it asks for origin annotations, and the refused
/// options.
pub(super) fn check(k: &Value, file: &str, text: &str) -> (bool, Vec<Error>) {
    let options = match k.get("buildMetadata") {
        None | Some(Value::Null) => return (false, Vec::new()),
        Some(Value::Array(options)) => options,
        Some(_) => {
            let e = Error::Invalid {
                file: file.to_owned(),
                message: "`buildMetadata` must be a list".into(),
            };
            return (false, vec![e]);
        }
    };
    let mut origin = false;
    let mut errors = Vec::new();
    for option in options {
        let reason = match option.as_str() {
            Some("originAnnotations") => {
                origin = true;
                continue;
            }
            Some("transformerAnnotations") => "transformer annotations are not supported yet",
            Some("managedByLabel") => {
                "the managed-by label names the kustomize build (`kustomize-(devel)` in kubectl); not supported"
            }
            _ => {
                errors.push(Error::Invalid {
                    file: file.to_owned(),
                    message: format!("unknown buildMetadata option {option}"),
                });
                continue;
            }
        };
        errors.push(Error::Unsupported {
            file: file.to_owned(),
            field: format!("buildMetadata: {}", option.as_str().unwrap_or_default()),
            line: line_of_key(text, "buildMetadata"),
            reason: reason.into(),
        });
    }
    (origin, errors)
}

/// Give every object its origin annotation; paths are relative to `dir`,
/// the rendered directory.
pub(super) fn annotate_origins(dir: &str, objects: &mut [Manifest]) {
    for m in objects.iter_mut() {
        let path = relative(dir, &m.origin.file);
        let generated = FILE_NAMES
            .iter()
            .any(|name| m.origin.file.rsplit('/').next() == Some(name));
        let origin = if generated {
            let kind = m.object["kind"].as_str().unwrap_or_default();
            format!(
                "configuredIn: {path}\nconfiguredBy:\n  apiVersion: builtin\n  kind: {kind}Generator\n"
            )
        } else {
            format!("path: {path}\n")
        };
        if let Some(map) = metadata_map_mut(&mut m.object, "annotations") {
            map.insert(ORIGIN.into(), Value::String(origin));
        }
    }
}

/// `path` (relative to the tree root) as seen from directory `dir`.
fn relative(dir: &str, path: &str) -> String {
    let from: Vec<&str> = dir.split('/').filter(|p| !p.is_empty()).collect();
    let to: Vec<&str> = path.split('/').collect();
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut parts = vec![".."; from.len() - common];
    parts.extend(&to[common..]);
    parts.join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths() {
        assert_eq!(relative("", "a/b.yaml"), "a/b.yaml");
        assert_eq!(relative("ov", "ov/x.yaml"), "x.yaml");
        assert_eq!(relative("apps/ov", "apps/base/x.yaml"), "../base/x.yaml");
        assert_eq!(relative("a/b", "c.yaml"), "../../c.yaml");
    }
}
