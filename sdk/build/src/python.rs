//! Builds Python policy projects into components with componentize-py.
//!
//! A Python policy project is a directory with `pyproject.toml` and the
//! policy module (`app.py` unless `[tool.plumbline] app` names another):
//!
//! ```toml
//! [project]
//! name = "required-labels"          # the policy's name (else the directory's)
//!
//! [tool.plumbline]
//! roles = ["validator"]             # validator, transformer, remediator, health: one or more
//! app = "app"                       # the module that calls `plumbline_policy.export`
//! wasi = false                      # true: keep WASI imports (the host gives an empty WASI)
//! ```
//!
//! The roles choose the WIT world(s) of `wit/policy.wit` (`validator` →
//! `validator-policy`; several roles → the union of their worlds). By
//! default the component is built with `--stub-wasi`: no WASI imports at
//! all, output only through the host log. The WIT contract and the
//! `plumbline_policy` SDK are compiled into this crate and written next to
//! the build, so a project needs nothing else.
//!
//! componentize-py is found through `$PLUMBLINE_COMPONENTIZE_PY`, else the
//! repository's `.tools/python` (what `scripts/setup` installs), else
//! `PATH`. A rebuild is skipped when the inputs (the project's `.py` files
//! and `pyproject.toml`, the SDK, the contract, the options and the tool's
//! version) hash the same as those of the component on disk.
//!
//! IO: reads the project, writes under the guest target directory
//! (`<target>/python/<name>/`), runs componentize-py.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sha2::{Digest, Sha256};

use crate::finish::{self, Origin, Stamp};
use crate::{default_target_dir, BuildOptions, Built, Language};

pub use crate::role::Role;

/// The componentize-py release `scripts/setup` installs and the docs measure.
pub const COMPONENTIZE_PY_VERSION: &str = "0.25.1";

/// How to install componentize-py, for error messages.
pub const INSTALL_HINT: &str = "run scripts/setup (it installs componentize-py 0.25.1 into \
     .tools/python), or: python3 -m venv .tools/python && .tools/python/bin/pip install \
     componentize-py==0.25.1 (or set PLUMBLINE_COMPONENTIZE_PY to a componentize-py executable)";

/// The WIT contract, as compiled into this crate.
const WIT: &str = include_str!("../../../wit/policy.wit");

/// The `plumbline_policy` SDK, as compiled into this crate: (file, text).
pub const SDK_FILES: &[(&str, &str)] = &[
    (
        "__init__.py",
        include_str!("../../python/plumbline_policy/__init__.py"),
    ),
    (
        "export.py",
        include_str!("../../python/plumbline_policy/export.py"),
    ),
    (
        "health.py",
        include_str!("../../python/plumbline_policy/health.py"),
    ),
    (
        "log.py",
        include_str!("../../python/plumbline_policy/log.py"),
    ),
    (
        "names.py",
        include_str!("../../python/plumbline_policy/names.py"),
    ),
    (
        "object.py",
        include_str!("../../python/plumbline_policy/object.py"),
    ),
    (
        "paths.py",
        include_str!("../../python/plumbline_policy/paths.py"),
    ),
    (
        "roles.py",
        include_str!("../../python/plumbline_policy/roles.py"),
    ),
    (
        "settings.py",
        include_str!("../../python/plumbline_policy/settings.py"),
    ),
    (
        "types.py",
        include_str!("../../python/plumbline_policy/types.py"),
    ),
];

/// A Python policy project, as its `pyproject.toml` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    /// The project directory.
    pub dir: PathBuf,
    /// The policy's name: `[project] name`, else the directory's name.
    pub name: String,
    /// The policy module (`app` for `app.py`).
    pub app: String,
    /// The roles it exports, sorted, without duplicates.
    pub roles: Vec<Role>,
    /// Keep WASI imports (`wasi = true`) instead of `--stub-wasi`.
    pub wasi: bool,
}

/// componentize-py, found and asked for its version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tool {
    /// The executable.
    pub path: PathBuf,
    /// What `--version` printed, e.g. `componentize-py 0.25.1`.
    pub version: String,
}

