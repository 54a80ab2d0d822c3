//! Request trailers (issue 14, item 5): a field denied by a header rule, sent as a trailer of
//! the request body, reached the upstream. Header deny rules now apply to request trailers:
//! the request fails (403; upstream, the request is cut off or its stream reset) rather than
//! carrying them, on each path that forwards trailers (HTTP/1.1 chunked to an HTTP/1.1
//! upstream, HTTP/2 to an HTTP/2 upstream). The in-task HTTP/2 to HTTP/1.1 path does not
//! forward request trailers at all.

use std::time::Duration;

use sockmesh_tests::{Origin, Sidecar, TempDir, h2_client, http_policy_with_deny, raw_http};

const ALLOW: &str = "        - path: \"/.*\"\n";
const DENY: &str = "        - headers: [\"X-Evil: yes\"]\n";

fn sidecar(origin: &Origin, protocol: &str) -> (Sidecar, u16, TempDir) {
    let policy = http_policy_with_deny(&[origin.port], ALLOW, DENY);
    Sidecar::in_front_of(
        origin.port,
        &policy,
        &["--label", "app=test", "--upstream-protocol", protocol],
    )
}

fn chunked_post(port: u16, trailer: &str) -> (u16, String) {
    raw_http(
        port,
        &format!(
            "POST /echo HTTP/1.1\r\nHost: web\r\nTransfer-Encoding: chunked\r\nTrailer: X-Evil, X-Checksum\r\nConnection: close\r\n\r\n5\r\nhello\r\n0\r\n{trailer}\r\n\r\n"
        ),
    )
}

#[test]
fn a_denied_trailer_fails_a_chunked_http1_request() {
    let origin = Origin::start("probe_origin.py");
    let (_s, port, _d) = sidecar(&origin, "http1");
    let (status, body) = chunked_post(port, "X-Checksum: abc");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("trailer: x-checksum: abc"), "{body}");
    let (status, body) = chunked_post(port, "X-Evil: yes");
    assert_eq!(status, 403, "the upstream got {body:?}");
    assert!(!body.contains("x-evil"), "{body}");
    // Upstream, the request never ended: no trailer section, no last chunk.
    origin.expect("request cut off", Duration::from_secs(5));
}

#[test]
fn a_denied_trailer_fails_an_http2_request_to_an_http2_upstream() {
    let origin = Origin::start_venv("h2_origin.py");
    let (_s, port, _d) = sidecar(&origin, "http2");
    let out = h2_client(port, &["trailers", "/", "x-checksum=abc"]);
    assert_eq!(out, "200\ntrailers: x-checksum=abc\n");
    let out = h2_client(port, &["trailers", "/", "x-evil=yes"]);
    assert_eq!(out.lines().next(), Some("403"), "{out}");
    origin.expect("reset", Duration::from_secs(5));
    let printed = origin.printed();
    assert!(
        !printed.iter().any(|l| l.contains("x-evil")),
        "the upstream got the trailer: {printed:?}"
    );
}

/// Verification, not a regression: this path has never forwarded request trailers.
#[test]
fn the_in_task_http2_path_forwards_no_request_trailers() {
    let origin = Origin::start("probe_origin.py");
    let (_s, port, _d) = sidecar(&origin, "http1");
    let out = h2_client(port, &["trailers", "/echo", "x-evil=yes"]);
    assert!(out.starts_with("200\n"), "{out}");
    assert!(!out.contains("x-evil"), "{out}");
}
