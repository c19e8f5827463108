//! The Kubernetes client configuration, found the way `kubectl` finds it:
//! a kubeconfig file (and context) when given, else `$KUBECONFIG`,
//! `~/.kube/config` or the in-cluster service account. Used by
//! [`super::Cluster::connect`] and by the controller, which builds its own
//! clients (and impersonating ones) from it.

use std::path::Path;

use kube::config::{KubeConfigOptions, Kubeconfig};

use super::{Error, Result};

/// The client configuration for `kubeconfig` and `context`.
pub async fn client_config(
    kubeconfig: Option<&Path>,
    context: Option<&str>,
) -> Result<kube::Config> {
    let options = KubeConfigOptions {
        context: context.map(str::to_owned),
        ..KubeConfigOptions::default()
    };
    let connect = |e: &dyn std::fmt::Display| Error::Connect(e.to_string());
    match kubeconfig {
        Some(path) => {
            let file = Kubeconfig::read_from(path)
                .map_err(|e| Error::Connect(format!("{}: {e}", path.display())))?;
            kube::Config::from_custom_kubeconfig(file, &options)
                .await
                .map_err(|e| connect(&e))
        }
        None if context.is_some() => kube::Config::from_kubeconfig(&options)
            .await
            .map_err(|e| connect(&e)),
        None => kube::Config::infer().await.map_err(|e| connect(&e)),
    }
}
