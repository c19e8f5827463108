//! `plumbline plan`: what a sync would do, without doing it. Loads the
//! desired state (fetch, render, transform, validate), reads the live
//! objects and inventory from a cluster (or takes an empty cluster), plans,
//! and prints the plan with a per-object diff. IO: source, policy builds,
//! reads from the cluster (and server-side dry-run writes on request).

use std::collections::BTreeMap;
use std::process::ExitCode;

use serde_json::{json, Value};

use super::output::{self, out, outln};
use super::sync::{self, ClusterArgs, SourceArgs};
use super::{Global, OutputFormat};
use crate::apply::Options;
use crate::object::ObjectKey;
use crate::plan::waves::{Phase, Schedule, StepId};
use crate::plan::{self, Action, Live, Plan, UpdateReason};
use crate::policy::{printable, PolicySet};
use crate::reconcile::desired::{Depth, Desired, Target};
use crate::reconcile::{self, transform_guard, SyncUnit};

/// Arguments of `plumbline plan`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  plumbline plan examples/quickstart                   # against an empty cluster
  plumbline plan examples/quickstart --context kind-dev
  plumbline plan . --ref feature/x --kubeconfig ~/.kube/staging --server-dry-run
  plumbline plan . -o json | jq .summary

The cluster is used only when --kubeconfig or --context is given or
$KUBECONFIG is set; otherwise the plan is made against an EMPTY cluster
(everything is a create) and the output says so.

Exit codes: 0 in sync (nothing to do), 1 changes to make or error-severity
violations that would block the sync, 2 error (fetch, render, policy,
cluster, or a server-side dry-run the API server refused).")]
pub struct Args {
    #[command(flatten)]
    source: SourceArgs,
    #[command(flatten)]
    cluster: ClusterArgs,
    /// Also send the creates and updates to the API server as server-side
    /// dry-run applies, so it validates them (needs a cluster).
    #[arg(long)]
    server_dry_run: bool,
}

