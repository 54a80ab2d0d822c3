//! Header names with underscores (issue 14, item 4): CGI, WSGI and Rack map `X-Evil` and
//! `X_Evil` to the same `HTTP_X_EVIL`, so `X_Evil: yes` passed a deny rule on `X-Evil: yes`
//! and reached the application as the denied field. `headersWithUnderscores` decides: `drop`
//! (the default, as nginx) removes such fields before policy sees the request, `reject`
//! answers 400, `allow` forwards them. The origin is a real WSGI server (the standard
//! library's wsgiref) echoing the `HTTP_*` keys it got, over HTTP/1.1 (fast path and hyper)
//! and HTTP/2 (in-task to the HTTP/1.1 origin).

use sockmesh_tests::{Origin, Sidecar, TempDir, h2_client, http_policy_with_deny, raw_http};

const ALLOW: &str = "        - path: \"/.*\"\n";
const DENY: &str = "        - headers: [\"X-Evil: yes\"]\n";

fn start(extra: &[&str]) -> (Origin, Sidecar, u16, TempDir) {
    let wsgi = Origin::start("wsgi_origin.py");
    let policy = http_policy_with_deny(&[wsgi.port], ALLOW, DENY);
    let mut args = vec!["--label", "app=test", "--upstream-protocol", "http1"];
    args.extend_from_slice(extra);
    let (sidecar, port, dir) = Sidecar::in_front_of(wsgi.port, &policy, &args);
    (wsgi, sidecar, port, dir)
}

/// `X_Evil: yes` (or, over HTTP/2, `x_evil: yes`) on each path; the status and body of each.
fn send_underscored(port: u16) -> Vec<(&'static str, u16, String)> {
    let h1 = |target: &str| {
        raw_http(
            port,
            &format!(
                "GET {target} HTTP/1.1\r\nHost: web\r\nX_Evil: yes\r\nConnection: close\r\n\r\n"
            ),
        )
    };
    let (s1, b1) = h1("/env");
    // Absolute-form: hyper's HTTP/1.1 path.
    let (s2, b2) = h1("http://web/env");
    let out = h2_client(port, &["get", "/env", "web", "x_evil=yes"]);
    let (s3, b3) = out.split_once('\n').unwrap_or((&out, ""));
    vec![
        ("HTTP/1.1", s1, b1),
        ("HTTP/1.1 hyper", s2, b2),
        ("HTTP/2", s3.trim().parse().unwrap_or(0), b3.to_owned()),
    ]
}

#[test]
fn underscored_fields_are_dropped_by_default() {
    let (_wsgi, _s, port, _d) = start(&[]);
    // The rule itself holds.
    let (status, _) = raw_http(
        port,
        "GET /env HTTP/1.1\r\nHost: web\r\nX-Evil: yes\r\nConnection: close\r\n\r\n",
    );
    assert_eq!(status, 403);
    for (way, status, body) in send_underscored(port) {
        assert_eq!(status, 200, "{way}: {body}");
        assert!(!body.contains("HTTP_X_EVIL"), "{way}: the app got {body:?}");
        assert!(body.contains("HTTP_HOST=web"), "{way}: {body:?}");
    }
}

#[test]
fn underscored_fields_can_be_rejected_or_allowed() {
    let (_wsgi, _s, port, _d) = start(&["--headers-with-underscores", "reject"]);
    for (way, status, body) in send_underscored(port) {
        assert_eq!(status, 400, "{way}: {body}");
    }
    let (_wsgi, _s, port, _d) = start(&["--headers-with-underscores", "allow"]);
    for (way, status, body) in send_underscored(port) {
        assert_eq!(status, 200, "{way}: {body}");
        assert!(body.contains("HTTP_X_EVIL=yes"), "{way}: {body:?}");
    }
}
