//! The Kafka listener between real clients (librdkafka 2.16 through confluent-kafka, and
//! kafka-python 3) and a real broker (tansu): what policy allows arrives intact and in order,
//! what it denies is refused with the authorization error each client surfaces, and the broker
//! receives nothing policy did not see.

use std::net::SocketAddr;
use std::time::Duration;

use serde_json::json;
use sockmesh_tests::tansu::{KAFKA_SIDECAR, client_errors, kafka_policy};
use sockmesh_tests::{Sidecar, Tansu, TempDir, kafka_client, local, metric, wait_until};

const CLIENTS: [&str; 2] = ["confluent", "kafka-python"];

/// A broker (advertising its own address, as brokers do) and a sidecar in front of it
/// enforcing `rules`: (broker, sidecar, the sidecar's address, its files). The sidecar's
/// listener port is followed by free ports for the listeners it opens in front of each broker
/// (port + 1 + node id).
fn kafka_pair(rules: &str, topics: &[&str]) -> (Tansu, Sidecar, SocketAddr, TempDir) {
    let broker = Tansu::start();
    for t in topics {
        broker.create_topic(t);
    }
    let dir = TempDir::new("kafka");
    let policy = dir.write("policy.yaml", &kafka_policy(broker.port, rules));
    let (sidecar, port) = Sidecar::with_policy_file(broker.port, &policy, KAFKA_SIDECAR);
    (broker, sidecar, local(port), dir)
}

const ORDERS: &str = "{role: produce, topic: orders}, {role: consume, topic: orders}";

#[test]
fn allowed_topics_are_produced_and_consumed_intact_and_denied_ones_refused() {
    let (broker, sidecar, addr, _dir) = kafka_pair(ORDERS, &["orders", "secret"]);
    for lib in CLIENTS {
        let produced = kafka_client(
            lib,
            "produce",
            addr,
            &["orders", "200", "--sizes", "9,100,10000"],
        );
        assert_eq!(
            produced["delivered"],
            200,
            "{lib}: {produced}\n{}",
            sidecar.logs()
        );
        let denied = kafka_client(lib, "produce", addr, &["secret", "5", "--timeout", "8"]);
        assert_eq!(denied["delivered"], 0, "{lib}: {denied}");
        assert!(
            client_errors(&denied)
                .iter()
                .any(|e| e.contains("TOPIC_AUTHORIZATION_FAILED")),
            "{lib}: {denied}\n{}",
            sidecar.logs()
        );
    }
    // Each client reads back the 400 messages (its own and the other's) whole.
    for lib in CLIENTS {
        let got = kafka_client(lib, "consume", addr, &["orders", "400"]);
        assert_eq!(got["received"], 400, "{lib}: {got}\n{}", sidecar.logs());
        assert_eq!(got["intact"], true, "{lib}: {got}");
        // A consumer assigned a partition (no group) of a denied topic: its Metadata gets
        // TOPIC_AUTHORIZATION_FAILED for the topic, so it finds no leader to fetch from. Neither
        // client raises that to the app for assigned partitions (as against a broker with ACLs):
        // the sidecar's refusal is in its log.
        let denied = kafka_client(lib, "consume", addr, &["secret", "1", "--timeout", "4"]);
        assert_eq!(denied["received"], 0, "{lib}: {denied}");
    }
    let refused = |logs: &str| {
        logs.lines().any(|l| {
            l.contains("method=\"Metadata v")
                && l.contains("path=\"secret\"")
                && l.contains("verdict=\"deny\"")
                && l.contains("status=29")
        })
    };
    let logged = wait_until(Duration::from_secs(5), || refused(&sidecar.logs()));
    assert!(logged, "{}", sidecar.logs());
    // Neither client was ever told the broker's own address: each broker is a sidecar port.
    for lib in CLIENTS {
        let md = kafka_client(lib, "metadata", addr, &[]);
        // And a denied topic is not even listed (kafka.filterMetadata), an allowed one is.
        let topics = md["topics"].as_array().cloned().unwrap_or_default();
        assert!(
            topics.contains(&json!("orders")) && !topics.contains(&json!("secret")),
            "{lib}: {md}"
        );
        let brokers = md["brokers"].as_array().cloned().unwrap_or_default();
        assert!(!brokers.is_empty(), "{lib}: {md}");
        for b in &brokers {
            assert_ne!(
                b.as_str(),
                Some(broker.addr().to_string().as_str()),
                "{lib}: {md}"
            );
            let port: u16 = b
                .as_str()
                .and_then(|s| s.rsplit(':').next()?.parse().ok())
                .unwrap_or(0);
            assert!(
                port > addr.port(),
                "{lib}: a sidecar port after the listener's: {md}"
            );
        }
    }
    // Nothing of the denied produce reached the broker: the topic is empty.
    let direct = kafka_client(
        "confluent",
        "consume",
        broker.addr(),
        &["secret", "1", "--timeout", "3"],
    );
    assert_eq!(direct["received"], 0, "{direct}");
    let m = sidecar.metrics();
    assert!(
        metric(
            &m,
            "sockmesh_requests_total{protocol=\"kafka\",verdict=\"deny\"}"
        ) >= 2.0,
        "{m}"
    );
    assert!(
        metric(&m, "sockmesh_kafka_requests_total{api_key=\"Produce\"}") >= 2.0,
        "{m}"
    );
}

