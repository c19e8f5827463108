//! The Helm options of every pipeline command (`--values`, `--set`,
//! `--release-name`, `--namespace`, `--kube-version`, `--api-versions`), for a chart directory as SOURCE or a
//! sync whose source is a chart (docs/helm.md).

use std::path::{Path, PathBuf};

use crate::reconcile::SyncUnit;
use crate::render::helm::{HelmSpec, CHART_FILE};

/// Helm options of `render`, `validate`, `plan` and `sync`.
#[derive(Debug, Clone, Default, clap::Args)]
#[command(next_help_heading = "Helm charts (SOURCE a chart directory, or a sync of one)")]
pub struct HelmArgs {
    /// A values file (repeatable; later wins), after the sync's own values.
    #[arg(long = "values", short = 'f', value_name = "FILE")]
    pub values: Vec<PathBuf>,
    /// A value as with `helm --set` (repeatable), e.g. `image.tag=v2`.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// The release name (default: the sync's name; for a chart directory,
    /// the directory's name).
    #[arg(long, value_name = "NAME")]
    pub release_name: Option<String>,
    /// The release namespace, also given to namespaced objects that name
    /// none (default: the sync's target namespace).
    #[arg(long, value_name = "NS")]
    pub namespace: Option<String>,
    /// `.Capabilities.KubeVersion` for the chart, e.g. `1.36.0`.
    #[arg(long, value_name = "VERSION")]
    pub kube_version: Option<String>,
    /// An API version for `.Capabilities.APIVersions` (repeatable), e.g.
    /// `monitoring.coreos.com/v1`.
    #[arg(long = "api-versions", value_name = "GROUP/VERSION")]
    pub api_versions: Vec<String>,
}

impl HelmArgs {
    fn given(&self) -> bool {
        !self.values.is_empty()
            || !self.set.is_empty()
            || self.release_name.is_some()
            || self.namespace.is_some()
            || self.kube_version.is_some()
            || !self.api_versions.is_empty()
    }

    /// Apply the options to `unit`: a SOURCE directory holding a
    /// `Chart.yaml` is a chart; the options refine the sync's `helm`. A
    /// chart directory given alone (`bare_directory`) is read by itself,
    /// not with the rest of its Git work tree: a chart reaches nothing
    /// outside its directory.
    pub fn apply(
        &self,
        source: &str,
        bare_directory: bool,
        unit: &mut SyncUnit,
    ) -> anyhow::Result<()> {
        let is_chart = Path::new(source).join(CHART_FILE).is_file();
        let spec = &mut unit.config.spec;
        if is_chart && bare_directory {
            spec.source.url = std::path::absolute(source)?.display().to_string();
            spec.source.path = String::new();
        }
        let names_a_chart = spec.source.helm.is_some() || spec.source.chart.is_some();
        if !is_chart && !names_a_chart {
            if self.given() {
                anyhow::bail!(
                    "--values, --set, --release-name, --namespace, --kube-version and --api-versions are for Helm charts; \
                     {source} is not a chart directory (no {CHART_FILE}) and its sync renders no chart"
                );
            }
            return Ok(());
        }
        let helm = spec.source.helm.get_or_insert_with(HelmSpec::default);
        helm.local_values_files.extend(
            self.values
                .iter()
                .map(|f| std::path::absolute(f).unwrap_or_else(|_| f.clone())),
        );
        helm.set.extend(self.set.iter().cloned());
        if let Some(name) = &self.release_name {
            helm.release_name = Some(name.clone());
        }
        if let Some(version) = &self.kube_version {
            helm.kube_version = Some(version.clone());
        }
        helm.api_versions.extend(self.api_versions.iter().cloned());
        if let Some(namespace) = &self.namespace {
            helm.namespace = Some(namespace.clone());
            spec.sync.target_namespace = Some(namespace.clone());
        }
        Ok(())
    }
}
