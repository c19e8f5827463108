//! Builds JavaScript policy projects into components with componentize-qjs
//! (the QuickJS engine, snapshotted with Wizer).
//!
//! A JavaScript policy project is a directory with `package.json` and an ES
//! module that exports `metadata` and its roles (see `sdk/js/README.md`):
//!
//! ```json
//! {
//!   "name": "required-labels",
//!   "main": "policy.js",
//!   "plumbline": { "roles": ["validator"] }
//! }
//! ```
//!
//! `name` is the policy's name; the entry module is `plumbline.main`, else
//! `main`, else `index.js`; `plumbline.roles` lists one or more of
//! `validator`, `transformer`, `remediator`, `health` and chooses the exports of the
//! WIT world the component is built against. The component is built with
//! the synchronous ABI and `--stub-wasi`: it imports nothing but the host's
//! `log`, so it runs without WASI (and has no clock). `"plumbline": {"wasi":
//! true}` keeps the WASI imports of the QuickJS runtime instead; the host
//! then gives it an empty WASI with a fixed clock. The WIT contract and the
//! `plumbline-policy` SDK are compiled into this crate and staged next to
//! a copy of the project's sources (its `.js`, `.mjs` and `.json` files,
//! outside `node_modules` and hidden directories), so `import ... from
//! "plumbline-policy"` works without `npm install` in the project.
//!
//! componentize-qjs is found through `$PLUMBLINE_COMPONENTIZE_QJS`, else
//! the repository's `sdk/js/node_modules` (what `scripts/setup` installs
//! with `npm ci`), else `PATH`; it needs Node.js. A rebuild is skipped when
//! the inputs (the staged sources, the SDK, the contract, the roles and the
//! tool's version) hash the same as those of the component on disk.
//!
//! IO: reads the project, writes under the guest target directory
//! (`<target>/js/<name>/`), runs componentize-qjs.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use sha2::{Digest, Sha256};

use crate::finish::{self, Origin, Stamp};
use crate::{default_target_dir, BuildOptions, Built, Language};

pub use crate::role::Role;

/// The componentize-qjs release `sdk/js/package-lock.json` pins.
pub const COMPONENTIZE_QJS_VERSION: &str = "0.4.5";

/// How to install componentize-qjs, for error messages.
pub const INSTALL_HINT: &str = "run scripts/setup (it runs `npm ci` in sdk/js, installing \
     componentize-qjs 0.4.5 into sdk/js/node_modules; Node.js 18 or later must be on PATH), \
     or set PLUMBLINE_COMPONENTIZE_QJS to a componentize-qjs executable";

/// The WIT contract, as compiled into this crate.
const WIT: &str = include_str!("../../../wit/policy.wit");

/// The name of the world generated for the project's roles.
const WORLD: &str = "plumbline-js";

/// The `plumbline-policy` SDK, as compiled into this crate: (file, text),
/// relative to the package root.
pub const SDK_FILES: &[(&str, &str)] = &[
    ("package.json", include_str!("../../js/package.json")),
    ("src/index.js", include_str!("../../js/src/index.js")),
    (
        "src/build-config.js",
        include_str!("../../js/src/build-config.js"),
    ),
    ("src/runtime.js", include_str!("../../js/src/runtime.js")),
    ("src/host.js", include_str!("../../js/src/host.js")),
    ("src/health.js", include_str!("../../js/src/health.js")),
    ("src/object.js", include_str!("../../js/src/object.js")),
    ("src/roles.js", include_str!("../../js/src/roles.js")),
    ("src/settings.js", include_str!("../../js/src/settings.js")),
    (
        "src/violation.js",
        include_str!("../../js/src/violation.js"),
    ),
];

/// Bumped when the staging layout or the options given to componentize-qjs
/// change, so that components built the old way are rebuilt.
const RECIPE: &str = "plumbline-js 1: --sync, --stub-wasi unless wasi";

