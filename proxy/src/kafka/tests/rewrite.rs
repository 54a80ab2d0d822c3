//! The responses the proxy reads: ApiVersions cut to the versions it reads, Metadata's topic ids
//! learned; both at every version the crate knows.

use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::metadata_response::MetadataResponseTopic;
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Decodable, Encodable, Message, StrBytes};
use uuid::Uuid;

use crate::kafka::addresses::Addressed;
use crate::kafka::rewrite::api_versions;
use crate::kafka::topic_ids::TopicIds;
use crate::kafka::{known_versions, response_header_version};

fn payload<M: Encodable>(
    correlation_id: i32,
    header_version: i16,
    body: &M,
    version: i16,
) -> Bytes {
    let mut out = BytesMut::new();
    let mut header = ResponseHeader::default();
    header.correlation_id = correlation_id;
    header.encode(&mut out, header_version).expect("header");
    body.encode(&mut out, version).expect("body");
    out.freeze()
}

fn key(api_key: i16, min: i16, max: i16) -> ApiVersion {
    let mut k = ApiVersion::default();
    k.api_key = api_key;
    k.min_version = min;
    k.max_version = max;
    k
}

#[test]
fn api_versions_offers_only_what_the_proxy_reads() {
    let produce = known_versions(ApiKey::Produce);
    let versions = <ApiVersionsResponse as Message>::VERSIONS;
    for version in versions.min..=versions.max {
        let mut body = ApiVersionsResponse::default();
        body.api_keys = vec![
            key(ApiKey::Produce as i16, 0, produce.max + 5),
            key(ApiKey::Fetch as i16, 4, 7),
            key(30_000, 0, 3),
            // Entirely above what the proxy reads: dropped.
            key(ApiKey::Metadata as i16, 200, 300),
        ];
        let out = api_versions(&payload(9, 0, &body, version), version, false).expect("rewritten");
        let mut buf = out.clone();
        let header = ResponseHeader::decode(&mut buf, 0).expect("header");
        assert_eq!(header.correlation_id, 9);
        let got = ApiVersionsResponse::decode(&mut buf, version).expect("body");
        let keys: Vec<(i16, i16, i16)> = got
            .api_keys
            .iter()
            .map(|k| (k.api_key, k.min_version, k.max_version))
            .collect();
        assert_eq!(
            keys,
            [(0, produce.min, produce.max), (1, 4, 7)],
            "v{version}"
        );
    }
}

/// Under interception, Produce and Fetch stop at v12, the last versions that name their topics
/// (`kafka/conn/scope.rs`); the other keys are cut as always.
#[test]
fn api_versions_under_interception_keeps_clients_naming_their_topics() {
    let mut body = ApiVersionsResponse::default();
    body.api_keys = vec![
        key(ApiKey::Produce as i16, 3, 13),
        key(ApiKey::Fetch as i16, 4, 18),
        key(ApiKey::Metadata as i16, 0, 12),
    ];
    let out = api_versions(&payload(9, 0, &body, 3), 3, true).expect("rewritten");
    let mut buf = out.clone();
    ResponseHeader::decode(&mut buf, 0).expect("header");
    let got = ApiVersionsResponse::decode(&mut buf, 3).expect("body");
    let keys: Vec<(i16, i16, i16)> = got
        .api_keys
        .iter()
        .map(|k| (k.api_key, k.min_version, k.max_version))
        .collect();
    let metadata = known_versions(ApiKey::Metadata);
    assert_eq!(
        keys,
        [
            (0, 3, 12),
            (1, 4, 12),
            (3, metadata.min, metadata.max.min(12))
        ]
    );
}

#[test]
fn api_versions_with_an_error_or_garbage_is_relayed_as_it_came() {
    let mut body = ApiVersionsResponse::default();
    body.error_code = 35;
    assert_eq!(api_versions(&payload(1, 0, &body, 0), 0, false), None);
    assert_eq!(
        api_versions(&Bytes::from_static(&[0, 0, 0, 1, 0xff]), 3, true),
        None
    );
}

