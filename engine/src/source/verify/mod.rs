//! Verify what a source delivers: the signatures of Git commits and
//! annotated tags, checked in-process against trusted keys, before any of
//! the revision's files are read; and the trusted keys and verdicts of
//! cosign signatures of OCI artifacts (module [`cosign`], whose signatures
//! [`crate::oci::signature`] pulls).
//!
//! In: the object database of the cache repository, the object a fetched
//! reference points to, and a [`Verification`] (a [`Mode`] and
//! [`TrustedKeys`]). Out: what was [`Verified`] (object, signer), or an
//! [`Error`] naming the object, the keys expected and what was found. No IO
//! beyond reading objects; no `gpg` or `ssh-keygen`: SSH signatures
//! (namespace `git`) are checked by the `ssh-key` crate (module `ssh`), OpenPGP
//! signatures by rPGP (module `openpgp`), signing subkeys, expiry and revocation
//! included.

pub mod cosign;
mod openpgp;
mod ssh;

use std::sync::Arc;
use std::time::SystemTime;

use gix::ObjectId;
use serde::{Deserialize, Serialize};

/// What must be signed, as Flux's `verify.mode`.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum Mode {
    /// The commit the reference resolves to (the default).
    #[default]
    Head,
    /// The annotated tag the reference names (`ref: {tag: …}` only).
    Tag,
    /// Both the annotated tag and the commit it points to.
    TagAndHead,
}

impl Mode {
    /// The name used in `verify.mode`.
    pub fn name(self) -> &'static str {
        match self {
            Mode::Head => "head",
            Mode::Tag => "tag",
            Mode::TagAndHead => "tagAndHead",
        }
    }

    fn checks_tag(self) -> bool {
        matches!(self, Mode::Tag | Mode::TagAndHead)
    }

    fn checks_head(self) -> bool {
        matches!(self, Mode::Head | Mode::TagAndHead)
    }
}

/// Keys whose signatures are trusted: SSH public keys and OpenPGP
/// certificates (for Git), cosign P-256 public keys (for OCI artifacts),
/// each with the file (or Secret key) it came from.
#[derive(Debug, Clone, Default)]
pub struct TrustedKeys {
    ssh: Vec<ssh::TrustedKey>,
    openpgp: Vec<openpgp::Certificate>,
    cosign: Vec<cosign::TrustedKey>,
}

impl PartialEq for TrustedKeys {
    fn eq(&self, other: &Self) -> bool {
        self.describe() == other.describe()
    }
}

impl Eq for TrustedKeys {}

/// A file of keys that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("trusted keys {origin}: {message}")]
pub struct KeyError {
    /// The file or Secret key.
    pub origin: String,
    /// What is wrong.
    pub message: String,
}

impl TrustedKeys {
    /// Add the keys of one file: an armored OpenPGP public key block, SSH
    /// public keys or an allowed-signers file, or PEM P-256 public keys
    /// (cosign's). `origin` names it in messages.
    pub fn add(&mut self, text: &str, origin: &str) -> Result<(), KeyError> {
        let error = |message| KeyError {
            origin: origin.to_owned(),
            message,
        };
        if openpgp::is_armored_key(text) {
            self.openpgp
                .extend(openpgp::parse(text, origin).map_err(error)?);
        } else if cosign::is_public_key_pem(text) {
            self.cosign
                .extend(cosign::parse_keys(text, origin).map_err(error)?);
        } else if ssh::looks_like_ssh(text) {
            self.ssh.extend(ssh::parse(text, origin).map_err(error)?);
        } else {
            return Err(error(
                "neither an armored OpenPGP public key, SSH public keys or allowed signers, \
                 nor a PEM public key (cosign)"
                    .into(),
            ));
        }
        Ok(())
    }

    /// Whether no key was added.
    pub fn is_empty(&self) -> bool {
        self.ssh.is_empty() && self.openpgp.is_empty() && self.cosign.is_empty()
    }

    /// The cosign keys, which verify OCI artifacts.
    pub fn cosign(&self) -> &[cosign::TrustedKey] {
        &self.cosign
    }

    /// The keys, for messages: `SSH key SHA256:… (keys/alice.pub), OpenPGP
    /// key 0123… (keys/bob.asc), cosign key SHA256:… (cosign.pub)`.
    pub fn describe(&self) -> String {
        let ssh = self
            .ssh
            .iter()
            .map(|k| format!("SSH key {} ({})", k.fingerprint(), k.origin()));
        let openpgp = self
            .openpgp
            .iter()
            .map(|c| format!("OpenPGP key {} ({})", c.fingerprint(), c.origin()));
        let cosign = self
            .cosign
            .iter()
            .map(|k| format!("cosign key {} ({})", k.fingerprint(), k.origin()));
        ssh.chain(openpgp)
            .chain(cosign)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// What a source must satisfy: which objects are signed, by which keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verification {
    /// What must be signed.
    pub mode: Mode,
    /// Whose signatures count.
    pub keys: Arc<TrustedKeys>,
}

/// The kind of signature a key made.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SignerFormat {
    /// An SSH signature (`gpg.format=ssh`).
    Ssh,
    /// An OpenPGP signature (`gpg`).
    OpenPgp,
    /// A cosign signature of an OCI artifact (ECDSA P-256).
    Cosign,
}