/// Why a Python policy could not be built.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// componentize-py is not installed where it was looked for.
    #[error("componentize-py not found (looked at: {tried}); {INSTALL_HINT}")]
    ToolNotFound {
        /// The places looked at.
        tried: String,
    },
    /// componentize-py could not be run, or `--version` failed.
    #[error("cannot run {}; {INSTALL_HINT}", path.display())]
    ToolBroken {
        /// The executable.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// `pyproject.toml` could not be read or parsed.
    #[error("cannot read {}", path.display())]
    ReadProject {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The project's configuration is not usable.
    #[error("{}: {reason}", path.display())]
    Config {
        /// The file (or directory) at fault.
        path: PathBuf,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// A file could not be read or written.
    #[error("cannot access {}", path.display())]
    Io {
        /// The path.
        path: PathBuf,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// The component that was written could not be read back or inspected.
    #[error(transparent)]
    Component(#[from] finish::Error),
    /// componentize-py failed; its output says why.
    #[error("componentize-py failed to build {} ({status}):\n{output}", project.display())]
    Componentize {
        /// The project directory.
        project: PathBuf,
        /// The exit status.
        status: std::process::ExitStatus,
        /// What it printed.
        output: String,
    },
}

/// Result of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Build the Python policy project in `dir` (one project, one component).
/// Python has no core module: [`Built::core_module_path`] is the policy
/// module (`app.py`).
pub fn build(dir: &Path, options: &BuildOptions) -> Result<Vec<Built>> {
    let project = read_project(dir)?;
    let tool = find_tool()?;
    let work_dir = options
        .target_dir
        .clone()
        .unwrap_or_else(default_target_dir)
        .join("python")
        .join(&project.name);
    let out_dir = options.out_dir.clone().unwrap_or_else(|| work_dir.clone());
    let component_path = out_dir.join(format!("{}.component.wasm", project.name));
    let stamp = Stamp::new(&out_dir, &project.name, inputs_digest(&project, &tool)?);
    let up_to_date = stamp.is_current(&component_path);
    if !up_to_date {
        componentize(&project, &tool, &work_dir, &component_path, options)?;
        stamp.record()?;
    }
    let stub = if project.wasi { "" } else { " --stub-wasi" };
    let origin = Origin {
        name: project.name.clone(),
        core_module_path: project.dir.join(format!("{}.py", project.app)),
        project_dir: project.dir,
        language: Language::Python,
        toolchain: format!("{}{stub}", tool.version),
        componentized: !up_to_date,
    };
    Ok(vec![finish::describe(component_path, origin)?])
}

/// Read `pyproject.toml` (and check the policy module exists).
pub fn read_project(dir: &Path) -> Result<Project> {
    let path = dir.join("pyproject.toml");
    let text = std::fs::read_to_string(&path).map_err(|source| Error::ReadProject {
        path: path.clone(),
        source: Box::new(source),
    })?;
    let table: toml::Table = text.parse().map_err(|source| Error::ReadProject {
        path: path.clone(),
        source: Box::new(source),
    })?;
    let config = |reason: String| Error::Config {
        path: path.clone(),
        reason,
    };
    let tool = table
        .get("tool")
        .and_then(|tool| tool.get("plumbline"))
        .and_then(toml::Value::as_table)
        .ok_or_else(|| {
            config(
                "no [tool.plumbline] table; add one naming the roles the policy exports, e.g. \
                 `[tool.plumbline]` then `roles = [\"validator\"]`"
                    .into(),
            )
        })?;
    if let Some(key) = tool
        .keys()
        .find(|key| !["roles", "app", "wasi"].contains(&key.as_str()))
    {
        return Err(config(format!(
            "unknown key `{key}` in [tool.plumbline] (known: roles, app, wasi)"
        )));
    }
    let role_names = tool
        .get("roles")
        .and_then(toml::Value::as_array)
        .ok_or_else(|| {
            config(
                "[tool.plumbline] roles must be a list of roles (validator, transformer, \
                 remediator, health)"
                    .into(),
            )
        })?;
    let mut roles = Vec::new();
    for value in role_names {
        let role = value.as_str().and_then(Role::parse).ok_or_else(|| {
            config(format!(
                "[tool.plumbline] roles: `{value}` is not a role (validator, transformer, \
                 remediator, health)",
                value = shown(value)
            ))
        })?;
        roles.push(role);
    }
    roles.sort();
    roles.dedup();
    if roles.is_empty() {
        return Err(config(
            "[tool.plumbline] roles must name at least one role".into(),
        ));
    }
    let app = match tool.get("app") {
        None => "app".to_owned(),
        Some(toml::Value::String(app)) if is_module_name(app) => app.clone(),
        Some(other) => {
            return Err(config(format!(
                "[tool.plumbline] app must be a top-level module name such as \"app\", found \
                 {other}",
                other = shown(other)
            )))
        }
    };
    let wasi = match tool.get("wasi") {
        None => false,
        Some(toml::Value::Boolean(wasi)) => *wasi,
        Some(other) => {
            return Err(config(format!(
                "[tool.plumbline] wasi must be true or false, found {other}",
                other = shown(other)
            )))
        }
    };
    let app_file = dir.join(format!("{app}.py"));
    if !app_file.is_file() {
        return Err(Error::Config {
            path: app_file,
            reason: "the policy module is missing ([tool.plumbline] app names it; default \
                     app.py)"
                .into(),
        });
    }
    let name = match table.get("project").and_then(|p| p.get("name")) {
        Some(toml::Value::String(name)) if !name.is_empty() => name.clone(),
        Some(other) => {
            return Err(config(format!(
                "[project] name must be a non-empty string, found {other}",
                other = shown(other)
            )))
        }
        None => dir_name(dir),
    };
    Ok(Project {
        dir: dir.to_owned(),
        name,
        app,
        roles,
        wasi,
    })
}

/// The world(s) to pass to componentize-py for `roles`.
pub fn worlds(roles: &[Role]) -> Vec<String> {
    if roles == [Role::Validator, Role::Transformer, Role::Remediator] {
        return vec!["policy".to_owned()];
    }
    roles
        .iter()
        .map(|role| format!("{}-policy", role.name()))
        .collect()
}

/// Find componentize-py and ask its version.
pub fn find_tool() -> Result<Tool> {
    let mut tried = Vec::new();
    let mut candidates = Vec::new();
    if let Some(path) = std::env::var_os("PLUMBLINE_COMPONENTIZE_PY").filter(|p| !p.is_empty()) {
        candidates.push(PathBuf::from(path));
    }
    candidates.push(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.tools/python/bin/componentize-py"),
    );
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|dir| dir.join("componentize-py")));
    }
    for path in candidates {
        if !path.is_file() {
            tried.push(path.display().to_string());
            continue;
        }
        let output = Command::new(&path)
            .arg("--version")
            .stdin(Stdio::null())
            .output()
            .map_err(|source| Error::ToolBroken {
                path: path.clone(),
                source,
            })?;
        if !output.status.success() {
            return Err(Error::ToolBroken {
                path,
                source: std::io::Error::other(format!(
                    "`--version` failed ({}): {}",
                    output.status,
                    String::from_utf8_lossy(&output.stderr).trim()
                )),
            });
        }
        let version = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        return Ok(Tool { path, version });
    }
    Err(Error::ToolNotFound {
        tried: tried.join(", "),
    })
}

/// Run componentize-py: write the contract and the SDK next to the build,
/// then build the component to a temporary file and move it into place.
fn componentize(
    project: &Project,
    tool: &Tool,
    work_dir: &Path,
    component_path: &Path,
    options: &BuildOptions,
) -> Result<()> {
    let wit_dir = work_dir.join("wit");
    write(&wit_dir.join("policy.wit"), WIT.as_bytes())?;
    let sdk_dir = work_dir.join("sdk");
    for (file, text) in SDK_FILES {
        write(
            &sdk_dir.join("plumbline_policy").join(file),
            text.as_bytes(),
        )?;
    }
    let partial = component_path.with_extension("wasm.partial");
    let mut command = Command::new(&tool.path);
    command.arg("--quiet").arg("-d").arg(&wit_dir);
    for world in worlds(&project.roles) {
        command.arg("-w").arg(world);
    }
    command.arg("componentize");
    if !project.wasi {
        command.arg("--stub-wasi");
    }
    command
        .arg("-p")
        .arg(&project.dir)
        .arg("-p")
        .arg(&sdk_dir)
        .arg("-o")
        .arg(&partial)
        .arg(&project.app)
        // Keep failures to componentize-py's own message (and the Python
        // traceback), without a Rust backtrace.
        .env("RUST_BACKTRACE", "0")
        // Only the project and the SDK are on the policy's path, not
        // whatever virtual environment the caller has active.
        .env_remove("VIRTUAL_ENV")
        .stdin(Stdio::null());
    let output = if options.show_output {
        command.stdout(Stdio::inherit()).stderr(Stdio::inherit());
        let status = command.status().map_err(|source| Error::ToolBroken {
            path: tool.path.clone(),
            source,
        })?;
        (status, String::from("(printed above)"))
    } else {
        let output = command.output().map_err(|source| Error::ToolBroken {
            path: tool.path.clone(),
            source,
        })?;
        let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
        text.push_str(&String::from_utf8_lossy(&output.stderr));
        (output.status, text)
    };
    if !output.0.success() {
        return Err(Error::Componentize {
            project: project.dir.clone(),
            status: output.0,
            output: output.1.trim().to_owned(),
        });
    }
    std::fs::rename(&partial, component_path).map_err(|source| Error::Io {
        path: component_path.to_owned(),
        source,
    })
}

/// SHA-256 (hex) over everything the component depends on.
fn inputs_digest(project: &Project, tool: &Tool) -> Result<String> {
    let mut hash = Sha256::new();
    let mut field = |bytes: &[u8]| {
        hash.update((bytes.len() as u64).to_le_bytes());
        hash.update(bytes);
    };
    field(tool.version.as_bytes());
    field(format!("{:?} {} {}", project.roles, project.app, project.wasi).as_bytes());
    field(WIT.as_bytes());
    for (file, text) in SDK_FILES {
        field(file.as_bytes());
        field(text.as_bytes());
    }
    let mut files = Vec::new();
    collect_sources(&project.dir, &mut files)?;
    files.sort();
    for file in files {
        let bytes = std::fs::read(&file).map_err(|source| Error::Io {
            path: file.clone(),
            source,
        })?;
        let relative = file.strip_prefix(&project.dir).unwrap_or(&file);
        field(relative.to_string_lossy().as_bytes());
        field(&bytes);
    }
    Ok(hex::encode(hash.finalize()))
}

/// Every `.py` file under `dir` and `dir/pyproject.toml`, skipping hidden
/// directories and `__pycache__`.
fn collect_sources(dir: &Path, files: &mut Vec<PathBuf>) -> Result<()> {
    let io = |source| Error::Io {
        path: dir.to_owned(),
        source,
    };
    for entry in std::fs::read_dir(dir).map_err(io)? {
        let entry = entry.map_err(io)?;
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let kind = entry.file_type().map_err(io)?;
        if kind.is_dir() {
            if !name.starts_with('.') && name != "__pycache__" {
                collect_sources(&path, files)?;
            }
        } else if name.ends_with(".py") || name == "pyproject.toml" {
            files.push(path);
        }
    }
    Ok(())
}

fn write(path: &Path, bytes: &[u8]) -> Result<()> {
    let io = |source| Error::Io {
        path: path.to_owned(),
        source,
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io)?;
    }
    std::fs::write(path, bytes).map_err(io)
}

