//! The smaller findings of issue 14, item 7: a CONNECT request has no path, so a rule with a
//! `path` never allows it; an h2c upgrade request with two `Host` fields is refused (400) as any
//! request with two is, not upgraded; and `policy check` flags a `headers` entry that cannot be
//! what its author meant (`X-Evil : yes`, read before as the value `": yes"`).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::time::Duration;

use sockmesh_tests::{Nginx, Sidecar, TempDir, bin, h2_client, http_policy_with_deny, raw_http};

const ROOT_ONLY: &str = "        - path: \"/\"\n";

#[test]
fn a_rule_with_a_path_never_allows_connect() {
    let nginx = Nginx::start();
    let policy = http_policy_with_deny(&[nginx.port, nginx.h2c_port], ROOT_ONLY, "");
    let mut ports = Vec::new();
    let mut sidecars = Vec::new();
    for (upstream, protocol) in [(nginx.port, "http1"), (nginx.h2c_port, "http2")] {
        let args = ["--label", "app=test", "--upstream-protocol", protocol];
        let (s, port, dir) = Sidecar::in_front_of(upstream, &policy, &args);
        ports.push(port);
        sidecars.push((s, dir));
    }
    for port in &ports {
        // The rule holds for what it names.
        let (status, _) = raw_http(
            *port,
            "GET / HTTP/1.1\r\nHost: web\r\nConnection: close\r\n\r\n",
        );
        assert_eq!(status, 200);
        let (status, body) = raw_http(
            *port,
            "CONNECT web:443 HTTP/1.1\r\nHost: web:443\r\nConnection: close\r\n\r\n",
        );
        assert_eq!(status, 403, "HTTP/1.1 CONNECT: {body:?}");
        let out = h2_client(*port, &["connect", "web:443"]);
        assert_eq!(out.trim(), "403", "HTTP/2 CONNECT");
    }
    for (sidecar, _) in &sidecars {
        let logs = sidecar.wait_log("CONNECT");
        assert!(
            logs.lines()
                .filter(|l| l.contains("CONNECT"))
                .all(|l| l.contains("default-deny (ingress)")),
            "every CONNECT denied by the default, not allowed by the path rule:\n{logs}"
        );
    }
}

#[test]
fn an_h2c_upgrade_with_two_hosts_is_refused() {
    let nginx = Nginx::start();
    let policy = http_policy_with_deny(&[nginx.port], "        - path: \"/.*\"\n", "");
    let (_s, port, _d) = Sidecar::in_front_of(
        nginx.port,
        &policy,
        &["--label", "app=test", "--upstream-protocol", "http1"],
    );
    let upgrade = "Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n";
    let (status, body) = raw_http(
        port,
        &format!(
            "GET / HTTP/1.1\r\nHost: good.example\r\nHost: evil.example\r\n{upgrade}Connection: close\r\n\r\n"
        ),
    );
    assert_eq!(status, 400, "{body:?}");
    // One Host is upgraded as before (the connection then waits for the HTTP/2 preface).
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(s, "GET / HTTP/1.1\r\nHost: good.example\r\n{upgrade}\r\n").expect("write");
    let mut head = [0u8; 12];
    s.read_exact(&mut head).expect("a status line");
    assert_eq!(&head, b"HTTP/1.1 101");
}

#[test]
fn policy_check_flags_a_blank_before_the_colon_of_a_headers_entry() {
    let dir = TempDir::new("check");
    let file = dir.write(
        "p.yaml",
        "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata:\n  name: p\nspec:\n  endpointSelector: {}\n  ingressDeny:\n  - toPorts:\n    - ports:\n      - port: \"80\"\n      rules:\n        http:\n        - headers: [\"X-Evil : yes\", \"X-Ok: 1\", \"X Fine\", \"X-Odd:: 2\"]\n",
    );
    let out = Command::new(bin())
        .args(["policy", "check"])
        .arg(&file)
        .output()
        .expect("run");
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    let name = file.display();
    assert!(
        err.contains(&format!(
            "{name}:13:21: error: invalid `headers` entry `X-Evil : yes`"
        )),
        "{err}"
    );
    assert!(err.contains("help: write `X-Evil: yes`"), "{err}");
    assert!(
        err.contains(&format!("{name}:13:")) && err.contains("`X-Odd:: 2`"),
        "{err}"
    );
    assert!(
        !err.contains("`X-Ok: 1`") && !err.contains("`X Fine`"),
        "{err}"
    );
}
