//! `plumbline policy ...`: commands for policy authors.

use std::process::ExitCode;

use super::Global;

/// Commands for policy authors.
#[derive(Debug, clap::Subcommand)]
pub enum Command {}

/// Run a policy command.
pub fn run(command: Command, _global: &Global) -> anyhow::Result<ExitCode> {
    match command {}
}
