//! Builds policy projects into WebAssembly components.
//!
//! [`build`] takes a project directory, decides its [`Language`], finds a
//! toolchain, compiles the project to a core wasm module and turns that into
//! a component with `wit-component`, written as `<name>.component.wasm`.
//! [`build_all`] does the same for every policy of a workspace at once.
//! Rust projects are built here; Python, JavaScript and C projects by
//! [`python`] (componentize-py), [`javascript`] (componentize-qjs) and [`c`]
//! (clang and `wit-bindgen c`).
//!
//! Rust projects are built for `wasm32-unknown-unknown` in a persistent
//! *guest target directory* (see [`default_target_dir`]), so that a rebuild
//! after a small change only recompiles the policy crate; the componentize
//! step is skipped when the core module did not change. See
//! [`toolchain`] for the two ways the standard library for wasm is
//! obtained.
//!
//! This runs other programs (cargo, rustc, rustup) and writes files; it is
//! meant for build scripts, the `plumbline policy build` command and tests.

use std::path::{Path, PathBuf};

pub mod c;
pub mod cargo;
pub mod componentize;
pub mod finish;
pub mod inspect;
pub mod javascript;
pub mod language;
pub mod python;
pub mod role;
pub mod toolchain;

pub use inspect::Interfaces;
pub use language::Language;
pub use toolchain::{Route, RustToolchain};

/// How to build.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// The guest target directory; `None` for [`default_target_dir`].
    pub target_dir: Option<PathBuf>,
    /// Where to write `<name>.component.wasm`; `None` for next to the core
    /// module in the target directory.
    pub out_dir: Option<PathBuf>,
    /// Let the compiler print progress and diagnostics to standard error.
    /// When `false` (for build scripts) they are kept and returned in
    /// [`Error::Cargo`] on failure.
    pub show_output: bool,
}

/// A built policy component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Built {
    /// The policy's name: the package name of a Rust project.
    pub name: String,
    /// The directory of its source project.
    pub project_dir: PathBuf,
    /// The language it was written in.
    pub language: Language,
    /// The toolchain that built it, for people: `rustc-web -Zbuild-std`,
    /// `componentize-py 0.25.1`, ...
    pub toolchain: String,
    /// The component.
    pub component_path: PathBuf,
    /// The core module the component was made from.
    pub core_module_path: PathBuf,
    /// Size of the component in bytes.
    pub size: u64,
    /// SHA-256 of the component, lowercase hex.
    pub sha256: String,
    /// Whether the component was (re)written by this build, as opposed to
    /// reused because the core module had not changed.
    pub componentized: bool,
    /// What the component imports and exports.
    pub interfaces: Interfaces,
}