/// The module componentize-qjs evaluates: it re-exports the project's
/// entry module after checking that it exports exactly what
/// `plumbline.roles` promises.
const ENTRY: &str = "__plumbline_entry__.js";

/// The SDK's `build-config.js` for a component that keeps its WASI imports.
const WASI_BUILD_CONFIG: &str = "export const WASI = true;\n";

/// A JavaScript policy project, as read from its `package.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Project {
    /// The project directory.
    pub dir: PathBuf,
    /// The policy's name (`name` in `package.json`).
    pub name: String,
    /// The entry module, relative to the directory.
    pub main: String,
    /// The roles it exports, sorted, without duplicates.
    pub roles: Vec<Role>,
    /// Whether the component keeps the WASI imports of the QuickJS runtime
    /// (`plumbline.wasi`, default `false`).
    pub wasi: bool,
}

/// componentize-qjs, found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tool {
    /// The executable (a Node.js script).
    pub path: PathBuf,
    /// Its version, from its `package.json`; `unknown` if that is not found.
    pub version: String,
}

/// Why a JavaScript policy could not be built.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `package.json` could not be read or is not JSON.
    #[error("cannot read {}", path.display())]
    ReadProject {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// `package.json` does not describe a policy.
    #[error("{}: {reason}", path.display())]
    InvalidProject {
        /// The file.
        path: PathBuf,
        /// What is wrong, naming the field.
        reason: String,
    },
    /// componentize-qjs is not installed anywhere the builder looks.
    #[error("componentize-qjs not found (looked at {tried}): {INSTALL_HINT}")]
    ToolNotFound {
        /// The paths that were tried.
        tried: String,
    },
    /// componentize-qjs (or the Node.js it runs on) could not be started.
    #[error("cannot run {}: {INSTALL_HINT}", path.display())]
    ToolBroken {
        /// The executable.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// componentize-qjs ran and failed (a syntax error, a missing export,
    /// an exception while the module was evaluated, ...).
    #[error("building JavaScript policy {} failed ({status}):\n{output}", project.display())]
    Componentize {
        /// The project directory.
        project: PathBuf,
        /// Its exit status.
        status: std::process::ExitStatus,
        /// What it printed.
        output: String,
    },
    /// A file could not be read or written.
    #[error("cannot access {}", path.display())]
    Io {
        /// The file or directory.
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

/// Build the JavaScript policy project in `dir` (one project, one
/// component) into `<target>/js/<name>/<name>.component.wasm` (or
/// [`BuildOptions::out_dir`]).
pub fn build(dir: &Path, options: &BuildOptions) -> Result<Vec<Built>> {
    let project = read_project(dir)?;
    let tool = find_tool()?;
    let work_dir = options
        .target_dir
        .clone()
        .unwrap_or_else(default_target_dir)
        .join("js")
        .join(&project.name);
    let out_dir = options.out_dir.clone().unwrap_or_else(|| work_dir.clone());
    let component_path = out_dir.join(format!("{}.component.wasm", project.name));
    let sources = collect_sources(&project.dir)?;
    let stamp = Stamp::new(
        &out_dir,
        &project.name,
        inputs_digest(&project, &tool, &sources)?,
    );
    let up_to_date = stamp.is_current(&component_path);
    if !up_to_date {
        let stage = stage(&project, &sources, &work_dir.join("stage"))?;
        componentize(&project, &tool, &stage, &component_path, options)?;
        stamp.record()?;
    }
    let origin = Origin {
        name: project.name.clone(),
        core_module_path: project.dir.join(&project.main),
        project_dir: project.dir,
        language: Language::JavaScript,
        toolchain: format!(
            "componentize-qjs {} (QuickJS, --sync{})",
            tool.version,
            if project.wasi {
                ", WASI"
            } else {
                " --stub-wasi"
            }
        ),
        componentized: !up_to_date,
    };
    Ok(vec![finish::describe(component_path, origin)?])
}

/// Read `package.json` and check the entry module exists.
pub fn read_project(dir: &Path) -> Result<Project> {
    let path = dir.join("package.json");
    let text = std::fs::read_to_string(&path).map_err(|source| Error::ReadProject {
        path: path.clone(),
        source: Box::new(source),
    })?;
    let manifest: serde_json::Value =
        serde_json::from_str(&text).map_err(|source| Error::ReadProject {
            path: path.clone(),
            source: Box::new(source),
        })?;
    let invalid = |reason: String| Error::InvalidProject {
        path: path.clone(),
        reason,
    };
    let name = match manifest.get("name") {
        Some(serde_json::Value::String(name)) if is_policy_name(name) => name.clone(),
        Some(serde_json::Value::String(name)) => {
            return Err(invalid(format!(
                "`name` {name:?} is not a policy name (lower-case letters, digits, `-`, `_` and \
                 `.`, starting with a letter or digit)"
            )))
        }
        Some(other) => return Err(invalid(format!("`name` must be a string, found {other}"))),
        None => return Err(invalid("`name` is missing: it names the policy".to_owned())),
    };
    let plumbline = manifest.get("plumbline");
    let roles = match plumbline.and_then(|p| p.get("roles")) {
        Some(serde_json::Value::Array(items)) if !items.is_empty() => {
            let mut roles = Vec::new();
            for item in items {
                let role = item.as_str().and_then(Role::parse).ok_or_else(|| {
                    invalid(format!(
                        "`plumbline.roles` lists {item}; the roles are \"validator\", \
                         \"transformer\", \"remediator\" and \"health\""
                    ))
                })?;
                roles.push(role);
            }
            roles.sort();
            roles.dedup();
            roles
        }
        _ => {
            return Err(invalid(
                "`plumbline.roles` must list the roles the module exports, e.g. \
                 \"plumbline\": {\"roles\": [\"validator\"]}"
                    .to_owned(),
            ))
        }
    };
    let main = match plumbline
        .and_then(|p| p.get("main"))
        .or_else(|| manifest.get("main"))
    {
        None => "index.js".to_owned(),
        Some(serde_json::Value::String(main)) => main.trim_start_matches("./").to_owned(),
        Some(other) => return Err(invalid(format!("`main` must be a string, found {other}"))),
    };
    let wasi = match plumbline.and_then(|p| p.get("wasi")) {
        None => false,
        Some(serde_json::Value::Bool(wasi)) => *wasi,
        Some(other) => {
            return Err(invalid(format!(
                "`plumbline.wasi` must be true or false, found {other}"
            )))
        }
    };
    let relative = Path::new(&main);
    if relative.is_absolute()
        || relative
            .components()
            .any(|c| matches!(c, std::path::Component::ParentDir))
    {
        return Err(invalid(format!(
            "the entry module {main:?} must be inside the project"
        )));
    }
    if !dir.join(relative).is_file() {
        return Err(invalid(format!(
            "the entry module {main:?} does not exist (set `main`, or `plumbline.main`)"
        )));
    }
    Ok(Project {
        dir: dir.to_owned(),
        name,
        main,
        roles,
        wasi,
    })
}

/// The WIT world the project is built against: the host import, metadata
/// and exactly the project's roles.
pub fn world(roles: &[Role]) -> String {
    let mut world = format!("package plumbline:policy@0.1.0;\n\nworld {WORLD} {{\n    import host;\n    export metadata;\n");
    for role in roles {
        world.push_str(&format!("    export {};\n", role.name()));
    }
    world.push_str("}\n");
    world
}

/// The generated entry module (see `ENTRY`): an export missing from the
/// project's module, or a role it exports without listing it, fails the
/// build with a message naming `package.json`.
pub fn entry_module(project: &Project) -> String {
    let main = serde_json::Value::String(format!("./{}", project.main));
    let listed: Vec<&str> = project.roles.iter().map(|role| role.name()).collect();
    let mut text = format!(
        "// Generated by plumbline policy build: checks the exports of {main}.\n\
         import * as policy from {main};\n\
         const listed = {listed:?};\n\
         for (const name of [\"metadata\", ...listed]) {{\n  \
           if (policy[name] === undefined) {{\n    \
             throw new Error(`${{{main}}} does not export \\`${{name}}\\`, but package.json lists it in plumbline.roles`);\n  \
           }}\n\
         }}\n\
         for (const name of [\"validator\", \"transformer\", \"remediator\", \"health\"]) {{\n  \
           if (policy[name] !== undefined && !listed.includes(name)) {{\n    \
             throw new Error(`${{{main}}} exports \\`${{name}}\\`: add it to plumbline.roles in package.json`);\n  \
           }}\n\
         }}\n\
         export const metadata = policy.metadata;\n"
    );
    for role in listed {
        text.push_str(&format!("export const {role} = policy.{role};\n"));
    }
    text
}

/// Find componentize-qjs and read its version.
pub fn find_tool() -> Result<Tool> {
    let mut candidates = Vec::new();
    if let Some(path) = std::env::var_os("PLUMBLINE_COMPONENTIZE_QJS").filter(|p| !p.is_empty()) {
        candidates.push(PathBuf::from(path));
    }
    candidates.push(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../js/node_modules/.bin/componentize-qjs"),
    );
    if let Some(path) = std::env::var_os("PATH") {
        candidates.extend(std::env::split_paths(&path).map(|dir| dir.join("componentize-qjs")));
    }
    let mut tried = Vec::new();
    for path in candidates {
        if path.is_file() {
            let version = tool_version(&path).unwrap_or_else(|| "unknown".to_owned());
            return Ok(Tool { path, version });
        }
        tried.push(path.display().to_string());
    }
    Err(Error::ToolNotFound {
        tried: tried.join(", "),
    })
}

/// The version in the `package.json` of the npm package that holds the
/// executable (`<package>/bin/componentize-qjs`, usually reached through
/// the `node_modules/.bin` link).
fn tool_version(path: &Path) -> Option<String> {
    let real = std::fs::canonicalize(path).ok()?;
    let manifest = real.parent()?.parent()?.join("package.json");
    let text = std::fs::read_to_string(manifest).ok()?;
    let value: serde_json::Value = serde_json::from_str(&text).ok()?;
    value.get("version")?.as_str().map(str::to_owned)
}

/// The project's sources, relative to its directory, sorted: `.js`, `.mjs`
/// and `.json` files outside `node_modules` and hidden directories.
fn collect_sources(dir: &Path) -> Result<Vec<PathBuf>> {
    fn walk(root: &Path, dir: &Path, files: &mut Vec<PathBuf>) -> Result<()> {
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
                if !name.starts_with('.') && name != "node_modules" && name != "target" {
                    walk(root, &path, files)?;
                }
            } else if [".js", ".mjs", ".json"].iter().any(|e| name.ends_with(e)) {
                files.push(path.strip_prefix(root).unwrap_or(&path).to_owned());
            }
        }
        Ok(())
    }
    let mut files = Vec::new();
    walk(dir, dir, &mut files)?;
    files.sort();
    Ok(files)
}

/// SHA-256 (hex) over everything the component depends on.
fn inputs_digest(project: &Project, tool: &Tool, sources: &[PathBuf]) -> Result<String> {
    let mut hash = Sha256::new();
    let mut field = |bytes: &[u8]| {
        hash.update((bytes.len() as u64).to_le_bytes());
        hash.update(bytes);
    };
    field(RECIPE.as_bytes());
    field(tool.version.as_bytes());
    field(project.main.as_bytes());
    field(if project.wasi { b"wasi" } else { b"stub" });
    field(world(&project.roles).as_bytes());
    field(entry_module(project).as_bytes());
    field(WIT.as_bytes());
    for (file, text) in SDK_FILES {
        field(file.as_bytes());
        field(text.as_bytes());
    }
    for relative in sources {
        let path = project.dir.join(relative);
        let bytes = std::fs::read(&path).map_err(|source| Error::Io { path, source })?;
        field(relative.to_string_lossy().as_bytes());
        field(&bytes);
    }
    Ok(hex::encode(hash.finalize()))
}

/// Lay out what componentize-qjs reads, in a fresh `stage` directory:
/// `wit/` (the contract and the project's world) and `src/` (the project's
/// sources, with the SDK as `src/node_modules/plumbline-policy`). Returns
/// the stage directory.
fn stage(project: &Project, sources: &[PathBuf], stage: &Path) -> Result<PathBuf> {
    if stage.exists() {
        std::fs::remove_dir_all(stage).map_err(|source| Error::Io {
            path: stage.to_owned(),
            source,
        })?;
    }
    write(&stage.join("wit/policy.wit"), WIT.as_bytes())?;
    write(
        &stage.join(format!("wit/{WORLD}.wit")),
        world(&project.roles).as_bytes(),
    )?;
    for relative in sources {
        let from = project.dir.join(relative);
        let bytes = std::fs::read(&from).map_err(|source| Error::Io { path: from, source })?;
        write(&stage.join("src").join(relative), &bytes)?;
    }
    write(
        &stage.join("src").join(ENTRY),
        entry_module(project).as_bytes(),
    )?;
    let sdk = stage.join("src/node_modules/plumbline-policy");
    for (file, text) in SDK_FILES {
        write(&sdk.join(file), text.as_bytes())?;
    }
    if project.wasi {
        write(
            &sdk.join("src/build-config.js"),
            WASI_BUILD_CONFIG.as_bytes(),
        )?;
    }
    Ok(stage.to_owned())
}

/// Run componentize-qjs on the stage, to a temporary file that is moved
/// into place when it succeeds.
fn componentize(
    project: &Project,
    tool: &Tool,
    stage: &Path,
    component_path: &Path,
    options: &BuildOptions,
) -> Result<()> {
    if let Some(parent) = component_path.parent() {
        std::fs::create_dir_all(parent).map_err(|source| Error::Io {
            path: parent.to_owned(),
            source,
        })?;
    }
    let partial = component_path.with_extension(format!("{}.partial", std::process::id()));
    let src = stage.join("src");
    let mut command = Command::new(&tool.path);
    command
        .arg("--wit")
        .arg(stage.join("wit"))
        .arg("--world")
        .arg(WORLD)
        .arg("--js")
        .arg(src.join(ENTRY))
        .arg("--module-root")
        .arg(&src)
        .arg("--sync")
        .args(if project.wasi {
            None
        } else {
            Some("--stub-wasi")
        })
        .arg("--output")
        .arg(&partial)
        .current_dir(&src)
        .stdin(Stdio::null());
    let (status, output) = if options.show_output {
        // Progress goes to standard error, so that a caller's standard
        // output (`policy build -o json`) stays clean.
        command
            .stdout(Stdio::from(std::io::stderr()))
            .stderr(Stdio::inherit());
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
    if !status.success() {
        // Best effort: a failed run may or may not have left a partial file.
        let _ = std::fs::remove_file(&partial);
        return Err(Error::Componentize {
            project: project.dir.clone(),
            status,
            output: output.trim().to_owned(),
        });
    }
    std::fs::rename(&partial, component_path).map_err(|source| Error::Io {
        path: component_path.to_owned(),
        source,
    })
}

/// Write a file, creating its directory.
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

/// Whether `name` can name a policy (and its component file).
fn is_policy_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project(package_json: &str, files: &[&str]) -> (tempfile::TempDir, Result<Project>) {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("package.json"), package_json).expect("package.json");
        for file in files {
            write(&dir.path().join(file), b"export {};").expect("source");
        }
        let project = read_project(dir.path());
        (dir, project)
    }

    #[test]
    fn reads_name_roles_and_entry_module() {
        let (dir, project) = project(
            r#"{"name": "my-policy", "main": "./lib/policy.js",
                "plumbline": {"roles": ["remediator", "validator", "validator"], "wasi": true}}"#,
            &["lib/policy.js"],
        );
        let project = project.expect("valid project");
        assert_eq!(project.name, "my-policy");
        assert_eq!(project.main, "lib/policy.js");
        assert_eq!(project.roles, [Role::Validator, Role::Remediator]);
        assert_eq!(project.dir, dir.path());
        assert!(project.wasi);

        let (_dir, project) = project_with_index();
        let project = project.expect("valid");
        assert_eq!(project.main, "index.js");
        assert!(!project.wasi);
    }

    fn project_with_index() -> (tempfile::TempDir, Result<Project>) {
        project(
            r#"{"name": "p", "plumbline": {"roles": ["transformer"]}}"#,
            &["index.js"],
        )
    }

    #[test]
    fn explains_what_is_wrong_with_package_json() {
        let cases = [
            (
                r#"{"plumbline": {"roles": ["validator"]}}"#,
                "`name` is missing",
            ),
            (
                r#"{"name": "@scope/Pol", "plumbline": {"roles": ["validator"]}}"#,
                "is not a policy name",
            ),
            (r#"{"name": "p"}"#, "`plumbline.roles` must list the roles"),
            (
                r#"{"name": "p", "plumbline": {"roles": ["validate"]}}"#,
                "`plumbline.roles` lists \"validate\"",
            ),
            (
                r#"{"name": "p", "main": "../x.js", "plumbline": {"roles": ["validator"]}}"#,
                "must be inside the project",
            ),
            (
                r#"{"name": "p", "main": "missing.js", "plumbline": {"roles": ["validator"]}}"#,
                "\"missing.js\" does not exist",
            ),
            (
                r#"{"name": "p", "plumbline": {"roles": ["validator"], "wasi": "yes"}}"#,
                "`plumbline.wasi` must be true or false",
            ),
            ("{not json", "cannot read"),
        ];
        for (package_json, expected) in cases {
            let (_dir, project) = project(package_json, &["index.js"]);
            let err = project.expect_err(package_json).to_string();
            assert!(err.contains(expected), "{package_json}: {err}");
            assert!(err.contains("package.json"), "{err}");
        }
    }

    #[test]
    fn the_world_exports_exactly_the_roles() {
        let world = world(&[Role::Validator, Role::Remediator]);
        assert!(world.contains("world plumbline-js {"), "{world}");
        assert!(world.contains("export validator;"), "{world}");
        assert!(world.contains("export remediator;"), "{world}");
        assert!(!world.contains("transformer"), "{world}");
    }

    #[test]
    fn the_digest_changes_with_the_sources_only() {
        let (dir, project) = project_with_index();
        let project = project.expect("valid");
        write(&dir.path().join("node_modules/x/index.js"), b"1").expect("dependency");
        write(&dir.path().join(".cache/a.js"), b"1").expect("hidden");
        write(&dir.path().join("README.md"), b"1").expect("readme");
        let tool = Tool {
            path: PathBuf::from("componentize-qjs"),
            version: COMPONENTIZE_QJS_VERSION.to_owned(),
        };
        let digest = || {
            let sources = collect_sources(dir.path()).expect("sources");
            inputs_digest(&project, &tool, &sources).expect("digest")
        };
        let sources = collect_sources(dir.path()).expect("sources");
        assert_eq!(
            sources,
            [PathBuf::from("index.js"), PathBuf::from("package.json")]
        );
        let before = digest();
        write(&dir.path().join("README.md"), b"2").expect("readme");
        write(&dir.path().join("node_modules/x/index.js"), b"2").expect("dependency");
        assert_eq!(digest(), before);
        write(&dir.path().join("lib/util.mjs"), b"export {}").expect("module");
        assert_ne!(digest(), before);
    }
}
