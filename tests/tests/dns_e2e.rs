//! The DNS listener against a real resolver (unbound, `mesh.test.`), with dig and dnspython as
//! clients: allowed names resolve as they do directly, denied names are refused, patterns keep
//! to label boundaries, TCP and truncation work, and answers that are not the resolver's answer
//! to the query in flight never reach the client.

use std::io::{Read, Write};
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration, Instant};

use sockmesh_tests::unbound::{dig_answer, dig_flags, dig_status, dns_query};
use sockmesh_tests::{Sidecar, TempDir, Unbound, dig, free_port, local, metric};

/// Egress DNS policy for a resolver on `port`: `rules` are YAML flow items.
fn dns_policy(port: u16, rules: &str) -> String {
    format!(
        "apiVersion: cilium.io/v2\nkind: CiliumNetworkPolicy\nmetadata: {{name: dns, namespace: test}}\nspec:\n  endpointSelector: {{matchLabels: {{app: test}}}}\n  egress:\n  - toPorts:\n    - ports: [{{port: \"{port}\", protocol: ANY}}]\n      rules:\n        dns: [{rules}]\n"
    )
}

const RULES: &str = "{matchPattern: \"*.allowed.mesh.test\"}, {matchName: alias.mesh.test}, {matchName: big.mesh.test}, {matchName: Short.Mesh.Test.}";

/// A DNS sidecar in front of `resolver`: (sidecar, its DNS address, its files).
fn dns_sidecar(resolver: u16, rules: &str, extra: &[&str]) -> (Sidecar, SocketAddr, TempDir) {
    let mut args = vec![
        "--protocol",
        "dns",
        "--direction",
        "outbound",
        "--label",
        "app=test",
    ];
    args.extend_from_slice(extra);
    let (sidecar, port, dir) = Sidecar::in_front_of(resolver, &dns_policy(resolver, rules), &args);
    (sidecar, local(port), dir)
}

#[test]
fn allowed_names_resolve_as_directly_and_others_are_refused() {
    let unbound = Unbound::start();
    let (sidecar, dns, _dir) = dns_sidecar(unbound.port, RULES, &[]);
    for (name, qtype) in [
        ("api.allowed.mesh.test", "A"),
        ("API.Allowed.MESH.test.", "A"),
        ("alias.mesh.test", "A"),
        ("short.mesh.test", "A"),
        ("nothing.allowed.mesh.test", "A"),
    ] {
        let direct = dig(unbound.addr(), &[name, qtype]);
        let proxied = dig(dns, &[name, qtype]);
        assert_eq!(
            dig_status(&proxied),
            dig_status(&direct),
            "{name}:\n{proxied}"
        );
        let strip_ttl = |v: Vec<String>| -> Vec<String> {
            v.iter()
                .map(|r| {
                    r.split(' ')
                        .enumerate()
                        .filter(|(i, _)| *i != 1)
                        .map(|(_, f)| f)
                        .collect::<Vec<_>>()
                        .join(" ")
                })
                .collect()
        };
        assert_eq!(
            strip_ttl(dig_answer(&proxied)),
            strip_ttl(dig_answer(&direct)),
            "{name}"
        );
    }
    // The CNAME chain comes whole.
    let chain = dig_answer(&dig(dns, &["alias.mesh.test", "A"]));
    assert_eq!(chain.len(), 3, "{chain:?}");
    // Label boundaries: `*.allowed.mesh.test` is one label under allowed.mesh.test, no more, no
    // less; names outside every rule are refused with the question echoed.
    for denied in [
        "allowed.mesh.test",
        "deep.api.allowed.mesh.test",
        "denied.mesh.test",
        "xallowed.mesh.test",
        "api.allowed.mesh.test.evil",
        "target.mesh.test",
    ] {
        let out = dig(dns, &[denied, "A"]);
        assert_eq!(
            dig_status(&out).as_deref(),
            Some("REFUSED"),
            "{denied}:\n{out}"
        );
        assert!(out.contains(";; QUESTION SECTION:"), "{out}");
        assert!(
            out.to_lowercase()
                .contains(&format!(";{}.", denied.to_lowercase())),
            "{out}"
        );
    }
    // dnspython agrees.
    let ok = dns_query(dns, &["api.allowed.mesh.test", "A"]);
    assert!(
        ok.contains("rcode NOERROR") && ok.contains("127.0.0.11"),
        "{ok}"
    );
    let refused = dns_query(dns, &["denied.mesh.test", "A"]);
    assert!(refused.contains("rcode REFUSED"), "{refused}");
    // Each query is logged with its name, type, verdict and rule.
    let logs = sidecar.wait_log("path=\"denied.mesh.test.\"");
    assert!(logs.contains("protocol=\"dns\""), "{logs}");
    assert!(
        logs.lines().any(|l| l.contains("path=\"alias.mesh.test.\"")
            && l.contains("verdict=\"allow\"")
            && l.contains("rules.dns[1]")),
        "{logs}"
    );
    let m = sidecar.metrics();
    assert!(
        metric(
            &m,
            "sockmesh_requests_total{protocol=\"dns\",verdict=\"deny\"}"
        ) >= 7.0,
        "{m}"
    );
    assert!(
        metric(
            &m,
            "sockmesh_requests_total{protocol=\"dns\",verdict=\"allow\"}"
        ) >= 7.0,
        "{m}"
    );
}

