//! Leader election with a `coordination.k8s.io/v1` Lease.
//!
//! Several replicas of the same shard may run for availability; only the
//! one holding the Lease reconciles. The algorithm is client-go's
//! `leaderelection`:
//!
//! - A candidate reads the Lease. It takes it when there is none, when the
//!   holder is empty (released), or when the record has not changed for the
//!   lease duration *as measured on the candidate's own clock* since it
//!   first saw that record (no comparison of clocks between machines).
//! - The holder renews every retry period. A write carries the
//!   `resourceVersion` it read, so of two racing candidates only one wins.
//! - A holder that has not renewed successfully for the renew deadline
//!   (shorter than the lease duration) stops leading on its own, before any
//!   other candidate can consider the Lease expired: exactly at the
//!   deadline, as an attempt that gets no answer is abandoned then (so a
//!   hanging API server cannot keep a replica leading) and failed attempts
//!   are retried no later than the deadline.
//! - On shutdown the holder releases the Lease (empty holder), so another
//!   replica takes over at its next attempt rather than after expiry.
//!
//! In: a `kube::Client` and [`Options`]. Out: a
//! `tokio::sync::watch::Receiver<bool>` that is `true` while this replica
//! leads. IO: reads and writes one Lease.

use std::future::Future;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, PostParams};
use kube::Client;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// How to elect.
#[derive(Debug, Clone)]
pub struct Options {
    /// The Lease's namespace (the controller's own).
    pub namespace: String,
    /// The Lease's name; replicas of one shard share it.
    pub name: String,
    /// This replica's identity, unique among the candidates (the pod name).
    pub identity: String,
    /// How long a Lease stays valid without renewal.
    pub lease_duration: Duration,
    /// How long the leader keeps leading without a successful renewal;
    /// shorter than `lease_duration`.
    pub renew_deadline: Duration,
    /// How often to try to acquire or renew.
    pub retry_period: Duration,
}

impl Options {
    /// client-go's defaults: 15 s lease, 10 s renew deadline, 2 s retry.
    pub fn new(namespace: &str, name: &str, identity: &str) -> Self {
        Options {
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            identity: identity.to_owned(),
            lease_duration: Duration::from_secs(15),
            renew_deadline: Duration::from_secs(10),
            retry_period: Duration::from_secs(2),
        }
    }
}

/// Errors of one election attempt. All are retryable: the elector tries
/// again after the retry period.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Reading, creating or updating the Lease failed.
    #[error("lease {namespace}/{name}: {source}")]
    Api {
        /// The Lease's namespace.
        namespace: String,
        /// The Lease's name.
        name: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// Another replica wrote the Lease between this replica's read and
    /// write.
    #[error("lease {namespace}/{name}: changed by another replica during the update")]
    Conflict {
        /// The Lease's namespace.
        namespace: String,
        /// The Lease's name.
        name: String,
    },
    /// The API server did not answer an attempt in time (before the renew
    /// deadline, for a leader).
    #[error("lease {namespace}/{name}: no answer within {after:?}")]
    Timeout {
        /// The Lease's namespace.
        namespace: String,
        /// The Lease's name.
        name: String,
        /// How long the attempt waited.
        after: Duration,
    },
}

impl Error {
    /// A short machine-readable reason, for metrics and logs.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::Api { .. } => "LeaseApiError",
            Error::Conflict { .. } => "LeaseConflict",
            Error::Timeout { .. } => "LeaseTimeout",
        }
    }
}

/// Results of this module.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// The Lease record as last seen, and when (on this replica's clock).
#[derive(Debug)]
struct Observed {
    holder: Option<String>,
    renew_time: Option<MicroTime>,
    transitions: Option<i32>,
    at: Instant,
}

/// One candidate for the Lease.
pub struct Elector {
    api: Api<Lease>,
    options: Options,
    observed: Option<Observed>,
}

impl Elector {
    /// A candidate; nothing is read or written yet.
    pub fn new(client: Client, options: Options) -> Self {
        Elector {
            api: Api::namespaced(client, &options.namespace),
            options,
            observed: None,
        }
    }

    /// One attempt: create, take over or renew the Lease. `Ok(true)` when
    /// this replica holds it afterwards, `Ok(false)` when another replica
    /// holds a valid Lease or won the race to create it.
    pub async fn try_acquire_or_renew(&mut self) -> Result<bool> {
        let now = Instant::now();
        let Some(lease) = self
            .api
            .get_opt(&self.options.name)
            .await
            .map_err(|e| self.api_error(e))?
        else {
            return self.create().await;
        };
        let spec = lease.spec.clone().unwrap_or_default();
        let changed = self.observed.as_ref().is_none_or(|seen| {
            seen.holder != spec.holder_identity
                || seen.renew_time != spec.renew_time
                || seen.transitions != spec.lease_transitions
        });
        if changed {
            self.observed = Some(Observed {
                holder: spec.holder_identity.clone(),
                renew_time: spec.renew_time.clone(),
                transitions: spec.lease_transitions,
                at: now,
            });
        }
        let holder = spec.holder_identity.as_deref().unwrap_or("");
        let ours = holder == self.options.identity;
        if !ours && !holder.is_empty() {
            let duration = spec
                .lease_duration_seconds
                .and_then(|s| u64::try_from(s).ok())
                .map_or(self.options.lease_duration, Duration::from_secs);
            let seen_at = self.observed.as_ref().map_or(now, |seen| seen.at);
            if now.duration_since(seen_at) < duration {
                return Ok(false);
            }
        }
        let stamp = MicroTime(Timestamp::now());
        let next = LeaseSpec {
            holder_identity: Some(self.options.identity.clone()),
            lease_duration_seconds: Some(self.duration_seconds()),
            acquire_time: if ours {
                spec.acquire_time.clone()
            } else {
                Some(stamp.clone())
            },
            renew_time: Some(stamp),
            lease_transitions: if ours {
                spec.lease_transitions
            } else {
                Some(spec.lease_transitions.unwrap_or(0) + 1)
            },
            ..spec
        };
        self.update(lease, next).await?;
        Ok(true)
    }

