//! Charts Plumbline fetches itself, before helm runs: from an HTTP(S)
//! chart repository ([`repository`](super::repository)) or an OCI registry
//! (the Helm chart media types, read by [`crate::oci`]).
//!
//! In: the chart's archive (`.tgz`) and the digest the repository vouches
//! for. Out: the chart's files as a [`Tree`] with `Chart.yaml` at its root,
//! which [`super::render`] renders like a chart directory of a Git source,
//! and the [`ResolvedChart`] (name, version, digest) that plan, status and
//! provenance record.
//!
//! IO: archives are kept on disk by digest ([`ArchiveCache`]), so a chart
//! version is downloaded once; what is read from the cache is checked
//! against its digest again. Unpacking is bounded and takes regular files
//! only, with relative paths that stay inside the archive
//! ([`crate::oci::bundle::unpack`]).

use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::oci::bundle::{self, UnpackLimits};
use crate::oci::{Descriptor, Manifest};
use crate::source::Tree;

/// The config media type of a Helm chart in an OCI registry.
pub const HELM_CONFIG: &str = "application/vnd.cncf.helm.config.v1+json";
/// The layer media type of a Helm chart's archive in an OCI registry.
pub const HELM_CHART_LAYER: &str = "application/vnd.cncf.helm.chart.content.v1.tar+gzip";

/// The deadline of fetching one chart (index and archive): 120 s, or
/// `$PLUMBLINE_CHART_TIMEOUT` in seconds.
pub fn timeout() -> Duration {
    std::env::var("PLUMBLINE_CHART_TIMEOUT")
        .ok()
        .and_then(|s| s.parse::<f64>().ok())
        .filter(|s| *s > 0.0)
        .map_or(Duration::from_secs(120), Duration::from_secs_f64)
}

/// The chart a sync's version constraint resolved to: what plan, status
/// and provenance record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ResolvedChart {
    /// The chart's name (`podinfo`).
    pub name: String,
    /// The version picked (`6.14.1`).
    pub version: String,
    /// `sha256:<hex>`: of the archive for an HTTP repository (the index's
    /// `digest`), of the manifest for an OCI registry.
    pub digest: String,
    /// Where it came from: the repository URL, or `oci://host/repository`.
    pub repository: String,
}

impl ResolvedChart {
    /// The sync's revision: `<version>@sha256:<hex>`, the shape of an OCI
    /// artifact's `<tag>@<digest>`.
    pub fn revision(&self) -> String {
        format!("{}@{}", self.version, self.digest)
    }
}

impl std::fmt::Display for ResolvedChart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} from {} ({})",
            self.name, self.version, self.repository, self.digest
        )
    }
}

/// Why a chart could not be fetched. Every message names the repository,
/// the chart and the version (asked for, or resolved).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// The repository could not be reached, or answered with an error.
    /// Retryable.
    #[error("{subject}: {message}")]
    Unreachable {
        /// `chart NAME (version V) from URL`.
        subject: String,
        /// What failed.
        message: String,
    },
    /// The repository did not answer completely within the deadline.
    /// Retryable.
    #[error("{subject}: no complete answer from the repository within {after:?}")]
    Timeout {
        /// `chart NAME (version V) from URL`.
        subject: String,
        /// The deadline.
        after: Duration,
    },
    /// The repository's index lists no chart of that name.
    #[error("{subject}: the repository's index has no chart {chart:?} (it has: {listed})")]
    ChartNotFound {
        /// `chart NAME (version V) from URL`.
        subject: String,
        /// The chart's name.
        chart: String,
        /// Some of the charts it lists.
        listed: String,
    },
    /// No version of the chart matches the constraint (or the constraint
    /// does not parse).
    #[error("{subject}: {message}")]
    NoMatchingVersion {
        /// `chart NAME (version V) from URL`.
        subject: String,
        /// What matched nothing, and the versions there are.
        message: String,
    },
    /// The archive does not have the digest the repository gives for it.
    #[error("{subject}: the archive has digest {actual}, the repository's index says {expected}")]
    DigestMismatch {
        /// `chart NAME VERSION from URL`.
        subject: String,
        /// The index's digest.
        expected: String,
        /// The downloaded archive's digest.
        actual: String,
    },
    /// The index, or the archive, is not what a chart repository serves
    /// (not YAML, no digest, too large, not a chart archive).
    #[error("{subject}: {message}")]
    Invalid {
        /// `chart NAME (version V) from URL`.
        subject: String,
        /// What is wrong.
        message: String,
    },
}