#[test]
fn a_denial_can_be_nxdomain() {
    let unbound = Unbound::start();
    let dir = TempDir::new("dns-config");
    let policy = dir.write("p.yaml", &dns_policy(unbound.port, RULES));
    let port = free_port();
    let config = format!(
        "workload: {{ labels: {{ app: test }} }}\npolicies: [{}]\nlisteners:\n- {{ address: 127.0.0.1:{port}, direction: outbound, protocol: dns, cluster: resolver }}\nclusters:\n- {{ name: resolver, endpoints: [127.0.0.1:{}] }}\ndns: {{ rejectResponseCode: nameError }}\n",
        policy.display(),
        unbound.port
    );
    let config = dir.write("sidecar.yaml", &config);
    let sidecar = Sidecar::start(&["--config", &config.display().to_string()]);
    let out = dig(local(port), &["denied.mesh.test", "A"]);
    assert_eq!(dig_status(&out).as_deref(), Some("NXDOMAIN"), "{out}");
    let (_, dump) = sidecar.get("/config_dump");
    assert!(
        dump.contains("\"rejectResponseCode\": \"nameError\""),
        "{dump}"
    );
    let out = dig(local(port), &["api.allowed.mesh.test", "A", "+tcp"]);
    assert_eq!(dig_status(&out).as_deref(), Some("NOERROR"), "{out}");
}

#[test]
fn tcp_queries_truncation_and_the_retry_over_tcp() {
    let unbound = Unbound::start();
    let (_sidecar, dns, _dir) = dns_sidecar(unbound.port, RULES, &[]);
    // A UDP client without EDNS gets the resolver's truncated answer, as from a resolver.
    let udp = dig(dns, &["big.mesh.test", "TXT", "+ignore", "+noedns"]);
    assert!(dig_flags(&udp).contains(&"tc".to_owned()), "{udp}");
    assert!(dig_answer(&udp).is_empty(), "{udp}");
    // A TCP client gets all of it: the proxy asked over UDP, saw TC, and asked again over TCP.
    let tcp = dig(dns, &["big.mesh.test", "TXT", "+tcp"]);
    assert_eq!(dig_status(&tcp).as_deref(), Some("NOERROR"), "{tcp}");
    assert_eq!(dig_answer(&tcp).len(), 30, "{tcp}");
    // Without +ignore dig retries over TCP itself, and gets it all too.
    let retried = dig(dns, &["big.mesh.test", "TXT", "+noedns"]);
    assert_eq!(dig_answer(&retried).len(), 30, "{retried}");
    let py = dns_query(dns, &["big.mesh.test", "TXT", "--tcp"]);
    assert_eq!(
        py.lines().filter(|l| l.starts_with("answer ")).count(),
        30,
        "{py}"
    );
    // Denied over TCP too.
    let denied = dig(dns, &["denied.mesh.test", "A", "+tcp"]);
    assert_eq!(dig_status(&denied).as_deref(), Some("REFUSED"), "{denied}");
}

/// A query for `name` (dotted) with `id`, RD set.
fn query(id: u16, name: &str) -> Vec<u8> {
    let mut q = id.to_be_bytes().to_vec();
    q.extend_from_slice(&[0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0]);
    for label in name.split('.') {
        q.push(label.len() as u8);
        q.extend_from_slice(label.as_bytes());
    }
    q.extend_from_slice(&[0, 0, 1, 0, 1]);
    q
}

/// The answer to `q` with `rcode`, its id replaced by `id`.
fn answer(q: &[u8], id: u16, rcode: u8) -> Vec<u8> {
    let mut a = q.to_vec();
    a[..2].copy_from_slice(&id.to_be_bytes());
    a[2] |= 0x80;
    a[3] = 0x80 | rcode;
    a
}

