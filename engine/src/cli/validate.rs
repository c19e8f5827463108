//! `plumbline validate`: run a sync's validators (and any policies given on
//! the command line) over its desired state; print the violations grouped
//! by object with file and line. Reads the source, builds policies (IO).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use serde_json::json;

use super::output::{self, out, outln};
use super::sync::{self, SourceArgs};
use super::{Global, OutputFormat};
use crate::reconcile::desired::{self, Depth};

/// Arguments of `plumbline validate`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  plumbline validate examples/quickstart
  plumbline validate ./manifests --policy policies/images-pinned --policy my-policy.wasm
  plumbline validate . --ref feature/x -o json

Exit codes: 0 no error-severity violation (warnings may be printed),
1 at least one error-severity violation, 2 error (fetch, render, a missing
policy file, a policy that faults).")]
pub struct Args {
    #[command(flatten)]
    source: SourceArgs,
    /// Also run this policy: a component (.wasm) or a policy project
    /// directory (built first). Repeatable; runs with empty settings.
    #[arg(long, value_name = "FILE.wasm|DIR")]
    policy: Vec<PathBuf>,
}

/// `plumbline validate`.
pub fn run(args: Args, global: &Global) -> anyhow::Result<ExitCode> {
    let unit = sync::load_unit(&args.source)?;
    let host = sync::policy_host()?;
    let policies = sync::load_policies(&host, &unit, &args.policy)?;
    let interrupt = AtomicBool::new(false);
    let desired = desired::load(
        &unit,
        &policies,
        &sync::git_cache(),
        Depth::Validated,
        &interrupt,
    )
    .map_err(|e| sync::desired_error(&args.source, e))?;
    let blocking = desired.blocking_violations();
    let validators = policies
        .policies()
        .iter()
        .filter(|p| p.roles().validator)
        .count();
    match global.output {
        OutputFormat::Human => {
            output::print_violations(&desired.violations, Some(&desired.origins));
            for warning in &desired.warnings {
                outln!(
                    "{}",
                    output::paint(
                        output::YELLOW,
                        &format!("warning: {}", crate::policy::printable(warning))
                    )
                );
            }
            for line in output::transformer_changes(&desired.transformer_changes) {
                outln!("{line}");
            }
            let (errors, warnings, _) = output::severity_counts(&desired.violations);
            let line = format!(
                "{} object(s) checked by {validators} validator(s): {errors} error(s), {warnings} warning(s)",
                desired.objects.len()
            );
            let colour = if blocking > 0 {
                output::RED
            } else {
                output::GREEN
            };
            outln!("{}", output::paint(colour, &line));
        }
        format => {
            let violations: Vec<_> = desired
                .violations
                .iter()
                .map(|v| {
                    let origin = v
                        .target
                        .as_ref()
                        .and_then(|t| output::origin_of(&desired.origins, &t.key()));
                    json!({"violation": v, "origin": origin})
                })
                .collect();
            let document = json!({
                "sync": unit.name(),
                "revision": desired.revision,
                "objects": desired.objects.len(),
                "validators": validators,
                "blocking": blocking,
                "violations": violations,
                "warnings": desired.warnings,
                "transformerChanges": desired.transformer_changes,
            });
            if format == OutputFormat::Yaml {
                out!("{}", serde_yaml::to_string(&document)?);
            } else {
                outln!("{}", serde_json::to_string_pretty(&document)?);
            }
        }
    }
    Ok(ExitCode::from(u8::from(blocking > 0)))
}
