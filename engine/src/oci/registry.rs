//! Talking to a registry through `oci-client`: resolve a tag, fetch a
//! manifest and the blobs a caller selects (capped, deadline-bound,
//! digest-checked), push an artifact, list tags.

use std::collections::BTreeMap;

use futures_util::StreamExt;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::secrets::RegistryAuth;
use serde::{Deserialize, Serialize};

use super::{digest_of, ArtifactRef, Auth, Error, Options, Result};
use crate::text::error_chain;

/// The media type of an OCI image manifest (what Plumbline pushes and
/// reads).
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// Docker's manifest media type, which older tools push.
const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";

/// An image manifest, as far as Plumbline reads it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// Always 2.
    pub schema_version: u8,
    /// `application/vnd.oci.image.manifest.v1+json` (or Docker's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The artifact's type, when the pusher set one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_type: Option<String>,
    /// The config blob.
    pub config: Descriptor,
    /// The layers.
    #[serde(default)]
    pub layers: Vec<Descriptor>,
    /// Annotations (`org.opencontainers.image.*`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// A content descriptor: media type, digest and size of a blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type.
    pub media_type: String,
    /// `sha256:<hex>`.
    pub digest: String,
    /// Size in bytes.
    pub size: u64,
    /// Annotations (e.g. `org.opencontainers.image.title`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: BTreeMap<String, String>,
}

/// A blob to push, or one that was pulled and verified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Blob {
    /// Its media type.
    pub media_type: String,
    /// Its bytes.
    pub bytes: Vec<u8>,
    /// Annotations of its descriptor.
    pub annotations: BTreeMap<String, String>,
}

impl Blob {
    /// A blob of `media_type` without annotations.
    pub fn new(media_type: &str, bytes: Vec<u8>) -> Self {
        Blob {
            media_type: media_type.to_owned(),
            bytes,
            annotations: BTreeMap::new(),
        }
    }

    /// Its descriptor.
    pub fn descriptor(&self) -> Descriptor {
        Descriptor {
            media_type: self.media_type.clone(),
            digest: digest_of(&self.bytes),
            size: self.bytes.len() as u64,
            annotations: self.annotations.clone(),
        }
    }
}

/// A pulled artifact: everything in it was checked against its digest.
#[derive(Debug, Clone)]
pub struct Artifact {
    /// The reference as given, pinned to [`Artifact::digest`].
    pub reference: ArtifactRef,
    /// The manifest's digest (`sha256:<hex>`): what a tag resolved to.
    pub digest: String,
    /// The manifest.
    pub manifest: Manifest,
    /// The manifest's bytes, as the registry sent them (what a signature
    /// covers).
    pub manifest_bytes: Vec<u8>,
    /// The blobs the caller selected, in the order selected.
    pub blobs: Vec<(Descriptor, Vec<u8>)>,
}

/// Resolve `reference` to its manifest digest: the digest it names, or
/// what its tag points to now.
pub async fn resolve(reference: &ArtifactRef, options: &Options) -> Result<String> {
    if let Some(digest) = &reference.digest {
        return Ok(digest.clone());
    }
    let client = client(options, reference)?;
    let target = reference.to_client();
    within(reference, options, async {
        client
            .fetch_manifest_digest(&target, &auth(&options.auth))
            .await
            .map_err(|e| classify(reference, &e))
    })
    .await
}

/// Resolve `reference` once, pull its manifest by that digest, and the
/// blobs `select` picks from the manifest (or refuses it with a message),
/// each capped and verified. The one entry point for reading artifacts.
pub async fn fetch(
    reference: &ArtifactRef,
    options: &Options,
    select: impl FnOnce(&Manifest) -> Result<Vec<Descriptor>, String>,
) -> Result<Artifact> {
    let client = client(options, reference)?;
    within(reference, options, async {
        let registry_auth = auth(&options.auth);
        let digest = match &reference.digest {
            Some(digest) => digest.clone(),
            None => client
                .fetch_manifest_digest(&reference.to_client(), &registry_auth)
                .await
                .map_err(|e| classify(reference, &e))?,
        };
        let pinned = reference.pinned(&digest);
        let target = pinned.to_client();
        let (body, _) = client
            .pull_manifest_raw(&target, &registry_auth, &[OCI_MANIFEST, DOCKER_MANIFEST])
            .await
            .map_err(|e| classify(&pinned, &e))?;
        if body.len() as u64 > options.max_manifest_bytes {
            return Err(Error::TooLarge {
                reference: pinned.to_string(),
                what: "manifest".to_owned(),
                limit: options.max_manifest_bytes,
            });
        }
        let actual = digest_of(&body);
        if actual != digest {
            return Err(Error::DigestMismatch {
                reference: pinned.to_string(),
                what: "manifest".to_owned(),
                expected: digest,
                actual,
            });
        }
        let manifest: Manifest = serde_json::from_slice(&body).map_err(|e| Error::Layout {
            reference: pinned.to_string(),
            message: format!("the manifest is not an OCI image manifest: {e}"),
        })?;
        let wanted = select(&manifest).map_err(|message| Error::Layout {
            reference: pinned.to_string(),
            message,
        })?;
        let mut blobs = Vec::with_capacity(wanted.len());
        for descriptor in wanted {
            let bytes = pull_blob(&client, &pinned, &descriptor, options).await?;
            blobs.push((descriptor, bytes));
        }
        Ok(Artifact {
            reference: pinned,
            digest,
            manifest,
            manifest_bytes: body.to_vec(),
            blobs,
        })
    })
    .await
}

