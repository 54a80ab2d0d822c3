//! kcat, the command-line Kafka client the issue names among the real clients (Debian's kcat 1.7
//! on the librdkafka 2.16 of the confluent-kafka wheel: `sockmesh_tests::tansu::kcat`), through
//! the Kafka listener in front of a real broker (tansu): what it produces to an allowed topic it
//! reads back intact (keys, values, headers), a produce to a denied topic fails with the topic
//! authorization error and never reaches the broker, and its metadata listing never shows the
//! broker's own address.

use std::net::SocketAddr;
use std::time::Duration;

use sockmesh_tests::tansu::{KAFKA_SIDECAR, kafka_policy, kcat};
use sockmesh_tests::{Sidecar, Tansu, TempDir, output_text, wait_until};

const ORDERS: &str = "{role: produce, topic: orders}, {role: consume, topic: orders}";

/// A broker with the topics `orders` and `secret` and a sidecar in front of it allowing
/// `orders` alone: (broker, sidecar, the sidecar's address, its files).
fn kafka_pair() -> (Tansu, Sidecar, SocketAddr, TempDir) {
    let broker = Tansu::start();
    broker.create_topic("orders");
    broker.create_topic("secret");
    let policy = kafka_policy(broker.port, ORDERS);
    let (sidecar, port, dir) = Sidecar::in_front_of(broker.port, &policy, KAFKA_SIDECAR);
    (broker, sidecar, sockmesh_tests::local(port), dir)
}

/// A producer's flags: failures reported within seconds, not librdkafka's five minutes.
fn producer(bootstrap: SocketAddr, topic: &str) -> Vec<String> {
    [
        "-P",
        "-b",
        &bootstrap.to_string(),
        "-t",
        topic,
        "-X",
        "message.timeout.ms=10000",
        "-m",
        "10",
    ]
    .map(str::to_owned)
    .to_vec()
}

/// A consumer's flags, reading `topic` from the start to its end and exiting there; tansu makes
/// a Fetch wait half of `fetch.wait.max.ms` (../shared/DESIGN.md).
fn consumer(bootstrap: SocketAddr, topic: &str) -> Vec<String> {
    [
        "-C",
        "-b",
        &bootstrap.to_string(),
        "-t",
        topic,
        "-o",
        "beginning",
        "-e",
        "-X",
        "fetch.wait.max.ms=1",
        "-m",
        "10",
    ]
    .map(str::to_owned)
    .to_vec()
}

fn run(args: &[String], input: &[u8]) -> std::process::Output {
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    kcat(&args, input)
}

/// Message `i`: its key and a value of a size from 9 bytes to 10 kB, neither holding the `:`
/// that separates them nor a newline.
fn message(i: usize) -> (String, String) {
    let size = [9, 100, 1000, 10_000, 300][i % 5];
    let mut value = format!("{i:08}-");
    let mut n = i as u64;
    while value.len() < size {
        n = n.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
        value.push_str(&format!("{n:016x}"));
    }
    value.truncate(size);
    (format!("key-{i}"), value)
}

#[test]
fn kcat_produces_and_reads_back_an_allowed_topic_intact_and_is_refused_a_denied_one() {
    let (broker, sidecar, addr, _dir) = kafka_pair();
    let count = 200;
    let input: String = (0..count)
        .map(|i| {
            let (k, v) = message(i);
            format!("{k}:{v}\n")
        })
        .collect();
    let mut args = producer(addr, "orders");
    args.extend(["-K", ":", "-H", "origin=kcat"].map(str::to_owned));
    let produced = run(&args, input.as_bytes());
    assert!(
        produced.status.success(),
        "kcat -P: {}\n{}",
        output_text(&produced),
        sidecar.logs()
    );

    let mut args = consumer(addr, "orders");
    args.extend(["-f", "%k:%s|%h\\n"].map(str::to_owned));
    let consumed = run(&args, b"");
    assert!(
        consumed.status.success(),
        "kcat -C: {}\n{}",
        output_text(&consumed),
        sidecar.logs()
    );
    let got = String::from_utf8_lossy(&consumed.stdout);
    let expected: String = (0..count)
        .map(|i| {
            let (k, v) = message(i);
            format!("{k}:{v}|origin=kcat\n")
        })
        .collect();
    assert_eq!(got.lines().count(), count, "{}", output_text(&consumed));
    assert!(
        got == expected,
        "kcat read back something else than it wrote"
    );

    // A produce to a denied topic: librdkafka learns from the sidecar's Metadata answer that
    // the topic is not authorized and fails the message; kcat says so and exits with 1.
    let denied = run(&producer(addr, "secret"), b"not for the broker\n");
    let text = output_text(&denied);
    assert_eq!(denied.status.code(), Some(1), "kcat -P secret: {text}");
    assert!(
        text.contains("Delivery failed for message: Broker: Topic authorization failed"),
        "{text}\n{}",
        sidecar.logs()
    );
    // The refusal was the sidecar's: its answer to Metadata marked the topic (code 29).
    let refused = wait_until(Duration::from_secs(5), || {
        sidecar.logs().lines().any(|l| {
            l.contains("path=\"secret\"")
                && l.contains("verdict=\"deny\"")
                && l.contains("status=29")
        })
    });
    assert!(refused, "{}", sidecar.logs());
    // Nothing of it reached the broker (asked directly): the topic is empty.
    let direct = run(&consumer(broker.addr(), "secret"), b"");
    assert!(direct.status.success(), "{}", output_text(&direct));
    assert_eq!(direct.stdout, b"", "{}", output_text(&direct));
}

/// Whether `text` names port `port` (`:PORT` not followed by another digit).
fn mentions_port(text: &str, port: u16) -> bool {
    let needle = format!(":{port}");
    text.match_indices(&needle)
        .any(|(at, _)| !text[at + needle.len()..].starts_with(|c: char| c.is_ascii_digit()))
}

#[test]
fn kcat_metadata_through_the_sidecar_never_shows_the_brokers_own_address() {
    let (broker, sidecar, addr, _dir) = kafka_pair();
    // All topics (a Metadata request for every topic), then one topic, as text and as JSON.
    for extra in [&["-L"][..], &["-L", "-t", "orders"], &["-L", "-J"]] {
        let mut args = vec!["-b".to_owned(), addr.to_string(), "-m".into(), "10".into()];
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        let out = run(&args, b"");
        let text = output_text(&out);
        assert!(out.status.success(), "kcat {extra:?}: {text}");
        assert!(
            text.contains("orders"),
            "kcat {extra:?}: {text}\n{}",
            sidecar.logs()
        );
        assert!(
            !mentions_port(&text, broker.port),
            "kcat {extra:?} shows the broker's own port {}: {text}",
            broker.port
        );
        // A denied topic is not even listed (kafka.filterMetadata).
        assert!(!text.contains("secret"), "kcat {extra:?}: {text}");
    }
    let out = run(
        &[
            "-b".to_owned(),
            addr.to_string(),
            "-L".into(),
            "-J".into(),
            "-m".into(),
            "10".into(),
        ],
        b"",
    );
    let md: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("kcat -L -J prints JSON");
    let brokers = md["brokers"].as_array().cloned().unwrap_or_default();
    assert!(!brokers.is_empty(), "{md}");
    for b in &brokers {
        // Broker n is the sidecar's listener port + 1 + n, on its address.
        let name = b["name"].as_str().unwrap_or_default();
        let id = b["id"].as_i64().unwrap_or(-1);
        let port = addr.port() as i64 + 1 + id;
        assert_eq!(name, format!("{}:{port}", addr.ip()), "{md}");
    }
}