impl Error {
    /// A short machine-readable reason, for conditions and metrics.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::Unreachable { .. } => "ChartRepositoryFailed",
            Error::Timeout { .. } => "ChartRepositoryTimeout",
            Error::ChartNotFound { .. } => "ChartNotFound",
            Error::NoMatchingVersion { .. } => "NoMatchingChartVersion",
            Error::DigestMismatch { .. } => "ChartDigestMismatch",
            Error::Invalid { .. } => "InvalidChart",
        }
    }

    /// Whether trying again later, unchanged, may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, Error::Unreachable { .. } | Error::Timeout { .. })
    }

    /// The same error, its subject prefixed by where the chart was asked
    /// for (`kustomization app/kustomization.yaml helmCharts`).
    pub fn within(mut self, context: &str) -> Self {
        let subject = match &mut self {
            Error::Unreachable { subject, .. }
            | Error::Timeout { subject, .. }
            | Error::ChartNotFound { subject, .. }
            | Error::NoMatchingVersion { subject, .. }
            | Error::DigestMismatch { subject, .. }
            | Error::Invalid { subject, .. } => subject,
        };
        *subject = format!("{context}: {subject}");
        self
    }
}

/// The files of a chart archive with the chart at the root: Helm's
/// archives hold one top directory (`podinfo/Chart.yaml`), which is
/// taken away. Bounded as [`bundle::unpack`]; `Err` says what is wrong.
pub fn chart_tree(archive: &[u8]) -> Result<Tree, String> {
    let unpacked = bundle::unpack(archive, UnpackLimits::default())
        .map_err(|e| format!("not a chart archive: {e}"))?;
    let mut top: Option<&str> = None;
    let mut tree = Tree::new();
    for (path, bytes) in unpacked.iter() {
        let (dir, rest) = path
            .split_once('/')
            .filter(|(_, rest)| !rest.is_empty())
            .ok_or_else(|| {
                format!("not a chart archive: {path} is not in the chart's directory")
            })?;
        if *top.get_or_insert(dir) != dir {
            return Err(format!(
                "not a chart archive: it holds two directories, {} and {dir}",
                top.unwrap_or_default()
            ));
        }
        tree.insert(rest, bytes.to_vec());
    }
    if tree.get(super::CHART_FILE).is_none() {
        return Err(format!(
            "not a chart archive: no {} in its directory",
            super::CHART_FILE
        ));
    }
    Ok(tree)
}

/// Whether an OCI manifest is a Helm chart's (its config media type).
pub fn is_chart_artifact(manifest: &Manifest) -> bool {
    manifest.config.media_type == HELM_CONFIG
}

/// The chart archive layer of a Helm chart's OCI manifest: exactly one.
pub fn chart_layer(manifest: &Manifest) -> Result<Descriptor, String> {
    let mut layers = manifest
        .layers
        .iter()
        .filter(|l| l.media_type == HELM_CHART_LAYER);
    match (layers.next(), layers.next()) {
        (Some(layer), None) => Ok(layer.clone()),
        (None, _) => Err(format!(
            "a Helm chart artifact without a {HELM_CHART_LAYER} layer"
        )),
        (Some(_), Some(_)) => Err(format!(
            "a Helm chart artifact with several {HELM_CHART_LAYER} layers"
        )),
    }
}

