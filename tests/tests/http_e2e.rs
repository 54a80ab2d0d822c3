//! HTTP/1.1 and HTTP/2 through the built binary, with nginx as the upstream and curl / h2load as
//! clients: allowed requests reach nginx, denied ones get `403 Access denied` naming no upstream,
//! and every verdict shows up in metrics and the access log with its rule.

use std::process::Command;
use std::time::Duration;

use sockmesh_tests::{
    Nginx, Sidecar, TempDir, curl, free_port, http_policy, metric, require, wait_until,
};

const RULES: &str = "        - method: GET\n          path: \"/public/.*\"\n        - method: POST\n          path: /api/orders\n          headers: [\"X-Team: checkout\"]\n";

fn start(nginx_port: u16, extra: &[&str]) -> (Sidecar, u16, TempDir) {
    let mut args = vec!["--label", "app=test", "--log-format", "json"];
    args.extend_from_slice(extra);
    Sidecar::in_front_of(nginx_port, &http_policy(nginx_port, RULES), &args)
}

#[test]
fn http1_allowed_reaches_nginx_and_denied_gets_403() {
    let nginx = Nginx::start();
    let (sidecar, port, _dir) = start(nginx.port, &[]);
    let base = format!("http://127.0.0.1:{port}");

    let (status, body) = curl(&[&format!("{base}/public/index.html")]);
    assert_eq!(
        (status, body.as_str()),
        (200, "nginx GET /public/index.html\n")
    );

    let (status, body) = curl(&[&format!("{base}/private")]);
    assert_eq!((status, body.as_str()), (403, "Access denied"));

    let (status, _) = curl(&[
        "-X",
        "POST",
        "-H",
        "X-Team: checkout",
        "-d",
        "x=1",
        &format!("{base}/api/orders"),
    ]);
    assert_eq!(status, 200, "header rule allows");
    let (status, _) = curl(&[
        "-X",
        "POST",
        "-H",
        "X-Team: other",
        &format!("{base}/api/orders"),
    ]);
    assert_eq!(status, 403, "header value must match");
    let (status, _) = curl(&["-X", "DELETE", &format!("{base}/public/index.html")]);
    assert_eq!(status, 403, "method must match");
    let (status, _) = curl(&[&format!("{base}/public/a?x=1")]);
    assert_eq!(status, 200, "path regex sees the query and .* covers it");

    // Keep-alive: several requests on one connection, chunked upload.
    let (status, body) = curl(&[
        "-H",
        "Transfer-Encoding: chunked",
        "-H",
        "X-Team: checkout",
        "-X",
        "POST",
        "-d",
        "chunky",
        &format!("{base}/api/orders"),
        "--next",
        "-w",
        "\n%{http_code}",
        &format!("{base}/public/second"),
    ]);
    assert_eq!(status, 200, "{body}");
    assert!(
        body.contains("nginx POST /api/orders") && body.contains("nginx GET /public/second"),
        "{body}"
    );

    let m = sidecar.metrics();
    assert!(
        metric(
            &m,
            "sockmesh_requests_total{protocol=\"http1\",verdict=\"allow\"}"
        ) >= 4.0,
        "{m}"
    );
    assert!(
        metric(
            &m,
            "sockmesh_requests_total{protocol=\"http1\",verdict=\"deny\"}"
        ) >= 3.0,
        "{m}"
    );
    assert!(
        m.contains("sockmesh_denials_total{rule=\"default-deny"),
        "{m}"
    );

    let logs = sidecar.wait_log("/private");
    let line = logs
        .lines()
        .find(|l| l.contains("\"target\":\"access\"") && l.contains("/private"))
        .unwrap_or_else(|| panic!("no access-log line for /private:\n{logs}"));
    for needle in [
        "\"verdict\":\"deny\"",
        "\"status\":403",
        "\"rule\":\"default-deny",
        "\"protocol\":\"http1\"",
        "\"method\":\"GET\"",
    ] {
        assert!(line.contains(needle), "{needle} missing in {line}");
    }
    let allowed = logs
        .lines()
        .find(|l| l.contains("\"target\":\"access\"") && l.contains("/public/index.html"))
        .expect("access-log line for an allowed request");
    assert!(
        allowed.contains("\"rule\":\"test: ingress[0].toPorts[0].rules.http[0]\""),
        "{allowed}"
    );
    assert!(
        allowed.contains(&format!("\"upstream\":\"127.0.0.1:{}\"", nginx.port)),
        "{allowed}"
    );
}

#[test]
fn http2_prior_knowledge_to_http1_and_to_h2c_upstreams() {
    let nginx = Nginx::start();
    // HTTP/2 client, HTTP/1.1 upstream: the proxy translates.
    let (_s1, port, _d1) = start(nginx.port, &["--upstream-protocol", "http1"]);
    let url = format!("http://127.0.0.1:{port}/public/h2");
    let (status, body) = curl(&["--http2-prior-knowledge", &url]);
    assert_eq!((status, body.as_str()), (200, "nginx GET /public/h2\n"));
    let (status, body) = curl(&[
        "--http2-prior-knowledge",
        &format!("http://127.0.0.1:{port}/nope"),
    ]);
    assert_eq!((status, body.as_str()), (403, "Access denied"));

    // HTTP/2 end to end (auto keeps the client's version), nginx's h2c port.
    let (_s2, port, _d2) = start(nginx.h2c_port, &[]);
    let (status, body) = curl(&[
        "--http2-prior-knowledge",
        &format!("http://127.0.0.1:{port}/public/x"),
    ]);
    assert_eq!((status, body.as_str()), (200, "nginx GET /public/x\n"));
}

