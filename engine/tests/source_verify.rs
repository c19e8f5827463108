//! `source.verify`: commits and tags signed by the real tools (`gpg`,
//! `ssh-keygen` through `git commit -S` / `git tag -s`) are fetched with
//! verification, and each verdict must agree with git's own (`git log
//! --format=%G?` for commits, `git tag -v` for tags) with the trust
//! configured the same way: the trusted GNUPGHOME holds exactly the
//! trusted OpenPGP keys, the allowed-signers file the trusted SSH keys.

mod source_support;
mod verify_support;

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use plumbline::source::verify::{Mode, ObjectKind, SignerFormat, TrustedKeys};
use plumbline::source::{self, Credentials, Error, FetchOptions, GitRef, Source, Verification};
use source_support::Repo;
use verify_support::{tamper, Keys, Signing};

fn fetch(
    repo: &Repo,
    cache: &std::path::Path,
    reference: GitRef,
    verification: &Verification,
) -> Result<source::Fetched, Error> {
    let source = Source {
        url: repo.url(),
        reference,
        path: String::new(),
        credentials: Credentials::None,
    };
    let options = FetchOptions {
        verify: Some(verification.clone()),
        ..FetchOptions::default()
    };
    source::fetch(
        &source,
        cache,
        &options,
        gix::progress::Discard,
        &AtomicBool::new(false),
    )
}

/// The keys Plumbline trusts: the same as the oracle's.
fn trusted(keys: &Keys, mode: Mode) -> Verification {
    let mut trusted = TrustedKeys::default();
    let signers = std::fs::read_to_string(keys.allowed_signers()).unwrap();
    trusted.add(&signers, "keys/allowed_signers").unwrap();
    for (name, fingerprint) in [
        ("ed25519", &keys.ed25519),
        ("rsa", &keys.rsa),
        ("subkey", &keys.with_subkey),
        ("expired", &keys.expired),
        ("revoked", &keys.revoked),
    ] {
        let armored = keys.export(fingerprint);
        trusted.add(&armored, &format!("keys/{name}.asc")).unwrap();
    }
    Verification {
        mode,
        keys: Arc::new(trusted),
    }
}

#[test]
fn commit_verdicts_agree_with_git_log_g() {
    let keys = Keys::new();
    let repo = Repo::new();
    let work = repo.work();
    let ssh = |name: &str| Signing::Ssh(keys.ssh_key(name));
    let gpg = |fingerprint: &String| Signing::Gpg(fingerprint.clone());
    // (branch, how its commit is signed, the fingerprint a good verdict names)
    let cases = [
        ("ssh-ed25519", ssh("alice"), keys.ssh_fingerprint("alice")),
        ("ssh-ecdsa", ssh("carol"), keys.ssh_fingerprint("carol")),
        ("ssh-rsa", ssh("robert"), keys.ssh_fingerprint("robert")),
        ("ssh-untrusted", ssh("mallory"), String::new()),
        ("gpg-ed25519", gpg(&keys.ed25519), keys.ed25519.clone()),
        ("gpg-rsa", gpg(&keys.rsa), keys.rsa.clone()),
        (
            "gpg-subkey",
            gpg(&keys.with_subkey),
            keys.with_subkey.clone(),
        ),
        (
            "gpg-expired",
            Signing::GpgIn2020(keys.expired.clone()),
            String::new(),
        ),
        ("gpg-revoked", gpg(&keys.revoked), String::new()),
        ("gpg-untrusted", Signing::GpgStranger, String::new()),
        ("unsigned", Signing::None, String::new()),
    ];
    let mut commits = Vec::new();
    for (branch, signing, _) in &cases {
        repo.git(&["checkout", "-q", "--orphan", branch]);
        repo.write("deploy/app.yaml", format!("kind: ConfigMap # {branch}\n"));
        commits.push(keys.commit(&work, &format!("deploy {branch}"), signing));
    }
    keys.revoke(&keys.revoked);
    // Tampered: a signed commit with its message changed, signature kept.
    let mut tampered = Vec::new();
    for (name, signed) in [("gpg-tampered", 4), ("ssh-tampered", 0)] {
        let id = tamper(&work, &commits[signed], "deploy ", "DEPLOY ");
        keys.git(&work, &["branch", name, &id], &Signing::None);
        tampered.push((name, id));
    }
    repo.push();

    let verification = trusted(&keys, Mode::Head);
    let cache = tempfile::tempdir().unwrap();
    let all = cases
        .iter()
        .zip(&commits)
        .map(|((branch, _, fingerprint), commit)| (*branch, commit.clone(), fingerprint.clone()))
        .chain(tampered.into_iter().map(|(b, c)| (b, c, String::new())));
    for (branch, commit, fingerprint) in all {
        let oracle = keys.oracle(&work, &commit);
        let verdict = fetch(
            &repo,
            cache.path(),
            GitRef::Branch(branch.into()),
            &verification,
        );
        match &verdict {
            Ok(fetched) => {
                assert_eq!(oracle, 'G', "{branch}: accepted, but git says {oracle}");
                assert_eq!(fetched.commit.to_string(), commit);
                let [verified] = &fetched.verified[..] else {
                    panic!("{branch}: {:?}", fetched.verified)
                };
                assert_eq!(verified.kind, ObjectKind::Commit);
                assert_eq!(verified.signer.fingerprint, fingerprint, "{branch}");
                let format = if branch.starts_with("ssh") {
                    SignerFormat::Ssh
                } else {
                    SignerFormat::OpenPgp
                };
                assert_eq!(verified.signer.format, format);
            }
            Err(error) => {
                assert_ne!(oracle, 'G', "{branch}: refused ({error}), but git says G");
                let Error::Unverified { source, .. } = error else {
                    panic!("{branch}: {error}")
                };
                let message = error.to_string();
                assert!(message.contains(&commit), "{branch}: {message}");
                assert!(message.contains("keys/allowed_signers"), "{message}");
                let expected_reason = match branch {
                    "unsigned" => "UnsignedRevision",
                    "ssh-untrusted" | "gpg-untrusted" => "UntrustedSigner",
                    _ => "InvalidSignature",
                };
                assert_eq!(source.reason(), expected_reason, "{branch}: {message}");
                let found = match branch {
                    "ssh-untrusted" => keys.ssh_fingerprint("mallory"),
                    "gpg-expired" => "expired at 2020-01-02".into(),
                    "gpg-revoked" => "revoked".into(),
                    "unsigned" => "is not signed".into(),
                    _ => String::new(),
                };
                assert!(message.contains(&found), "{branch}: {message}");
            }
        }
        eprintln!(
            "{branch}: git {oracle}, plumbline {}",
            if verdict.is_ok() {
                "accepts"
            } else {
                "refuses"
            }
        );
    }
}

