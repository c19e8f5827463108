//! Helm charts in OCI registries (`helm push`, `oci://host/charts/podinfo`):
//! an `oci://` source whose artifact has Helm's config media type is read
//! as a chart, any other as manifests ([`crate::oci::bundle`]).
//!
//! IO: through [`crate::oci::fetch`] (one deadline, size caps, every digest
//! checked); the chart archive is kept in the [`ArchiveCache`] by its
//! layer digest, so an unchanged chart is not pulled again.

use super::chart_fetch::{chart_layer, chart_tree, is_chart_artifact, ArchiveCache, ResolvedChart};
use super::version;
use crate::oci::{self, bundle, ArtifactRef, Options};
use crate::source::Tree;

/// What an `oci://` source held.
#[derive(Debug)]
pub struct Pulled {
    /// The manifest digest (`sha256:<hex>`).
    pub digest: String,
    /// The files: the chart at the root, or the manifests.
    pub tree: Tree,
    /// The chart, when the artifact is one.
    pub chart: Option<ResolvedChart>,
}

/// The reference of `url`, with `chart` appended to its repository when
/// given (`oci://host/charts` + `podinfo`, as Argo CD's `repoURL` +
/// `chart`).
pub fn reference(url: &str, chart: Option<&str>) -> oci::Result<ArtifactRef> {
    let Some(chart) = chart else {
        return Ok(url.parse()?);
    };
    let base = url.trim_end_matches('/');
    let path = base
        .strip_prefix(oci::SCHEME)
        .and_then(|rest| rest.split_once('/'))
        .map_or("", |(_, path)| path);
    if path.contains(['@', ':']) {
        return Err(oci::Error::Layout {
            reference: url.to_owned(),
            message: format!(
                "with chart {chart:?}, url names the repository of charts, without tag or digest \
                 (give the version as version)"
            ),
        });
    }
    Ok(format!("{base}/{}", chart.trim_matches('/')).parse()?)
}

/// `reference` at the tag `version` names: the version itself when exact
/// (`+` written `_`, as `helm push` tags it), else the highest tag
/// matching the Helm constraint.
pub async fn resolve_version(
    reference: &ArtifactRef,
    constraint: &str,
    options: &Options,
) -> oci::Result<ArtifactRef> {
    if let Some(exact) = version::exact(constraint) {
        return Ok(reference.at_tag(&exact.to_string().replace('+', "_")));
    }
    let tags = oci::list_tags(reference, options).await?;
    let picked = version::highest_matching(Some(constraint), tags.iter().map(String::as_str))
        .map_err(|message| oci::Error::Layout {
            reference: reference.repository_url(),
            message,
        })?;
    match picked {
        Some(tag) => Ok(reference.at_tag(tag)),
        None => Err(oci::Error::NoMatchingTag {
            reference: reference.repository_url(),
            range: constraint.to_owned(),
            tags: tags.iter().take(20).cloned().collect::<Vec<_>>().join(", "),
        }),
    }
}

/// Pull `reference`: a Helm chart's archive (from `cache` when kept), or a
/// manifests artifact's tar+gzip.
pub async fn pull(
    reference: &ArtifactRef,
    options: &Options,
    cache: &ArchiveCache,
) -> oci::Result<Pulled> {
    let mut cached: Option<Vec<u8>> = None;
    let artifact = oci::fetch(reference, options, |manifest| {
        if !is_chart_artifact(manifest) {
            return bundle::manifests_layer(manifest);
        }
        let layer = chart_layer(manifest)?;
        cached = cache.get(&layer.digest);
        Ok(if cached.is_some() {
            Vec::new()
        } else {
            vec![layer]
        })
    })
    .await?;
    let layout = |message: String| oci::Error::Layout {
        reference: artifact.reference.to_string(),
        message,
    };
    if !is_chart_artifact(&artifact.manifest) {
        let tree = bundle::unpack(&artifact.blobs[0].1, bundle::UnpackLimits::default())
            .map_err(layout)?;
        return Ok(Pulled {
            digest: artifact.digest,
            tree,
            chart: None,
        });
    }
    let archive = match (cached, artifact.blobs.first()) {
        (Some(archive), _) => archive,
        (None, Some((descriptor, archive))) => {
            cache.put(&descriptor.digest, archive);
            archive.clone()
        }
        (None, None) => return Err(layout("the chart layer was not pulled".to_owned())),
    };
    let tree = chart_tree(&archive).map_err(layout)?;
    let (name, version) = name_and_version(&tree).map_err(layout)?;
    Ok(Pulled {
        chart: Some(ResolvedChart {
            name,
            version,
            digest: artifact.digest.clone(),
            repository: reference.repository_url(),
        }),
        digest: artifact.digest,
        tree,
    })
}

/// The `name` and `version` of the chart's `Chart.yaml`.
fn name_and_version(tree: &Tree) -> Result<(String, String), String> {
    let text = tree.get(super::CHART_FILE).unwrap_or_default();
    let metadata: serde_json::Value =
        serde_yaml::from_slice(text).map_err(|e| format!("{}: {e}", super::CHART_FILE))?;
    let field = |name: &str| {
        metadata
            .get(name)
            .and_then(serde_json::Value::as_str)
            .map(str::to_owned)
            .ok_or_else(|| format!("{}: no `{name}`", super::CHART_FILE))
    };
    Ok((field("name")?, field("version")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_chart_name_joins_the_repository_of_charts() {
        let joined = reference("oci://reg.example.com/charts/", Some("podinfo")).unwrap();
        assert_eq!(
            joined.repository_url(),
            "oci://reg.example.com/charts/podinfo"
        );
        let tagged = reference("oci://reg.example.com/charts:v1", Some("podinfo")).unwrap_err();
        assert!(
            tagged.to_string().contains("without tag or digest"),
            "{tagged}"
        );
        assert!(reference("oci://reg.example.com/charts/podinfo:1.0.0", None).is_ok());
        let at_root = reference("oci://reg.example.com", Some("podinfo")).unwrap();
        assert_eq!(at_root.repository_url(), "oci://reg.example.com/podinfo");
    }
}
