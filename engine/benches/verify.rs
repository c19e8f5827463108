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
//!
//! For cosign signatures of OCI artifacts (keys made by `openssl`, a real
//! registry on loopback from `tests/registry`): judging one signature layer
//! in memory, and what verifying adds to a reconcile's cached pull of a
//! policy by tag (resolve the tag, then the component from the cache): for
//! a digest this process verified before (every reconcile of an unchanged
//! artifact), and for a digest verified for the first time (the
//! `sha256-<hex>.sig` manifest and payload pulled and checked; each run
//! trusts the key under another file name, so nothing is remembered).

#[path = "../tests/cosign_support/mod.rs"]
mod cosign_support;
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
    cosign();
}

/// The cosign rows: one signature judged in memory, and a cached policy
/// pull by tag with and without `verify`.
fn cosign() {
    use plumbline::oci::{policy, signature, ArtifactRef};
    use plumbline::source::verify::cosign::{verify_signatures, Payload, SignatureLayer};

    let Some(registry) = registry::Registry::start_or_skip(registry::Options::default()) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let key = cosign_support::KeyPair::generate(dir.path(), "cosign");
    let mut trusted = TrustedKeys::default();
    trusted
        .add(&std::fs::read_to_string(&key.public).unwrap(), "cosign.pub")
        .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let options = cosign_support::insecure();
    let reference: ArtifactRef = format!("oci://{}/bench/required-labels:v1", registry.host())
        .parse()
        .unwrap();
    let component = std::fs::read(policy_artifacts::REQUIRED_LABELS).unwrap();
    let digest = runtime
        .block_on(policy::push_policy(&reference, component, &options))
        .unwrap();
    runtime
        .block_on(signature::sign(&reference, &key.signer(), &options))
        .unwrap();

    let payload = Payload::new("bench/required-labels", &digest)
        .unwrap()
        .to_bytes();
    let layers = [SignatureLayer {
        signature: key.signer().sign(&payload),
        payload,
    }];
    let mut samples = Vec::with_capacity(RUNS);
    for _ in 0..RUNS {
        let started = Instant::now();
        let signer = verify_signatures(&layers, trusted.cosign(), &digest, "t").unwrap();
        samples.push(started.elapsed());
        std::hint::black_box(signer);
    }
    println!("cosign signature of an OCI artifact ({RUNS} runs each):");
    println!(
        "  one signature in memory  median {:>9.3?}",
        median(samples)
    );

    let cache = tempfile::tempdir().unwrap();
    let trusted_as = |origin: &str| {
        let mut keys = TrustedKeys::default();
        keys.add(&std::fs::read_to_string(&key.public).unwrap(), origin)
            .unwrap();
        keys
    };
    let pull = |keys: Option<&TrustedKeys>| {
        let started = Instant::now();
        let pulled = runtime
            .block_on(policy::pull_cached(
                &reference,
                &options,
                cache.path(),
                keys,
            ))
            .unwrap();
        let took = started.elapsed();
        assert_eq!(pulled.verified.is_some(), keys.is_some());
        std::hint::black_box(pulled);
        took
    };
    pull(None);
    let (mut without, mut again, mut first) = (Vec::new(), Vec::new(), Vec::new());
    for run in 0..RUNS {
        without.push(pull(None));
        again.push(pull(Some(&trusted)));
        first.push(pull(Some(&trusted_as(&format!("cosign-{run}.pub")))));
    }
    let without = median(without);
    let ms = |d: Duration| d.as_secs_f64() * 1e3 - without.as_secs_f64() * 1e3;
    println!("  cached pull by tag, without verify          median {without:>9.3?}");
    for (name, samples) in [
        ("with verify, digest verified before", again),
        ("with verify, first time for the digest", first),
    ] {
        let with = median(samples);
        println!("  {name:<43} median {with:>9.3?} ({:+.3} ms)", ms(with));
    }
}
