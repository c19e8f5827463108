//! A static file server on loopback: what a Helm chart repository is
//! (`index.yaml` and `.tgz` archives served as files), for tests. GET
//! only, one thread per connection, `Connection: close`; optionally behind
//! HTTP basic authentication. It counts the requests for each path, so a
//! test can tell what was downloaded.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use super::{Error, Result};

/// A running file server; dropping it stops it.
#[derive(Debug)]
pub struct FileServer {
    address: SocketAddr,
    requests: Arc<Mutex<BTreeMap<String, usize>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl FileServer {
    /// Serve the files under `root` on a free loopback port, to anyone.
    pub fn start(root: &Path) -> Result<Self> {
        Self::serve(root, None)
    }

    /// Serve the files under `root` only to `user` with `password` (HTTP
    /// basic authentication); anyone else gets 401.
    pub fn start_with_user(root: &Path, user: &str, password: &str) -> Result<Self> {
        let expected = format!("Basic {}", base64(format!("{user}:{password}").as_bytes()));
        Self::serve(root, Some(expected))
    }

    fn serve(root: &Path, authorization: Option<String>) -> Result<Self> {
        let bind = |e| Error::io(Path::new("127.0.0.1:0"), e);
        let listener = TcpListener::bind(("127.0.0.1", 0)).map_err(bind)?;
        listener.set_nonblocking(true).map_err(bind)?;
        let address = listener.local_addr().map_err(bind)?;
        let requests = Arc::new(Mutex::new(BTreeMap::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (root, counted, stopped) = (root.to_owned(), requests.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (root, counted) = (root.clone(), counted.clone());
                        let authorization = authorization.clone();
                        std::thread::spawn(move || {
                            answer(stream, &root, authorization.as_deref(), &counted)
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        Ok(FileServer {
            address,
            requests,
            stop,
            thread: Some(thread),
        })
    }

    /// `http://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// How many GETs asked for `path` (`/index.yaml`).
    pub fn requests(&self, path: &str) -> usize {
        let requests = self.requests.lock().expect("not poisoned");
        requests.get(path).copied().unwrap_or(0)
    }
}

impl Drop for FileServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Read one request from `stream` and answer it with the file, 401, 404
/// or 405.
fn answer(
    stream: TcpStream,
    root: &Path,
    authorization: Option<&str>,
    requests: &Mutex<BTreeMap<String, usize>>,
) {
    let _ = stream.set_nonblocking(false);
    let mut reader = BufReader::new(match stream.try_clone() {
        Ok(stream) => stream,
        Err(_) => return,
    });
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut given_authorization = None;
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header).is_err() || header.trim().is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            if name.eq_ignore_ascii_case("authorization") {
                given_authorization = Some(value.trim().to_owned());
            }
        }
    }
    let mut parts = request_line.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or("/"));
    let path = target.split('?').next().unwrap_or("/").to_owned();
    *requests
        .lock()
        .expect("not poisoned")
        .entry(path.clone())
        .or_default() += 1;
    let (status, body) = if method != "GET" {
        ("405 Method Not Allowed", Vec::new())
    } else if authorization.is_some() && given_authorization.as_deref() != authorization {
        ("401 Unauthorized", b"unauthorized\n".to_vec())
    } else {
        match file_of(root, &path).and_then(|file| std::fs::read(file).ok()) {
            Some(bytes) => ("200 OK", bytes),
            None => ("404 Not Found", b"not found\n".to_vec()),
        }
    };
    let mut stream = stream;
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\
         WWW-Authenticate: Basic realm=\"charts\"\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(&body);
}

/// The file under `root` that `path` names, if it stays inside it.
fn file_of(root: &Path, path: &str) -> Option<PathBuf> {
    let relative = path.trim_start_matches('/');
    if relative
        .split('/')
        .any(|part| part == ".." || part.is_empty())
    {
        return None;
    }
    Some(root.join(relative))
}

/// Standard base64 with padding.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_is_the_standard_one() {
        assert_eq!(base64(b"ci:s3cret"), "Y2k6czNjcmV0");
        assert_eq!(base64(b"a"), "YQ==");
        assert_eq!(base64(b"ab"), "YWI=");
    }
}
