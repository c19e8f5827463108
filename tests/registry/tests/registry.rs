//! The harness starts a real registry, anonymous or behind htpasswd, and
//! stops it on drop.

use registry::{Hanging, Options, Registry};

#[test]
fn an_anonymous_registry_answers_the_api_version_check() {
    let Some(registry) = Registry::start_or_skip(Options::default()) else {
        return;
    };
    assert_eq!(registry.status("/v2/", None), Some(200));
    assert_eq!(registry.credentials(), None);
}

#[test]
fn an_htpasswd_registry_refuses_wrong_credentials_and_accepts_its_user() {
    let Some(registry) = Registry::start_or_skip(Options::with_user("ci", "s3cret")) else {
        return;
    };
    assert_eq!(registry.status("/v2/", None), Some(401));
    // "ci:wrong" and "ci:s3cret", base64.
    assert_eq!(
        registry.status("/v2/", Some("Basic Y2k6d3Jvbmc=")),
        Some(401)
    );
    assert_eq!(
        registry.status("/v2/", Some("Basic Y2k6czNjcmV0")),
        Some(200)
    );
    assert_eq!(registry.credentials(), Some(("ci", "s3cret")));
}

#[test]
fn a_dropped_registry_stops_answering() {
    let Some(registry) = Registry::start_or_skip(Options::default()) else {
        return;
    };
    let host = registry.host();
    drop(registry);
    assert!(
        std::net::TcpStream::connect(&host).is_err(),
        "{host} still accepts"
    );
}

#[test]
fn a_hanging_registry_accepts_and_never_answers() {
    let hanging = Hanging::start().unwrap();
    let mut stream = std::net::TcpStream::connect(hanging.host()).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_millis(300)))
        .unwrap();
    use std::io::{Read, Write};
    stream.write_all(b"GET /v2/ HTTP/1.0\r\n\r\n").unwrap();
    let mut buffer = [0u8; 1];
    let read = stream.read(&mut buffer);
    assert!(
        matches!(&read, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut),
        "{read:?}"
    );
}
