//! (c) Topic extraction: requests naming topics, encoded by the crate at every version of their
//! key, read back by name or id; and their denials echo each topic with the error.

use std::ops::RangeInclusive;

use kafka_protocol::messages::*;
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::super::RequestView;
use super::*;

const ID: Uuid = Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);

fn name() -> TopicName {
    TopicName(StrBytes::from_static_str("orders"))
}

/// Reads `body` at each version: the view names `names` and `ids`, and the denial echoes them
/// with the error.
fn check(
    key: ApiKey,
    versions: RangeInclusive<i16>,
    body: RequestKind,
    names: &[&str],
    ids: &[Uuid],
) {
    for version in versions {
        let frame = client_frame(key, version, 3, &body);
        let request = read_request(&frame);
        let decoded = request
            .decode_body()
            .unwrap_or_else(|e| panic!("{key:?} v{version}: {e}"));
        let view = RequestView::new(&request.header, &decoded);
        let got: Vec<&str> = view.topics.names.iter().map(|n| n.as_str()).collect();
        assert_eq!(got, names, "{key:?} v{version} names");
        assert_eq!(view.topics.ids, ids, "{key:?} v{version} ids");
        let (correlation, response) = deny_and_read(key, version, &body);
        assert_eq!(correlation, 7);
        let text = format!("{response:?}");
        assert!(
            text.contains("error_code: 29"),
            "{key:?} v{version}: {text}"
        );
        for n in names {
            assert!(
                text.contains(n),
                "{key:?} v{version}: {n} not echoed in {text}"
            );
        }
        for id in ids {
            assert!(
                text.contains(&id.to_string()),
                "{key:?} v{version}: id not echoed"
            );
        }
    }
}

#[test]
fn produce_names_then_ids() {
    use produce_request::*;
    let partition = PartitionProduceData::default().with_index(1);
    let by_name = TopicProduceData::default()
        .with_name(name())
        .with_partition_data(vec![partition.clone()]);
    let body = |t: TopicProduceData| {
        RequestKind::Produce(
            ProduceRequest::default()
                .with_acks(-1)
                .with_topic_data(vec![t]),
        )
    };
    check(ApiKey::Produce, 3..=12, body(by_name), &["orders"], &[]);
    let by_id = TopicProduceData::default()
        .with_topic_id(ID)
        .with_partition_data(vec![partition]);
    check(ApiKey::Produce, 13..=13, body(by_id), &[], &[ID]);
}

#[test]
fn fetch_names_then_ids() {
    use fetch_request::*;
    let partition = FetchPartition::default().with_partition(2);
    let body = |t: FetchTopic| RequestKind::Fetch(FetchRequest::default().with_topics(vec![t]));
    check(
        ApiKey::Fetch,
        4..=12,
        body(
            FetchTopic::default()
                .with_topic(name())
                .with_partitions(vec![partition.clone()]),
        ),
        &["orders"],
        &[],
    );
    check(
        ApiKey::Fetch,
        13..=18,
        body(
            FetchTopic::default()
                .with_topic_id(ID)
                .with_partitions(vec![partition]),
        ),
        &[],
        &[ID],
    );
}

#[test]
fn metadata_names_ids_and_all() {
    use metadata_request::*;
    let body = |t: MetadataRequestTopic| {
        RequestKind::Metadata(MetadataRequest::default().with_topics(Some(vec![t])))
    };
    check(
        ApiKey::Metadata,
        0..=13,
        body(MetadataRequestTopic::default().with_name(Some(name()))),
        &["orders"],
        &[],
    );
    check(
        ApiKey::Metadata,
        10..=13,
        body(MetadataRequestTopic::default().with_topic_id(ID)),
        &[],
        &[ID],
    );
    for (version, topics) in [(0, Some(vec![])), (1, None), (13, None)] {
        let body = RequestKind::Metadata(MetadataRequest::default().with_topics(topics));
        let request = read_request(&client_frame(ApiKey::Metadata, version, 1, &body));
        let view = RequestView::new(&request.header, &request.decode_body().expect("decodes"));
        assert!(view.topics.all, "v{version}");
    }
}

