//! Registered clusters: the target clusters SyncUnits sync into
//! (`spec.cluster: NAME`), one pooled connection each.
//!
//! A cluster is registered with a Secret in the controller's namespace
//! labelled `plumbline.dev/secret-type: cluster`; the Secret's name is the
//! cluster's name and its other labels are the cluster's labels. Its keys
//! ([`Registration::parse`], no IO but kube's kubeconfig loading):
//!
//! | keys | connection |
//! |---|---|
//! | `kubeconfig` (+ optional `context`) | a kubeconfig whose credentials are inline: no file paths, no `exec` or auth-provider plugins |
//! | `server` + `token` (+ optional `ca.crt`) | an API server URL, a bearer token, and the PEM CA that signs the server's certificate |
//! | `serviceAccount` (optional, either form) | `NAMESPACE/NAME`: every request impersonates that service account of the target |
//!
//! [`Clusters`] keeps one [`Target`] per registration: its client (shared
//! by every SyncUnit of that cluster), the drift watches of that cluster's
//! managed objects, and a bound on the SyncUnits reconciled into it at
//! once. Each [`Clusters::target`] reads the Secret again; when its
//! `resourceVersion` changed (rotated credentials), a new connection
//! replaces the old one and the old one's watches stop. No restart.
//!
//! IO: reads the registration Secrets (management cluster); [`Target::probe`]
//! asks the target's `/version`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use base64::Engine as _;
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::ResourceExt;
use serde_json::json;
use tokio::sync::{mpsc, oneshot, watch, OwnedSemaphorePermit, Semaphore};

use super::drift_watch::DriftWatch;
use super::repair::Noticed;
use crate::text::error_chain;

/// The label that marks a Secret as a cluster registration.
pub const REGISTRATION_LABEL: &str = "plumbline.dev/secret-type";
/// The value of [`REGISTRATION_LABEL`] on a cluster registration.
pub const REGISTRATION_VALUE: &str = "cluster";

/// How long a connection to a target may take before it counts as
/// unreachable.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long [`Target::probe`] waits for the target's answer.
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a SyncUnit cannot reach its cluster. None of these prunes anything.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No registration Secret of that name (never registered, or
    /// deregistered). Retryable: it may be registered again.
    #[error("cluster {name:?} is not registered: no Secret {namespace}/{name} labelled {REGISTRATION_LABEL}={REGISTRATION_VALUE}")]
    NotRegistered {
        /// The cluster.
        name: String,
        /// The controller's namespace, where registrations live.
        namespace: String,
    },
    /// The registration is unusable as written. Not retryable: the Secret
    /// must change (which triggers its SyncUnits).
    #[error("cluster {name:?}: registration Secret {namespace}/{name}: {message}")]
    Invalid {
        /// The cluster.
        name: String,
        /// Where the Secret is.
        namespace: String,
        /// What is wrong.
        message: String,
    },
    /// The target did not answer, or not over TLS it trusts. Retryable.
    #[error("cluster {name:?} is unreachable: {message}")]
    Unreachable {
        /// The cluster.
        name: String,
        /// The connection error.
        message: String,
    },
    /// The target refused the registration's credentials (401 or 403).
    /// Not retryable until the Secret changes.
    #[error("cluster {name:?} refused the registration's credentials: {message}")]
    Rejected {
        /// The cluster.
        name: String,
        /// The API server's answer.
        message: String,
    },
    /// The sync name is claimed in the target by another controller
    /// ([`super::claim`]). Not retryable: one of the SyncUnits must move.
    #[error("cluster {name:?}: the sync {sync} there belongs to another controller ({by}); rename or move one of the two SyncUnits")]
    Claimed {
        /// The cluster.
        name: String,
        /// The sync name.
        sync: String,
        /// The identity of the controller holding the claim.
        by: String,
    },
    /// The registration impersonates a service account of the target and
    /// the SyncUnit names another (`serviceAccountName`). Kubernetes takes
    /// one identity per request, and the registration's (the platform's
    /// choice) is not the SyncUnit's to replace. Not retryable.
    #[error("cluster {name:?}: its registration impersonates {registered}, so the SyncUnit cannot impersonate {wanted} there: remove its serviceAccountName, or register the cluster without serviceAccount")]
    ImpersonationConflict {
        /// The cluster.
        name: String,
        /// The user the registration impersonates.
        registered: String,
        /// The user the SyncUnit's `serviceAccountName` names.
        wanted: String,
    },
    /// Reading the registration Secret from the management cluster
    /// failed. Retryable.
    #[error("reading the registration of cluster {name:?}: {source}")]
    Read {
        /// The cluster.
        name: String,
        /// The client error.
        #[source]
        source: kube::Error,
    },
}