/// One blob, refused past the cap (announced or streamed) and checked
/// against its descriptor's digest and size.
async fn pull_blob(
    client: &oci_client::Client,
    reference: &ArtifactRef,
    descriptor: &Descriptor,
    options: &Options,
) -> Result<Vec<u8>> {
    let too_large = || Error::TooLarge {
        reference: reference.to_string(),
        what: format!("{} blob {}", descriptor.media_type, descriptor.digest),
        limit: options.max_blob_bytes,
    };
    if descriptor.size > options.max_blob_bytes {
        return Err(too_large());
    }
    let layer = oci_client::manifest::OciDescriptor {
        media_type: descriptor.media_type.clone(),
        digest: descriptor.digest.clone(),
        size: i64::try_from(descriptor.size).unwrap_or(i64::MAX),
        ..Default::default()
    };
    let mut stream = client
        .pull_blob_stream(&reference.to_client(), &layer)
        .await
        .map_err(|e| classify(reference, &e))?;
    if stream
        .content_length
        .is_some_and(|n| n > options.max_blob_bytes)
    {
        return Err(too_large());
    }
    let mut bytes = Vec::new();
    while let Some(chunk) = stream.next().await {
        // The client's own verification fails the last chunk on a digest
        // mismatch; the digest is checked below either way.
        let Ok(chunk) = chunk else { break };
        if (bytes.len() + chunk.len()) as u64 > options.max_blob_bytes {
            return Err(too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    let actual = digest_of(&bytes);
    if actual != descriptor.digest || bytes.len() as u64 != descriptor.size {
        return Err(Error::DigestMismatch {
            reference: reference.to_string(),
            what: format!("{} blob ({} bytes)", descriptor.media_type, bytes.len()),
            expected: descriptor.digest.clone(),
            actual,
        });
    }
    Ok(bytes)
}

/// Push `config` and `layers` and a manifest naming them (with
/// `artifact_type` and `annotations`) to `reference`'s tag; returns the
/// manifest's digest. The same inputs give the same digest.
pub async fn push(
    reference: &ArtifactRef,
    options: &Options,
    artifact_type: Option<&str>,
    config: &Blob,
    layers: &[Blob],
    annotations: BTreeMap<String, String>,
) -> Result<String> {
    if reference.tag.is_none() || reference.digest.is_some() {
        return Err(Error::Layout {
            reference: reference.to_string(),
            message: "push needs a tag and no digest (oci://host/repository:tag)".to_owned(),
        });
    }
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(OCI_MANIFEST.to_owned()),
        artifact_type: artifact_type.map(str::to_owned),
        config: config.descriptor(),
        layers: layers.iter().map(Blob::descriptor).collect(),
        annotations,
    };
    let body = serde_json::to_vec(&manifest).expect("a manifest serializes");
    let client = client(options, reference)?;
    let target = reference.to_client();
    within(reference, options, async {
        client
            .auth(
                &target,
                &auth(&options.auth),
                oci_client::RegistryOperation::Push,
            )
            .await
            .map_err(|e| classify(reference, &e))?;
        for blob in std::iter::once(config).chain(layers) {
            let digest = digest_of(&blob.bytes);
            client
                .push_blob(&target, blob.bytes.clone(), &digest)
                .await
                .map_err(|e| classify(reference, &e))?;
        }
        client
            .push_manifest_raw(
                &target,
                body.clone(),
                reqwest::header::HeaderValue::from_static(OCI_MANIFEST),
            )
            .await
            .map_err(|e| classify(reference, &e))?;
        Ok(digest_of(&body))
    })
    .await
}

/// The tags of `reference`'s repository.
pub async fn list_tags(reference: &ArtifactRef, options: &Options) -> Result<Vec<String>> {
    let client = client(options, reference)?;
    let target = reference.to_client();
    within(reference, options, async {
        client
            .list_tags(&target, &auth(&options.auth), None, None)
            .await
            .map(|response| response.tags)
            .map_err(|e| classify(reference, &e))
    })
    .await
}

/// Run `operation` under the options' deadline.
async fn within<T>(
    reference: &ArtifactRef,
    options: &Options,
    operation: impl std::future::Future<Output = Result<T>>,
) -> Result<T> {
    tokio::time::timeout(options.timeout, operation)
        .await
        .map_err(|_| Error::Timeout {
            reference: reference.to_string(),
            after: options.timeout,
        })?
}

/// A client for `reference`'s registry: HTTPS (plain HTTP only when
/// `insecure`), the engine's rustls provider, connect and read timeouts.
///
/// Clients are kept for the life of the process, one per registry,
/// protocol, timeout and credentials (a client remembers the first
/// credentials it is given for a registry, and its tokens): building one
/// loads the TLS roots, which costs more than resolving a tag.
fn client(options: &Options, reference: &ArtifactRef) -> Result<oci_client::Client> {
    type Key = (String, bool, std::time::Duration, Auth);
    static CLIENTS: std::sync::OnceLock<
        std::sync::Mutex<std::collections::HashMap<Key, oci_client::Client>>,
    > = std::sync::OnceLock::new();
    let key = (
        reference.registry.clone(),
        options.insecure,
        options.timeout,
        options.auth.clone(),
    );
    let clients = CLIENTS.get_or_init(Default::default);
    if let Some(client) = clients.lock().expect("not poisoned").get(&key) {
        return Ok(client.clone());
    }
    let built = build_client(options, reference)?;
    clients
        .lock()
        .expect("not poisoned")
        .insert(key, built.clone());
    Ok(built)
}

/// A new client, as [`client`] describes.
fn build_client(options: &Options, reference: &ArtifactRef) -> Result<oci_client::Client> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = ClientConfig {
        protocol: if options.insecure {
            ClientProtocol::Http
        } else {
            ClientProtocol::Https
        },
        connect_timeout: Some(options.timeout),
        read_timeout: Some(options.timeout),
        platform_resolver: None,
        user_agent: concat!("plumbline/", env!("CARGO_PKG_VERSION")),
        ..ClientConfig::default()
    };
    oci_client::Client::try_from(config).map_err(|e| classify(reference, &e))
}

fn auth(auth: &Auth) -> RegistryAuth {
    match auth {
        Auth::Anonymous => RegistryAuth::Anonymous,
        Auth::Basic { username, password } => {
            RegistryAuth::Basic(username.clone(), password.clone())
        }
        Auth::Bearer(token) => RegistryAuth::Bearer(token.clone()),
    }
}

/// The typed error of a client error about `reference`.
fn classify(reference: &ArtifactRef, error: &OciDistributionError) -> Error {
    let reference_text = reference.to_string();
    let message = error_chain(error);
    match error {
        OciDistributionError::AuthenticationFailure(_)
        | OciDistributionError::UnauthorizedError { .. } => Error::Unauthorized {
            reference: reference_text,
            message,
        },
        OciDistributionError::ImageManifestNotFoundError(_) => Error::NotFound {
            reference: reference_text,
            message,
        },
        OciDistributionError::RegistryError { envelope, .. } => {
            let codes =
                |wanted: &[OciErrorCode]| envelope.errors.iter().any(|e| wanted.contains(&e.code));
            if codes(&[
                OciErrorCode::ManifestUnknown,
                OciErrorCode::NameUnknown,
                OciErrorCode::BlobUnknown,
                OciErrorCode::NotFound,
            ]) {
                Error::NotFound {
                    reference: reference_text,
                    message,
                }
            } else if codes(&[OciErrorCode::Unauthorized, OciErrorCode::Denied]) {
                Error::Unauthorized {
                    reference: reference_text,
                    message,
                }
            } else {
                Error::Registry {
                    reference: reference_text,
                    message,
                }
            }
        }
        OciDistributionError::ServerError { code: 404, .. } => Error::NotFound {
            reference: reference_text,
            message,
        },
        OciDistributionError::ServerError {
            code: 401 | 403, ..
        } => Error::Unauthorized {
            reference: reference_text,
            message,
        },
        OciDistributionError::DigestError(_) => Error::DigestMismatch {
            reference: reference_text,
            what: "manifest".to_owned(),
            expected: reference.digest.clone().unwrap_or_default(),
            actual: message,
        },
        _ => Error::Registry {
            reference: reference_text,
            message,
        },
    }
}
