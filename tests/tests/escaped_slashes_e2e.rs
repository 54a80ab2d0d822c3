//! Encoded slashes (issue 14, item 1): nginx decodes `%2F` in a path before it resolves dot
//! segments, so `/public/..%2fprivate/x` matched a rule on `/public/.*` and was served from
//! `/private/x`. By default the proxy refuses (400) a path holding `%2F` or `%5C` in any case,
//! as Envoy's `REJECT_REQUEST`; with `--escaped-slashes decode` it decodes them, normalises the
//! result, and checks and forwards that. On every path: HTTP/1.1 (fast path and hyper),
//! HTTP/2 in-task and through hyper, and the h2c upgrade.

use sockmesh_tests::{Nginx, Sidecar, TempDir, curl, h2_client, http_policy_with_deny, raw_http};

const ALLOW: &str = "        - path: \"/public/.*\"\n";

const ESCAPED: [&str; 6] = [
    "/public/..%2fprivate/x",
    "/public/..%2Fprivate/x",
    "/public/%2e%2e%2fprivate/x",
    "/public/.%2e/%2fprivate/x",
    "/public/..%5cprivate/x",
    "/public/..%5Cprivate/x",
];

/// Two sidecars in front of nginx (one to its HTTP/1.1 port, one to its h2c port), with `extra`
/// flags; their ports.
fn sidecars(nginx: &Nginx, extra: &[&str]) -> ([(Sidecar, TempDir); 2], [u16; 2]) {
    let policy = http_policy_with_deny(&[nginx.port, nginx.h2c_port], ALLOW, "");
    let side = |upstream: u16, protocol: &str| {
        let mut args = vec!["--label", "app=test", "--upstream-protocol", protocol];
        args.extend_from_slice(extra);
        let (s, port, dir) = Sidecar::in_front_of(upstream, &policy, &args);
        ((s, dir), port)
    };
    let (a, http1) = side(nginx.port, "http1");
    let (b, http2) = side(nginx.h2c_port, "http2");
    ([a, b], [http1, http2])
}

fn get(port: u16, target: &str) -> (u16, String) {
    raw_http(
        port,
        &format!("GET {target} HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n"),
    )
}

/// The same through hyper's HTTP/1.1 path: an absolute-form target never takes the fast path.
fn get_absolute(port: u16, target: &str) -> (u16, String) {
    get(port, &format!("http://web{target}"))
}

fn h2_get(port: u16, path: &str) -> (u16, String) {
    let out = h2_client(port, &["get", path, "web"]);
    let (status, body) = out.split_once('\n').unwrap_or((&out, ""));
    (status.trim().parse().unwrap_or(0), body.to_owned())
}

fn h2c_upgrade_get(port: u16, path: &str) -> (u16, String) {
    let url = format!("http://127.0.0.1:{port}{path}");
    curl(&["--http2", "--path-as-is", &url])
}

type Get = fn(u16, &str) -> (u16, String);
const WAYS: [(&str, Get); 4] = [
    ("HTTP/1.1", get),
    ("HTTP/1.1 absolute-form", get_absolute),
    ("HTTP/2", h2_get),
    ("h2c upgrade", h2c_upgrade_get),
];

#[test]
fn escaped_slashes_are_refused_by_default() {
    let nginx = Nginx::sites();
    let (_s, ports) = sidecars(&nginx, &[]);
    for port in ports {
        for (way, send) in WAYS {
            for path in ESCAPED {
                let (status, body) = send(port, path);
                assert_eq!(status, 400, "{way} {path} reached {body:?}");
            }
            // The query is not the path: an escaped slash there is the application's.
            let (status, body) = send(port, "/public/x?next=%2Fhome");
            assert_eq!(status, 200, "{way}: {body}");
            assert!(body.contains("raw=/public/x?next=%2Fhome"), "{way}: {body}");
        }
    }
}

#[test]
fn decoded_escaped_slashes_are_checked_and_forwarded_as_decoded() {
    let nginx = Nginx::sites();
    let (_s, ports) = sidecars(&nginx, &["--escaped-slashes", "decode"]);
    for port in ports {
        for (way, send) in WAYS {
            for path in ESCAPED {
                let (status, body) = send(port, path);
                assert_eq!(status, 403, "{way} {path} reached {body:?}");
            }
            for (path, forwarded) in [
                ("/public/a%2fb", "/public/a/b"),
                ("/public/a%5Cb/..%2F%2Fc", "/public/a/c"),
            ] {
                let (status, body) = send(port, path);
                assert_eq!(status, 200, "{way} {path}: {body}");
                assert!(
                    body.contains(&format!("raw={forwarded} ")),
                    "{way} {path} forwarded as {body:?}"
                );
            }
        }
    }
}
