//! Kafka (`rules.kafka`) decisions.

use super::{HEAD, ing, web};
use crate::cilium::parse_documents;
use crate::request::{ConnMeta, KafkaRequest};
use crate::verdict::L7Kind;
use crate::{CompileError, CompiledPolicy};

fn compile(spec: &str) -> Result<CompiledPolicy, CompileError> {
    let text = format!("{HEAD}spec:\n  endpointSelector: {{}}\n{spec}");
    let policies = parse_documents("t.yaml", &text).unwrap_or_else(|e| panic!("{}", e[0]));
    CompiledPolicy::compile(&policies, &web())
}

fn check(c: &CompiledPolicy, m: &ConnMeta, key: i16, topics: &[&str]) -> (bool, String) {
    let v = c.check_kafka(
        m,
        &KafkaRequest {
            api_key: key,
            api_version: 3,
            client_id: Some("app"),
            topics,
            all_topics: false,
        },
    );
    assert!(v.header_actions.is_empty());
    (v.allowed, v.rule.to_string())
}

const PRODUCE: i16 = 0;
const FETCH: i16 = 1;
const METADATA: i16 = 3;
const HEARTBEAT: i16 = 12;
const INIT_PRODUCER_ID: i16 = 22;

const ROLES: &str = "  ingress:\n  - toPorts:\n    - ports: [{port: \"9092\"}]\n      rules:\n        kafka:\n        - {role: produce, topic: orders}\n        - {role: consume, topic: orders}\n        - {role: consume, topic: audit}\n        - {apiKey: apiversions}\n";

#[test]
fn kafka_rules_need_kafka_and_every_topic_must_be_allowed() {
    let c = compile(ROLES).expect("compiles");
    let m = ing("10.0.0.1", 9092);
    let cv = c.check_connection(&m);
    assert!(cv.allowed);
    assert_eq!(cv.l7, L7Kind::Kafka);
    let rule = |i: usize| format!("ns/p: ingress[0].toPorts[0].rules.kafka[{i}]");
    assert_eq!(check(&c, &m, PRODUCE, &["orders"]), (true, rule(0)));
    assert_eq!(check(&c, &m, FETCH, &["orders"]), (true, rule(1)));
    // Two topics, each allowed by its own rule: the rule completing the set decides.
    assert_eq!(check(&c, &m, FETCH, &["audit", "orders"]), (true, rule(2)));
    assert_eq!(check(&c, &m, FETCH, &["orders", "orders"]), (true, rule(1)));
    // One topic not allowed denies the whole request.
    let deny = (false, "default-deny (ingress)".to_owned());
    assert_eq!(check(&c, &m, FETCH, &["orders", "secret"]), deny);
    assert_eq!(check(&c, &m, PRODUCE, &["audit"]), deny);
    // A topic key naming no topic is not allowed by a rule with a topic (Cilium)...
    assert_eq!(check(&c, &m, FETCH, &[]), deny);
    // ...except Metadata asking for brokers only (an empty list; our extension): clients
    // bootstrap with it.
    assert_eq!(check(&c, &m, METADATA, &[]), (true, rule(0)));
    // Keys naming no topic ignore an allow rule's topic.
    assert_eq!(check(&c, &m, INIT_PRODUCER_ID, &[]), (true, rule(0)));
    assert_eq!(check(&c, &m, HEARTBEAT, &[]), (true, rule(1)));
    assert_eq!(check(&c, &m, 18, &[]), (true, rule(0)));
    assert_eq!(check(&c, &m, 19, &["orders"]), deny, "createtopics");
    // Only topic keys that a topic rule takes need the body.
    let keys = c.kafka_topic_keys(&m);
    for (k, needed) in [
        (0, true),
        (1, true),
        (2, true),
        (3, true),
        (8, true),
        (12, false),
    ] {
        assert_eq!(keys.contains(k), needed, "key {k}");
    }
    assert!(!keys.contains(19) && !keys.contains(22));
    assert!(c.kafka_topic_keys(&ing("10.0.0.1", 80)).is_empty());
    // HTTP and DNS never meet a Kafka rule.
    let http = c.check_http(&m, &super::req("GET", "/"));
    assert_eq!(
        (http.allowed, http.rule.as_str()),
        (false, "default-deny (ingress)")
    );
}

#[test]
fn version_and_client_id_are_exact_and_l4_entries_allow_everything() {
    let spec = "  ingress:\n  - fromCIDR: [10.0.0.0/8]\n    toPorts:\n    - ports: [{port: \"9092\"}]\n      rules:\n        kafka:\n        - {apiKey: Fetch, apiVersion: \"3\", clientID: app}\n  - fromCIDR: [10.1.0.0/16]\n    toPorts:\n    - ports: [{port: \"9092\"}]\n";
    let c = compile(spec).expect("compiles");
    let m = ing("10.0.0.1", 9092);
    assert_eq!(
        check(&c, &m, FETCH, &["any"]),
        (
            true,
            "ns/p: ingress[0].toPorts[0].rules.kafka[0]".to_owned()
        )
    );
    let v = c.check_kafka(
        &m,
        &KafkaRequest {
            api_key: FETCH,
            api_version: 4,
            client_id: Some("app"),
            topics: &[],
            all_topics: false,
        },
    );
    assert!(!v.allowed);
    let other = KafkaRequest {
        api_key: FETCH,
        api_version: 3,
        client_id: None,
        topics: &[],
        all_topics: false,
    };
    assert!(!c.check_kafka(&m, &other).allowed);
    assert!(c.kafka_topic_keys(&m).is_empty(), "no rule names a topic");
    // The L4-only entry allows every request of its peers.
    let l4 = ing("10.1.2.3", 9092);
    assert_eq!(c.check_connection(&l4).l7, L7Kind::None);
    assert_eq!(
        check(&c, &l4, 42, &[]),
        (true, "ns/p: ingress[1].toPorts[0]".to_owned())
    );
}

