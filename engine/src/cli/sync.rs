//! `render`, `validate`, `plan` and `sync`: the pipeline on one sync.

use std::process::ExitCode;

use super::Global;

/// Arguments of `plumbline render`.
#[derive(Debug, clap::Args)]
pub struct RenderArgs {}

/// Arguments of `plumbline validate`.
#[derive(Debug, clap::Args)]
pub struct ValidateArgs {}

/// Arguments of `plumbline plan`.
#[derive(Debug, clap::Args)]
pub struct PlanArgs {}

/// Arguments of `plumbline sync`.
#[derive(Debug, clap::Args)]
pub struct SyncArgs {}

/// `plumbline render`.
pub fn render(_args: RenderArgs, _global: &Global) -> anyhow::Result<ExitCode> {
    anyhow::bail!("render: not built yet")
}

/// `plumbline validate`.
pub fn validate(_args: ValidateArgs, _global: &Global) -> anyhow::Result<ExitCode> {
    anyhow::bail!("validate: not built yet")
}

/// `plumbline plan`.
pub fn plan(_args: PlanArgs, _global: &Global) -> anyhow::Result<ExitCode> {
    anyhow::bail!("plan: not built yet")
}

/// `plumbline sync`.
pub fn sync(_args: SyncArgs, _global: &Global) -> anyhow::Result<ExitCode> {
    anyhow::bail!("sync: not built yet")
}
