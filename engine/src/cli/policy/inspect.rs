//! `plumbline policy inspect FILE.wasm`: what a component is: its roles,
//! what it says about itself (`metadata.info`), what it imports, its size
//! and digest. Reads the file and loads it into a policy host (which calls
//! `info` and `check-settings`).

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{print_structured, roles};
use crate::cli::output::outln;
use crate::cli::Global;
use crate::policy::{ComponentSource, HostConfig, PolicyHost, PolicyInfo, PolicySpec};

/// Arguments of `policy inspect`.
#[derive(Debug, clap::Args)]
pub struct InspectArgs {
    /// The component file.
    pub component: PathBuf,
    /// Settings to load the policy with (JSON), for policies that refuse
    /// the empty settings `{}`: `metadata.info` is only read when
    /// `check-settings` accepts.
    #[arg(long, default_value = "{}")]
    pub settings: String,
}

/// What `policy inspect` reports.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Report {
    component: PathBuf,
    size: u64,
    sha256: String,
    roles: Vec<&'static str>,
    /// `metadata.info`, when the policy accepted the settings.
    #[serde(skip_serializing_if = "Option::is_none")]
    info: Option<PolicyInfo>,
    /// Why `info` is missing.
    #[serde(skip_serializing_if = "Option::is_none")]
    info_error: Option<String>,
    /// The capabilities it asks for.
    imports: Vec<String>,
    exports: Vec<String>,
    /// Whether it imports WASI (and so gets the engine's empty WASI).
    uses_wasi: bool,
}

/// Inspect the component and print the report.
pub fn run(args: InspectArgs, global: &Global) -> anyhow::Result<ExitCode> {
    let path = args.component;
    let bytes = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let settings: serde_json::Value = serde_json::from_str(&args.settings)
        .with_context(|| format!("--settings is not JSON: {}", args.settings))?;
    let interfaces = plumbline_policy_build::inspect::interfaces(&bytes)
        .with_context(|| format!("{} is not a component", path.display()))?;
    let host = PolicyHost::new(HostConfig::default())?;
    let name = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_default();
    let spec = PolicySpec::new(name, ComponentSource::Bytes(bytes.clone())).settings(settings);
    let (info, info_error) = match host.load(spec) {
        Ok(policy) => (Some(policy.info().clone()), None),
        Err(crate::policy::Error::SettingsRejected { message, .. }) => (
            None,
            Some(format!(
                "the policy refused the settings {}: {message} (pass --settings)",
                args.settings
            )),
        ),
        Err(e) => return Err(crate::cli::sync::flat(e)),
    };
    let report = Report {
        component: path,
        size: bytes.len() as u64,
        sha256: hex::encode(Sha256::digest(&bytes)),
        roles: roles(&interfaces.exports),
        info,
        info_error,
        uses_wasi: interfaces.imports.iter().any(|i| i.starts_with("wasi:")),
        imports: interfaces.imports,
        exports: interfaces.exports,
    };
    if !print_structured(global, &report)? {
        print_human(&report);
    }
    Ok(ExitCode::SUCCESS)
}

/// The report as text. Everything but the file's own facts comes from the
/// component, so it is escaped for the terminal.
fn print_human(report: &Report) {
    use crate::policy::printable;
    outln!("component:   {}", report.component.display());
    outln!("size:        {} bytes", report.size);
    outln!("sha256:      {}", report.sha256);
    outln!("roles:       {}", report.roles.join(", "));
    match (&report.info, &report.info_error) {
        (Some(info), _) => {
            outln!("name:        {}", printable(&info.name));
            outln!("version:     {}", printable(&info.version));
            outln!("description: {}", printable(&info.description));
            match &info.settings_schema {
                Some(schema) => {
                    let pretty = serde_json::from_str::<serde_json::Value>(schema)
                        .and_then(|v| serde_json::to_string_pretty(&v))
                        .unwrap_or_else(|_| schema.clone());
                    outln!("settings:");
                    for line in pretty.lines() {
                        outln!("  {}", printable(line));
                    }
                }
                None => outln!("settings:    none"),
            }
        }
        (None, Some(error)) => outln!("metadata:    unavailable: {}", printable(error)),
        (None, None) => {}
    }
    outln!("imports:");
    for import in &report.imports {
        outln!("  {}", printable(import));
    }
    outln!("exports:");
    for export in &report.exports {
        outln!("  {}", printable(export));
    }
}
