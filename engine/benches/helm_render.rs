//! Helm render benchmark (harness = false; prints numbers).
//!
//! Renders the largest shared chart (cert-manager, custom values: 53
//! objects, 14,000 lines) three ways in the same run: the `helm` executable
//! alone (`helm template`, output discarded), Plumbline's Helm source with
//! its render cache off (write the chart out, run the same `helm`, parse and
//! check the objects), and Plumbline's no-change render (cache hit: no helm
//! process). `helm` is `$PLUMBLINE_HELM`, else the test executable of
//! tests/helm. Run with `cargo bench -p plumbline --bench helm_render`.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use plumbline::render::helm::{self, HelmOptions, HelmSpec, Release};
use plumbline::render::RenderOptions;
use plumbline::source::{self, Limits};

const RUNS: usize = 5;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Median and minimum of `RUNS` measurements of `f`.
fn measure(mut f: impl FnMut() -> Duration) -> (Duration, Duration) {
    let mut times: Vec<Duration> = (0..RUNS).map(|_| f()).collect();
    times.sort();
    (times[RUNS / 2], times[0])
}

fn ms(d: Duration) -> String {
    format!("{:8.1} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let charts = repo_root().join("tests/charts");
    let executable = std::env::var_os("PLUMBLINE_HELM")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("tests/helm/helm"));
    let values = charts.join("values/cert-manager-custom.yaml");
    let chart = charts.join("cert-manager");

    let (helm_alone, helm_min) = measure(|| {
        let started = Instant::now();
        let status = Command::new(&executable)
            .args(["template", "demo"])
            .arg(&chart)
            .args(["--namespace", "demo", "--include-crds", "--values"])
            .arg(&values)
            .stdout(Stdio::null())
            .status()
            .expect("helm runs");
        assert!(status.success());
        started.elapsed()
    });

    let tree = source::read_local_dir(&charts, &Limits::default()).expect("tests/charts reads");
    let spec = HelmSpec {
        values_files: vec!["../values/cert-manager-custom.yaml".into()],
        ..HelmSpec::default()
    };
    let release = Release {
        name: "demo".into(),
        namespace: "demo".into(),
    };
    let render = |cache: bool| {
        let options = HelmOptions {
            executable: executable.clone(),
            cache,
            ..HelmOptions::default()
        };
        let started = Instant::now();
        let rendered = helm::render(
            &tree,
            "cert-manager",
            &spec,
            &release,
            &options,
            &RenderOptions::default(),
        )
        .expect("cert-manager renders");
        (started.elapsed(), rendered.objects.len())
    };
    let (_, objects) = render(false);
    let (cold, cold_min) = measure(|| render(false).0);
    render(true);
    let (cached, cached_min) = measure(|| render(true).0);

    println!(
        "helm render: cert-manager (custom values), {objects} objects, median (min) of {RUNS} runs"
    );
    println!(
        "  helm template alone          {} ({})",
        ms(helm_alone),
        ms(helm_min)
    );
    println!(
        "  Plumbline, cache off         {} ({})",
        ms(cold),
        ms(cold_min)
    );
    println!(
        "  Plumbline, no change (cache) {} ({})",
        ms(cached),
        ms(cached_min)
    );
    println!(
        "  Plumbline's own share (cache off - helm alone): {}",
        ms(cold.saturating_sub(helm_alone))
    );
}
