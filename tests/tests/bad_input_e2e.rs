//! Hostile and broken input through the binary: malformed HTTP, oversized headers and bodies,
//! invalid HTTP/2 frames and slow clients get protocol-correct rejections or a closed connection,
//! never a crash or a hang; the proxy keeps serving afterwards.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use sockmesh_tests::{Nginx, Origin, Sidecar, TempDir, curl, h2_client, has_goaway, nghttp};

fn start(nginx: &Nginx) -> (Sidecar, u16, TempDir) {
    start_to(nginx.port, "auto")
}

/// The upstream protocols that pick the two HTTP/2 paths: hyper on both sides (`auto` with an
/// HTTP/2 client) and the in-task one to an HTTP/1.1 upstream (`http1`).
const H2_PATHS: [&str; 2] = ["auto", "http1"];

fn start_to(upstream: u16, protocol: &str) -> (Sidecar, u16, TempDir) {
    Sidecar::from_config(
        upstream,
        protocol,
        "        - path: \"/.*\"\n",
        "maxHeaderBytes: 16384, maxRequestBodyBytes: 1000, headerReadTimeout: 1s, detectTimeout: 300ms, idleTimeout: 2s",
    )
}

fn raw(port: u16, bytes: &[u8]) -> String {
    String::from_utf8_lossy(&raw_bytes(port, bytes)).into_owned()
}

fn raw_bytes(port: u16, bytes: &[u8]) -> Vec<u8> {
    let mut c = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let _ = c.write_all(bytes);
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    out
}

#[test]
fn broken_http_gets_protocol_correct_answers() {
    let nginx = Nginx::start();
    let (sidecar, port, _d) = start(&nginx);

    let resp = raw(
        port,
        b"GET / HTTP/1.1\r\nHost: x\r\nthis is not a header\r\n\r\n",
    );
    assert!(resp.starts_with("HTTP/1.1 400"), "malformed header: {resp}");

    // Over the 16 KiB limit by a little (the head can arrive in one read) and by a lot.
    for size in [17 * 1024, 20 * 1024, 64 * 1024] {
        let big = format!(
            "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
            "a".repeat(size)
        );
        let resp = raw(port, big.as_bytes());
        assert!(
            resp.starts_with("HTTP/1.1 431"),
            "oversized header ({size} B): {}",
            &resp[..resp.len().min(200)]
        );
    }

    let (status, body) = curl(&[
        "-d",
        &"b".repeat(5000),
        &format!("http://127.0.0.1:{port}/upload"),
    ]);
    assert_eq!((status, body.as_str()), (413, "request body too large"));

    let (status, _) = curl(&["-d", "small", &format!("http://127.0.0.1:{port}/upload")]);
    assert_eq!(status, 200, "bodies under the limit pass");

    // HTTP/2 preface followed by garbage frames: GOAWAY and close, no crash.
    let mut h2 = h2_preface();
    h2.extend_from_slice(&[0xff; 64]);
    let _ = raw(port, &h2);

    assert_eq!(sidecar.get("/live").0, 200);
    let (status, _) = curl(&[&format!("http://127.0.0.1:{port}/still-ok")]);
    assert_eq!(status, 200, "proxy keeps serving after bad input");
}

fn h2_preface() -> Vec<u8> {
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec()
}

/// Sends `bytes` on a new connection and reads until the proxy closes it (10 s at most): what
/// came back, how the read ended, and how long after the send.
fn until_closed(port: u16, bytes: &[u8]) -> (String, std::io::Result<usize>, Duration) {
    let mut c = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    c.write_all(bytes).expect("send");
    let start = Instant::now();
    let mut out = Vec::new();
    let ended = c.read_to_end(&mut out);
    let waited = start.elapsed();
    (String::from_utf8_lossy(&out).into_owned(), ended, waited)
}

/// An HTTP/2 client connection that has said hello (preface, empty SETTINGS) and nothing more.
fn h2_hello(port: u16) -> TcpStream {
    let mut c = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(15)))
        .expect("timeout");
    let mut hello = h2_preface();
    hello.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]); // empty SETTINGS
    c.write_all(&hello).expect("preface");
    c
}

#[test]
fn slow_client_is_cut_off_by_header_read_timeout() {
    let nginx = Nginx::start();
    let (_sidecar, port, _d) = start(&nginx);
    let (text, _, waited) = until_closed(port, b"GET / HTTP/1.1\r\nHost: slow\r\n");
    assert!(
        waited < Duration::from_secs(8),
        "connection held for {waited:?}"
    );
    assert!(
        text.is_empty() || text.starts_with("HTTP/1.1 408"),
        "{text}"
    );
}

/// A keep-alive connection left idle after its response is closed once `idleTimeout` (2 s)
/// has passed, not before and not much later.
#[test]
fn idle_http1_keep_alive_connection_is_closed_after_idle_timeout() {
    let nginx = Nginx::start();
    let (_sidecar, port, _d) = start(&nginx);
    let (text, ended, waited) = until_closed(port, b"GET / HTTP/1.1\r\nHost: idle\r\n\r\n");
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(ended.is_ok(), "not closed in 10 s: {ended:?}");
    assert!(
        waited >= Duration::from_millis(1900) && waited < Duration::from_secs(5),
        "closed after {waited:?} for a 2 s idle timeout"
    );
}