impl Error {
    /// Whether trying again later, unchanged, may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            Error::NotRegistered { .. } | Error::Unreachable { .. } | Error::Read { .. }
        )
    }

    /// A short machine-readable reason, for conditions and Events.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::NotRegistered { .. } => "ClusterNotRegistered",
            Error::Invalid { .. } => "ClusterConfigInvalid",
            Error::Unreachable { .. } => "ClusterUnreachable",
            Error::Rejected { .. } => "ClusterCredentialsRejected",
            Error::Claimed { .. } => "ClaimedByAnotherController",
            Error::ImpersonationConflict { .. } => "ImpersonationConflict",
            Error::Read { .. } => "ApiFailed",
        }
    }
}

/// The result type of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// One cluster registration, parsed.
#[derive(Clone)]
pub struct Registration {
    /// The cluster's name (the Secret's).
    pub name: String,
    /// The Secret's namespace (the controller's).
    pub namespace: String,
    /// The cluster's labels (the Secret's, but the registration label).
    pub labels: BTreeMap<String, String>,
    /// How to reach it (impersonation included).
    pub config: kube::Config,
}

impl Registration {
    /// Parse a registration Secret (see the module docs for its keys).
    pub async fn parse(secret: &Secret) -> Result<Self> {
        let name = secret.name_any();
        let invalid = |message: String| Error::Invalid {
            name: name.clone(),
            namespace: secret.namespace().unwrap_or_default(),
            message,
        };
        let data = secret_data(secret).map_err(invalid)?;
        let text = |key: &str| data.get(key).map(String::as_str);
        let kubeconfig = match (text("kubeconfig"), text("server")) {
            (Some(_), Some(_)) => {
                return Err(invalid(
                    "has both `kubeconfig` and `server`: give one".into(),
                ))
            }
            (Some(kubeconfig), None) => Kubeconfig::from_yaml(kubeconfig)
                .map_err(|e| invalid(format!("key `kubeconfig` does not parse: {e}")))?,
            (None, Some(server)) => {
                from_server(server, text("ca.crt"), text("token")).map_err(invalid)?
            }
            (None, None) => {
                return Err(invalid(
                    "has neither `kubeconfig` nor `server` (+ `token`, `ca.crt`)".into(),
                ))
            }
        };
        check_self_contained(&kubeconfig).map_err(invalid)?;
        let options = KubeConfigOptions {
            context: text("context").map(str::to_owned),
            ..KubeConfigOptions::default()
        };
        let mut config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
            .await
            .map_err(|e| invalid(format!("kubeconfig: {}", error_chain(&e))))?;
        if let Some(account) = text("serviceAccount") {
            let (namespace, account) = account
                .split_once('/')
                .filter(|(ns, sa)| !ns.is_empty() && !sa.is_empty())
                .ok_or_else(|| {
                    invalid(format!(
                        "`serviceAccount` {account:?} is not NAMESPACE/NAME"
                    ))
                })?;
            config.auth_info.impersonate =
                Some(format!("system:serviceaccount:{namespace}:{account}"));
        }
        config.connect_timeout = Some(CONNECT_TIMEOUT);
        let labels = secret
            .labels()
            .iter()
            .filter(|(key, _)| key.as_str() != REGISTRATION_LABEL)
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect();
        Ok(Registration {
            name,
            namespace: secret.namespace().unwrap_or_default(),
            labels,
            config,
        })
    }
}