/// `plumbline plan`.
pub fn run(args: Args, global: &Global) -> anyhow::Result<ExitCode> {
    let mut unit = sync::load_unit(&args.source)?;
    let modules = super::registry::pull_policy_modules(&mut unit)?;
    let use_cluster = args.cluster.kubeconfig.is_some()
        || args.cluster.context.is_some()
        || std::env::var_os("KUBECONFIG").is_some_and(|v| !v.is_empty());
    if args.server_dry_run && !use_cluster {
        anyhow::bail!("--server-dry-run needs a cluster: give --kubeconfig or --context");
    }
    let progress = sync::Progress::start(global, &format!("planning {}", unit.name()));
    let host = sync::policy_host()?;
    let policies = sync::load_policies(&host, &unit, &[])?;
    let (git_cache, rendered) = (sync::git_cache(), sync::rendered_cache());
    let runtime = sync::runtime()?;
    let cluster = match use_cluster {
        true => {
            let write_options = Options {
                dry_run: true,
                ..Options::default()
            };
            Some(runtime.block_on(args.cluster.connect(write_options))?)
        }
        false => None,
    };
    // Charts see the cluster's version and API versions.
    let target = cluster
        .as_ref()
        .map(|cluster| Target::new(cluster.client().clone(), runtime.handle().clone()));
    let (mut desired, objects) = reconcile::load_kept(
        &unit,
        &policies,
        &git_cache,
        &rendered,
        Depth::Previewed,
        target.as_ref(),
    )
    .map_err(|e| sync::desired_error(&args.source, e))?;
    let transformations = std::mem::take(&mut desired.transformer_edits);

    let spec = &unit.config.spec;
    let reconcile::Preview {
        planned,
        live,
        rejected,
        guard,
        schedule,
    } = runtime.block_on(async {
        let preview = reconcile::preview(&unit, objects, cluster.as_ref(), args.server_dry_run);
        preview.await.map_err(sync::flat)
    })?;
    progress.stop();

    let summary = planned.summary();
    let blocking = desired.blocking_violations();
    let cluster = use_cluster.then(|| args.cluster.describe());
    match global.output {
        OutputFormat::Human => print_human(&Printed {
            unit: &unit,
            modules: &modules,
            policies: &policies,
            desired: &desired,
            transformations: &transformations,
            planned: &planned,
            live: &live,
            cluster: cluster.as_deref(),
            rejected: &rejected,
            field_manager: &Options::default().field_manager,
            guard: guard.as_ref().err(),
            schedule: &schedule,
        }),
        format => {
            let actions = planned
                .objects
                .iter()
                .map(output::shown_action)
                .collect::<Result<Vec<_>, _>>()?;
            let document = Document {
                blocking,
                chart: desired.chart.as_ref(),
                cluster: cluster.as_deref(),
                empty_cluster: !use_cluster,
                in_sync: summary.in_sync(),
                modules: &modules,
                objects: Objects {
                    planned: &planned.objects,
                    actions: &actions,
                    origins: &desired.origins,
                    steps: &schedule.step_of(),
                },
                prune_refused: guard.as_ref().err().map(ToString::to_string),
                revision: &desired.revision,
                server_dry_run_errors: &rejected,
                source: &spec.source,
                steps: schedule
                    .steps
                    .iter()
                    .map(|step| Steps {
                        phase: step.id.phase,
                        wave: step.id.wave,
                        objects: step.objects.len(),
                    })
                    .collect(),
                summary: &summary,
                sync: unit.name(),
                transformations: transformations
                    .iter()
                    .map(|t| json!({"object": t.object, "changes": t.changes}))
                    .collect(),
                transformer_changes: &desired.transformer_changes,
                transformers: &desired.transformer_summaries,
                verified: &desired.verified,
                violations: &desired.violations,
                warnings: &desired.warnings,
            };
            if format == OutputFormat::Yaml {
                out!("{}", serde_yaml::to_string(&document)?);
            } else {
                outln!("{}", serde_json::to_string_pretty(&document)?);
            }
        }
    }
    let code = if !rejected.is_empty() {
        2
    } else {
        u8::from(blocking > 0 || !summary.in_sync())
    };
    Ok(ExitCode::from(code))
}

/// The `-o json` / `-o yaml` document (keys in alphabetical order). The
/// planned objects are serialized where they are, not copied into it.
#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct Document<'a> {
    blocking: usize,
    /// The chart and version a chart source resolved to, with its digest.
    #[serde(skip_serializing_if = "Option::is_none")]
    chart: Option<&'a crate::render::helm::chart_fetch::ResolvedChart>,
    cluster: Option<&'a str>,
    empty_cluster: bool,
    in_sync: bool,
    /// The `oci://` policy modules and the digests they resolved to.
    modules: &'a [super::registry::ResolvedModule],
    objects: Objects<'a>,
    prune_refused: Option<String>,
    revision: &'a Option<String>,
    server_dry_run_errors: &'a [String],
    source: &'a crate::spec::SourceSpec,
    steps: Vec<Steps>,
    summary: &'a plan::Summary,
    sync: &'a str,
    transformations: Vec<Value>,
    transformer_changes: &'a crate::reconcile::transform_guard::Changes,
    transformers: &'a [transform_guard::TransformerSummary],
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    verified: &'a [crate::source::Verified],
    violations: &'a [crate::policy::Violation],
    warnings: &'a [String],
}

/// One step of the sync in `-o json`: its phase (`pre`, `main`, `post`),
/// its wave, and how many objects it applies.
#[derive(serde::Serialize)]
struct Steps {
    phase: Phase,
    wave: i64,
    objects: usize,
}

