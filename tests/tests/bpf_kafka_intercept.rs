//! Kafka under interception: unmodified Kafka clients (librdkafka 2.16 through confluent-kafka
//! and kcat, and kafka-python 3) in the pod cgroup dial the broker's own address (tansu at a
//! remote-looking address of the test's network namespace); cgroup/connect4 sends each of their
//! connections to the sidecar's outbound listener (a `kafka` one, or a `detect` one that reads
//! the port as Kafka by its rules), which checks every request against `rules.kafka` and
//! forwards it to the original destination. What policy allows is produced and
//! consumed intact, a denied topic gets TOPIC_AUTHORIZATION_FAILED from the sidecar, nothing in
//! the answers is rewritten (the clients see the broker's own address in Metadata), and every
//! connection the broker gets is the sidecar's.

use std::io::BufRead;
use std::net::SocketAddr;
use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::json;
use sockmesh_tests::bpf::{
    Netns, PodSidecar, TestCgroup, bpf_status, peer_cmd, pin_dir, require_root, run_ok,
};
use sockmesh_tests::kafka_raw::{
    answering_via, exchange_via, fetch_by_id, metadata_all, metadata_naming, read_fetch,
    read_metadata,
};
use sockmesh_tests::tansu::{
    client_errors, kafka_client_via, kafka_policy, kcat_command, kcat_run,
};
use sockmesh_tests::{Child, Tansu, TempDir, output_text, require, wait_until};

/// The broker's own address, inside the test's network namespace.
const BROKER: &str = "10.99.0.9:9092";

const ORDERS: &str = "{role: produce, topic: orders}, {role: consume, topic: orders}";

const CLIENTS: [&str; 2] = ["confluent", "kafka-python"];

fn broker_addr() -> SocketAddr {
    BROKER.parse().expect("the broker's address")
}

/// A sidecar in the pod with one outbound listener of `protocol` for intercepted connections
/// (its `--upstream` is the discard port: every connection here goes to its original
/// destination).
fn sidecar(
    ns: &Netns,
    cg: &TestCgroup,
    pin: &std::path::Path,
    policy: &str,
    protocol: &str,
) -> PodSidecar {
    let (pin_s, cg_s) = (pin.display().to_string(), cg.arg());
    let s = PodSidecar::start(
        Some(ns),
        cg,
        15000,
        &[
            "--listen",
            "127.0.0.1:15001",
            "--upstream",
            "127.0.0.1:9",
            "--protocol",
            protocol,
            "--direction",
            "outbound",
            "--label",
            "app=test",
            "--policy",
            policy,
            "--bpf-cgroup",
            &cg_s,
            "--bpf-pin-path",
            &pin_s,
            "--intercept",
        ],
    );
    s.wait_log("acceleration on");
    s
}

/// A command prefix running what is appended to it in the pod: its namespace and cgroup.
fn in_pod(ns: &Netns, cg: &TestCgroup) -> Command {
    peer_cmd(Some(ns), Some(cg), &["exec"])
}

