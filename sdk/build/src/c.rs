//! Builds C policy projects into components: the low-level route, with no
//! language runtime in between.
//!
//! A C project is a directory with a `Makefile` that names the policy and
//! its sources in plain assignments (the same variables its own `make`
//! targets use):
//!
//! ```make
//! NAME    := required-labels
//! WORLD   := validator-policy
//! SOURCES := policy.c json.c
//! ```
//!
//! `WORLD` is a world of the policy contract (`wit/policy.wit`, built into
//! this crate); an optional `EXTRA_WIT := dir` names a directory of extra WIT
//! packages (relative to the project) that may `include` the contract's
//! worlds, for a policy that imports more (the sandbox probe imports WASI
//! sockets this way).
//!
//! The build, in the guest target directory under `c/<NAME>/`:
//! 1. `wit-bindgen c` bindings for the world (`<world>.h`, `<world>.c`,
//!    `<world>_component_type.o`), generated in-process by the
//!    `wit-bindgen-c` library;
//! 2. one `clang --target=wasm32-wasi` run over the sources and the
//!    bindings against Debian's wasi-libc, as a reactor (no `main`);
//! 3. `wit-component` turns the core module into a component; a module that
//!    uses wasi-libc's I/O imports WASI preview1, which the WASI preview1
//!    adapter of the host's wasmtime release maps onto WASI 0.2 (a module
//!    that does not gets no WASI imports at all).
//!
//! Runs clang, reads the project, writes in the build directory.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::finish::{self, Origin};
use crate::{BuildOptions, Built, Language};

/// The policy contract the bindings are generated from.
const CONTRACT: &str = include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../../wit/policy.wit"));

/// Versions recorded in [`Built::toolchain`].
const BINDGEN: &str = "wit-bindgen-c 0.60.0";
/// The adapter's release: the wasmtime release the host embeds.
const ADAPTER: &str = "wasi-preview1-component-adapter 48.0.8";

/// The command that installs the C toolchain, for error messages.
pub const INSTALL_HINT: &str = "sudo apt-get install clang-14 lld-14 wasi-libc \
     libclang-rt-14-dev-wasm32 (or run scripts/setup)";