/// The Secret's `data` and `stringData` as UTF-8 text.
fn secret_data(secret: &Secret) -> std::result::Result<BTreeMap<String, String>, String> {
    let mut data = BTreeMap::new();
    for (key, value) in secret.data.iter().flatten() {
        let text = String::from_utf8(value.0.clone())
            .map_err(|_| format!("key `{key}` is not UTF-8 text"))?;
        data.insert(key.clone(), text);
    }
    for (key, value) in secret.string_data.iter().flatten() {
        data.insert(key.clone(), value.clone());
    }
    Ok(data)
}

/// A kubeconfig of one context from a server URL, CA and bearer token.
fn from_server(
    server: &str,
    ca: Option<&str>,
    token: Option<&str>,
) -> std::result::Result<Kubeconfig, String> {
    let token = token.ok_or("has `server` but no `token`")?;
    let mut cluster = json!({"server": server.trim()});
    if let Some(ca) = ca {
        if !ca.contains("-----BEGIN CERTIFICATE-----") {
            return Err("key `ca.crt` is not a PEM certificate".into());
        }
        cluster["certificate-authority-data"] =
            base64::engine::general_purpose::STANDARD.encode(ca).into();
    }
    let kubeconfig = json!({
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "target", "cluster": cluster}],
        "users": [{"name": "target", "user": {"token": token.trim()}}],
        "contexts": [{"name": "target", "context": {"cluster": "target", "user": "target"}}],
        "current-context": "target",
    });
    serde_json::from_value(kubeconfig).map_err(|e| e.to_string())
}

/// Refuse what would make the controller read its own files or run
/// programs on a registration's behalf.
fn check_self_contained(kubeconfig: &Kubeconfig) -> std::result::Result<(), String> {
    for named in &kubeconfig.clusters {
        let Some(cluster) = &named.cluster else {
            continue;
        };
        if cluster.certificate_authority.is_some() {
            return Err(format!(
                "cluster {:?} names a file (certificate-authority): give certificate-authority-data",
                named.name
            ));
        }
    }
    for named in &kubeconfig.auth_infos {
        let Some(user) = &named.auth_info else {
            continue;
        };
        let refused = [
            (user.token_file.is_some(), "tokenFile"),
            (user.client_certificate.is_some(), "client-certificate"),
            (user.client_key.is_some(), "client-key"),
            (user.exec.is_some(), "exec"),
            (user.auth_provider.is_some(), "auth-provider"),
        ];
        if let Some((_, field)) = refused.iter().find(|(set, _)| *set) {
            return Err(format!(
                "user {:?} uses {field}: only inline credentials (token, client-certificate-data, client-key-data) are accepted",
                named.name
            ));
        }
    }
    Ok(())
}

/// One registered cluster's pooled connection.
pub struct Target {
    /// The registration it was made from.
    pub registration: Registration,
    /// The `resourceVersion` of that registration's Secret.
    version: String,
    client: kube::Client,
    permits: Arc<Semaphore>,
    drift: DriftWatch,
    /// Sync names this connection has claimed ([`super::claim`]).
    claimed: Mutex<HashSet<String>>,
    /// Dropped with the target: stops its drift watches.
    _retire: oneshot::Sender<()>,
}

impl Target {
    /// The cluster's name.
    pub fn name(&self) -> &str {
        &self.registration.name
    }

    /// The client every SyncUnit of this cluster shares.
    pub fn client(&self) -> kube::Client {
        self.client.clone()
    }