#[test]
fn answers_that_are_not_the_answer_to_the_query_never_reach_the_client() {
    // A hand-driven resolver: the test decides what it answers, and from where.
    let resolver = UdpSocket::bind("127.0.0.1:0").expect("resolver socket");
    resolver
        .set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    let rport = resolver.local_addr().expect("addr").port();
    let (sidecar, dns, _dir) = dns_sidecar(rport, "{matchPattern: \"*.mesh.test\"}", &[]);
    let client = UdpSocket::bind("127.0.0.1:0").expect("client socket");
    client
        .set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    client
        .send_to(&query(0x4242, "a.mesh.test"), dns)
        .expect("send");
    let mut buf = [0u8; 1500];
    let (n, proxy) = resolver
        .recv_from(&mut buf)
        .expect("the query reaches the resolver");
    let sent = buf[..n].to_vec();
    assert_eq!(&sent[..2], &[0x42, 0x42], "the client's id is kept");
    let wire_id = u16::from_be_bytes([sent[0], sent[1]]);
    // Wrong id; the right id for another question; the right answer from another port.
    resolver
        .send_to(&answer(&sent, wire_id ^ 1, 3), proxy)
        .expect("send");
    resolver
        .send_to(&answer(&query(wire_id, "b.mesh.test"), wire_id, 3), proxy)
        .expect("send");
    let stranger = UdpSocket::bind("127.0.0.1:0").expect("stranger");
    stranger
        .send_to(&answer(&sent, wire_id, 3), proxy)
        .expect("send");
    // A response sent straight at the listener.
    client
        .send_to(&answer(&query(0x4242, "a.mesh.test"), 0x4242, 3), dns)
        .expect("send");
    assert!(
        client.recv(&mut buf).is_err(),
        "nothing but the real answer may arrive"
    );
    // The real answer (NOERROR) arrives, once.
    resolver
        .send_to(&answer(&sent, wire_id, 0), proxy)
        .expect("send");
    let n = client.recv(&mut buf).expect("the answer");
    assert_eq!(&buf[..2], &[0x42, 0x42]);
    assert_eq!(
        buf[3] & 0x0f,
        0,
        "NOERROR: the real answer, not a spoofed NXDOMAIN"
    );
    assert_eq!(n, sent.len());
    resolver
        .send_to(&answer(&sent, wire_id, 3), proxy)
        .expect("a late duplicate");
    assert!(client.recv(&mut buf).is_err(), "a late answer is dropped");
    let m = sidecar.metrics();
    assert!(
        metric(&m, "sockmesh_dns_answers_dropped_total") >= 3.0,
        "{m}"
    );
}

#[test]
fn pipelined_tcp_queries_are_answered_as_the_resolver_answers_them() {
    // RFC 7766: a slow name must not hold up the queries a TCP client sent behind it.
    let resolver = UdpSocket::bind("127.0.0.1:0").expect("resolver socket");
    resolver
        .set_read_timeout(Some(Duration::from_secs(3)))
        .expect("timeout");
    let rport = resolver.local_addr().expect("addr").port();
    let (_sidecar, dns, _dir) = dns_sidecar(rport, "{matchPattern: \"*.mesh.test\"}", &[]);
    let mut tcp = std::net::TcpStream::connect(dns).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut both = Vec::new();
    for (id, name) in [(1u16, "slow.mesh.test"), (2, "fast.mesh.test")] {
        let q = query(id, name);
        both.extend_from_slice(&(q.len() as u16).to_be_bytes());
        both.extend_from_slice(&q);
    }
    tcp.write_all(&both).expect("write both queries at once");
    let mut upstream = Vec::new();
    for _ in 0..2 {
        let mut buf = [0u8; 1500];
        let (n, from) = resolver
            .recv_from(&mut buf)
            .expect("both queries reach the resolver before either is answered");
        upstream.push((buf[..n].to_vec(), from));
    }
    upstream.sort_by_key(|(q, _)| u16::from_be_bytes([q[0], q[1]]));
    let read_id = |tcp: &mut std::net::TcpStream| {
        let mut len = [0u8; 2];
        tcp.read_exact(&mut len).expect("an answer");
        let mut a = vec![0u8; usize::from(u16::from_be_bytes(len))];
        tcp.read_exact(&mut a).expect("the answer");
        u16::from_be_bytes([a[0], a[1]])
    };
    let (fast, from) = &upstream[1];
    resolver.send_to(&answer(fast, 2, 0), from).expect("send");
    assert_eq!(read_id(&mut tcp), 2, "the fast name's answer comes first");
    let (slow, from) = &upstream[0];
    resolver.send_to(&answer(slow, 1, 0), from).expect("send");
    assert_eq!(read_id(&mut tcp), 1);
}

