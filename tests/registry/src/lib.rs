//! A real OCI registry on loopback for tests: Debian's `docker-registry`
//! (distribution/registry 2.8), started on a free port with its own
//! temporary storage, plain HTTP, optionally behind htpasswd basic
//! authentication, and stopped when the [`Registry`] is dropped (or when the
//! test process dies: the program runs under a watchdog).
//!
//! Tests that need a registry start it with [`Registry::start_or_skip`],
//! which prints one line and returns `None` when the program is not
//! installed — unless `PLUMBLINE_REQUIRE_REGISTRY=1` is set (as CI does), in
//! which case it panics, so a green CI run means the real registry was used.
//!
//! ```no_run
//! let Some(registry) = registry::Registry::start_or_skip(registry::Options::default()) else { return };
//! let reference = format!("oci://{}/policies/labels:v1", registry.host());
//! # let _ = reference;
//! ```
//!
//! [`Hanging`] is the other end of the spectrum: a loopback port that
//! accepts connections and never answers, for timeout tests.
//! [`FileServer`] serves a directory over HTTP: a Helm chart repository
//! (`index.yaml` and archives).

mod files;

pub use files::FileServer;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tempfile::TempDir;

use supervised::Supervised;

/// Where the registry program is looked for when `PLUMBLINE_REGISTRY_BIN`
/// is not set (Debian's `docker-registry` package).
pub const DEFAULT_PROGRAM: &str = "/usr/bin/docker-registry";

/// How long the registry may take to answer its first request.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// Errors starting a registry.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The registry program is not installed; the message says where it was
    /// looked for.
    #[error("{0}")]
    Unavailable(String),
    /// Reading or writing a file of the registry's directory failed.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The IO error.
        #[source]
        source: std::io::Error,
    },
    /// The program could not be started.
    #[error("cannot start {0}: {1}")]
    Spawn(String, #[source] std::io::Error),
    /// The registry did not answer in time, or exited; the message has the
    /// end of its log.
    #[error("registry did not start: {0}")]
    NotReady(String),
    /// The htpasswd entry could not be made.
    #[error("cannot hash the password: {0}")]
    Hash(#[from] bcrypt::BcryptError),
}

impl Error {
    fn io(path: &Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.to_owned(),
            source,
        }
    }
}

impl From<supervised::SpawnError> for Error {
    fn from(error: supervised::SpawnError) -> Self {
        match error {
            supervised::SpawnError::Log(path, error) => Error::io(&path, error),
            supervised::SpawnError::Spawn(name, error) => Error::Spawn(name, error),
        }
    }
}

/// The result type of this crate.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// How to start a registry.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Require HTTP basic authentication with this user name and password
    /// (an htpasswd file with its bcrypt hash). `None`: anonymous access.
    pub htpasswd: Option<(String, String)>,
}

impl Options {
    /// A registry that only this user, with this password, may use.
    pub fn with_user(user: &str, password: &str) -> Self {
        Options {
            htpasswd: Some((user.to_owned(), password.to_owned())),
        }
    }
}

/// A running registry. Dropping it stops the program and removes its
/// storage.
#[derive(Debug)]
pub struct Registry {
    process: Supervised,
    port: u16,
    options: Options,
    dir: TempDir,
}

impl Registry {
    /// Start a registry, or return `None` (after printing why) when the
    /// program is not installed and `PLUMBLINE_REQUIRE_REGISTRY` is not set.
    ///
    /// # Panics
    /// When the registry cannot be started for another reason, or is not
    /// installed and `PLUMBLINE_REQUIRE_REGISTRY` is set.
    pub fn start_or_skip(options: Options) -> Option<Self> {
        match Self::start(options) {
            Ok(registry) => Some(registry),
            Err(Error::Unavailable(why))
                if std::env::var_os("PLUMBLINE_REQUIRE_REGISTRY").is_none() =>
            {
                eprintln!("skipped: no OCI registry ({why}); scripts/setup installs it");
                None
            }
            Err(e) => panic!("cannot start the test registry: {e}"),
        }
    }

    /// Start a registry on a free loopback port.
    pub fn start(options: Options) -> Result<Self> {
        let program = program()?;
        let dir = tempfile::Builder::new()
            .prefix("plumbline-registry-")
            .tempdir()
            .map_err(|e| Error::io(Path::new("temporary directory"), e))?;
        let port = free_port()?;
        let htpasswd = match &options.htpasswd {
            Some((user, password)) => {
                let path = dir.path().join("htpasswd");
                let hash = bcrypt::hash(password, 4)?;
                write(&path, &format!("{user}:{hash}\n"))?;
                Some(path)
            }
            None => None,
        };
        let config = dir.path().join("config.yml");
        write(&config, &config_yaml(dir.path(), port, htpasswd.as_deref()))?;
        let log = dir.path().join("registry.log");
        let process = Supervised::spawn(
            "docker-registry",
            &program,
            &["serve".into(), config.clone().into_os_string()],
            &log,
        )?;
        let mut registry = Registry {
            process,
            port,
            options,
            dir,
        };
        registry.wait_until_ready(&log)?;
        Ok(registry)
    }

