//! `plumbline policy test SUITE...`: run policy test suites and print the
//! results like a test runner. Reads suites and fixtures, may build policy
//! projects, loads components into a policy host (through the compile cache
//! in `$PLUMBLINE_CACHE_DIR/policies`, as `sync` does).
//!
//! Exit codes: 0 every case passed, 1 a case failed, 2 a suite could not
//! be run (unreadable, invalid, the policy does not build or load) or no
//! suite was found.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::bail;
use serde::Serialize;

use super::{build_options, print_structured};
use crate::cli::output::{diff, outln, paint, print_diff, GREEN, RED};
use crate::cli::{Global, OutputFormat};
use crate::policy::suite::{self, Suite, SuiteReport};
use crate::policy::{printable, printable_lines};

/// Arguments of `policy test`.
#[derive(Debug, clap::Args)]
pub struct TestArgs {
    /// Suite files, or directories: a policy project (its `tests/*.yaml`
    /// and `policy-tests.yaml`) or a directory of policy projects.
    #[arg(required = true)]
    pub suites: Vec<PathBuf>,
    /// Test this component instead of the suite's `policy:` (only with a
    /// single suite).
    #[arg(long)]
    pub component: Option<PathBuf>,
    /// Guest target directory for policy projects that are built first.
    #[arg(long)]
    pub target_dir: Option<PathBuf>,
}

/// What `-o json` prints.
#[derive(Debug, Serialize)]
struct Summary {
    passed: usize,
    failed: usize,
    suites: Vec<SuiteReport>,
    /// Suites that could not be run, with the reason.
    errors: Vec<SuiteError>,
}

#[derive(Debug, Serialize)]
struct SuiteError {
    suite: PathBuf,
    error: String,
}

/// Run the suites.
pub fn run(args: TestArgs, global: &Global) -> anyhow::Result<ExitCode> {
    let files = find_suites(&args.suites)?;
    if args.component.is_some() && files.len() != 1 {
        bail!("--component needs exactly one suite, found {}", files.len());
    }
    // The compile cache of `sync`: a large component (a Python or
    // JavaScript runtime) is compiled once, later runs load it.
    let host = crate::cli::sync::policy_host()?;
    let options = build_options(args.target_dir, global);
    let human = global.output == OutputFormat::Human;
    let mut summary = Summary {
        passed: 0,
        failed: 0,
        suites: Vec::new(),
        errors: Vec::new(),
    };
    for file in files {
        let result = Suite::load(&file).and_then(|suite| {
            let component = match &args.component {
                Some(component) => component.clone(),
                None => suite::resolve_policy(&suite, &options)?,
            };
            suite::run(&host, &suite, &component)
        });
        match result {
            Ok(report) => {
                if human {
                    print_suite(&report);
                }
                summary.passed += report.passed();
                summary.failed += report.failed();
                summary.suites.push(report);
            }
            Err(error) => {
                let error = crate::cli::sync::flat(error).to_string();
                if human {
                    eprintln!("error: {}\n", printable_lines(&error));
                }
                summary.errors.push(SuiteError { suite: file, error });
            }
        }
    }
    if !print_structured(global, &summary)? {
        let mut line = format!("{} passed, {} failed", summary.passed, summary.failed);
        if !summary.errors.is_empty() {
            line.push_str(&format!(
                ", {} suite(s) could not run",
                summary.errors.len()
            ));
        }
        outln!("{line}");
    }
    Ok(if !summary.errors.is_empty() {
        ExitCode::from(2)
    } else if summary.failed > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

/// Print one suite: a line per case and a diff under each failure.
fn print_suite(report: &SuiteReport) {
    outln!(
        "suite {} ({})",
        report.suite.display(),
        report.component.display()
    );
    for case in &report.cases {
        let name = printable(&case.name);
        let Some(failure) = &case.failure else {
            outln!("  {}      {name}", paint(GREEN, "ok"));
            continue;
        };
        outln!("  {}  {name}", paint(RED, "FAILED"));
        outln!("          {}", printable(&failure.reason));
        outln!("          --- expected  +++ actual");
        let expected = pretty(&failure.expected);
        let actual = pretty(&failure.actual);
        print_diff(&diff(&expected, &actual), "          ");
    }
    outln!();
}

/// A value as pretty JSON.
fn pretty(value: &serde_json::Value) -> String {
    serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string())
}

/// The suite files named by the arguments, in order: files as given,
/// directories expanded (see [`TestArgs::suites`]).
fn find_suites(args: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    let mut found = Vec::new();
    for arg in args {
        if arg.is_file() {
            found.push(arg.clone());
            continue;
        }
        if !arg.is_dir() {
            bail!("{}: no such suite file or directory", arg.display());
        }
        let own = suites_of_project(arg)?;
        if !own.is_empty() {
            found.extend(own);
            continue;
        }
        let mut projects = read_dir_sorted(arg)?;
        projects.retain(|p| p.is_dir());
        let before = found.len();
        for project in projects {
            found.extend(suites_of_project(&project)?);
        }
        if found.len() == before {
            bail!(
                "{}: no test suites found (looked for tests/*.yaml and policy-tests.yaml, \
                 here and in each subdirectory)",
                arg.display()
            );
        }
    }
    Ok(found)
}

/// The suites of one policy project: `tests/*.yaml` (and `*.yml`) and
/// `policy-tests.yaml`.
fn suites_of_project(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut suites = Vec::new();
    let tests = dir.join("tests");
    if tests.is_dir() {
        suites.extend(
            read_dir_sorted(&tests)?.into_iter().filter(|p| {
                p.is_file() && p.extension().is_some_and(|e| e == "yaml" || e == "yml")
            }),
        );
    }
    let single = dir.join("policy-tests.yaml");
    if single.is_file() {
        suites.push(single);
    }
    Ok(suites)
}

/// The entries of a directory, sorted by name.
fn read_dir_sorted(dir: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let read = |e: std::io::Error| anyhow::anyhow!("cannot read {}: {e}", dir.display());
    let mut entries = std::fs::read_dir(dir)
        .map_err(read)?
        .map(|entry| entry.map(|e| e.path()).map_err(read))
        .collect::<anyhow::Result<Vec<_>>>()?;
    entries.sort();
    Ok(entries)
}
