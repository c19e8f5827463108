//! What every pipeline command shares: turning `SOURCE [--ref] [--path]
//! [--config]` into a [`SyncUnit`], the cache directories, loading policies;
//! and the `plumbline sync` command itself.
//!
//! IO: reads configuration files, builds policy projects, talks to the
//! cluster (`sync`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressFinish, ProgressStyle};

use super::output::{self, out, outln};
use super::{Global, OutputFormat};
use crate::apply::{Cluster, Options};
use crate::policy::{HostConfig, PolicyHost, PolicySet};
use crate::reconcile::{self, Outcome, Report, Status, SyncUnit};
use crate::source::GitRef;
use crate::spec::SyncConfig;

/// The configuration file looked for in a SOURCE directory.
pub const CONFIG_FILE: &str = "plumbline.yaml";

/// Where the desired state comes from (shared by every pipeline command).
#[derive(Debug, Clone, clap::Args)]
pub struct SourceArgs {
    /// A directory with a plumbline.yaml, a plumbline.yaml file, a directory
    /// of manifests, or a Git URL (https://, ssh://, git://, file://).
    #[arg(value_name = "SOURCE")]
    pub source: String,
    /// Read this Git reference instead of the working tree: a branch, a tag
    /// (`tags/v1.2.0` or `refs/tags/v1.2.0`) or a 40-digit commit.
    #[arg(long = "ref", value_name = "REF")]
    pub reference: Option<String>,
    /// Directory inside the source to render (overrides the config's
    /// `spec.source.path`).
    #[arg(long, value_name = "DIR")]
    pub path: Option<String>,
    /// A plumbline.yaml to take policies and settings from when SOURCE is a
    /// URL or a directory of manifests.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// For a local directory SOURCE: the directory that kustomizations in
    /// it may reach with `../` (it must hold SOURCE). Without it, the
    /// boundary is the Git work tree that holds SOURCE, or SOURCE itself
    /// outside any work tree.
    #[arg(long, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Helm options.
    #[command(flatten)]
    pub helm: super::helm::HelmArgs,
}

/// Turn the source arguments into a sync unit.
pub fn load_unit(args: &SourceArgs) -> anyhow::Result<SyncUnit> {
    let given = Path::new(&args.source);
    let is_url = crate::source::is_url(&args.source);
    let config_file = if given.is_file() {
        Some(given.to_owned())
    } else if given.is_dir() && given.join(CONFIG_FILE).is_file() {
        Some(given.join(CONFIG_FILE))
    } else {
        None
    };
    if config_file.is_some() && args.config.is_some() {
        anyhow::bail!(
            "{} is already a sync configuration; --config is for a URL or a directory of manifests",
            args.source
        );
    }
    if args.root.is_some() && (config_file.is_some() || is_url || !given.is_dir()) {
        anyhow::bail!(
            "--root is for a local directory of manifests; {} is not one",
            args.source
        );
    }
    let mut unit = match (config_file.or_else(|| args.config.clone()), is_url) {
        (Some(file), _) => read_config(&file)?,
        (None, true) => bare_unit("source", &args.source)?,
        (None, false) if given.is_dir() => {
            let dir = absolute(given)?;
            let name = dns_label(dir.file_name().map(|n| n.to_string_lossy()).as_deref());
            let (root, inside) = match &args.root {
                Some(root) => within(root, given)?,
                None => repository_root(&dir),
            };
            let mut unit = bare_unit(&name, &root.display().to_string())?;
            unit.config.spec.source.path = inside;
            unit
        }
        (None, false) => anyhow::bail!(
            "{}: no such file or directory (SOURCE is a directory, a {CONFIG_FILE} or a Git URL)",
            args.source
        ),
    };
    // With --config, SOURCE names the manifests; the config the policies.
    if args.config.is_some() {
        unit.config.spec.source.url = if is_url {
            args.source.clone()
        } else {
            absolute(given)?.display().to_string()
        };
    }
    if let Some(reference) = &args.reference {
        unit.config.spec.source.reference = Some(parse_ref(reference));
    }
    if let Some(path) = &args.path {
        // For a directory inside a work tree, --path is relative to it.
        let inside = &unit.config.spec.source.path;
        unit.config.spec.source.path = if inside.is_empty() || unit.file != BARE {
            path.clone()
        } else {
            format!("{inside}/{path}")
        };
    }
    let bare_directory = unit.file == BARE && args.config.is_none() && args.root.is_none();
    args.helm.apply(&args.source, bare_directory, &mut unit)?;
    Ok(unit)
}

