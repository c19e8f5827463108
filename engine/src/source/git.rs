//! Fetching from Git remotes into the cache and reading trees at a commit.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use gix::bstr::ByteSlice;
use gix::remote::fetch::Shallow;
use gix::{NestedProgress, ObjectId};
use sha2::{Digest, Sha256};

use super::tree::Builder;
use super::verify;
use super::{Error, FetchOptions, Fetched, GitRef, Limits, Result, Source};

/// Fetch `source` into the cache under `cache_dir` and read its files.
///
/// The first fetch of a URL creates a bare repository in `cache_dir` (one per
/// URL, shared by all references); later fetches only transfer what changed.
/// A branch or tag that was force-pushed is followed. On success the commit
/// becomes the source's last good revision (see [`last_good`]).
///
/// `progress` receives gix's progress (pass [`gix::progress::Discard`] to
/// ignore it); raising `interrupt` stops the fetch with [`Error::Interrupted`].
///
/// # Errors
///
/// [`Error::Unreachable`], [`Error::RefNotFound`] and [`Error::Fetch`] carry
/// the last good revision; the others describe the input (URL, reference,
/// limits, symlinks).
pub fn fetch<P>(
    source: &Source,
    cache_dir: &Path,
    options: &FetchOptions,
    mut progress: P,
    interrupt: &AtomicBool,
) -> Result<Fetched>
where
    P: NestedProgress,
    P::SubProgress: 'static,
{
    let url = parse_url(&source.url)?;
    let spec = RefSpec::new(&source.reference)?;
    // One fetch at a time per cache repository in this process: gix fetches
    // racing on the same repository's lock files fail (the controller
    // reconciles many syncs of one repository at once).
    let lock = cache_lock(&cache_dir.join(cache_key(&source.url)));
    let _fetching = lock.lock().unwrap_or_else(PoisonError::into_inner);
    let repo = open_cache(cache_dir, &source.url)?;
    let repo = configure(repo, source, options)?;
    let last_good = repo
        .try_find_reference(spec.good.as_str())
        .ok()
        .flatten()
        .and_then(|r| r.try_id().map(|id| id.detach()));
    let shown_url = source.url.clone();

    crate::source::git::install_tls_provider();
    let remote = repo
        .remote_at(url)
        .map_err(|source| Error::InvalidUrl {
            url: shown_url.clone(),
            source,
        })?
        .with_fetch_tags(gix::remote::fetch::Tags::None)
        .with_refspecs([spec.refspec.as_str()], gix::remote::Direction::Fetch)
        .map_err(|_| Error::InvalidReference {
            reference: source.reference.clone(),
            reason: "not a valid ref name",
        })?;
    let account = source.credentials.http_account();
    let unreachable = |source| Error::Unreachable {
        url: shown_url.clone(),
        last_good,
        source,
    };
    let connection = remote
        .connect(gix::remote::Direction::Fetch)
        .map_err(unreachable)?
        .with_credentials(move |action| {
            use gix::credentials::helper::Action;
            Ok(match (action, &account) {
                (Action::Get(ctx), Some((username, password))) => {
                    Some(gix::credentials::protocol::Outcome {
                        identity: gix::sec::identity::Account {
                            username: username.clone(),
                            password: password.clone(),
                            oauth_refresh_token: None,
                        },
                        next: ctx.into(),
                    })
                }
                _ => None,
            })
        });
    let prepare = connection
        .prepare_fetch(
            progress.add_child("list references"),
            gix::remote::ref_map::Options::default(),
        )
        .map_err(unreachable)?;
    let mapped = prepare.ref_map().mappings.iter().any(|m| {
        m.local
            .as_ref()
            .is_some_and(|l| l == spec.fetched.as_bytes())
    });
    if !mapped {
        return Err(Error::RefNotFound {
            url: shown_url,
            reference: source.reference.clone(),
            last_good,
        });
    }
    // Every fetch asks for `depth` commits; the server still uses our
    // previous commit as a base, so later fetches only transfer new objects,
    // and the cache never grows beyond `depth` commits per reference.
    let shallow = match options.depth {
        Some(depth) => Shallow::DepthAtRemote(depth),
        None if matches!(repo.is_shallow(), Ok(true)) => Shallow::undo(),
        None => Shallow::NoChange,
    };
    prepare
        .with_shallow(shallow)
        .receive(progress, interrupt)
        .map_err(|e| {
            if interrupt.load(Ordering::Relaxed) {
                Error::Interrupted
            } else {
                Error::Fetch {
                    url: shown_url.clone(),
                    reference: source.reference.clone(),
                    last_good,
                    source: e,
                }
            }
        })?;

    let (target, commit) = peel_to_commit(&repo, &spec.fetched).map_err(|e| Error::Fetch {
        url: shown_url.clone(),
        reference: source.reference.clone(),
        last_good,
        source: e,
    })?;
    let verified = match &options.verify {
        Some(verification) => {
            verify::verify_fetched(&repo, target, commit, &source.reference, verification).map_err(
                |source_error| Error::Unverified {
                    url: shown_url.clone(),
                    reference: source.reference.clone(),
                    source: Box::new(source_error),
                },
            )?
        }
        None => Vec::new(),
    };
    let files = read_tree(&repo, commit, &source.path, &options.limits, interrupt)?;
    repo.reference(
        spec.good.as_str(),
        commit,
        gix::refs::transaction::PreviousValue::Any,
        "plumbline: last good revision",
    )
    .map_err(|source| Error::Cache {
        path: repo.path().to_owned(),
        source,
    })?;
    Ok(Fetched {
        commit,
        files,
        verified,
    })
}

