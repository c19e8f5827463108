//! Cosign-compatible keyed signatures of OCI artifacts: the pieces the OCI
//! client calls to sign and verify policies, charts and manifest artifacts.
//! No IO: pulling and pushing the signature artifact is the OCI client's.
//!
//! Cosign stores the signature of the artifact with digest `sha256:<hex>`
//! in the same repository under the tag [`signature_tag`]
//! (`sha256-<hex>.sig`): an image whose layer (media type
//! [`PAYLOAD_MEDIA_TYPE`]) is a *simple-signing* payload ([`Payload`], a
//! JSON document naming the artifact's digest), with the base64 ECDSA
//! P-256 / SHA-256 signature of that payload in the layer annotation
//! [`SIGNATURE_ANNOTATION`]. Keys are PEM: a `PUBLIC KEY`
//! (SubjectPublicKeyInfo) to verify, as `cosign public-key` prints it, and
//! an unencrypted PKCS#8 `PRIVATE KEY` to sign (`openssl genpkey -algorithm
//! EC -pkeyopt ec_paramgen_curve:P-256`). Cosign's own encrypted private
//! key format is not read.
//!
//! [`PayloadVerifier::verify`] checks the signature over the payload's exact bytes, then
//! that the payload names the digest of the artifact being verified: a
//! signature copied from another artifact fails. [`verify_signatures`]
//! judges every signature layer of an artifact against the trusted keys.

use base64::Engine as _;
use p256::ecdsa::signature::{Signer as _, Verifier as _};
use p256::ecdsa::{Signature, SigningKey, VerifyingKey};
use p256::pkcs8::{DecodePrivateKey, DecodePublicKey, EncodePublicKey};
use serde::{Deserialize, Serialize};

/// The layer annotation holding the base64 signature of the payload.
pub const SIGNATURE_ANNOTATION: &str = "dev.cosignproject.cosign/signature";
/// The media type of the payload layer.
pub const PAYLOAD_MEDIA_TYPE: &str = "application/vnd.dev.cosign.simplesigning.v1+json";
/// The `critical.type` of a cosign payload.
pub const PAYLOAD_TYPE: &str = "cosign container image signature";

/// Why a signature or key is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// A digest is not `sha256:` and 64 lower-case hex digits.
    #[error("{0:?} is not a sha256 digest (sha256:<64 hex digits>)")]
    Digest(String),
    /// A PEM key cannot be read.
    #[error("not an ECDSA P-256 {kind} key in PEM: {message}")]
    Key {
        /// `public` or `private`.
        kind: &'static str,
        /// The parser's message.
        message: String,
    },
    /// The annotation is not a base64 DER (or fixed-size) ECDSA signature.
    #[error("the signature annotation cannot be read: {0}")]
    Malformed(String),
    /// The signature does not verify with the key: wrong key, or payload
    /// changed.
    #[error(
        "the signature does not match the payload with this key (wrong key or tampered payload)"
    )]
    BadSignature,
    /// The payload is not a cosign simple-signing payload.
    #[error("the signed payload is not a cosign simple-signing payload: {0}")]
    Payload(String),
    /// The payload signs another artifact: a signature copied (replayed)
    /// from elsewhere.
    #[error("the signature is for {signed}, not for this artifact {artifact}")]
    DigestMismatch {
        /// The digest the payload names.
        signed: String,
        /// The digest of the artifact verified.
        artifact: String,
    },
}

/// A simple-signing payload, as cosign writes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payload {
    /// What is signed.
    pub critical: Critical,
    /// Free-form annotations (cosign writes `null` without any).
    pub optional: Option<serde_json::Map<String, serde_json::Value>>,
}

/// The signed claims of a [`Payload`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Critical {
    /// The repository signed.
    pub identity: Identity,
    /// The artifact signed.
    pub image: Image,
    /// Always [`PAYLOAD_TYPE`].
    #[serde(rename = "type")]
    pub kind: String,
}

/// `critical.identity`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Identity {
    /// The repository, e.g. `registry.example.com/policies/labels`.
    #[serde(rename = "docker-reference")]
    pub docker_reference: String,
}

