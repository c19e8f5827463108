//! Policy host benchmarks; prints numbers, asserts nothing.
//!
//! `cargo bench -p plumbline --bench policy`
//!
//! Measures, for a validator component: compile time, cached load time (a
//! new host reading the on-disk cache), instantiation time, the cost of one
//! `validate` call on a 2 KB object (store per call, as the host does it,
//! and on a warm reused instance), and parallel throughput of both
//! strategies on every core. Two components: a WAT fixture that does not
//! look at its input, and the Rust `test-all-roles` guest, which parses it.

#[path = "../tests/policy_host/fixtures.rs"]
mod fixtures;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use plumbline::policy::bindings::exports::plumbline::policy::validator;
use plumbline::policy::bindings::plumbline::policy::{host, types};
use plumbline::policy::{ComponentSource, EvalContext, HostConfig, PolicyHost, PolicySpec};
use serde_json::{json, Value};
use wasmtime::component::{Component, HasSelf, InstancePre, Linker};
use wasmtime::{Config, Engine, Store};

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn time<R>(iterations: usize, mut f: impl FnMut() -> R) -> Duration {
    median(
        (0..iterations)
            .map(|_| {
                let start = Instant::now();
                std::hint::black_box(f());
                start.elapsed()
            })
            .collect(),
    )
}

/// A Deployment of about 2 KB of JSON.
fn object_2k() -> Value {
    let mut env = Vec::new();
    for i in 0..32 {
        env.push(
            json!({"name": format!("SETTING_{i:02}"), "value": format!("value-{i:02}-abcdefghij")}),
        );
    }
    let object = json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop", "labels": {"app": "web", "team": "storefront"}},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{"name": "web", "image": "registry.example.com/web:1.2.3", "env": env}]}}}
    });
    assert!((1800..2600).contains(&object.to_string().len()));
    object
}

/// Store data of the warm-instance variant: only the `log` import.
struct Bare;

impl host::Host for Bare {
    fn log(&mut self, _level: host::Level, _message: String) {}
}

impl types::Host for Bare {}

fn bare_pre(bytes: &[u8]) -> (Engine, InstancePre<Bare>) {
    let mut config = Config::new();
    config.epoch_interruption(true);
    let engine = Engine::new(&config).unwrap();
    let component = Component::new(&engine, bytes).unwrap();
    let mut linker = Linker::new(&engine);
    host::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s).unwrap();
    types::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s).unwrap();
    let pre = linker.instantiate_pre(&component).unwrap();
    (engine, pre)
}

fn wit_ctx() -> types::Context {
    types::Context {
        source: types::SourceInfo {
            url: String::new(),
            revision: String::new(),
            path: String::new(),
        },
        target: "bench".into(),
        settings_json: "{}".into(),
    }
}

/// Calls per second over `threads` threads for `window`.
fn throughput<'a>(
    threads: usize,
    window: Duration,
    work: impl Fn() -> Box<dyn FnMut() + Send + 'a> + Sync,
) -> f64 {
    let stop = AtomicBool::new(false);
    let calls = AtomicU64::new(0);
    std::thread::scope(|s| {
        for _ in 0..threads {
            let mut call = work();
            let (stop, calls) = (&stop, &calls);
            s.spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    call();
                    calls.fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        std::thread::sleep(window);
        stop.store(true, Ordering::Relaxed);
    });
    calls.load(Ordering::Relaxed) as f64 / window.as_secs_f64()
}

fn bench(label: &str, bytes: Vec<u8>) {
    println!("== {label} ({} KiB component)", bytes.len() / 1024);
    let spec = || PolicySpec::new("bench", ComponentSource::Bytes(bytes.clone()));

    let compile = time(5, || {
        PolicyHost::new(HostConfig {
            compiler: Some(env!("CARGO_BIN_EXE_plumbline").into()),
            ..HostConfig::default()
        })
        .unwrap()
        .load(spec())
        .unwrap()
    });
    println!(
        "compile + load (no cache)          {:>10.2} ms",
        compile.as_secs_f64() * 1e3
    );

    let dir = tempfile::tempdir().unwrap();
    let cached = HostConfig {
        cache_dir: Some(dir.path().to_owned()),
        compiler: Some(env!("CARGO_BIN_EXE_plumbline").into()),
        ..Default::default()
    };
    PolicyHost::new(cached.clone())
        .unwrap()
        .load(spec())
        .unwrap();
    let load = time(20, || {
        let host = PolicyHost::new(cached.clone()).unwrap();
        let policy = host.load(spec()).unwrap();
        assert_eq!(host.cache_stats().compiled, 0);
        policy
    });
    println!(
        "load from disk cache (new host)    {:>10.2} ms",
        load.as_secs_f64() * 1e3
    );

    let (engine, pre) = bare_pre(&bytes);
    let instantiate = time(500, || {
        let mut store = Store::new(&engine, Bare);
        store.set_epoch_deadline(1_000);
        pre.instantiate(&mut store).unwrap()
    });
    println!(
        "instantiate (InstancePre)          {:>10.2} µs",
        instantiate.as_secs_f64() * 1e6
    );

    let host = PolicyHost::new(HostConfig {
        compiler: Some(env!("CARGO_BIN_EXE_plumbline").into()),
        ..HostConfig::default()
    })
    .unwrap();
    let policy = host.load(spec()).unwrap();
    let objects = vec![object_2k()];
    let ctx = EvalContext::default();
    let per_call = time(1000, || policy.validate(&objects, &ctx).unwrap());
    println!(
        "validate 2 KB, store per call      {:>10.2} µs",
        per_call.as_secs_f64() * 1e6
    );

    let json = vec![objects[0].to_string()];
    let wctx = wit_ctx();
    let indices = validator::GuestIndices::new(&pre).unwrap();
    let warm_call = || {
        let mut store = Store::new(&engine, Bare);
        store.set_epoch_deadline(1_000);
        let instance = pre.instantiate(&mut store).unwrap();
        let guest = indices.load(&mut store, &instance).unwrap();
        let (json, wctx) = (json.clone(), wctx.clone());
        move || {
            store.set_epoch_deadline(1_000);
            guest.call_validate(&mut store, &json, &wctx).unwrap()
        }
    };
    let mut warm = warm_call();
    let reused = time(1000, &mut warm);
    println!(
        "validate 2 KB, warm instance       {:>10.2} µs",
        reused.as_secs_f64() * 1e6
    );

    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let window = Duration::from_secs(2);
    let fresh = throughput(cores, window, || {
        let (policy, objects, ctx) = (policy.clone(), objects.clone(), ctx.clone());
        Box::new(move || {
            policy.validate(&objects, &ctx).unwrap();
        })
    });
    let pooled = throughput(cores, window, || {
        let mut call = warm_call();
        Box::new(move || {
            call();
        })
    });
    println!(
        "parallel ({cores} threads), store per call {:>10.0} calls/s",
        fresh
    );
    println!(
        "parallel ({cores} threads), warm pool      {:>10.0} calls/s",
        pooled
    );
}

fn main() {
    bench(
        "WAT validator fixture (does not parse its input)",
        fixtures::good_validator(),
    );
    let rust = std::fs::read(policy_artifacts::TEST_ALL_ROLES).unwrap();
    bench("Rust test-all-roles guest (parses every object)", rust);
}
