//! Per-object cost of standard policies; prints numbers, asserts nothing.
//!
//! `cargo bench -p plumbline --bench policy_library`
//!
//! Three components from `policies/` (built by the `policy-artifacts`
//! dev-dependency) evaluated through the real policy host over 10,000
//! Deployments of about 650 bytes of JSON each (two containers): `required-labels` and `images-pinned`
//! (validators) and `common-metadata` (a transformer). Each is measured two
//! ways: the whole set in one call (as a sync does it) and in batches of
//! 100 objects (one fresh instance per batch). One in ten objects breaks
//! the validators' rules, so violations are built and returned too.

use std::time::{Duration, Instant};

use plumbline::policy::{
    ComponentSource, EvalContext, HostConfig, LoadedPolicy, PolicyHost, PolicySpec,
};
use serde_json::{json, Value};

const OBJECTS: usize = 10_000;
const BATCH: usize = 100;
const RUNS: usize = 5;

/// Deployment number `i`; every tenth lacks the `team` label and runs an
/// image tagged `latest`.
fn deployment(i: usize) -> Value {
    let bad = i.is_multiple_of(10);
    let mut labels = json!({"app.kubernetes.io/name": format!("web-{i}")});
    if !bad {
        labels["team"] = json!("storefront");
    }
    let image = if bad {
        format!("registry.example.com/web-{i}:latest")
    } else {
        format!("registry.example.com/web-{i}:1.2.{}", i % 50)
    };
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": format!("web-{i}"), "namespace": "shop", "labels": labels},
        "spec": {
            "replicas": 3,
            "selector": {"matchLabels": {"app": format!("web-{i}")}},
            "template": {
                "metadata": {"labels": {"app": format!("web-{i}")}},
                "spec": {"containers": [
                    {"name": "web", "image": image,
                     "ports": [{"containerPort": 8080}],
                     "resources": {"requests": {"cpu": "100m", "memory": "128Mi"},
                                   "limits": {"cpu": "500m", "memory": "256Mi"}},
                     "env": [{"name": "MODE", "value": "production"},
                             {"name": "LOG_LEVEL", "value": "info"}]},
                    {"name": "sidecar", "image": "registry.example.com/proxy:2.0.1"}
                ]}
            }
        }
    })
}

/// The median of `RUNS` timings of `f`.
fn median(mut f: impl FnMut()) -> Duration {
    let mut samples: Vec<Duration> = (0..RUNS)
        .map(|_| {
            let start = Instant::now();
            f();
            start.elapsed()
        })
        .collect();
    samples.sort();
    samples[RUNS / 2]
}

fn per_object(total: Duration) -> String {
    format!(
        "{:>7.2} µs/object",
        total.as_secs_f64() * 1e6 / OBJECTS as f64
    )
}

fn load(host: &PolicyHost, name: &str, path: &str, settings: Value) -> LoadedPolicy {
    let start = Instant::now();
    let policy = host
        .load(PolicySpec::new(name, ComponentSource::File(path.into())).settings(settings))
        .expect("load");
    println!("{name}: loaded (compiled) in {:.2?}", start.elapsed());
    policy
}

fn main() {
    let host = PolicyHost::new(HostConfig {
        compiler: Some(env!("CARGO_BIN_EXE_plumbline").into()),
        ..HostConfig::default()
    })
    .expect("host");
    let ctx = EvalContext::default();
    let objects: Vec<Value> = (0..OBJECTS).map(deployment).collect();
    let bytes: usize = objects.iter().map(|o| o.to_string().len()).sum();
    println!(
        "{OBJECTS} Deployments, {:.0} bytes of JSON each on average; median of {RUNS} runs\n",
        bytes as f64 / OBJECTS as f64
    );

    let validators = [
        load(
            &host,
            "required-labels",
            policy_artifacts::REQUIRED_LABELS,
            json!({"labels": ["team", "app.kubernetes.io/name"],
                   "valuePattern": {"team": "[a-z]+(-[a-z]+)*"}}),
        ),
        load(
            &host,
            "images-pinned",
            policy_artifacts::IMAGES_PINNED,
            json!({}),
        ),
    ];
    for policy in &validators {
        let found = policy
            .validate(&objects, &ctx)
            .expect("validate")
            .value
            .len();
        let whole = median(|| {
            policy.validate(&objects, &ctx).expect("validate");
        });
        let batched = median(|| {
            for batch in objects.chunks(BATCH) {
                policy.validate(batch, &ctx).expect("validate");
            }
        });
        println!(
            "{:<16} validate  one call: {}  ({:.0?} total)   batches of {BATCH}: {}  ({found} violations)",
            policy.name(),
            per_object(whole),
            whole,
            per_object(batched),
        );
    }

    let transformer = load(
        &host,
        "common-metadata",
        policy_artifacts::COMMON_METADATA,
        json!({"labels": {"team": "payments", "app.kubernetes.io/part-of": "shop"},
               "annotations": {"example.com/owner": "payments@example.com"}}),
    );
    let whole = median(|| {
        transformer.transform(&objects, &ctx).expect("transform");
    });
    let batched = median(|| {
        for batch in objects.chunks(BATCH) {
            transformer.transform(batch, &ctx).expect("transform");
        }
    });
    println!(
        "{:<16} transform one call: {}  ({:.0?} total)   batches of {BATCH}: {}",
        transformer.name(),
        per_object(whole),
        whole,
        per_object(batched),
    );
}