/// Each planned object with its shown action, origin, phase and wave;
/// Secret values masked.
struct Objects<'a> {
    planned: &'a [plan::PlannedObject],
    actions: &'a [Value],
    origins: &'a BTreeMap<ObjectKey, crate::render::Origin>,
    /// The step of each desired object, by index.
    steps: &'a BTreeMap<usize, StepId>,
}

impl serde::Serialize for Objects<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(serde::Serialize)]
        #[serde(rename_all = "camelCase")]
        struct Object<'a> {
            action: &'a Value,
            api_version: &'a str,
            desired: Option<Value>,
            key: &'a ObjectKey,
            object: String,
            origin: Option<String>,
            #[serde(skip_serializing_if = "Option::is_none")]
            phase: Option<Phase>,
            stage: &'a plan::Stage,
            #[serde(skip_serializing_if = "Option::is_none")]
            wave: Option<i64>,
        }
        serializer.collect_seq(self.planned.iter().zip(self.actions).enumerate().map(
            |(index, (o, action))| {
                let step = self.steps.get(&index);
                Object {
                    action,
                    api_version: &o.api_version,
                    desired: o.desired.as_ref().map(|manifest| {
                        let desired = manifest.value();
                        if output::is_secret(&desired) {
                            output::mask_secret(&desired, None)
                        } else {
                            desired
                        }
                    }),
                    key: &o.key,
                    object: o.key.to_string(),
                    origin: output::origin_of(self.origins, &o.key),
                    phase: step.map(|s| s.phase).filter(|p| *p != Phase::Main),
                    stage: &o.stage,
                    wave: step.map(|s| s.wave),
                }
            },
        ))
    }
}

/// The source for people: a URL as it is, a local path resolved against the
/// configuration's directory and shown relative to the working directory.
fn source_name(unit: &SyncUnit) -> String {
    let url = &unit.config.spec.source.url;
    if crate::source::is_url(url) {
        return url.clone();
    }
    let path: std::path::PathBuf = unit
        .resolve(std::path::Path::new(url))
        .components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect();
    let cwd = std::env::current_dir().unwrap_or_default();
    match path.strip_prefix(&cwd) {
        Ok(relative) if relative.as_os_str().is_empty() => ".".to_owned(),
        Ok(relative) => relative.display().to_string(),
        Err(_) => path.display().to_string(),
    }
}

/// Everything the human output shows.
struct Printed<'a> {
    unit: &'a SyncUnit,
    /// The `oci://` policy modules and their digests.
    modules: &'a [super::registry::ResolvedModule],
    policies: &'a PolicySet,
    desired: &'a Desired,
    transformations: &'a [transform_guard::Edit],
    planned: &'a Plan,
    live: &'a Live,
    cluster: Option<&'a str>,
    rejected: &'a [String],
    /// Plumbline's field manager, whose applied fields a diff shows.
    field_manager: &'a str,
    /// The mass-deletion guard's refusal, if a sync would refuse the prune.
    guard: Option<&'a plan::PruneRefused>,
    /// The phases and waves of the desired objects.
    schedule: &'a Schedule,
}

