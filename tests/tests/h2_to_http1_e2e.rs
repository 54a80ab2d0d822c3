//! An HTTP/2 client in front of an HTTP/1.1 upstream (the `h2fast` path): what a stream's end,
//! body and trailers become on the upstream connection. The upstreams are small Python origins
//! that report what they saw; the clients are nghttp and the Python `h2` stack, which can reset
//! a stream and frame a body as a test needs.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use sockmesh_tests::{Origin, Sidecar, TempDir, h2_client, has_goaway, http_policy, nghttp};

fn start(origin: &Origin) -> (Sidecar, u16, TempDir) {
    // A CONNECT has no path: a rule of its own allows it.
    let rules = "        - path: \"/.*\"\n        - method: CONNECT\n";
    Sidecar::in_front_of(
        origin.port,
        &http_policy(origin.port, rules),
        &["--label", "app=test", "--upstream-protocol", "http1"],
    )
}

/// A chunked HTTP/1.1 response with trailer fields reaches an HTTP/2 client as DATA and then a
/// trailers block (hop-by-hop trailer fields left out).
#[test]
fn http1_trailers_reach_an_http2_client() {
    let origin = Origin::start("probe_origin.py");
    let (_sidecar, port, _dir) = start(&origin);
    let (status, text) = nghttp(&[&format!("http://127.0.0.1:{port}/trailers")]);
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("chunk1chunk2"), "{text}");
    // nghttp prints a HEADERS frame's fields before the frame line.
    let trailers = text
        .rsplit_once("recv DATA frame")
        .map(|(_, t)| t)
        .unwrap_or_default();
    assert!(
        trailers.contains("x-checksum: abc123") && trailers.contains("END_STREAM"),
        "no trailers block after the body:\n{text}"
    );
    assert!(!trailers.contains("connection"), "{text}");
}

/// A client that resets its stream while the upstream has not answered ends the exchange: the
/// upstream connection is closed at once (not held until the request timeout, which is how reset
/// floods pile up work), the client's connection lives on, and the log says 499.
#[test]
fn a_reset_stream_lets_go_of_its_upstream_connection() {
    let origin = Origin::start("probe_origin.py");
    let (sidecar, port, _dir) = start(&origin);
    let started = Instant::now();
    let client = std::thread::spawn(move || h2_client(port, &["reset", "/stall", "300"]));
    origin.expect("stalled", Duration::from_secs(10));
    origin.expect("closed", Duration::from_secs(5));
    assert!(started.elapsed() < Duration::from_secs(10));
    let out = client.join().expect("client thread");
    assert_eq!(out, "reset\nconnection alive\n");
    let logs = sidecar.wait_log("/stall");
    assert!(
        logs.lines()
            .any(|l| l.contains("/stall") && l.contains("status=499")),
        "access log line with 499:\n{logs}"
    );
}

/// An upstream that answers before reading the request body (a 403, a 413) gets its answer to
/// the client, though the body was never taken: the upload runs beside the wait for the head.
#[test]
fn an_answer_before_the_request_body_is_relayed() {
    let origin = Origin::start("probe_origin.py");
    let (_sidecar, port, dir) = start(&origin);
    // Far more than the socket buffers hold, so the upload cannot finish first.
    let body = dir.write("big", &"x".repeat(32 << 20));
    let (status, text) = sockmesh_tests::nghttp(&[
        "-d",
        &body.display().to_string(),
        &format!("http://127.0.0.1:{port}/early"),
    ]);
    assert_eq!(status, 403);
    let frames: Vec<&str> = text.lines().filter(|l| !l.contains("send DATA")).collect();
    let text = frames.join("\n");
    assert!(
        text.contains("early[") && text.contains("END_STREAM"),
        "{text}"
    );
    assert!(
        text.contains("RST_STREAM") && text.contains("error_code=NO_ERROR"),
        "the rest of the request body is declined with NO_ERROR:\n{text}"
    );
}

/// The rest of a body answered early is not kept while the (long) response streams: its
/// flow-control window comes back, so the next upload on the same connection is not starved
/// (it shares the 1 MiB connection window) until that response ends 8 s later.
#[test]
fn an_upload_answered_early_gives_its_window_back() {
    let origin = Origin::start("probe_origin.py");
    let (_sidecar, port, _dir) = start(&origin);
    let out = h2_client(port, &["early-then-post", "/slow-early"]);
    assert_eq!(out, "200\n200\nbody=204800\n");
}

/// Without a `Content-Length`, a body's framing upstream follows what the client sent: nothing
/// (an empty DATA frame that ends the stream) is `content-length: 0`, one frame is sent with its
/// length, and more go chunked.
#[test]
fn a_body_without_a_length_is_framed_as_it_turns_out() {
    let origin = Origin::start("probe_origin.py");
    let (_sidecar, port, _dir) = start(&origin);
    let cases: [(&[&str], &str, &str); 3] = [
        (&[""], "content-length: 0\r\n", "body=0"),
        (&["hello"], "content-length: 5\r\n", "body=5"),
        (
            &["hel", "lo", ""],
            "transfer-encoding: chunked\r\n",
            "body=5",
        ),
    ];
    for (chunks, field, read) in cases {
        let mut args = vec!["post", "/echo"];
        args.extend_from_slice(chunks);
        let out = h2_client(port, &args);
        assert!(out.starts_with("200\npost /echo http/1.1\r\n"), "{out}");
        assert!(out.contains(field), "{chunks:?}: {out}");
        assert!(out.trim_end().ends_with(read), "{chunks:?}: {out}");
        let framings = out.matches("content-length").count() + out.matches("chunked").count();
        assert_eq!(framings, 1, "{chunks:?}: {out}");
    }
}

/// CONNECT has no HTTP/1.1 request to become here: a 501 made by the proxy, no upstream tried.
#[test]
fn connect_to_an_http1_upstream_is_501() {
    let origin = Origin::start("probe_origin.py");
    let (sidecar, port, _dir) = start(&origin);
    assert_eq!(h2_client(port, &["connect", "web:443"]), "501\n");
    let logs = sidecar.wait_log("CONNECT");
    assert!(logs.contains("status=501"), "{logs}");
}

/// SIGTERM: an idle HTTP/2 connection gets GOAWAY and is closed at once, and the sidecar exits
/// 0 well within its 5 s drain timeout (which an unnoticed shutdown signal would run out).
#[test]
fn shutdown_sends_goaway_to_an_idle_http2_connection() {
    let origin = Origin::start("probe_origin.py");
    let (mut sidecar, port, _dir) = start(&origin);
    let mut c = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    // The preface and an empty SETTINGS; the server's SETTINGS come back.
    c.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        .expect("preface");
    let mut out = vec![0u8; 4096];
    let n = c.read(&mut out).expect("server SETTINGS");
    assert!(n > 0, "closed before its SETTINGS");
    out.truncate(n);

    let start = Instant::now();
    let status = sidecar.child.terminate();
    let took = start.elapsed();
    assert!(status.success(), "sockmesh exited with {status}");
    assert!(took < Duration::from_secs(3), "exit took {took:?}");
    let mut rest = Vec::new();
    let _ = c.read_to_end(&mut rest);
    out.extend_from_slice(&rest);
    assert!(has_goaway(&out), "no GOAWAY before the close: {out:?}");
}