    /// A client impersonating `user` on this cluster (a SyncUnit's
    /// `serviceAccountName`); refused when the registration impersonates
    /// an account itself ([`Target::may_impersonate`]).
    pub fn client_as(&self, user: &str) -> Result<kube::Client> {
        self.may_impersonate(user)?;
        let mut config = self.registration.config.clone();
        config.auth_info.impersonate = Some(user.to_owned());
        kube::Client::try_from(config).map_err(|e| Error::Invalid {
            name: self.name().to_owned(),
            namespace: self.registration.namespace.clone(),
            message: format!("impersonating {user}: {}", error_chain(&e)),
        })
    }

    /// `Ok` when a SyncUnit may impersonate `user` on this cluster: when
    /// the registration does not impersonate an account of its own.
    pub fn may_impersonate(&self, user: &str) -> Result<()> {
        match &self.registration.config.auth_info.impersonate {
            Some(registered) => Err(Error::ImpersonationConflict {
                name: self.name().to_owned(),
                registered: registered.clone(),
                wanted: user.to_owned(),
            }),
            None => Ok(()),
        }
    }

    /// The watches of this cluster's managed objects.
    pub fn drift(&self) -> &DriftWatch {
        &self.drift
    }

    /// A slot for one reconcile into this cluster, if one is free.
    pub fn try_permit(&self) -> Option<OwnedSemaphorePermit> {
        self.permits.clone().try_acquire_owned().ok()
    }

    /// Claim `sync` in this cluster's `namespace` for controller `me`,
    /// once per connection ([`super::claim`]).
    pub async fn claim(&self, namespace: &str, sync: &str, me: &str) -> Result<()> {
        if self.claimed().contains(sync) {
            return Ok(());
        }
        super::claim::claim(self, namespace, sync, me).await?;
        self.claimed().insert(sync.to_owned());
        Ok(())
    }

    /// Give up the claim of `sync` (its SyncUnit is deleted).
    pub async fn release(&self, namespace: &str, sync: &str) -> Result<()> {
        super::claim::release(self, namespace, sync).await?;
        self.claimed().remove(sync);
        Ok(())
    }

    fn claimed(&self) -> std::sync::MutexGuard<'_, HashSet<String>> {
        self.claimed.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Ask the target's `/version`: `Ok` when it answers over TLS it trusts
    /// and accepts the credentials.
    pub async fn probe(&self) -> Result<()> {
        let name = self.name().to_owned();
        let answer = tokio::time::timeout(PROBE_TIMEOUT, self.client.apiserver_version()).await;
        match answer {
            Ok(Ok(_)) => Ok(()),
            Err(_) => Err(Error::Unreachable {
                name,
                message: format!("no answer within {PROBE_TIMEOUT:?}"),
            }),
            Ok(Err(kube::Error::Api(status))) if matches!(status.code, 401 | 403) => {
                Err(Error::Rejected {
                    name,
                    message: format!("{} {}: {}", status.code, status.reason, status.message),
                })
            }
            Ok(Err(error)) => Err(Error::Unreachable {
                name,
                message: error_chain(&error),
            }),
        }
    }
}

/// The registered clusters, read from Secrets in the controller's
/// namespace, with one pooled [`Target`] each.
pub struct Clusters {
    client: kube::Client,
    namespace: String,
    per_cluster: usize,
    noticed: mpsc::UnboundedSender<Noticed>,
    shutdown: watch::Receiver<bool>,
    pool: Mutex<HashMap<String, Arc<Target>>>,
    identity: tokio::sync::OnceCell<String>,
}

impl Clusters {
    /// Registrations in `namespace`, read through `client`; at most
    /// `per_cluster` reconciles into one cluster at once; drift notices go
    /// to `noticed` until `shutdown` turns true.
    pub fn new(
        client: kube::Client,
        namespace: &str,
        per_cluster: usize,
        noticed: mpsc::UnboundedSender<Noticed>,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        Clusters {
            client,
            namespace: namespace.to_owned(),
            per_cluster: per_cluster.max(1),
            noticed,
            shutdown,
            pool: Mutex::new(HashMap::new()),
            identity: tokio::sync::OnceCell::new(),
        }
    }