/// The files of the last revision of `source` that [`fetch`] delivered, read
/// from the cache without contacting the remote; `None` if there is none.
pub fn last_good(
    source: &Source,
    cache_dir: &Path,
    options: &FetchOptions,
    interrupt: &AtomicBool,
) -> Result<Option<Fetched>> {
    let spec = RefSpec::new(&source.reference)?;
    let dir = cache_dir.join(cache_key(&source.url));
    if !dir.join("HEAD").is_file() {
        return Ok(None);
    }
    let repo = open_cache(cache_dir, &source.url)?;
    let Some(commit) = repo
        .try_find_reference(spec.good.as_str())
        .map_err(|source| Error::Cache {
            path: dir.clone(),
            source,
        })?
        .and_then(|r| r.try_id().map(|id| id.detach()))
    else {
        return Ok(None);
    };
    let files = read_tree(&repo, commit, &source.path, &options.limits, interrupt)?;
    Ok(Some(Fetched {
        commit,
        files,
        verified: Vec::new(),
    }))
}

/// Install rustls' `ring` provider as the process default, once; reqwest
/// (smart HTTP) needs a default provider. A provider installed earlier by
/// the application wins.
pub(crate) fn install_tls_provider() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        // An error only means another provider is installed already.
        let _ = rustls::crypto::ring::default_provider().install_default();
    });
}

/// Parse the URL and refuse embedded passwords.
fn parse_url(url: &str) -> Result<gix::Url> {
    let parsed = gix::url::parse(url.as_bytes().as_bstr()).map_err(|e| Error::InvalidUrl {
        url: redact(url),
        source: gix::Error::from_error(e),
    })?;
    if parsed.password().is_some() {
        return Err(Error::CredentialsInUrl { url: redact(url) });
    }
    Ok(parsed)
}

/// `url` with anything between `://` and the last `@` of the authority
/// replaced, so no secret can be shown.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => url.to_owned(),
    }
}

/// The refspec that fetches a reference, and the local refs it uses.
struct RefSpec {
    refspec: String,
    /// Updated by every fetch.
    fetched: String,
    /// Updated once the files of a fetched commit were read successfully.
    good: String,
}

impl RefSpec {
    fn new(reference: &GitRef) -> Result<Self> {
        let invalid = |reason| Error::InvalidReference {
            reference: reference.clone(),
            reason,
        };
        let remote = match reference {
            GitRef::Branch(name) => format!("refs/heads/{name}"),
            GitRef::Tag(name) => format!("refs/tags/{name}"),
            GitRef::Commit(sha) => {
                if sha.len() != 40 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(invalid(
                        "a commit must be a full 40-digit hexadecimal SHA-1",
                    ));
                }
                sha.to_ascii_lowercase()
            }
        };
        if !matches!(reference, GitRef::Commit(_)) {
            gix::refs::FullName::try_from(remote.as_str())
                .map_err(|_| invalid("not a valid ref name"))?;
        }
        let key = &hex::encode(Sha256::digest(format!("{reference:?}")))[..16];
        Ok(Self {
            refspec: format!("+{remote}:refs/plumbline/fetched/{key}"),
            fetched: format!("refs/plumbline/fetched/{key}"),
            good: format!("refs/plumbline/good/{key}"),
        })
    }
}

/// The process-wide lock of one cache repository.
fn cache_lock(dir: &Path) -> Arc<Mutex<()>> {
    static LOCKS: OnceLock<Mutex<HashMap<PathBuf, Arc<Mutex<()>>>>> = OnceLock::new();
    let mut locks = LOCKS
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    Arc::clone(locks.entry(dir.to_owned()).or_default())
}

/// The cache directory name of a URL.
fn cache_key(url: &str) -> String {
    format!("{}.git", &hex::encode(Sha256::digest(url.as_bytes()))[..24])
}

/// Open the bare cache repository of `url`, creating it if needed. The
/// repository ignores the user's and the system's Git configuration.
fn open_cache(cache_dir: &Path, url: &str) -> Result<gix::Repository> {
    let dir: PathBuf = cache_dir.join(cache_key(url));
    let cache_err = |source| Error::Cache {
        path: dir.clone(),
        source,
    };
    let open = || gix::open_opts(&dir, gix::open::Options::isolated());
    if dir.join("HEAD").is_file() {
        return open().map_err(cache_err);
    }
    std::fs::create_dir_all(cache_dir).map_err(|e| cache_err(gix::Error::from_error(e)))?;
    gix::init_bare(&dir).map_err(cache_err)?;
    open().map_err(cache_err)
}

