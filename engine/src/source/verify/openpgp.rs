//! OpenPGP signatures (what `git commit -S` writes with `gpg`), checked with
//! rPGP against trusted certificates: the signing key may be the primary
//! key or a signing subkey bound to it (with its back-signature); neither
//! may be revoked, and the key must be valid both when the signature was
//! made and now (creation and expiry times from its newest valid
//! self-signature).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pgp::composed::{Deserializable, DetachedSignature, SignedPublicKey, SignedPublicSubKey};
use pgp::packet::{Signature, SignatureType};
use pgp::types::{KeyDetails, Tag, Timestamp};

use super::{Failure, Signer, SignerFormat};

/// A trusted OpenPGP certificate (a primary key with its subkeys).
#[derive(Debug, Clone)]
pub(super) struct Certificate {
    key: SignedPublicKey,
    fingerprint: String,
    origin: String,
}

impl Certificate {
    /// The primary key's fingerprint, upper-case hex as `gpg` shows it.
    pub(super) fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Where the key was read from.
    pub(super) fn origin(&self) -> &str {
        &self.origin
    }
}

/// Whether `text` holds armored OpenPGP public keys.
pub(super) fn is_armored_key(text: &str) -> bool {
    text.contains("-----BEGIN PGP PUBLIC KEY BLOCK-----")
}

/// The certificates of an armored key block (several may be
/// concatenated).
pub(super) fn parse(text: &str, origin: &str) -> Result<Vec<Certificate>, String> {
    let keys = SignedPublicKey::from_string_many(text)
        .map_err(|e| format!("not an OpenPGP public key: {e}"))?
        .0;
    let mut certificates = Vec::new();
    for key in keys {
        let key = key.map_err(|e| format!("not an OpenPGP public key: {e}"))?;
        certificates.push(Certificate {
            fingerprint: format!("{:X}", key.primary_key.fingerprint()),
            key,
            origin: origin.to_owned(),
        });
    }
    if certificates.is_empty() {
        return Err("no OpenPGP public key in the armored block".into());
    }
    Ok(certificates)
}

/// Verify the armored detached `signature` over `payload` against
/// `certificates`, at time `now`.
pub(super) fn verify(
    signature: &str,
    payload: &[u8],
    certificates: &[Certificate],
    now: SystemTime,
) -> Result<Signer, Failure> {
    let signature = DetachedSignature::from_string(signature)
        .map_err(|e| Failure::Malformed(format!("OpenPGP signature: {e}")))?
        .0
        .signature;
    let issuer = issuer_name(&signature);
    let Some((certificate, subkey)) = certificates
        .iter()
        .find_map(|c| issued_by(&signature, c).map(|subkey| (c, subkey)))
    else {
        return Err(Failure::UntrustedKey {
            found: format!("OpenPGP key {issuer}"),
        });
    };
    let signer = format!("OpenPGP key {}", certificate.fingerprint);
    let bad = |reason: String| Failure::BadSignature {
        signer: signer.clone(),
        reason,
    };
    if !matches!(
        signature.typ(),
        Some(SignatureType::Binary | SignatureType::Text)
    ) {
        return Err(bad(format!(
            "a {:?} signature, not a data signature",
            signature.typ()
        )));
    }
    let verified = match subkey {
        Some(subkey) => signature.verify(&subkey.key, payload),
        None => signature.verify(&certificate.key.primary_key, payload),
    };
    verified.map_err(|e| bad(format!("does not match the signed content: {e}")))?;
    let made = signature
        .created()
        .map(to_time)
        .ok_or_else(|| bad("has no creation time".into()))?;
    if let Some(lifetime) = signature.signature_expiration_time().map(Duration::from) {
        if !lifetime.is_zero() && made + lifetime <= now {
            return Err(bad(format!("expired at {}", show(made + lifetime))));
        }
    }
    let primary = &certificate.key;
    check_primary(primary, made, now, subkey.is_none()).map_err(|p| p.into_failure(&signer))?;
    if let Some(subkey) = subkey {
        check_subkey(primary, subkey, made, now).map_err(|p| p.into_failure(&signer))?;
    }
    Ok(Signer {
        format: SignerFormat::OpenPgp,
        fingerprint: certificate.fingerprint.clone(),
        origin: certificate.origin.clone(),
    })
}

/// What is wrong with a signing key.
enum KeyProblem {
    Revoked,
    Expired(SystemTime),
    NotYetValid(SystemTime),
    MadeAfterExpiry(SystemTime),
    NoSelfSignature,
    NotForSigning,
}

impl KeyProblem {
    fn into_failure(self, signer: &str) -> Failure {
        let signer = signer.to_owned();
        match self {
            KeyProblem::Revoked => Failure::Revoked { signer },
            KeyProblem::Expired(at) => Failure::KeyExpired {
                signer,
                at: show(at),
            },
            KeyProblem::NotYetValid(from) => Failure::BadSignature {
                signer,
                reason: format!("was made before the key existed ({})", show(from)),
            },
            KeyProblem::MadeAfterExpiry(at) => Failure::BadSignature {
                signer,
                reason: format!("was made after the key expired ({})", show(at)),
            },
            KeyProblem::NoSelfSignature => Failure::BadSignature {
                signer,
                reason: "the key has no valid self-signature".into(),
            },
            KeyProblem::NotForSigning => Failure::BadSignature {
                signer,
                reason: "the key is not marked for signing".into(),
            },
        }
    }
}