/// The Git work tree that holds `dir` (its root, and `dir` relative to it,
/// `/`-separated), so that a kustomization there may use resources
/// anywhere in the repository (`overlays/prod` → `../../base`); `dir`
/// itself when it is not inside a work tree.
fn repository_root(dir: &Path) -> (PathBuf, String) {
    let root = dir.ancestors().find(|a| a.join(".git").exists());
    let Some(root) = root else {
        return (dir.to_owned(), String::new());
    };
    let inside = dir
        .strip_prefix(root)
        .unwrap_or(Path::new(""))
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/");
    (root.to_owned(), inside)
}

/// `--root`: the directory `root` and `dir` relative to it
/// (`/`-separated); `dir` must be inside `root`.
fn within(root: &Path, dir: &Path) -> anyhow::Result<(PathBuf, String)> {
    let canonical = |path: &Path| {
        std::fs::canonicalize(path).with_context(|| format!("resolving {}", path.display()))
    };
    let (root, dir) = (canonical(root)?, canonical(dir)?);
    let Ok(inside) = dir.strip_prefix(&root) else {
        anyhow::bail!("{} is not inside --root {}", dir.display(), root.display());
    };
    let inside = inside
        .components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/");
    Ok((root, inside))
}

/// A failed load of the desired state as one message. When a
/// kustomization of a local directory outside any Git work tree reached
/// outside it, the message says how to widen the boundary.
pub fn desired_error(args: &SourceArgs, error: reconcile::Error) -> anyhow::Error {
    use crate::render::{kustomize, Error as RenderError};
    let reached_out = match &error {
        reconcile::Error::Render(errors) => errors.0.iter().any(|e| {
            matches!(e, RenderError::Kustomize(kustomize::Error::Outside { path, .. })
                if !crate::source::is_url(path) && !path.starts_with("git@"))
        }),
        _ => false,
    };
    let given = Path::new(&args.source);
    let bare_directory = given.is_dir()
        && !given.join(CONFIG_FILE).is_file()
        && args.config.is_none()
        && args.root.is_none();
    let outside_git =
        absolute(given).is_ok_and(|dir| !dir.ancestors().any(|a| a.join(".git").exists()));
    if reached_out && bare_directory && outside_git {
        anyhow::anyhow!(
            "{error}\n{} is not in a Git work tree, so its kustomizations may only use files under it; \
             pass --root DIR to let them reach files under DIR",
            args.source
        )
    } else {
        flat(error)
    }
}

/// A configuration file, checked.
fn read_config(file: &Path) -> anyhow::Result<SyncUnit> {
    let text = std::fs::read_to_string(file)
        .with_context(|| format!("reading sync configuration {}", file.display()))?;
    let name = file.display().to_string();
    let config = SyncConfig::from_yaml(&text, &name)?;
    let base_dir = absolute(file)?
        .parent()
        .map(Path::to_owned)
        .unwrap_or_default();
    Ok(SyncUnit {
        config,
        base_dir,
        file: name,
    })
}

/// The configuration "file" of a sync made from the command line.
const BARE: &str = "(command line)";

/// A sync of `url` without policies, for sources without a configuration;
/// every setting has its default.
fn bare_unit(name: &str, url: &str) -> anyhow::Result<SyncUnit> {
    let file = BARE;
    let url = serde_json::to_string(url)?;
    let text = format!(
        "apiVersion: {}\nkind: Sync\nmetadata: {{name: {name}}}\nspec:\n  source: {{url: {url}}}\n",
        crate::spec::API_VERSION
    );
    Ok(SyncUnit {
        config: SyncConfig::from_yaml(&text, file)?,
        base_dir: std::env::current_dir().unwrap_or_default(),
        file: file.into(),
    })
}