/// The trusted key that made a good signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Signer {
    /// SSH or OpenPGP.
    pub format: SignerFormat,
    /// The key's fingerprint: `SHA256:…` for SSH, the primary key's
    /// upper-case hex fingerprint for OpenPGP (also when a subkey signed).
    pub fingerprint: String,
    /// The file or Secret key the trusted key came from.
    pub origin: String,
}

impl std::fmt::Display for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let format = match self.format {
            SignerFormat::Ssh => "SSH",
            SignerFormat::OpenPgp => "OpenPGP",
            SignerFormat::Cosign => "cosign",
        };
        write!(f, "{format} key {} ({})", self.fingerprint, self.origin)
    }
}

/// The kind of a signed object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ObjectKind {
    /// A Git commit.
    Commit,
    /// A Git annotated tag.
    Tag,
    /// An OCI artifact (its manifest), signed with cosign.
    Artifact,
}

impl std::fmt::Display for ObjectKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ObjectKind::Commit => "commit",
            ObjectKind::Tag => "tag",
            ObjectKind::Artifact => "artifact",
        })
    }
}

/// One object whose signature was verified.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Verified {
    /// Commit, tag or artifact.
    pub kind: ObjectKind,
    /// Its id: the Git object id, or the artifact's `oci://…@sha256:…`
    /// reference pinned to its manifest digest.
    pub object: String,
    /// Who signed it.
    pub signer: Signer,
}

impl std::fmt::Display for Verified {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {} signed by {}", self.kind, self.object, self.signer)
    }
}

/// Why a signature is not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    /// The signature cannot be parsed.
    #[error("its signature cannot be read ({0})")]
    Malformed(String),
    /// A signature format Plumbline does not verify (X.509).
    #[error("it has an {0} signature, which Plumbline does not verify")]
    UnsupportedFormat(&'static str),
    /// Made by a key that is not trusted.
    #[error("it is signed by {found}, which is not a trusted key")]
    UntrustedKey {
        /// The key that signed, by fingerprint or key id.
        found: String,
    },
    /// Made by a trusted key, but the signature does not hold: content
    /// changed, wrong namespace, or made outside the key's validity.
    #[error("its signature by {signer} is bad: it {reason}")]
    BadSignature {
        /// The key.
        signer: String,
        /// What is wrong.
        reason: String,
    },
    /// The trusted key was revoked.
    #[error("it is signed by {signer}, which is revoked")]
    Revoked {
        /// The key.
        signer: String,
    },
    /// The trusted key has expired.
    #[error("it is signed by {signer}, which expired at {at}")]
    KeyExpired {
        /// The key.
        signer: String,
        /// When it expired.
        at: String,
    },
}

/// A source that does not satisfy its [`Verification`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// The object carries no signature.
    #[error("{kind} {object} is not signed; expected a signature by {expected}")]
    Unsigned {
        /// Commit or tag.
        kind: ObjectKind,
        /// Its id.
        object: ObjectId,
        /// The trusted keys.
        expected: String,
    },
    /// The object's signature is not accepted.
    #[error("{kind} {object} is refused: {failure}; expected a signature by {expected}")]
    Refused {
        /// Commit or tag.
        kind: ObjectKind,
        /// Its id.
        object: ObjectId,
        /// What is wrong.
        failure: Failure,
        /// The trusted keys.
        expected: String,
    },
    /// The mode verifies a tag, but the reference is no annotated tag.
    #[error("verify mode {} needs an annotated tag, but {reference} {found}", mode.name())]
    NotAnnotatedTag {
        /// The mode.
        mode: Mode,
        /// The reference, as shown (`branch main`, `tag v1`).
        reference: String,
        /// What it is instead.
        found: &'static str,
    },
    /// An object could not be read from the cache repository.
    #[error("cannot read object {object} to verify it: {message}")]
    Read {
        /// Its id.
        object: ObjectId,
        /// The failure.
        message: String,
    },
}

impl Error {
    /// A short machine-readable reason, for metrics, status conditions and
    /// Events.
    pub fn reason(&self) -> &'static str {
        match self {
            Error::Unsigned { .. } => "UnsignedRevision",
            Error::Refused {
                failure: Failure::UntrustedKey { .. },
                ..
            } => "UntrustedSigner",
            Error::Refused { .. } => "InvalidSignature",
            Error::NotAnnotatedTag { .. } => "NotAnnotatedTag",
            Error::Read { .. } => "VerificationFailed",
        }
    }
}

