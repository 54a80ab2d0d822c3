//! Hop-by-hop abuse (issue 14, item 3): a client's `Connection` header names the fields that
//! end at the proxy, and `Connection: close, Host` made the proxy drop the `Host` it had
//! checked, so nginx served its default site to a request allowed only for `public.local`.
//! Now a `Connection` header naming `Host` or a framing field is refused (400), and the other
//! fields it names are removed before policy sees the request, so no rule decides on a field
//! the upstream will not get, and a field a rule's header action sets stays set.

use sockmesh_tests::{Nginx, Sidecar, TempDir, http_policy_with_deny, raw_http};

/// `public.local` only; `X-Tenant` is made `a` whatever the client sent.
const ALLOW: &str = "        - host: \"public\\\\.local\"\n          headerMatches:\n          - name: X-Tenant\n            value: a\n            mismatch: REPLACE\n";

fn start() -> (Nginx, [(Sidecar, TempDir); 2], [u16; 2]) {
    let nginx = Nginx::sites();
    let policy = http_policy_with_deny(&[nginx.port, nginx.h2c_port], ALLOW, "");
    let side = |upstream: u16, protocol: &str| {
        let args = ["--label", "app=test", "--upstream-protocol", protocol];
        let (s, port, dir) = Sidecar::in_front_of(upstream, &policy, &args);
        ((s, dir), port)
    };
    let (a, http1) = side(nginx.port, "http1");
    let (b, http2) = side(nginx.h2c_port, "http2");
    (nginx, [a, b], [http1, http2])
}

#[test]
fn connection_never_removes_the_checked_host_or_the_framing() {
    let (_nginx, _s, ports) = start();
    for port in ports {
        for connection in ["close, Host", "Host", "keep-alive, host ,close"] {
            let (status, body) = raw_http(
                port,
                &format!(
                    "GET / HTTP/1.1\r\nHost: public.local\r\nConnection: {connection}\r\nConnection: close\r\n\r\n"
                ),
            );
            assert_eq!(status, 400, "Connection: {connection} reached {body:?}");
        }
        for (connection, framing) in [
            ("close, Content-Length", "Content-Length: 5\r\n"),
            ("close, Transfer-Encoding", "Transfer-Encoding: chunked\r\n"),
        ] {
            let body = if framing.starts_with("Content") {
                "hello"
            } else {
                "5\r\nhello\r\n0\r\n\r\n"
            };
            let (status, answer) = raw_http(
                port,
                &format!(
                    "POST / HTTP/1.1\r\nHost: public.local\r\n{framing}Connection: {connection}\r\n\r\n{body}"
                ),
            );
            assert_eq!(status, 400, "Connection: {connection} reached {answer:?}");
        }
        // A plain request still reaches the site its Host names.
        let (status, body) = raw_http(
            port,
            "GET / HTTP/1.1\r\nHost: public.local\r\nConnection: close\r\n\r\n",
        );
        assert_eq!(
            (status, body.as_str()),
            (200, "site=public host=public.local uri=/ tenant=a\n")
        );
    }
}

#[test]
fn a_field_connection_names_is_gone_before_policy_sees_the_request() {
    let (_nginx, _s, ports) = start();
    for port in ports {
        // The rule's REPLACE sets X-Tenant; naming it in Connection must not remove it again
        // after the rule set it.
        for connection in ["close, X-Tenant", "X-Tenant, close"] {
            let (status, body) = raw_http(
                port,
                &format!(
                    "GET / HTTP/1.1\r\nHost: public.local\r\nX-Tenant: b\r\nConnection: {connection}\r\n\r\n"
                ),
            );
            assert_eq!(
                (status, body.as_str()),
                (200, "site=public host=public.local uri=/ tenant=a\n"),
                "Connection: {connection}"
            );
        }
    }
}
