//! `plumbline policy new NAME`: scaffold a policy project with a small
//! working example of one role and a test suite that passes as generated.
//! Writes files into a new directory.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use serde::Serialize;

use super::print_structured;
use crate::cli::output::outln;
use crate::cli::Global;

/// The SDK next to this engine's sources, found at compile time.
const DEFAULT_SDK: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../sdk/rust");

/// Languages a project can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Lang {
    /// Rust, with the `plumbline-sdk` crate.
    Rust,
    /// Python, with the `plumbline_policy` SDK (componentize-py).
    Python,
    /// JavaScript, with the `plumbline-policy` SDK (componentize-qjs).
    Js,
    /// C (wit-bindgen c); not scaffolded yet.
    C,
}

/// The role of the example.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Reports violations.
    Validator,
    /// Rewrites objects.
    Transformer,
    /// Decides about drift.
    Remediator,
    /// Judges the health of live objects.
    Health,
}

/// Arguments of `policy new`.
#[derive(Debug, clap::Args)]
pub struct NewArgs {
    /// The policy's name (lowercase letters, digits and `-`), also the
    /// crate name.
    pub name: String,
    /// The language.
    #[arg(long, value_enum, default_value_t = Lang::Rust)]
    pub lang: Lang,
    /// The role of the example.
    #[arg(long, value_enum)]
    pub role: Role,
    /// The project directory (default: ./NAME); must not exist or be empty.
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// The Rust SDK (`sdk/rust` of a Plumbline checkout), used as a path
    /// dependency.
    #[arg(long, default_value = DEFAULT_SDK)]
    pub sdk: PathBuf,
}

/// What `policy new` reports.
#[derive(Debug, Serialize)]
struct Report {
    name: String,
    role: Role,
    dir: PathBuf,
    files: Vec<PathBuf>,
}

/// Write the project.
pub fn run(args: NewArgs, global: &Global) -> anyhow::Result<ExitCode> {
    let Some(scaffold) = scaffold(args.lang) else {
        bail!(
            "only Rust, Python and JavaScript projects are scaffolded for now; to write a \
             policy in C, build a component against wit/policy.wit with that \
             language's component tooling (see docs/policy-authoring.md) and test it \
             with `plumbline policy test`"
        );
    };
    check_name(&args.name)?;
    let dir = args
        .dir
        .clone()
        .unwrap_or_else(|| PathBuf::from(&args.name));
    let occupied = std::fs::read_dir(&dir).is_ok_and(|mut entries| entries.next().is_some());
    if occupied {
        bail!("{} already exists and is not empty", dir.display());
    }
    let sdk = match args.lang {
        Lang::Rust => Some(rust_sdk(&args.sdk)?),
        _ => None,
    };
    let files = scaffold.files(&args.name, args.role, sdk.as_deref());
    finish(args.name, args.role, dir, files, global)
}

/// The Rust SDK at `path`, which Rust projects name as a path dependency.
fn rust_sdk(path: &Path) -> anyhow::Result<PathBuf> {
    path.canonicalize()
        .ok()
        .filter(|sdk| sdk.join("Cargo.toml").is_file())
        .with_context(|| {
            format!(
                "the Rust SDK is not at {}; pass --sdk PATH/TO/plumbline/sdk/rust",
                path.display()
            )
        })
}