fn print_human(p: &Printed<'_>) {
    let spec = &p.unit.config.spec;
    outln!(
        "{}",
        output::paint(
            output::BOLD,
            &format!("Plan for sync {} ({})", p.unit.name(), p.unit.file)
        )
    );
    let path = if spec.source.path.is_empty() {
        String::new()
    } else {
        format!(", path {}", spec.source.path)
    };
    let revision = match (&p.desired.revision, &spec.source.reference) {
        // An OCI artifact or a chart: `<tag or version>@sha256:…`.
        (Some(resolved), _) if resolved.contains('@') => resolved.clone(),
        (Some(commit), Some(reference)) => {
            format!("{reference} at commit {}", &commit[..commit.len().min(12)])
        }
        (Some(commit), None) => format!("commit {}", &commit[..commit.len().min(12)]),
        (None, _) => "working tree".to_owned(),
    };
    outln!(
        "  source:   {}",
        printable(&format!("{}{path} ({revision})", source_name(p.unit)))
    );
    if let Some(chart) = &p.desired.chart {
        outln!("  chart:    {}", printable(&chart.to_string()));
    }
    for verified in &p.desired.verified {
        outln!("  verified: {}", printable(&verified.to_string()));
    }
    for module in p.modules {
        outln!(
            "  policy:   {}",
            printable(&format!(
                "{} from {} at {}",
                module.policy, module.reference, module.digest
            ))
        );
        if let Some(verified) = &module.verified {
            outln!("  verified: {}", printable(&verified.to_string()));
        }
    }
    match p.cluster {
        Some(cluster) => outln!("  cluster:  {}", printable(cluster)),
        None => outln!(
            "  cluster:  {}",
            output::paint(
                output::YELLOW,
                "none: planning against an EMPTY cluster (give --kubeconfig or --context, or set KUBECONFIG, to compare with a real one)"
            )
        ),
    }
    let by_role = |pick: fn(crate::policy::Roles) -> bool| {
        let names: Vec<&str> = p
            .policies
            .policies()
            .iter()
            .filter(|l| pick(l.roles()))
            .map(|l| l.name())
            .collect();
        if names.is_empty() {
            "-".to_owned()
        } else {
            printable(&names.join(", ")).into_owned()
        }
    };
    outln!("  policies: transformers {}", by_role(|r| r.transformer));
    outln!("            validators   {}", by_role(|r| r.validator));
    outln!("            remediators  {}", by_role(|r| r.remediator));
    outln!("            health       {}", by_role(|r| r.health));

    outln!();
    let (errors, warnings, _) = output::severity_counts(&p.desired.violations);
    outln!(
        "{}",
        output::paint(
            output::BOLD,
            &format!("Violations: {errors} error(s), {warnings} warning(s)")
        )
    );
    output::print_violations(&p.desired.violations, Some(&p.desired.origins));
    for warning in &p.desired.warnings {
        outln!(
            "{}",
            output::paint(output::YELLOW, &format!("warning: {warning}"))
        );
    }

    if !p.desired.transformer_summaries.is_empty() {
        outln!();
        output::print_transformer_summaries(&p.desired.transformer_summaries);
    }

    if !p.transformations.is_empty() {
        outln!();
        outln!("{}", output::paint(output::BOLD, "Transformations:"));
        for t in p.transformations {
            outln!("  {}", printable(&t.object));
            for change in &t.changes {
                outln!("    {}", output::paint(output::CYAN, change));
            }
        }
    }

    outln!();
    outln!("{}", output::paint(output::BOLD, "Plan:"));
    print_steps(p);
    for error in p.rejected {
        outln!(
            "{}",
            output::paint(output::RED, &format!("server dry-run: {error}"))
        );
    }

    outln!();
    let summary = p.planned.summary();
    let blocking = p.desired.blocking_violations();
    let (verdict, colour) = if blocking > 0 {
        (
            format!("BLOCKED: {blocking} error-severity violation(s); a sync would apply nothing. {summary}"),
            output::RED,
        )
    } else if let Some(refused) = p.guard {
        (
            format!("REFUSED: a sync would prune nothing: {refused}. {summary}."),
            output::RED,
        )
    } else if summary.prune_refused > 0 {
        (
            format!("REFUSED: a sync would fail, not pruning what would delete objects it does not own. {summary}."),
            output::RED,
        )
    } else if summary.owned_by_another_sync > 0 {
        (
            format!(
                "REFUSED: a sync would fail, not applying what another sync applied. {summary}."
            ),
            output::RED,
        )
    } else if summary.in_sync() {
        (format!("In sync: {summary}."), output::GREEN)
    } else {
        (format!("Changes: {summary}."), output::YELLOW)
    };
    outln!("{}", output::paint(colour, &verdict));
}

