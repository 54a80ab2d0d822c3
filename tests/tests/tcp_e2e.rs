//! Opaque TCP through the binary: bytes pass both ways with L3/L4 policy applied, server-first
//! protocols work through detection's timeout, and denials are TCP resets.

use std::io::{ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::Duration;

use sockmesh_tests::{Sidecar, TempDir, metric};

fn l4_policy(port: u16) -> String {
    format!(
        "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata:\n  name: tcp\nspec:\n  endpointSelector: {{}}\n  ingress:\n  - fromCIDR: [127.0.0.0/8]\n    toPorts:\n    - ports:\n      - port: \"{port}\"\n        protocol: TCP\n"
    )
}

/// Echoes every connection; with `banner`, greets first (a server-first protocol).
fn echo_server(banner: Option<&'static [u8]>) -> u16 {
    let l = TcpListener::bind("127.0.0.1:0").expect("bind echo");
    let port = l.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            std::thread::spawn(move || {
                let mut s = s;
                if let Some(b) = banner {
                    let _ = s.write_all(b);
                }
                let mut buf = [0u8; 65536];
                while let Ok(n) = s.read(&mut buf) {
                    if n == 0 || s.write_all(&buf[..n]).is_err() {
                        break;
                    }
                }
            });
        }
    });
    port
}

fn sidecar(upstream: u16, policy_port: u16, protocol: &str) -> (Sidecar, u16, TempDir) {
    Sidecar::in_front_of(upstream, &l4_policy(policy_port), &["--protocol", protocol])
}

#[test]
fn opaque_tcp_passes_bytes_both_ways() {
    let echo = echo_server(None);
    let (sidecar, port, _d) = sidecar(echo, echo, "tcp");
    let mut c = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let payload: Vec<u8> = (0..1_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let mut writer = c.try_clone().expect("clone");
    let p2 = payload.clone();
    let t = std::thread::spawn(move || writer.write_all(&p2).expect("write"));
    let mut back = vec![0u8; payload.len()];
    c.read_exact(&mut back).expect("read echo");
    t.join().expect("writer");
    assert!(back == payload, "bytes changed in transit");
    drop(c);
    assert!(sockmesh_tests::wait_until(Duration::from_secs(5), || {
        metric(
            &sidecar.metrics(),
            "sockmesh_requests_total{protocol=\"tcp\",verdict=\"allow\"}",
        ) >= 1.0
    }));
    sidecar.wait_log("bytes_in=1000000");
}

#[test]
fn server_first_protocol_works_through_detection() {
    let echo = echo_server(Some(b"220 smtp ready\r\n"));
    let (_sidecar, port, _d) = sidecar(echo, echo, "detect");
    let mut c = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut banner = [0u8; 16];
    c.read_exact(&mut banner)
        .expect("banner arrives after the detection timeout");
    assert_eq!(&banner, b"220 smtp ready\r\n");
    c.write_all(b"HELO x\r\n").expect("write");
    let mut echo_back = [0u8; 8];
    c.read_exact(&mut echo_back).expect("echo");
    assert_eq!(&echo_back, b"HELO x\r\n");
}

#[test]
fn l4_denial_is_a_reset() {
    let echo = echo_server(None);
    // Policy allows another port only: default deny for this one.
    let (sidecar, port, _d) = sidecar(echo, echo.wrapping_add(1), "tcp");
    let mut c = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    // No write first: a write that meets the reset consumes the error, and the read would then
    // see a plain EOF.
    let mut buf = [0u8; 8];
    let err = c
        .read(&mut buf)
        .expect_err("denied connection must not deliver data");
    assert_eq!(err.kind(), ErrorKind::ConnectionReset, "{err}");
    assert!(
        sidecar
            .metrics()
            .contains("sockmesh_denials_total{rule=\"default-deny (ingress)\"}")
    );
}

#[test]
fn non_http_on_a_port_with_http_rules_is_reset() {
    let echo = echo_server(None);
    let (_s, port, _dir) = Sidecar::in_front_of(
        echo,
        &sockmesh_tests::http_policy(echo, "        - method: GET\n"),
        &["--label", "app=test"],
    );
    let mut c = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    c.write_all(b"\x16\x03\x01 not http at all").expect("write");
    let mut buf = [0u8; 8];
    match c.read(&mut buf) {
        Err(e) => assert_eq!(e.kind(), ErrorKind::ConnectionReset),
        Ok(n) => panic!("got {n} bytes through a port that requires HTTP"),
    }
}
