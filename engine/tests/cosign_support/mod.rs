//! Fixtures for cosign signatures: key pairs made by `openssl` (the tool
//! the docs tell users to run), their fingerprints as `openssl` computes
//! them, and signature artifacts forged the way an attacker would: a
//! payload edited after signing, a signature copied from another artifact.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use plumbline::oci::{self, ArtifactRef, Blob};
use plumbline::source::verify::cosign::{
    signature_tag, Payload, PayloadSigner, PAYLOAD_MEDIA_TYPE, SIGNATURE_ANNOTATION,
};

/// A key pair written by `openssl`: `<name>.key` (PKCS#8 PEM, P-256) and
/// `<name>.pub`.
pub struct KeyPair {
    pub private: PathBuf,
    pub public: PathBuf,
}

fn sh(dir: &Path, script: &str) -> String {
    let out = Command::new("sh")
        .arg("-c")
        .arg(script)
        .current_dir(dir)
        .output()
        .expect("sh runs");
    assert!(
        out.status.success(),
        "{script}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

impl KeyPair {
    /// Generate `<name>.key` and `<name>.pub` in `dir` with `openssl`.
    pub fn generate(dir: &Path, name: &str) -> KeyPair {
        sh(
            dir,
            &format!(
                "openssl ecparam -genkey -name prime256v1 -noout | \
                 openssl pkcs8 -topk8 -nocrypt -out {name}.key && \
                 openssl pkey -in {name}.key -pubout -out {name}.pub"
            ),
        );
        KeyPair {
            private: dir.join(format!("{name}.key")),
            public: dir.join(format!("{name}.pub")),
        }
    }

    /// `SHA256:` and the unpadded base64 SHA-256 of the DER public key, as
    /// `openssl` computes it.
    pub fn fingerprint(&self) -> String {
        let dir = self.public.parent().unwrap();
        let base64 = sh(
            dir,
            &format!(
                "openssl pkey -pubin -in {} -outform DER | openssl dgst -sha256 -binary | base64",
                self.public.display()
            ),
        );
        format!("SHA256:{}", base64.trim().trim_end_matches('='))
    }

    /// The private key, to sign with in-process.
    pub fn signer(&self) -> PayloadSigner {
        PayloadSigner::from_pem(&std::fs::read_to_string(&self.private).unwrap()).unwrap()
    }
}

/// Plain HTTP to the loopback registry, no credentials.
pub fn insecure() -> oci::Options {
    oci::Options {
        insecure: true,
        ..oci::Options::default()
    }
}

/// The signature layers stored for `digest` in `repository`'s repository
/// (payload and annotation as they are).
pub async fn signature_layers(repository: &ArtifactRef, digest: &str) -> Vec<Blob> {
    let tag = signature_tag(digest).unwrap();
    let artifact = oci::fetch(&repository.at_tag(&tag), &insecure(), |m| {
        Ok(m.layers.clone())
    })
    .await
    .unwrap();
    artifact
        .blobs
        .into_iter()
        .map(|(descriptor, bytes)| Blob {
            annotations: descriptor.annotations,
            ..Blob::new(&descriptor.media_type, bytes)
        })
        .collect()
}

/// Store `layers` as the signature of `digest` in `repository`'s
/// repository, replacing what is there.
pub async fn put_signature(repository: &ArtifactRef, digest: &str, layers: &[Blob]) {
    let tag = signature_tag(digest).unwrap();
    let config = Blob::new("application/vnd.oci.image.config.v1+json", b"{}".to_vec());
    oci::push(
        &repository.at_tag(&tag),
        &insecure(),
        None,
        &config,
        layers,
        BTreeMap::new(),
    )
    .await
    .unwrap();
}

/// A signature layer: `payload` with `signature` in its annotation.
pub fn layer(payload: Vec<u8>, signature: String) -> Blob {
    Blob {
        annotations: BTreeMap::from([(SIGNATURE_ANNOTATION.to_owned(), signature)]),
        ..Blob::new(PAYLOAD_MEDIA_TYPE, payload)
    }
}

/// `key`'s genuine signature of `signed`, whose payload was then edited to
/// name `digest` instead: what an attacker who can push makes of a
/// signature they cannot forge.
pub fn tampered(key: &KeyPair, repository: &ArtifactRef, signed: &str, digest: &str) -> Blob {
    let name = format!("{}/{}", repository.registry, repository.repository);
    let payload = Payload::new(&name, signed).unwrap().to_bytes();
    let signature = key.signer().sign(&payload);
    let edited = String::from_utf8(payload)
        .unwrap()
        .replace(signed, digest)
        .into_bytes();
    layer(edited, signature)
}
