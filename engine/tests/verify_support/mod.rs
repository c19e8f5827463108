//! Signing keys and signed commits made by the real tools, for the
//! verification tests: `gpg` (a temporary GNUPGHOME, `--batch --passphrase
//! ''`) and `ssh-keygen`, with `git commit -S` / `git tag -s`. `git log
//! --format=%G?` and `git tag -v`, run with the same trust (the trusted
//! GNUPGHOME and allowed-signers file), are the oracle.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

/// How a commit or tag is signed.
#[derive(Debug, Clone)]
pub enum Signing {
    /// Not signed.
    None,
    /// With `gpg` and this key (fingerprint), in the trusted GNUPGHOME.
    Gpg(String),
    /// With `gpg` in 2020 (`--faked-system-time`): for the expired key.
    GpgIn2020(String),
    /// With `gpg` and a key of another GNUPGHOME, never trusted.
    GpgStranger,
    /// With `ssh-keygen` and this private key file.
    Ssh(PathBuf),
}

/// The keys of one test: OpenPGP keys in a trusted GNUPGHOME (ed25519 and
/// RSA primaries, a certify-only primary with a signing subkey, a key that
/// expired in 2020, a key to revoke) and a stranger's; SSH keys (ed25519,
/// ECDSA, RSA, and a stranger's).
pub struct Keys {
    pub dir: tempfile::TempDir,
    pub ed25519: String,
    pub rsa: String,
    pub with_subkey: String,
    pub expired: String,
    pub revoked: String,
}

impl Keys {
    pub fn new() -> Keys {
        let dir = tempfile::tempdir().unwrap();
        for home in ["gnupg", "stranger-gnupg", "ssh"] {
            std::fs::create_dir(dir.path().join(home)).unwrap();
            set_private(&dir.path().join(home));
        }
        let mut keys = Keys {
            dir,
            ed25519: String::new(),
            rsa: String::new(),
            with_subkey: String::new(),
            expired: String::new(),
            revoked: String::new(),
        };
        keys.ed25519 = keys.gen_key("gnupg", "Ed <ed@example.com>", "ed25519", "sign", "0", None);
        keys.rsa = keys.gen_key(
            "gnupg",
            "Rsa <rsa@example.com>",
            "rsa2048",
            "sign",
            "0",
            None,
        );
        keys.with_subkey = keys.gen_key(
            "gnupg",
            "Sub <sub@example.com>",
            "ed25519",
            "cert",
            "0",
            None,
        );
        keys.gpg(
            "gnupg",
            None,
            &["--quick-add-key", &keys.with_subkey, "ed25519", "sign", "0"],
        );
        keys.expired = keys.gen_key(
            "gnupg",
            "Old <old@example.com>",
            "ed25519",
            "sign",
            "1d",
            Some("20200101T000000"),
        );
        keys.revoked = keys.gen_key(
            "gnupg",
            "Gone <gone@example.com>",
            "ed25519",
            "sign",
            "0",
            None,
        );
        keys.gen_key(
            "stranger-gnupg",
            "Eve <eve@example.com>",
            "ed25519",
            "sign",
            "0",
            None,
        );
        for (name, kind) in [
            ("alice", "ed25519"),
            ("carol", "ecdsa"),
            ("robert", "rsa"),
            ("mallory", "ed25519"),
        ] {
            let file = keys.ssh_key(name);
            let mut command = Command::new("ssh-keygen");
            command
                .args(["-q", "-N", "", "-C", name, "-t", kind, "-f"])
                .arg(&file);
            if kind == "rsa" {
                command.args(["-b", "2048"]);
            }
            run(&mut command);
        }
        keys
    }

    /// The trusted GNUPGHOME.
    pub fn gnupg_home(&self) -> PathBuf {
        self.dir.path().join("gnupg")
    }

