//! Per-object cost of health assessment; prints numbers, asserts nothing.
//!
//! `cargo bench -p plumbline --bench health`
//!
//! 2,000 cert-manager Certificates of about 900 bytes of JSON each (spec
//! and a status with two conditions, a quarter of them failed) judged by
//! the built-in kstatus rules (`health::assess`), and by the standard
//! `cert-manager-health` policy (built by the `policy-artifacts`
//! dev-dependency): on a fresh instance per call (`LoadedPolicy::assess`,
//! one at a time and in one parallel batch: what every health evaluation
//! cost before instances were reused), and through a `health::Assessor`,
//! which reuses each policy's instances for the run — with the live object
//! alone, with the desired object too, and in one batch. A ConfigMap
//! through the same assessor shows what kinds no policy declares cost (the
//! built-in rules plus the lookup). The target: a Rust health policy costs
//! under 20 µs per object more than the built-in rules.

use std::time::{Duration, Instant};

use plumbline::health::{self, Assessor};
use plumbline::policy::{ComponentSource, EvalContext, HostConfig, PolicyHost, PolicySpec};
use serde_json::{json, Value};

const OBJECTS: usize = 2_000;
const RUNS: usize = 5;

/// Certificate number `i` as applied (no status).
fn desired(i: usize) -> Value {
    json!({
        "apiVersion": "cert-manager.io/v1",
        "kind": "Certificate",
        "metadata": {"name": format!("web-{i}"), "namespace": "shop"},
        "spec": {
            "secretName": format!("web-{i}-tls"),
            "dnsNames": [format!("web-{i}.shop.example.com"), format!("www.web-{i}.shop.example.com")],
            "issuerRef": {"name": "letsencrypt", "kind": "ClusterIssuer", "group": "cert-manager.io"},
            "privateKey": {"algorithm": "ECDSA", "size": 256, "rotationPolicy": "Always"},
            "duration": "2160h0m0s",
            "renewBefore": "720h0m0s"
        }
    })
}

/// Certificate number `i` as read back: every fourth failed its issuance.
fn live(i: usize) -> Value {
    let mut object = desired(i);
    object["metadata"]["generation"] = json!(1);
    object["metadata"]["uid"] = json!(format!("3f6b1c2a-0000-4000-8000-{i:012}"));
    object["metadata"]["resourceVersion"] = json!(format!("{}", 1000 + i));
    object["status"] = if i.is_multiple_of(4) {
        json!({"lastFailureTime": "2026-12-07T10:00:00Z", "failedIssuanceAttempts": 1, "conditions": [
            {"type": "Ready", "status": "False", "reason": "DoesNotExist",
             "message": "Issuing certificate as Secret does not exist", "observedGeneration": 1,
             "lastTransitionTime": "2026-12-07T09:59:00Z"},
            {"type": "Issuing", "status": "False", "reason": "Failed", "observedGeneration": 1,
             "message": "The certificate request has failed to complete and will be retried: 429 urn:ietf:params:acme:error:rateLimited",
             "lastTransitionTime": "2026-12-07T10:00:00Z"}]})
    } else {
        json!({"notAfter": "2027-03-07T10:00:00Z", "notBefore": "2026-12-07T10:00:00Z",
               "renewalTime": "2027-02-05T10:00:00Z", "revision": 1, "conditions": [
            {"type": "Ready", "status": "True", "reason": "Ready",
             "message": "Certificate is up to date and has not expired", "observedGeneration": 1,
             "lastTransitionTime": "2026-12-07T10:00:00Z"}]})
    };
    object
}

/// CPU time of this process so far, every thread included (evaluations
/// run on the policy host's threads): unlike wall-clock time, it does not
/// count time the machine gave to other processes.
#[allow(unsafe_code)]
fn process_cpu() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec.
    let status = unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut now) };
    assert_eq!(status, 0, "clock_gettime");
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// The medians of `RUNS` runs of `f`: wall-clock time and process CPU time.
fn median(mut f: impl FnMut()) -> (Duration, Duration) {
    let mut wall = Vec::with_capacity(RUNS);
    let mut cpu = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let (started, cpu_started) = (Instant::now(), process_cpu());
        f();
        wall.push(started.elapsed());
        cpu.push(process_cpu() - cpu_started);
    }
    wall.sort();
    cpu.sort();
    (wall[RUNS / 2], cpu[RUNS / 2])
}