/// The plan's objects, in the order a sync applies them: under a heading
/// per phase and wave when the sync has more than one, prunes last.
fn print_steps(p: &Printed<'_>) {
    let ordered = p.schedule.is_ordered();
    let last_wave = p
        .schedule
        .steps
        .iter()
        .rfind(|s| s.id.phase != Phase::Post)
        .map(|s| s.id);
    let heading = |text: String| outln!("{}", output::paint(output::BOLD, &format!("{text}:")));
    let prunes: Vec<&plan::PlannedObject> = p
        .planned
        .objects
        .iter()
        .filter(|o| o.desired.is_none())
        .collect();
    let mut prunes_shown = false;
    for step in &p.schedule.steps {
        if step.id.phase == Phase::Post && !prunes_shown && !prunes.is_empty() {
            heading("prune, after the last wave".to_owned());
            for object in &prunes {
                print_object(object, p.live, &p.desired.origins, p.field_manager, None);
            }
            prunes_shown = true;
        }
        if ordered {
            heading(step_heading(step.id, last_wave));
        }
        for (&index, policy) in step.objects.iter().zip(&step.delete_policies) {
            let object = &p.planned.objects[index];
            let note = (step.id.phase.is_hook() && !policy.is_empty())
                .then(|| format!("delete-policy: {policy}"));
            print_object(object, p.live, &p.desired.origins, p.field_manager, note);
        }
    }
    if !prunes_shown && !prunes.is_empty() {
        if ordered {
            heading("prune, after the last wave".to_owned());
        }
        for object in prunes {
            print_object(object, p.live, &p.desired.origins, p.field_manager, None);
        }
    }
}

/// What a step's heading says about when it runs.
fn step_heading(step: StepId, last_wave: Option<StepId>) -> String {
    match step.phase {
        Phase::Setup => format!("{step}: first, for every step to use"),
        Phase::Pre => {
            format!("{step}: runs when the sync changes anything, must be healthy before the waves")
        }
        Phase::Post => format!("{step}: runs after every wave is healthy and the prune"),
        Phase::Main if Some(step) == last_wave => format!("{step}"),
        Phase::Main => format!("{step}: must be healthy before the next wave is applied"),
    }
}