/// `critical.image`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    /// The digest of the signed manifest, `sha256:<hex>`.
    #[serde(rename = "docker-manifest-digest")]
    pub docker_manifest_digest: String,
}

impl Payload {
    /// The payload signing the manifest `digest` in `repository`.
    pub fn new(repository: &str, digest: &str) -> Result<Payload, Error> {
        check_digest(digest)?;
        Ok(Payload {
            critical: Critical {
                identity: Identity {
                    docker_reference: repository.to_owned(),
                },
                image: Image {
                    docker_manifest_digest: digest.to_owned(),
                },
                kind: PAYLOAD_TYPE.to_owned(),
            },
            optional: None,
        })
    }

    /// The JSON bytes that are signed and stored as the payload layer.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a payload serializes")
    }

    /// Parse payload bytes; the type must be cosign's.
    pub fn parse(bytes: &[u8]) -> Result<Payload, Error> {
        let payload: Payload =
            serde_json::from_slice(bytes).map_err(|e| Error::Payload(e.to_string()))?;
        if payload.critical.kind != PAYLOAD_TYPE {
            return Err(Error::Payload(format!(
                "type {:?}, not {PAYLOAD_TYPE:?}",
                payload.critical.kind
            )));
        }
        Ok(payload)
    }
}

/// The tag cosign stores the signature of `digest` under:
/// `sha256:<hex>` → `sha256-<hex>.sig`.
pub fn signature_tag(digest: &str) -> Result<String, Error> {
    check_digest(digest)?;
    Ok(format!("{}.sig", digest.replacen(':', "-", 1)))
}

fn check_digest(digest: &str) -> Result<(), Error> {
    let valid = digest.strip_prefix("sha256:").is_some_and(|hex| {
        hex.len() == 64 && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    });
    if valid {
        Ok(())
    } else {
        Err(Error::Digest(digest.to_owned()))
    }
}

/// The fingerprint Plumbline shows for a P-256 key: `SHA256:` and the
/// unpadded base64 SHA-256 of its DER SubjectPublicKeyInfo (`openssl pkey
/// -pubin -outform DER | openssl dgst -sha256 -binary | base64`, without
/// the `=`).
fn fingerprint(key: &VerifyingKey) -> String {
    use sha2::Digest as _;
    let der = key
        .to_public_key_der()
        .expect("a P-256 public key encodes as DER");
    let digest = sha2::Sha256::digest(der.as_bytes());
    format!(
        "SHA256:{}",
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(digest)
    )
}

/// A key to sign payloads with, from an unencrypted PKCS#8 PEM.
pub struct PayloadSigner(SigningKey);

impl PayloadSigner {
    /// Read a `-----BEGIN PRIVATE KEY-----` P-256 key.
    pub fn from_pem(pem: &str) -> Result<PayloadSigner, Error> {
        SigningKey::from_pkcs8_pem(pem)
            .map(PayloadSigner)
            .map_err(|e| Error::Key {
                kind: "private",
                message: e.to_string(),
            })
    }

    /// The base64 DER ECDSA signature of `payload` (SHA-256), the value of
    /// [`SIGNATURE_ANNOTATION`].
    pub fn sign(&self, payload: &[u8]) -> String {
        let signature: Signature = self.0.sign(payload);
        base64::engine::general_purpose::STANDARD.encode(signature.to_der().as_bytes())
    }

    /// The fingerprint of its public key (see [`TrustedKey::fingerprint`]).
    pub fn fingerprint(&self) -> String {
        fingerprint(self.0.verifying_key())
    }

    /// Its public key.
    pub fn verifier(&self) -> PayloadVerifier {
        PayloadVerifier(*self.0.verifying_key())
    }
}

/// A trusted public key, from a `-----BEGIN PUBLIC KEY-----` PEM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayloadVerifier(VerifyingKey);

impl PayloadVerifier {
    /// Read a P-256 SubjectPublicKeyInfo PEM, as `cosign public-key` and
    /// `openssl pkey -pubout` write it.
    pub fn from_pem(pem: &str) -> Result<PayloadVerifier, Error> {
        VerifyingKey::from_public_key_pem(pem.trim())
            .map(PayloadVerifier)
            .map_err(|e| Error::Key {
                kind: "public",
                message: e.to_string(),
            })
    }

