//! What `source.verify` adds to a reconcile of a signed commit (harness =
//! false; prints numbers). Run with `cargo bench -p plumbline --bench
//! verify`.
//!
//! Keys and signed commits are made by the real tools (`gpg`, `ssh-keygen`,
//! `git commit -S`), as in the tests. For each kind of signature it
//! measures verifying the commit in the object database (what a reconcile
//! does after its fetch: read the commit, parse the signature, check it and
//! the key), with the trusted keys parsed once as the sync holds them; and
//! the median of a whole no-change fetch of a 200-file repository with and
//! without verification, each fetch reading the files as a reconcile does.

#[path = "../tests/verify_support/mod.rs"]
mod verify_support;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use plumbline::source::verify::{self, Mode, TrustedKeys};
use plumbline::source::{self, Credentials, FetchOptions, GitRef, Source, Verification};
use verify_support::{Keys, Signing};

const RUNS: usize = 200;
const FETCH_RUNS: usize = 21;

fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

fn main() {
    let keys = Keys::new();
    let repo_dir = tempfile::tempdir().unwrap();
    let work = repo_dir.path();
    keys.git(work, &["init", "-q"], &Signing::None);
    for file in 0..200 {
        std::fs::write(
            work.join(format!("app-{file}.yaml")),
            format!("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app-{file}\n"),
        )
        .unwrap();
    }
    let mut trusted = TrustedKeys::default();
    trusted
        .add(&keys.ssh_public("alice"), "keys/alice.pub")
        .unwrap();
    trusted
        .add(&keys.ssh_public("robert"), "keys/robert.pub")
        .unwrap();
    trusted
        .add(&keys.export(&keys.ed25519), "keys/ed25519.asc")
        .unwrap();
    trusted
        .add(&keys.export(&keys.rsa), "keys/rsa.asc")
        .unwrap();
    trusted
        .add(&keys.export(&keys.with_subkey), "keys/subkey.asc")
        .unwrap();

    let cases = [
        ("SSH ed25519", Signing::Ssh(keys.ssh_key("alice"))),
        ("SSH RSA-2048", Signing::Ssh(keys.ssh_key("robert"))),
        ("OpenPGP ed25519", Signing::Gpg(keys.ed25519.clone())),
        ("OpenPGP RSA-2048", Signing::Gpg(keys.rsa.clone())),
        (
            "OpenPGP signing subkey",
            Signing::Gpg(keys.with_subkey.clone()),
        ),
    ];
    let mut last = String::new();
    println!("verify one signed commit in the object database ({RUNS} runs each):");
    for (name, signing) in &cases {
        let commit = keys.commit(work, name, signing);
        let repo = gix::open(work).unwrap();
        let id = gix::ObjectId::from_hex(commit.as_bytes()).unwrap();
        let mut samples = Vec::with_capacity(RUNS);
        for _ in 0..RUNS {
            let started = Instant::now();
            let verified = verify::verify_object(&repo, id, &trusted).unwrap();
            samples.push(started.elapsed());
            std::hint::black_box(verified);
        }
        println!("  {name:<24} median {:>9.3?}", median(samples));
        last = commit;
    }
    assert!(!last.is_empty());

    let source = Source {
        url: format!("file://{}", work.display()),
        reference: GitRef::Branch("main".into()),
        path: String::new(),
        credentials: Credentials::None,
    };
    let branch = keys.git(work, &["branch", "--show-current"], &Signing::None);
    let source = Source {
        reference: GitRef::Branch(branch),
        ..source
    };
    let plain = FetchOptions::default();
    let verifying = FetchOptions {
        verify: Some(Verification {
            mode: Mode::Head,
            keys: Arc::new(trusted),
        }),
        ..FetchOptions::default()
    };
    let cache = tempfile::tempdir().unwrap();
    let interrupt = AtomicBool::new(false);
    let fetch = |options: &FetchOptions| {
        let started = Instant::now();
        let fetched = source::fetch(
            &source,
            cache.path(),
            options,
            gix::progress::Discard,
            &interrupt,
        )
        .unwrap();
        let took = started.elapsed();
        std::hint::black_box(fetched);
        took
    };
    fetch(&plain);
    let mut without = Vec::new();
    let mut with = Vec::new();
    for _ in 0..FETCH_RUNS {
        without.push(fetch(&plain));
        with.push(fetch(&verifying));
    }
    let (without, with) = (median(without), median(with));
    println!(
        "no-change fetch of 200 files, last commit signed with an OpenPGP subkey ({FETCH_RUNS} runs each):"
    );
    println!("  without verify           median {without:>9.3?}");
    println!("  with verify (head)       median {with:>9.3?}");
    println!(
        "  difference               {:>+9.3} ms",
        with.as_secs_f64() * 1e3 - without.as_secs_f64() * 1e3
    );
}
