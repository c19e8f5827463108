//! `plumbline sign --key cosign.key oci://…` (any artifact) and `plumbline
//! policy sign --key cosign.key oci://…` (a policy, checked to be one
//! first): write a cosign-compatible signature of the artifact's digest to
//! the registry, where `cosign verify --key cosign.pub` and a sync's
//! `verify` find it.
//!
//! The key is an unencrypted PKCS#8 PEM ECDSA P-256 private key (`openssl
//! ecparam -genkey -name prime256v1 -noout | openssl pkcs8 -topk8
//! -nocrypt`); cosign's own encrypted key format is not read.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use serde::Serialize;

use super::output::outln;
use super::registry::{self, RegistryArgs};
use super::{Global, OutputFormat};
use crate::oci;
use crate::source::verify::cosign::PayloadSigner;

/// Arguments of `sign` and `policy sign`.
#[derive(Debug, clap::Args)]
#[command(after_help = "\
Examples:
  plumbline sign --key cosign.key oci://ghcr.io/acme/shop-manifests:v1.4.0
  plumbline policy sign --key cosign.key oci://ghcr.io/acme/policies/labels:v1

The tag is resolved once and that digest is signed; the signature is pushed
to the tag sha256-<hex>.sig of the same repository, as cosign does. Make a
key with:
  openssl ecparam -genkey -name prime256v1 -noout | openssl pkcs8 -topk8 -nocrypt -out cosign.key
  openssl pkey -in cosign.key -pubout -out cosign.pub")]
pub struct Args {
    /// The private key: an unencrypted PKCS#8 PEM ECDSA P-256 key.
    #[arg(long, value_name = "FILE")]
    pub key: PathBuf,
    /// What to sign: oci://host/repository:tag or @sha256:<digest>.
    pub reference: String,
    /// How to reach the registry.
    #[command(flatten)]
    pub registry: RegistryArgs,
}

/// What is signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject {
    /// Any artifact.
    Artifact,
    /// A policy: the artifact must be a Wasm component in a policy layout
    /// (`plumbline policy sign`, built with the `policy` commands).
    #[cfg(feature = "policy-build")]
    Policy,
}

/// What `sign` reports.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
struct Report {
    reference: String,
    digest: String,
    signature: String,
    signature_digest: String,
    fingerprint: String,
}

/// Sign the artifact and print where the signature went.
pub fn run(args: Args, subject: Subject, global: &Global) -> anyhow::Result<ExitCode> {
    let reference = registry::parse(&args.reference)?;
    let pem = std::fs::read_to_string(&args.key)
        .with_context(|| format!("cannot read {}", args.key.display()))?;
    let signer = PayloadSigner::from_pem(&pem).map_err(|e| {
        anyhow::anyhow!(
            "{}: {e} (cosign's encrypted keys are not read; see `plumbline sign --help`)",
            args.key.display()
        )
    })?;
    let options = args.registry.options(&reference)?;
    let signed = registry::block_on(async {
        let target = match subject {
            Subject::Artifact => reference,
            #[cfg(feature = "policy-build")]
            Subject::Policy => {
                oci::policy::pull_policy(&reference, &options)
                    .await?
                    .artifact
                    .reference
            }
        };
        oci::signature::sign(&target, &signer, &options).await
    })?;
    let report = Report {
        digest: signed.reference.digest.clone().unwrap_or_default(),
        reference: signed.reference.to_string(),
        signature: signed.signature.to_string(),
        signature_digest: signed.signature_digest,
        fingerprint: signed.fingerprint,
    };
    match global.output {
        OutputFormat::Human => {
            outln!("signed {}", report.reference);
            outln!("key: cosign key {}", report.fingerprint);
            outln!("signature: {}", report.signature);
        }
        OutputFormat::Json => outln!("{}", serde_json::to_string_pretty(&report)?),
        OutputFormat::Yaml => outln!("{}", serde_yaml::to_string(&report)?),
    }
    Ok(ExitCode::SUCCESS)
}
