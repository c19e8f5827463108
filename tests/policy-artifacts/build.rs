//! Builds every test guest (`tests/guests/*/`) and every standard policy
//! (`policies/*/`) into a component with `plumbline-policy-build`, and
//! writes `$OUT_DIR/artifacts.rs`: one path constant per component, the
//! `ALL` table and the `foreach_policy!` macro.
//!
//! A missing wasm toolchain fails the build with what to install: the tests
//! that use these components must not silently lose them.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Guest workspaces whose `cdylib` members are policies.
const POLICY_ROOTS: &[&str] = &["tests/guests", "policies"];

fn main() {
    if let Err(message) = run() {
        eprintln!("error: {message}");
        std::process::exit(1);
    }
}

fn run() -> Result<(), String> {
    let manifest_dir = PathBuf::from(env("CARGO_MANIFEST_DIR")?);
    let repo = manifest_dir
        .parent()
        .and_then(Path::parent)
        .ok_or("policy-artifacts must live at tests/policy-artifacts")?
        .to_owned();
    // Cargo reports canonical paths; compare like with like.
    let repo = repo.canonicalize().unwrap_or(repo);
    let out_dir = PathBuf::from(env("OUT_DIR")?);

    for watched in ["wit", "sdk/rust/src", "sdk/rust/Cargo.toml"] {
        println!("cargo:rerun-if-changed={}", repo.join(watched).display());
    }
    for var in [
        "PLUMBLINE_GUEST_TARGET_DIR",
        "CARGO_TARGET_DIR",
        "PLUMBLINE_GUEST_RUSTC",
        "PLUMBLINE_GUEST_CARGO",
        "PLUMBLINE_WASM_LINKER",
    ] {
        println!("cargo:rerun-if-env-changed={var}");
    }

    let options = plumbline_policy_build::BuildOptions {
        target_dir: Some(plumbline_policy_build::default_target_dir()),
        out_dir: None,
        show_output: false,
    };
    let mut built = Vec::new();
    for root in POLICY_ROOTS {
        let root = repo.join(root);
        watch_workspace(&root)?;
        if !root.join("Cargo.toml").is_file() {
            continue;
        }
        let components = plumbline_policy_build::build_all(&root, &options)
            .map_err(|e| format!("building {}: {}", root.display(), error_chain(&e)))?;
        check_all_built(&root, &components)?;
        built.extend(components);
    }
    built.sort_by(|a, b| a.project_dir.cmp(&b.project_dir));
    let code = generate(&built, &repo);
    std::fs::write(out_dir.join("artifacts.rs"), code)
        .map_err(|e| format!("writing artifacts.rs: {e}"))
}

/// Rebuild when anything in a guest workspace changes, except in a
/// `target` directory that a developer's own cargo run left there.
fn watch_workspace(root: &Path) -> Result<(), String> {
    // Not the directory itself: cargo would scan it recursively, `target`
    // included. A new member is added to the watched `Cargo.toml`.
    let Ok(entries) = std::fs::read_dir(root) else {
        return Ok(());
    };
    for entry in entries {
        let path = entry
            .map_err(|e| format!("listing {}: {e}", root.display()))?
            .path();
        if path.file_name().is_some_and(|name| name != "target") {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
    Ok(())
}

/// Fails if a policy crate under `root` (a subdirectory whose manifest
/// declares a `cdylib`) produced no component: it is missing from the
/// workspace's `members`, and its tests would silently not run.
fn check_all_built(root: &Path, built: &[plumbline_policy_build::Built]) -> Result<(), String> {
    let entries =
        std::fs::read_dir(root).map_err(|e| format!("listing {}: {e}", root.display()))?;
    for entry in entries {
        let dir = entry
            .map_err(|e| format!("listing {}: {e}", root.display()))?
            .path();
        let dir = dir.canonicalize().unwrap_or(dir);
        if is_cdylib_project(&dir.join("Cargo.toml")) && !built.iter().any(|b| b.project_dir == dir)
        {
            return Err(format!(
                "{} is a policy crate but {} did not build it: add it to the workspace members",
                dir.display(),
                root.join("Cargo.toml").display()
            ));
        }
    }
    Ok(())
}

/// Whether `manifest` exists and declares `crate-type = [.. "cdylib" ..]`
/// outside a comment.
fn is_cdylib_project(manifest: &Path) -> bool {
    std::fs::read_to_string(manifest).is_ok_and(|text| {
        text.lines().any(|line| {
            let code = line.split('#').next().unwrap_or("");
            code.contains("crate-type") && code.contains("\"cdylib\"")
        })
    })
}

/// The Rust source of `artifacts.rs`.
fn generate(built: &[plumbline_policy_build::Built], repo: &Path) -> String {
    let mut code = String::new();
    let mut table = String::new();
    let mut calls = String::new();
    for component in built {
        let source = component
            .project_dir
            .strip_prefix(repo)
            .unwrap_or(&component.project_dir);
        let constant = component.name.to_uppercase().replace('-', "_");
        let ident = component.name.replace('-', "_");
        let path = component.component_path.display().to_string();
        let source = source.display().to_string();
        let _ = writeln!(
            code,
            "/// Component of `{source}` (package `{}`, {} bytes).\n\
             pub const {constant}: &str = {path:?};",
            component.name, component.size
        );
        let _ = writeln!(
            table,
            "    Artifact {{ name: {:?}, path: {constant}, source: {source:?}, sha256: {:?} }},",
            component.name, component.sha256
        );
        let _ = writeln!(calls, "        $mac!({ident}, $crate::{constant});");
    }
    let _ = writeln!(
        code,
        "\n/// Every component built, sorted by source directory.\n\
         pub const ALL: &[Artifact] = &[\n{table}];\n\n\
         /// Calls `$mac!(name, PATH)` once per component, with the package name\n\
         /// as an identifier (`-` becomes `_`) and the path constant, so that\n\
         /// every policy gets a test.\n\
         #[macro_export]\n\
         macro_rules! foreach_policy {{\n    ($mac:ident) => {{\n{calls}    }};\n}}"
    );
    code
}

/// An error and its causes, one per line.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut message = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let _ = write!(message, "\n  caused by: {cause}");
        source = cause.source();
    }
    message
}

fn env(name: &str) -> Result<String, String> {
    std::env::var(name).map_err(|_| format!("{name} is not set (not run by cargo?)"))
}