    /// Verify a cosign signature of the artifact with manifest digest
    /// `artifact_digest`: `signature` (the annotation's base64 value) over
    /// the exact `payload` bytes, then the payload's digest against the
    /// artifact's. The payload, when both hold.
    pub fn verify(
        &self,
        payload: &[u8],
        signature: &str,
        artifact_digest: &str,
    ) -> Result<Payload, Error> {
        check_digest(artifact_digest)?;
        let raw = base64::engine::general_purpose::STANDARD
            .decode(signature.trim())
            .map_err(|e| Error::Malformed(e.to_string()))?;
        let signature = Signature::from_der(&raw)
            .or_else(|_| Signature::from_slice(&raw))
            .map_err(|e| Error::Malformed(e.to_string()))?;
        self.0
            .verify(payload, &signature)
            .map_err(|_| Error::BadSignature)?;
        let parsed = Payload::parse(payload)?;
        let signed = &parsed.critical.image.docker_manifest_digest;
        if signed != artifact_digest {
            return Err(Error::DigestMismatch {
                signed: signed.clone(),
                artifact: artifact_digest.to_owned(),
            });
        }
        Ok(parsed)
    }
}

/// Whether `text` holds a PEM public key (`-----BEGIN PUBLIC KEY-----`), as
/// `cosign public-key` and `openssl pkey -pubout` write it.
pub fn is_public_key_pem(text: &str) -> bool {
    text.contains("-----BEGIN PUBLIC KEY-----")
}

/// A trusted cosign public key, with its fingerprint and the file (or
/// Secret key) it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrustedKey {
    verifier: PayloadVerifier,
    fingerprint: String,
    origin: String,
}

impl TrustedKey {
    /// `SHA256:` and the unpadded base64 SHA-256 of the DER public key.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The file or Secret key it came from.
    pub fn origin(&self) -> &str {
        &self.origin
    }
}

/// The keys of a file of PEM public keys (one or more `PUBLIC KEY`
/// blocks); every block must be a P-256 key.
pub fn parse_keys(text: &str, origin: &str) -> Result<Vec<TrustedKey>, String> {
    const END: &str = "-----END PUBLIC KEY-----";
    let mut keys = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("-----BEGIN PUBLIC KEY-----") {
        let block = &rest[start..];
        let end = block
            .find(END)
            .ok_or_else(|| format!("key {} has no {END} line", keys.len() + 1))?
            + END.len();
        let verifier = PayloadVerifier::from_pem(&block[..end])
            .map_err(|e| format!("key {}: {e}", keys.len() + 1))?;
        keys.push(TrustedKey {
            fingerprint: fingerprint(&verifier.0),
            verifier,
            origin: origin.to_owned(),
        });
        rest = &block[end..];
    }
    if keys.is_empty() {
        return Err("no PEM public key".to_owned());
    }
    Ok(keys)
}

/// One signature of an artifact: a payload layer's bytes and its
/// [`SIGNATURE_ANNOTATION`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureLayer {
    /// The simple-signing payload, as stored.
    pub payload: Vec<u8>,
    /// The base64 signature of the payload.
    pub signature: String,
}

/// Why none of an artifact's signatures is accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No signature tag, or no signature layer under it.
    #[error("it is not signed (no cosign signature under the tag {tag})")]
    Unsigned {
        /// The signature tag looked up, `sha256-<hex>.sig`.
        tag: String,
    },
    /// No signature verifies with a trusted key over its payload. In
    /// cosign's keyed format a signature by another key and a payload
    /// changed after signing look the same: neither verifies, and nothing
    /// says which key was meant.
    #[error(
        "none of its {count} signature(s) verifies with a trusted key: made by another key, \
         or the payload was changed after it was signed"
    )]
    NoTrustedSignature {
        /// How many signature layers were found.
        count: usize,
    },
    /// A trusted key signed a payload naming another artifact: a signature
    /// copied (replayed) from there.
    #[error(
        "its signature by {signer} signs another artifact, {signed} (a signature copied from it)"
    )]
    Replayed {
        /// The key that signed.
        signer: String,
        /// The digest the payload names.
        signed: String,
    },
    /// A trusted key signed something that is not a cosign simple-signing
    /// payload.
    #[error("its signature by {signer} is over a payload that is not cosign's: {message}")]
    NotAPayload {
        /// The key that signed.
        signer: String,
        /// What is wrong with the payload.
        message: String,
    },
}

