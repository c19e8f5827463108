//! Finds a Rust toolchain that can build `wasm32-unknown-unknown`, and makes
//! clean commands to run it. Runs `rustup` and `rustc` to ask about them;
//! builds nothing.
//!
//! Two routes, tried in this order:
//!
//! 1. [`Route::RustupTarget`]: rustup's `wasm32-unknown-unknown` target is
//!    installed (`rustup target add wasm32-unknown-unknown`); plain
//!    `cargo build --target wasm32-unknown-unknown` with the project's
//!    toolchain.
//! 2. [`Route::BuildStd`]: a rustc that ships the standard library's source
//!    (Debian's `rustc-web`, `cargo-web` and `rust-web-src`, at
//!    `/usr/bin/rustc`) builds `std` for wasm itself with `-Zbuild-std`,
//!    linked by `rust-lld` or LLVM's `wasm-ld`.
//!
//! `PLUMBLINE_GUEST_RUSTC` and `PLUMBLINE_GUEST_CARGO` name another
//! toolchain for the second route; `PLUMBLINE_WASM_LINKER` names the linker.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The target triple policies are built for.
pub const WASM_TARGET: &str = "wasm32-unknown-unknown";

/// How the standard library for wasm is obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// rustup's prebuilt `wasm32-unknown-unknown` standard library.
    RustupTarget,
    /// `-Zbuild-std` with the toolchain's own standard library source
    /// (`RUSTC_BOOTSTRAP=1` on a stable compiler).
    BuildStd,
}

impl std::fmt::Display for Route {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Route::RustupTarget => "rustup wasm32-unknown-unknown target",
            Route::BuildStd => "-Zbuild-std with the toolchain's std source",
        })
    }
}

/// A toolchain that can build Rust policies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RustToolchain {
    /// Which route it takes.
    pub route: Route,
    /// The `cargo` to run.
    pub cargo: PathBuf,
    /// The `rustc` cargo must use; `None` leaves the choice to cargo (and
    /// rustup's toolchain files).
    pub rustc: Option<PathBuf>,
    /// The wasm linker to pass to rustc; `None` for rustc's default.
    pub linker: Option<PathBuf>,
}

/// Why no toolchain was found.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Neither route is available; says what was tried and what to install.
    #[error(
        "no Rust toolchain can build {WASM_TARGET} policies (tried: {tried}).\n\
         Install one of:\n  \
         - rustup's target: `rustup target add {WASM_TARGET}`\n  \
         - on Debian/Ubuntu, a toolchain with the standard library's source and a wasm linker: \
         `apt-get install rustc-web cargo-web rust-web-src lld-22` (what scripts/setup does)"
    )]
    NotFound {
        /// What was looked at, and why each was not usable.
        tried: String,
    },
}

/// Result of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Find a toolchain for the project in `project_dir` (rustup's toolchain
/// files there are honoured by the first route).
pub fn detect(project_dir: &Path) -> Result<RustToolchain> {
    let mut tried = Vec::new();
    match rustup_has_wasm_target(project_dir) {
        Ok(()) => {
            return Ok(RustToolchain {
                route: Route::RustupTarget,
                cargo: PathBuf::from("cargo"),
                rustc: None,
                linker: None,
            })
        }
        Err(why) => tried.push(why),
    }
    let (rustc, cargo) = match (
        std::env::var_os("PLUMBLINE_GUEST_RUSTC"),
        std::env::var_os("PLUMBLINE_GUEST_CARGO"),
    ) {
        (Some(rustc), Some(cargo)) => (PathBuf::from(rustc), PathBuf::from(cargo)),
        _ => (
            PathBuf::from("/usr/bin/rustc"),
            PathBuf::from("/usr/bin/cargo"),
        ),
    };
    match build_std_toolchain(&rustc, &cargo) {
        Ok(toolchain) => Ok(toolchain),
        Err(why) => {
            tried.push(why);
            Err(Error::NotFound {
                tried: tried.join("; "),
            })
        }
    }
}

