//! Kafka seeds: request streams as clients send them, encoded with kafka-protocol (a handful of
//! keys and versions, flexible and not), and a few broken ones.

use bytes::{BufMut, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Encodable, HeaderVersion, StrBytes};

use super::Seeds;

fn frame<T: Encodable + HeaderVersion>(
    key: ApiKey,
    version: i16,
    correlation: i32,
    body: &T,
) -> Vec<u8> {
    let header = RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation)
        .with_client_id(Some(StrBytes::from_static_str("rdkafka")));
    let mut payload = BytesMut::new();
    header
        .encode(&mut payload, T::header_version(version))
        .expect("header");
    body.encode(&mut payload, version).expect("body");
    let mut out = Vec::new();
    out.put_i32(payload.len() as i32);
    out.extend_from_slice(&payload);
    out
}

fn topic() -> TopicName {
    TopicName(StrBytes::from_static_str("orders"))
}

/// Byte 0 is the read size less one: 255 reads whole frames.
fn stream(frames: &[Vec<u8>]) -> Vec<u8> {
    let mut out = vec![255];
    frames.iter().for_each(|f| out.extend_from_slice(f));
    out
}

pub fn kafka_request(s: &mut Seeds) {
    use fetch_request::{FetchPartition, FetchTopic};
    use produce_request::{PartitionProduceData, TopicProduceData};
    let api_versions = frame(
        ApiKey::ApiVersions,
        3,
        1,
        &ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_static_str("librdkafka"))
            .with_client_software_version(StrBytes::from_static_str("2.3.0")),
    );
    let metadata = frame(
        ApiKey::Metadata,
        12,
        2,
        &MetadataRequest::default().with_topics(Some(vec![
            metadata_request::MetadataRequestTopic::default().with_name(Some(topic())),
        ])),
    );
    let produce = |version, acks| {
        frame(
            ApiKey::Produce,
            version,
            3,
            &ProduceRequest::default()
                .with_acks(acks)
                .with_timeout_ms(30_000)
                .with_topic_data(vec![
                    TopicProduceData::default()
                        .with_name(topic())
                        .with_partition_data(vec![
                            PartitionProduceData::default()
                                .with_index(0)
                                .with_records(Some(bytes::Bytes::from_static(b"batch"))),
                        ]),
                ]),
        )
    };
    let fetch = frame(
        ApiKey::Fetch,
        11,
        4,
        &FetchRequest::default()
            .with_max_wait_ms(500)
            .with_topics(vec![
                FetchTopic::default()
                    .with_topic(topic())
                    .with_partitions(vec![FetchPartition::default().with_partition(0)]),
            ]),
    );
    let fetch_id = frame(
        ApiKey::Fetch,
        17,
        5,
        &FetchRequest::default().with_topics(vec![
            FetchTopic::default()
                .with_topic_id(uuid::Uuid::from_u128(42))
                .with_partitions(vec![FetchPartition::default()]),
        ]),
    );
    let offset_commit = frame(
        ApiKey::OffsetCommit,
        8,
        6,
        &OffsetCommitRequest::default()
            .with_group_id(GroupId(StrBytes::from_static_str("billing")))
            .with_topics(vec![
                offset_commit_request::OffsetCommitRequestTopic::default()
                    .with_name(topic())
                    .with_partitions(vec![
                        offset_commit_request::OffsetCommitRequestPartition::default(),
                    ]),
            ]),
    );
    let join = frame(
        ApiKey::JoinGroup,
        7,
        7,
        &JoinGroupRequest::default().with_group_id(GroupId(StrBytes::from_static_str("billing"))),
    );
    let find = frame(
        ApiKey::FindCoordinator,
        4,
        8,
        &FindCoordinatorRequest::default()
            .with_key_type(1)
            .with_coordinator_keys(vec![StrBytes::from_static_str("txn-1")]),
    );
    s.put(
        "kafka_request",
        "api-versions-v3",
        &stream(&[api_versions.clone()]),
    );
    s.put("kafka_request", "metadata-v12", &stream(&[metadata]));
    s.put("kafka_request", "produce-v9", &stream(&[produce(9, -1)]));
    s.put(
        "kafka_request",
        "produce-v3-acks0",
        &stream(&[produce(3, 0)]),
    );
    s.put("kafka_request", "fetch-v11", &stream(&[fetch.clone()]));
    s.put("kafka_request", "fetch-v17-topic-id", &stream(&[fetch_id]));
    s.put(
        "kafka_request",
        "offset-commit-v8",
        &stream(&[offset_commit]),
    );
    s.put("kafka_request", "join-group-v7", &stream(&[join]));
    s.put("kafka_request", "find-coordinator-v4-txn", &stream(&[find]));
    s.put("kafka_request", "pipelined-by-3", &{
        let mut x = stream(&[api_versions, fetch.clone()]);
        x[0] = 2;
        x
    });
    s.put(
        "kafka_request",
        "cut",
        &stream(&[fetch[..fetch.len() - 3].to_vec()]),
    );
    s.put(
        "kafka_request",
        "negative-length",
        &[255, 0xff, 0xff, 0xff, 0xf0],
    );
    s.put(
        "kafka_request",
        "unknown-key",
        &stream(&[vec![0, 0, 0, 8, 0x03, 0xe7, 0, 0, 0, 0, 0, 9]]),
    );
}
