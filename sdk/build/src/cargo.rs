//! Runs `cargo build` for one Rust policy project and finds the core wasm
//! module it produced. Runs cargo (which reads and writes the guest target
//! directory); parses cargo's JSON messages.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::toolchain::{clean_command, Route, RustToolchain, WASM_TARGET};

/// The cargo profile policies are built with, defined on the command line
/// so that projects need no configuration: small code, no unwinding.
pub const PROFILE: &str = "plumbline-policy";

/// The profile's settings, as `--config` values.
const PROFILE_CONFIG: &[&str] = &[
    "profile.plumbline-policy.inherits=\"release\"",
    "profile.plumbline-policy.opt-level=\"s\"",
    "profile.plumbline-policy.lto=true",
    "profile.plumbline-policy.codegen-units=1",
    "profile.plumbline-policy.panic=\"abort\"",
    "profile.plumbline-policy.strip=\"debuginfo\"",
    "profile.plumbline-policy.debug=false",
];

/// What cargo built.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Artifact {
    /// The package name, e.g. `require-labels`.
    pub package: String,
    /// The package's directory (where its `Cargo.toml` is).
    pub package_dir: PathBuf,
    /// The core wasm module.
    pub module: PathBuf,
    /// Whether cargo reused the module without compiling.
    pub fresh: bool,
}

/// Why a cargo build failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Cargo could not be started.
    #[error("cannot run {}", cargo.display())]
    Spawn {
        /// The cargo binary.
        cargo: PathBuf,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// Cargo ran and failed (a compile error, a missing dependency, ...).
    #[error("building policy {} failed ({status}):\n{stderr}", manifest.display())]
    Failed {
        /// The project's manifest.
        manifest: PathBuf,
        /// Cargo's exit status.
        status: std::process::ExitStatus,
        /// What cargo printed on standard error (empty when it was shown
        /// directly).
        stderr: String,
    },
    /// Cargo succeeded but built no wasm library in the project.
    #[error(
        "{} built no wasm module: a policy crate needs `[lib] crate-type = [\"cdylib\"]`",
        manifest.display()
    )]
    NoCdylib {
        /// The project's manifest.
        manifest: PathBuf,
    },
}

/// Result of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Build the project whose manifest is `manifest` into `target_dir`, and
/// return the wasm modules of the `cdylib` crates in its directory: one for
/// a policy crate, one per policy for a virtual workspace (whose members
/// cargo builds together). `show_output` lets cargo print its progress and
/// diagnostics to this process's standard error; otherwise they are
/// returned in the error.
pub fn build(
    toolchain: &RustToolchain,
    manifest: &Path,
    target_dir: &Path,
    show_output: bool,
) -> Result<Vec<Artifact>> {
    let mut command = cargo_command(toolchain, manifest, target_dir);
    command.stdout(Stdio::piped());
    command.stderr(if show_output {
        Stdio::inherit()
    } else {
        Stdio::piped()
    });
    let output = command.output().map_err(|source| Error::Spawn {
        cargo: toolchain.cargo.clone(),
        source,
    })?;
    if !output.status.success() {
        return Err(Error::Failed {
            manifest: manifest.to_owned(),
            status: output.status,
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        });
    }
    let project_dir = manifest.parent().unwrap_or(Path::new("."));
    let artifacts = find_artifacts(&String::from_utf8_lossy(&output.stdout), project_dir);
    if artifacts.is_empty() {
        return Err(Error::NoCdylib {
            manifest: manifest.to_owned(),
        });
    }
    Ok(artifacts)
}

/// The full cargo command line for one project.
fn cargo_command(toolchain: &RustToolchain, manifest: &Path, target_dir: &Path) -> Command {
    let mut command = clean_command(&toolchain.cargo);
    command
        .arg("build")
        .arg("--manifest-path")
        .arg(manifest)
        .arg("--target")
        .arg(WASM_TARGET)
        .arg("--target-dir")
        .arg(target_dir)
        .arg("--profile")
        .arg(PROFILE)
        .arg("--message-format=json-render-diagnostics");
    for setting in PROFILE_CONFIG {
        command.arg("--config").arg(setting);
    }
    if toolchain.route == Route::BuildStd {
        command
            .arg("-Zbuild-std=std,panic_abort")
            .env("RUSTC_BOOTSTRAP", "1");
    }
    if let Some(rustc) = &toolchain.rustc {
        command.env("RUSTC", rustc);
    }
    if let Some(linker) = &toolchain.linker {
        command.env("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER", linker);
    }
    command
}

/// The `cdylib` artifacts of packages inside `project_dir`, from cargo's
/// JSON messages (one per line; non-JSON lines are skipped), in the order
/// cargo reported them.
fn find_artifacts(messages: &str, project_dir: &Path) -> Vec<Artifact> {
    let project_dir = std::fs::canonicalize(project_dir).unwrap_or_else(|_| project_dir.to_owned());
    messages
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|message| message["reason"] == "compiler-artifact")
        .filter(|message| {
            message["manifest_path"]
                .as_str()
                .is_some_and(|path| Path::new(path).starts_with(&project_dir))
        })
        .filter(|message| {
            message["target"]["kind"]
                .as_array()
                .is_some_and(|kinds| kinds.iter().any(|k| k == "cdylib"))
        })
        .filter_map(|message| {
            let module = message["filenames"]
                .as_array()?
                .iter()
                .filter_map(|f| f.as_str())
                .find(|f| f.ends_with(".wasm"))?;
            let package = package_name(&message)?;
            let package_dir = Path::new(message["manifest_path"].as_str()?).parent()?;
            Some(Artifact {
                package,
                package_dir: package_dir.to_owned(),
                module: PathBuf::from(module),
                fresh: message["fresh"].as_bool().unwrap_or(false),
            })
        })
        .collect()
}