#[test]
fn tag_modes_verify_the_annotated_tag_the_commit_or_both() {
    let keys = Keys::new();
    let repo = Repo::new();
    let work = repo.work();
    repo.write("deploy/app.yaml", "kind: ConfigMap\n");
    keys.commit(&work, "unsigned commit", &Signing::None);
    keys.tag(&work, "gpg-signed", &Signing::Gpg(keys.ed25519.clone()));
    keys.tag(&work, "unsigned", &Signing::None);
    keys.git(&work, &["tag", "lightweight"], &Signing::None);
    keys.commit(&work, "signed commit", &Signing::Ssh(keys.ssh_key("alice")));
    keys.tag(&work, "ssh-signed", &Signing::Ssh(keys.ssh_key("alice")));
    keys.tag(
        &work,
        "ssh-untrusted",
        &Signing::Ssh(keys.ssh_key("mallory")),
    );
    repo.push();
    let cache = tempfile::tempdir().unwrap();
    let check = |tag: &str, mode: Mode| {
        fetch(
            &repo,
            cache.path(),
            GitRef::Tag(tag.into()),
            &trusted(&keys, mode),
        )
    };

    for (tag, oracle) in [
        ("gpg-signed", true),
        ("ssh-signed", true),
        ("unsigned", false),
        ("ssh-untrusted", false),
    ] {
        assert_eq!(keys.tag_oracle(&work, tag), oracle, "git tag -v {tag}");
        let verdict = check(tag, Mode::Tag);
        assert_eq!(verdict.is_ok(), oracle, "{tag}: {verdict:?}");
        if let Ok(fetched) = verdict {
            assert_eq!(fetched.verified.len(), 1);
            assert_eq!(fetched.verified[0].kind, ObjectKind::Tag);
        }
    }
    // The signed tag points to an unsigned commit: tagAndHead refuses it.
    let both = check("gpg-signed", Mode::TagAndHead).unwrap_err();
    assert!(both.to_string().contains("commit"), "{both}");
    assert!(both.to_string().contains("is not signed"), "{both}");
    let both = check("ssh-signed", Mode::TagAndHead).unwrap();
    let kinds: Vec<ObjectKind> = both.verified.iter().map(|v| v.kind).collect();
    assert_eq!(kinds, [ObjectKind::Tag, ObjectKind::Commit]);
    // A signed tag pinned by its object id (as the controller pins a
    // revision) is verified as the tag.
    let tag_id = keys.git(&work, &["rev-parse", "ssh-signed"], &Signing::None);
    let pinned = fetch(
        &repo,
        cache.path(),
        GitRef::Commit(tag_id.clone()),
        &trusted(&keys, Mode::TagAndHead),
    )
    .unwrap();
    assert_eq!(pinned.verified[0].object.to_string(), tag_id);
    assert_eq!(pinned.commit, both.commit);
    // Tag modes need an annotated tag.
    let light = check("lightweight", Mode::Tag).unwrap_err();
    assert!(light.to_string().contains("lightweight tag"), "{light}");
    let branch = fetch(
        &repo,
        cache.path(),
        GitRef::Branch("main".into()),
        &trusted(&keys, Mode::Tag),
    )
    .unwrap_err();
    assert!(branch.to_string().contains("is a branch"), "{branch}");
}

#[test]
fn a_refused_revision_never_becomes_the_last_good_one() {
    let keys = Keys::new();
    let repo = Repo::new();
    let work = repo.work();
    repo.write("deploy/app.yaml", "kind: ConfigMap # signed\n");
    let signed = keys.commit(&work, "signed", &Signing::Ssh(keys.ssh_key("alice")));
    repo.push();
    let verification = trusted(&keys, Mode::Head);
    let cache = tempfile::tempdir().unwrap();
    let main = || GitRef::Branch("main".into());
    fetch(&repo, cache.path(), main(), &verification).unwrap();

    repo.write("deploy/app.yaml", "kind: ConfigMap # unsigned\n");
    let unsigned = keys.commit(&work, "unsigned", &Signing::None);
    repo.push();
    let error = fetch(&repo, cache.path(), main(), &verification).unwrap_err();
    assert!(error.to_string().contains(&unsigned), "{error}");
    assert!(!error.is_retryable());

    let source = Source {
        url: repo.url(),
        reference: main(),
        path: String::new(),
        credentials: Credentials::None,
    };
    let good = source::last_good(
        &source,
        cache.path(),
        &FetchOptions::default(),
        &AtomicBool::new(false),
    )
    .unwrap()
    .unwrap();
    assert_eq!(good.commit.to_string(), signed);
    assert_eq!(
        good.files.get("deploy/app.yaml"),
        Some(&b"kind: ConfigMap # signed\n"[..])
    );
}