#[test]
fn h2c_upgrade_continues_as_http2() {
    let nginx = Nginx::start();
    let (_sidecar, port, _dir) = start(nginx.port, &["--upstream-protocol", "http1"]);
    // `--http2` on http:// is the h2c upgrade; `-i` shows every response head (101, then HTTP/2).
    let upgrade = |path: &str| {
        let out = Command::new("curl")
            .args(["-sS", "--max-time", "10", "--http2", "-i"])
            .arg(format!("http://127.0.0.1:{port}{path}"))
            .output()
            .expect("curl");
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let text = upgrade("/public/up");
    assert!(
        text.contains("HTTP/1.1 101"),
        "server must accept the upgrade:\n{text}"
    );
    assert!(
        text.contains("HTTP/2 200"),
        "response must come over HTTP/2:\n{text}"
    );
    assert!(text.contains("nginx GET /public/up"), "{text}");

    let text = upgrade("/secret");
    assert!(text.contains("HTTP/2 403"), "{text}");
}

#[test]
fn h2load_many_concurrent_streams_all_succeed() {
    require("h2load", "apt-get install -y nghttp2-client");
    let nginx = Nginx::start();
    // Both HTTP/2 paths: hyper to nginx's h2c port, and the in-task one to its HTTP/1.1 port.
    for (upstream, protocol) in [(nginx.h2c_port, "auto"), (nginx.port, "http1")] {
        let (sidecar, port, _dir) = start(
            upstream,
            &["--log-level", "warn", "--upstream-protocol", protocol],
        );
        let out = Command::new("h2load")
            .args([
                "-n",
                "4000",
                "-c",
                "8",
                "-m",
                "32",
                &format!("http://127.0.0.1:{port}/public/load"),
            ])
            .output()
            .expect("h2load");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("4000 succeeded, 0 failed, 0 errored"),
            "{protocol}: {text}"
        );
        assert!(
            text.contains("status codes: 4000 2xx"),
            "{protocol}: {text}"
        );
        let m = sidecar.metrics();
        assert!(
            metric(
                &m,
                "sockmesh_requests_total{protocol=\"http2\",verdict=\"allow\"}"
            ) >= 4000.0
        );
        // Upstream connections are pooled: far fewer than requests (HTTP/1.1 needs one per
        // request in flight: 8 x 32 at most).
        let limit = if protocol == "auto" { 16.0 } else { 256.0 };
        assert!(
            metric(&m, "sockmesh_upstream_connects_total") <= limit,
            "{protocol}: {m}"
        );
    }
}

#[test]
fn upstream_connections_are_reused_for_http1() {
    let nginx = Nginx::start();
    let (sidecar, port, _dir) = start(nginx.port, &[]);
    for _ in 0..20 {
        let (status, _) = curl(&[&format!("http://127.0.0.1:{port}/public/r")]);
        assert_eq!(status, 200);
    }
    let m = sidecar.metrics();
    assert!(
        metric(&m, "sockmesh_upstream_connects_total") <= 2.0,
        "20 sequential requests, one pooled connection:\n{m}"
    );
}

#[test]
fn upstream_down_gives_503_and_admin_views_work() {
    let dead = free_port();
    let (sidecar, port, _dir) = start(dead, &[]);
    let (status, body) = curl(&[&format!("http://127.0.0.1:{port}/public/x")]);
    assert_eq!((status, body.as_str()), (503, "no healthy upstream"));
    let (status, dump) = sidecar.get("/config_dump");
    assert_eq!(status, 200);
    assert!(dump.contains(&format!("127.0.0.1:{dead}")), "{dump}");
    let (status, policy) = sidecar.get("/policy");
    assert_eq!(status, 200);
    assert!(policy.contains("/public/.*"), "{policy}");
    assert_eq!(sidecar.get("/live").0, 200);
    assert!(
        metric(
            &sidecar.metrics(),
            "sockmesh_requests_total{protocol=\"http1\",verdict=\"error\"}"
        ) >= 1.0
    );
}

#[test]
fn requests_on_separate_connections_alternate_between_endpoints() {
    // The connection-level check must not take a round-robin turn of its own: with two
    // endpoints and one request per connection, both get requests.
    let (a, b) = (Nginx::start(), Nginx::start());
    let port = free_port();
    let (listen, up_a, up_b) = (
        format!("127.0.0.1:{port}"),
        format!("127.0.0.1:{}", a.port),
        format!("127.0.0.1:{}", b.port),
    );
    let sidecar = Sidecar::start(&[
        "--listen",
        &listen,
        "--upstream",
        &up_a,
        "--upstream",
        &up_b,
        "--protocol",
        "http",
    ]);
    for _ in 0..4 {
        let (status, _) = curl(&[&format!("http://{listen}/x")]);
        assert_eq!(status, 200);
    }
    let hits = |log: &str, up: &str| log.matches(&format!("upstream={up} ")).count();
    let logged = wait_until(Duration::from_secs(5), || {
        let log = sidecar.logs();
        hits(&log, &up_a) + hits(&log, &up_b) == 4
    });
    let log = sidecar.logs();
    assert!(logged, "four access-log lines expected:\n{log}");
    assert_eq!((hits(&log, &up_a), hits(&log, &up_b)), (2, 2), "{log}");
}