#[test]
fn offset_commit_and_fetch() {
    use offset_commit_request::*;
    let p = OffsetCommitRequestPartition::default().with_partition_index(0);
    let body = |t: OffsetCommitRequestTopic| {
        RequestKind::OffsetCommit(OffsetCommitRequest::default().with_topics(vec![t]))
    };
    check(
        ApiKey::OffsetCommit,
        2..=9,
        body(
            OffsetCommitRequestTopic::default()
                .with_name(name())
                .with_partitions(vec![p.clone()]),
        ),
        &["orders"],
        &[],
    );
    let _ = p; // v10 (topic ids) is past what the crate's request struct reads: see api.rs.

    use offset_fetch_request::*;
    let t = OffsetFetchRequestTopic::default()
        .with_name(name())
        .with_partition_indexes(vec![0]);
    check(
        ApiKey::OffsetFetch,
        1..=7,
        RequestKind::OffsetFetch(OffsetFetchRequest::default().with_topics(Some(vec![t]))),
        &["orders"],
        &[],
    );
    let group = |t: OffsetFetchRequestTopics| {
        RequestKind::OffsetFetch(OffsetFetchRequest::default().with_groups(vec![
                OffsetFetchRequestGroup::default()
                    .with_group_id(GroupId(StrBytes::from_static_str("g")))
                    .with_topics(Some(vec![t])),
            ]))
    };
    check(
        ApiKey::OffsetFetch,
        8..=9,
        group(
            OffsetFetchRequestTopics::default()
                .with_name(name())
                .with_partition_indexes(vec![0]),
        ),
        &["orders"],
        &[],
    );
    // v10 (topic ids) is past what the crate's request struct reads, as for OffsetCommit.
}

#[test]
fn admin_keys() {
    check(
        ApiKey::DeleteTopics,
        1..=5,
        RequestKind::DeleteTopics(DeleteTopicsRequest::default().with_topic_names(vec![name()])),
        &["orders"],
        &[],
    );
    let state = delete_topics_request::DeleteTopicState::default().with_topic_id(ID);
    check(
        ApiKey::DeleteTopics,
        6..=6,
        RequestKind::DeleteTopics(DeleteTopicsRequest::default().with_topics(vec![state])),
        &[],
        &[ID],
    );
    let t = create_topics_request::CreatableTopic::default().with_name(name());
    check(
        ApiKey::CreateTopics,
        2..=7,
        RequestKind::CreateTopics(CreateTopicsRequest::default().with_topics(vec![t])),
        &["orders"],
        &[],
    );
    let t = create_partitions_request::CreatePartitionsTopic::default().with_name(name());
    check(
        ApiKey::CreatePartitions,
        0..=3,
        RequestKind::CreatePartitions(CreatePartitionsRequest::default().with_topics(vec![t])),
        &["orders"],
        &[],
    );
    let t = delete_records_request::DeleteRecordsTopic::default()
        .with_name(name())
        .with_partitions(vec![
            delete_records_request::DeleteRecordsPartition::default(),
        ]);
    check(
        ApiKey::DeleteRecords,
        0..=2,
        RequestKind::DeleteRecords(DeleteRecordsRequest::default().with_topics(vec![t])),
        &["orders"],
        &[],
    );
    let t = elect_leaders_request::TopicPartitions::default()
        .with_topic(name())
        .with_partitions(vec![0]);
    check(
        ApiKey::ElectLeaders,
        0..=2,
        RequestKind::ElectLeaders(
            ElectLeadersRequest::default().with_topic_partitions(Some(vec![t])),
        ),
        &["orders"],
        &[],
    );
    let t = describe_producers_request::TopicRequest::default()
        .with_name(name())
        .with_partition_indexes(vec![0]);
    check(
        ApiKey::DescribeProducers,
        0..=0,
        RequestKind::DescribeProducers(DescribeProducersRequest::default().with_topics(vec![t])),
        &["orders"],
        &[],
    );
    let t = alter_partition_reassignments_request::ReassignableTopic::default()
        .with_name(name())
        .with_partitions(vec![
            alter_partition_reassignments_request::ReassignablePartition::default(),
        ]);
    check(
        ApiKey::AlterPartitionReassignments,
        0..=1,
        RequestKind::AlterPartitionReassignments(
            AlterPartitionReassignmentsRequest::default().with_topics(vec![t]),
        ),
        &["orders"],
        &[],
    );
    let dir = alter_replica_log_dirs_request::AlterReplicaLogDir::default().with_topics(vec![
        alter_replica_log_dirs_request::AlterReplicaLogDirTopic::default()
            .with_name(name())
            .with_partitions(vec![0]),
    ]);
    check(
        ApiKey::AlterReplicaLogDirs,
        1..=2,
        RequestKind::AlterReplicaLogDirs(
            AlterReplicaLogDirsRequest::default().with_dirs(vec![dir]),
        ),
        &["orders"],
        &[],
    );
    let t = describe_topic_partitions_request::TopicRequest::default().with_name(name());
    check(
        ApiKey::DescribeTopicPartitions,
        0..=0,
        RequestKind::DescribeTopicPartitions(
            DescribeTopicPartitionsRequest::default().with_topics(vec![t]),
        ),
        &["orders"],
        &[],
    );
    let t = list_offsets_request::ListOffsetsTopic::default()
        .with_name(name())
        .with_partitions(vec![list_offsets_request::ListOffsetsPartition::default()]);
    check(
        ApiKey::ListOffsets,
        1..=10,
        RequestKind::ListOffsets(ListOffsetsRequest::default().with_topics(vec![t])),
        &["orders"],
        &[],
    );
    let t = offset_for_leader_epoch_request::OffsetForLeaderTopic::default()
        .with_topic(name())
        .with_partitions(vec![
            offset_for_leader_epoch_request::OffsetForLeaderPartition::default(),
        ]);
    check(
        ApiKey::OffsetForLeaderEpoch,
        2..=4,
        RequestKind::OffsetForLeaderEpoch(
            OffsetForLeaderEpochRequest::default().with_topics(vec![t]),
        ),
        &["orders"],
        &[],
    );
}

