//! The request timeout (`limits.requestTimeout`): an upstream that takes a request and never
//! answers gets the client a `504` (gRPC: DEADLINE_EXCEEDED) once the timeout has run from the
//! request's start, on each path (HTTP/1.1; HTTP/2 through hyper and in-task to an HTTP/1.1
//! upstream; gRPC), and each stream of an HTTP/2 connection gets a deadline of its own.

use std::io::Read;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use sockmesh_tests::grpc::grpc_curl;
use sockmesh_tests::{Sidecar, TempDir, curl, h2_client};

const TIMEOUT: Duration = Duration::from_secs(1);

/// An upstream that accepts connections and reads what comes, but never answers.
fn silent_upstream() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(mut conn) = conn else { continue };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while matches!(conn.read(&mut buf), Ok(n) if n > 0) {}
            });
        }
    });
    port
}

/// A sidecar with a 1 s request timeout in front of a silent upstream spoken to in `protocol`.
fn start(protocol: &str) -> (Sidecar, u16, TempDir) {
    start_with(protocol, TIMEOUT)
}

fn start_with(protocol: &str, timeout: Duration) -> (Sidecar, u16, TempDir) {
    Sidecar::from_config(
        silent_upstream(),
        protocol,
        "        - path: \"/.*\"\n",
        &format!(
            "requestTimeout: {}ms, idleTimeout: 30s",
            timeout.as_millis()
        ),
    )
}

/// Runs curl with `args` and checks it got a 504 when the timeout had run, and not much later.
fn assert_timed_out(args: &[&str]) -> String {
    let start = Instant::now();
    let (status, body) = curl(args);
    let took = start.elapsed();
    assert_eq!(status, 504, "{args:?}: {body}");
    assert!(
        took >= TIMEOUT && took < TIMEOUT * 4,
        "{args:?}: answered after {took:?} for a {TIMEOUT:?} timeout"
    );
    body
}

#[test]
fn an_unanswered_http1_request_is_504_once_the_timeout_has_run() {
    for protocol in ["auto", "http1"] {
        let (sidecar, port, _dir) = start(protocol);
        let body = assert_timed_out(&[&format!("http://127.0.0.1:{port}/slow")]);
        assert!(body.contains("upstream request timeout"), "{body}");
        sidecar.wait_log("status=504");
    }
}

#[test]
fn an_unanswered_http2_request_is_504_once_the_timeout_has_run() {
    // `auto`: hyper on both sides; `http1`: the in-task HTTP/2 path to an HTTP/1.1 upstream.
    for protocol in ["auto", "http1"] {
        let (_sidecar, port, _dir) = start(protocol);
        let url = format!("http://127.0.0.1:{port}/slow");
        let body = assert_timed_out(&["--http2-prior-knowledge", &url]);
        assert!(
            body.contains("upstream request timeout"),
            "{protocol}: {body}"
        );
    }
}

#[test]
fn an_unanswered_grpc_call_is_deadline_exceeded() {
    for protocol in ["auto", "http1"] {
        let (_sidecar, port, _dir) = start(protocol);
        let url = format!("http://127.0.0.1:{port}/pkg.Svc/Call");
        let start = Instant::now();
        let (status, text) = grpc_curl(&url);
        let took = start.elapsed();
        // A trailers-only response: HTTP 200 carrying the gRPC status.
        assert_eq!(status, 200, "{protocol}: {text}");
        assert!(text.contains("grpc-status: 4"), "{protocol}: {text}");
        assert!(
            took >= TIMEOUT && took < TIMEOUT * 4,
            "{protocol}: {took:?}"
        );
    }
}

/// Three requests 900 ms apart on one HTTP/2 connection, with a 2 s timeout: each times out
/// 2 s after its own start, not after the first one's, and not later. (A connection timer not
/// set again for the streams left when it fires ends stream 2 with stream 3, 2.9 s after its
/// start; the upper bound leaves 600 ms for a loaded machine below that.)
#[test]
fn each_stream_of_a_connection_has_its_own_deadline() {
    for protocol in ["auto", "http1"] {
        let (_sidecar, port, _dir) = start_with(protocol, Duration::from_secs(2));
        let out = h2_client(port, &["staggered", "/slow", "3", "900"]);
        let lines: Vec<&str> = out.lines().filter(|l| l.starts_with("stream ")).collect();
        assert_eq!(lines.len(), 3, "{protocol}: {out}");
        for (k, line) in lines.iter().enumerate() {
            let (head, ms) = line
                .strip_suffix(" ms")
                .and_then(|l| l.rsplit_once(" after "))
                .unwrap_or_else(|| panic!("{protocol}: unexpected line {line}"));
            assert_eq!(head, format!("stream {}: 504", k + 1), "{protocol}: {out}");
            let ms: u64 = ms.parse().expect("ms");
            assert!(
                (1950..2600).contains(&ms),
                "{protocol}: stream {} timed out after {ms} ms for a 2 s timeout:\n{out}",
                k + 1
            );
        }
    }
}
