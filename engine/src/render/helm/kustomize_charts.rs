//! The charts of kustomize `helmCharts` entries that name a `repo` (an
//! HTTP(S) chart repository or an `oci://` registry) and an exact
//! `version` and are not vendored: fetched by Plumbline with the code of
//! a chart source ([`dependencies::fetch_chart`]) — digest-checked,
//! cached by digest, under the same deadline — and put where kustomize
//! pulls them to (`<chartHome>/<name>-<version>/<name>`), with their own
//! un-vendored dependencies, before render; so the render of the
//! kustomization reads only the tree and runs helm without network.

use super::chart_fetch::Error;
use super::dependencies::{self, Fetch};
use super::version;
use crate::render::kustomize::helm_charts_to_pull;
use crate::source::Tree;

/// Fetch the charts the kustomizations a render of `root` reaches ask for
/// and that are not vendored, into `tree`. Nothing is changed when one
/// fails; the error names the kustomization, the chart, its version and
/// where it is pulled from.
pub async fn vendor(tree: &mut Tree, root: &str, fetch: &Fetch) -> Result<(), Error> {
    let wanted = helm_charts_to_pull(tree, root.trim_matches('/'));
    let mut pulled = Tree::new();
    for pull in &wanted {
        let within = format!("kustomization {} helmCharts", pull.kustomization);
        let fetching =
            dependencies::fetch_chart("chart", &pull.name, Some(&pull.version), &pull.repo, fetch);
        let (resolved, mut files) = fetching.await.map_err(|e| e.within(&within))?;
        let same_version = version::exact(&resolved.version) == version::exact(&pull.version);
        if !same_version || resolved.name != pull.name {
            return Err(Error::Invalid {
                subject: format!("{within}: chart {resolved}"),
                message: format!(
                    "asked for chart {} version {}, the archive holds {} {}",
                    pull.name, pull.version, resolved.name, resolved.version
                ),
            });
        }
        dependencies::vendor(&mut files, "", fetch)
            .await
            .map_err(|e| e.within(&within))?;
        for (path, bytes) in files.iter() {
            pulled.insert(format!("{}/{path}", pull.dir), bytes.to_vec());
        }
    }
    for (path, bytes) in pulled.iter() {
        tree.insert(path, bytes.to_vec());
    }
    Ok(())
}