/// The package name of a compiler-artifact message. `package_id` is either
/// `path+file:///dir#name@1.0.0` or, for older cargo, `name 1.0.0 (...)`; a
/// package id whose fragment is only a version takes the name from the
/// directory.
fn package_name(message: &serde_json::Value) -> Option<String> {
    let id = message["package_id"].as_str()?;
    if let Some((url, fragment)) = id.rsplit_once('#') {
        return Some(match fragment.split_once('@') {
            Some((name, _version)) => name.to_owned(),
            None if fragment.starts_with(|c: char| c.is_ascii_digit()) => {
                url.rsplit('/').next()?.to_owned()
            }
            None => fragment.to_owned(),
        });
    }
    id.split_whitespace().next().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_cdylibs_inside_the_project_among_cargo_messages() {
        let dir = tempfile::tempdir().expect("temp dir");
        let project = dir.path().canonicalize().expect("canonical");
        let manifest = |member: &str| {
            serde_json::to_string(&project.join(member).join("Cargo.toml")).expect("JSON")
        };
        let messages = format!(
            r#"{{"reason":"compiler-artifact","package_id":"registry+https://x#serde_json@1.0.0","manifest_path":"/r/serde_json/Cargo.toml","target":{{"kind":["lib"]}},"filenames":["/t/libserde_json.rlib"],"fresh":true}}
not json at all
{{"reason":"compiler-artifact","package_id":"path+file:///p#my-policy@0.1.0","manifest_path":{},"target":{{"kind":["cdylib"]}},"filenames":["/t/wasm32-unknown-unknown/plumbline-policy/my_policy.wasm"],"fresh":false}}
{{"reason":"compiler-artifact","package_id":"path+file:///p#helpers@0.1.0","manifest_path":{},"target":{{"kind":["lib"]}},"filenames":["/t/libhelpers.rlib"],"fresh":false}}
{{"reason":"compiler-artifact","package_id":"path+file:///elsewhere#other@0.1.0","manifest_path":"/elsewhere/Cargo.toml","target":{{"kind":["cdylib"]}},"filenames":["/t/other.wasm"],"fresh":false}}
{{"reason":"compiler-artifact","package_id":"path+file:///p#second@0.1.0","manifest_path":{},"target":{{"kind":["cdylib"]}},"filenames":["/t/second.wasm"],"fresh":true}}
{{"reason":"build-finished","success":true}}"#,
            manifest("my-policy"),
            manifest("helpers"),
            manifest("second"),
        );
        let artifacts = find_artifacts(&messages, &project);
        let found: Vec<(&str, &Path, bool)> = artifacts
            .iter()
            .map(|a| (a.package.as_str(), a.module.as_path(), a.fresh))
            .collect();
        assert_eq!(
            found,
            [
                (
                    "my-policy",
                    Path::new("/t/wasm32-unknown-unknown/plumbline-policy/my_policy.wasm"),
                    false
                ),
                ("second", Path::new("/t/second.wasm"), true),
            ]
        );
        let only_one = find_artifacts(&messages, &project.join("second"));
        assert_eq!(only_one.len(), 1);
        assert!(find_artifacts(&messages, Path::new("/nowhere")).is_empty());
    }

    #[test]
    fn reads_package_names_from_both_package_id_formats() {
        let name = |id: &str| package_name(&serde_json::json!({ "package_id": id }));
        assert_eq!(name("path+file:///a/b#pol@0.1.0").as_deref(), Some("pol"));
        assert_eq!(
            name("path+file:///a/my-pol#0.1.0").as_deref(),
            Some("my-pol")
        );
        assert_eq!(name("pol 0.1.0 (path+file:///a/b)").as_deref(), Some("pol"));
    }

    #[test]
    fn build_std_commands_enable_the_unstable_flag_and_name_the_tools() {
        let toolchain = RustToolchain {
            route: Route::BuildStd,
            cargo: PathBuf::from("/usr/bin/cargo"),
            rustc: Some(PathBuf::from("/usr/bin/rustc")),
            linker: Some(PathBuf::from("/usr/bin/wasm-ld")),
        };
        let command = cargo_command(&toolchain, Path::new("/p/Cargo.toml"), Path::new("/t"));
        let args: Vec<String> = command
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert!(args.contains(&"-Zbuild-std=std,panic_abort".to_owned()));
        assert!(args.windows(2).any(|w| w == ["--profile", PROFILE]));
        let env = |key: &str| {
            command
                .get_envs()
                .find(|(k, _)| *k == key)
                .and_then(|(_, v)| v)
                .map(|v| v.to_string_lossy().into_owned())
        };
        assert_eq!(env("RUSTC_BOOTSTRAP").as_deref(), Some("1"));
        assert_eq!(env("RUSTC").as_deref(), Some("/usr/bin/rustc"));
        assert_eq!(
            env("CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_LINKER").as_deref(),
            Some("/usr/bin/wasm-ld")
        );
    }
}
