//! Cosign signatures of OCI artifacts in the registry: [`verify`] pulls
//! the signature artifact of a manifest digest and judges it against the
//! trusted keys; [`sign`] writes one. The cryptography and the verdicts
//! are [`crate::source::verify::cosign`]'s; this module does the IO.
//!
//! The signature of `repository@sha256:<hex>` is the image tagged
//! `sha256-<hex>.sig` in the same repository, as cosign writes it: an OCI
//! manifest with an image config and one layer per signature, each a
//! simple-signing payload ([`cosign::PAYLOAD_MEDIA_TYPE`]) with its base64
//! ECDSA signature in the [`cosign::SIGNATURE_ANNOTATION`] annotation.
//! Signing again with another key adds a layer, as `cosign sign` does.
//!
//! A digest verified once with a set of keys is not verified again by the
//! same process (as Flux does not verify an unchanged revision again): a
//! keyed signature cannot expire, so the verdict holds; a reconcile of an
//! unchanged artifact costs a lookup. Only good verdicts are remembered:
//! a refused digest is verified again at every reconcile, so signing it
//! later lets the sync proceed.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, OnceLock};

use super::{fetch, push, ArtifactRef, Blob, Error, Options, Result};
use crate::source::verify::{cosign, ObjectKind, Signer, SignerFormat, TrustedKeys, Verified};

/// The media type of the signature image's config.
const CONFIG_MEDIA_TYPE: &str = "application/vnd.oci.image.config.v1+json";
/// The largest signature payload read (a simple-signing payload is a few
/// hundred bytes; cosign's own limit is 128 MiB for whole manifests).
const MAX_PAYLOAD_BYTES: u64 = 64 << 10;
/// The most verdicts remembered; past it, they are forgotten all at once
/// (and verified again when next asked).
const MAX_REMEMBERED: usize = 4096;

/// A good verdict: the pinned reference and the trusted keys
/// ([`TrustedKeys::describe`]) it was reached with.
type VerdictKey = (String, String);

/// The good verdicts of this process.
fn verdicts() -> &'static Mutex<HashMap<VerdictKey, Verified>> {
    static VERDICTS: OnceLock<Mutex<HashMap<VerdictKey, Verified>>> = OnceLock::new();
    VERDICTS.get_or_init(Default::default)
}

/// Verify that a trusted cosign key signed the artifact with manifest
/// `digest` in `reference`'s repository; any artifact, whatever it holds
/// (policies, manifests, charts). Call it with the digest a tag resolved
/// to, before anything of the artifact is used.
///
/// `Err(Error::Unverified)` when the artifact is unsigned, no signature
/// verifies with a trusted key, or a trusted key signed another digest;
/// the registry's own errors (timeouts, refused credentials) otherwise.
pub async fn verify(
    reference: &ArtifactRef,
    digest: &str,
    keys: &TrustedKeys,
    options: &Options,
) -> Result<Verified> {
    let pinned = reference.pinned(digest);
    let key = (pinned.to_string(), keys.describe());
    if let Some(verified) = verdicts().lock().expect("not poisoned").get(&key) {
        return Ok(verified.clone());
    }
    let verified = verify_in_registry(&pinned, digest, keys, options).await?;
    let mut remembered = verdicts().lock().expect("not poisoned");
    if remembered.len() >= MAX_REMEMBERED {
        remembered.clear();
    }
    remembered.insert(key, verified.clone());
    Ok(verified)
}

/// [`verify`] against what the registry holds now.
async fn verify_in_registry(
    pinned: &ArtifactRef,
    digest: &str,
    keys: &TrustedKeys,
    options: &Options,
) -> Result<Verified> {
    let tag = signature_tag(pinned)?;
    let layers = signature_layers(&pinned.at_tag(&tag), options).await?;
    let unverified = |refusal| Error::Unverified {
        reference: pinned.to_string(),
        refusal: Box::new(refusal),
        expected: keys.describe(),
    };
    let signer =
        cosign::verify_signatures(&layers, keys.cosign(), digest, &tag).map_err(unverified)?;
    Ok(Verified {
        kind: ObjectKind::Artifact,
        object: pinned.to_string(),
        signer: Signer {
            format: SignerFormat::Cosign,
            fingerprint: signer.fingerprint().to_owned(),
            origin: signer.origin().to_owned(),
        },
    })
}

