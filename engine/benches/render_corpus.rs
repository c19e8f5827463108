//! Render benchmark on the real-world corpus (harness = false; prints
//! numbers): the largest entries of `tests/corpus`, rendered from memory
//! (the tree is read once, outside the measurement). Run with
//! `cargo bench -p plumbline --bench render_corpus`.

use std::path::Path;
use std::time::{Duration, Instant};

use plumbline::render::{self, RenderOptions};
use plumbline::source::{self, Limits};

const RUNS: usize = 7;

/// The largest entries: (app folder, directory inside it).
const ENTRIES: [(&str, &str); 4] = [
    ("kapp__knative-v1.8.0", ""),
    ("argo-cd__manifests", "cluster-install"),
    ("argo-cd__manifests", "crds"),
    ("kapp__istio-v1.16.0", ""),
];

fn main() {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/corpus");
    println!(
        "entry                                    result       tree bytes    median (min) of {RUNS} runs"
    );
    for (app, path) in ENTRIES {
        let limits = Limits {
            max_file_size: 16 << 20,
            ..Limits::default()
        };
        let tree = source::read_local_dir(&corpus.join(app), &limits).expect("corpus entry");
        let options = RenderOptions {
            path: path.to_owned(),
            ..RenderOptions::default()
        };
        let mut outcome = String::new();
        let mut times: Vec<Duration> = (0..RUNS)
            .map(|_| {
                let started = Instant::now();
                // Entries with duplicate identities render with errors; the
                // work is the same.
                outcome = match render::render(&tree, &options) {
                    Ok(rendered) => format!("{} objects", rendered.objects.len()),
                    Err(errors) => format!("{} errors", errors.0.len()),
                };
                started.elapsed()
            })
            .collect();
        times.sort();
        println!(
            "{:<40} {outcome:<12} {:>10} {:>7.1} ms ({:.1} ms)",
            format!("{app}/{path}"),
            tree.total_size(),
            times[RUNS / 2].as_secs_f64() * 1000.0,
            times[0].as_secs_f64() * 1000.0
        );
    }
}