    /// This controller's identity in the claims it makes
    /// ([`super::claim::identity`]), read once.
    pub async fn identity(&self) -> Result<&str> {
        self.identity
            .get_or_try_init(|| super::claim::identity(&self.client, &self.namespace))
            .await
            .map(String::as_str)
            .map_err(|source| Error::Read {
                name: "(controller identity: kube-system Namespace)".into(),
                source,
            })
    }

    /// The namespace registrations live in.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The connection to cluster `name`, from its registration as it is
    /// now: pooled while the Secret is unchanged, rebuilt when it changed,
    /// dropped when it is gone.
    pub async fn target(&self, name: &str) -> Result<Arc<Target>> {
        let api: Api<Secret> = Api::namespaced(self.client.clone(), &self.namespace);
        let secret = api.get_opt(name).await.map_err(|source| Error::Read {
            name: name.to_owned(),
            source,
        })?;
        let registered = secret.filter(|secret| {
            secret.labels().get(REGISTRATION_LABEL).map(String::as_str) == Some(REGISTRATION_VALUE)
        });
        let Some(secret) = registered else {
            self.pool().remove(name);
            return Err(Error::NotRegistered {
                name: name.to_owned(),
                namespace: self.namespace.clone(),
            });
        };
        let version = secret.resource_version().unwrap_or_default();
        if let Some(pooled) = self.pool().get(name).filter(|t| t.version == version) {
            return Ok(pooled.clone());
        }
        let registration = Registration::parse(&secret).await?;
        let target = Arc::new(self.connect(registration, version)?);
        tracing::info!(cluster = %name, "connected to the registered cluster");
        self.pool().insert(name.to_owned(), target.clone());
        Ok(target)
    }

    fn connect(&self, registration: Registration, version: String) -> Result<Target> {
        let client =
            kube::Client::try_from(registration.config.clone()).map_err(|e| Error::Invalid {
                name: registration.name.clone(),
                namespace: self.namespace.clone(),
                message: error_chain(&e),
            })?;
        let (retire, retired) = oneshot::channel();
        let stop = stop_on_either(self.shutdown.clone(), retired);
        let drift = DriftWatch::of_cluster(
            client.clone(),
            self.noticed.clone(),
            stop,
            &registration.name,
        );
        Ok(Target {
            registration,
            version,
            client,
            permits: Arc::new(Semaphore::new(self.per_cluster)),
            drift,
            claimed: Mutex::new(HashSet::new()),
            _retire: retire,
        })
    }

    /// The labels of cluster `name` as its pooled connection was made
    /// with; `None` when it is not connected (yet, or any more).
    pub fn labels(&self, name: &str) -> Option<BTreeMap<String, String>> {
        self.pool()
            .get(name)
            .map(|target| target.registration.labels.clone())
    }