    /// The private key file of SSH key `name` (`alice`, `carol`, `robert`,
    /// `mallory`); the public key is beside it with `.pub`.
    pub fn ssh_key(&self, name: &str) -> PathBuf {
        self.dir.path().join("ssh").join(name)
    }

    /// The public key line of SSH key `name`.
    pub fn ssh_public(&self, name: &str) -> String {
        std::fs::read_to_string(self.ssh_key(name).with_extension("pub")).unwrap()
    }

    /// `SHA256:…` of SSH key `name`, as `ssh-keygen -l` prints it.
    pub fn ssh_fingerprint(&self, name: &str) -> String {
        let out = run(Command::new("ssh-keygen")
            .arg("-lf")
            .arg(self.ssh_key(name).with_extension("pub")));
        out.split_whitespace().nth(1).unwrap().to_owned()
    }

    /// An allowed-signers file trusting SSH keys alice, carol and robert
    /// (not mallory).
    pub fn allowed_signers(&self) -> PathBuf {
        let file = self.dir.path().join("allowed_signers");
        if !file.exists() {
            let text: String = ["alice", "carol", "robert"]
                .iter()
                .map(|name| format!("{name}@example.com {}", self.ssh_public(name)))
                .collect();
            std::fs::write(&file, text).unwrap();
        }
        file
    }

    /// The armored public key of `fingerprint`, as `gpg --export --armor`
    /// writes it (with its revocation, once revoked).
    pub fn export(&self, fingerprint: &str) -> String {
        self.gpg("gnupg", None, &["--export", "--armor", fingerprint])
    }

    /// Revoke `fingerprint` in the trusted GNUPGHOME with the revocation
    /// certificate gpg made when it generated the key.
    pub fn revoke(&self, fingerprint: &str) {
        let certificate = self
            .gnupg_home()
            .join("openpgp-revocs.d")
            .join(format!("{fingerprint}.rev"));
        let text = std::fs::read_to_string(&certificate).unwrap().replace(
            ":-----BEGIN PGP PUBLIC KEY BLOCK-----",
            "-----BEGIN PGP PUBLIC KEY BLOCK-----",
        );
        let file = self.dir.path().join("revocation.asc");
        std::fs::write(&file, text).unwrap();
        self.gpg("gnupg", None, &["--import", file.to_str().unwrap()]);
    }

    /// Commit everything in `work` signed as `signing`, returning the id.
    pub fn commit(&self, work: &Path, message: &str, signing: &Signing) -> String {
        self.git(work, &["add", "-A"], signing);
        let mut args = vec!["commit", "-q", "--allow-empty", "-m", message];
        if !matches!(signing, Signing::None) {
            args.push("-S");
        }
        self.git(work, &args, signing);
        self.git(work, &["rev-parse", "HEAD"], &Signing::None)
    }

    /// Make annotated tag `name` (signed as `signing`) at HEAD of `work`.
    pub fn tag(&self, work: &Path, name: &str, signing: &Signing) {
        let flag = if matches!(signing, Signing::None) {
            "-a"
        } else {
            "-s"
        };
        self.git(work, &["tag", flag, name, "-m", name], signing);
    }

    /// `%G?` of `commit` as git reports it with the trusted keys.
    pub fn oracle(&self, work: &Path, commit: &str) -> char {
        let out = self.git(work, &["log", "-1", "--format=%G?", commit], &Signing::None);
        out.chars().next().unwrap()
    }

    /// Whether `git tag -v` accepts tag `name` with the trusted keys.
    pub fn tag_oracle(&self, work: &Path, name: &str) -> bool {
        self.git_command(work, &["tag", "-v", name], &Signing::None)
            .output()
            .unwrap()
            .status
            .success()
    }

    /// Run git in `work` signing as `signing`; its output.
    pub fn git(&self, work: &Path, args: &[&str], signing: &Signing) -> String {
        run(&mut self.git_command(work, args, signing))
    }

