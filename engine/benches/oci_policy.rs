//! Policies from an OCI registry: what a cold pull + compile costs, and
//! what the cached path costs; prints numbers, asserts nothing.
//!
//! `cargo bench -p plumbline --bench oci_policy`
//!
//! Against a real registry on loopback (Debian's docker-registry, started
//! by `tests/registry`), with the standard `required-labels` validator:
//!
//! - **cold**: an empty artifact cache and an empty compile cache: resolve
//!   the tag, pull manifest and layer (digests checked), write the cache,
//!   and load the component in a new host (cranelift compiles it);
//! - **cached, by tag**: both caches warm, a new host: one `HEAD` resolves
//!   the tag, the component comes from the artifact cache, the compiled
//!   code from the compile cache;
//! - **cached, by digest**: the same with the reference pinned by digest:
//!   no request at all.
//!
//! Each row is the median of a few runs (each cold run with fresh caches).

use std::path::Path;
use std::time::{Duration, Instant};

use plumbline::oci::{self, policy, ArtifactRef};
use plumbline::policy::{ComponentSource, HostConfig, PolicyHost, PolicySpec};

const RUNS: usize = 5;

fn main() {
    let Some(registry) = registry::Registry::start_or_skip(registry::Options::default()) else {
        return;
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let options = oci::Options {
        insecure: true,
        ..oci::Options::default()
    };
    let component = std::fs::read(policy_artifacts::REQUIRED_LABELS).unwrap();
    let size = component.len();
    let by_tag: ArtifactRef = format!("oci://{}/bench/required-labels:v1", registry.host())
        .parse()
        .unwrap();
    let digest = runtime
        .block_on(policy::push_policy(&by_tag, component, &options))
        .unwrap();
    let by_digest = by_tag.pinned(&digest);
    let by_digest = ArtifactRef {
        tag: None,
        ..by_digest
    };

    // One pull + load, as `plumbline` does it for an `oci://` module.
    let pull_and_load = |reference: &ArtifactRef, artifacts: &Path, compiled: &Path| {
        let started = Instant::now();
        let pulled = runtime
            .block_on(policy::pull_cached(reference, &options, artifacts, None))
            .unwrap();
        let host = PolicyHost::new(HostConfig {
            cache_dir: Some(compiled.to_owned()),
            compiler: Some(env!("CARGO_BIN_EXE_plumbline").into()),
            ..HostConfig::default()
        })
        .unwrap();
        let spec = PolicySpec::new("required-labels", ComponentSource::File(pulled.component))
            .settings(serde_json::json!({"labels": ["team"]}));
        host.load(spec).unwrap();
        started.elapsed()
    };

    let mut cold = Vec::new();
    let warm = tempfile::tempdir().unwrap();
    for run in 0..RUNS {
        let fresh = tempfile::tempdir().unwrap();
        // The last cold run leaves its caches for the cached rows.
        let dir = if run + 1 == RUNS {
            warm.path()
        } else {
            fresh.path()
        };
        cold.push(pull_and_load(
            &by_tag,
            &dir.join("oci"),
            &dir.join("compiled"),
        ));
    }
    let cached = |reference: &ArtifactRef| {
        (0..RUNS)
            .map(|_| {
                pull_and_load(
                    reference,
                    &warm.path().join("oci"),
                    &warm.path().join("compiled"),
                )
            })
            .collect::<Vec<_>>()
    };
    let by_tag_runs = cached(&by_tag);
    let by_digest_runs = cached(&by_digest);

    println!("required-labels component: {size} bytes, manifest {digest}");
    println!("{:<36} {:>12}", "path", "median");
    for (name, runs) in [
        ("cold: pull + compile", cold),
        ("cached, by tag (HEAD + caches)", by_tag_runs),
        ("cached, by digest (no request)", by_digest_runs),
    ] {
        println!("{name:<36} {:>12.1?}", median(runs));
    }
}

fn median(mut runs: Vec<Duration>) -> Duration {
    runs.sort();
    runs[runs.len() / 2]
}