#[test]
fn an_unanswered_query_gets_servfail_and_garbage_gets_formerr_or_nothing() {
    let silent = UdpSocket::bind("127.0.0.1:0").expect("silent resolver");
    let rport = silent.local_addr().expect("addr").port();
    let (sidecar, dns, _dir) = dns_sidecar(rport, "{matchPattern: \"*\"}", &[]);
    let start = Instant::now();
    let out = dig(dns, &["slow.mesh.test", "A", "+time=5"]);
    assert_eq!(dig_status(&out).as_deref(), Some("SERVFAIL"), "{out}");
    let took = start.elapsed();
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_secs(4),
        "{took:?}"
    );
    let client = UdpSocket::bind("127.0.0.1:0").expect("client");
    client
        .set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    let mut buf = [0u8; 512];
    // Too short for a header: dropped.
    client.send_to(b"\x01\x02\x03", dns).expect("send");
    assert!(client.recv(&mut buf).is_err());
    // A header claiming a question that is not there: FORMERR with its id.
    client
        .send_to(&[0xab, 0xcd, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 5, b'a'], dns)
        .expect("send");
    let n = client.recv(&mut buf).expect("FORMERR");
    assert_eq!(
        (&buf[..2], buf[3] & 0x0f, n >= 12),
        (&[0xab, 0xcd][..], 1, true)
    );
    // The listener still serves.
    let out = dig(dns, &["x.mesh.test", "A", "+time=5"]);
    assert_eq!(dig_status(&out).as_deref(), Some("SERVFAIL"), "{out}");
    let logs = sidecar.wait_log("note=\"SERVFAIL timeout\"");
    assert!(logs.contains("FORMERR"), "{logs}");
}

#[test]
fn queries_in_flight_are_capped_per_client_and_in_all() {
    let silent = UdpSocket::bind("127.0.0.1:0").expect("silent resolver");
    let rport = silent.local_addr().expect("addr").port();
    let dir = TempDir::new("dns-caps");
    let policy = dir.write("p.yaml", &dns_policy(rport, "{matchPattern: \"*\"}"));
    let port = free_port();
    let config = format!(
        "workload: {{ labels: {{ app: test }} }}\npolicies: [{}]\nlisteners:\n- {{ address: 127.0.0.1:{port}, direction: outbound, protocol: dns, cluster: resolver }}\nclusters:\n- {{ name: resolver, endpoints: [127.0.0.1:{rport}] }}\ndns: {{ maxInflightPerClient: 2, maxInflight: 3, queryTimeout: 5s }}\n",
        policy.display(),
    );
    let config = dir.write("sidecar.yaml", &config);
    let sidecar = Sidecar::start(&["--config", &config.display().to_string()]);
    let dns = local(port);
    let mut buf = [0u8; 512];
    let servfail_at_once = |client: &UdpSocket, id: u16| {
        client
            .send_to(&query(id, "x.mesh.test"), dns)
            .expect("send");
        client.recv(&mut [0u8; 512]).unwrap_or(0)
    };
    let a = UdpSocket::bind("127.0.0.1:0").expect("client a");
    a.set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    // Two of a's queries wait for the resolver; the third is over a's cap.
    for id in [1, 2] {
        a.send_to(&query(id, "x.mesh.test"), dns).expect("send");
    }
    assert!(
        a.recv(&mut buf).is_err(),
        "the first two wait for the resolver"
    );
    assert!(
        servfail_at_once(&a, 3) >= 12,
        "over the per-client cap: an answer at once"
    );
    // Another client still gets in, until the listener's cap (3) is reached.
    let b = UdpSocket::bind("127.0.0.1:0").expect("client b");
    b.set_read_timeout(Some(Duration::from_millis(500)))
        .expect("timeout");
    b.send_to(&query(4, "x.mesh.test"), dns).expect("send");
    assert!(b.recv(&mut buf).is_err(), "b's first query waits");
    assert!(servfail_at_once(&b, 5) >= 12, "over the listener's cap");
    let mut answer = [0u8; 512];
    b.send_to(&query(6, "x.mesh.test"), dns).expect("send");
    let n = b.recv(&mut answer).expect("SERVFAIL");
    assert_eq!(
        (answer[3] & 0x0f, &answer[..2], n >= 12),
        (2, &[0u8, 6][..], true)
    );
    let m = sidecar.metrics();
    assert!(metric(&m, "sockmesh_dns_overflow_total") >= 3.0, "{m}");
    let mut received = 0;
    silent
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    while silent.recv(&mut buf).is_ok() {
        received += 1;
    }
    assert_eq!(
        received, 3,
        "only the queries within the caps reached the resolver"
    );
    // Over TCP: a client that pipelines gets two queries to the resolver (its cap); the third
    // and fourth wait unread. A second client fills the TCP exchanges' cap (3) with one more,
    // and its next query gets SERVFAIL at once.
    let pipelined = |ids: &[u16]| {
        let mut tcp = std::net::TcpStream::connect(dns).expect("connect");
        tcp.set_read_timeout(Some(Duration::from_millis(500)))
            .expect("timeout");
        for &id in ids {
            let q = query(id, "x.mesh.test");
            tcp.write_all(&(q.len() as u16).to_be_bytes())
                .expect("write");
            tcp.write_all(&q).expect("write");
        }
        tcp
    };
    let mut c = pipelined(&[11, 12, 13, 14]);
    assert!(c.read(&mut buf).is_err(), "c's queries wait");
    let mut d = pipelined(&[21, 22]);
    let mut answer = [0u8; 14];
    d.read_exact(&mut answer).expect("SERVFAIL at once");
    assert_eq!((answer[5] & 0x0f, &answer[2..4]), (2, &[0u8, 22][..]));
    let mut received = 0;
    while silent.recv(&mut buf).is_ok() {
        received += 1;
    }
    assert_eq!(received, 3, "the TCP queries within the caps");
}

