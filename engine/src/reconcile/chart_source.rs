//! A sync whose source is a chart of an HTTP(S) Helm chart repository
//! (`url` + `chart` + `version`): the chart is fetched and verified by
//! [`repository::fetch`] into the same in-memory tree a Git source gives,
//! with the chart at its root, so it renders through the Helm path. The
//! revision is what the version resolved to: `<version>@sha256:<digest>`.
//!
//! Whatever the source, the dependencies of the chart a sync renders that
//! are not vendored are fetched into its `charts/` the same way
//! ([`dependencies`]), and so are the charts of the kustomize `helmCharts`
//! it renders that name a repository ([`kustomize_charts`]).

use super::desired::Fetched;
use super::{Error, SyncUnit};
use crate::render;
use crate::render::helm::chart_fetch::{self, ArchiveCache};
use crate::render::helm::repository::{self, RepositoryChart};
use crate::render::helm::{dependencies, kustomize_charts};

/// Fetch the sync's chart, with the HTTP credentials of its
/// configuration, keeping archives under `cache_dir/charts`.
pub fn fetch(unit: &SyncUnit, cache_dir: &std::path::Path) -> Result<Fetched, Error> {
    let started = std::time::Instant::now();
    let spec = &unit.config.spec.source;
    let chart = spec.chart.clone().unwrap_or_default();
    let refuse = |message: String| {
        Error::Spec(crate::spec::Error::Invalid {
            file: unit.file.clone(),
            message,
        })
    };
    if !spec.path.trim_matches('/').is_empty() || spec.reference.is_some() {
        return Err(refuse(format!(
            "source.chart {chart:?} is fetched from the chart repository {}: \
             source.path and source.ref name a directory and revision of a Git source",
            spec.url
        )));
    }
    if spec.verify.is_some() || spec.semver.is_some() {
        return Err(refuse(
            "source.verify and source.semver are not read for a chart repository: \
             the index's digest verifies the archive, and source.version picks the version"
                .to_owned(),
        ));
    }
    let source = unit.config.source(&unit.file).map_err(Error::Spec)?;
    let wanted = RepositoryChart {
        url: spec.url.clone(),
        chart,
        version: spec.version.clone(),
        account: source.credentials.http_account(),
        timeout: chart_fetch::timeout(),
    };
    let cache = ArchiveCache::new(cache_dir.join("charts"));
    let (resolved, tree) =
        super::artifact::block_on(repository::fetch(&wanted, &cache))?.map_err(Error::Chart)?;
    Ok(Fetched {
        revision: Some(resolved.revision()),
        tree,
        duration: Some(started.elapsed()),
        verified: Vec::new(),
        chart: Some(resolved),
    })
}

/// Fetch the dependencies of the chart `fetched` holds, when the sync
/// renders one, that are not vendored under its `charts/`: from the HTTP
/// repositories and OCI registries its `Chart.yaml` names (anonymously;
/// over plain HTTP when the sync says `insecure`).
pub fn vendor_dependencies(
    unit: &SyncUnit,
    fetched: &mut Fetched,
    cache_dir: &std::path::Path,
) -> Result<(), Error> {
    let spec = &unit.config.spec.source;
    let path = spec.path.trim_matches('/');
    let chart_dir = if fetched.chart.is_some() { "" } else { path };
    if spec.helm.is_none() && !render::helm::is_chart(&fetched.tree, chart_dir) {
        return Ok(());
    }
    let fetch = chart_fetch(unit, cache_dir);
    let vendoring = dependencies::vendor(&mut fetched.tree, chart_dir, &fetch);
    super::artifact::block_on(vendoring)?.map_err(Error::Chart)?;
    Ok(())
}

/// Fetch the charts of the kustomize `helmCharts` the sync renders that
/// name a `repo` and an exact `version` and are not vendored, to where
/// kustomize pulls them (docs/helm.md), the same way as a chart's
/// dependencies.
pub fn vendor_kustomize_charts(
    unit: &SyncUnit,
    fetched: &mut Fetched,
    cache_dir: &std::path::Path,
) -> Result<(), Error> {
    if fetched.chart.is_some() || !render::kustomize::declares_helm_charts(&fetched.tree) {
        return Ok(());
    }
    let root = unit.config.spec.source.path.trim_matches('/');
    let fetch = chart_fetch(unit, cache_dir);
    let vendoring = kustomize_charts::vendor(&mut fetched.tree, root, &fetch);
    super::artifact::block_on(vendoring)?.map_err(Error::Chart)?;
    Ok(())
}

/// How the charts a sync's render needs are fetched: archives kept under
/// `cache_dir/charts`, anonymously, over plain HTTP from registries when
/// the sync says `insecure`.
fn chart_fetch(unit: &SyncUnit, cache_dir: &std::path::Path) -> dependencies::Fetch {
    dependencies::Fetch {
        cache: ArchiveCache::new(cache_dir.join("charts")),
        timeout: chart_fetch::timeout(),
        oci: crate::oci::Options {
            insecure: unit.config.spec.source.insecure,
            ..crate::oci::Options::default()
        },
    }
}