/// `Ok` if `rustup target list --installed` lists the wasm target.
fn rustup_has_wasm_target(project_dir: &Path) -> Result<(), String> {
    let output = clean_command("rustup")
        .args(["target", "list", "--installed"])
        .current_dir(project_dir)
        .output()
        .map_err(|e| format!("rustup: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    if output.status.success() && stdout.lines().any(|l| l.trim() == WASM_TARGET) {
        Ok(())
    } else {
        Err(format!("rustup has no {WASM_TARGET} target installed"))
    }
}

/// The build-std route with this `rustc` and `cargo`, if the compiler ships
/// its standard library's source and a wasm linker can be found.
fn build_std_toolchain(rustc: &Path, cargo: &Path) -> Result<RustToolchain, String> {
    if !cargo.exists() {
        return Err(format!("{} not found", cargo.display()));
    }
    let sysroot = tool_output(rustc, ["--print", "sysroot"])?;
    let sysroot = PathBuf::from(sysroot.trim());
    let std_source = sysroot.join("lib/rustlib/src/rust/library/std/Cargo.toml");
    if !std_source.exists() {
        return Err(format!(
            "{} has no standard library source ({} is missing)",
            rustc.display(),
            std_source.display()
        ));
    }
    let version = tool_output(rustc, ["-vV"])?;
    let linker = find_linker(&sysroot, &version).ok_or_else(|| {
        format!(
            "{} has its standard library source but no wasm linker was found \
             (rust-lld, or LLVM's wasm-ld from lld-<N>)",
            rustc.display()
        )
    })?;
    Ok(RustToolchain {
        route: Route::BuildStd,
        cargo: cargo.to_owned(),
        rustc: Some(rustc.to_owned()),
        linker: Some(linker),
    })
}

/// A wasm linker for the build-std route: `PLUMBLINE_WASM_LINKER`, the
/// toolchain's own `rust-lld`, `wasm-ld` of the LLVM release the compiler
/// uses, rustup's `rust-lld`, then `rust-lld` or `wasm-ld` on `PATH`.
fn find_linker(sysroot: &Path, rustc_version: &str) -> Option<PathBuf> {
    if let Some(linker) = std::env::var_os("PLUMBLINE_WASM_LINKER") {
        return Some(PathBuf::from(linker));
    }
    let host = version_field(rustc_version, "host: ");
    let llvm_major = version_field(rustc_version, "LLVM version: ")
        .and_then(|v| v.split('.').next().map(str::to_owned));
    let mut candidates = Vec::new();
    if let Some(host) = &host {
        candidates.push(sysroot.join(format!("lib/rustlib/{host}/bin/rust-lld")));
    }
    if let Some(major) = llvm_major {
        candidates.push(PathBuf::from(format!("/usr/lib/llvm-{major}/bin/wasm-ld")));
    }
    if let (Some(host), Ok(rustup_sysroot)) = (&host, tool_output("rustc", ["--print", "sysroot"]))
    {
        candidates.push(
            Path::new(rustup_sysroot.trim()).join(format!("lib/rustlib/{host}/bin/rust-lld")),
        );
    }
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default();
    for name in ["rust-lld", "wasm-ld"] {
        candidates.extend(on_path.iter().map(|dir| dir.join(name)));
    }
    candidates.into_iter().find(|candidate| candidate.is_file())
}

/// The value of a `rustc -vV` line starting with `prefix`.
fn version_field(version: &str, prefix: &str) -> Option<String> {
    version
        .lines()
        .find_map(|line| line.strip_prefix(prefix))
        .map(|value| value.trim().to_owned())
}

/// Run a tool and return its standard output, or say why it failed.
fn tool_output<I, S>(tool: impl AsRef<OsStr>, args: I) -> Result<String, String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let tool = tool.as_ref();
    let output = clean_command(tool)
        .args(args)
        .output()
        .map_err(|e| format!("{}: {e}", tool.to_string_lossy()))?;
    if !output.status.success() {
        return Err(format!(
            "{} failed: {}",
            tool.to_string_lossy(),
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Environment variables a guest build keeps: where things are, network
/// and registry settings. Everything else (a build script's `CARGO_*`,
/// `RUSTFLAGS`, `RUSTC`, `CARGO_TARGET_DIR`, jobserver flags, ...) belongs
/// to the outer build and would break or deadlock the inner one.
const KEPT_VARS: &[&str] = &[
    "PATH",
    "HOME",
    "USER",
    "LANG",
    "LC_ALL",
    "TERM",
    "TMPDIR",
    "CARGO_HOME",
    "RUSTUP_HOME",
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
    "SystemRoot",
    "USERPROFILE",
];

/// Prefixes of kept variables (cargo's network and registry configuration).
const KEPT_PREFIXES: &[&str] = &[
    "CARGO_NET_",
    "CARGO_HTTP_",
    "CARGO_REGISTRIES_",
    "CARGO_REGISTRY_",
];

/// A command for `program` with an environment cleared down to
/// [`KEPT_VARS`] and [`KEPT_PREFIXES`].
pub(crate) fn clean_command(program: impl AsRef<OsStr>) -> Command {
    let mut command = Command::new(program);
    command.env_clear();
    for (key, value) in std::env::vars_os() {
        let Some(name) = key.to_str() else { continue };
        if KEPT_VARS.contains(&name) || KEPT_PREFIXES.iter().any(|p| name.starts_with(p)) {
            command.env(&key, value);
        }
    }
    command
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_fields_of_rustc_version_output() {
        let version = "rustc 1.96.0\nhost: x86_64-unknown-linux-gnu\nLLVM version: 22.1.8\n";
        assert_eq!(
            version_field(version, "host: ").as_deref(),
            Some("x86_64-unknown-linux-gnu")
        );
        assert_eq!(
            version_field(version, "LLVM version: ").as_deref(),
            Some("22.1.8")
        );
        assert_eq!(version_field(version, "commit-hash: "), None);
    }

    #[test]
    fn a_missing_compiler_is_refused_naming_it() {
        let err = build_std_toolchain(Path::new("/nonexistent/rustc"), Path::new("/bin/sh"))
            .expect_err("no such compiler");
        assert!(err.contains("/nonexistent/rustc"), "{err}");
    }

    #[test]
    fn clean_commands_drop_the_outer_build_environment() {
        let command = clean_command("true");
        let names: Vec<String> = command
            .get_envs()
            .map(|(k, _)| k.to_string_lossy().into_owned())
            .collect();
        assert!(names.iter().all(|n| !n.starts_with("CARGO_PKG")
            && n != "RUSTFLAGS"
            && n != "CARGO_TARGET_DIR"
            && n != "RUSTC"));
        if std::env::var_os("PATH").is_some() {
            assert!(names.iter().any(|n| n == "PATH"));
        }
    }

    #[test]
    fn the_error_says_what_to_install() {
        let message = Error::NotFound {
            tried: "nothing".into(),
        }
        .to_string();
        assert!(message.contains("rustup target add wasm32-unknown-unknown"));
        assert!(message.contains("rust-web-src"));
    }
}
