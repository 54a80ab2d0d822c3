//! `toFQDNs` end to end: one sidecar with a DNS listener in front of unbound and an outbound TCP
//! listener in front of a web server at the address a name resolves to. curl reaches the web
//! server only after an allowed query taught the sidecar that address, and only until its TTL
//! runs out; a connection opened before then keeps working; an address from a refused query is
//! never learned.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::Duration;

use sockmesh_tests::unbound::dig_status;
use sockmesh_tests::{
    Child, Sidecar, TempDir, Unbound, curl, dig, free_port, http_get, local, metric, wait_until,
};

/// python3's http.server on `ip:port` (a real server, from the standard library).
fn web_server(ip: &str, port: u16, dir: &TempDir) -> Child {
    dir.write("index.html", "hello from the web server\n");
    let child = Child::spawn(
        Command::new("python3")
            .args(["-m", "http.server", &port.to_string(), "--bind", ip])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
    );
    let addr = format!("{ip}:{port}").parse().expect("addr");
    assert!(
        wait_until(Duration::from_secs(10), || TcpStream::connect_timeout(
            &addr,
            Duration::from_millis(200)
        )
        .is_ok()),
        "http.server did not start on {addr}"
    );
    child
}

#[test]
fn fqdn_egress_follows_allowed_answers_and_their_ttl() {
    let unbound = Unbound::start();
    let dir = TempDir::new("fqdn");
    let web_port = free_port();
    // short.mesh.test. is 127.0.0.40 with TTL 2; denied.mesh.test. is 127.0.0.20.
    let _short = web_server("127.0.0.40", web_port, &dir);
    let _denied = web_server("127.0.0.20", web_port, &dir);
    let policy = format!(
        "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {{name: fqdn, namespace: test}}\nspec:\n  endpointSelector: {{matchLabels: {{app: test}}}}\n  egress:\n  - toPorts:\n    - ports: [{{port: \"{dns}\", protocol: ANY}}]\n      rules:\n        dns: [{{matchName: short.mesh.test}}, {{matchPattern: \"*.allowed.mesh.test\"}}]\n  - toFQDNs: [{{matchName: short.mesh.test}}, {{matchName: denied.mesh.test}}]\n    toPorts:\n    - ports: [{{port: \"{web_port}\", protocol: TCP}}]\n",
        dns = unbound.port
    );
    let policy = dir.write("policy.yaml", &policy);
    let (dns_port, short_port, denied_port) = (free_port(), free_port(), free_port());
    let config = format!(
        "workload: {{ labels: {{ app: test }} }}\npolicies: [{}]\nlisteners:\n- {{ name: dns, address: 127.0.0.1:{dns_port}, direction: outbound, protocol: dns, cluster: resolver }}\n- {{ name: short, address: 127.0.0.1:{short_port}, direction: outbound, protocol: tcp, cluster: short }}\n- {{ name: denied, address: 127.0.0.1:{denied_port}, direction: outbound, protocol: tcp, cluster: denied }}\nclusters:\n- {{ name: resolver, endpoints: [127.0.0.1:{}] }}\n- {{ name: short, endpoints: [127.0.0.40:{web_port}] }}\n- {{ name: denied, endpoints: [127.0.0.20:{web_port}] }}\ndns: {{ minTtl: 0s }}\n",
        policy.display(),
        unbound.port
    );
    let config = dir.write("sidecar.yaml", &config);
    let sidecar = Sidecar::start(&["--config", &config.display().to_string()]);
    let short_url = format!("http://127.0.0.1:{short_port}/");
    let denied_url = format!("http://127.0.0.1:{denied_port}/");

    // Nothing learned: the address is no one's answer yet.
    assert_eq!(curl(&[&short_url]).0, 0, "allowed before any DNS answer");
    // An allowed query teaches the address.
    let out = dig(local(dns_port), &["short.mesh.test", "A"]);
    assert_eq!(dig_status(&out).as_deref(), Some("NOERROR"), "{out}");
    let (status, body) = curl(&[&short_url]);
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("hello from the web server"), "{body}");
    let (status, table) = http_get(sidecar.admin, "/fqdn").expect("admin");
    assert_eq!(status, 200);
    assert!(
        table.contains("short.mesh.test.") && table.contains("127.0.0.40"),
        "{table}"
    );
    // A refused query teaches nothing, though a toFQDNs selector names it.
    let out = dig(local(dns_port), &["denied.mesh.test", "A"]);
    assert_eq!(dig_status(&out).as_deref(), Some("REFUSED"), "{out}");
    assert_eq!(curl(&[&denied_url]).0, 0, "an address from a refused query");
    // A connection opened now outlives the entry.
    let mut open = TcpStream::connect(local(short_port)).expect("connect");
    open.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    // The TTL (2 s) runs out: new connections are refused again.
    assert!(
        wait_until(Duration::from_secs(6), || curl(&[&short_url]).0 == 0),
        "still allowed after the TTL"
    );
    open.write_all(b"GET / HTTP/1.0\r\nHost: short\r\n\r\n")
        .expect("write");
    let mut response = String::new();
    open.read_to_string(&mut response).expect("read");
    assert!(
        response.starts_with("HTTP/1.0 200"),
        "the open connection was cut: {response}"
    );
    let m = sidecar.metrics();
    assert!(metric(&m, "sockmesh_fqdn_learned_entries") >= 1.0, "{m}");
    sidecar.wait_log("protocol=\"tcp\"");
}
