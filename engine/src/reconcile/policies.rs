//! Loading a sync's policies from its specification.
//!
//! A policy's `module` is either a component file (`.wasm`) or a policy
//! project directory, which is built into a component first with
//! `plumbline-policy-build` (cached: a rebuild without changes only checks
//! timestamps; only with the `policy-build` feature). Paths are relative to
//! the sync configuration.

use std::path::{Path, PathBuf};

use super::{Error, SyncUnit};
use crate::policy::{name_from_path, ComponentSource, PolicyHost, PolicySet, PolicySpec};

/// Load (and, for project directories, build) every policy of a sync, in
/// the configured order.
pub fn load(host: &PolicyHost, unit: &SyncUnit) -> Result<PolicySet, Error> {
    let mut specs = Vec::with_capacity(unit.config.spec.policies.len());
    for policy in &unit.config.spec.policies {
        let path = unit.resolve(&policy.module);
        let component = component_file(&path)?;
        let name = policy.name.clone().unwrap_or_else(|| name_from_path(&path));
        specs.push(
            PolicySpec::new(name, ComponentSource::File(component))
                .settings(policy.settings.clone())
                .limits(policy.limits)
                .fail_open(policy.fail_open)
                .transformer_allowance(policy.allow.clone()),
        );
    }
    host.load_set(specs).map_err(Error::Policy)
}

/// The component for a module path: the file itself, or the build output of
/// a project directory.
fn component_file(path: &Path) -> Result<PathBuf, Error> {
    if path.is_dir() {
        build(path)
    } else {
        Ok(path.to_owned())
    }
}

/// Build the policy project at `path`.
#[cfg(feature = "policy-build")]
fn build(path: &Path) -> Result<PathBuf, Error> {
    let options = plumbline_policy_build::BuildOptions::default();
    let built =
        plumbline_policy_build::build(path, &options).map_err(|source| Error::PolicyBuild {
            project: path.to_owned(),
            source: Box::new(source),
        })?;
    Ok(built.component_path)
}

/// Without the `policy-build` feature, a project directory is refused.
#[cfg(not(feature = "policy-build"))]
fn build(path: &Path) -> Result<PathBuf, Error> {
    Err(Error::PolicyBuild {
        project: path.to_owned(),
        source: "this plumbline was built without the policy-build feature: \
                 give the policy as a built component (.wasm)"
            .into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_files_and_directories() {
        assert_eq!(
            name_from_path(Path::new("p/required-labels")),
            "required-labels"
        );
        assert_eq!(
            name_from_path(Path::new("x/report-only.component.wasm")),
            "report-only"
        );
        assert_eq!(name_from_path(Path::new("y.wasm")), "y");
    }
}