/// Why a C policy could not be built.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The project's `Makefile` could not be read.
    #[error(
        "cannot read {} (a C policy project needs a Makefile that sets NAME, WORLD and SOURCES)",
        path.display()
    )]
    ReadMakefile {
        /// The Makefile's path.
        path: PathBuf,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// The `Makefile` lacks a variable the build needs.
    #[error("{} does not set {variable} (expected a line `{variable} := ...`)", path.display())]
    MissingVariable {
        /// The Makefile's path.
        path: PathBuf,
        /// The variable, e.g. `WORLD`.
        variable: &'static str,
    },
    /// The WIT (the contract, or the project's own) could not be read, or
    /// the world is not in it.
    #[error("cannot read the WIT world `{world}` for {}", project.display())]
    Wit {
        /// The project directory.
        project: PathBuf,
        /// The world the Makefile names.
        world: String,
        /// wit-parser's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// `wit-bindgen c` failed on the world.
    #[error("cannot generate C bindings for the world `{world}`")]
    Bindgen {
        /// The world.
        world: String,
        /// wit-bindgen's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// No clang (or no wasm32 support for it) was found.
    #[error("{what}; install it with: {INSTALL_HINT}")]
    Toolchain {
        /// What is missing.
        what: String,
    },
    /// clang could not be started.
    #[error("cannot run {}", clang.display())]
    Spawn {
        /// The compiler.
        clang: PathBuf,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// clang failed; its diagnostics follow.
    #[error("clang failed to build {}:\n{diagnostics}", project.display())]
    Compile {
        /// The project directory.
        project: PathBuf,
        /// What clang printed (empty when it was shown on the terminal).
        diagnostics: String,
    },
    /// The core module could not be made into a component.
    #[error("cannot make a component of {}", module.display())]
    Encode {
        /// The core module.
        module: PathBuf,
        /// wit-component's error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A file in the build directory could not be written or read.
    #[error("cannot write or read {}", path.display())]
    Io {
        /// The file.
        path: PathBuf,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// The component that was written could not be read back or inspected.
    #[error(transparent)]
    Component(#[from] finish::Error),
}

/// Result of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What the project's `Makefile` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    /// The project directory.
    pub dir: PathBuf,
    /// `NAME`: the policy's name, used for the component's file name.
    pub name: String,
    /// `WORLD`: the world the policy implements, e.g. `validator-policy`.
    pub world: String,
    /// `SOURCES`: the C files, relative to the project.
    pub sources: Vec<String>,
    /// `EXTRA_WIT`: a directory of extra WIT packages, relative to the
    /// project, whose world `WORLD` is (instead of the contract's).
    pub extra_wit: Option<String>,
}

impl Project {
    /// Read the variables of `dir/Makefile`.
    pub fn read(dir: &Path) -> Result<Self> {
        let path = dir.join("Makefile");
        let text = std::fs::read_to_string(&path).map_err(|source| Error::ReadMakefile {
            path: path.clone(),
            source,
        })?;
        let require = |variable: &'static str| {
            makefile_variable(&text, variable).ok_or_else(|| Error::MissingVariable {
                path: path.clone(),
                variable,
            })
        };
        Ok(Self {
            dir: dir.to_owned(),
            name: require("NAME")?,
            world: require("WORLD")?,
            sources: require("SOURCES")?
                .split_whitespace()
                .map(str::to_owned)
                .collect(),
            extra_wit: makefile_variable(&text, "EXTRA_WIT"),
        })
    }
}

/// The value of a simple assignment `VAR := value` (also `=`, `?=`) in a
/// Makefile; `None` when absent or empty.
fn makefile_variable(text: &str, variable: &str) -> Option<String> {
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(variable)?.trim_start();
        let value = ["?=", ":=", "="]
            .iter()
            .find_map(|op| rest.strip_prefix(op))?;
        let value = value.split('#').next().unwrap_or("").trim();
        (!value.is_empty()).then(|| value.to_owned())
    })
}

/// The C compiler and the wasi-libc sysroot found on this machine.
#[derive(Debug, Clone)]
pub struct Clang {
    /// The compiler: `$PLUMBLINE_CLANG`, else `clang-14`, else `clang` on
    /// `PATH`.
    pub path: PathBuf,
    /// Its `--version` line, e.g. `Debian clang version 14.0.6`.
    pub version: String,
    /// `--sysroot`: `$PLUMBLINE_WASI_SYSROOT`, else none (Debian's clang
    /// finds wasi-libc under `/usr/{include,lib}/wasm32-wasi` by itself).
    pub sysroot: Option<PathBuf>,
}

impl Clang {
    /// Find the compiler and check that wasi-libc is there.
    pub fn detect() -> Result<Self> {
        let sysroot = std::env::var_os("PLUMBLINE_WASI_SYSROOT")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from);
        let candidates: Vec<OsString> = match std::env::var_os("PLUMBLINE_CLANG") {
            Some(clang) if !clang.is_empty() => vec![clang],
            _ => vec!["clang-14".into(), "clang".into()],
        };
        let (path, version) = candidates
            .iter()
            .find_map(|candidate| {
                let output = Command::new(candidate).arg("--version").output().ok()?;
                let text = String::from_utf8_lossy(&output.stdout);
                let first = text.lines().next()?.trim().to_owned();
                output
                    .status
                    .success()
                    .then(|| (PathBuf::from(candidate), first))
            })
            .ok_or_else(|| Error::Toolchain {
                what: format!(
                    "no C compiler for policies found (tried {})",
                    candidates
                        .iter()
                        .map(|c| c.to_string_lossy().into_owned())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            })?;
        let libc_header = match &sysroot {
            Some(root) => root.join("include/stdlib.h"),
            None => PathBuf::from("/usr/include/wasm32-wasi/stdlib.h"),
        };
        if !libc_header.is_file() {
            return Err(Error::Toolchain {
                what: format!(
                    "wasi-libc is not installed ({} is missing)",
                    libc_header.display()
                ),
            });
        }
        Ok(Self {
            path,
            version,
            sysroot,
        })
    }
}

/// Build the C project in `dir`.
pub fn build(dir: &Path, options: &BuildOptions) -> Result<Vec<Built>> {
    let project = Project::read(dir)?;
    let clang = Clang::detect()?;
    let target_dir = options
        .target_dir
        .clone()
        .unwrap_or_else(crate::default_target_dir);
    // clang runs in the project directory: the build paths must not be
    // relative to ours.
    let target_dir = std::path::absolute(&target_dir).map_err(|source| Error::Io {
        path: target_dir.clone(),
        source,
    })?;
    let build_dir = target_dir.join("c").join(&project.name);
    let bindings_dir = build_dir.join("bindings");
    let bindings = generate_bindings(&project, &bindings_dir)?;

    let module = build_dir.join(format!("{}.core.wasm", project.name));
    compile(&clang, &project, &bindings, &module, options.show_output)?;

    let out_dir = match &options.out_dir {
        Some(dir) => std::path::absolute(dir).map_err(|source| Error::Io {
            path: dir.clone(),
            source,
        })?,
        None => build_dir.clone(),
    };
    create_dir(&out_dir)?;
    let component_path = out_dir.join(format!("{}.component.wasm", project.name));
    let module_bytes = read(&module)?;
    let component = encode(&module_bytes).map_err(|source| Error::Encode {
        module: module.clone(),
        source,
    })?;
    write_atomically(&component_path, &component)?;

    let origin = Origin {
        name: project.name,
        project_dir: project.dir,
        language: Language::C,
        toolchain: format!("{} + wasi-libc, {BINDGEN}, {ADAPTER}", clang.version),
        core_module_path: module,
        componentized: true,
    };
    Ok(vec![finish::describe(component_path, origin)?])
}

/// The files `wit-bindgen c` wrote: the C source and the object file with
/// the component type; the header sits next to them.
#[derive(Debug, Clone)]
pub struct Bindings {
    /// The directory holding `<world>.h`.
    pub dir: PathBuf,
    /// `<world>.c`.
    pub source: PathBuf,
    /// `<world>_component_type.o`.
    pub component_type: PathBuf,
}

/// Generate the bindings of the project's world into `out`.
pub fn generate_bindings(project: &Project, out: &Path) -> Result<Bindings> {
    let wit_error = |source: anyhow::Error| Error::Wit {
        project: project.dir.clone(),
        world: project.world.clone(),
        source: source.into(),
    };
    let mut resolve = wit_bindgen_core::wit_parser::Resolve::default();
    let contract = resolve
        .push_str("wit/policy.wit", CONTRACT)
        .map_err(wit_error)?;
    let main = match &project.extra_wit {
        Some(dir) => {
            resolve
                .push_dir(project.dir.join(dir))
                .map_err(wit_error)?
                .0
        }
        None => contract,
    };
    let world = resolve
        .select_world(&[main], Some(&project.world))
        .map_err(wit_error)?;

    let mut files = wit_bindgen_core::Files::default();
    wit_bindgen_c::Opts::default()
        .build()
        .generate(&mut resolve, world, &mut files)
        .map_err(|source| Error::Bindgen {
            world: project.world.clone(),
            source: source.into(),
        })?;
    create_dir(out)?;
    let mut bindings = Bindings {
        dir: out.to_owned(),
        source: PathBuf::new(),
        component_type: PathBuf::new(),
    };
    for (name, contents) in files.iter() {
        let path = out.join(name);
        // Rewrite only what changed, so file times stay meaningful.
        if std::fs::read(&path).ok().as_deref() != Some(contents) {
            std::fs::write(&path, contents).map_err(|source| Error::Io {
                path: path.clone(),
                source,
            })?;
        }
        if name.ends_with("_component_type.o") {
            bindings.component_type = path;
        } else if name.ends_with(".c") {
            bindings.source = path;
        }
    }
    Ok(bindings)
}

/// The clang flags of a policy build: optimised, strict warnings, a reactor
/// (no `main`, `_initialize` runs the constructors), no debug info.
pub const CFLAGS: [&str; 8] = [
    "--target=wasm32-wasi",
    "-mexec-model=reactor",
    "-std=c11",
    "-O2",
    "-Wall",
    "-Wextra",
    "-Werror",
    "-s",
];

/// Compile and link the project's sources with the bindings into `module`.
fn compile(
    clang: &Clang,
    project: &Project,
    bindings: &Bindings,
    module: &Path,
    show_output: bool,
) -> Result<()> {
    let mut command = Command::new(&clang.path);
    command.current_dir(&project.dir).args(CFLAGS);
    if let Some(sysroot) = &clang.sysroot {
        command.arg(format!("--sysroot={}", sysroot.display()));
    }
    command
        .arg("-I")
        .arg(&bindings.dir)
        .args(&project.sources)
        .arg(&bindings.source)
        .arg(&bindings.component_type)
        .arg("-o")
        .arg(module);
    let output = command.output().map_err(|source| Error::Spawn {
        clang: clang.path.clone(),
        source,
    })?;
    let diagnostics = String::from_utf8_lossy(&output.stderr).into_owned();
    if show_output && !diagnostics.is_empty() {
        eprint!("{diagnostics}");
    }
    if output.status.success() {
        return Ok(());
    }
    let missing_piece = ["wasm-ld", "libclang_rt.builtins-wasm32"]
        .iter()
        .find(|piece| diagnostics.contains(*piece));
    let missing = ["not found", "doesn't exist", "No such file", "cannot open"]
        .iter()
        .any(|words| diagnostics.contains(words));
    if let (Some(piece), true) = (missing_piece, missing) {
        return Err(Error::Toolchain {
            what: format!("clang cannot build for wasm32-wasi ({piece} not found)"),
        });
    }
    Err(Error::Compile {
        project: project.dir.clone(),
        diagnostics,
    })
}

/// Encode a core module as a validated component, adapting WASI preview1
/// imports (if any) to WASI 0.2.
pub fn encode(module: &[u8]) -> Result<Vec<u8>, Box<dyn std::error::Error + Send + Sync>> {
    use wasi_preview1_component_adapter_provider::{
        WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
    };
    let component = wit_component::ComponentEncoder::default()
        .module(module)?
        .adapter(
            WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME,
            WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
        )?
        .validate(true)
        .encode()?;
    Ok(component)
}

fn create_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|source| Error::Io {
        path: dir.to_owned(),
        source,
    })
}