    /// `127.0.0.1:<port>`: the registry part of a reference.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// The user name and password it requires, if any.
    pub fn credentials(&self) -> Option<(&str, &str)> {
        self.options
            .htpasswd
            .as_ref()
            .map(|(user, password)| (user.as_str(), password.as_str()))
    }

    /// The registry's storage directory (blobs and repositories), for tests
    /// that corrupt what it serves.
    pub fn storage(&self) -> PathBuf {
        self.dir.path().join("storage")
    }

    /// The status code the registry answers `GET path` with, sending
    /// `Authorization: <authorization>` when given; `None` when nothing
    /// answers.
    pub fn status(&self, path: &str, authorization: Option<&str>) -> Option<u16> {
        let header =
            authorization.map_or_else(String::new, |value| format!("Authorization: {value}\r\n"));
        http_status_with(self.port, path, &header)
    }

    /// Poll `GET /v2/` until the registry answers (200, or 401 when it
    /// requires credentials).
    fn wait_until_ready(&mut self, log: &Path) -> Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(exited) = self.process.exited() {
                return Err(Error::NotReady(format!("{exited}; {}", tail(log))));
            }
            if let Some(status) = http_status(self.port, "/v2/") {
                if status == 200 || status == 401 {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(Error::NotReady(format!(
                    "no answer on port {} within {START_TIMEOUT:?}; {}",
                    self.port,
                    tail(log)
                )));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

/// A loopback port that accepts connections and never answers: a
/// registry that hangs. The connections are held until it is dropped.
#[derive(Debug)]
pub struct Hanging {
    address: SocketAddr,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Hanging {
    /// Start accepting on a free loopback port.
    pub fn start() -> Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .map_err(|e| Error::io(Path::new("127.0.0.1:0"), e))?;
        listener
            .set_nonblocking(true)
            .map_err(|e| Error::io(Path::new("127.0.0.1:0"), e))?;
        let address = listener
            .local_addr()
            .map_err(|e| Error::io(Path::new("127.0.0.1:0"), e))?;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let stopped = stop.clone();
        let thread = std::thread::spawn(move || {
            let mut held = Vec::new();
            while !stopped.load(std::sync::atomic::Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => held.push(stream),
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
            }
        });
        Ok(Hanging {
            address,
            stop,
            thread: Some(thread),
        })
    }

    /// `127.0.0.1:<port>`.
    pub fn host(&self) -> String {
        self.address.to_string()
    }
}

impl Drop for Hanging {
    fn drop(&mut self) {
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// The program to run: `PLUMBLINE_REGISTRY_BIN` or [`DEFAULT_PROGRAM`].
fn program() -> Result<PathBuf> {
    let program = std::env::var_os("PLUMBLINE_REGISTRY_BIN")
        .map_or_else(|| PathBuf::from(DEFAULT_PROGRAM), PathBuf::from);
    if program.is_file() {
        Ok(program)
    } else {
        Err(Error::Unavailable(format!(
            "{} does not exist (set PLUMBLINE_REGISTRY_BIN, or install Debian's docker-registry)",
            program.display()
        )))
    }
}

/// The registry's configuration: filesystem storage under `dir`, deletes
/// allowed, plain HTTP on `127.0.0.1:port`, htpasswd when given.
fn config_yaml(dir: &Path, port: u16, htpasswd: Option<&Path>) -> String {
    let auth = htpasswd.map_or_else(String::new, |path| {
        format!(
            "auth:\n  htpasswd:\n    realm: plumbline-test\n    path: {}\n",
            path.display()
        )
    });
    format!(
        "version: 0.1\n\
         log:\n  level: warn\n  accesslog:\n    disabled: true\n\
         storage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\n\
         http:\n  addr: 127.0.0.1:{port}\n  secret: plumbline-test-only\n\
         {auth}",
        dir.join("storage").display()
    )
}

fn write(path: &Path, text: &str) -> Result<()> {
    std::fs::write(path, text).map_err(|e| Error::io(path, e))
}

fn free_port() -> Result<u16> {
    let listener =
        TcpListener::bind(("127.0.0.1", 0)).map_err(|e| Error::io(Path::new("127.0.0.1:0"), e))?;
    let port = listener
        .local_addr()
        .map_err(|e| Error::io(Path::new("127.0.0.1:0"), e))?
        .port();
    Ok(port)
}

/// The status code of `GET path` on the loopback port, `None` when nothing
/// answers (yet).
fn http_status(port: u16, path: &str) -> Option<u16> {
    http_status_with(port, path, "")
}

/// [`http_status`] with extra header lines (each ending in `\r\n`).
fn http_status_with(port: u16, path: &str, headers: &str) -> Option<u16> {
    let mut stream = TcpStream::connect_timeout(
        &SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_secs(1),
    )
    .ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n{headers}\r\n"
    )
    .ok()?;
    let mut head = [0u8; 16];
    stream.read_exact(&mut head[..12]).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

/// The last lines of the registry's log, for errors.
fn tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    format!(
        "log: {}",
        lines[lines.len().saturating_sub(10)..].join("\n")
    )
}
