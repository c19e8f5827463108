//! Finding the control plane's binaries, the way envtest does, and unpacking
//! them once into a cache directory.
//!
//! Lookup order:
//! 1. `KUBEBUILDER_ASSETS`: a directory holding the executables `etcd` and
//!    `kube-apiserver` (and optionally `kube-controller-manager`), used in place.
//! 2. `PLUMBLINE_K8S_ASSETS`: a directory holding `etcd.xz`, `kube-apiserver.xz`
//!    (optionally `kube-controller-manager.xz`) and optionally `SHA256SUMS`.
//! 3. `../shared/k8s` relative to the repository root, laid out as in 2.
//!
//! Compressed binaries are unpacked with `xz -dc` into
//! `$PLUMBLINE_K8S_CACHE` (default `~/.cache/plumbline/k8s`), in a directory
//! named after the digest of `SHA256SUMS` (or of the archives), verified
//! against `SHA256SUMS` when present, and moved into place with one rename, so
//! concurrent test processes never see a half-written binary.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// The three programs of a control plane.
#[derive(Debug, Clone)]
pub struct Binaries {
    /// `etcd`.
    pub etcd: PathBuf,
    /// `kube-apiserver`.
    pub kube_apiserver: PathBuf,
    /// `kube-controller-manager`, when the assets include it.
    pub kube_controller_manager: Option<PathBuf>,
    /// The directory certificates and keys shared by every instance live in.
    pub cache: PathBuf,
}

/// Where the binaries come from, before unpacking.
#[derive(Debug, Clone)]
enum Source {
    Unpacked(PathBuf),
    Compressed(PathBuf),
}

/// Finds the binaries (unpacking them if needed). `Ok(None)` means none are
/// available anywhere; the reason is in [`why_unavailable`].
pub fn locate() -> Result<Option<Binaries>> {
    match source() {
        None => Ok(None),
        Some(Source::Unpacked(dir)) => {
            let bin = |name: &str| dir.join(name);
            let kcm = bin("kube-controller-manager");
            Ok(Some(Binaries {
                etcd: bin("etcd"),
                kube_apiserver: bin("kube-apiserver"),
                kube_controller_manager: kcm.is_file().then_some(kcm),
                cache: cache_root()?.join("unpacked-assets"),
            }))
        }
        Some(Source::Compressed(dir)) => unpack(&dir).map(Some),
    }
}

/// One line saying why no control plane can be started, for skipped tests.
pub fn why_unavailable() -> String {
    format!(
        "no Kubernetes control-plane binaries: set KUBEBUILDER_ASSETS (a directory with etcd and \
         kube-apiserver) or PLUMBLINE_K8S_ASSETS (a directory with etcd.xz and kube-apiserver.xz), \
         or provide {}",
        shared_k8s().display()
    )
}

fn source() -> Option<Source> {
    if let Some(dir) = std::env::var_os("KUBEBUILDER_ASSETS") {
        let dir = PathBuf::from(dir);
        if dir.join("etcd").is_file() && dir.join("kube-apiserver").is_file() {
            return Some(Source::Unpacked(dir));
        }
    }
    if let Some(dir) = std::env::var_os("PLUMBLINE_K8S_ASSETS") {
        let dir = PathBuf::from(dir);
        if has_archives(&dir) {
            return Some(Source::Compressed(dir));
        }
    }
    let shared = shared_k8s();
    has_archives(&shared).then_some(Source::Compressed(shared))
}

fn has_archives(dir: &Path) -> bool {
    dir.join("etcd.xz").is_file() && dir.join("kube-apiserver.xz").is_file()
}