#[test]
fn odd_types_and_classes_pass_and_broken_tcp_framing_closes_only_its_connection() {
    let unbound = Unbound::start();
    let (_sidecar, dns, _dir) = dns_sidecar(unbound.port, RULES, &[]);
    // Types and classes the proxy has no name for are forwarded as they are.
    for args in [
        &["api.allowed.mesh.test", "TYPE65000"][..],
        &["api.allowed.mesh.test", "-c", "CH", "TXT"][..],
        &["api.allowed.mesh.test", "ANY", "+tcp"][..],
    ] {
        let direct = dig(unbound.addr(), args);
        let proxied = dig(dns, args);
        assert_eq!(
            dig_status(&proxied),
            dig_status(&direct),
            "{args:?}:\n{proxied}"
        );
    }
    // A TCP length prefix promising more than ever comes: the connection is closed when the
    // client gives up, and the listener goes on.
    let mut tcp = std::net::TcpStream::connect(dns).expect("connect");
    tcp.write_all(&[0x10, 0x00, 0xab, 0xcd]).expect("write");
    tcp.shutdown(std::net::Shutdown::Write).expect("shutdown");
    tcp.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut rest = Vec::new();
    let _ = tcp.read_to_end(&mut rest);
    assert!(rest.is_empty(), "no answer to half a message: {rest:?}");
    // Several messages on one connection, one of them garbage: each answered (FORMERR for the
    // garbage, in whatever order the answers are ready), the connection kept.
    let mut tcp = std::net::TcpStream::connect(dns).expect("connect");
    tcp.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let good = query(0x0101, "api.allowed.mesh.test");
    let garbage = [
        0x0202u16.to_be_bytes().as_slice(),
        &[1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0xc0, 12, 0, 1, 0, 1],
    ]
    .concat();
    for m in [&good, &garbage, &good] {
        tcp.write_all(&(m.len() as u16).to_be_bytes())
            .expect("write");
        tcp.write_all(m).expect("write");
    }
    let mut rcodes = Vec::new();
    for _ in 0..3 {
        let mut len = [0u8; 2];
        tcp.read_exact(&mut len).expect("an answer");
        let mut answer = vec![0u8; usize::from(u16::from_be_bytes(len))];
        tcp.read_exact(&mut answer).expect("the answer");
        rcodes.push((u16::from_be_bytes([answer[0], answer[1]]), answer[3] & 0x0f));
    }
    rcodes.sort_unstable();
    assert_eq!(rcodes, [(0x0101, 0), (0x0101, 0), (0x0202, 1)]);
}

#[test]
fn a_resolver_that_is_not_there_gets_servfail_within_a_tick() {
    let closed = free_port();
    let (_sidecar, dns, _dir) = dns_sidecar(closed, "{matchPattern: \"*\"}", &[]);
    let start = Instant::now();
    let out = dig(dns, &["x.mesh.test", "A", "+time=5"]);
    assert_eq!(dig_status(&out).as_deref(), Some("SERVFAIL"), "{out}");
    // The kernel's port-unreachable fails the query within a tick, not at dns.queryTimeout
    // (2 s): the proxy looks at its resolver sockets' errors every 50 ms.
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );
    // The listener goes on serving.
    let out = dig(dns, &["y.mesh.test", "A", "+time=5"]);
    assert_eq!(dig_status(&out).as_deref(), Some("SERVFAIL"), "{out}");
}