    fn git_command(&self, work: &Path, args: &[&str], signing: &Signing) -> Command {
        let mut command = Command::new("git");
        command
            .current_dir(work)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("GIT_AUTHOR_NAME", "Test")
            .env("GIT_AUTHOR_EMAIL", "test@example.com")
            .env("GIT_COMMITTER_NAME", "Test")
            .env("GIT_COMMITTER_EMAIL", "test@example.com")
            .env("GNUPGHOME", self.gnupg_home())
            .args([
                "-c",
                "init.defaultBranch=main",
                "-c",
                "protocol.file.allow=always",
            ])
            .arg("-c")
            .arg(format!(
                "gpg.ssh.allowedSignersFile={}",
                self.allowed_signers().display()
            ));
        match signing {
            Signing::None => {}
            Signing::Gpg(fingerprint) => {
                command.args(["-c", &format!("user.signingKey={fingerprint}")]);
            }
            Signing::GpgIn2020(fingerprint) => {
                let wrapper = self.dir.path().join("gpg-2020");
                std::fs::write(
                    &wrapper,
                    "#!/bin/sh\nexec gpg --faked-system-time 20200101T120000 \"$@\"\n",
                )
                .unwrap();
                set_executable(&wrapper);
                command
                    .args(["-c", &format!("user.signingKey={fingerprint}")])
                    .arg("-c")
                    .arg(format!("gpg.program={}", wrapper.display()))
                    .env("GIT_COMMITTER_DATE", "2020-01-01T12:00:00Z")
                    .env("GIT_AUTHOR_DATE", "2020-01-01T12:00:00Z");
            }
            Signing::GpgStranger => {
                command.env("GNUPGHOME", self.dir.path().join("stranger-gnupg"));
                command.args(["-c", "user.signingKey=eve@example.com"]);
            }
            Signing::Ssh(key) => {
                command
                    .args(["-c", "gpg.format=ssh", "-c"])
                    .arg(format!("user.signingKey={}", key.display()));
            }
        }
        command.args(args);
        command
    }

    fn gen_key(
        &self,
        home: &str,
        user: &str,
        algorithm: &str,
        usage: &str,
        expire: &str,
        at: Option<&str>,
    ) -> String {
        self.gpg(
            home,
            at,
            &["--quick-gen-key", user, algorithm, usage, expire],
        );
        let listing = self.gpg(home, None, &["--with-colons", "--list-keys", user]);
        listing
            .lines()
            .find_map(|l| l.strip_prefix("fpr:"))
            .map(|l| l.trim_matches(':').to_owned())
            .expect("a fingerprint")
    }

    fn gpg(&self, home: &str, at: Option<&str>, args: &[&str]) -> String {
        let mut command = Command::new("gpg");
        command.env("GNUPGHOME", self.dir.path().join(home)).args([
            "--batch",
            "--quiet",
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            "",
        ]);
        if let Some(at) = at {
            command.args(["--faked-system-time", &format!("{at}!")]);
        }
        command.args(args);
        run(&mut command)
    }
}

/// Run a command; its standard output, or a panic with its standard error.
pub fn run(command: &mut Command) -> String {
    let out = command.output().expect("the program runs");
    assert!(
        out.status.success(),
        "{command:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// Replace `from` by `to` in the message of signed commit `commit` and
/// write the result as a new object, keeping the signature: a tampered
/// commit. Its id.
pub fn tamper(work: &Path, commit: &str, from: &str, to: &str) -> String {
    let raw = run(Command::new("git")
        .current_dir(work)
        .args(["cat-file", "commit", commit]));
    let changed = format!("{}\n", raw.replace(from, to));
    assert_ne!(changed.trim(), raw, "nothing to tamper with");
    let mut child = Command::new("git")
        .current_dir(work)
        .args(["hash-object", "-t", "commit", "-w", "--stdin"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(changed.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn set_private(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
}

fn set_executable(file: &Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(file, std::fs::Permissions::from_mode(0o755)).unwrap();
}