/// `../shared/k8s` next to the repository root, looked for above the
/// package cargo is running (it sets `CARGO_MANIFEST_DIR` for tests and
/// benches), then above this crate as it was compiled: a build cached in a
/// target directory shared by several clones still finds the clone's own.
fn shared_k8s() -> PathBuf {
    let compiled = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let running = std::env::var_os("CARGO_MANIFEST_DIR").map(PathBuf::from);
    let found = running
        .iter()
        .chain([&compiled])
        .flat_map(|base| base.ancestors().map(|dir| dir.join("../shared/k8s")))
        .find(|dir| has_archives(dir));
    found.unwrap_or_else(|| compiled.join("../../../shared/k8s"))
}

fn cache_root() -> Result<PathBuf> {
    if let Some(dir) = std::env::var_os("PLUMBLINE_K8S_CACHE") {
        return Ok(PathBuf::from(dir));
    }
    let home = std::env::var_os("HOME").ok_or(Error::NoCacheDir)?;
    Ok(PathBuf::from(home).join(".cache/plumbline/k8s"))
}

/// Unpacks the archives in `dir` into the cache, once.
fn unpack(dir: &Path) -> Result<Binaries> {
    let sums = fs::read(dir.join("SHA256SUMS")).ok();
    let key = match &sums {
        Some(sums) => hex::encode(Sha256::digest(sums)),
        None => digest_of_archives(dir)?,
    };
    let target = cache_root()?.join(&key[..16]);
    let names = ["etcd", "kube-apiserver", "kube-controller-manager"];
    if !target.join("kube-apiserver").is_file() {
        let staging = target.with_extension(crate::unique_suffix());
        let _ = fs::remove_dir_all(&staging);
        fs::create_dir_all(&staging).map_err(|e| Error::io(&staging, e))?;
        for name in names {
            let archive = dir.join(format!("{name}.xz"));
            if !archive.is_file() {
                continue;
            }
            let out = staging.join(name);
            let file = fs::File::create(&out).map_err(|e| Error::io(&out, e))?;
            let status = Command::new("xz")
                .arg("-dc")
                .arg(&archive)
                .stdout(file)
                .status()
                .map_err(|e| Error::Spawn("xz".into(), e))?;
            if !status.success() {
                return Err(Error::Unpack(archive, format!("xz exited with {status}")));
            }
            make_executable(&out)?;
        }
        if let Some(sums) = &sums {
            verify(&staging, &String::from_utf8_lossy(sums))?;
        }
        // Another process may have won the race; its copy is as good as ours.
        if fs::rename(&staging, &target).is_err() {
            let _ = fs::remove_dir_all(&staging);
        }
    }
    let kcm = target.join("kube-controller-manager");
    Ok(Binaries {
        etcd: target.join("etcd"),
        kube_apiserver: target.join("kube-apiserver"),
        kube_controller_manager: kcm.is_file().then_some(kcm),
        cache: target,
    })
}

fn digest_of_archives(dir: &Path) -> Result<String> {
    let mut hasher = Sha256::new();
    for name in ["etcd.xz", "kube-apiserver.xz", "kube-controller-manager.xz"] {
        let path = dir.join(name);
        if let Ok(bytes) = fs::read(&path) {
            hasher.update(name.as_bytes());
            hasher.update(&bytes);
        }
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Checks every unpacked binary named in `SHA256SUMS` (`<hex>  <name>` lines).
fn verify(dir: &Path, sums: &str) -> Result<()> {
    for line in sums.lines() {
        let Some((expected, name)) = line.split_once(char::is_whitespace) else {
            continue;
        };
        let name = name.trim().trim_start_matches('*');
        let path = dir.join(name);
        if !path.is_file() {
            continue;
        }
        let bytes = fs::read(&path).map_err(|e| Error::io(&path, e))?;
        let actual = hex::encode(Sha256::digest(&bytes));
        if actual != expected {
            return Err(Error::Unpack(
                path,
                format!("sha256 {actual} does not match SHA256SUMS ({expected})"),
            ));
        }
    }
    Ok(())
}

fn make_executable(path: &Path) -> Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(path, fs::Permissions::from_mode(0o755)).map_err(|e| Error::io(path, e))
}
