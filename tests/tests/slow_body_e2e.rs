//! Slow request bodies (issue 14, item 8): `requestTimeout` runs from a request's start to its
//! end, body included, on every path. A body that trickles in, a byte at a time and never
//! stalling for long, is cut once the timeout has run (408, or a close), and nginx, which reads
//! a whole upload before it passes it on, never gets the request. And the memory a burst of such
//! connections took comes back once they close.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use sockmesh_tests::proc::rss_kib;
use sockmesh_tests::{Nginx, Sidecar, TempDir, h2_client, local, wait_until};

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
    // nginx logs the upload after it answers: give its line a moment.
    let logged = wait_until(Duration::from_secs(3), || {
        nginx.uploads().lines().count() == 1
    });
    assert!(logged, "{}", nginx.uploads());
}

/// 400 connections each hold most of a 64 KiB body (the default request timeout lets them):
/// the sidecar's memory grows by their buffers, a bounded amount each, and comes back once they
/// close. Bounds are generous (a debug build, allocator slack); the wait is for memory to come
/// back, not a measure of how fast.
#[test]
fn memory_held_by_slow_bodies_comes_back_after_they_close() {
    const CONNECTIONS: usize = 400;
    let nginx = Nginx::start();
    let (sidecar, port, _dir) = start(nginx.port, "http1", "idleTimeout: 60s");
    let pid = sidecar.child.pid();
    let (status, _) = sockmesh_tests::curl(&[&format!("http://127.0.0.1:{port}/warm")]);
    assert_eq!(status, 200);
    let before = rss_kib(pid);

    let body = vec![b'x'; 60_000];
    let clients: Vec<TcpStream> = (0..CONNECTIONS)
        .map(|_| {
            let mut s = TcpStream::connect(local(port)).expect("connect");
            write!(
                s,
                "POST /upload HTTP/1.1\r\nHost: web\r\nContent-Length: 65536\r\n\r\n"
            )
            .expect("head");
            s.write_all(&body).expect("body");
            s
        })
        .collect();
    // The bodies are in once memory stops growing: each connection holds at least its 60 KB.
    let held = CONNECTIONS as u64 * 60_000 / 1024;
    let grew =
        sockmesh_tests::wait_until(Duration::from_secs(20), || rss_kib(pid) >= before + held);
    let holding = rss_kib(pid);
    assert!(
        grew,
        "RSS {before} -> {holding} KiB: the held bodies do not show"
    );
    // Bounded per connection: the body and little more (the buffer is not doubled past it).
    let per_connection = (holding - before) / CONNECTIONS as u64;
    assert!(
        per_connection < 128,
        "{per_connection} KiB held per connection ({before} -> {holding} KiB)"
    );

    drop(clients);
    let back = sockmesh_tests::wait_until(Duration::from_secs(30), || {
        rss_kib(pid) < before + (holding - before) / 4
    });
    let after = rss_kib(pid);
    assert!(
        back,
        "RSS {before} KiB before, {holding} KiB holding, {after} KiB after the connections closed"
    );
    // The sidecar still serves.
    let (status, _) = sockmesh_tests::curl(&[&format!("http://127.0.0.1:{port}/after")]);
    assert_eq!(status, 200);
}