#[test]
fn transactional_keys() {
    use add_partitions_to_txn_request::*;
    let t = AddPartitionsToTxnTopic::default()
        .with_name(name())
        .with_partitions(vec![0]);
    check(
        ApiKey::AddPartitionsToTxn,
        0..=3,
        RequestKind::AddPartitionsToTxn(
            AddPartitionsToTxnRequest::default().with_v3_and_below_topics(vec![t.clone()]),
        ),
        &["orders"],
        &[],
    );
    let txn = AddPartitionsToTxnTransaction::default().with_topics(vec![t]);
    check(
        ApiKey::AddPartitionsToTxn,
        4..=5,
        RequestKind::AddPartitionsToTxn(
            AddPartitionsToTxnRequest::default().with_transactions(vec![txn]),
        ),
        &["orders"],
        &[],
    );
    let t = txn_offset_commit_request::TxnOffsetCommitRequestTopic::default()
        .with_name(name())
        .with_partitions(vec![
            txn_offset_commit_request::TxnOffsetCommitRequestPartition::default(),
        ]);
    check(
        ApiKey::TxnOffsetCommit,
        0..=5,
        RequestKind::TxnOffsetCommit(TxnOffsetCommitRequest::default().with_topics(vec![t])),
        &["orders"],
        &[],
    );
}

/// Config resources name a topic only when their type is TOPIC (2); a broker (4) is no topic.
#[test]
fn config_resources_of_type_topic() {
    use describe_configs_request::*;
    let topic = DescribeConfigsResource::default()
        .with_resource_type(2)
        .with_resource_name(StrBytes::from_static_str("orders"));
    let broker = DescribeConfigsResource::default()
        .with_resource_type(4)
        .with_resource_name(StrBytes::from_static_str("1"));
    check(
        ApiKey::DescribeConfigs,
        1..=4,
        RequestKind::DescribeConfigs(
            DescribeConfigsRequest::default().with_resources(vec![topic, broker]),
        ),
        &["orders"],
        &[],
    );
}

#[test]
fn share_fetch_by_id() {
    let t = share_fetch_request::FetchTopic::default().with_topic_id(ID);
    let body = RequestKind::ShareFetch(ShareFetchRequest::default().with_topics(vec![t]));
    let request = read_request(&client_frame(ApiKey::ShareFetch, 1, 1, &body));
    let view = RequestView::new(&request.header, &request.decode_body().expect("decodes"));
    assert_eq!(view.topics.ids, [ID]);
}