fn micros_per_object(total: Duration) -> f64 {
    total.as_secs_f64() * 1e6 / OBJECTS as f64
}

fn main() {
    let host = PolicyHost::new(HostConfig {
        compiler: Some(env!("CARGO_BIN_EXE_plumbline").into()),
        ..HostConfig::default()
    })
    .expect("policy host");
    let spec = PolicySpec::new(
        "cert-manager-health",
        ComponentSource::File(policy_artifacts::CERT_MANAGER_HEALTH.into()),
    );
    let policy = host.load(spec).expect("load cert-manager-health");
    let set = host.set(vec![policy.clone()]);
    let ctx = EvalContext::default();
    let assessor = Assessor::new(&set, ctx.clone());

    let lives: Vec<Value> = (0..OBJECTS).map(live).collect();
    let desireds: Vec<Value> = (0..OBJECTS).map(desired).collect();
    let bytes: usize = lives.iter().map(|o| o.to_string().len()).sum();
    let failed = lives
        .iter()
        .filter(|o| matches!(assessor.assess(o, None), health::Health::Failed(_)))
        .count();
    let config_map = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "settings", "namespace": "shop"}, "data": {"mode": "fast"}});

    let kstatus = median(|| {
        for object in &lives {
            std::hint::black_box(health::assess(object));
        }
    });
    let fresh_one = median(|| {
        for object in &lives {
            std::hint::black_box(policy.assess(object, None, &ctx).expect("assess"));
        }
    });
    let fresh_batch = median(|| {
        std::hint::black_box(set.map_parallel(&lives, |object| {
            policy.assess(object, None, &ctx).expect("assess")
        }));
    });
    let policy_live = median(|| {
        for object in &lives {
            std::hint::black_box(assessor.assess(object, None));
        }
    });
    let policy_both = median(|| {
        for (object, wanted) in lives.iter().zip(&desireds) {
            std::hint::black_box(assessor.assess(object, Some(wanted)));
        }
    });
    let batch: Vec<(&Value, Option<&str>)> = lives.iter().map(|o| (o, None)).collect();
    let policy_batch = median(|| {
        std::hint::black_box(assessor.assess_all(&batch));
    });
    let fallback = median(|| {
        for _ in 0..OBJECTS {
            std::hint::black_box(assessor.assess(&config_map, None));
        }
    });

    println!(
        "health assessment of {OBJECTS} Certificates ({} bytes of JSON each on average, {failed} failed), median of {RUNS} runs:",
        bytes / OBJECTS
    );
    println!("  {:<58} {:>12} {:>12}", "", "wall-clock", "CPU");
    let rows = [
        ("built-in kstatus rules", kstatus),
        ("cert-manager-health, fresh instance per call", fresh_one),
        (
            "cert-manager-health, fresh instance per call, one batch",
            fresh_batch,
        ),
        (
            "cert-manager-health, Assessor (reused), one call each",
            policy_live,
        ),
        (
            "cert-manager-health, Assessor (reused), live + desired",
            policy_both,
        ),
        (
            "cert-manager-health, Assessor (reused), assess_all",
            policy_batch,
        ),
        (
            "ConfigMap through the assessor (no policy declares it)",
            fallback,
        ),
    ];
    for (what, (wall, cpu)) in rows {
        println!(
            "  {what:<58} {:>7.2} µs/obj {:>7.2} µs/obj",
            micros_per_object(wall),
            micros_per_object(cpu)
        );
    }
    let extra = |(wall, cpu): (Duration, Duration)| {
        (
            micros_per_object(wall) - micros_per_object(kstatus.0),
            micros_per_object(cpu) - micros_per_object(kstatus.1),
        )
    };
    for (what, cost) in [
        ("fresh instance per call", fresh_one),
        ("fresh instance per call, one batch", fresh_batch),
        ("Assessor, one call each", policy_live),
        ("Assessor, assess_all", policy_batch),
    ] {
        let (wall, cpu) = extra(cost);
        println!(
            "  policy minus kstatus, {what}: {wall:.2} µs wall / {cpu:.2} µs CPU (target: under 20)"
        );
    }
}
