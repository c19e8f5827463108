//! Chart dependencies that are not vendored under `charts/` but name an
//! HTTP(S) chart repository or an OCI registry (`Chart.yaml`'s
//! `dependencies`, with the exact versions of `Chart.lock` when there is
//! one, as `helm dependency build` reads them): fetched by Plumbline with
//! the code of a chart source ([`repository::fetch`], [`oci_chart`]) —
//! digest-checked, cached by digest, unpacked within bounds — and put
//! under the chart's `charts/<name>/` before helm runs, so helm needs no
//! network.
//!
//! A dependency already under `charts/` (a directory or a `.tgz` of its
//! name), or without a repository, or with a `file://` one, is left to
//! helm. A repository named by its `helm repo add` name (`@stable`,
//! `alias:stable`) is refused: Plumbline has no repository list, give its
//! URL.

use std::time::Duration;

use serde::Deserialize;

use super::chart_fetch::{ArchiveCache, Error, ResolvedChart};
use super::{oci_chart, repository};
use crate::oci;
use crate::source::Tree;

/// A dependency as `Chart.yaml` and `Chart.lock` list it.
#[derive(Debug, Clone, Deserialize)]
struct Dependency {
    name: String,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    repository: Option<String>,
}

/// The `dependencies` of a `Chart.yaml` or `Chart.lock`.
#[derive(Debug, Default, Deserialize)]
struct Listed {
    #[serde(default)]
    dependencies: Vec<Dependency>,
}

/// How dependencies are fetched.
#[derive(Debug, Clone)]
pub struct Fetch {
    /// Where archives are kept by digest.
    pub cache: ArchiveCache,
    /// The deadline of each dependency's fetch.
    pub timeout: Duration,
    /// How OCI registries are reached (`insecure`, credentials).
    pub oci: oci::Options,
}

/// Fetch the dependencies of the chart at `chart_dir` of `tree` that are
/// not vendored, into `chart_dir/charts/<name>/`. Nothing is changed when
/// one fails.
pub async fn vendor(tree: &mut Tree, chart_dir: &str, fetch: &Fetch) -> Result<(), Error> {
    let chart_dir = chart_dir.trim_matches('/');
    let wanted = missing(tree, chart_dir)?;
    let mut fetched = Vec::with_capacity(wanted.len());
    for (dependency, repository) in wanted {
        let version = dependency.version.as_deref();
        let chart = fetch_chart(
            "chart dependency",
            &dependency.name,
            version,
            &repository,
            fetch,
        )
        .await?;
        fetched.push((dependency, chart));
    }
    for (dependency, (_, files)) in fetched {
        let prefix = join(chart_dir, &format!("charts/{}/", dependency.name));
        for (path, bytes) in files.iter() {
            tree.insert(format!("{prefix}{path}"), bytes.to_vec());
        }
    }
    Ok(())
}

/// The dependencies to fetch, with their repository URLs, the versions
/// of `Chart.lock` taking the place of `Chart.yaml`'s constraints.
fn missing(tree: &Tree, chart_dir: &str) -> Result<Vec<(Dependency, String)>, Error> {
    let read = |file: &str| -> Result<Listed, Error> {
        let Some(bytes) = tree.get(&join(chart_dir, file)) else {
            return Ok(Listed::default());
        };
        serde_yaml::from_slice(bytes).map_err(|e| Error::Invalid {
            subject: format!(
                "chart {:?}",
                if chart_dir.is_empty() { "." } else { chart_dir }
            ),
            message: format!("{file}: not a list of dependencies: {e}"),
        })
    };
    let declared = read(super::CHART_FILE)?.dependencies;
    let locked = read("Chart.lock")?.dependencies;
    let mut wanted = Vec::new();
    for mut dependency in declared {
        let Some(repository) = dependency.repository.clone().filter(|r| !r.is_empty()) else {
            continue;
        };
        if repository.starts_with("file://") || vendored(tree, chart_dir, &dependency.name) {
            continue;
        }
        if repository.starts_with('@') || repository.starts_with("alias:") {
            return Err(Error::Invalid {
                subject: format!("chart dependency {} from {repository}", dependency.name),
                message: "a repository named by its `helm repo add` name; give its URL \
                          (https://… or oci://…) in Chart.yaml"
                    .to_owned(),
            });
        }
        if let Some(lock) = locked
            .iter()
            .find(|l| l.name == dependency.name && l.repository.as_deref() == Some(&repository))
        {
            dependency.version.clone_from(&lock.version);
        }
        wanted.push((dependency, repository));
    }
    Ok(wanted)
}

