//! Policies as OCI artifacts: the CNCF Wasm layout Plumbline pushes
//! (config `application/vnd.wasm.config.v0+json`, one `application/wasm`
//! layer), and the layouts it pulls: that one, Kubewarden's
//! (`application/vnd.wasm.content.layer.v1+wasm`) and
//! `application/vnd.module.wasm.content.layer.v1+wasm`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::{digest_of, fetch, push, resolve, Artifact, ArtifactRef, Blob, Error, Options, Result};
use crate::source::verify::{TrustedKeys, Verified};

/// The config media type of the CNCF Wasm OCI artifact layout.
pub const WASM_CONFIG: &str = "application/vnd.wasm.config.v0+json";
/// The layer media type of the CNCF Wasm OCI artifact layout.
pub const WASM_LAYER: &str = "application/wasm";
/// Kubewarden's policy layer media type.
pub const KUBEWARDEN_LAYER: &str = "application/vnd.wasm.content.layer.v1+wasm";
/// The layer media type of `oras`-pushed Wasm modules in some registries'
/// conventions.
pub const MODULE_LAYER: &str = "application/vnd.module.wasm.content.layer.v1+wasm";
/// Every layer media type a policy is pulled from, in order of preference.
pub const POLICY_LAYERS: [&str; 3] = [WASM_LAYER, KUBEWARDEN_LAYER, MODULE_LAYER];

/// The first bytes of a Wasm component (magic, then the component
/// encoding's version and layer).
const COMPONENT_HEADER: [u8; 8] = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];
/// The first bytes of any Wasm binary.
const WASM_MAGIC: [u8; 4] = [0x00, 0x61, 0x73, 0x6d];

/// A policy pulled from a registry.
#[derive(Debug, Clone)]
pub struct PulledPolicy {
    /// The artifact (manifest digest, reference pinned to it).
    pub artifact: Artifact,
    /// The component's bytes (the policy layer, verified).
    pub component: Vec<u8>,
}

impl PulledPolicy {
    /// The component layer's digest: the key of the compile cache.
    pub fn component_digest(&self) -> &str {
        &self.artifact.blobs[0].0.digest
    }
}

/// Push `component` to `reference` in the CNCF Wasm layout; returns the
/// manifest digest. Refuses what is not a Wasm component.
pub async fn push_policy(
    reference: &ArtifactRef,
    component: Vec<u8>,
    options: &Options,
) -> Result<String> {
    check_component(reference, &component)?;
    let layer = Blob::new(WASM_LAYER, component);
    // No timestamps: the same component always gives the same digest.
    let config = serde_json::json!({
        "architecture": "wasm",
        "os": "wasip2",
        "layerDigests": [layer.descriptor().digest],
    });
    let config = Blob::new(
        WASM_CONFIG,
        serde_json::to_vec(&config).expect("JSON serializes"),
    );
    push(
        reference,
        options,
        None,
        &config,
        std::slice::from_ref(&layer),
        BTreeMap::new(),
    )
    .await
}

/// Pull the policy at `reference`: the one layer of a known Wasm media
/// type, which must be a Wasm component.
pub async fn pull_policy(reference: &ArtifactRef, options: &Options) -> Result<PulledPolicy> {
    let artifact = fetch(reference, options, select_policy_layer).await?;
    let component = artifact.blobs[0].1.clone();
    check_component(&artifact.reference, &component)?;
    Ok(PulledPolicy {
        artifact,
        component,
    })
}

/// A policy module resolved through the local cache.
#[derive(Debug, Clone)]
pub struct CachedPolicy {
    /// The reference, pinned to the manifest digest it resolved to.
    pub reference: ArtifactRef,
    /// The manifest digest.
    pub digest: String,
    /// The component file in the cache (`<dir>/sha256-<hex>.wasm`, named by
    /// the component's digest, which also keys the compile cache).
    pub component: PathBuf,
    /// Whether it was already in the cache (no pull).
    pub cached: bool,
    /// The signature verified, when keys were given.
    pub verified: Option<Verified>,
}

/// The policy at `reference`, through the cache in `dir`: a tag is
/// resolved to a digest (one request), and a digest already pulled is not
/// pulled again. The cache maps manifest digests to component files, both
/// checked against their digests when read.
///
/// With `keys`, the digest's cosign signature is verified first, every
/// time (a cached digest too): an artifact no trusted key signed is
/// neither pulled nor read from the cache, so it is never compiled.
pub async fn pull_cached(
    reference: &ArtifactRef,
    options: &Options,
    dir: &Path,
    keys: Option<&TrustedKeys>,
) -> Result<CachedPolicy> {
    let digest = resolve(reference, options).await?;
    let pinned = reference.pinned(&digest);
    let verified = match keys {
        Some(keys) => Some(super::signature::verify(&pinned, &digest, keys, options).await?),
        None => None,
    };
    let index = dir.join(file_name(&digest, ""));
    if let Some(component) = cached_component(dir, &index) {
        return Ok(CachedPolicy {
            reference: pinned,
            digest,
            component,
            cached: true,
            verified,
        });
    }
    let pulled = pull_policy(&pinned, options).await?;
    let component_digest = pulled.component_digest().to_owned();
    let component = dir.join(file_name(&component_digest, ".wasm"));
    let cache_error = |path: &Path, e: std::io::Error| Error::Cache {
        reference: pinned.to_string(),
        path: path.to_owned(),
        message: e.to_string(),
    };
    std::fs::create_dir_all(dir).map_err(|e| cache_error(dir, e))?;
    write_atomically(&component, &pulled.component).map_err(|e| cache_error(&component, e))?;
    write_atomically(&index, component_digest.as_bytes()).map_err(|e| cache_error(&index, e))?;
    Ok(CachedPolicy {
        reference: pinned,
        digest,
        component,
        cached: false,
        verified,
    })
}