    /// Give the Lease up if this replica holds it: empty holder, so the
    /// next candidate takes it at once.
    pub async fn release(&mut self) -> Result<()> {
        let Some(lease) = self
            .api
            .get_opt(&self.options.name)
            .await
            .map_err(|e| self.api_error(e))?
        else {
            return Ok(());
        };
        let spec = lease.spec.clone().unwrap_or_default();
        if spec.holder_identity.as_deref() != Some(self.options.identity.as_str()) {
            return Ok(());
        }
        let next = LeaseSpec {
            holder_identity: None,
            lease_duration_seconds: Some(1),
            renew_time: Some(MicroTime(Timestamp::now())),
            ..spec
        };
        self.update(lease, next).await
    }

    /// Run the election until `shutdown` completes, publishing whether this
    /// replica leads; then stop leading and release the Lease.
    pub async fn run(mut self, leading: watch::Sender<bool>, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut last_renewal: Option<Instant> = None;
        loop {
            // A renewal counts from when it was sent (the write happened
            // at some point after), which errs on the side of stepping
            // down early.
            let sent = Instant::now();
            let attempt = self.attempt(last_renewal).await;
            let now = Instant::now();
            let leads = match attempt {
                Ok(true) => {
                    last_renewal = Some(sent);
                    true
                }
                Ok(false) => {
                    last_renewal = None;
                    false
                }
                Err(error) => {
                    let within = last_renewal
                        .is_some_and(|at| now.duration_since(at) < self.options.renew_deadline);
                    tracing::warn!(
                        lease = %self.options.name,
                        identity = %self.options.identity,
                        reason = error.reason(),
                        leading = within,
                        "leader election: {error}"
                    );
                    if !within {
                        last_renewal = None;
                    }
                    within
                }
            };
            leading.send_if_modified(|current| {
                let changed = *current != leads;
                if changed {
                    tracing::info!(
                        lease = %self.options.name,
                        identity = %self.options.identity,
                        "leader election: {}",
                        if leads { "started leading" } else { "stopped leading" }
                    );
                }
                *current = leads;
                changed
            });
            // A leader whose renewals fail tries again no later than its
            // renew deadline; that attempt gets no time, fails, and so it
            // stops leading at the deadline, not up to a retry period after.
            let pause = match last_renewal {
                Some(at) => self
                    .options
                    .retry_period
                    .min(self.options.renew_deadline.saturating_sub(at.elapsed())),
                None => self.options.retry_period,
            };
            tokio::select! {
                () = tokio::time::sleep(pause) => {}
                () = &mut shutdown => break,
            }
        }
        leading.send_replace(false);
        if let Err(error) = self.release().await {
            tracing::warn!(lease = %self.options.name, "leader election: releasing: {error}");
        }
    }

    /// One [`Elector::try_acquire_or_renew`], given up when it has not
    /// finished by the renew deadline of the last successful renewal (or
    /// within the renew deadline when not leading).
    async fn attempt(&mut self, last_renewal: Option<Instant>) -> Result<bool> {
        let allowed = match last_renewal {
            Some(at) => self.options.renew_deadline.saturating_sub(at.elapsed()),
            None => self.options.renew_deadline,
        };
        match tokio::time::timeout(allowed, self.try_acquire_or_renew()).await {
            Ok(attempt) => attempt,
            Err(_) => Err(Error::Timeout {
                namespace: self.options.namespace.clone(),
                name: self.options.name.clone(),
                after: allowed,
            }),
        }
    }

    /// Start [`Elector::run`] on the current Tokio runtime. The receiver is
    /// `true` while this replica leads.
    pub fn spawn(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> (watch::Receiver<bool>, JoinHandle<()>) {
        let (sender, receiver) = watch::channel(false);
        let handle = tokio::spawn(self.run(sender, shutdown));
        (receiver, handle)
    }

    async fn create(&mut self) -> Result<bool> {
        let stamp = MicroTime(Timestamp::now());
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(self.options.name.clone()),
                namespace: Some(self.options.namespace.clone()),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(self.options.identity.clone()),
                lease_duration_seconds: Some(self.duration_seconds()),
                acquire_time: Some(stamp.clone()),
                renew_time: Some(stamp),
                lease_transitions: Some(0),
                ..LeaseSpec::default()
            }),
        };
        match self.api.create(&PostParams::default(), &lease).await {
            Ok(_) => Ok(true),
            Err(kube::Error::Api(status)) if status.is_already_exists() => Ok(false),
            Err(error) => Err(self.api_error(error)),
        }
    }

    async fn update(&mut self, mut lease: Lease, spec: LeaseSpec) -> Result<()> {
        lease.spec = Some(spec);
        // `lease` still carries the resourceVersion it was read at.
        match self
            .api
            .replace(&self.options.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => Ok(()),
            Err(kube::Error::Api(status)) if status.is_conflict() => Err(Error::Conflict {
                namespace: self.options.namespace.clone(),
                name: self.options.name.clone(),
            }),
            Err(error) => Err(self.api_error(error)),
        }
    }

    fn duration_seconds(&self) -> i32 {
        i32::try_from(self.options.lease_duration.as_secs().max(1)).unwrap_or(i32::MAX)
    }

    fn api_error(&self, source: kube::Error) -> Error {
        Error::Api {
            namespace: self.options.namespace.clone(),
            name: self.options.name.clone(),
            source,
        }
    }
}
