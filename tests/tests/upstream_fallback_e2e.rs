//! `--upstream-protocol auto` in front of an app that speaks only HTTP/1.1: an HTTP/2 client
//! still gets the app's answer. The endpoint answered the HTTP/2 preface with HTTP/1.x (nginx,
//! a Python server) or closed on it; the sidecar then speaks HTTP/1.1 to it, remembers that
//! (one preface per endpoint), says so once in its log, and sends the request that found out
//! again in HTTP/1.1. gRPC, which needs HTTP/2, gets UNAVAILABLE naming the cause.

use std::process::Command;
use std::time::Duration;

use sockmesh_tests::grpc::{greeter_policy, grpc_call};
use sockmesh_tests::{Nginx, Origin, Sidecar, curl, http_policy, require, wait_until};

/// What the log says, once, when it learns an endpoint does not speak HTTP/2.
const FALLBACK_LINE: &str = "does not speak HTTP/2";

/// A sidecar with the default upstream protocol (`auto`) in front of 127.0.0.1:`port`.
fn sidecar(port: u16, rules: &str, extra: &[&str]) -> (Sidecar, u16, sockmesh_tests::TempDir) {
    let mut args = vec!["--label", "app=test"];
    args.extend_from_slice(extra);
    Sidecar::in_front_of(port, &http_policy(port, rules), &args)
}

fn h2(port: u16, args: &[&str]) -> (u16, String) {
    let url = format!("http://127.0.0.1:{port}/echo");
    let mut all = vec!["--http2-prior-knowledge"];
    all.extend_from_slice(args);
    all.push(&url);
    curl(&all)
}

/// The request that finds out is a POST with a body: it went nowhere on the HTTP/2 attempt, so
/// it is sent again, whole, in HTTP/1.1. The app gets one preface in all.
fn falls_back_and_remembers(origin: &Origin, close_on_preface: bool) {
    let (sidecar, port, _dir) = sidecar(
        origin.port,
        "        - method: GET\n        - method: POST\n",
        &[],
    );
    let (status, body) = h2(port, &["-d", "hello"]);
    assert_eq!(status, 200, "{body}\nlog:\n{}", sidecar.logs());
    assert!(
        body.starts_with("post /echo http/1.1\r\n") && body.ends_with("body=5\n"),
        "what the app received:\n{body}"
    );
    assert!(
        body.contains(&format!("host: 127.0.0.1:{port}\r\n")),
        "the Host policy checked: {body}"
    );
    for _ in 0..5 {
        let (status, body) = h2(port, &[]);
        assert_eq!(status, 200, "{body}");
        assert!(body.starts_with("get /echo http/1.1\r\n"), "{body}");
    }
    let prefaces = origin
        .printed()
        .iter()
        .filter(|l| l.as_str() == "preface")
        .count();
    assert_eq!(
        prefaces, 1,
        "one HTTP/2 attempt, remembered (close: {close_on_preface})"
    );
    let log = sidecar.logs();
    assert_eq!(log.matches(FALLBACK_LINE).count(), 1, "said once:\n{log}");
}

#[test]
fn an_endpoint_answering_the_preface_in_http1_gets_http1() {
    falls_back_and_remembers(&Origin::start("probe_origin.py"), false);
}

#[test]
fn an_endpoint_closing_on_the_preface_gets_http1() {
    let origin = Origin::start_with("probe_origin.py", &["--close-on-preface"]);
    falls_back_and_remembers(&origin, true);
}

/// nginx without `http2` on its port: curl and h2load (many streams on a few connections, the
/// first ones in flight while the sidecar finds out) all get nginx's answer.
#[test]
fn nginx_http1_only_serves_http2_clients_through_auto() {
    require("h2load", "apt-get install -y nghttp2-client");
    let nginx = Nginx::start();
    let (sidecar, port, _dir) = sidecar(nginx.port, "        - method: GET\n", &[]);
    let out = Command::new("h2load")
        .args(["-n", "400", "-c", "4", "-m", "16"])
        .arg(format!("http://127.0.0.1:{port}/loaded"))
        .output()
        .expect("run h2load");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("status codes: 400 2xx, 0 3xx, 0 4xx, 0 5xx"),
        "h2load:\n{text}\nlog:\n{}",
        sidecar.logs()
    );
    let (status, body) = curl(&[
        "--http2-prior-knowledge",
        &format!("http://127.0.0.1:{port}/after"),
    ]);
    assert_eq!((status, body.as_str()), (200, "nginx GET /after\n"));
    let log = sidecar.logs();
    assert_eq!(log.matches(FALLBACK_LINE).count(), 1, "said once:\n{log}");
    assert!(
        !log.contains("http2 error"),
        "no request failed on the way:\n{log}"
    );
}

/// A grpcio client in front of nginx (HTTP/1.1 only): UNAVAILABLE, and the message says why,
/// both when the call finds out and once it is known.
#[test]
fn grpc_to_an_http1_only_endpoint_is_unavailable_naming_the_cause() {
    let nginx = Nginx::start();
    let (sidecar, port, _dir) = Sidecar::in_front_of(
        nginx.port,
        &greeter_policy(nginx.port),
        &["--label", "app=greeter"],
    );
    for _ in 0..2 {
        let (code, details, _) = grpc_call(&format!("127.0.0.1:{port}"), "SayHello");
        assert_eq!(code, "UNAVAILABLE", "{details}\nlog:\n{}", sidecar.logs());
        assert!(
            details.contains("does not speak HTTP/2") && details.contains("gRPC needs HTTP/2"),
            "the message names the cause: {details}"
        );
    }
    assert!(
        wait_until(Duration::from_secs(5), || sidecar
            .logs()
            .contains(FALLBACK_LINE)),
        "log:\n{}",
        sidecar.logs()
    );
}