/// `ss -Htnp state established dst ADDR` in `ns`: the sockets connected to `addr`, each with
/// the process that holds it.
fn connected_to(ns: &Netns, addr: &str) -> Vec<String> {
    let out = run_ok(
        ns.cmd("ss")
            .args(["-Htnp", "state", "established", "dst", addr]),
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn kafka_clients_in_the_pod_are_intercepted_checked_and_see_the_brokers_own_address() {
    intercepted_kafka("kafka", "kafka");
}

/// The pod's one outbound listener in a real deployment detects each connection's protocol;
/// a port whose rules hold `kafka` is read as Kafka there too.
#[test]
fn a_detecting_listener_reads_intercepted_kafka_by_the_ports_rules() {
    intercepted_kafka("detect", "kafkad");
}

/// The whole check with the sidecar's listener of `protocol`; `tag` names the test's
/// namespace, cgroup and pins.
fn intercepted_kafka(protocol: &str, tag: &str) {
    require_root();
    require("ss", "apt-get install -y iproute2");
    let ns = Netns::new(tag);
    ns.add_lo_address("10.99.0.9/32");
    let cg = TestCgroup::new(tag);
    let pin = pin_dir(tag);
    let dir = TempDir::new(tag);
    let broker = Tansu::start_in_netns(&ns.0, broker_addr());
    broker.create_topic("orders");
    broker.create_topic("secret");
    let policy = dir.write("policy.yaml", &kafka_policy(9092, ORDERS));
    let sc = sidecar(&ns, &cg, &pin, &policy.display().to_string(), protocol);
    let client = |lib: &str, op: &str, args: &[&str]| {
        kafka_client_via(Some(in_pod(&ns, &cg)), lib, op, broker_addr(), args)
    };

    for lib in CLIENTS {
        let produced = client(lib, "produce", &["orders", "100", "--sizes", "9,100,10000"]);
        assert_eq!(
            produced["delivered"],
            100,
            "{lib}: {produced}\n{}",
            sc.logs()
        );
        let denied = client(lib, "produce", &["secret", "5", "--timeout", "8"]);
        assert_eq!(denied["delivered"], 0, "{lib}: {denied}");
        assert!(
            client_errors(&denied)
                .iter()
                .any(|e| e.contains("TOPIC_AUTHORIZATION_FAILED")),
            "{lib}: {denied}\n{}",
            sc.logs()
        );
    }
    for lib in CLIENTS {
        let got = client(lib, "consume", &["orders", "200"]);
        assert_eq!(got["received"], 200, "{lib}: {got}\n{}", sc.logs());
        assert_eq!(got["intact"], true, "{lib}: {got}");
    }
    // Nothing is rewritten: the clients are told the broker's own address, and a denied topic
    // is left out of the list (kafka.filterMetadata), as in explicit mode.
    for lib in CLIENTS {
        let md = client(lib, "metadata", &[]);
        assert_eq!(md["brokers"], json!([BROKER]), "{lib}: {md}\n{}", sc.logs());
        let topics = md["topics"].as_array().cloned().unwrap_or_default();
        assert!(
            topics.contains(&json!("orders")) && !topics.contains(&json!("secret")),
            "{lib}: {md}"
        );
    }
    let mut listing = kcat_command(Some(in_pod(&ns, &cg)));
    listing.args(["-L", "-b", BROKER, "-m", "10"]);
    let listing = kcat_run(listing, b"", Duration::from_secs(30));
    let text = output_text(&listing);
    assert!(listing.status.success(), "kcat -L: {text}");
    // `broker 111 at 10.99.0.9:9092 (controller)`: tansu is node 111.
    let brokers: Vec<&str> = text
        .lines()
        .filter_map(|l| l.trim().strip_prefix("broker ")?.split(" at ").nth(1))
        .collect();
    assert_eq!(brokers, [format!("{BROKER} (controller)")], "{text}");

    // The requests went through the sidecar, which read them: one access-log line each.
    let logs = sc.wait_log("path=\"secret\"");
    let kafka_line = |method: &str, topic: &str, verdict: &str| {
        logs.lines().any(|l| {
            l.contains(&format!("method=\"{method} v"))
                && l.contains(&format!("path=\"{topic}\""))
                && l.contains(&format!("verdict=\"{verdict}\""))
        })
    };
    assert!(kafka_line("Produce", "orders", "allow"), "{logs}");
    assert!(kafka_line("Fetch", "orders", "allow"), "{logs}");
    assert!(kafka_line("Metadata", "secret", "deny"), "{logs}");
    // Forwarded to the original destination, never to the listener's cluster (`-`: the
    // sidecar answered a denied request itself).
    let upstreams: Vec<&str> = logs
        .lines()
        .filter(|l| l.contains("protocol=\"kafka\""))
        .filter_map(|l| l.split(" upstream=").nth(1)?.split(' ').next())
        .collect();
    assert!(
        upstreams.contains(&BROKER) && upstreams.iter().all(|u| [BROKER, "-"].contains(u)),
        "{logs}"
    );

    // While a consumer in the pod is connected, every connection the broker has is the
    // sidecar's, and the consumer's own connections end at the sidecar's listener.
    let mut consumer = kcat_command(Some(in_pod(&ns, &cg)));
    consumer
        .args(["-C", "-u", "-b", BROKER, "-t", "orders", "-o", "beginning"])
        .args(["-X", "fetch.wait.max.ms=1", "-f", "%o\\n"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut consumer = Child::spawn(&mut consumer);
    let stdout = consumer.0.stdout.take().expect("kcat's stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    // The first offset it prints, then the rest drained (a closed pipe would end kcat).
    std::thread::spawn(move || {
        let mut out = std::io::BufReader::new(stdout);
        let mut first = String::new();
        let _ = out.read_line(&mut first);
        let _ = tx.send(first);
        let _ = std::io::copy(&mut out, &mut std::io::sink());
    });
    let first = rx.recv_timeout(Duration::from_secs(30));
    assert_eq!(
        first.as_deref().map(str::trim),
        Ok("0"),
        "kcat -C printed no first offset:\n{}",
        sc.logs()
    );
    let broker_side = connected_to(&ns, BROKER);
    assert!(!broker_side.is_empty(), "nothing connected to the broker");
    assert!(
        broker_side.iter().all(|l| l.contains("\"sockmesh\"")),
        "a connection to the broker not from the sidecar:\n{}",
        broker_side.join("\n")
    );
    let app_side = wait_until(Duration::from_secs(5), || {
        connected_to(&ns, "127.0.0.1:15001")
            .iter()
            .any(|l| l.contains("\"kcat\""))
    });
    assert!(
        app_side,
        "kcat is not connected to the sidecar:\n{}",
        connected_to(&ns, "127.0.0.1:15001").join("\n")
    );
    drop(consumer);

    let (c, text) = bpf_status(&pin);
    assert!(
        c["connects_outbound"] >= 10,
        "connects were not rewritten:\n{text}"
    );
    assert!(c["orig_dst_published"] >= 10, "{text}");
    assert!(
        c["connects_exempt"] >= 10,
        "the sidecar's connects to the broker were not exempt:\n{text}"
    );
    drop(sc);
    drop(broker);
}

/// The rogue server's address: the app's rules let it reach any server on port 9092.
const ROGUE: &str = "10.99.0.66:9092";

/// Under interception one listener carries the app's connections to every Kafka server its
/// rules let it reach, and any of them can answer Metadata. A server the app controls names
/// the real cluster's `secret` topic id `orders`; a Fetch by that id to the real broker must
/// not be judged as `orders` (before, ids were kept per listener, and the Fetch returned the
/// secret topic's records). Ids are now kept per destination: the broker never named the id,
/// so the Fetch gets UNKNOWN_TOPIC_ID.
#[test]
fn a_server_the_app_reaches_cannot_rename_the_real_clusters_topic_ids() {
    require_root();
    let ns = Netns::new("kafkaid");
    ns.add_lo_address("10.99.0.9/32");
    ns.add_lo_address("10.99.0.66/32");
    let cg = TestCgroup::new("kafkaid");
    let pin = pin_dir("kafkaid");
    let dir = TempDir::new("kafkaid");
    let broker = Tansu::start_in_netns(&ns.0, broker_addr());
    broker.create_topic("orders");
    broker.create_topic("secret");
    // Outside the pod (not intercepted): records in `secret`, and its id, straight from the
    // broker, so the sidecar never sees them.
    let outside = || peer_cmd(Some(&ns), None, &["exec"]);
    let wrote = kafka_client_via(
        Some(outside()),
        "confluent",
        "produce",
        broker_addr(),
        &["secret", "3"],
    );
    assert_eq!(wrote["delivered"], 3, "{wrote}");
    let md = exchange_via(outside(), BROKER, &metadata_all(1)).expect("the broker's metadata");
    let secret = read_metadata(&md)
        .topics
        .iter()
        .find(|t| t.name.as_ref().is_some_and(|n| n.0.as_str() == "secret"))
        .map(|t| t.topic_id)
        .expect("the broker names `secret`");
    let _rogue = answering_via(
        outside(),
        ROGUE,
        &metadata_naming("10.99.0.66", 9092, "orders", secret),
    );
    let policy = dir.write("policy.yaml", &kafka_policy(9092, ORDERS));
    let sc = sidecar(&ns, &cg, &pin, &policy.display().to_string(), "kafka");

    // The app asks the rogue for metadata, through the sidecar, which reads the answer...
    let lie = exchange_via(in_pod(&ns, &cg), ROGUE, &metadata_all(2)).expect("the rogue's answer");
    let named: Vec<_> = read_metadata(&lie)
        .topics
        .iter()
        .map(|t| (t.name.as_ref().map(|n| n.0.to_string()), t.topic_id))
        .collect();
    assert_eq!(
        named,
        [(Some("orders".to_owned()), secret)],
        "{}",
        sc.logs()
    );
    // ...then fetches that id from the real broker.
    let fetched = exchange_via(in_pod(&ns, &cg), BROKER, &fetch_by_id(secret, 3))
        .expect("an answer to the Fetch");
    let log = sc.wait_log("method=\"Fetch v13\"");
    let line = log
        .lines()
        .find(|l| l.contains("method=\"Fetch v13\""))
        .unwrap_or_default();
    assert!(
        line.contains("verdict=\"deny\"") && line.contains("status=100"),
        "the Fetch by the renamed id was let through: {line}"
    );
    let fetch = read_fetch(&fetched);
    let partitions: Vec<(i16, usize)> = fetch
        .responses
        .iter()
        .flat_map(|t| &t.partitions)
        .map(|p| (p.error_code, p.records.as_ref().map_or(0, |r| r.len())))
        .collect();
    assert_eq!(partitions, [(100, 0)], "UNKNOWN_TOPIC_ID and no records");
}
