//! Manifests as OCI artifacts: a tar+gzip of a directory, in Flux's layout
//! (`flux push artifact`: config `application/vnd.cncf.flux.config.v1+json`,
//! layer `application/vnd.cncf.flux.content.v1.tar+gzip`), which
//! `plumbline push` writes; a plain tar+gzip layer is read too. Packing is
//! deterministic (sorted, no timestamps or owners), so the same directory
//! gives the same digest. Unpacking is bounded and takes regular files
//! only, with relative paths that stay inside the archive.

use std::collections::BTreeMap;
use std::io::Read;

use super::{
    fetch, push, Artifact, ArtifactRef, Blob, Descriptor, Error, Manifest, Options, Result,
};
use crate::source::Tree;

/// Flux's artifact config media type.
pub const FLUX_CONFIG: &str = "application/vnd.cncf.flux.config.v1+json";
/// Flux's artifact content media type.
pub const FLUX_LAYER: &str = "application/vnd.cncf.flux.content.v1.tar+gzip";
/// Plain tar+gzip layer media types that are read as manifests too.
pub const TAR_GZIP_LAYERS: [&str; 3] = [
    FLUX_LAYER,
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
];

/// Limits of unpacking one archive.
#[derive(Debug, Clone, Copy)]
pub struct UnpackLimits {
    /// Largest total size of the files.
    pub max_bytes: u64,
    /// Most files.
    pub max_files: usize,
}

impl Default for UnpackLimits {
    /// 256 MiB in at most 10 000 files.
    fn default() -> Self {
        UnpackLimits {
            max_bytes: 256 << 20,
            max_files: 10_000,
        }
    }
}

/// A tar+gzip of `tree`'s files.
pub fn pack(tree: &Tree) -> Vec<u8> {
    let encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut archive = tar::Builder::new(encoder);
    archive.mode(tar::HeaderMode::Deterministic);
    for (path, bytes) in tree.iter() {
        let mut header = tar::Header::new_gnu();
        header.set_size(bytes.len() as u64);
        header.set_mode(0o644);
        header.set_mtime(0);
        header.set_entry_type(tar::EntryType::Regular);
        archive
            .append_data(&mut header, path, bytes)
            .expect("writing to memory does not fail");
    }
    archive
        .into_inner()
        .and_then(flate2::write::GzEncoder::finish)
        .expect("writing to memory does not fail")
}

/// The files of a tar+gzip, within `limits`. Directories are skipped;
/// links, devices, absolute paths and `..` are refused.
pub fn unpack(archive: &[u8], limits: UnpackLimits) -> Result<Tree, String> {
    let mut tree = Tree::new();
    let mut total = 0u64;
    let mut entries = tar::Archive::new(flate2::read::GzDecoder::new(archive));
    for entry in entries
        .entries()
        .map_err(|e| format!("not a tar+gzip archive: {e}"))?
    {
        let mut entry = entry.map_err(|e| format!("not a tar+gzip archive: {e}"))?;
        let path = entry
            .path()
            .map_err(|e| format!("an entry has an unreadable path: {e}"))?
            .to_string_lossy()
            .into_owned();
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            continue;
        }
        if !kind.is_file() {
            return Err(format!(
                "{path}: only regular files are accepted ({kind:?})"
            ));
        }
        let clean = path.trim_start_matches("./");
        if clean.starts_with('/') || clean.split('/').any(|part| part == "..") {
            return Err(format!("{path}: the path leaves the archive"));
        }
        if tree.len() >= limits.max_files {
            return Err(format!("more than {} files", limits.max_files));
        }
        let mut bytes = Vec::new();
        let room = limits.max_bytes.saturating_sub(total);
        (&mut entry)
            .take(room + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| format!("{path}: {e}"))?;
        total += bytes.len() as u64;
        if total > limits.max_bytes {
            return Err(format!(
                "the files are larger than {} bytes",
                limits.max_bytes
            ));
        }
        tree.insert(clean, bytes);
    }
    Ok(tree)
}

/// Push `tree` to `reference` in Flux's layout, annotated with the
/// `source` and `revision` it came from; returns the manifest digest.
pub async fn push_manifests(
    reference: &ArtifactRef,
    tree: &Tree,
    annotations: BTreeMap<String, String>,
    options: &Options,
) -> Result<String> {
    let layer = Blob::new(FLUX_LAYER, pack(tree));
    let config = Blob::new(FLUX_CONFIG, b"{}".to_vec());
    push(reference, options, None, &config, &[layer], annotations).await
}

/// Pull the manifests at `reference`: its one tar+gzip layer, unpacked.
pub async fn pull_manifests(
    reference: &ArtifactRef,
    options: &Options,
    limits: UnpackLimits,
) -> Result<(Artifact, Tree)> {
    let artifact = fetch(reference, options, manifests_layer).await?;
    let tree = unpack(&artifact.blobs[0].1, limits).map_err(|message| Error::Layout {
        reference: artifact.reference.to_string(),
        message,
    })?;
    Ok((artifact, tree))
}

/// The one tar+gzip layer of a manifests artifact, or why there is none.
pub fn manifests_layer(manifest: &Manifest) -> Result<Vec<Descriptor>, String> {
    let layers: Vec<_> = manifest
        .layers
        .iter()
        .filter(|l| TAR_GZIP_LAYERS.contains(&l.media_type.as_str()))
        .cloned()
        .collect();
    match layers.len() {
        1 => Ok(layers),
        0 => Err(format!(
            "no tar+gzip layer of manifests (media type {})",
            TAR_GZIP_LAYERS.join(", ")
        )),
        n => Err(format!("{n} tar+gzip layers; a manifests artifact has one")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packing_is_deterministic_and_unpacks_to_the_same_files() {
        let mut tree = Tree::new();
        tree.insert("kustomization.yaml", b"resources: [app.yaml]\n".to_vec());
        tree.insert("base/app.yaml", b"kind: ConfigMap\n".to_vec());
        let packed = pack(&tree);
        assert_eq!(packed, pack(&tree));
        let back = unpack(&packed, UnpackLimits::default()).unwrap();
        assert_eq!(back.get("base/app.yaml"), Some(&b"kind: ConfigMap\n"[..]));
        assert_eq!(back.len(), 2);
    }

    #[test]
    fn archives_over_the_limits_or_leaving_the_root_are_refused() {
        let mut tree = Tree::new();
        tree.insert("a.yaml", vec![b'a'; 100]);
        tree.insert("b.yaml", vec![b'b'; 100]);
        let packed = pack(&tree);
        let small = UnpackLimits {
            max_bytes: 150,
            max_files: 10,
        };
        assert!(unpack(&packed, small)
            .unwrap_err()
            .contains("larger than 150"));
        let few = UnpackLimits {
            max_bytes: 1000,
            max_files: 1,
        };
        assert!(unpack(&packed, few)
            .unwrap_err()
            .contains("more than 1 files"));
        assert!(unpack(b"not gzip", UnpackLimits::default()).is_err());

        let mut escaping = tar::Builder::new(flate2::write::GzEncoder::new(
            Vec::new(),
            flate2::Compression::default(),
        ));
        let mut header = tar::Header::new_gnu();
        header.set_size(1);
        header.set_entry_type(tar::EntryType::Regular);
        header.as_gnu_mut().unwrap().name[..9].copy_from_slice(b"../x.yaml");
        header.set_cksum();
        escaping.append(&header, &b"x"[..]).unwrap();
        let bytes = escaping.into_inner().unwrap().finish().unwrap();
        assert!(unpack(&bytes, UnpackLimits::default())
            .unwrap_err()
            .contains("leaves the archive"));
    }
}
