//! Other spellings of a host denied by a rule (issue 14, item 2): nginx serves `admin.local`
//! for `ADMIN.LOCAL`, `Admin.Local`, `admin.local.` and `admin.local:` alike (it lower-cases the
//! host, drops a trailing dot and an empty port), so a deny rule on `admin\.local(:[0-9]+)?`
//! must see, and the upstream must get, the host in that one canonical form: lower case, no
//! trailing dot, no empty port, no default port. Checked on every path a host comes in by:
//! HTTP/1.1 `Host` (fast path and hyper), absolute-form targets, HTTP/2 `:authority` (in-task
//! to an HTTP/1.1 upstream, and hyper to an HTTP/2 one) and the h2c upgrade.

use sockmesh_tests::{Nginx, Sidecar, TempDir, curl, h2_client, http_policy_with_deny, raw_http};

const ALLOW: &str = "        - path: \"/.*\"\n";
const DENY: &str = "        - host: \"admin\\\\.local(:[0-9]+)?\"\n";

/// nginx with its sites, and two sidecars in front of it: one speaking HTTP/1.1 upstream, one
/// HTTP/2 (to nginx's h2c port).
struct Setup {
    _nginx: Nginx,
    _sidecars: [(Sidecar, TempDir); 2],
    http1: u16,
    http2: u16,
}

fn start() -> Setup {
    let nginx = Nginx::sites();
    let policy = http_policy_with_deny(&[nginx.port, nginx.h2c_port], ALLOW, DENY);
    let side = |upstream: u16, protocol: &str| {
        let (s, port, dir) = Sidecar::in_front_of(
            upstream,
            &policy,
            &["--label", "app=test", "--upstream-protocol", protocol],
        );
        ((s, dir), port)
    };
    let (a, http1) = side(nginx.port, "http1");
    let (b, http2) = side(nginx.h2c_port, "http2");
    Setup {
        _nginx: nginx,
        _sidecars: [a, b],
        http1,
        http2,
    }
}

fn get(port: u16, target: &str, host: &str) -> (u16, String) {
    raw_http(
        port,
        &format!("GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"),
    )
}

/// An HTTP/2 GET with exactly this `:authority`: the status and body.
fn h2_get(port: u16, authority: &str) -> (u16, String) {
    let out = h2_client(port, &["get", "/", authority]);
    let (status, body) = out.split_once('\n').unwrap_or((&out, ""));
    (status.trim().parse().unwrap_or(0), body.to_owned())
}

const SPELLINGS: [&str; 7] = [
    "ADMIN.LOCAL",
    "Admin.Local",
    "admin.local.",
    "admin.local:",
    "ADMIN.LOCAL.:80",
    "admin.LOCAL.:8080",
    "admin.local:080",
];

#[test]
fn every_spelling_of_a_denied_host_is_denied_on_http1() {
    let s = start();
    for port in [s.http1, s.http2] {
        assert_eq!(get(port, "/", "admin.local").0, 403, "the plain spelling");
        for host in SPELLINGS {
            let (status, body) = get(port, "/", host);
            assert_eq!(status, 403, "Host: {host} reached {body:?}");
        }
        // Absolute-form: the target's authority is the host.
        for target in [
            "http://ADMIN.LOCAL/",
            "http://admin.local./",
            "http://admin.local:/",
        ] {
            let (status, body) = get(port, target, "public.local");
            assert_eq!(status, 403, "{target} reached {body:?}");
        }
    }
}

#[test]
fn every_spelling_of_a_denied_host_is_denied_on_http2() {
    let s = start();
    for port in [s.http1, s.http2] {
        assert_eq!(h2_get(port, "admin.local").0, 403, "the plain spelling");
        for authority in SPELLINGS {
            let (status, body) = h2_get(port, authority);
            assert_eq!(status, 403, ":authority {authority} reached {body:?}");
        }
    }
    // The h2c upgrade: the request that carries it is stream 1 of the HTTP/2 connection.
    for host in SPELLINGS {
        let url = format!("http://127.0.0.1:{}/", s.http1);
        let (status, body) = curl(&["--http2", "-H", &format!("Host: {host}"), &url]);
        assert_eq!(
            status, 403,
            "h2c upgrade with Host: {host} reached {body:?}"
        );
    }
}

/// The host the upstream gets is the canonical one that was checked, on every path.
#[test]
fn the_upstream_gets_the_canonical_host() {
    let s = start();
    let want = "site=public host=public.local uri=/ tenant=\n";
    for port in [s.http1, s.http2] {
        for host in [
            "Public.Local",
            "public.local.",
            "PUBLIC.LOCAL:80",
            "public.local:",
        ] {
            assert_eq!(get(port, "/", host), (200, want.to_owned()), "Host: {host}");
            assert_eq!(
                get(port, &format!("http://{host}/"), "other"),
                (200, want.to_owned()),
                "absolute-form {host}"
            );
            assert_eq!(
                h2_get(port, host),
                (200, want.to_owned()),
                ":authority {host}"
            );
        }
        // Another port is kept, in its canonical spelling.
        let (status, body) = get(port, "/", "Public.Local:0443");
        assert_eq!(
            (status, body.as_str()),
            (200, "site=public host=public.local:443 uri=/ tenant=\n")
        );
    }
    // Labels that no DNS name has are refused, not guessed at.
    for host in ["admin..local", ".admin.local", "admin.local.."] {
        assert_eq!(get(s.http1, "/", host).0, 400, "Host: {host}");
    }
}
