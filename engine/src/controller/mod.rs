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
//! | [`crd`] | the custom resources as Rust types (CRDs generated from them) | no |

pub mod crd;