/// A TOML value for messages: a string quoted, anything else by its type.
fn shown(value: &toml::Value) -> String {
    match value {
        toml::Value::String(text) => format!("{text:?}"),
        other => format!("a {}", other.type_str()),
    }
}

fn is_module_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn dir_name(dir: &Path) -> String {
    std::path::absolute(dir)
        .ok()
        .and_then(|dir| dir.file_name().map(|n| n.to_string_lossy().into_owned()))
        .unwrap_or_else(|| "policy".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(pyproject: &str) -> (tempfile::TempDir, Result<Project>) {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("pyproject.toml"), pyproject).expect("pyproject");
        std::fs::write(dir.path().join("app.py"), "").expect("app");
        let project = read_project(dir.path());
        (dir, project)
    }

    #[test]
    fn reads_name_roles_app_and_wasi() {
        let (dir, project) = project(
            "[project]\nname = \"p\"\n[tool.plumbline]\nroles = [\"remediator\", \"validator\"]\n",
        );
        let project = project.expect("valid");
        assert_eq!(project.name, "p");
        assert_eq!(project.roles, [Role::Validator, Role::Remediator]);
        assert_eq!(project.app, "app");
        assert!(!project.wasi);
        assert_eq!(project.dir, dir.path());
        assert_eq!(
            worlds(&project.roles),
            ["validator-policy", "remediator-policy"]
        );
    }

    #[test]
    fn explains_what_is_wrong_with_the_configuration() {
        let cases = [
            ("[project]\nname = \"p\"\n", "no [tool.plumbline] table"),
            (
                "[tool.plumbline]\nroles = [\"judge\"]\n",
                "`\"judge\"` is not a role",
            ),
            ("[tool.plumbline]\nroles = []\n", "at least one role"),
            (
                "[tool.plumbline]\nroles = [\"validator\"]\nworld = 1\n",
                "unknown key `world`",
            ),
            (
                "[tool.plumbline]\nroles = [\"validator\"]\nwasi = \"yes\"\n",
                "wasi must be",
            ),
            (
                "[tool.plumbline]\nroles = [\"validator\"]\napp = \"main\"\n",
                "main.py",
            ),
            ("[tool.plumbline\n", "pyproject.toml"),
        ];
        for (text, expected) in cases {
            let (_dir, project) = project(text);
            let err = project.expect_err(text);
            assert!(err.to_string().contains(expected), "{text}: {err}");
        }
    }

    #[test]
    fn the_digest_changes_with_the_sources_only() {
        let (dir, project) = project("[tool.plumbline]\nroles = [\"validator\"]\n");
        let project = project.expect("valid");
        let tool = Tool {
            path: PathBuf::from("componentize-py"),
            version: "componentize-py 0.25.1".into(),
        };
        let first = inputs_digest(&project, &tool).expect("digest");
        std::fs::create_dir(dir.path().join("__pycache__")).expect("cache dir");
        std::fs::write(dir.path().join("__pycache__/app.pyc"), "x").expect("pyc");
        std::fs::write(dir.path().join("README.md"), "x").expect("readme");
        assert_eq!(inputs_digest(&project, &tool).expect("digest"), first);
        std::fs::write(dir.path().join("app.py"), "x = 1").expect("edit");
        assert_ne!(inputs_digest(&project, &tool).expect("digest"), first);
    }
}
