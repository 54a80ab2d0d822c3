//! Slow request bodies (issue 14, item 8): `requestTimeout` runs from a request's start to its
//! end, body included, on every path. A body that trickles in, a byte at a time and never
//! stalling for long, is cut once the timeout has run (408, or a close), and nginx, which reads
//! a whole upload before it passes it on, never gets the request.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use sockmesh_tests::{Nginx, Sidecar, TempDir, h2_client, local};

const TIMEOUT: Duration = Duration::from_secs(1);
/// The body a client trickles: well within the fast path's 64 KiB, and over it (hyper's path).
const SMALL: usize = 1_000;
const LARGE: usize = 100_000;

fn start(upstream: u16, protocol: &str, limits: &str) -> (Sidecar, u16, TempDir) {
    Sidecar::from_config(upstream, protocol, "        - path: \"/.*\"\n", limits)
}

/// POSTs `/upload` with a `Content-Length` of `len` over HTTP/1.1, a byte of body every 100 ms;
/// returns the status line (or "closed") and when it came.
fn trickle_http1(port: u16, len: usize) -> (String, Duration) {
    let mut s = TcpStream::connect(local(port)).expect("connect");
    write!(
        s,
        "POST /upload HTTP/1.1\r\nHost: web\r\nContent-Length: {len}\r\n\r\n"
    )
    .expect("head");
    s.set_read_timeout(Some(Duration::from_millis(100)))
        .expect("timeout");
    let start = Instant::now();
    let mut buf = [0u8; 1024];
    while start.elapsed() < Duration::from_secs(10) {
        // A write refused because the proxy closed is a close too; its answer may still be
        // readable.
        let _ = s.write_all(b"x");
        match s.read(&mut buf) {
            Ok(0) => return ("closed".into(), start.elapsed()),
            Ok(n) => {
                let text = String::from_utf8_lossy(&buf[..n]);
                let line = text.lines().next().unwrap_or_default().to_owned();
                return (line, start.elapsed());
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
            Err(_) => return ("closed".into(), start.elapsed()),
        }
    }
    ("still open".into(), start.elapsed())
}

/// The same over HTTP/2 (a DATA frame of one byte every 100 ms).
fn trickle_http2(port: u16, len: usize) -> (String, Duration) {
    let out = h2_client(port, &["trickle", "/upload", &len.to_string(), "100"]);
    let line = out.lines().last().unwrap_or_default();
    let (what, ms) = line
        .strip_suffix(" ms")
        .and_then(|l| l.rsplit_once(" after "))
        .unwrap_or_else(|| panic!("unexpected output: {out}"));
    let ms: u64 = ms.parse().expect("ms");
    (what.to_owned(), Duration::from_millis(ms))
}

fn assert_cut(path: &str, (what, took): (String, Duration)) {
    assert!(
        what.contains("408") || what == "closed",
        "{path}: a trickled body got {what:?} after {took:?}"
    );
    assert!(
        took >= TIMEOUT && took < TIMEOUT * 4,
        "{path}: cut after {took:?} for a {TIMEOUT:?} request timeout"
    );
}

/// Each path, with a 1 s request timeout and a 30 s idle timeout: the body never stalls for
/// as long as the idle timeout, so only the request timeout can end it.
#[test]
fn a_trickled_body_is_cut_at_the_request_timeout_on_every_path() {
    let nginx = Nginx::start();
    let limits = format!(
        "requestTimeout: {}ms, idleTimeout: 30s",
        TIMEOUT.as_millis()
    );
    let (sidecar, port, _dir) = start(nginx.port, "http1", &limits);
    assert_cut("HTTP/1.1 fast path", trickle_http1(port, SMALL));
    assert_cut("HTTP/1.1 through hyper", trickle_http1(port, LARGE));
    assert_cut("HTTP/2 to HTTP/1.1", trickle_http2(port, SMALL));
    sidecar.wait_log("status=408");
    let (h2_sidecar, h2_port, _h2_dir) = start(nginx.h2c_port, "auto", &limits);
    assert_cut("HTTP/2 through hyper", trickle_http2(h2_port, SMALL));
    h2_sidecar.wait_log("status=408");

    // None of those requests reached nginx whole; one that comes in time does.
    assert_eq!(nginx.uploads(), "", "a cut-off upload reached nginx");
    let mut s = TcpStream::connect(local(port)).expect("connect");
    write!(
        s,
        "POST /upload HTTP/1.1\r\nHost: web\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc"
    )
    .expect("request");
    let mut answer = String::new();
    s.read_to_string(&mut answer).expect("answer");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.ends_with("uploaded 3\n"), "{answer}");
    assert_eq!(nginx.uploads().lines().count(), 1, "{}", nginx.uploads());
}