#[test]
fn metadata_topic_ids_are_learned_at_every_version_that_carries_them() {
    let versions = <MetadataResponse as Message>::VERSIONS;
    for version in versions.min..=versions.max {
        let ids = TopicIds::default();
        let id = Uuid::from_u128(0x1234);
        let mut topic = MetadataResponseTopic::default();
        topic.name = Some(TopicName(StrBytes::from_static_str("orders")));
        topic.topic_id = id;
        let mut failed = topic.clone();
        failed.error_code = 3;
        failed.topic_id = Uuid::from_u128(0x99);
        let mut body = MetadataResponse::default();
        body.topics = vec![topic, failed];
        let header_version = response_header_version(ApiKey::Metadata, version);
        let payload = payload(5, header_version, &body, version);
        let decoded = Addressed::decode(ApiKey::Metadata, version, &payload).expect("decodes");
        let named = decoded.learn_topic_ids(&ids, "main");
        if version >= 10 {
            assert_eq!(named, 1, "v{version}");
            assert_eq!(
                ids.name("main", id).as_deref(),
                Some("orders"),
                "v{version}"
            );
        } else {
            assert_eq!(named, 0, "v{version}: no ids before v10");
        }
        assert_eq!(
            ids.name("main", Uuid::from_u128(0x99)),
            None,
            "a topic with an error"
        );
    }
}

#[test]
fn broker_addresses_are_replaced_and_topics_cut_at_every_version() {
    use kafka_protocol::messages::metadata_response::MetadataResponseBroker;
    use std::collections::HashMap;
    let versions = <MetadataResponse as Message>::VERSIONS;
    for version in versions.min..=versions.max {
        let mut broker = MetadataResponseBroker::default();
        broker.node_id = BrokerId(111);
        broker.host = StrBytes::from_static_str("10.0.0.5");
        broker.port = 9092;
        let mut other = broker.clone();
        other.node_id = BrokerId(7);
        let mut body = MetadataResponse::default();
        body.brokers = vec![broker, other];
        for name in ["orders", "secret"] {
            let mut t = MetadataResponseTopic::default();
            t.name = Some(TopicName(StrBytes::from_static_str(name)));
            body.topics.push(t);
        }
        let header_version = response_header_version(ApiKey::Metadata, version);
        let payload = payload(3, header_version, &body, version);
        let mut a = Addressed::decode(ApiKey::Metadata, version, &payload).expect("decodes");
        let nodes: Vec<(i32, String, i32)> = a
            .brokers()
            .into_iter()
            .map(|b| (b.node_id, b.host, b.port))
            .collect();
        assert_eq!(
            nodes,
            [(111, "10.0.0.5".into(), 9092), (7, "10.0.0.5".into(), 9092)]
        );
        let to = HashMap::from([(111, "127.0.0.1:9204".parse().expect("addr"))]);
        a.readdress(&to, "127.0.0.1:9092".parse().expect("addr"));
        assert_eq!(a.retain_topics(|t| t == "orders"), 1);
        a.refuse_topics(&[crate::kafka::narrowed::Refused {
            name: Some("hidden".to_owned()),
            id: uuid::Uuid::nil(),
            error: 29,
        }]);
        let out = a.encode(ApiKey::Metadata).expect("encodes");
        let mut buf = out.clone();
        let header = ResponseHeader::decode(&mut buf, header_version).expect("header");
        let back = MetadataResponse::decode(&mut buf, version).expect("body");
        assert_eq!(header.correlation_id, 3);
        let brokers: Vec<(i32, String, i32)> = back
            .brokers
            .iter()
            .map(|b| (b.node_id.0, b.host.to_string(), b.port))
            .collect();
        // The node with a listener gets it; the other the bootstrap listener, never its own.
        assert_eq!(
            brokers,
            [
                (111, "127.0.0.1".into(), 9204),
                (7, "127.0.0.1".into(), 9092)
            ],
            "v{version}"
        );
        let topics: Vec<(String, i16)> = back
            .topics
            .iter()
            .map(|t| {
                (
                    t.name.as_ref().map(|n| n.0.to_string()).unwrap_or_default(),
                    t.error_code,
                )
            })
            .collect();
        assert_eq!(
            topics,
            [("orders".into(), 0), ("hidden".into(), 29)],
            "v{version}"
        );
    }
}