    fn pool(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Target>>> {
        self.pool.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A shutdown signal that turns true when `shutdown` does or when the
/// sender of `retired` is dropped.
fn stop_on_either(
    mut shutdown: watch::Receiver<bool>,
    retired: oneshot::Receiver<()>,
) -> watch::Receiver<bool> {
    let (stop, stopped) = watch::channel(false);
    tokio::spawn(async move {
        tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => {}
            _ = retired => {}
        }
        let _ = stop.send(true);
    });
    stopped
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::ByteString;

    fn secret(data: &[(&str, &str)]) -> Secret {
        Secret {
            metadata: kube::api::ObjectMeta {
                name: Some("east".into()),
                namespace: Some("plumbline-system".into()),
                labels: Some(BTreeMap::from([
                    (REGISTRATION_LABEL.into(), REGISTRATION_VALUE.into()),
                    ("region".into(), "eu".into()),
                ])),
                ..Default::default()
            },
            data: Some(
                data.iter()
                    .map(|(k, v)| (k.to_string(), ByteString(v.as_bytes().to_vec())))
                    .collect(),
            ),
            ..Default::default()
        }
    }

    async fn refusal(data: &[(&str, &str)]) -> String {
        match Registration::parse(&secret(data)).await {
            Ok(_) => panic!("{data:?} was accepted"),
            Err(error) => {
                assert_eq!(error.reason(), "ClusterConfigInvalid");
                error.to_string()
            }
        }
    }

    #[tokio::test]
    async fn a_server_and_token_make_a_connection_that_may_impersonate() {
        let registration = Registration::parse(&secret(&[
            ("server", "https://10.0.0.1:6443"),
            ("token", "abc\n"),
            ("serviceAccount", "plumbline/deployer"),
        ]))
        .await
        .unwrap();
        assert_eq!(registration.name, "east");
        assert_eq!(
            registration.labels,
            BTreeMap::from([("region".to_string(), "eu".to_string())])
        );
        assert_eq!(
            registration.config.cluster_url.to_string(),
            "https://10.0.0.1:6443/"
        );
        assert_eq!(
            registration.config.auth_info.impersonate.as_deref(),
            Some("system:serviceaccount:plumbline:deployer")
        );
        assert_eq!(registration.config.connect_timeout, Some(CONNECT_TIMEOUT));
    }

    #[tokio::test]
    async fn unusable_registrations_say_what_is_wrong() {
        assert!(refusal(&[])
            .await
            .contains("neither `kubeconfig` nor `server`"));
        assert!(refusal(&[("server", "https://x")])
            .await
            .contains("no `token`"));
        assert!(
            refusal(&[("server", "https://x"), ("token", "t"), ("ca.crt", "junk")])
                .await
                .contains("not a PEM certificate")
        );
        assert!(refusal(&[("kubeconfig", "clusters: [")])
            .await
            .contains("`kubeconfig` does not parse"));
        let with_file = "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: 'https://x', certificate-authority: /etc/ca.crt}\nusers:\n- name: u\n  user: {token: t}\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n";
        assert!(refusal(&[("kubeconfig", with_file)])
            .await
            .contains("names a file (certificate-authority)"));
        let with_exec = "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster: {server: 'https://x'}\nusers:\n- name: u\n  user: {exec: {apiVersion: client.authentication.k8s.io/v1, command: /bin/sh}}\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\ncurrent-context: x\n";
        assert!(refusal(&[("kubeconfig", with_exec)])
            .await
            .contains("uses exec"));
        assert!(refusal(&[
            ("server", "https://x"),
            ("token", "t"),
            ("serviceAccount", "nobody")
        ])
        .await
        .contains("not NAMESPACE/NAME"));
    }

    #[tokio::test]
    async fn a_cluster_refusing_connections_is_unreachable_with_each_cause_once() {
        let registration = Registration::parse(&secret(&[
            ("server", "https://127.0.0.1:1"),
            ("token", "abc\n"),
        ]))
        .await
        .unwrap();
        let (noticed, _) = mpsc::unbounded_channel();
        let (_shutdown, shutdown) = watch::channel(false);
        let management = kube::Client::try_from(registration.config.clone()).unwrap();
        let clusters = Clusters::new(management, "plumbline-system", 1, noticed, shutdown);
        let target = clusters.connect(registration, "1".into()).unwrap();
        let error = target.probe().await.unwrap_err();
        assert_eq!(error.reason(), "ClusterUnreachable");
        let message = error.to_string();
        assert!(message.contains("Connection refused"), "{message}");
        let causes: Vec<&str> = message.split(": ").collect();
        for (i, cause) in causes.iter().enumerate() {
            assert!(
                !causes[i + 1..].contains(cause),
                "{cause:?} twice: {message}"
            );
        }
    }
}