/// `--ref`: a commit (40 hex digits), a tag (`tags/` or `refs/tags/`), or
/// a branch.
pub fn parse_ref(text: &str) -> GitRef {
    if text.len() == 40 && text.chars().all(|c| c.is_ascii_hexdigit()) {
        GitRef::Commit(text.to_ascii_lowercase())
    } else if let Some(tag) = text
        .strip_prefix("refs/tags/")
        .or_else(|| text.strip_prefix("tags/"))
    {
        GitRef::Tag(tag.to_owned())
    } else {
        GitRef::Branch(text.strip_prefix("refs/heads/").unwrap_or(text).to_owned())
    }
}

/// A directory name made into a sync name (a DNS label).
fn dns_label(name: Option<&str>) -> String {
    let label: String = name
        .unwrap_or_default()
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(63)
        .collect();
    let label = label.trim_matches('-');
    if label.is_empty() {
        "local".into()
    } else {
        label.into()
    }
}

fn absolute(path: &Path) -> anyhow::Result<PathBuf> {
    std::path::absolute(path).with_context(|| format!("resolving {}", path.display()))
}

/// The cache directories: `$PLUMBLINE_CACHE_DIR`, else
/// `~/.cache/plumbline`; Git repositories in `git/`, compiled policies in
/// `policies/`, the latest render of each sync in `rendered/`.
pub fn cache_root() -> PathBuf {
    let var = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    if let Some(dir) = var("PLUMBLINE_CACHE_DIR") {
        return PathBuf::from(dir);
    }
    var("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| var("HOME").map(|home| PathBuf::from(home).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("plumbline")
}

/// The Git cache directory.
pub fn git_cache() -> PathBuf {
    cache_root().join("git")
}

/// Where each sync's latest render is kept.
pub fn rendered_cache() -> PathBuf {
    cache_root().join("rendered")
}

/// A policy host with its compile cache.
pub fn policy_host() -> anyhow::Result<PolicyHost> {
    PolicyHost::new(HostConfig {
        cache_dir: Some(cache_root().join("policies")),
        ..HostConfig::default()
    })
    .map_err(flat)
}

/// Load the sync's policies, plus extra component files or project
/// directories given on the command line (appended, named after their path).
pub fn load_policies(
    host: &PolicyHost,
    unit: &SyncUnit,
    extra: &[PathBuf],
) -> anyhow::Result<PolicySet> {
    let mut unit = unit.clone();
    super::registry::pull_policy_modules(&mut unit)?;
    for path in unit
        .config
        .spec
        .policies
        .iter()
        .map(|p| unit.resolve(&p.module))
        .chain(extra.iter().cloned())
    {
        if !path.exists() {
            anyhow::bail!("policy {}: no such file or directory", path.display());
        }
    }
    for path in extra {
        unit.config.spec.policies.push(crate::spec::PolicySpec {
            name: None,
            module: absolute(path)?,
            settings: serde_json::json!({}),
            limits: crate::policy::LimitOverrides::default(),
            fail_open: false,
            allow: crate::spec::TransformerAllowance::default(),
            insecure: false,
            verify: None,
        });
    }
    reconcile::policies::load(host, &unit).map_err(flat)
}

/// Where to find the cluster.
#[derive(Debug, Clone, clap::Args)]
pub struct ClusterArgs {
    /// Kubeconfig file (default: $KUBECONFIG, then ~/.kube/config).
    #[arg(long, value_name = "FILE")]
    pub kubeconfig: Option<PathBuf>,
    /// Kubeconfig context (default: the current context).
    #[arg(long, value_name = "NAME")]
    pub context: Option<String>,
}

impl ClusterArgs {
    /// Connect with these arguments.
    pub async fn connect(&self, options: Options) -> anyhow::Result<Cluster> {
        Cluster::connect(self.kubeconfig.as_deref(), self.context.as_deref(), options)
            .await
            .map_err(flat)
    }

    /// A name for the cluster in output.
    pub fn describe(&self) -> String {
        let file = self
            .kubeconfig
            .as_ref()
            .map(|f| f.display().to_string())
            .or_else(|| std::env::var("KUBECONFIG").ok())
            .unwrap_or_else(|| "~/.kube/config".into());
        match &self.context {
            Some(context) => format!("context {context} of {file}"),
            None => format!("current context of {file}"),
        }
    }
}

/// A library error and its causes as one message. Most of the library's
/// errors already include their causes in their messages, so a cause is
/// added only where the message does not say it yet.
pub fn flat(error: impl std::error::Error) -> anyhow::Error {
    let mut message = error.to_string();
    let mut cause = error.source();
    while let Some(next) = cause {
        let text = next.to_string();
        if !message.contains(&text) {
            message.push_str(": ");
            message.push_str(&text);
        }
        cause = next.source();
    }
    anyhow::anyhow!(message)
}

/// A tokio runtime for the commands that talk to a cluster.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    Ok(tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?)
}

