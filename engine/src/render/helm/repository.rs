//! HTTP(S) chart repositories (`helm repo add` kind): Plumbline reads the
//! repository's `index.yaml`, picks the highest version of the chart that
//! matches the constraint ([`super::version`]), downloads its archive (or
//! takes it from the [`ArchiveCache`]), checks it against the index's
//! `digest`, and unpacks it ([`chart_tree`]).
//!
//! IO: HTTP GETs through reqwest (rustls with the engine's `ring`
//! provider), under one deadline for the whole fetch, with size caps on
//! the index and the archive; basic authentication when given, sent to
//! the repository's own host only (as Helm does without
//! `--pass-credentials`).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;

use super::chart_fetch::{chart_tree, ArchiveCache, Error, ResolvedChart};
use super::version;
use crate::source::Tree;
use crate::text::error_chain;

/// The largest `index.yaml` read (large public repositories have indexes
/// of tens of MiB).
pub const MAX_INDEX_BYTES: u64 = 64 << 20;
/// The largest chart archive read.
pub const MAX_ARCHIVE_BYTES: u64 = 64 << 20;

/// A chart of an HTTP(S) repository, as a sync names it.
#[derive(Debug, Clone)]
pub struct RepositoryChart {
    /// The repository's URL (`https://charts.example.com`), where
    /// `index.yaml` is.
    pub url: String,
    /// The chart's name in the index.
    pub chart: String,
    /// A version or constraint (`6.14.1`, `>=6 <7`); `None`: the highest
    /// stable version.
    pub version: Option<String>,
    /// User name and password for HTTP basic authentication.
    pub account: Option<(String, String)>,
    /// The deadline of the whole fetch.
    pub timeout: Duration,
}

impl RepositoryChart {
    /// `chart NAME (version V) from URL`, as errors begin.
    fn subject(&self) -> String {
        match &self.version {
            Some(version) => format!(
                "chart {} (version {version:?}) from {}",
                self.chart, self.url
            ),
            None => format!("chart {} from {}", self.chart, self.url),
        }
    }
}

/// `index.yaml`, as far as Plumbline reads it.
#[derive(Debug, Deserialize)]
struct Index {
    #[serde(default)]
    entries: BTreeMap<String, Vec<Entry>>,
}

/// One chart version of the index.
#[derive(Debug, Clone, Deserialize)]
struct Entry {
    version: String,
    #[serde(default)]
    urls: Vec<String>,
    #[serde(default)]
    digest: Option<String>,
}

/// Fetch the chart: resolve its version in the index, then its archive
/// (from `cache` when kept), verified against the index's digest.
pub async fn fetch(
    wanted: &RepositoryChart,
    cache: &ArchiveCache,
) -> Result<(ResolvedChart, Tree), Error> {
    let subject = wanted.subject();
    let fetching = async {
        let base = base_url(&wanted.url).map_err(|message| Error::Invalid {
            subject: subject.clone(),
            message,
        })?;
        let client = client(wanted.timeout).map_err(|message| Error::Unreachable {
            subject: subject.clone(),
            message,
        })?;
        let index_url = base.join("index.yaml").expect("a relative path joins");
        let text = get(&client, &index_url, &base, wanted, MAX_INDEX_BYTES)
            .await
            .map_err(|message| Error::Unreachable {
                subject: subject.clone(),
                message: format!("{index_url}: {message}"),
            })?;
        let entry = pick(&text, wanted, &subject)?;
        let resolved_subject = format!(
            "chart {} {} from {}",
            wanted.chart, entry.version, wanted.url
        );
        let digest = index_digest(&entry).map_err(|message| Error::Invalid {
            subject: resolved_subject.clone(),
            message,
        })?;
        let archive = match cache.get(&digest) {
            Some(archive) => archive,
            None => {
                let archive =
                    download(&client, &base, &entry, wanted)
                        .await
                        .map_err(|message| Error::Unreachable {
                            subject: resolved_subject.clone(),
                            message,
                        })?;
                let actual = crate::oci::digest_of(&archive);
                if actual != digest {
                    return Err(Error::DigestMismatch {
                        subject: resolved_subject,
                        expected: digest,
                        actual,
                    });
                }
                cache.put(&digest, &archive);
                archive
            }
        };
        let tree = chart_tree(&archive).map_err(|message| Error::Invalid {
            subject: resolved_subject,
            message,
        })?;
        let resolved = ResolvedChart {
            name: wanted.chart.clone(),
            version: entry.version,
            digest,
            repository: wanted.url.clone(),
        };
        Ok((resolved, tree))
    };
    tokio::time::timeout(wanted.timeout, fetching)
        .await
        .map_err(|_| Error::Timeout {
            subject: subject.clone(),
            after: wanted.timeout,
        })?
}

