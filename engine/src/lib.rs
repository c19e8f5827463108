//! Plumbline: a GitOps reconciliation engine whose decisions are made by
//! sandboxed WebAssembly policies.
//!
//! The crate is laid out as the pipeline it runs. Each stage is a module with a
//! narrow, data-in/data-out interface:
//!
//! | stage | module | does IO |
//! |---|---|---|
//! | fetch the desired state from Git | [`source`] | yes (Git, cache directory) |
//! | turn files into objects | [`render`] | no |
//! | run WebAssembly policies | [`policy`] | no (sandboxed guests) |
//! | compare desired with live, find drift, order | [`plan`] | no |
//! | judge readiness of live objects | [`health`] | no |
//! | execute a plan: server-side apply, prune, read live state | [`apply`] | yes (Kubernetes API) |
//!
//! [`reconcile`] runs the whole pipeline once for a sync, described by a
//! [`spec::SyncConfig`] (`plumbline.yaml` or the controller's resource).
//! [`controller`] runs it in the cluster for every `SyncUnit` resource, on
//! spec changes, intervals, Git pushes and drift of managed objects.
//! [`object`] holds the IO-free types every stage shares.

pub mod allocator;
pub mod apply;
#[cfg(feature = "cli")]
pub mod cli;
#[cfg(feature = "controller")]
pub mod controller;
pub mod health;
pub mod object;
pub mod oci;
pub mod parallel;
pub mod plan;
pub mod policy;
pub mod reconcile;
pub mod render;
pub mod source;
pub mod spec;
pub mod text;
pub mod yaml;