/// Print one object's line, then `note` (a phase object's delete policy),
/// then what changes.
fn print_object(
    object: &plan::PlannedObject,
    live: &Live,
    origins: &BTreeMap<ObjectKey, crate::render::Origin>,
    field_manager: &str,
    note: Option<String>,
) {
    let origin = output::origin_of(origins, &object.key)
        .map(|o| format!("  ({o})"))
        .unwrap_or_default();
    let (mark, word, colour) = match &object.action {
        Action::Create => ("+", "create", output::GREEN),
        Action::Update {
            reason: UpdateReason::GitChanged,
        } => ("~", "update", output::YELLOW),
        Action::Update {
            reason: UpdateReason::Adopt,
        } => ("~", "adopt", output::YELLOW),
        Action::Unchanged => ("=", "unchanged", output::DIM),
        Action::Drifted(_) => ("!", "drifted", output::RED),
        Action::Prune => ("-", "prune", output::RED),
        Action::Orphan => ("?", "orphan", output::CYAN),
        Action::OwnershipChanged { .. } => ("?", "not ours", output::CYAN),
        Action::Terminating => ("x", "terminating", output::DIM),
        Action::Immutable { .. } => ("!", "immutable", output::RED),
        Action::KeptAdopted => ("?", "adopted", output::CYAN),
        Action::PruneRefused { .. } => ("!", "refused", output::RED),
        Action::Unserved => ("?", "unserved", output::CYAN),
        Action::OwnedByAnotherSync { .. } => ("!", "refused", output::RED),
        Action::Lost { .. } => ("?", "lost", output::CYAN),
    };
    outln!(
        "{}{}",
        output::paint(colour, &format!("{mark} {word:<9} {}", object.key)),
        output::paint(output::DIM, &origin)
    );
    let indent = "      ";
    if let Some(note) = note {
        outln!("{indent}{}", output::paint(output::DIM, &note));
    }
    let live_object = live.get(&object.key);
    let desired = object.desired.as_ref().map(plan::Manifest::value);
    match (&object.action, &desired) {
        (Action::Create, Some(desired)) => {
            let shown = if output::is_secret(desired) {
                output::mask_secret(desired, None)
            } else {
                desired.clone()
            };
            for line in output::yaml(&shown).lines() {
                outln!(
                    "{indent}{}",
                    output::paint(output::GREEN, &format!("+ {line}"))
                );
            }
        }
        (Action::Update { .. }, Some(desired)) => {
            let desired = &plan::fields::stored_form(desired).into_owned();
            let projected = live_object.map(|l| output::project_applied(desired, l, field_manager));
            let (desired, projected) = if output::is_secret(desired) {
                (
                    output::mask_secret(desired, projected.as_ref()),
                    projected.as_ref().map(|l| output::mask_secret(l, None)),
                )
            } else {
                (desired.clone(), projected)
            };
            let old = projected.map(|l| output::yaml(&l)).unwrap_or_default();
            let new = output::yaml(&desired);
            output::print_diff(&output::diff(&old, &new), indent);
        }
        (Action::Drifted(drift), desired) => {
            if drift.deleted {
                outln!("{indent}deleted from the cluster");
            }
            let secret = desired.as_ref().is_some_and(output::is_secret);
            for change in &drift.changes {
                let show = |v: &Option<Value>| match v {
                    _ if secret => "(hidden)".to_owned(),
                    Some(v) => v.to_string(),
                    None => "(absent)".to_owned(),
                };
                let mut line = format!(
                    "{}: live {}, desired {}",
                    change.path,
                    show(&change.live),
                    show(&change.desired)
                );
                if !change.taken_over_by.is_empty() {
                    line.push_str(&format!(
                        " (taken over by {})",
                        change.taken_over_by.join(", ")
                    ));
                }
                outln!("{indent}{}", output::paint(output::RED, &line));
            }
        }
        (Action::OwnershipChanged { reason }, _) => {
            outln!("{indent}{}: not pruned", printable(reason));
        }
        (Action::Immutable { changes }, _) => {
            for change in changes {
                let desired = change
                    .desired
                    .as_ref()
                    .map_or_else(|| "(absent)".to_owned(), Value::to_string);
                let live = change
                    .live
                    .as_ref()
                    .map_or_else(|| "(absent)".to_owned(), Value::to_string);
                let line = format!(
                    "{}: live {live}, desired {desired}: immutable, the API server keeps it; \
                     delete the object so the next sync creates it again",
                    change.path
                );
                outln!("{indent}{}", output::paint(output::RED, &line));
            }
        }
        (Action::KeptAdopted, _) => outln!(
            "{indent}adopted, not pruned: it existed before this sync applied it; \
             set spec.pruneGuard.pruneAdopted: true to prune it"
        ),
        (Action::PruneRefused { reason }, _) => {
            outln!("{indent}{}", output::paint(output::RED, reason));
        }
        (Action::OwnedByAnotherSync { owner }, _) => {
            let line = format!(
                "applied by sync {owner:?}, not this one: a sync would not apply it and fail \
                 (list {owner:?} in takeOver.syncs to take it over)"
            );
            outln!("{indent}{}", output::paint(output::RED, &line));
        }
        (Action::Lost { owner }, _) => {
            outln!(
                "{indent}taken over by sync {owner:?}: a sync would not apply it \
                 (list {owner:?} in takeOver.syncs to take it back)"
            );
        }
        (Action::Unserved, _) => outln!(
            "{indent}{} {} is no longer served (nor any other version of it): \
             it cannot be checked or pruned",
            object.api_version,
            object.key.kind
        ),
        _ => {}
    }
}
