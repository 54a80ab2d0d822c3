//! The tansu fixture and the Kafka clients do what tests/src/tansu.rs promises, with no proxy in
//! between: both clients produce to a topic created with `tansu topic create` and read it back
//! whole and in order, with and without a consumer group, and the broker advertises its own
//! address. The Kafka proxy's tests stand on these facts, so they are checked against tansu alone.

use sockmesh_tests::{Tansu, kafka_client};

#[test]
fn both_clients_produce_and_consume_through_tansu_alone() {
    let broker = Tansu::start();
    for (lib, topic) in [("confluent", "fixture-c"), ("kafka-python", "fixture-k")] {
        broker.create_topic(topic);
        let produced = kafka_client(
            lib,
            "produce",
            broker.addr(),
            &[topic, "300", "--sizes", "9,100,10000"],
        );
        assert_eq!(
            produced["delivered"],
            300,
            "{lib}: {produced}\n{}",
            broker.log()
        );
        for group in [None, Some("fixture-group")] {
            let mut args = vec![topic, "300"];
            if let Some(g) = group {
                args.extend(["--group", g]);
            }
            let got = kafka_client(lib, "consume", broker.addr(), &args);
            assert_eq!(got["received"], 300, "{lib} {group:?}: {got}");
            assert_eq!(got["in_order"], true, "{lib} {group:?}: {got}");
            assert_eq!(got["intact"], true, "{lib} {group:?}: {got}");
            assert_eq!(
                got["errors"],
                serde_json::json!([]),
                "{lib} {group:?}: {got}"
            );
        }
        let md = kafka_client(lib, "metadata", broker.addr(), &[]);
        assert_eq!(
            md["brokers"],
            serde_json::json!([broker.addr().to_string()]),
            "{lib}: {md}"
        );
        assert!(
            md["topics"]
                .as_array()
                .is_some_and(|t| t.iter().any(|x| x == topic)),
            "{md}"
        );
    }
}

#[test]
fn a_topic_that_was_not_created_is_not_made_by_producing() {
    let broker = Tansu::start();
    let produced = kafka_client(
        "confluent",
        "produce",
        broker.addr(),
        &["never-created", "1", "--timeout", "3"],
    );
    assert_eq!(produced["delivered"], 0, "{produced}");
    assert_ne!(produced["errors"], serde_json::json!([]), "{produced}");
}
