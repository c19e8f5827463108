//! The same policy in four languages; prints numbers, asserts nothing.
//!
//! `cargo bench -p plumbline --bench policy_languages`
//!
//! For the required-labels validator written in Rust (`policies/`), Python,
//! JavaScript and C (`examples/policies/<language>/`), each built from
//! source with `plumbline-policy-build` (as `plumbline policy build` does):
//!
//! - **size** of the component;
//! - **build**: what a change to the policy's source costs, with the
//!   toolchain warm. Rust: the sources are touched and cargo recompiles the
//!   policy crate (std and the SDK are already built) and componentizes.
//!   C, Python, JavaScript: a build into an empty target directory — their
//!   builders skip work only when the sources are unchanged, so this is
//!   what any change costs (C: bindings + clang; Python and JavaScript: the
//!   whole runtime is componentized again);
//! - **compile**: a new host loading the component with an empty on-disk
//!   cache (wasmtime/cranelift compiles it, the host writes the cache);
//! - **cached load**: a new host loading it again from that cache (the
//!   second run of `plumbline`): deserialise, instantiate, `info` and
//!   `check-settings`;
//! - **instantiate**: one instantiation from an `InstancePre`, with the
//!   same empty WASI the host gives;
//! - **call**: one `validate` of one Deployment through the host, a fresh
//!   store per call as the host does it (median).
//!
//! A language whose project is missing or does not build is reported as
//! such in its row. Set `PLUMBLINE_BENCH_LANGUAGES=rust,c` to run a subset.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use plumbline::policy::bindings::plumbline::policy::{host, types};
use plumbline::policy::{ComponentSource, EvalContext, HostConfig, PolicyHost, PolicySpec};
use plumbline_policy_build::{BuildOptions, Built};
use serde_json::{json, Value};
use wasmtime::component::{Component, HasSelf, InstancePre, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

/// One implementation of the policy.
struct Language {
    name: &'static str,
    /// The project, relative to the repository root.
    project: &'static str,
}

const LANGUAGES: [Language; 4] = [
    Language {
        name: "Rust",
        project: "policies/required-labels",
    },
    Language {
        name: "Python",
        project: "examples/policies/python/required-labels",
    },
    Language {
        name: "JavaScript",
        project: "examples/policies/js/required-labels",
    },
    Language {
        name: "C",
        project: "examples/policies/c/required-labels",
    },
];

/// What was measured for one language.
struct Row {
    size: u64,
    build: Duration,
    compile: Duration,
    cached_load: Duration,
    instantiate: Duration,
    call: Duration,
    toolchain: String,
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("engine has a parent")
        .to_owned()
}

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

/// The median time of `f` over `iterations` runs.
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

/// The settings of the standard suite.
fn settings() -> Value {
    json!({
        "labels": ["team", "app.kubernetes.io/name"],
        "valuePattern": {"team": "[a-z]+(-[a-z]+)*"}
    })
}

/// One Deployment of about 1 KB, labelled so that the pattern is checked
/// (and one label is missing: one violation).
fn deployment() -> Value {
    json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "namespace": "shop",
                     "labels": {"team": "payments-core", "app": "web", "tier": "frontend"}},
        "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "web"}},
                 "template": {"metadata": {"labels": {"app": "web"}},
                              "spec": {"containers": [{
                                  "name": "web", "image": "registry.example.com/web:1.2.3",
                                  "ports": [{"containerPort": 8080}],
                                  "env": [{"name": "MODE", "value": "production"}],
                                  "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}}}]}}}
    })
}

/// Set the modification time of the project's source files to now, so
/// that the next build sees a change.
fn touch_sources(dir: &Path) {
    let skip = ["target", "node_modules", "build", "__pycache__", "tests"];
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if path.is_dir() {
            if !skip.contains(&name.as_str()) && !name.starts_with('.') {
                touch_sources(&path);
            }
        } else if [".rs", ".c", ".h", ".py", ".js", ".mjs"]
            .iter()
            .any(|ext| name.ends_with(ext))
        {
            if let Ok(file) = std::fs::File::options().append(true).open(&path) {
                let _ = file.set_modified(SystemTime::now());
            }
        }
    }
}

/// Build once (so that the toolchain is warm), then time the build that a
/// source change causes (see the module docs). Returns the component's
/// bytes and the built description.
fn build(language: &Language, project: &Path) -> Result<(Built, Vec<u8>, Duration), String> {
    let describe = |e: plumbline_policy_build::Error| {
        let mut text = e.to_string();
        let mut source = std::error::Error::source(&e);
        while let Some(cause) = source {
            text.push_str(&format!(": {cause}"));
            source = cause.source();
        }
        text
    };
    plumbline_policy_build::build(project, &BuildOptions::default()).map_err(describe)?;
    let empty = tempfile::tempdir().map_err(|e| e.to_string())?;
    let options = if language.name == "Rust" {
        touch_sources(project);
        BuildOptions::default()
    } else {
        BuildOptions {
            target_dir: Some(empty.path().to_owned()),
            ..Default::default()
        }
    };
    let start = Instant::now();
    let built = plumbline_policy_build::build(project, &options).map_err(describe)?;
    let elapsed = start.elapsed();
    let bytes = std::fs::read(&built.component_path).map_err(|e| e.to_string())?;
    Ok((built, bytes, elapsed))
}

/// Store data for instantiating outside the host: the `log` import and an
/// empty WASI, as the host gives.
struct Data {
    wasi: WasiCtx,
    table: ResourceTable,
}

impl host::Host for Data {
    fn log(&mut self, _level: host::Level, _message: String) {}
}

impl types::Host for Data {}

impl WasiView for Data {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

fn instance_pre(bytes: &[u8]) -> (Engine, InstancePre<Data>) {
    let mut config = Config::new();
    config.epoch_interruption(true);
    let engine = Engine::new(&config).expect("engine");
    let component = Component::new(&engine, bytes).expect("component compiles");
    let mut linker = Linker::new(&engine);
    host::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s).expect("host");
    types::add_to_linker::<_, HasSelf<_>>(&mut linker, |s| s).expect("types");
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker).expect("wasi");
    let pre = linker
        .instantiate_pre(&component)
        .expect("imports satisfied");
    (engine, pre)
}