/// Why a policy could not be built.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The project's language could not be decided.
    #[error(transparent)]
    Language(#[from] language::Error),
    /// No toolchain can build the project; says what to install.
    #[error(transparent)]
    Toolchain(#[from] toolchain::Error),
    /// The compiler failed.
    #[error(transparent)]
    Cargo(#[from] cargo::Error),
    /// The core module could not be made into a component.
    #[error(transparent)]
    Componentize(#[from] componentize::Error),
    /// A C policy could not be built.
    #[error(transparent)]
    C(#[from] c::Error),
    /// A Python policy could not be built.
    #[error(transparent)]
    Python(#[from] python::Error),
    /// A JavaScript policy could not be built.
    #[error(transparent)]
    JavaScript(#[from] javascript::Error),
    /// [`build`] was pointed at a directory with several policies (a
    /// workspace); use [`build_all`] or the policy's own directory.
    #[error(
        "{} holds {} policies ({}), expected one: build a policy's own directory, or all of them",
        dir.display(),
        found.len(),
        found.join(", ")
    )]
    NotOnePolicy {
        /// The directory.
        dir: PathBuf,
        /// The policies found there.
        found: Vec<String>,
    },
    /// The component that was written could not be read back or inspected.
    #[error(transparent)]
    Component(#[from] finish::Error),
}

/// Result of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The guest target directory used when [`BuildOptions::target_dir`] is not
/// set: `$PLUMBLINE_GUEST_TARGET_DIR`, else `$CARGO_TARGET_DIR/wasm-guests`,
/// else `$XDG_CACHE_HOME/plumbline/guests` (`~/.cache/plumbline/guests`),
/// else `target/wasm-guests` under the current directory.
pub fn default_target_dir() -> PathBuf {
    target_dir_from(|name| std::env::var_os(name))
}

/// [`default_target_dir`] with the environment given as a lookup function.
fn target_dir_from(var: impl Fn(&str) -> Option<std::ffi::OsString>) -> PathBuf {
    let var = |name: &str| var(name).filter(|v| !v.is_empty());
    if let Some(dir) = var("PLUMBLINE_GUEST_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    if let Some(dir) = var("CARGO_TARGET_DIR") {
        return PathBuf::from(dir).join("wasm-guests");
    }
    let cache = var("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| var("HOME").map(|home| PathBuf::from(home).join(".cache")));
    match cache {
        Some(cache) => cache.join("plumbline").join("guests"),
        None => PathBuf::from("target").join("wasm-guests"),
    }
}

/// Build the policy project in `project_dir` into a component. The
/// directory must hold exactly one policy; see [`build_all`] for a
/// workspace of several.
pub fn build(project_dir: &Path, options: &BuildOptions) -> Result<Built> {
    let mut built = build_all(project_dir, options)?;
    if built.len() != 1 {
        return Err(Error::NotOnePolicy {
            dir: project_dir.to_owned(),
            found: built.into_iter().map(|b| b.name).collect(),
        });
    }
    Ok(built.remove(0))
}

/// Build every policy in `dir` into components: the policy crate itself,
/// or every `cdylib` member of a Cargo workspace (built by one cargo
/// invocation, so independent policies compile in parallel). Helper
/// libraries in the workspace are built but yield no component.
pub fn build_all(dir: &Path, options: &BuildOptions) -> Result<Vec<Built>> {
    let language = language::detect(dir)?;
    match language {
        Language::Rust => build_rust(dir, options),
        Language::C => Ok(c::build(dir, options)?),
        Language::Python => Ok(python::build(dir, options)?),
        Language::JavaScript => Ok(javascript::build(dir, options)?),
    }
}

/// [`build_all`] for a Cargo project or workspace.
fn build_rust(dir: &Path, options: &BuildOptions) -> Result<Vec<Built>> {
    let language = Language::Rust;
    let toolchain = toolchain::detect(dir)?;
    let target_dir = options
        .target_dir
        .clone()
        .unwrap_or_else(default_target_dir);
    let manifest = dir.join("Cargo.toml");
    let artifacts = cargo::build(&toolchain, &manifest, &target_dir, options.show_output)?;
    artifacts
        .into_iter()
        .map(|artifact| finish(artifact, language, toolchain.route, options))
        .collect()
}

/// Componentize one cargo artifact and describe the result.
fn finish(
    artifact: cargo::Artifact,
    language: Language,
    route: Route,
    options: &BuildOptions,
) -> Result<Built> {
    let out_dir = match &options.out_dir {
        Some(dir) => dir.clone(),
        None => artifact
            .module
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_owned),
    };
    std::fs::create_dir_all(&out_dir).map_err(|source| componentize::Error::Write {
        path: out_dir.clone(),
        source,
    })?;
    let component_path = out_dir.join(format!("{}.component.wasm", artifact.package));
    let componentized = componentize::componentize(&artifact.module, &component_path)?;
    let origin = finish::Origin {
        name: artifact.package,
        project_dir: artifact.package_dir,
        language,
        toolchain: route.to_string(),
        core_module_path: artifact.module,
        componentized,
    };
    Ok(finish::describe(component_path, origin)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_package_json_goes_to_the_javascript_builder() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("package.json"), "{}").expect("marker");
        let err = build(dir.path(), &BuildOptions::default()).expect_err("no name");
        assert!(
            matches!(
                err,
                Error::JavaScript(javascript::Error::InvalidProject { .. })
            ),
            "{err}"
        );
        assert!(err.to_string().contains("`name` is missing"), "{err}");
    }

    #[test]
    fn the_guest_target_dir_follows_the_documented_order() {
        let with = |vars: &[(&str, &str)]| {
            let vars: Vec<(String, String)> = vars
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            target_dir_from(move |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.into()))
        };
        let all = [
            ("PLUMBLINE_GUEST_TARGET_DIR", "/g"),
            ("CARGO_TARGET_DIR", "/t"),
            ("XDG_CACHE_HOME", "/c"),
            ("HOME", "/h"),
        ];
        assert_eq!(with(&all), Path::new("/g"));
        assert_eq!(with(&all[1..]), Path::new("/t/wasm-guests"));
        assert_eq!(with(&all[2..]), Path::new("/c/plumbline/guests"));
        assert_eq!(with(&all[3..]), Path::new("/h/.cache/plumbline/guests"));
        assert_eq!(with(&[]), Path::new("target/wasm-guests"));
        // Empty values count as unset.
        assert_eq!(
            with(&[
                ("PLUMBLINE_GUEST_TARGET_DIR", ""),
                ("CARGO_TARGET_DIR", "/t")
            ]),
            Path::new("/t/wasm-guests")
        );
    }
}