/// Arguments of `plumbline sync`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  plumbline sync examples/quickstart --context kind-dev
  plumbline sync . --ref v1.4.0 --dry-run          # server-side dry-run, nothing stored
  plumbline sync https://git.example.com/shop.git --config shop.yaml --no-prune
  plumbline sync . --wait --timeout 10m               # exit 2 unless healthy in time

Exit codes: 0 synced (drift may have been reported or ignored by decision),
1 blocked by error-severity violations (nothing was applied),
2 failed (bad arguments or configuration, fetch/render/policy errors, the
cluster unreachable, a write refused, or a wave, phase or --wait whose
objects failed or were not healthy within the timeout, listed with their
health; nothing is pruned after a failure;
Ctrl+C or SIGTERM, which stop the sync before its next API request).")]
pub struct SyncArgs {
    #[command(flatten)]
    source: SourceArgs,
    #[command(flatten)]
    cluster: ClusterArgs,
    /// Delete objects that left Git (overrides spec.prune).
    #[arg(long, overrides_with = "no_prune")]
    prune: bool,
    /// Leave objects that left Git in the cluster (overrides spec.prune).
    #[arg(long, overrides_with = "prune")]
    no_prune: bool,
    /// Reapply drifted objects no remediator decided about.
    #[arg(long)]
    self_heal: bool,
    /// Make every write a server-side dry-run: the API server validates,
    /// nothing is stored.
    #[arg(long)]
    dry_run: bool,
    /// Take fields other field managers own instead of failing.
    #[arg(long)]
    force_conflicts: bool,
    /// Wait until the applied objects are healthy (sets spec.wait); exit 2
    /// naming those that are not healthy within the timeout.
    #[arg(long)]
    wait: bool,
    /// How long one wait for health may take: for each wave and phase, and
    /// with --wait the last one, e.g. 90s, 5m (overrides spec.timeout;
    /// default 5m).
    #[arg(long, value_name = "DURATION")]
    timeout: Option<String>,
}

/// `plumbline sync`.
pub fn sync(args: SyncArgs, global: &Global) -> anyhow::Result<ExitCode> {
    let mut unit = load_unit(&args.source)?;
    let spec = &mut unit.config.spec.sync;
    if args.prune {
        spec.prune = true;
    }
    if args.no_prune {
        spec.prune = false;
    }
    spec.self_heal |= args.self_heal;
    spec.force_conflicts |= args.force_conflicts;
    spec.wait |= args.wait;
    if let Some(timeout) = args.timeout {
        spec.timeout = timeout;
        spec.health_timeout().map_err(|_| {
            anyhow::anyhow!(
                "--timeout {:?} is not a duration like 90s, 5m or 1h",
                spec.timeout
            )
        })?;
    }
    let options = Options {
        dry_run: args.dry_run,
        force_conflicts: spec.force_conflicts,
        ..Options::default()
    };
    let progress = Progress::start(global, &format!("syncing {}", unit.name()));
    let host = policy_host()?;
    let policies = load_policies(&host, &unit, &[])?;
    let runtime = runtime()?;
    // Ctrl+C or SIGTERM drops the reconcile at its next await: no request
    // is started after it.
    let report = runtime.block_on(async {
        let cluster = args.cluster.connect(options).await?;
        let (git_cache, rendered) = (git_cache(), rendered_cache());
        tokio::select! {
            report = reconcile::reconcile_kept(&unit, &policies, &cluster, &git_cache, &rendered) => {
                anyhow::Ok(report)
            }
            signal = super::interrupt::signalled() => anyhow::bail!(
                "{signal}: the sync of {} stopped before its next API request and is \
                 incomplete: what it applied stays, and the next sync or plan finds it by \
                 the sync's label (run it again to finish, or sync a revert to prune it)",
                unit.name()
            ),
        }
    });
    // A Git fetch or policy run still going on its own thread is left
    // behind rather than waited for.
    runtime.shutdown_background();
    progress.stop();
    let report = report?;
    match global.output {
        OutputFormat::Json => outln!("{}", serde_json::to_string_pretty(&report)?),
        OutputFormat::Yaml => out!("{}", serde_yaml::to_string(&report)?),
        OutputFormat::Human => print_report(&report),
    }
    Ok(ExitCode::from(match report.status {
        Status::Synced => 0,
        Status::Blocked => 1,
        Status::Failed => 2,
    }))
}