/// What [`sign`] wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Signed {
    /// The artifact signed, pinned to its digest.
    pub reference: ArtifactRef,
    /// The signature image, `…:sha256-<hex>.sig`.
    pub signature: ArtifactRef,
    /// The signature image's manifest digest.
    pub signature_digest: String,
    /// The fingerprint of the signing key.
    pub fingerprint: String,
}

/// Sign the artifact at `reference` (its tag resolved once) with `signer`
/// and push the signature where cosign puts it. Signatures already there
/// are kept; the same key signing the same digest again changes nothing.
pub async fn sign(
    reference: &ArtifactRef,
    signer: &cosign::PayloadSigner,
    options: &Options,
) -> Result<Signed> {
    let digest = super::resolve(reference, options).await?;
    let pinned = reference.pinned(&digest);
    let tag = signature_tag(&pinned)?;
    let target = pinned.at_tag(&tag);
    let payload = cosign::Payload::new(
        &format!("{}/{}", pinned.registry, pinned.repository),
        &digest,
    )
    .map_err(|e| layout(&pinned, e.to_string()))?
    .to_bytes();
    let mut layers = signature_layers(&target, options).await?;
    // ECDSA signatures are randomized: a key already signed this digest
    // when one of the layers verifies with it.
    let fingerprint = signer.fingerprint();
    let already = layers.iter().any(|layer| {
        signer
            .verifier()
            .verify(&layer.payload, &layer.signature, &digest)
            .is_ok()
    });
    if !already {
        layers.push(cosign::SignatureLayer {
            signature: signer.sign(&payload),
            payload,
        });
    }
    let blobs: Vec<Blob> = layers
        .into_iter()
        .map(|layer| Blob {
            annotations: BTreeMap::from([(
                cosign::SIGNATURE_ANNOTATION.to_owned(),
                layer.signature,
            )]),
            ..Blob::new(cosign::PAYLOAD_MEDIA_TYPE, layer.payload)
        })
        .collect();
    let config = Blob::new(CONFIG_MEDIA_TYPE, image_config(&blobs));
    let signature_digest = push(&target, options, None, &config, &blobs, BTreeMap::new()).await?;
    Ok(Signed {
        reference: pinned,
        signature: target,
        signature_digest,
        fingerprint,
    })
}

/// The config of the signature image, as cosign writes it: an empty image
/// whose root filesystem lists the payload layers.
fn image_config(layers: &[Blob]) -> Vec<u8> {
    let diff_ids: Vec<String> = layers.iter().map(|l| l.descriptor().digest).collect();
    let config = serde_json::json!({
        "architecture": "",
        "config": {},
        "created": "0001-01-01T00:00:00Z",
        "history": [{"created": "0001-01-01T00:00:00Z"}],
        "os": "",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    });
    serde_json::to_vec(&config).expect("JSON serializes")
}

/// The signature layers under `target` (a `sha256-<hex>.sig` tag); none
/// when the tag does not exist.
async fn signature_layers(
    target: &ArtifactRef,
    options: &Options,
) -> Result<Vec<cosign::SignatureLayer>> {
    let options = Options {
        max_blob_bytes: MAX_PAYLOAD_BYTES,
        ..options.clone()
    };
    let select = |manifest: &super::Manifest| {
        Ok(manifest
            .layers
            .iter()
            .filter(|layer| {
                layer.media_type == cosign::PAYLOAD_MEDIA_TYPE
                    && layer.annotations.contains_key(cosign::SIGNATURE_ANNOTATION)
            })
            .cloned()
            .collect())
    };
    let artifact = match fetch(target, &options, select).await {
        Ok(artifact) => artifact,
        Err(Error::NotFound { .. }) => return Ok(Vec::new()),
        Err(error) => return Err(error),
    };
    Ok(artifact
        .blobs
        .into_iter()
        .map(|(descriptor, payload)| cosign::SignatureLayer {
            signature: descriptor.annotations[cosign::SIGNATURE_ANNOTATION].clone(),
            payload,
        })
        .collect())
}

/// The signature tag of a pinned reference.
fn signature_tag(pinned: &ArtifactRef) -> Result<String> {
    let digest = pinned.digest.as_deref().unwrap_or_default();
    cosign::signature_tag(digest).map_err(|e| layout(pinned, e.to_string()))
}

fn layout(reference: &ArtifactRef, message: String) -> Error {
    Error::Layout {
        reference: reference.to_string(),
        message,
    }
}
