//! What a chart sees of the cluster it is rendered for: its version
//! (`.Capabilities.KubeVersion`, helm's `--kube-version`) and the API
//! versions it serves (`.Capabilities.APIVersions`, `--api-versions`),
//! read from the API server the way Argo CD passes them to `helm template`.
//!
//! IO: [`Capabilities::discover`] asks the API server (`/version`, and
//! aggregated discovery of `/api` and `/apis`, or one request per group
//! version where the server has no aggregated discovery).

use kube::discovery::Discovery;
use sha2::{Digest, Sha256};

/// The target cluster's version and served API versions.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Capabilities {
    /// The server's version as it reports it (`gitVersion`, e.g. `v1.36.0`).
    pub kube_version: String,
    /// Every served group/version (`v1`, `apps/v1`) and group/version/Kind
    /// (`v1/ConfigMap`, `apps/v1/Deployment`), sorted, each once.
    pub api_versions: Vec<String>,
}

impl Capabilities {
    /// Ask the API server of `client` for its version and what it serves.
    pub async fn discover(client: &kube::Client) -> Result<Capabilities, kube::Error> {
        let version = client.apiserver_version().await?;
        let discovery = match Discovery::new(client.clone()).run_aggregated().await {
            Ok(discovery) => discovery,
            Err(_) => Discovery::new(client.clone()).run().await?,
        };
        let mut api_versions = Vec::new();
        for group in discovery.groups() {
            for version in group.versions() {
                let group_version = match group.name() {
                    "" => version.to_owned(),
                    name => format!("{name}/{version}"),
                };
                for (resource, _) in group.versioned_resources(version) {
                    api_versions.push(format!("{group_version}/{}", resource.kind));
                }
                api_versions.push(group_version);
            }
        }
        api_versions.sort();
        api_versions.dedup();
        Ok(Capabilities {
            kube_version: version.git_version,
            api_versions,
        })
    }

    /// A digest of both, so that a render that saw other capabilities is
    /// not taken for this one.
    pub fn digest(&self) -> String {
        let mut hasher = Sha256::new();
        for part in std::iter::once(&self.kube_version).chain(&self.api_versions) {
            hasher.update((part.len() as u64).to_le_bytes());
            hasher.update(part);
        }
        hex::encode(hasher.finalize())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_digest_tells_versions_and_api_versions_apart() {
        let of = |version: &str, apis: &[&str]| {
            Capabilities {
                kube_version: version.to_owned(),
                api_versions: apis.iter().map(|s| (*s).to_owned()).collect(),
            }
            .digest()
        };
        assert_eq!(of("v1.36.0", &["v1"]), of("v1.36.0", &["v1"]));
        assert_ne!(of("v1.36.0", &["v1"]), of("v1.36.1", &["v1"]));
        assert_ne!(of("v1.36.0", &["v1"]), of("v1.36.0", &["v1", "x.dev/v1"]));
        assert_ne!(of("v1.36.0", &["v1ab"]), of("v1.36.0v1", &["ab"]));
    }
}