/// The report for people: one line per object on standard output, then
/// warnings and the summary line; errors on standard error. Failed or
/// skipped objects that repeat one message (an API server outage fails
/// every request the same way) are shown once, then counted on one line;
/// repeated errors likewise.
fn print_report(report: &Report) {
    if let Some(revision) = &report.revision {
        outln!("revision {revision}");
    }
    for verified in &report.verified {
        outln!(
            "verified {}",
            crate::policy::printable_lines(&verified.to_string())
        );
    }
    output::print_violations(&report.violations, None);
    output::print_transformer_summaries(&report.transformers);
    let mut repeats = Repeats::default();
    for object in &report.objects {
        let (mark, colour) = match object.outcome {
            Outcome::Created => ("+", output::GREEN),
            Outcome::Updated | Outcome::Adopted | Outcome::Reapplied | Outcome::Recreated => {
                ("~", output::YELLOW)
            }
            Outcome::Pruned => ("-", output::RED),
            Outcome::Failed => ("!", output::RED),
            Outcome::Unchanged => ("=", output::DIM),
            _ => ("?", output::CYAN),
        };
        let outcome = serde_json::to_value(&object.outcome)
            .ok()
            .and_then(|v| v.as_str().map(str::to_owned))
            .unwrap_or_default();
        let repeatable = matches!(object.outcome, Outcome::Failed | Outcome::Skipped);
        if let Some(message) = object.message.as_deref().filter(|_| repeatable) {
            if repeats.seen_again(&format!("{mark} {outcome:<10}"), message) {
                continue;
            }
        }
        let mut line = format!("{mark} {outcome:<10} {}", object.key);
        if let Some(health) = &object.health {
            line.push_str(&format!("  [{health}]"));
        }
        if !object.drifted.is_empty() {
            line.push_str(&format!("  drifted: {}", object.drifted.join(", ")));
        }
        if let Some(message) = &object.message {
            line.push_str(&format!("  ({message})"));
        }
        outln!("{}", output::paint(colour, &line));
    }
    for (start, cause, more) in repeats.counted() {
        let line = format!("{start} ... and {more} more object(s) with the same message: {cause}");
        outln!("{}", output::paint(output::RED, &line));
    }
    for warning in &report.warnings {
        outln!(
            "{}",
            output::paint(output::YELLOW, &format!("warning: {warning}"))
        );
    }
    let mut errors = Repeats::default();
    for error in &report.errors {
        let text = error.to_string();
        if !errors.seen_again("error:", &text) {
            eprintln!("error: {text}");
        }
    }
    for (start, cause, more) in errors.counted() {
        eprintln!("{start} ... and {more} more with the same cause: {cause}");
    }
    let colour = match report.status {
        Status::Synced => output::GREEN,
        _ => output::RED,
    };
    outln!("{}", output::paint(colour, &report.to_string()));
}

/// Messages seen so far, by how they start (the outcome shown) and their
/// cause: the message without the object it names, which is everything
/// after the first `": "` (`ConfigMap shop/a: request failed: ...`).
#[derive(Default)]
struct Repeats {
    /// Each (start, cause) in the order first seen, with how many more
    /// times it came.
    counts: Vec<(String, String, usize)>,
    index: std::collections::HashMap<(String, String), usize>,
}

