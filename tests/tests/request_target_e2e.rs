//! What policy checks is what the upstream serves: other spellings of a path (dot segments,
//! repeated slashes, escaped letters) and of a host (absolute-form target, a second `Host`, a
//! repeated header) cannot slip a request past a rule, and a denied HEAD over HTTP/2 is a clean
//! 403. nginx is the upstream and reports the path and `Host` it received.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use sockmesh_tests::{Nginx, Sidecar, TempDir, curl, http_policy, metric, raw_http};

const RULES: &str = "        - path: \"/public/.*\"\n        - path: /whoami\n          host: good\\.example\n          headers: [\"X-Team: checkout\"]\n";

fn start() -> (Nginx, Sidecar, u16, TempDir) {
    let nginx = Nginx::start();
    let (sidecar, port, dir) = Sidecar::in_front_of(
        nginx.port,
        &http_policy(nginx.port, RULES),
        &["--label", "app=test", "--upstream-protocol", "http1"],
    );
    (nginx, sidecar, port, dir)
}

fn get(port: u16, target: &str, fields: &str) -> (u16, String) {
    raw_http(
        port,
        &format!("GET {target} HTTP/1.1\r\n{fields}Connection: close\r\n\r\n"),
    )
}

#[test]
fn other_spellings_of_a_path_are_checked_and_forwarded_normalised() {
    let (_nginx, sidecar, port, _d) = start();
    let host = "Host: web\r\n";
    for target in [
        "/public/../private",
        "/public/%2e%2e/private",
        "/public/%2E./private",
        "/public/./../private",
    ] {
        assert_eq!(get(port, target, host).0, 403, "{target}");
    }
    // Allowed, and the upstream gets the path that was checked.
    let (status, body) = get(port, "/public//a/./b/../c", host);
    assert_eq!((status, body.as_str()), (200, "nginx GET /public/a/c\n"));
    let (status, body) = get(port, "/%70ublic/x?q=/../y", host);
    assert_eq!(
        (status, body.as_str()),
        (200, "nginx GET /public/x?q=/../y\n")
    );
    assert_eq!(get(port, "/public/a%zz", host).0, 400);
    // The 400 is counted and logged, on HTTP/2 too, with its reason.
    let (status, _) = curl(&[
        "--http2-prior-knowledge",
        "--path-as-is",
        &format!("http://127.0.0.1:{port}/public/b%zz"),
    ]);
    assert_eq!(status, 400);
    let m = sidecar.metrics();
    for protocol in ["http1", "http2"] {
        let series =
            format!("sockmesh_requests_total{{protocol=\"{protocol}\",verdict=\"error\"}}");
        assert_eq!(metric(&m, &series), 1.0, "{series} in\n{m}");
    }
    let logs = sidecar.wait_log("/public/b%zz");
    assert!(
        logs.lines().any(|l| l.contains("/public/a%zz")
            && l.contains("bad-request")
            && l.contains("invalid percent-encoding")),
        "access log line for the 400:\n{logs}"
    );
    // A fragment is no part of a request target: both paths check and forward it stripped (a
    // rule like `.*\.css` must not see `/private#.css`).
    let (status, body) = get(port, "/public/x#frag.css", host);
    assert_eq!((status, body.as_str()), (200, "nginx GET /public/x\n"));
    // A head over the default 64 KiB limit, sent at once, is 431 on either path.
    let big = format!("{host}X-Big: {}\r\n", "a".repeat(70 * 1024));
    assert_eq!(get(port, "/public/x", &big).0, 431);
    // The same over HTTP/2.
    let url = format!("http://127.0.0.1:{port}/public/../private");
    assert_eq!(
        curl(&["--http2-prior-knowledge", "--path-as-is", &url]).0,
        403
    );
}

#[test]
fn the_host_checked_is_the_host_the_upstream_gets() {
    let (_nginx, _s, port, _d) = start();
    let team = "X-Team: checkout\r\n";
    let (status, body) = get(port, "/whoami", &format!("Host: good.example\r\n{team}"));
    assert_eq!(
        (status, body.as_str()),
        (200, "host=good.example uri=/whoami\n")
    );
    assert_eq!(
        get(port, "/whoami", &format!("Host: evil.example\r\n{team}")).0,
        403
    );
    // Absolute-form: the target's authority is the host (RFC 9112 section 3.2.2), for the
    // policy and for the upstream alike.
    let (status, body) = get(
        port,
        "http://good.example/whoami",
        &format!("Host: evil.example\r\n{team}"),
    );
    assert_eq!(
        (status, body.as_str()),
        (200, "host=good.example uri=/whoami\n")
    );
    assert_eq!(
        get(
            port,
            "http://evil.example/whoami",
            &format!("Host: good.example\r\n{team}")
        )
        .0,
        403
    );
    // Credentials in the authority are refused, not matched as the host or forwarded.
    assert_eq!(
        get(
            port,
            "http://good.example@evil.example/whoami",
            &format!("Host: good.example\r\n{team}")
        )
        .0,
        400
    );
    // A Host that is not a host[:port] is refused, not forwarded for the upstream to read
    // otherwise than the rule did.
    for bad in [
        "good.example/x",
        "u@good.example",
        "good.example:80:80",
        "a b",
        "good%2fexample",
    ] {
        assert_eq!(
            get(port, "/whoami", &format!("Host: {bad}\r\n{team}")).0,
            400,
            "{bad}"
        );
    }
    // Two Host fields: which one would the upstream use? Neither: 400.
    assert_eq!(
        get(
            port,
            "/whoami",
            &format!("Host: good.example\r\nHost: evil.example\r\n{team}")
        )
        .0,
        400
    );
    // A repeated field is its values joined, which the rule does not allow, in either order.
    for twice in [
        "X-Team: checkout\r\nX-Team: evil\r\n",
        "X-Team: evil\r\nX-Team: checkout\r\n",
    ] {
        assert_eq!(
            get(port, "/whoami", &format!("Host: good.example\r\n{twice}")).0,
            403,
            "{twice}"
        );
    }
}

#[test]
fn a_denied_head_over_http2_is_a_clean_403() {
    let (_nginx, _s, port, _d) = start();
    let url = format!("http://127.0.0.1:{port}/private");
    for h2 in [true, false] {
        // curl exits 92 ("stream was not closed cleanly") when a HEAD answer carries DATA, even
        // though the status it read was 403: check both.
        let mut cmd = Command::new("curl");
        cmd.args([
            "-sS",
            "-I",
            "--max-time",
            "10",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
        ]);
        if h2 {
            cmd.arg("--http2-prior-knowledge");
        }
        let out = cmd.arg(&url).output().expect("run curl");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success(),
            "h2={h2}: curl {}: {stderr}",
            out.status
        );
        assert_eq!(String::from_utf8_lossy(&out.stdout), "403", "h2={h2}");
    }
}

/// A client that connects ahead of its first request (a preconnect, a warmed pool) and stays
/// quiet past `detectTimeout` is served once it speaks: on a port whose rules need HTTP there
/// is no server-first protocol it could be.
#[test]
fn a_preconnected_client_quiet_past_the_detect_timeout_is_served() {
    let (_nginx, _s, port, _d) = start();
    let mut c = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    std::thread::sleep(Duration::from_millis(1200)); // detectTimeout is 500 ms
    c.write_all(b"GET /public/late HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n")
        .expect("write");
    let mut out = String::new();
    c.read_to_string(&mut out).expect("an answer, not a reset");
    assert!(
        out.starts_with("HTTP/1.1 200") && out.ends_with("nginx GET /public/late\n"),
        "{out}"
    );
}