/// The index's entry of the version `wanted` resolves to.
fn pick(index: &[u8], wanted: &RepositoryChart, subject: &str) -> Result<Entry, Error> {
    let index: Index = serde_yaml::from_slice(index).map_err(|e| Error::Invalid {
        subject: subject.to_owned(),
        message: format!("index.yaml is not a chart repository index: {e}"),
    })?;
    let Some(entries) = index.entries.get(&wanted.chart) else {
        let listed: Vec<&str> = index.entries.keys().take(20).map(String::as_str).collect();
        return Err(Error::ChartNotFound {
            subject: subject.to_owned(),
            chart: wanted.chart.clone(),
            listed: listed.join(", "),
        });
    };
    let versions = entries.iter().map(|e| e.version.as_str());
    let no_match = |message: String| Error::NoMatchingVersion {
        subject: subject.to_owned(),
        message,
    };
    let picked = version::highest_matching(wanted.version.as_deref(), versions)
        .map_err(no_match)?
        .ok_or_else(|| {
            let listed: Vec<&str> = entries
                .iter()
                .take(20)
                .map(|e| e.version.as_str())
                .collect();
            no_match(format!(
                "no version matches {} (the index has: {})",
                wanted
                    .version
                    .as_deref()
                    .map_or("a stable version".to_owned(), |v| format!("{v:?}")),
                listed.join(", ")
            ))
        })?;
    Ok(entries
        .iter()
        .find(|e| e.version == picked)
        .expect("picked from these entries")
        .clone())
}

/// `sha256:<hex>` of the index's `digest` (hex, as `helm repo index`
/// writes it); an entry without one is refused: nothing could vouch for
/// the archive.
fn index_digest(entry: &Entry) -> Result<String, String> {
    let digest = entry
        .digest
        .as_deref()
        .ok_or("the repository's index gives no digest for this version, so its archive cannot be verified")?;
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(format!("the index's digest {digest:?} is not a sha256"));
    }
    Ok(format!("sha256:{}", hex.to_ascii_lowercase()))
}

/// Download the entry's archive: its first URL, relative to the
/// repository or absolute.
async fn download(
    client: &reqwest::Client,
    base: &reqwest::Url,
    entry: &Entry,
    wanted: &RepositoryChart,
) -> Result<Vec<u8>, String> {
    let first = entry
        .urls
        .first()
        .ok_or("the repository's index gives no URL for this version")?;
    let url = base
        .join(first)
        .map_err(|e| format!("the index's URL {first:?}: {e}"))?;
    get(client, &url, base, wanted, MAX_ARCHIVE_BYTES)
        .await
        .map_err(|message| format!("{url}: {message}"))
}