/// Whether `charts/` holds the dependency: a directory or an archive of
/// its name.
fn vendored(tree: &Tree, chart_dir: &str, name: &str) -> bool {
    let charts = join(chart_dir, "charts/");
    tree.iter().any(|(path, _)| {
        path.strip_prefix(&charts).is_some_and(|rest| {
            rest.starts_with(&format!("{name}/"))
                || (rest.starts_with(&format!("{name}-"))
                    && rest.ends_with(".tgz")
                    && !rest.contains('/'))
        })
    })
}

/// Chart `name` at `version` (a constraint; `None`: the highest stable
/// version) from its HTTP repository or OCI registry `repository`: its
/// files with the chart at the root. `what` begins a registry's errors
/// (`chart dependency`).
pub async fn fetch_chart(
    what: &str,
    name: &str,
    version: Option<&str>,
    repository: &str,
    fetch: &Fetch,
) -> Result<(ResolvedChart, Tree), Error> {
    if !oci::is_oci(repository) {
        let wanted = repository::RepositoryChart {
            url: repository.to_owned(),
            chart: name.to_owned(),
            version: version.map(str::to_owned),
            account: None,
            timeout: fetch.timeout,
        };
        return repository::fetch(&wanted, &fetch.cache).await;
    }
    let subject = match version {
        Some(version) => format!("{what} {name} (version {version:?}) from {repository}"),
        None => format!("{what} {name} from {repository}"),
    };
    let pulling = async {
        let reference = oci_chart::reference(repository, Some(name))?;
        let reference =
            oci_chart::resolve_version(&reference, version.unwrap_or("*"), &fetch.oci).await?;
        oci_chart::pull(&reference, &fetch.oci, &fetch.cache).await
    };
    let pulled = pulling.await.map_err(|error| from_oci(&subject, &error))?;
    match pulled.chart {
        Some(chart) => Ok((chart, pulled.tree)),
        None => Err(Error::Invalid {
            subject,
            message: "the artifact is not a Helm chart".to_owned(),
        }),
    }
}

/// A registry's error as a chart fetch error about `subject`.
fn from_oci(subject: &str, error: &oci::Error) -> Error {
    let subject = subject.to_owned();
    let message = error.to_string();
    match error {
        oci::Error::Timeout { after, .. } => Error::Timeout {
            subject,
            after: *after,
        },
        oci::Error::NoMatchingTag { .. } => Error::NoMatchingVersion { subject, message },
        oci::Error::DigestMismatch {
            expected, actual, ..
        } => Error::DigestMismatch {
            subject,
            expected: expected.clone(),
            actual: actual.clone(),
        },
        other if other.is_retryable() => Error::Unreachable { subject, message },
        _ => Error::Invalid { subject, message },
    }
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_owned()
    } else {
        format!("{dir}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chart(extra: &[(&str, &str)]) -> Tree {
        let mut tree = Tree::new();
        tree.insert(
            "app/Chart.yaml",
            "apiVersion: v2\nname: app\nversion: 1.0.0\ndependencies:\n\
             - {name: redis, version: ^1, repository: https://charts.example.com}\n\
             - {name: common, version: 2.x, repository: oci://reg.example.com/charts}\n\
             - {name: local, version: 1.0.0, repository: file://../local}\n\
             - {name: bare, version: 1.0.0}\n",
        );
        for (path, text) in extra {
            tree.insert(*path, text.as_bytes().to_vec());
        }
        tree
    }

    #[test]
    fn dependencies_with_a_repository_and_not_vendored_are_fetched_at_their_locked_version() {
        let tree = chart(&[(
            "app/Chart.lock",
            "dependencies:\n- {name: redis, version: 1.4.2, repository: https://charts.example.com}\n",
        )]);
        let wanted = missing(&tree, "app").unwrap();
        let names: Vec<(&str, Option<&str>)> = wanted
            .iter()
            .map(|(d, _)| (d.name.as_str(), d.version.as_deref()))
            .collect();
        assert_eq!(names, [("redis", Some("1.4.2")), ("common", Some("2.x"))]);
    }

    #[test]
    fn vendored_dependencies_are_left_to_helm() {
        let tree = chart(&[
            ("app/charts/redis/Chart.yaml", "name: redis\n"),
            ("app/charts/common-2.1.0.tgz", "archive"),
        ]);
        assert!(missing(&tree, "app").unwrap().is_empty());
    }

    #[test]
    fn a_repository_named_by_its_helm_repo_add_name_is_refused() {
        let mut tree = Tree::new();
        tree.insert(
            "Chart.yaml",
            "name: app\nversion: 1.0.0\ndependencies:\n- {name: redis, repository: \"@bitnami\"}\n",
        );
        let error = missing(&tree, "").unwrap_err();
        assert!(error.to_string().contains("give its URL"), "{error}");
    }
}