impl Refusal {
    /// The reason, shared with Git verification: `UnsignedRevision`,
    /// `UntrustedSigner` or `InvalidSignature`.
    pub fn reason(&self) -> &'static str {
        match self {
            Refusal::Unsigned { .. } => "UnsignedRevision",
            Refusal::NoTrustedSignature { .. } => "UntrustedSigner",
            Refusal::Replayed { .. } | Refusal::NotAPayload { .. } => "InvalidSignature",
        }
    }
}

/// The trusted key that signed the artifact with manifest digest `digest`,
/// judging each of its signature layers with each key: the first signature
/// that verifies and names `digest` wins. Otherwise the most telling
/// refusal: a replayed signature or a foreign payload by a trusted key, else
/// [`Refusal::NoTrustedSignature`]. `tag` names the signature tag in
/// [`Refusal::Unsigned`] when there are no layers.
pub fn verify_signatures<'k>(
    layers: &[SignatureLayer],
    keys: &'k [TrustedKey],
    digest: &str,
    tag: &str,
) -> Result<&'k TrustedKey, Refusal> {
    if layers.is_empty() {
        return Err(Refusal::Unsigned {
            tag: tag.to_owned(),
        });
    }
    let mut refusal = Refusal::NoTrustedSignature {
        count: layers.len(),
    };
    for layer in layers {
        for key in keys {
            let signer = || format!("cosign key {} ({})", key.fingerprint, key.origin);
            match key
                .verifier
                .verify(&layer.payload, &layer.signature, digest)
            {
                Ok(_) => return Ok(key),
                Err(Error::DigestMismatch { signed, .. }) => {
                    refusal = Refusal::Replayed {
                        signer: signer(),
                        signed,
                    };
                }
                Err(Error::Payload(message)) => {
                    if matches!(refusal, Refusal::NoTrustedSignature { .. }) {
                        refusal = Refusal::NotAPayload {
                            signer: signer(),
                            message,
                        };
                    }
                }
                Err(_) => {}
            }
        }
    }
    Err(refusal)
}