/// GET `url`, at most `limit` bytes; credentials only to the repository's
/// own scheme, host and port.
async fn get(
    client: &reqwest::Client,
    url: &reqwest::Url,
    base: &reqwest::Url,
    wanted: &RepositoryChart,
    limit: u64,
) -> Result<Vec<u8>, String> {
    let mut request = client.get(url.clone());
    if let Some((username, password)) = &wanted.account {
        if url.origin() == base.origin() {
            request = request.basic_auth(username, Some(password));
        }
    }
    let mut response = request
        .send()
        .await
        .and_then(reqwest::Response::error_for_status)
        .map_err(|e| error_chain(&e))?;
    let too_large = || format!("larger than the limit of {limit} bytes");
    if response.content_length().is_some_and(|n| n > limit) {
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| error_chain(&e))? {
        if (bytes.len() + chunk.len()) as u64 > limit {
            return Err(too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// The repository URL as a base for relative URLs (with a final `/`).
fn base_url(url: &str) -> Result<reqwest::Url, String> {
    let with_slash = format!("{}/", url.trim_end_matches('/'));
    let parsed =
        reqwest::Url::parse(&with_slash).map_err(|e| format!("invalid repository URL: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err("a chart repository URL is https:// or http://".to_owned());
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(
            "the repository URL contains credentials: give them as credentials instead".to_owned(),
        );
    }
    Ok(parsed)
}

/// A client with the deadline as connect and request timeout, kept per
/// deadline for the life of the process (building one loads TLS roots).
fn client(timeout: Duration) -> Result<reqwest::Client, String> {
    static CLIENTS: std::sync::OnceLock<
        std::sync::Mutex<std::collections::HashMap<Duration, reqwest::Client>>,
    > = std::sync::OnceLock::new();
    let clients = CLIENTS.get_or_init(Default::default);
    if let Some(client) = clients.lock().expect("not poisoned").get(&timeout) {
        return Ok(client.clone());
    }
    let _ = rustls::crypto::ring::default_provider().install_default();
    let built = reqwest::Client::builder()
        .connect_timeout(timeout)
        .timeout(timeout)
        .user_agent(concat!("plumbline/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| error_chain(&e))?;
    clients
        .lock()
        .expect("not poisoned")
        .insert(timeout, built.clone());
    Ok(built)
}

#[cfg(test)]
mod tests {
    use super::*;

    const INDEX: &str = "apiVersion: v1\nentries:\n  demo:\n  - name: demo\n    version: 1.1.0\n    \
        urls: [demo-1.1.0.tgz]\n    digest: ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef0123456789\n  \
        - name: demo\n    version: 1.0.0\n    urls: [demo-1.0.0.tgz]\n  other: []\n";

    fn wanted(chart: &str, version: Option<&str>) -> RepositoryChart {
        RepositoryChart {
            url: "https://charts.example.com".into(),
            chart: chart.into(),
            version: version.map(str::to_owned),
            account: None,
            timeout: Duration::from_secs(1),
        }
    }

    #[test]
    fn the_index_resolves_the_constraint_to_one_entry() {
        let entry = pick(INDEX.as_bytes(), &wanted("demo", Some("^1")), "s").unwrap();
        assert_eq!(entry.version, "1.1.0");
        assert_eq!(
            index_digest(&entry).unwrap(),
            "sha256:abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789"
        );
        let exact = pick(INDEX.as_bytes(), &wanted("demo", Some("1.0.0")), "s").unwrap();
        assert!(index_digest(&exact).unwrap_err().contains("no digest"));
    }

    #[test]
    fn a_missing_chart_or_version_names_what_there_is() {
        let missing = pick(INDEX.as_bytes(), &wanted("nginx", None), "s").unwrap_err();
        assert!(
            missing
                .to_string()
                .contains("no chart \"nginx\" (it has: demo, other)"),
            "{missing}"
        );
        let none = pick(INDEX.as_bytes(), &wanted("demo", Some(">=2")), "s").unwrap_err();
        assert!(
            none.to_string()
                .contains("no version matches \">=2\" (the index has: 1.1.0, 1.0.0)"),
            "{none}"
        );
        let garbage = pick(b"[", &wanted("demo", None), "s").unwrap_err();
        assert_eq!(garbage.reason(), "InvalidChart");
    }

    #[test]
    fn repository_urls_are_http_without_credentials() {
        assert_eq!(
            base_url("https://charts.example.com/stable")
                .unwrap()
                .as_str(),
            "https://charts.example.com/stable/"
        );
        assert!(base_url("ftp://x").is_err());
        assert!(base_url("https://u:p@x")
            .unwrap_err()
            .contains("credentials"));
    }
}