/// Chart archives on disk, by the sha256 of their bytes
/// (`<dir>/<hex>.tgz`).
#[derive(Debug, Clone)]
pub struct ArchiveCache {
    dir: PathBuf,
}

impl ArchiveCache {
    /// The cache in `dir` (created at the first write).
    pub fn new(dir: PathBuf) -> Self {
        ArchiveCache { dir }
    }

    /// The archive of `digest` (`sha256:<hex>`), if it is kept and still
    /// has that digest.
    pub fn get(&self, digest: &str) -> Option<Vec<u8>> {
        let bytes = std::fs::read(self.file(digest)?).ok()?;
        (crate::oci::digest_of(&bytes) == digest).then_some(bytes)
    }

    /// Keep `bytes` (whose digest was checked) under `digest`. A cache
    /// that cannot be written costs a download next time, nothing else.
    pub fn put(&self, digest: &str, bytes: &[u8]) {
        let Some(file) = self.file(digest) else {
            return;
        };
        let partial = file.with_extension(format!("partial-{}", std::process::id()));
        let written = std::fs::create_dir_all(&self.dir)
            .and_then(|()| std::fs::write(&partial, bytes))
            .and_then(|()| std::fs::rename(&partial, &file));
        if let Err(error) = written {
            let _ = std::fs::remove_file(&partial);
            tracing::warn!(
                "chart archive {digest} not cached in {}: {error}",
                self.dir.display()
            );
        }
    }

    fn file(&self, digest: &str) -> Option<PathBuf> {
        let hex = digest.strip_prefix("sha256:")?;
        let valid = hex.len() == 64 && hex.bytes().all(|b| b.is_ascii_hexdigit());
        valid.then(|| self.dir.join(format!("{}.tgz", hex.to_ascii_lowercase())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(files: &[(&str, &str)]) -> Vec<u8> {
        let mut tree = Tree::new();
        for (path, text) in files {
            tree.insert(*path, text.as_bytes().to_vec());
        }
        bundle::pack(&tree)
    }

    #[test]
    fn a_chart_archive_unpacks_with_the_chart_at_the_root() {
        let packed = archive(&[
            ("demo/Chart.yaml", "name: demo\nversion: 1.0.0\n"),
            ("demo/templates/a.yaml", "kind: ConfigMap\n"),
        ]);
        let tree = chart_tree(&packed).unwrap();
        assert!(tree.get("Chart.yaml").is_some() && tree.get("templates/a.yaml").is_some());
        assert_eq!(tree.len(), 2);
    }

    #[test]
    fn archives_that_are_not_one_chart_are_refused() {
        let two = archive(&[("a/Chart.yaml", "x"), ("b/Chart.yaml", "y")]);
        assert!(chart_tree(&two).unwrap_err().contains("two directories"));
        let flat = archive(&[("Chart.yaml", "x")]);
        assert!(chart_tree(&flat)
            .unwrap_err()
            .contains("not in the chart's directory"));
        let no_chart = archive(&[("demo/values.yaml", "x")]);
        assert!(chart_tree(&no_chart).unwrap_err().contains("no Chart.yaml"));
        assert!(chart_tree(b"not gzip").is_err());
    }

    #[test]
    fn the_cache_returns_only_what_still_has_its_digest() {
        let dir = tempfile::tempdir().unwrap();
        let cache = ArchiveCache::new(dir.path().join("charts"));
        let digest = crate::oci::digest_of(b"chart");
        assert_eq!(cache.get(&digest), None);
        cache.put(&digest, b"chart");
        assert_eq!(cache.get(&digest).as_deref(), Some(&b"chart"[..]));
        let file = dir
            .path()
            .join("charts")
            .join(format!("{}.tgz", &digest[7..]));
        std::fs::write(file, b"tampered").unwrap();
        assert_eq!(cache.get(&digest), None);
        assert_eq!(cache.get("sha256:../../etc/passwd"), None);
    }
}