fn read(path: &Path) -> Result<Vec<u8>> {
    std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })
}

/// Write through a temporary file and rename, so that a reader never sees a
/// half-written component.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(format!(".{}.tmp", std::process::id()));
    let temporary = PathBuf::from(temporary);
    std::fs::write(&temporary, bytes).map_err(|source| Error::Io {
        path: temporary.clone(),
        source,
    })?;
    std::fs::rename(&temporary, path).map_err(|source| Error::Io {
        path: path.to_owned(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_makefile_variables() {
        let text = "# policy\nNAME := probe\nWORLD ?= validator-policy # the role\n\
                    SOURCES = a.c  b.c\nWORLDS := x\n\nall:\n\tclang $(SOURCES)\n";
        assert_eq!(makefile_variable(text, "NAME").as_deref(), Some("probe"));
        assert_eq!(
            makefile_variable(text, "WORLD").as_deref(),
            Some("validator-policy")
        );
        assert_eq!(
            makefile_variable(text, "SOURCES").as_deref(),
            Some("a.c  b.c")
        );
        assert_eq!(makefile_variable(text, "EXTRA_WIT"), None);
    }

    #[test]
    fn a_makefile_without_a_world_is_refused_naming_the_variable() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("Makefile"), "NAME := x\nSOURCES := x.c\n").expect("write");
        let err = Project::read(dir.path()).expect_err("no WORLD");
        assert!(err.to_string().contains("does not set WORLD"), "{err}");
    }

    #[test]
    fn generates_bindings_for_a_contract_world() {
        let dir = tempfile::tempdir().expect("temp dir");
        let project = Project {
            dir: dir.path().to_owned(),
            name: "x".into(),
            world: "validator-policy".into(),
            sources: vec![],
            extra_wit: None,
        };
        let bindings = generate_bindings(&project, &dir.path().join("b")).expect("bindings");
        let header = std::fs::read_to_string(bindings.dir.join("validator_policy.h")).expect("h");
        assert!(
            header.contains("exports_plumbline_policy_validator_validate"),
            "{header}"
        );
        assert!(bindings.component_type.is_file());
    }
}