/// The primary key: not revoked, a valid self-signature, valid at `made`
/// and `now`; marked for signing if it made the signature itself.
fn check_primary(
    key: &SignedPublicKey,
    made: SystemTime,
    now: SystemTime,
    signs_itself: bool,
) -> Result<(), KeyProblem> {
    let primary = &key.primary_key;
    let revoked =
        key.details.revocation_signatures.iter().any(|s| {
            s.typ() == Some(SignatureType::KeyRevocation) && s.verify_key(primary).is_ok()
        });
    if revoked {
        return Err(KeyProblem::Revoked);
    }
    let direct = key
        .details
        .direct_signatures
        .iter()
        .filter(|s| s.verify_key(primary).is_ok());
    let certifications = key.details.users.iter().flat_map(|user| {
        user.signatures.iter().filter(|s| {
            s.is_certification()
                && s.verify_certification(primary, Tag::UserId, &user.id)
                    .is_ok()
        })
    });
    let newest = direct
        .chain(certifications)
        .max_by_key(|s| s.created().map(Timestamp::as_secs))
        .ok_or(KeyProblem::NoSelfSignature)?;
    if signs_itself {
        let flags = newest.key_flags();
        let has_flags = newest.config().is_some_and(|c| {
            c.hashed_subpackets()
                .any(|p| matches!(p.data, pgp::packet::SubpacketData::KeyFlags(_)))
        });
        if has_flags && !flags.sign() {
            return Err(KeyProblem::NotForSigning);
        }
    }
    check_lifetime(
        to_time(primary.created_at()),
        newest.key_expiration_time().map(Duration::from),
        made,
        now,
    )
}

/// A signing subkey: bound by a valid binding signature that marks it for
/// signing and carries a valid back-signature, not revoked, valid at
/// `made` and `now`.
fn check_subkey(
    key: &SignedPublicKey,
    subkey: &SignedPublicSubKey,
    made: SystemTime,
    now: SystemTime,
) -> Result<(), KeyProblem> {
    let primary = &key.primary_key;
    let valid: Vec<&Signature> = subkey
        .signatures
        .iter()
        .filter(|s| s.verify_subkey_binding(primary, &subkey.key).is_ok())
        .collect();
    if valid
        .iter()
        .any(|s| s.typ() == Some(SignatureType::SubkeyRevocation))
    {
        return Err(KeyProblem::Revoked);
    }
    let binding = valid
        .iter()
        .filter(|s| s.typ() == Some(SignatureType::SubkeyBinding))
        .max_by_key(|s| s.created().map(Timestamp::as_secs))
        .ok_or(KeyProblem::NoSelfSignature)?;
    if !binding.key_flags().sign() {
        return Err(KeyProblem::NotForSigning);
    }
    let back_signed = binding.embedded_signature().is_some_and(|back| {
        back.verify_primary_key_binding(&subkey.key, primary)
            .is_ok()
    });
    if !back_signed {
        return Err(KeyProblem::NoSelfSignature);
    }
    check_lifetime(
        to_time(subkey.key.created_at()),
        binding.key_expiration_time().map(Duration::from),
        made,
        now,
    )
}

/// A key created at `created` that lives `lifetime` (none or zero:
/// forever) must be valid when the signature was `made` and `now`.
fn check_lifetime(
    created: SystemTime,
    lifetime: Option<Duration>,
    made: SystemTime,
    now: SystemTime,
) -> Result<(), KeyProblem> {
    if made < created {
        return Err(KeyProblem::NotYetValid(created));
    }
    if let Some(expiry) = lifetime.filter(|d| !d.is_zero()).map(|d| created + d) {
        if made >= expiry {
            return Err(KeyProblem::MadeAfterExpiry(expiry));
        }
        if now >= expiry {
            return Err(KeyProblem::Expired(expiry));
        }
    }
    Ok(())
}

/// The key of `certificate` that issued `signature`: `Some(None)` for the
/// primary key, `Some(Some(subkey))` for a subkey, `None` if none did.
fn issued_by<'a>(
    signature: &Signature,
    certificate: &'a Certificate,
) -> Option<Option<&'a SignedPublicSubKey>> {
    let fingerprints = signature.issuer_fingerprint();
    let key_ids = signature.issuer_key_id();
    let matches = |key: &dyn KeyDetails| {
        let fingerprint = key.fingerprint();
        let key_id = key.legacy_key_id();
        fingerprints.iter().any(|f| **f == fingerprint) || key_ids.iter().any(|k| **k == key_id)
    };
    if matches(&certificate.key.primary_key) {
        return Some(None);
    }
    certificate
        .key
        .public_subkeys
        .iter()
        .find(|s| matches(&s.key))
        .map(Some)
}

/// How a signature names its issuer: fingerprint, else key id.
fn issuer_name(signature: &Signature) -> String {
    if let Some(fingerprint) = signature.issuer_fingerprint().first() {
        return format!("{fingerprint:X}");
    }
    match signature.issuer_key_id().first() {
        Some(id) => hex::encode_upper(id.as_ref()),
        None => "(issuer not named)".into(),
    }
}

fn to_time(timestamp: Timestamp) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(u64::from(timestamp.as_secs()))
}

/// A time as seconds since the epoch and UTC date, e.g.
/// `2020-01-02T00:00:00Z`.
fn show(time: SystemTime) -> String {
    let seconds = time.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
    super::utc(seconds)
}