/// Verify an armored `signature` (SSH or OpenPGP, told by its armor) over
/// `payload` against `keys`, at time `now`.
pub fn verify_signature(
    signature: &[u8],
    payload: &[u8],
    keys: &TrustedKeys,
    now: SystemTime,
) -> Result<Signer, Failure> {
    let text = std::str::from_utf8(signature).map_err(|_| Failure::Malformed("not text".into()))?;
    if text.starts_with("-----BEGIN SSH SIGNATURE-----") {
        ssh::verify(text, payload, &keys.ssh)
    } else if text.starts_with("-----BEGIN PGP SIGNATURE-----") {
        openpgp::verify(text, payload, &keys.openpgp, now)
    } else if text.starts_with("-----BEGIN SIGNED MESSAGE-----") {
        Err(Failure::UnsupportedFormat("X.509"))
    } else {
        Err(Failure::Malformed("unknown armor".into()))
    }
}

/// Verify the signature of the commit or annotated tag `id` in `repo`.
pub fn verify_object(
    repo: &gix::Repository,
    id: ObjectId,
    keys: &TrustedKeys,
) -> Result<Verified, Error> {
    let read = |message: String| Error::Read {
        object: id,
        message,
    };
    let object = repo.find_object(id).map_err(|e| read(e.to_string()))?;
    let (kind, signed) = match object.kind {
        gix::object::Kind::Commit => (
            ObjectKind::Commit,
            gix::objs::CommitRefIter::signature(&object.data, id.kind())
                .map_err(|e| read(e.to_string()))?
                .map(|(signature, data)| (signature.into_owned(), data.to_bstring())),
        ),
        gix::object::Kind::Tag => (
            ObjectKind::Tag,
            gix::objs::TagRefIter::signature(&object.data)
                .map(|(signature, data)| (signature.data.to_owned(), data.to_bstring())),
        ),
        other => return Err(read(format!("a {other} is neither a commit nor a tag"))),
    };
    let Some((signature, payload)) = signed else {
        return Err(Error::Unsigned {
            kind,
            object: id,
            expected: keys.describe(),
        });
    };
    let signer =
        verify_signature(&signature, &payload, keys, SystemTime::now()).map_err(|failure| {
            Error::Refused {
                kind,
                object: id,
                failure,
                expected: keys.describe(),
            }
        })?;
    Ok(Verified {
        kind,
        object: id.to_string(),
        signer,
    })
}

/// Verify what a fetch delivered: `target` is the object the reference
/// points to (an annotated tag, or the commit itself), `commit` the commit
/// it resolves to, `reference` the reference as shown in messages.
pub(crate) fn verify_fetched(
    repo: &gix::Repository,
    target: ObjectId,
    commit: ObjectId,
    reference: &crate::source::GitRef,
    verification: &Verification,
) -> Result<Vec<Verified>, Error> {
    let mode = verification.mode;
    let keys = &verification.keys;
    let mut verified = Vec::new();
    if mode.checks_tag() {
        // A reference to an annotated tag points to the tag object; a
        // commit id naming one (a tag pinned by the controller) does too.
        let found = match reference {
            _ if target != commit => None,
            crate::source::GitRef::Tag(_) => Some("is a lightweight tag"),
            crate::source::GitRef::Branch(_) => Some("is a branch"),
            crate::source::GitRef::Commit(_) => Some("is a commit"),
        };
        if let Some(found) = found {
            return Err(Error::NotAnnotatedTag {
                mode,
                reference: reference.to_string(),
                found,
            });
        }
        verified.push(verify_object(repo, target, keys)?);
    }
    if mode.checks_head() {
        verified.push(verify_object(repo, commit, keys)?);
    }
    Ok(verified)
}

/// `seconds` since the epoch as an RFC 3339 UTC time,
/// `2020-01-02T03:04:05Z`.
fn utc(seconds: u64) -> String {
    let days = i64::try_from(seconds / 86_400).unwrap_or(i64::MAX);
    let rest = seconds % 86_400;
    // Civil date from days since 1970-01-01 (H. Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z",
        rest / 3600,
        rest % 3600 / 60,
        rest % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_shown_in_utc() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(1_577_923_200), "2020-01-02T00:00:00Z");
        assert_eq!(utc(951_782_400 + 3_723), "2000-02-29T01:02:03Z");
    }

    #[test]
    fn files_that_hold_no_keys_are_refused_naming_the_file() {
        let mut keys = TrustedKeys::default();
        let error = keys.add("hello\n", "keys/alice.pub").unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("trusted keys keys/alice.pub:"),
            "{error}"
        );
        let armored =
            "-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA\n-----END PGP PUBLIC KEY BLOCK-----\n";
        assert!(keys.add(armored, "keys/bob.asc").is_err());
        assert!(keys.is_empty());
    }

    #[test]
    fn signatures_of_unknown_formats_are_not_accepted() {
        let keys = TrustedKeys::default();
        let x509 = verify_signature(
            b"-----BEGIN SIGNED MESSAGE-----\n",
            b"",
            &keys,
            SystemTime::now(),
        );
        assert_eq!(x509, Err(Failure::UnsupportedFormat("X.509")));
        let junk = verify_signature(b"junk", b"", &keys, SystemTime::now());
        assert!(matches!(junk, Err(Failure::Malformed(_))));
    }
}
