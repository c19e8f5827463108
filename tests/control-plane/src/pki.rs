//! The certificates and keys of a test control plane: a CA, a serving
//! certificate for `127.0.0.1`/`localhost`, and a service-account signing key.
//!
//! They do not depend on ports, so every instance shares one set, made once
//! per cache directory with `openssl` (ECDSA P-256: fast to generate) and
//! moved into place with one rename.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Error, Result};

/// Paths of the shared PKI files.
#[derive(Debug, Clone)]
pub struct Pki {
    /// The CA certificate, trusted by clients and used to verify client certificates.
    pub ca_cert: PathBuf,
    /// The CA's private key (the controller manager signs with it).
    pub ca_key: PathBuf,
    /// The API server's serving certificate.
    pub server_cert: PathBuf,
    /// The API server's serving key.
    pub server_key: PathBuf,
    /// The service-account token signing key (private; its public half is derived by the server).
    pub service_account_key: PathBuf,
}

impl Pki {
    /// Makes the files in `cache/pki` unless they exist.
    pub fn ensure(cache: &Path) -> Result<Self> {
        let dir = cache.join("pki");
        let pki = Self::at(&dir);
        if pki.service_account_key.is_file() {
            return Ok(pki);
        }
        let staging = cache.join(format!("pki.{}", crate::unique_suffix()));
        let _ = fs::remove_dir_all(&staging);
        fs::create_dir_all(&staging).map_err(|e| Error::io(&staging, e))?;
        generate(&staging)?;
        if fs::rename(&staging, &dir).is_err() {
            // Another process made them first.
            let _ = fs::remove_dir_all(&staging);
        }
        Ok(pki)
    }

    fn at(dir: &Path) -> Self {
        Self {
            ca_cert: dir.join("ca.crt"),
            ca_key: dir.join("ca.key"),
            server_cert: dir.join("server.crt"),
            server_key: dir.join("server.key"),
            service_account_key: dir.join("sa.key"),
        }
    }
}

fn generate(dir: &Path) -> Result<()> {
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
    openssl(
        dir,
        &[
            &["req", "-x509"],
            &ec[..],
            &[
                "-nodes",
                "-keyout",
                "ca.key",
                "-out",
                "ca.crt",
                "-days",
                "3650",
                "-subj",
                "/CN=plumbline-test-ca",
            ],
        ],
    )?;
    openssl(
        dir,
        &[
            &["req"],
            &ec[..],
            &[
                "-nodes",
                "-keyout",
                "server.key",
                "-out",
                "server.csr",
                "-subj",
                "/CN=kube-apiserver",
            ],
        ],
    )?;
    let san =
        "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default.svc\n";
    fs::write(dir.join("san.ext"), san).map_err(|e| Error::io(dir, e))?;
    openssl(
        dir,
        &[&[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "3650",
            "-extfile",
            "san.ext",
        ]],
    )?;
    openssl(
        dir,
        &[&[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "sa.key",
        ]],
    )
}

fn openssl(dir: &Path, args: &[&[&str]]) -> Result<()> {
    let args: Vec<&str> = args.concat();
    let output = Command::new("openssl")
        .args(&args)
        .current_dir(dir)
        .output()
        .map_err(|e| Error::Spawn("openssl".into(), e))?;
    if output.status.success() {
        Ok(())
    } else {
        Err(Error::Pki(format!(
            "openssl {} failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr).trim()
        )))
    }
}