#[test]
fn silent_connection_does_not_hang_the_proxy() {
    let nginx = Nginx::start();
    let (_sidecar, port, _d) = start(&nginx);
    // Many idle connections that never speak do not block others.
    let idle: Vec<TcpStream> = (0..50)
        .map(|_| TcpStream::connect(("127.0.0.1", port)).expect("connect"))
        .collect();
    let (status, _) = curl(&[&format!("http://127.0.0.1:{port}/")]);
    assert_eq!(status, 200);
    drop(idle);
}

#[test]
fn idle_http2_connection_is_closed_after_idle_timeout() {
    let nginx = Nginx::start();
    for protocol in H2_PATHS {
        idle_http2_connection_is_closed(&nginx, protocol);
    }
}

fn idle_http2_connection_is_closed(nginx: &Nginx, protocol: &str) {
    let (_sidecar, port, _d) = start_to(nginx.port, protocol);
    let mut c = h2_hello(port);
    let start = Instant::now();
    let mut out = Vec::new();
    let _ = c.read_to_end(&mut out);
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(1500),
        "{protocol}: closed too early: {waited:?}"
    );
    assert!(
        waited < Duration::from_secs(10),
        "{protocol}: idle connection held for {waited:?}"
    );
    // Server SETTINGS first, and a GOAWAY (type 7) before the close.
    assert!(has_goaway(&out), "{protocol}: no GOAWAY in {out:?}");
}

/// A client that answers every PING (as real HTTP/2 clients do) but sends no request is idle:
/// the proxy's keep-alive PINGs must not keep the connection open forever.
#[test]
fn http2_connection_answering_pings_is_still_closed_when_idle() {
    let nginx = Nginx::start();
    for protocol in H2_PATHS {
        answering_pings_is_still_idle(&nginx, protocol);
    }
}

fn answering_pings_is_still_idle(nginx: &Nginx, protocol: &str) {
    let (_sidecar, port, _d) = start_to(nginx.port, protocol);
    let mut c = h2_hello(port);
    let start = Instant::now();
    let (mut pings, mut goaway) = (0, false);
    let mut header = [0u8; 9];
    while c.read_exact(&mut header).is_ok() {
        let len =
            usize::from(header[0]) << 16 | usize::from(header[1]) << 8 | usize::from(header[2]);
        let mut payload = vec![0u8; len];
        if c.read_exact(&mut payload).is_err() {
            break;
        }
        match (header[3], header[4]) {
            // SETTINGS without ACK: acknowledge.
            (4, 0) => {
                let _ = c.write_all(&[0, 0, 0, 4, 1, 0, 0, 0, 0]);
            }
            // PING without ACK: answer with the same payload.
            (6, 0) => {
                pings += 1;
                let mut ack = vec![0, 0, 8, 6, 1, 0, 0, 0, 0];
                ack.extend_from_slice(&payload);
                let _ = c.write_all(&ack);
            }
            (7, _) => goaway = true,
            _ => {}
        }
        assert!(
            start.elapsed() < Duration::from_secs(12),
            "{protocol}: connection answering {pings} PINGs held open for {:?}",
            start.elapsed()
        );
    }
    let waited = start.elapsed();
    assert!(
        pings >= 1,
        "{protocol}: the proxy sent no keep-alive PING in {waited:?}"
    );
    assert!(goaway, "{protocol}: closed without GOAWAY after {waited:?}");
    assert!(
        waited >= Duration::from_millis(1500) && waited < Duration::from_secs(10),
        "{protocol}: closed after {waited:?}, idle timeout 2 s"
    );
}

/// Over HTTP/2, on both paths: a body over the limit gets 413 whether its length is stated or
/// only counted as it streams (the in-task path), garbage frames get GOAWAY, and the proxy goes
/// on serving.
#[test]
fn http2_bodies_over_the_limit_and_garbage_frames() {
    let nginx = Nginx::start();
    let dir = TempDir::new("bodies");
    let stated = dir.write("stated", &"b".repeat(5000));
    for protocol in H2_PATHS {
        let (sidecar, port, _d) = start_to(nginx.port, protocol);
        let url = format!("http://127.0.0.1:{port}/upload");
        let (status, out) = nghttp(&["-d", &stated.display().to_string(), &url]);
        assert_eq!(status, 413, "{protocol}: {out}");
        assert!(out.contains("request body too large"), "{protocol}: {out}");
        let mut h2 = h2_preface();
        h2.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
        h2.extend_from_slice(&[0xff; 64]);
        let out = raw_bytes(port, &h2);
        assert!(
            has_goaway(&out),
            "{protocol}: no GOAWAY after garbage frames: {out:?}"
        );
        assert_eq!(sidecar.get("/live").0, 200, "{protocol}");
    }
    // The in-task path to HTTP/1.1: a streamed body without a length is counted as it comes.
    // An upstream that reads the body (nginx's `return` answers at once, before any of it).
    let origin = Origin::start("probe_origin.py");
    let (_sidecar, port, _d) = start_to(origin.port, "http1");
    let chunk = "c".repeat(1000);
    let chunks = vec![chunk.as_str(); 5];
    let mut args = vec!["post", "/upload"];
    args.extend_from_slice(&chunks);
    let out = h2_client(port, &args);
    assert_eq!(
        out, "413\nrequest body too large",
        "a streamed body over the limit"
    );
    let (status, _) = curl(&[
        "--http2-prior-knowledge",
        "-d",
        "small",
        &format!("http://127.0.0.1:{port}/upload"),
    ]);
    assert_eq!(status, 200, "bodies under the limit pass");
}
