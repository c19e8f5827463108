//! The controller: Plumbline running inside the cluster (`plumbline
//! controller`).
//!
//! Each `SyncUnit` custom resource ([`crd`]) is reconciled with the same
//! [`crate::reconcile::reconcile`] the CLI runs, driven by kube-runtime's
//! controller: on spec changes, on an interval (Git poll), on a Git push
//! webhook, and on watch events of the objects a sync manages, so drift is
//! remediated in seconds rather than at the next interval.
//!
//! | module | job | IO |
//! |---|---|---|
//! | [`cleanup`] | a deleted SyncUnit's objects and inventory → deleted (the prune finalizer) | yes |
//! | [`claim`] | a sync name in a registered cluster claimed for one controller, so two never prune each other's | yes (one ConfigMap in the target) |
//! | [`clusters`] | registered target clusters: registration Secrets → pooled connections, rotated when the Secret changes | yes (Secrets, probes) |
//! | [`remote`] | a SyncUnit with `spec.cluster`: its connection and reconcile slot, or why it has none | yes (status, Events) |
//! | [`crd`] | the custom resources as Rust types (CRDs generated from them) | no |
//! | [`sync_unit`] | SyncUnit (+ ClusterSyncPolicies) → sync and policy set | yes (Secret, module download, Git) |
//! | [`values_from`] | a chart's `valuesFrom` → the ConfigMaps' and Secrets' values, handed to render | yes (ConfigMaps, Secrets) |
//! | [`status`] | status conditions from a reconcile's outcome | no |
//! | [`events`] | Kubernetes Events from a reconcile's outcome | yes (Events) |
//! | [`reconciler`] | one reconcile of one SyncUnit: suspend, dependsOn, status, backoff | yes |
//! | [`drift_watch`] | watches of managed objects → noticed changes | yes (watches) |
//! | [`repair`] | one noticed object → repaired against the last reconcile's baseline, or a full reconcile | yes (apply, status) |
//! | [`runner`] | the kube-runtime controller loop with every trigger; graceful shutdown | yes |
//! | [`shard`] | which sync units this replica owns (hash range or label) | no |
//! | [`leader`] | leader election with a Lease; `watch` of "am I leading" | yes (one Lease) |
//! | [`metrics`] | Prometheus metrics from reconcile reports | no |
//! | [`webhook`] | Git push webhook: HMAC signature, payload, affected units | no |
//! | [`install`] | the manifests that install the controller (CRDs, RBAC, Deployment) | no |
//! | [`target_install`] | the manifests a target cluster needs for a controller elsewhere (identity, least-privilege roles) | no |
//! | [`fleet`] | SyncUnitSets: one SyncUnit stamped per registered cluster a selector matches | yes (SyncUnits) |
//! | [`http`] | `/healthz`, `/readyz`, `/metrics`, `POST /hooks/git` | yes (TCP) |
//! | [`process`] | the controller process: client, leader election, HTTP server, runner, graceful shutdown (what `plumbline controller` runs) | yes |

pub mod claim;
pub mod cleanup;
pub mod clusters;
pub mod crd;
pub mod drift_watch;
pub mod events;
pub mod fleet;
pub mod http;
pub mod install;
pub mod leader;
pub mod metrics;
pub mod process;
pub mod reconciler;
pub mod remote;
pub mod repair;
pub mod runner;
pub mod shard;
pub mod status;
pub mod sync_unit;
pub mod target_install;
pub mod values_from;
pub mod webhook;