fn measure(language: &Language) -> Result<Row, String> {
    let project = repo().join(language.project);
    if !project.is_dir() {
        return Err(format!("no project at {}", language.project));
    }
    let (built, bytes, build_time) = build(language, &project)?;
    let big = bytes.len() > (1 << 20);
    let spec = || {
        PolicySpec::new("required-labels", ComponentSource::Bytes(bytes.clone()))
            .settings(settings())
    };

    // Compile: a new host, an empty cache directory each time.
    let mut cache_dirs = Vec::new();
    let compile = time(if big { 3 } else { 5 }, || {
        let dir = tempfile::tempdir().expect("temp dir");
        let host = PolicyHost::new(HostConfig {
            cache_dir: Some(dir.path().to_owned()),
            compiler: Some(env!("CARGO_BIN_EXE_plumbline").into()),
            ..Default::default()
        })
        .expect("host");
        let loaded = host.load(spec()).map_err(|e| e.to_string());
        cache_dirs.push(dir);
        loaded
    });
    let cached = HostConfig {
        cache_dir: Some(cache_dirs[0].path().to_owned()),
        compiler: Some(env!("CARGO_BIN_EXE_plumbline").into()),
        ..Default::default()
    };
    PolicyHost::new(cached.clone())
        .expect("host")
        .load(spec())
        .map_err(|e| format!("load: {e}"))?;

    // Cached load: a new host reading the precompiled component.
    let cached_load = time(20, || {
        let host = PolicyHost::new(cached.clone()).expect("host");
        let policy = host.load(spec()).expect("loads");
        assert_eq!(host.cache_stats().compiled, 0, "served from the cache");
        policy
    });

    let (engine, pre) = instance_pre(&bytes);
    let instantiate = time(if big { 20 } else { 200 }, || {
        let mut store = Store::new(
            &engine,
            Data {
                wasi: WasiCtxBuilder::new().build(),
                table: ResourceTable::new(),
            },
        );
        store.set_epoch_deadline(1_000);
        pre.instantiate(&mut store).expect("instantiates")
    });

    let host = PolicyHost::new(HostConfig {
        compiler: Some(env!("CARGO_BIN_EXE_plumbline").into()),
        ..HostConfig::default()
    })
    .expect("host");
    let policy = host.load(spec()).map_err(|e| format!("load: {e}"))?;
    let objects = vec![deployment()];
    let ctx = EvalContext::default();
    let eval = policy
        .validate(&objects, &ctx)
        .map_err(|e| format!("validate: {e}"))?;
    if eval.value.len() != 1 {
        return Err(format!(
            "expected one violation (missing app.kubernetes.io/name), got {:?}",
            eval.value
        ));
    }
    let call = time(if big { 30 } else { 300 }, || {
        policy.validate(&objects, &ctx).expect("validates")
    });

    Ok(Row {
        size: built.size,
        build: build_time,
        compile,
        cached_load,
        instantiate,
        call,
        toolchain: built.toolchain,
    })
}

fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    if ms >= 100.0 {
        format!("{ms:.0} ms")
    } else if ms >= 1.0 {
        format!("{ms:.1} ms")
    } else {
        format!("{:.0} µs", d.as_secs_f64() * 1e6)
    }
}

fn size(bytes: u64) -> String {
    if bytes >= 1 << 20 {
        format!("{:.1} MiB", bytes as f64 / (1 << 20) as f64)
    } else {
        format!("{} KiB", bytes.div_ceil(1024))
    }
}

fn main() {
    let selected = std::env::var("PLUMBLINE_BENCH_LANGUAGES").ok();
    let wanted = |name: &str| {
        selected.as_deref().is_none_or(|list| {
            list.split(',').any(|l| {
                l.trim().eq_ignore_ascii_case(name) || (l.trim() == "js" && name == "JavaScript")
            })
        })
    };
    let mut table = vec![
        "| language | component | build (after a change) | compile (empty cache) | cached load | instantiate | validate 1 Deployment (fresh store, median) |".to_owned(),
        "|---|---|---|---|---|---|---|".to_owned(),
    ];
    let mut toolchains = Vec::new();
    for language in LANGUAGES.iter().filter(|l| wanted(l.name)) {
        eprintln!("== {} ({})", language.name, language.project);
        match measure(language) {
            Ok(row) => {
                let line = format!(
                    "| {} | {} | {} | {} | {} | {} | {} |",
                    language.name,
                    size(row.size),
                    ms(row.build),
                    ms(row.compile),
                    ms(row.cached_load),
                    ms(row.instantiate),
                    ms(row.call)
                );
                eprintln!("{line}");
                table.push(line);
                toolchains.push(format!("- {}: {}", language.name, row.toolchain));
            }
            Err(reason) => {
                eprintln!("{}: not measured: {reason}", language.name);
                table.push(format!(
                    "| {} | not measured: {} | | | | | |",
                    language.name,
                    reason.replace('|', "/").lines().next().unwrap_or("")
                ));
            }
        }
    }
    println!("{}", table.join("\n"));
    println!();
    println!("{}", toolchains.join("\n"));
}