impl Repeats {
    /// Note a message; whether one with the same start and cause came
    /// before (then it is counted, not shown).
    fn seen_again(&mut self, start: &str, message: &str) -> bool {
        let cause = message.split_once(": ").map_or(message, |(_, rest)| rest);
        let key = (start.to_owned(), cause.to_owned());
        if let Some(&at) = self.index.get(&key) {
            self.counts[at].2 += 1;
            return true;
        }
        self.index.insert(key.clone(), self.counts.len());
        self.counts.push((key.0, key.1, 0));
        false
    }

    /// The messages that came more than once, with how many more times.
    fn counted(self) -> impl Iterator<Item = (String, String, usize)> {
        self.counts.into_iter().filter(|(_, _, more)| *more > 0)
    }
}

/// A one-line spinner on standard error while long work runs (indicatif);
/// silent when standard error is not a terminal or with `--quiet`.
/// Dropped on every path, an early error included: the spinner stops and
/// its line is cleared before anything else is printed.
pub struct Progress {
    _bar: ProgressBar,
}

impl Progress {
    /// Start showing `what`.
    pub fn start(global: &Global, what: &str) -> Self {
        let target = if global.quiet {
            ProgressDrawTarget::hidden()
        } else {
            ProgressDrawTarget::stderr()
        };
        Self::on(target, what)
    }

    fn on(target: ProgressDrawTarget, what: &str) -> Self {
        let style = ProgressStyle::with_template("{spinner} {msg}… {elapsed}")
            .expect("the spinner's template is valid");
        let bar = ProgressBar::with_draw_target(None, target)
            .with_style(style)
            .with_message(what.to_owned())
            .with_finish(ProgressFinish::AndClear);
        bar.enable_steady_tick(Duration::from_millis(120));
        Progress { _bar: bar }
    }

