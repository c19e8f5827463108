//! Fetch + render benchmark (harness = false; prints numbers).
//!
//! Generates a repository with 10,000 manifests in 1,000 files, serves it
//! over `file://` and over `git daemon` on 127.0.0.1, and measures side by
//! side: a cold fetch + render (empty cache), an incremental fetch + render
//! after a one-file commit, and a cold `git clone --depth 1` of the same URL
//! for comparison. Run with `cargo bench -p plumbline --bench fetch_render`.

mod support;

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use plumbline::render::{self, RenderOptions};
use plumbline::source::{self, Credentials, FetchOptions, GitRef, Source};
use support::git;

const FILES: usize = 1_000;
const PER_FILE: usize = 10;
const RUNS: usize = 5;

fn manifest_file(file: usize, revision: usize) -> String {
    let mut text = String::new();
    for i in 0..PER_FILE {
        text.push_str(&format!(
            "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: app-{file}-{i}\n  \
             namespace: team-{}\n  labels:\n    app: app-{file}-{i}\n    revision: \"{revision}\"\n\
             spec:\n  replicas: 2\n  selector:\n    matchLabels:\n      app: app-{file}-{i}\n  \
             template:\n    metadata:\n      labels:\n        app: app-{file}-{i}\n    spec:\n      \
             containers:\n      - name: main\n        image: registry.example/app:{revision}.{i}\n        \
             ports:\n        - containerPort: 8080\n        resources:\n          requests:\n            \
             cpu: 100m\n            memory: 128Mi\n",
            file % 20
        ));
    }
    text
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

fn fetch_render(url: &str, cache: &Path) -> (Duration, Duration, usize) {
    let source = Source {
        url: url.to_owned(),
        reference: GitRef::Branch("main".into()),
        path: "apps".into(),
        credentials: Credentials::None,
    };
    let interrupt = AtomicBool::new(false);
    let start = Instant::now();
    let fetched = source::fetch(
        &source,
        cache,
        &FetchOptions::default(),
        gix::progress::Discard,
        &interrupt,
    )
    .expect("fetch");
    let fetch = start.elapsed();
    let start = Instant::now();
    let rendered = render::render(&fetched.files, &RenderOptions::default()).expect("render");
    (fetch, start.elapsed(), rendered.objects.len())
}

struct Daemon(Child);

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn start_daemon(base: &Path) -> (Daemon, u16) {
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    // Wrapped at once, so the daemon is killed and reaped on every path.
    let daemon = Daemon(
        Command::new("git")
            .args([
                "daemon",
                "--reuseaddr",
                "--export-all",
                "--listen=127.0.0.1",
            ])
            .arg(format!("--port={port}"))
            .arg(format!("--base-path={}", base.display()))
            .arg(base)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("git daemon"),
    );
    for _ in 0..400 {
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return (daemon, port);
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    panic!("git daemon did not start");
}

fn main() {
    let root = tempfile::tempdir().unwrap();
    let work = root.path().join("work");
    std::fs::create_dir_all(work.join("apps")).unwrap();
    git(&work, &["init", "-q", "-b", "main"]);
    let start = Instant::now();
    for f in 0..FILES {
        let dir = work.join(format!("apps/team-{:02}", f % 20));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join(format!("app-{f:04}.yaml")), manifest_file(f, 1)).unwrap();
    }
    git(&work, &["add", "-A"]);
    git(&work, &["commit", "-q", "-m", "initial"]);
    git(root.path(), &["init", "-q", "--bare", "remote.git"]);
    git(&work, &["push", "-q", "../remote.git", "main"]);
    let size: u64 = walk_size(&work.join("apps"));
    println!(
        "repository: {FILES} files, {} manifests, {:.1} MiB of YAML (generated in {:.1} s)",
        FILES * PER_FILE,
        size as f64 / (1 << 20) as f64,
        start.elapsed().as_secs_f64()
    );
    println!("each number: median (min) of {RUNS} runs\n");

    let (_daemon, port) = start_daemon(root.path());
    let transports = [
        (
            "file://",
            format!("file://{}", root.path().join("remote.git").display()),
        ),
        ("git://", format!("git://127.0.0.1:{port}/remote.git")),
    ];
    println!(
        "{:<9} {:<34} {:>24} {:>24} {:>24}",
        "transport", "measurement", "fetch", "render", "total"
    );
    let mut revision = 1;
    for (name, url) in &transports {
        let mut objects = 0;
        let cold = |objects: &mut usize| {
            let mut fetch = Vec::new();
            let mut rend = Vec::new();
            for _ in 0..RUNS {
                let cache = tempfile::tempdir().unwrap();
                let (f, r, n) = fetch_render(url, cache.path());
                *objects = n;
                fetch.push(f);
                rend.push(r);
            }
            (fetch, rend)
        };
        let (fetch, rend) = cold(&mut objects);
        assert_eq!(objects, FILES * PER_FILE);
        print_row(name, "cold fetch + render", &fetch, &rend);

        // Incremental: one warm cache, one one-file commit before each run.
        let cache = tempfile::tempdir().unwrap();
        fetch_render(url, cache.path());
        let mut fetch = Vec::new();
        let mut rend = Vec::new();
        for _ in 0..RUNS {
            revision += 1;
            let file = work.join("apps/team-07/app-0007.yaml");
            std::fs::write(&file, manifest_file(7, revision)).unwrap();
            git(&work, &["commit", "-q", "-am", "one file"]);
            git(&work, &["push", "-q", "../remote.git", "main"]);
            let (f, r, n) = fetch_render(url, cache.path());
            assert_eq!(n, FILES * PER_FILE);
            fetch.push(f);
            rend.push(r);
        }
        print_row(name, "incremental fetch + render", &fetch, &rend);

        let (median, min) = measure(|| {
            let dest = tempfile::tempdir().unwrap();
            let start = Instant::now();
            let status = Command::new("git")
                .args(["clone", "-q", "--depth", "1", "--no-tags", url])
                .arg(dest.path().join("clone"))
                .env("GIT_CONFIG_GLOBAL", "/dev/null")
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .stderr(Stdio::null())
                .status()
                .unwrap();
            assert!(status.success());
            start.elapsed()
        });
        println!(
            "{:<9} {:<34} {:>24} {:>24} {:>24}",
            name,
            "git clone --depth 1 (checkout)",
            format!("{} ({})", ms(median), ms(min)),
            "-",
            "-"
        );
    }
}

fn print_row(transport: &str, what: &str, fetch: &[Duration], rend: &[Duration]) {
    let stats = |v: &[Duration]| {
        let mut v = v.to_vec();
        v.sort();
        format!("{} ({})", ms(v[v.len() / 2]), ms(v[0]))
    };
    let total: Vec<Duration> = fetch.iter().zip(rend).map(|(a, b)| *a + *b).collect();
    println!(
        "{:<9} {:<34} {:>24} {:>24} {:>24}",
        transport,
        what,
        stats(fetch),
        stats(rend),
        stats(&total)
    );
}

fn walk_size(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| {
            let p = e.path();
            if p.is_dir() {
                walk_size(&p)
            } else {
                e.metadata().unwrap().len()
            }
        })
        .sum()
}
