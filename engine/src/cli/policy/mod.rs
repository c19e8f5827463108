//! `plumbline policy ...`: commands for policy authors: scaffold a project
//! (`new`), build it into a component (`build`), run its test suites
//! (`test`), look inside a component (`inspect`), publish, sign or fetch
//! one as an OCI artifact (`push`, `sign`, `pull`).
//!
//! Each subcommand lives in its own module; this one holds the argument
//! enum and the output helpers they share.

use std::process::ExitCode;

use serde::Serialize;

use super::output::outln;
use super::{Global, OutputFormat};

mod build;
mod inspect;
mod new;
mod pull;
mod push;
mod test;

/// Commands for policy authors.
#[derive(Debug, clap::Subcommand)]
pub enum Command {
    /// Create a policy project with a working example and a test suite.
    New(new::NewArgs),
    /// Build a policy project into a WebAssembly component.
    Build(build::BuildArgs),
    /// Run policy test suites against the built components (exit 0 all
    /// passed, 1 a case failed, 2 a suite could not run).
    Test(test::TestArgs),
    /// Show a component's roles, metadata, imports, size and digest.
    Inspect(inspect::InspectArgs),
    /// Publish a component to an OCI registry (CNCF Wasm layout); print
    /// its digest.
    Push(push::PushArgs),
    /// Fetch a policy from an OCI registry and write its component.
    Pull(pull::PullArgs),
    /// Sign a policy in an OCI registry with a cosign-compatible signature
    /// (checked to be a policy component first).
    Sign(crate::cli::sign::Args),
}

/// Run a policy command.
pub fn run(command: Command, global: &Global) -> anyhow::Result<ExitCode> {
    match command {
        Command::New(args) => new::run(args, global),
        Command::Build(args) => build::run(args, global),
        Command::Test(args) => test::run(args, global),
        Command::Inspect(args) => inspect::run(args, global),
        Command::Push(args) => push::run(args, global),
        Command::Pull(args) => pull::run(args, global),
        Command::Sign(args) => {
            crate::cli::sign::run(args, crate::cli::sign::Subject::Policy, global)
        }
    }
}

/// Print `value` as JSON or YAML; `false` when the format is `human` and
/// the caller prints text itself.
fn print_structured(global: &Global, value: &impl Serialize) -> anyhow::Result<bool> {
    match global.output {
        OutputFormat::Human => Ok(false),
        OutputFormat::Json => {
            outln!("{}", serde_json::to_string_pretty(value)?);
            Ok(true)
        }
        OutputFormat::Yaml => {
            print!("{}", serde_yaml::to_string(value)?);
            Ok(true)
        }
    }
}

/// The roles named by a component's exports (`validator`, `transformer`,
/// `remediator`, `health`), in that order.
fn roles(exports: &[String]) -> Vec<&'static str> {
    ["validator", "transformer", "remediator", "health"]
        .into_iter()
        .filter(|role| {
            let interface = format!("plumbline:policy/{role}@");
            exports.iter().any(|e| e.starts_with(&interface))
        })
        .collect()
}

/// Where guest builds go: `--target-dir` if given, else the builder's
/// default (`$PLUMBLINE_GUEST_TARGET_DIR`, `$CARGO_TARGET_DIR/wasm-guests`,
/// or the user cache).
fn build_options(
    target_dir: Option<std::path::PathBuf>,
    global: &Global,
) -> plumbline_policy_build::BuildOptions {
    plumbline_policy_build::BuildOptions {
        target_dir,
        out_dir: None,
        show_output: !global.quiet,
    }
}