/// In-memory configuration for this fetch: the ssh command (never written
/// to disk, so key paths do not outlive the fetch).
fn configure(
    mut repo: gix::Repository,
    source: &Source,
    options: &FetchOptions,
) -> Result<gix::Repository> {
    let path = repo.path().to_owned();
    let cache_err = |source| Error::Cache {
        path: path.clone(),
        source,
    };
    let program = options.ssh_program.as_deref().unwrap_or("ssh");
    let command = source.credentials.ssh_command(program);
    {
        let mut config = repo.config_snapshot_mut();
        config
            .set_value(&gix::config::tree::Core::SSH_COMMAND, command.as_str())
            .map_err(cache_err)?;
        config
            .set_raw_value_by("ssh", None, "variant", "ssh")
            .map_err(|e| cache_err(gix::Error::from_error(e)))?;
        config.commit().map_err(cache_err)?;
    }
    Ok(repo)
}

/// The object a local ref points to (an annotated tag or a commit) and the
/// commit it peels to.
fn peel_to_commit(repo: &gix::Repository, name: &str) -> gix::Result<(ObjectId, ObjectId)> {
    let reference = repo.find_reference(name)?;
    let target = reference
        .try_id()
        .map(|id| id.detach())
        .ok_or_else(|| gix::Error::from_error(std::io::Error::other("symbolic reference")))?;
    let commit = repo.find_object(target)?.peel_to_commit()?.id;
    Ok((target, commit))
}

/// Read the files under `path` at `commit` from the object database.
fn read_tree(
    repo: &gix::Repository,
    commit: ObjectId,
    path: &str,
    limits: &Limits,
    interrupt: &AtomicBool,
) -> Result<super::Tree> {
    let path = path.trim_matches('/');
    let read_err = |path: &str| {
        let path = path.to_owned();
        move |source| Error::ReadObject {
            path,
            commit,
            source,
        }
    };
    let root = repo
        .find_commit(commit)
        .and_then(|c| c.tree())
        .map_err(read_err(""))?;
    let root_id = if path.is_empty() {
        root.id
    } else {
        match root.lookup_entry_by_path(path).map_err(read_err(path))? {
            Some(entry) if entry.mode().is_tree() => entry.object_id(),
            _ => {
                return Err(Error::PathNotFound {
                    path: path.to_owned(),
                    commit,
                })
            }
        }
    };

    let mut builder = Builder::new(limits);
    let mut pending = vec![(String::new(), root_id)];
    while let Some((dir, id)) = pending.pop() {
        if interrupt.load(Ordering::Relaxed) {
            return Err(Error::Interrupted);
        }
        let tree = repo.find_tree(id).map_err(read_err(&dir))?;
        for entry in tree.iter() {
            let entry = entry.map_err(read_err(&dir))?;
            let name = entry.filename().to_str_lossy();
            let file = if dir.is_empty() {
                name.into_owned()
            } else {
                format!("{dir}/{name}")
            };
            let mode = entry.mode();
            let oid = entry.object_id();
            if mode.is_tree() {
                pending.push((file, oid));
            } else if mode.is_link() {
                let target = repo.find_blob(oid).map_err(read_err(&file))?;
                let target = target.data.to_str_lossy().into_owned();
                builder.symlink(file, target)?;
            } else if mode.is_blob() {
                let size = repo.find_header(oid).map_err(read_err(&file))?.size();
                builder.admit(&file, size)?;
                let mut blob = repo.find_blob(oid).map_err(read_err(&file))?;
                builder.file(file, blob.take_data());
            }
            // Submodules (commit entries) are not followed.
        }
    }
    builder.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_hides_user_info() {
        assert_eq!(
            redact("https://u:p@h.example/r.git"),
            "https://***@h.example/r.git"
        );
        assert_eq!(redact("https://h.example/a@b"), "https://h.example/a@b");
        assert_eq!(redact("/local/path"), "/local/path");
    }

    #[test]
    fn passwords_in_urls_are_refused_without_echo() {
        let err = parse_url("https://user:s3cret@example.com/repo.git").unwrap_err();
        assert!(matches!(err, Error::CredentialsInUrl { .. }));
        assert!(!format!("{err} {err:?}").contains("s3cret"));
    }

    #[test]
    fn abbreviated_commits_are_refused() {
        let err = RefSpec::new(&GitRef::Commit("abc123".into()))
            .err()
            .unwrap();
        assert!(err.to_string().contains("40-digit"), "{err}");
        assert!(RefSpec::new(&GitRef::Branch("a..b".into())).is_err());
    }
}