/// The component file a manifest digest's index entry names, when both
/// exist and the component still has its digest.
fn cached_component(dir: &Path, index: &Path) -> Option<PathBuf> {
    let component_digest = std::fs::read_to_string(index).ok()?;
    let component = dir.join(file_name(component_digest.trim(), ".wasm"));
    let bytes = std::fs::read(&component).ok()?;
    (digest_of(&bytes) == component_digest.trim()).then_some(component)
}

/// `sha256-<hex><extension>`.
fn file_name(digest: &str, extension: &str) -> String {
    format!("{}{extension}", digest.replace(':', "-"))
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let temp = path.with_extension(format!("tmp{}", std::process::id()));
    std::fs::write(&temp, bytes)?;
    std::fs::rename(&temp, path)
}

/// The policy layer of a manifest: exactly one layer of a
/// [`POLICY_LAYERS`] media type.
fn select_policy_layer(manifest: &super::Manifest) -> Result<Vec<super::Descriptor>, String> {
    let wasm: Vec<_> = manifest
        .layers
        .iter()
        .filter(|layer| POLICY_LAYERS.contains(&layer.media_type.as_str()))
        .cloned()
        .collect();
    match wasm.len() {
        1 => Ok(wasm),
        0 => Err(format!(
            "no Wasm layer (media type {}); the layers are: {}",
            POLICY_LAYERS.join(", "),
            describe_layers(manifest)
        )),
        n => Err(format!("{n} Wasm layers; a policy artifact has one")),
    }
}

fn describe_layers(manifest: &super::Manifest) -> String {
    if manifest.layers.is_empty() {
        return "none".to_owned();
    }
    manifest
        .layers
        .iter()
        .map(|l| l.media_type.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Refuse bytes that are not a Wasm component, saying what they are.
fn check_component(reference: &ArtifactRef, bytes: &[u8]) -> Result<()> {
    let message = if bytes.starts_with(&COMPONENT_HEADER) {
        return Ok(());
    } else if bytes.starts_with(&WASM_MAGIC) {
        "the Wasm layer is a core module, not a component (build it for the component model, e.g. `plumbline policy build`)"
    } else {
        "the Wasm layer is not WebAssembly (no \\0asm header)"
    };
    Err(Error::Layout {
        reference: reference.to_string(),
        message: message.to_owned(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::oci::{Descriptor, Manifest};

    fn manifest(layers: &[&str]) -> Manifest {
        let descriptor = |media_type: &str| Descriptor {
            media_type: media_type.to_owned(),
            digest: format!("sha256:{}", "0".repeat(64)),
            size: 1,
            annotations: BTreeMap::new(),
        };
        Manifest {
            schema_version: 2,
            media_type: None,
            artifact_type: None,
            config: descriptor(WASM_CONFIG),
            layers: layers.iter().map(|l| descriptor(l)).collect(),
            annotations: BTreeMap::new(),
        }
    }

    #[test]
    fn each_known_layout_gives_its_wasm_layer() {
        for layer in POLICY_LAYERS {
            let picked = select_policy_layer(&manifest(&["text/plain", layer])).unwrap();
            assert_eq!(picked.len(), 1);
            assert_eq!(picked[0].media_type, layer);
        }
    }

    #[test]
    fn artifacts_without_or_with_several_wasm_layers_are_refused() {
        let none = select_policy_layer(&manifest(&["application/vnd.oci.image.layer.v1.tar+gzip"]))
            .unwrap_err();
        assert!(
            none.contains("no Wasm layer") && none.contains("tar+gzip"),
            "{none}"
        );
        let two = select_policy_layer(&manifest(&[WASM_LAYER, KUBEWARDEN_LAYER])).unwrap_err();
        assert!(two.contains("2 Wasm layers"), "{two}");
    }

    #[test]
    fn only_components_pass_the_component_check() {
        let reference: ArtifactRef = "oci://r.example/p:v1".parse().unwrap();
        assert!(check_component(&reference, &COMPONENT_HEADER).is_ok());
        let core = check_component(&reference, &[0, 0x61, 0x73, 0x6d, 1, 0, 0, 0]).unwrap_err();
        assert!(core.to_string().contains("core module"), "{core}");
        let text = check_component(&reference, b"hello").unwrap_err();
        assert!(text.to_string().contains("oci://r.example/p:v1"), "{text}");
    }
}
