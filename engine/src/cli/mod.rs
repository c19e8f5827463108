//! The `plumbline` command line: argument parsing and output for people
//! and scripts.
//!
//! Thin by design: each command parses its arguments, calls the library
//! (the same functions the controller uses) and prints the result, as text
//! for people or as JSON (`-o json`) for scripts. Exit codes are part of the
//! interface and documented per command.

use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

#[cfg(feature = "controller")]
pub mod controller;
pub mod helm;
#[cfg(feature = "controller")]
pub mod install;
mod interrupt;
mod logging;
pub mod output;
pub mod plan;
#[cfg(feature = "policy-build")]
pub mod policy;
pub mod push;
pub mod registry;
pub mod render;
mod sign;
pub mod sync;
pub mod validate;

/// How results are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OutputFormat {
    /// Text for people (coloured when writing to a terminal).
    Human,
    /// One JSON document on stdout, for scripts.
    Json,
    /// YAML (for `render`: multi-document manifests).
    Yaml,
}

/// Options every command takes.
#[derive(Debug, Clone, clap::Args)]
pub struct Global {
    /// Output format.
    #[arg(short = 'o', long, global = true, value_enum, default_value_t = OutputFormat::Human)]
    pub output: OutputFormat,
    /// More log output (-v: debug, -vv: trace). Logs go to stderr.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors on stderr; results still go to stdout.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Logs as JSON lines instead of text.
    #[arg(long, global = true)]
    pub log_json: bool,
}

/// Plumbline: GitOps with decisions made by sandboxed WebAssembly policies.
///
/// A sync is described by a `plumbline.yaml` (apiVersion
/// plumbline.dev/v1alpha1, kind Sync): a Git source, a path, a target
/// namespace and the policies that validate, transform and remediate.
/// `render`, `validate`, `plan` and `sync` run the same pipeline the
/// in-cluster controller runs, from a laptop.
#[derive(Debug, Parser)]
#[command(name = "plumbline", version, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    global: Global,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Fetch, render and transform a source; print the objects.
    Render(render::Args),
    /// Run the validators; exit 1 on any error-severity violation.
    Validate(validate::Args),
    /// Show what a sync would do (exit 0 in sync, 1 changes, 2 error).
    Plan(plan::Args),
    /// Reconcile once: apply, remediate drift, prune.
    Sync(sync::SyncArgs),
    /// Publish a directory of manifests to an OCI registry (Flux's
    /// artifact layout); print its digest.
    Push(push::Args),
    /// Sign an OCI artifact with a cosign-compatible signature (ECDSA
    /// P-256 key in PEM), pushed next to it in the registry.
    Sign(sign::Args),
    /// Run the in-cluster controller: reconcile SyncUnit resources.
    #[cfg(feature = "controller")]
    Controller(controller::Args),
    /// Install the controller in a cluster, or print its manifests.
    #[cfg(feature = "controller")]
    Install(install::Args),
    /// Write, build, test and inspect policies.
    #[cfg(feature = "policy-build")]
    #[command(subcommand)]
    Policy(policy::Command),
    /// Print shell completions.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

/// Parse the command line, run the command, and return its exit code.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    logging::init(&cli.global);
    let result = match cli.command {
        Command::Render(args) => render::run(args, &cli.global),
        Command::Validate(args) => validate::run(args, &cli.global),
        Command::Plan(args) => plan::run(args, &cli.global),
        Command::Sync(args) => sync::sync(args, &cli.global),
        Command::Push(args) => push::run(args, &cli.global),
        Command::Sign(args) => sign::run(args, sign::Subject::Artifact, &cli.global),
        #[cfg(feature = "controller")]
        Command::Controller(args) => controller::run(args, &cli.global),
        #[cfg(feature = "controller")]
        Command::Install(args) => install::run(args, &cli.global),
        #[cfg(feature = "policy-build")]
        Command::Policy(command) => policy::run(command, &cli.global),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "plumbline", &mut script);
            output::write_out(format_args!("{}", String::from_utf8_lossy(&script)));
            Ok(ExitCode::SUCCESS)
        }
    };
    let code = result.unwrap_or_else(|error| {
        // Errors quote what they refused: names and text from manifests
        // and components, escaped for the terminal.
        eprintln!(
            "error: {}",
            crate::policy::printable_lines(&format!("{error:#}"))
        );
        ExitCode::from(2)
    });
    output::stdout_failure().map_or(code, ExitCode::from)
}
