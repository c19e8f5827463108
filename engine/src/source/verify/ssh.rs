//! SSH signatures (what `git -c gpg.format=ssh commit -S` writes with
//! `ssh-keygen -Y sign -n git`), checked with the `ssh-key` crate against
//! trusted public keys: ed25519, ECDSA and RSA keys.
//!
//! Keys are given as OpenSSH public key lines (`ssh-ed25519 AAAA… alice`) or
//! as an allowed-signers file (`alice@example.com ssh-ed25519 AAAA…`, see
//! ssh-keygen(1)); a line whose `namespaces=` option leaves out `git` is not
//! trusted for Git. Certificate authorities and validity intervals are not
//! supported and refused, so no line is silently trusted more than it says.

use ssh_key::{HashAlg, PublicKey, SshSig};

use super::{Failure, Signer, SignerFormat};

/// The signature namespace Git uses.
const NAMESPACE: &str = "git";

/// A trusted SSH public key.
#[derive(Debug, Clone)]
pub(super) struct TrustedKey {
    key: PublicKey,
    fingerprint: String,
    origin: String,
}

impl TrustedKey {
    /// The key's SHA-256 fingerprint, as `ssh-keygen -l` shows it.
    pub(super) fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// Where the key was read from.
    pub(super) fn origin(&self) -> &str {
        &self.origin
    }
}

/// The keys of an allowed-signers file or of public key lines; `origin`
/// names the file in messages. Lines are numbered from 1 in errors.
pub(super) fn parse(text: &str, origin: &str) -> Result<Vec<TrustedKey>, String> {
    let mut keys = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let at_line = |message: String| format!("line {}: {message}", index + 1);
        let Some(start) = key_start(line) else {
            return Err(at_line("no SSH public key found".into()));
        };
        let options = options_of(&line[..start]).map_err(at_line)?;
        if !options.for_git {
            continue;
        }
        let key = PublicKey::from_openssh(&line[start..])
            .map_err(|e| at_line(format!("not an SSH public key: {e}")))?;
        keys.push(TrustedKey {
            fingerprint: key.fingerprint(HashAlg::Sha256).to_string(),
            key,
            origin: origin.to_owned(),
        });
    }
    if keys.is_empty() {
        return Err("no SSH public key trusted for Git".into());
    }
    Ok(keys)
}

/// Whether `text` looks like SSH keys: a key line, or an allowed-signers
/// line with one.
pub(super) fn looks_like_ssh(text: &str) -> bool {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .any(|l| key_start(l).is_some())
}

/// Where the key type starts in a line: at its start (a public key line)
/// or after the principals and options of an allowed-signers line.
fn key_start(line: &str) -> Option<usize> {
    let mut offset = 0;
    for word in line.split_inclusive(char::is_whitespace) {
        let token = word.trim();
        if is_key_type(token) {
            return Some(offset);
        }
        offset += word.len();
    }
    None
}

fn is_key_type(token: &str) -> bool {
    token.starts_with("ssh-") || token.starts_with("ecdsa-sha2-") || token.starts_with("sk-")
}

/// What the options of an allowed-signers line say.
struct Options {
    /// No `namespaces=` option, or one that lists `git`.
    for_git: bool,
}

/// The options of an allowed-signers line: the text before the key, after
/// the principals (none for a bare public key line).
fn options_of(prefix: &str) -> Result<Options, String> {
    let mut words = prefix.split_whitespace();
    let _principals = words.next();
    let mut for_git = true;
    for option in words.flat_map(split_options) {
        let (name, value) = option.split_once('=').unwrap_or((option, ""));
        match name.to_ascii_lowercase().as_str() {
            "namespaces" => {
                for_git = value
                    .trim_matches('"')
                    .split(',')
                    .any(|n| n.trim() == NAMESPACE);
            }
            other => {
                return Err(format!(
                    "option {other:?} is not supported (only namespaces=)"
                ))
            }
        }
    }
    Ok(Options { for_git })
}

/// Options are separated by commas outside double quotes.
fn split_options(text: &str) -> Vec<&str> {
    let mut options = Vec::new();
    let (mut start, mut quoted) = (0, false);
    for (index, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                options.push(&text[start..index]);
                start = index + 1;
            }
            _ => {}
        }
    }
    options.push(&text[start..]);
    options.into_iter().filter(|o| !o.is_empty()).collect()
}

/// Verify the armored SSH `signature` over `payload` against `keys`.
pub(super) fn verify(
    signature: &str,
    payload: &[u8],
    keys: &[TrustedKey],
) -> Result<Signer, Failure> {
    let signature = SshSig::from_pem(signature)
        .map_err(|e| Failure::Malformed(format!("SSH signature: {e}")))?;
    let fingerprint = signature
        .public_key()
        .fingerprint(HashAlg::Sha256)
        .to_string();
    let Some(trusted) = keys
        .iter()
        .find(|k| k.key.key_data() == signature.public_key())
    else {
        return Err(Failure::UntrustedKey {
            found: format!("SSH key {fingerprint}"),
        });
    };
    let signer = format!("SSH key {fingerprint}");
    if signature.namespace() != NAMESPACE {
        return Err(Failure::BadSignature {
            signer,
            reason: format!(
                "is for namespace {:?}, not {NAMESPACE:?}",
                signature.namespace()
            ),
        });
    }
    trusted
        .key
        .verify(NAMESPACE, payload, &signature)
        .map_err(|e| Failure::BadSignature {
            signer,
            reason: format!("does not match the signed content: {e}"),
        })?;
    Ok(Signer {
        format: SignerFormat::Ssh,
        fingerprint,
        origin: trusted.origin.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str =
        "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHsKLqeplhpW+uObz5dvMgjz1OxfM/XXUB+VHtZ6isGN alice";

    #[test]
    fn allowed_signers_lines_and_bare_keys_are_read() {
        let text = format!(
            "# team\nalice@example.com {KEY}\n\"bob@x,carol@y\" namespaces=\"file,git\" {KEY}\n{KEY}\n"
        );
        let keys = parse(&text, "keys/team").unwrap();
        assert_eq!(keys.len(), 3);
        assert!(keys[0].fingerprint().starts_with("SHA256:"));
        assert_eq!(keys[0].origin(), "keys/team");
    }

    #[test]
    fn lines_for_other_namespaces_are_not_trusted_and_unknown_options_are_refused() {
        let other = format!("alice@example.com namespaces=\"file\" {KEY}\n");
        assert_eq!(
            parse(&other, "k").unwrap_err(),
            "no SSH public key trusted for Git"
        );
        let ca = format!("*@example.com cert-authority {KEY}\n");
        let error = parse(&ca, "k").unwrap_err();
        assert!(
            error.contains("line 1") && error.contains("cert-authority"),
            "{error}"
        );
        let garbage = parse("alice@example.com nothing here\n", "k").unwrap_err();
        assert!(garbage.contains("no SSH public key"), "{garbage}");
    }
}