/// One language's project templates. Every language gets the same test
/// suite for a role (the examples behave alike).
struct Scaffold {
    /// The project file (`Cargo.toml`, `pyproject.toml`, `package.json`)
    /// and its template.
    project: (&'static str, &'static str),
    /// The README template.
    readme: &'static str,
    /// The source file's path.
    source: &'static str,
    /// The source templates of a validator, a transformer, a remediator
    /// and a health policy.
    examples: [&'static str; 4],
}

/// The templates of `lang`; none for C yet.
fn scaffold(lang: Lang) -> Option<Scaffold> {
    let scaffold = match lang {
        Lang::Python => Scaffold {
            project: (
                "pyproject.toml",
                include_str!("templates/python/pyproject.toml.tmpl"),
            ),
            readme: include_str!("templates/python/README.md.tmpl"),
            source: "app.py",
            examples: [
                include_str!("templates/python/validator.py.tmpl"),
                include_str!("templates/python/transformer.py.tmpl"),
                include_str!("templates/python/remediator.py.tmpl"),
                include_str!("templates/python/health.py.tmpl"),
            ],
        },
        Lang::Js => Scaffold {
            project: (
                "package.json",
                include_str!("templates/js/package.json.tmpl"),
            ),
            readme: include_str!("templates/js/README.md.tmpl"),
            source: "policy.js",
            examples: [
                include_str!("templates/js/validator.js.tmpl"),
                include_str!("templates/js/transformer.js.tmpl"),
                include_str!("templates/js/remediator.js.tmpl"),
                include_str!("templates/js/health.js.tmpl"),
            ],
        },
        Lang::Rust => Scaffold {
            project: ("Cargo.toml", include_str!("templates/Cargo.toml.tmpl")),
            readme: include_str!("templates/README.md.tmpl"),
            source: "src/lib.rs",
            examples: [
                include_str!("templates/validator.rs.tmpl"),
                include_str!("templates/transformer.rs.tmpl"),
                include_str!("templates/remediator.rs.tmpl"),
                include_str!("templates/health.rs.tmpl"),
            ],
        },
        Lang::C => return None,
    };
    Some(scaffold)
}

impl Scaffold {
    /// The project's files for a policy `name` with an example of `role`;
    /// `sdk` is the Rust SDK a Rust project depends on.
    fn files(&self, name: &str, role: Role, sdk: Option<&Path>) -> Vec<(&'static str, String)> {
        let (example, suite) = match role {
            Role::Validator => (
                self.examples[0],
                include_str!("templates/validator.yaml.tmpl"),
            ),
            Role::Transformer => (
                self.examples[1],
                include_str!("templates/transformer.yaml.tmpl"),
            ),
            Role::Remediator => (
                self.examples[2],
                include_str!("templates/remediator.yaml.tmpl"),
            ),
            Role::Health => (self.examples[3], include_str!("templates/health.yaml.tmpl")),
        };
        let role = format!("{role:?}").to_lowercase();
        let sdk = sdk.map(|sdk| sdk.to_string_lossy()).unwrap_or_default();
        let fill = |template: &str| {
            template
                .replace("{{name}}", name)
                .replace("{{role}}", &role)
                .replace("{{sdk}}", &sdk)
        };
        vec![
            (self.project.0, fill(self.project.1)),
            ("README.md", fill(self.readme)),
            (self.source, fill(example)),
            ("tests/suite.yaml", fill(suite)),
        ]
    }
}

/// Write the project's files and report them.
fn finish(
    name: String,
    role: Role,
    dir: PathBuf,
    files: Vec<(&'static str, String)>,
    global: &Global,
) -> anyhow::Result<ExitCode> {
    let mut written = Vec::with_capacity(files.len());
    for (path, text) in files {
        let path = dir.join(path);
        write(&path, &text)?;
        written.push(path);
    }
    let report = Report {
        name,
        role,
        dir,
        files: written,
    };
    if !print_structured(global, &report)? {
        let role = format!("{role:?}").to_lowercase();
        outln!(
            "created the {role} policy `{}` in {}",
            report.name,
            report.dir.display()
        );
        for file in &report.files {
            outln!("  {}", file.display());
        }
        outln!(
            "next: plumbline policy build {0} && plumbline policy test {0}",
            report.dir.display()
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Refuse names that are not valid crate (and policy) names.
fn check_name(name: &str) -> anyhow::Result<()> {
    let valid = name.starts_with(|c: char| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-');
    if !valid {
        bail!(
            "`{name}` is not a valid policy name: use lowercase letters, digits and `-`, \
             starting with a letter (e.g. `require-owner`)"
        );
    }
    Ok(())
}

/// Write a file, creating its directory.
fn write(path: &Path, text: &str) -> anyhow::Result<()> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .with_context(|| format!("cannot create {}", parent.display()))?;
    }
    std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
}
