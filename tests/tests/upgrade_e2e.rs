//! HTTP/1.1 protocol switch passthrough (`Connection: Upgrade`, e.g. WebSocket): the upgrade
//! request is policy-checked like any request; after the upstream's `101` the proxy copies bytes
//! both ways.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use sockmesh_tests::{Sidecar, http_policy, metric, wait_until};

/// Answers any upgrade request with 101 and then echoes.
fn upgrading_echo_server() -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = l.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            std::thread::spawn(move || {
                let mut reader = BufReader::new(s.try_clone().expect("clone"));
                let mut line = String::new();
                while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                    if line == "\r\n" {
                        break;
                    }
                    line.clear();
                }
                let mut s = s;
                let _ = s.write_all(b"HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n");
                let mut buf = [0u8; 4096];
                while let Ok(n) = reader.read(&mut buf) {
                    if n == 0 || s.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    port
}

fn upgrade(port: u16, path: &str) -> (String, TcpStream) {
    let mut c = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    write!(
        c,
        "GET {path} HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n"
    )
    .expect("write");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") && c.read(&mut byte).is_ok_and(|n| n == 1) {
        head.push(byte[0]);
    }
    (String::from_utf8_lossy(&head).into_owned(), c)
}

#[test]
fn upgraded_connection_is_spliced_and_denied_upgrade_gets_403() {
    let upstream = upgrading_echo_server();
    let (_s, port, _dir) = Sidecar::in_front_of(
        upstream,
        &http_policy(upstream, "        - path: \"/ws/.*\"\n"),
        &["--label", "app=test"],
    );

    let (head, mut c) = upgrade(port, "/ws/chat");
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    assert!(
        head.to_ascii_lowercase().contains("upgrade: echo"),
        "{head}"
    );
    for msg in [
        &b"ping"[..],
        &[0u8, 255, 1, 254][..],
        &vec![7u8; 100_000][..],
    ] {
        c.write_all(msg).expect("write upgraded");
        let mut back = vec![0u8; msg.len()];
        c.read_exact(&mut back).expect("read upgraded");
        assert!(back == msg, "upgraded bytes changed");
    }

    let (head, _) = upgrade(port, "/other");
    assert!(head.starts_with("HTTP/1.1 403"), "{head}");
}

/// A tunnel outlives the HTTP connection that negotiated it: it keeps its connection slot (and
/// so counts in `downstream_connections_active`, which shutdown drains) and is closed after the
/// idle timeout like opaque TCP.
#[test]
fn upgraded_tunnel_is_counted_and_closed_when_idle() {
    let (s, port, _dir) = Sidecar::from_config(
        upgrading_echo_server(),
        "auto",
        "        - path: \"/ws/.*\"\n",
        "idleTimeout: 2s",
    );

    let (head, mut c) = upgrade(port, "/ws/idle");
    assert!(head.starts_with("HTTP/1.1 101"), "{head}");
    c.write_all(b"hello").expect("write upgraded");
    let mut back = [0u8; 5];
    c.read_exact(&mut back).expect("read upgraded");
    // The tunnel's last traffic: its idle timer runs from no later than this.
    let start = Instant::now();
    assert_eq!(&back, b"hello");

    let m = s.metrics();
    assert_eq!(
        metric(&m, "sockmesh_downstream_connections_active "),
        1.0,
        "the tunnel is not counted as an open connection:\n{m}"
    );
    assert_eq!(
        metric(&m, "sockmesh_upstream_connections_active "),
        1.0,
        "the tunnel's upstream side is not counted:\n{m}"
    );

    c.set_read_timeout(Some(Duration::from_secs(15)))
        .expect("timeout");
    let mut rest = Vec::new();
    let _ = c.read_to_end(&mut rest);
    let waited = start.elapsed();
    assert!(
        waited >= Duration::from_millis(1500) && waited < Duration::from_secs(10),
        "idle tunnel closed after {waited:?}, idle timeout 2 s"
    );
    // The slot goes when the tunnel task ends, just after the close the client saw.
    let released = wait_until(Duration::from_secs(5), || {
        metric(&s.metrics(), "sockmesh_downstream_connections_active ") == 0.0
    });
    assert!(released, "the tunnel's slot was kept:\n{}", s.metrics());
}