#[cfg(test)]
mod tests {
    use super::*;
    use p256::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};

    const DIGEST: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    const OTHER: &str = "sha256:fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";

    /// A key pair as PEM, from a fixed secret.
    fn pair(seed: u8) -> (PayloadSigner, PayloadVerifier) {
        let secret = SigningKey::from_slice(&[seed; 32]).unwrap();
        let private = secret.to_pkcs8_pem(LineEnding::LF).unwrap();
        let public = secret
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap();
        (
            PayloadSigner::from_pem(&private).unwrap(),
            PayloadVerifier::from_pem(&public).unwrap(),
        )
    }

    #[test]
    fn signature_tags_follow_cosign() {
        assert_eq!(
            signature_tag(DIGEST).unwrap(),
            "sha256-0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef.sig"
        );
        assert!(signature_tag("sha256:abc").is_err());
        assert!(signature_tag("sha512:0123").is_err());
    }

    #[test]
    fn payloads_have_cosigns_shape() {
        let payload = Payload::new("registry.example.com/policies/labels", DIGEST).unwrap();
        let json: serde_json::Value = serde_json::from_slice(&payload.to_bytes()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "critical": {
                    "identity": {"docker-reference": "registry.example.com/policies/labels"},
                    "image": {"docker-manifest-digest": DIGEST},
                    "type": "cosign container image signature",
                },
                "optional": null,
            })
        );
        assert_eq!(Payload::parse(&payload.to_bytes()).unwrap(), payload);
        let other = br#"{"critical":{"identity":{"docker-reference":"r"},"image":{"docker-manifest-digest":"x"},"type":"atomic"},"optional":null}"#;
        assert!(matches!(Payload::parse(other), Err(Error::Payload(_))));
    }

    #[test]
    fn the_right_key_verifies_and_the_wrong_key_tampering_and_replay_fail() {
        let (signer, verifier) = pair(7);
        let payload = Payload::new("r.example/p", DIGEST).unwrap().to_bytes();
        let signature = signer.sign(&payload);
        let verified = verifier.verify(&payload, &signature, DIGEST).unwrap();
        assert_eq!(verified.critical.image.docker_manifest_digest, DIGEST);

        let (_, stranger) = pair(9);
        assert_eq!(
            stranger.verify(&payload, &signature, DIGEST),
            Err(Error::BadSignature)
        );
        let tampered = String::from_utf8(payload.clone())
            .unwrap()
            .replace("r.example/p", "r.example/q");
        assert_eq!(
            verifier.verify(tampered.as_bytes(), &signature, DIGEST),
            Err(Error::BadSignature)
        );
        // A valid signature of another artifact, copied next to this one.
        assert_eq!(
            verifier.verify(&payload, &signature, OTHER),
            Err(Error::DigestMismatch {
                signed: DIGEST.into(),
                artifact: OTHER.into()
            })
        );
        assert!(matches!(
            verifier.verify(&payload, "not base64!", DIGEST),
            Err(Error::Malformed(_))
        ));
    }

    #[test]
    fn verdicts_say_what_was_found_and_one_good_signature_is_enough() {
        let secret = SigningKey::from_slice(&[7; 32]).unwrap();
        let public = secret
            .verifying_key()
            .to_public_key_pem(LineEnding::LF)
            .unwrap();
        let keys = parse_keys(&format!("{public}{public}"), "cosign.pub").unwrap();
        assert_eq!(keys.len(), 2);
        assert!(keys[0].fingerprint().starts_with("SHA256:"));
        let (signer, _) = pair(7);
        assert_eq!(signer.fingerprint(), keys[0].fingerprint());
        let (stranger, _) = pair(9);
        let layer = |signer: &PayloadSigner, payload: Vec<u8>| SignatureLayer {
            signature: signer.sign(&payload),
            payload,
        };
        let good = layer(&signer, Payload::new("r/p", DIGEST).unwrap().to_bytes());
        let replayed = layer(&signer, Payload::new("r/p", OTHER).unwrap().to_bytes());
        let foreign = layer(&stranger, Payload::new("r/p", DIGEST).unwrap().to_bytes());
        let not_cosign = layer(&signer, b"{}".to_vec());
        let tag = "sha256-x.sig";
        let verdict = |layers: &[SignatureLayer]| {
            verify_signatures(layers, &keys, DIGEST, tag).map(TrustedKey::origin)
        };

        let unsigned = verdict(&[]).unwrap_err();
        assert_eq!(unsigned, Refusal::Unsigned { tag: tag.into() });
        assert_eq!(unsigned.reason(), "UnsignedRevision");
        let untrusted = verdict(std::slice::from_ref(&foreign)).unwrap_err();
        assert_eq!(untrusted, Refusal::NoTrustedSignature { count: 1 });
        assert_eq!(untrusted.reason(), "UntrustedSigner");
        let copied = verdict(&[foreign.clone(), replayed.clone()]).unwrap_err();
        assert!(
            matches!(&copied, Refusal::Replayed { signed, signer }
                if signed == OTHER && signer.contains(keys[0].fingerprint())),
            "{copied:?}"
        );
        assert_eq!(copied.reason(), "InvalidSignature");
        let payload = verdict(&[not_cosign]).unwrap_err();
        assert!(
            matches!(payload, Refusal::NotAPayload { .. }),
            "{payload:?}"
        );
        assert_eq!(verdict(&[foreign, replayed, good]), Ok("cosign.pub"));
        assert!(parse_keys("no key", "k").is_err());
    }

    #[test]
    fn keys_that_are_not_p256_pem_are_refused() {
        assert!(matches!(
            PayloadVerifier::from_pem(
                "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n"
            ),
            Err(Error::Key { kind: "public", .. })
        ));
        assert!(matches!(
            PayloadSigner::from_pem("nothing"),
            Err(Error::Key {
                kind: "private",
                ..
            })
        ));
    }
}
