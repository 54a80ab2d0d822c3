//! What a Kafka connection may hold, and for how long: a client that sends and never reads, a
//! broker that never answers while the sidecar drains, and a reload that puts Kafka rules on a
//! port with connections open. The broker is a hand-driven socket, so the test sees every byte
//! it receives.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use sockmesh_tests::kafka_raw::{RawBroker, api_versions, framed, produce_empty};
use sockmesh_tests::proc::rss_kib;
use sockmesh_tests::tansu::kafka_policy;
use sockmesh_tests::{Sidecar, TempDir, free_port, local, wait_until};

/// A sidecar from a config file: one Kafka listener in front of `broker`, the policy `policy`
/// (written to a file it watches), and `limits` / `kafka` (YAML flow mapping entries).
fn sidecar(broker: u16, policy: &str, limits: &str, kafka: &str) -> (Sidecar, u16, TempDir) {
    let dir = TempDir::new("kafka-limits");
    let policy = dir.write("policy.yaml", policy);
    let port = free_port();
    let config = format!(
        "workload: {{ labels: {{ app: test }} }}\npolicies: [{}]\nlisteners:\n- {{ address: 127.0.0.1:{port}, direction: outbound, protocol: kafka, cluster: broker }}\nclusters:\n- {{ name: broker, endpoints: [127.0.0.1:{broker}] }}\nlimits: {{ {limits} }}\nkafka: {{ {kafka} }}\n",
        policy.display(),
    );
    let config = dir.write("sidecar.yaml", &config);
    let sidecar = Sidecar::start(&["--config", &config.display().to_string()]);
    (sidecar, port, dir)
}

/// A client sends 100 denied Produce requests whose denials are 2.6 MB each, and reads
/// nothing. The proxy queues its answers within one frame's worth of bytes (else it would hold
/// them all, 260 MB), and once nothing moves any more it closes the connection after the idle
/// timeout, though answers are owed (before, owed answers switched the idle timeout off and the
/// connection stayed open for good).
#[test]
fn a_client_that_never_reads_holds_bounded_memory_and_is_closed_when_idle() {
    let broker = RawBroker::silent();
    let policy = kafka_policy(broker.port, "{role: produce, topic: orders}");
    let (sidecar, port, _dir) = sidecar(
        broker.port,
        &policy,
        "idleTimeout: 2s",
        "maxRequestBytes: 1100000",
    );
    let pid = sidecar.child.pid();
    let before = rss_kib(pid);
    let request = produce_empty("secret", 120_000, 1);
    assert!(request.len() < 1_100_000 && request.len() > 900_000);
    let mut client = TcpStream::connect(local(port)).expect("connect");
    client.set_read_timeout(Some(Duration::from_secs(20))).ok();
    let mut writer = client.try_clone().expect("clone");
    let sender = std::thread::spawn(move || {
        let mut sent = 0;
        for _ in 0..100 {
            if writer.write_all(&request).is_err() {
                break;
            }
            sent += 1;
        }
        sent
    });
    // The log says so once the proxy gives up on the connection.
    let closed = wait_until(Duration::from_secs(15), || {
        sidecar.logs().contains("idle timeout")
    });
    let peak = rss_kib(pid);
    assert!(
        closed,
        "the connection was never closed:\n{}",
        sidecar.logs()
    );
    let sent = sender.join().expect("sender");
    assert!(
        sent < 100,
        "the proxy read all 100 requests ({sent}) from a client that never reads"
    );
    let grown_mib = peak.saturating_sub(before) / 1024;
    assert!(
        grown_mib < 80,
        "the sidecar grew by {grown_mib} MiB holding answers for a client that never reads"
    );
    assert_eq!(
        broker.received().len(),
        0,
        "a denied Produce reached the broker"
    );
    // What the client then reads ends: the proxy closed its side.
    let mut sink = vec![0u8; 1 << 20];
    let ended = wait_until(Duration::from_secs(10), || {
        matches!(client.read(&mut sink), Ok(0) | Err(_))
    });
    assert!(ended, "the client's connection stayed open");
    // The sidecar still serves.
    assert!(TcpStream::connect(local(port)).is_ok());
}

/// A response is owed when the sidecar is told to stop: it waits for it `drainTimeout` (1 s),
/// not the idle timeout (300 s by default), then exits.
#[test]
fn a_drain_waits_for_owed_responses_no_longer_than_the_drain_timeout() {
    let broker = RawBroker::silent();
    let policy = kafka_policy(broker.port, "{role: produce, topic: orders}");
    let (mut sidecar, port, _dir) = sidecar(broker.port, &policy, "drainTimeout: 1s", "");
    let mut client = TcpStream::connect(local(port)).expect("connect");
    client.write_all(&api_versions(7)).expect("write");
    assert!(
        wait_until(Duration::from_secs(5), || !broker.received().is_empty()),
        "the request never reached the broker"
    );
    let asked = Instant::now();
    sidecar.child.signal(15);
    let exited = wait_until(Duration::from_secs(30), || !sidecar.child.is_running());
    let took = asked.elapsed();
    assert!(
        exited,
        "still running 30 s after SIGTERM:\n{}",
        sidecar.logs()
    );
    assert!(
        took < Duration::from_secs(10),
        "the drain took {took:?} with a 1 s drain timeout:\n{}",
        sidecar.logs()
    );
    let log = sidecar.logs();
    assert!(log.contains("drain timeout"), "{log}");
}

/// A port with plain L4 rules forwards requests the proxy cannot read (an API key nobody
/// knows), as opaque TCP would. A reload that puts Kafka rules on the port applies to open
/// connections too: the next such request ends the connection and never reaches the broker.
#[test]
fn a_reload_adding_kafka_rules_applies_to_open_connections() {
    let broker = RawBroker::silent();
    let l4_only = kafka_policy(broker.port, "").replace("      rules:\n        kafka: []\n", "");
    assert!(!l4_only.contains("kafka:"), "{l4_only}");
    let (sidecar, port, dir) = sidecar(broker.port, &l4_only, "", "");
    let unknown = |id: i32| {
        let mut payload = vec![0x7f, 0x00, 0, 0];
        payload.extend_from_slice(&id.to_be_bytes());
        payload.extend_from_slice(&[0, 1, b'c']);
        framed(&payload)
    };
    let mut client = TcpStream::connect(local(port)).expect("connect");
    client.write_all(&unknown(1)).expect("write");
    let first = unknown(1).len();
    assert!(
        wait_until(Duration::from_secs(5), || broker.received().len() == first),
        "the unknown key was not forwarded on an L4-only port:\n{}",
        sidecar.logs()
    );
    dir.write(
        "policy.yaml",
        &kafka_policy(broker.port, "{role: produce, topic: orders}"),
    );
    sidecar.wait_log("policy reloaded");
    client.write_all(&unknown(2)).expect("write");
    client
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let mut rest = Vec::new();
    // An end of stream or a reset: a read timeout (the connection still open) is neither.
    let closed = match client.read_to_end(&mut rest) {
        Ok(_) => true,
        Err(e) => e.kind() == std::io::ErrorKind::ConnectionReset,
    };
    assert!(closed, "the connection stayed open");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        broker.received().len(),
        first,
        "the broker got a request the new rules cannot read:\n{}",
        sidecar.logs()
    );
    sidecar.wait_log("rules on this port read Kafka requests");
}
