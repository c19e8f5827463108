//! `plumbline policy build [DIR]`: build a policy project into a component
//! and describe it. Runs the guest compiler and writes the component.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use serde::Serialize;

use super::{build_options, print_structured, roles};
use crate::cli::output::outln;
use crate::cli::Global;

/// Arguments of `policy build`.
#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// The policy project directory.
    #[arg(default_value = ".")]
    pub dir: PathBuf,
    /// Guest target directory (default: $PLUMBLINE_GUEST_TARGET_DIR,
    /// $CARGO_TARGET_DIR/wasm-guests or ~/.cache/plumbline/guests).
    #[arg(long)]
    pub target_dir: Option<PathBuf>,
    /// Also write the component into this directory.
    #[arg(long)]
    pub out_dir: Option<PathBuf>,
}

/// What `policy build` reports.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Report {
    name: String,
    language: String,
    toolchain: String,
    component: PathBuf,
    size: u64,
    sha256: String,
    roles: Vec<&'static str>,
    imports: Vec<String>,
    exports: Vec<String>,
    /// False when the component was reused (the core module was unchanged).
    componentized: bool,
}

/// Build the project and print what was built.
pub fn run(args: BuildArgs, global: &Global) -> anyhow::Result<ExitCode> {
    let mut options = build_options(args.target_dir, global);
    options.out_dir = args.out_dir;
    let built = plumbline_policy_build::build(&args.dir, &options)
        .with_context(|| format!("cannot build the policy project {}", args.dir.display()))?;
    let report = Report {
        roles: roles(&built.interfaces.exports),
        name: built.name,
        language: built.language.to_string(),
        toolchain: built.toolchain,
        component: built.component_path,
        size: built.size,
        sha256: built.sha256,
        imports: built.interfaces.imports,
        exports: built.interfaces.exports,
        componentized: built.componentized,
    };
    if !print_structured(global, &report)? {
        outln!("name:       {}", report.name);
        outln!("component:  {}", report.component.display());
        outln!("size:       {} bytes", report.size);
        outln!("sha256:     {}", report.sha256);
        outln!("roles:      {}", report.roles.join(", "));
        outln!("imports:    {}", report.imports.join(", "));
        outln!(
            "build:      {} ({}{})",
            report.language,
            report.toolchain,
            if report.componentized {
                ""
            } else {
                ", unchanged"
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}
