//! Credentials for a remote, and [`Secret`], a string that never prints.

use std::path::{Path, PathBuf};

use super::{Error, Result};

/// A secret value (token, password). `Debug` and `Display` print `***`; the
/// value is only handed to the transport.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wrap a value.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// Read a secret from a file (a mounted Kubernetes Secret, say); one
    /// trailing newline is removed.
    pub fn from_file(path: &Path) -> Result<Self> {
        let value = std::fs::read_to_string(path).map_err(|source| Error::Secret {
            origin: format!("file {}", path.display()),
            source,
        })?;
        let value = value.strip_suffix('\n').unwrap_or(&value);
        Ok(Self(value.strip_suffix('\r').unwrap_or(value).to_owned()))
    }

    /// Read a secret from the environment variable `name`.
    pub fn from_env(name: &str) -> Result<Self> {
        std::env::var(name).map(Self).map_err(|e| Error::Secret {
            origin: format!("environment variable {name}"),
            source: std::io::Error::new(std::io::ErrorKind::NotFound, e),
        })
    }

    /// The value, for the transport only.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// How to authenticate to a remote.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Credentials {
    /// No authentication (public repositories, local paths).
    #[default]
    None,
    /// HTTP basic authentication.
    Basic {
        /// User name.
        username: String,
        /// Password.
        password: Secret,
    },
    /// An HTTP access token, sent as the password of user `x-access-token`
    /// (GitHub, Gitea and GitLab accept a token this way).
    Token(Secret),
    /// An SSH private key file (without passphrase) for the system `ssh`.
    SshKey {
        /// The private key.
        private_key: PathBuf,
        /// A `known_hosts` file; when given, host keys are checked strictly
        /// against it.
        known_hosts: Option<PathBuf>,
    },
}

impl Credentials {
    /// User name and password for HTTP, if these credentials are for HTTP.
    pub(crate) fn http_account(&self) -> Option<(String, String)> {
        match self {
            Credentials::Basic { username, password } => {
                Some((username.clone(), password.expose().to_owned()))
            }
            Credentials::Token(token) => {
                Some(("x-access-token".to_owned(), token.expose().to_owned()))
            }
            Credentials::None | Credentials::SshKey { .. } => None,
        }
    }

    /// The `ssh` command line (as for `core.sshCommand`) using `program`.
    pub(crate) fn ssh_command(&self, program: &str) -> String {
        let mut cmd = format!("{program} -o BatchMode=yes");
        if let Credentials::SshKey {
            private_key,
            known_hosts,
        } = self
        {
            cmd.push_str(" -o IdentitiesOnly=yes -i ");
            cmd.push_str(&shell_quote(&private_key.to_string_lossy()));
            if let Some(known_hosts) = known_hosts {
                cmd.push_str(" -o StrictHostKeyChecking=yes -o UserKnownHostsFile=");
                cmd.push_str(&shell_quote(&known_hosts.to_string_lossy()));
            }
        }
        cmd
    }
}

/// Quote `s` for a POSIX shell.
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_print() {
        let c = Credentials::Basic {
            username: "u".into(),
            password: Secret::new("hunter2"),
        };
        assert!(!format!("{c:?}").contains("hunter2"));
    }

    #[test]
    fn ssh_command_quotes_paths() {
        let c = Credentials::SshKey {
            private_key: "/keys/it's".into(),
            known_hosts: Some("/k h".into()),
        };
        assert_eq!(
            c.ssh_command("ssh"),
            "ssh -o BatchMode=yes -o IdentitiesOnly=yes -i '/keys/it'\\''s' \
             -o StrictHostKeyChecking=yes -o UserKnownHostsFile='/k h'"
        );
    }
}