    /// Stop and clear the line (as dropping it does).
    pub fn stop(self) {}
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};
    use std::time::Instant;

    use super::*;

    /// A terminal that records what is drawn on it.
    #[derive(Debug, Default, Clone)]
    struct Screen(Arc<Mutex<Vec<String>>>);

    impl Screen {
        fn record(&self, what: String) -> std::io::Result<()> {
            self.0.lock().unwrap().push(what);
            Ok(())
        }
        fn drawn(&self) -> Vec<String> {
            self.0.lock().unwrap().clone()
        }
    }

    impl indicatif::TermLike for Screen {
        fn width(&self) -> u16 {
            80
        }
        fn move_cursor_up(&self, n: usize) -> std::io::Result<()> {
            self.record(format!("up {n}"))
        }
        fn move_cursor_down(&self, n: usize) -> std::io::Result<()> {
            self.record(format!("down {n}"))
        }
        fn move_cursor_right(&self, n: usize) -> std::io::Result<()> {
            self.record(format!("right {n}"))
        }
        fn move_cursor_left(&self, n: usize) -> std::io::Result<()> {
            self.record(format!("left {n}"))
        }
        fn write_line(&self, line: &str) -> std::io::Result<()> {
            self.record(format!("line {line}"))
        }
        fn write_str(&self, text: &str) -> std::io::Result<()> {
            self.record(format!("text {text}"))
        }
        fn clear_line(&self) -> std::io::Result<()> {
            self.record("clear".to_owned())
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_dropped_spinner_clears_its_line_and_stops_drawing() {
        let screen = Screen::default();
        let progress = Progress::on(
            ProgressDrawTarget::term_like(Box::new(screen.clone())),
            "syncing shop",
        );
        let started = Instant::now();
        while !screen.drawn().iter().any(|d| d.contains("syncing shop")) {
            assert!(started.elapsed() < Duration::from_secs(10), "never drawn");
            std::thread::sleep(Duration::from_millis(10));
        }
        // An early return (`?`) drops it without `stop()`.
        drop(progress);
        let drawn = screen.drawn();
        let last = |what: &str| drawn.iter().rposition(|d| d.starts_with(what));
        assert!(last("clear") > last("text"), "not cleared: {drawn:?}");
        std::thread::sleep(Duration::from_millis(300));
        assert_eq!(screen.drawn(), drawn, "drawn after it was dropped");
    }

    #[test]
    fn references_are_commits_tags_or_branches() {
        let commit = "a".repeat(40);
        assert_eq!(parse_ref(&commit), GitRef::Commit(commit.clone()));
        assert_eq!(parse_ref("tags/v1"), GitRef::Tag("v1".into()));
        assert_eq!(parse_ref("refs/tags/v1"), GitRef::Tag("v1".into()));
        assert_eq!(parse_ref("refs/heads/bad"), GitRef::Branch("bad".into()));
        assert_eq!(parse_ref("bad"), GitRef::Branch("bad".into()));
    }

    fn args(source: &str) -> SourceArgs {
        SourceArgs {
            source: source.into(),
            reference: None,
            path: None,
            config: None,
            root: None,
            helm: Default::default(),
        }
    }

    #[test]
    fn a_url_is_a_sync_without_policies_refined_by_ref_and_path() {
        let mut given = args("https://git.example.com/shop.git");
        given.reference = Some("tags/v1.2.0".into());
        given.path = Some("deploy".into());
        let unit = load_unit(&given).unwrap();
        let source = &unit.config.spec.source;
        assert_eq!(source.url, "https://git.example.com/shop.git");
        assert_eq!(source.reference, Some(GitRef::Tag("v1.2.0".into())));
        assert_eq!(source.path, "deploy");
        assert!(unit.config.spec.policies.is_empty());
    }

    #[test]
    fn a_configuration_and_config_together_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(CONFIG_FILE);
        std::fs::write(
            &file,
            "apiVersion: plumbline.dev/v1alpha1\nkind: Sync\nmetadata: {name: a}\nspec:\n  source: {url: .}\n",
        )
        .unwrap();
        let mut given = args(dir.path().to_str().unwrap());
        assert_eq!(load_unit(&given).unwrap().name(), "a");
        given.config = Some(file);
        let error = load_unit(&given).unwrap_err().to_string();
        assert!(error.contains("already a sync configuration"), "{error}");
    }

    #[test]
    fn a_directory_inside_a_work_tree_is_rendered_from_the_repository_root() {
        let repo = tempfile::tempdir().unwrap();
        let overlay = repo.path().join("overlays/prod");
        std::fs::create_dir_all(&overlay).unwrap();
        std::fs::create_dir(repo.path().join(".git")).unwrap();
        let mut given = args(overlay.to_str().unwrap());
        let unit = load_unit(&given).unwrap();
        assert_eq!(unit.name(), "prod");
        let source = &unit.config.spec.source;
        assert_eq!(source.url, repo.path().display().to_string());
        assert_eq!(source.path, "overlays/prod");
        given.path = Some("eu".into());
        assert_eq!(
            load_unit(&given).unwrap().config.spec.source.path,
            "overlays/prod/eu"
        );

        let plain = tempfile::tempdir().unwrap();
        let unit = load_unit(&args(plain.path().to_str().unwrap())).unwrap();
        assert_eq!(
            unit.config.spec.source.url,
            plain.path().display().to_string()
        );
        assert_eq!(unit.config.spec.source.path, "");
    }

    #[test]
    fn repeated_failures_are_counted_not_repeated() {
        let mut repeats = Repeats::default();
        let down = "request failed: connection refused";
        for i in 0..1000 {
            let first = i == 0;
            let message = format!("ConfigMap shop/cm-{i}: {down}");
            assert_eq!(repeats.seen_again("! failed", &message), !first);
        }
        assert!(!repeats.seen_again("! failed", "Secret shop/db: refused"));
        assert!(!repeats.seen_again("? skipped", &format!("x: {down}")));
        let counted: Vec<(String, String, usize)> = repeats.counted().collect();
        assert_eq!(counted, [("! failed".into(), down.into(), 999)]);
    }

    #[test]
    fn directory_names_become_dns_labels() {
        assert_eq!(dns_label(Some("My_Shop")), "my-shop");
        assert_eq!(dns_label(Some("__")), "local");
        assert_eq!(dns_label(None), "local");
    }
}