#[test]
fn deny_rules_with_kafka_deny_any_named_topic_and_requests_for_all() {
    let spec = "  enableDefaultDeny: {ingress: false}\n  ingressDeny:\n  - toPorts:\n    - ports: [{port: \"9092\"}]\n      rules:\n        kafka:\n        - {role: consume, topic: secret}\n";
    let c = compile(spec).expect("compiles");
    let m = ing("10.0.0.1", 9092);
    assert_eq!(c.check_connection(&m).l7, L7Kind::Kafka);
    let denied = (
        false,
        "ns/p: ingressDeny[0].toPorts[0].rules.kafka[0]".to_owned(),
    );
    assert_eq!(check(&c, &m, FETCH, &["secret"]), denied);
    assert_eq!(check(&c, &m, FETCH, &["public", "secret"]), denied);
    let allowed = (
        true,
        "default-allow (ingress: enableDefaultDeny is false)".to_owned(),
    );
    assert_eq!(check(&c, &m, FETCH, &["public"]), allowed);
    assert_eq!(
        check(&c, &m, PRODUCE, &["secret"]),
        allowed,
        "not a consume key"
    );
    // A deny rule's topic never matches a key naming no topic.
    assert_eq!(check(&c, &m, HEARTBEAT, &[]), allowed);
    assert_eq!(check(&c, &m, METADATA, &[]), allowed, "brokers only");
    let all = KafkaRequest {
        api_key: METADATA,
        api_version: 12,
        client_id: None,
        topics: &[],
        all_topics: true,
    };
    assert!(
        !c.check_kafka(&m, &all).allowed,
        "every topic includes secret"
    );
    assert!(c.kafka_topic_keys(&m).contains(FETCH));
}

#[test]
fn kafka_next_to_other_protocols_and_bad_fields_are_refused() {
    let mixed = "  ingress:\n  - toPorts:\n    - rules:\n        http: [{path: /}]\n        kafka: [{topic: t}]\n";
    let err = compile(mixed).map(drop).expect_err("mixed");
    assert!(
        matches!(err, CompileError::Invalid { field: "rules", .. }),
        "{err}"
    );
    assert!(err.to_string().contains("`kafka`"), "{err}");
    use crate::model::*;
    let policy = |k: KafkaRule| Policy {
        name: "x".into(),
        namespace: None,
        clusterwide: false,
        specs: vec![Spec {
            ingress: Some(vec![Rule {
                peers: Vec::new(),
                to_ports: vec![PortRule {
                    ports: Vec::new(),
                    rules: Some(std::sync::Arc::new(L7Rules {
                        kafka: vec![k],
                        ..L7Rules::default()
                    })),
                }],
            }]),
            ..Spec::default()
        }],
    };
    for (k, field) in [
        (
            KafkaRule {
                role: Some("produce".into()),
                api_key: Some("fetch".into()),
                ..KafkaRule::default()
            },
            "apiKey",
        ),
        (
            KafkaRule {
                topic: Some("a b".into()),
                ..KafkaRule::default()
            },
            "topic",
        ),
        (
            KafkaRule {
                api_version: Some("x".into()),
                ..KafkaRule::default()
            },
            "apiVersion",
        ),
    ] {
        let err = CompiledPolicy::compile(&[policy(k)], &web())
            .map(drop)
            .expect_err("invalid");
        assert!(
            matches!(&err, CompileError::Invalid { field: f, rule, .. } if *f == field && rule.ends_with("rules.kafka[0]")),
            "{err}"
        );
    }
}

/// Before, `topic` was ignored on keys past Cilium's list: this rule let DescribeTopicPartitions
/// describe every topic, and ShareFetch (by number) read any.
#[test]
fn a_topic_constrains_the_later_keys_that_name_topics() {
    const DESCRIBE_TOPIC_PARTITIONS: i16 = 75;
    const SHARE_FETCH: i16 = 78;
    let c = compile("  ingress:\n  - toPorts:\n    - ports: [{port: \"9092\"}]\n      rules:\n        kafka:\n        - {apiKey: describetopicpartitions, topic: orders}\n        - {apiKey: \"78\", topic: orders}\n")
        .expect("compiles");
    let m = ing("10.0.0.1", 9092);
    let rule = |i: usize| format!("ns/p: ingress[0].toPorts[0].rules.kafka[{i}]");
    let deny = (false, "default-deny (ingress)".to_owned());
    assert_eq!(
        check(&c, &m, DESCRIBE_TOPIC_PARTITIONS, &["orders"]),
        (true, rule(0))
    );
    assert_eq!(check(&c, &m, DESCRIBE_TOPIC_PARTITIONS, &["secret"]), deny);
    assert_eq!(check(&c, &m, SHARE_FETCH, &["orders"]), (true, rule(1)));
    assert_eq!(check(&c, &m, SHARE_FETCH, &["orders", "secret"]), deny);
    // The proxy decodes these keys' bodies on this port.
    let keys = c.kafka_topic_keys(&m);
    assert!(keys.contains(DESCRIBE_TOPIC_PARTITIONS) && keys.contains(SHARE_FETCH));
}