#[test]
fn a_consumer_group_works_for_an_allowed_topic_and_is_refused_for_a_denied_one() {
    let (_broker, sidecar, addr, _dir) = kafka_pair(ORDERS, &["orders", "secret"]);
    let produced = kafka_client("confluent", "produce", addr, &["orders", "50"]);
    assert_eq!(produced["delivered"], 50, "{produced}");
    for (lib, group) in [("confluent", "g-c"), ("kafka-python", "g-k")] {
        let got = kafka_client(lib, "consume", addr, &["orders", "50", "--group", group]);
        assert_eq!(
            (got["received"].clone(), got["in_order"].clone()),
            (json!(50), json!(true)),
            "{lib}: {got}\n{}",
            sidecar.logs()
        );
        assert_eq!(client_errors(&got), Vec::<String>::new(), "{lib}: {got}");
        let denied = kafka_client(
            lib,
            "consume",
            addr,
            &["secret", "1", "--group", group, "--timeout", "8"],
        );
        assert_eq!(denied["received"], 0, "{lib}: {denied}");
        assert!(
            client_errors(&denied)
                .iter()
                .any(|e| e.contains("AUTHORIZATION_FAILED")),
            "{lib}: {denied}\n{}",
            sidecar.logs()
        );
    }
}

#[test]
fn a_client_id_rule_allows_one_client_and_refuses_another() {
    let rules = "{role: produce, topic: orders, clientID: billing}";
    let (_broker, sidecar, addr, _dir) = kafka_pair(rules, &["orders"]);
    for lib in CLIENTS {
        let ok = kafka_client(
            lib,
            "produce",
            addr,
            &["orders", "10", "--client-id", "billing"],
        );
        assert_eq!(ok["delivered"], 10, "{lib}: {ok}\n{}", sidecar.logs());
        let other = kafka_client(
            lib,
            "produce",
            addr,
            &["orders", "1", "--client-id", "intruder", "--timeout", "8"],
        );
        // Refused at its first request (kafka-python's bootstrap), or at the produce.
        assert_eq!(
            other["delivered"].as_u64().unwrap_or(0),
            0,
            "{lib}: {other}"
        );
        assert!(!client_errors(&other).is_empty(), "{lib}: {other}");
    }
    let logs = sidecar.wait_log("intruder");
    assert!(
        logs.contains("Produce v") || logs.contains("Metadata v"),
        "{logs}"
    );
}

#[test]
fn ten_thousand_messages_of_mixed_sizes_arrive_complete_and_in_order() {
    let (_broker, sidecar, addr, _dir) = kafka_pair(ORDERS, &["orders"]);
    let produced = kafka_client(
        "confluent",
        "produce",
        addr,
        &[
            "orders",
            "10000",
            "--sizes",
            "9,100,1000,10000,300",
            "--timeout",
            "60",
        ],
    );
    assert_eq!(
        produced["delivered"],
        10000,
        "{produced}\n{}",
        sidecar.logs()
    );
    for lib in CLIENTS {
        let got = kafka_client(
            lib,
            "consume",
            addr,
            &["orders", "10000", "--timeout", "60"],
        );
        assert_eq!(
            (
                got["received"].clone(),
                got["in_order"].clone(),
                got["intact"].clone()
            ),
            (json!(10000), json!(true), json!(true)),
            "{lib}: {got}"
        );
    }
}

#[test]
fn a_topic_id_nobody_learned_gets_unknown_topic_id_not_a_blind_pass() {
    use kafka_protocol::messages::{FetchResponse, ResponseHeader};
    use kafka_protocol::protocol::Decodable;
    use std::io::{Read, Write};
    let (_broker, sidecar, addr, _dir) = kafka_pair(ORDERS, &["orders"]);
    let mut c = std::net::TcpStream::connect(addr).expect("connect");
    c.set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .expect("timeout");
    let id = uuid::Uuid::from_u128(0x5eb1_5eb1);
    c.write_all(&sockmesh_tests::kafka_raw::fetch_by_id(id, 5))
        .expect("write");
    let mut len = [0u8; 4];
    c.read_exact(&mut len).expect("an answer");
    let mut payload = vec![0u8; i32::from_be_bytes(len) as usize];
    c.read_exact(&mut payload).expect("the answer");
    let mut buf = bytes::Bytes::from(payload);
    let header = ResponseHeader::decode(&mut buf, 1).expect("header");
    let fetch = FetchResponse::decode(&mut buf, 13).expect("a Fetch v13 response");
    assert_eq!(header.correlation_id, 5);
    let codes: Vec<(uuid::Uuid, i16)> = fetch
        .responses
        .iter()
        .flat_map(|t| t.partitions.iter().map(move |p| (t.topic_id, p.error_code)))
        .collect();
    assert_eq!(
        codes,
        [(id, 100)],
        "UNKNOWN_TOPIC_ID, echoed for the id asked"
    );
    let logs = sidecar.wait_log("Fetch v13");
    assert!(logs.contains(&format!("id:{id}")), "{logs}");
}
