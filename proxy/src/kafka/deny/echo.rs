//! Denials that echo the request's topics and partitions, each with the error: the keys whose
//! responses have no other place for it, or where a client matches results to what it asked.

use bytes::Bytes;
use kafka_protocol::messages::*;

/// The response for a topic-carrying key, or `None` for a key not answered here.
pub(super) fn response(body: &RequestKind, version: i16, code: i16) -> Option<ResponseKind> {
    Some(match body {
        RequestKind::Produce(r) => produce(r, code).into(),
        RequestKind::Fetch(r) => fetch(r, code).into(),
        RequestKind::ListOffsets(r) => list_offsets(r, code).into(),
        RequestKind::Metadata(r) => metadata(r, code).into(),
        RequestKind::OffsetCommit(r) => offset_commit(r, code).into(),
        RequestKind::OffsetFetch(r) => offset_fetch(r, version, code).into(),
        RequestKind::OffsetDelete(r) => offset_delete(r, code).into(),
        RequestKind::CreateTopics(r) => create_topics(r, code).into(),
        RequestKind::DeleteTopics(r) => delete_topics(r, code).into(),
        RequestKind::DeleteRecords(r) => delete_records(r, code).into(),
        RequestKind::OffsetForLeaderEpoch(r) => offset_for_leader_epoch(r, code).into(),
        RequestKind::AddPartitionsToTxn(r) => add_partitions_to_txn(r, version, code).into(),
        RequestKind::TxnOffsetCommit(r) => txn_offset_commit(r, code).into(),
        RequestKind::WriteTxnMarkers(r) => write_txn_markers(r, code).into(),
        RequestKind::CreatePartitions(r) => create_partitions(r, code).into(),
        RequestKind::ElectLeaders(r) => elect_leaders(r, version, code).into(),
        RequestKind::AlterPartitionReassignments(r) => alter_reassignments(r, code).into(),
        RequestKind::ListPartitionReassignments(_) => ListPartitionReassignmentsResponse::default()
            .with_error_code(code)
            .into(),
        RequestKind::DescribeProducers(r) => describe_producers(r, code).into(),
        RequestKind::AlterReplicaLogDirs(r) => alter_replica_log_dirs(r, code).into(),
        RequestKind::DescribeTopicPartitions(r) => describe_topic_partitions(r, code).into(),
        _ => return None,
    })
}

fn produce(r: &ProduceRequest, code: i16) -> ProduceResponse {
    use produce_response::*;
    let topic = |t: &produce_request::TopicProduceData| {
        TopicProduceResponse::default()
            .with_name(t.name.clone())
            .with_topic_id(t.topic_id)
            .with_partition_responses(
                t.partition_data
                    .iter()
                    .map(|p| {
                        PartitionProduceResponse::default()
                            .with_index(p.index)
                            .with_error_code(code)
                            .with_base_offset(-1)
                    })
                    .collect(),
            )
    };
    ProduceResponse::default().with_responses(r.topic_data.iter().map(topic).collect())
}

fn fetch(r: &FetchRequest, code: i16) -> FetchResponse {
    use fetch_response::*;
    let topic = |t: &fetch_request::FetchTopic| {
        FetchableTopicResponse::default()
            .with_topic(t.topic.clone())
            .with_topic_id(t.topic_id)
            .with_partitions(
                t.partitions
                    .iter()
                    .map(|p| {
                        PartitionData::default()
                            .with_partition_index(p.partition)
                            .with_error_code(code)
                            .with_high_watermark(-1)
                            .with_records(Some(Bytes::new()))
                    })
                    .collect(),
            )
    };
    // The session is not the proxy's to keep or end: session id 0, no top-level error.
    FetchResponse::default().with_responses(r.topics.iter().map(topic).collect())
}

fn list_offsets(r: &ListOffsetsRequest, code: i16) -> ListOffsetsResponse {
    use list_offsets_response::*;
    let topic = |t: &list_offsets_request::ListOffsetsTopic| {
        ListOffsetsTopicResponse::default()
            .with_name(t.name.clone())
            .with_partitions(
                t.partitions
                    .iter()
                    .map(|p| {
                        ListOffsetsPartitionResponse::default()
                            .with_partition_index(p.partition_index)
                            .with_error_code(code)
                    })
                    .collect(),
            )
    };
    ListOffsetsResponse::default().with_topics(r.topics.iter().map(topic).collect())
}

/// Each topic asked for, with the error and no partitions. A request for every topic gets no
/// topics (the broker leaves out those a client may not see), and no brokers either way.
fn metadata(r: &MetadataRequest, code: i16) -> MetadataResponse {
    use metadata_response::*;
    let topic = |t: &metadata_request::MetadataRequestTopic| {
        MetadataResponseTopic::default()
            .with_error_code(code)
            .with_name(t.name.clone())
            .with_topic_id(t.topic_id)
    };
    MetadataResponse::default().with_topics(r.topics.iter().flatten().map(topic).collect())
}

fn offset_commit(r: &OffsetCommitRequest, code: i16) -> OffsetCommitResponse {
    use offset_commit_response::*;
    let topic = |t: &offset_commit_request::OffsetCommitRequestTopic| {
        OffsetCommitResponseTopic::default()
            .with_name(t.name.clone())
            .with_topic_id(t.topic_id)
            .with_partitions(
                t.partitions
                    .iter()
                    .map(|p| {
                        OffsetCommitResponsePartition::default()
                            .with_partition_index(p.partition_index)
                            .with_error_code(code)
                    })
                    .collect(),
            )
    };
    OffsetCommitResponse::default().with_topics(r.topics.iter().map(topic).collect())
}

/// v0-7: one group's topics (v2+ also a top-level code, set when no topic was named); v8+: per
/// group, its topics, or the group's code when it named none.
fn offset_fetch(r: &OffsetFetchRequest, version: i16, code: i16) -> OffsetFetchResponse {
    use offset_fetch_response::*;
    if version < 8 {
        let topics: Vec<_> = r
            .topics
            .iter()
            .flatten()
            .map(|t| {
                OffsetFetchResponseTopic::default()
                    .with_name(t.name.clone())
                    .with_partitions(
                        t.partition_indexes
                            .iter()
                            .map(|&p| {
                                OffsetFetchResponsePartition::default()
                                    .with_partition_index(p)
                                    .with_committed_offset(-1)
                                    .with_error_code(code)
                            })
                            .collect(),
                    )
            })
            .collect();
        let top = if r.topics.is_none() && version >= 2 {
            code
        } else {
            0
        };
        return OffsetFetchResponse::default()
            .with_topics(topics)
            .with_error_code(top);
    }
    let group = |g: &offset_fetch_request::OffsetFetchRequestGroup| {
        let topics: Vec<_> = g
            .topics
            .iter()
            .flatten()
            .map(|t| {
                OffsetFetchResponseTopics::default()
                    .with_name(t.name.clone())
                    .with_topic_id(t.topic_id)
                    .with_partitions(
                        t.partition_indexes
                            .iter()
                            .map(|&p| {
                                OffsetFetchResponsePartitions::default()
                                    .with_partition_index(p)
                                    .with_committed_offset(-1)
                                    .with_error_code(code)
                            })
                            .collect(),
                    )
            })
            .collect();
        OffsetFetchResponseGroup::default()
            .with_group_id(g.group_id.clone())
            .with_topics(topics)
            .with_error_code(if g.topics.is_none() { code } else { 0 })
    };
    OffsetFetchResponse::default().with_groups(r.groups.iter().map(group).collect())
}

fn offset_delete(r: &OffsetDeleteRequest, code: i16) -> OffsetDeleteResponse {
    use offset_delete_response::*;
    let topic = |t: &offset_delete_request::OffsetDeleteRequestTopic| {
        OffsetDeleteResponseTopic::default()
            .with_name(t.name.clone())
            .with_partitions(
                t.partitions
                    .iter()
                    .map(|p| {
                        OffsetDeleteResponsePartition::default()
                            .with_partition_index(p.partition_index)
                            .with_error_code(code)
                    })
                    .collect(),
            )
    };
    OffsetDeleteResponse::default().with_topics(r.topics.iter().map(topic).collect())
}

fn create_topics(r: &CreateTopicsRequest, code: i16) -> CreateTopicsResponse {
    use create_topics_response::*;
    let topic = |t: &create_topics_request::CreatableTopic| {
        CreatableTopicResult::default()
            .with_name(t.name.clone())
            .with_error_code(code)
    };
    CreateTopicsResponse::default().with_topics(r.topics.iter().map(topic).collect())
}

/// v0-5 named topics in `topic_names`; v6 in `topics`, by name or id.
fn delete_topics(r: &DeleteTopicsRequest, code: i16) -> DeleteTopicsResponse {
    use delete_topics_response::*;
    let by_name = r.topic_names.iter().map(|n| {
        DeletableTopicResult::default()
            .with_name(Some(n.clone()))
            .with_error_code(code)
    });
    let by_state = r.topics.iter().map(|t| {
        DeletableTopicResult::default()
            .with_name(t.name.clone())
            .with_topic_id(t.topic_id)
            .with_error_code(code)
    });
    DeleteTopicsResponse::default().with_responses(by_name.chain(by_state).collect())
}

fn delete_records(r: &DeleteRecordsRequest, code: i16) -> DeleteRecordsResponse {
    use delete_records_response::*;
    let topic = |t: &delete_records_request::DeleteRecordsTopic| {
        DeleteRecordsTopicResult::default()
            .with_name(t.name.clone())
            .with_partitions(
                t.partitions
                    .iter()
                    .map(|p| {
                        DeleteRecordsPartitionResult::default()
                            .with_partition_index(p.partition_index)
                            .with_low_watermark(-1)
                            .with_error_code(code)
                    })
                    .collect(),
            )
    };
    DeleteRecordsResponse::default().with_topics(r.topics.iter().map(topic).collect())
}

fn offset_for_leader_epoch(
    r: &OffsetForLeaderEpochRequest,
    code: i16,
) -> OffsetForLeaderEpochResponse {
    use offset_for_leader_epoch_response::*;
    let topic = |t: &offset_for_leader_epoch_request::OffsetForLeaderTopic| {
        OffsetForLeaderTopicResult::default()
            .with_topic(t.topic.clone())
            .with_partitions(
                t.partitions
                    .iter()
                    .map(|p| {
                        EpochEndOffset::default()
                            .with_partition(p.partition)
                            .with_error_code(code)
                    })
                    .collect(),
            )
    };
    OffsetForLeaderEpochResponse::default().with_topics(r.topics.iter().map(topic).collect())
}

fn txn_topic_results(
    topics: &[add_partitions_to_txn_request::AddPartitionsToTxnTopic],
    code: i16,
) -> Vec<add_partitions_to_txn_response::AddPartitionsToTxnTopicResult> {
    use add_partitions_to_txn_response::*;
    topics
        .iter()
        .map(|t| {
            AddPartitionsToTxnTopicResult::default()
                .with_name(t.name.clone())
                .with_results_by_partition(
                    t.partitions
                        .iter()
                        .map(|&p| {
                            AddPartitionsToTxnPartitionResult::default()
                                .with_partition_index(p)
                                .with_partition_error_code(code)
                        })
                        .collect(),
                )
        })
        .collect()
}

/// v0-3 (clients): per partition; v4+ (brokers): per transaction, per partition.
fn add_partitions_to_txn(
    r: &AddPartitionsToTxnRequest,
    version: i16,
    code: i16,
) -> AddPartitionsToTxnResponse {
    use add_partitions_to_txn_response::*;
    if version < 4 {
        return AddPartitionsToTxnResponse::default()
            .with_results_by_topic_v3_and_below(txn_topic_results(&r.v3_and_below_topics, code));
    }
    let txn = |x: &add_partitions_to_txn_request::AddPartitionsToTxnTransaction| {
        AddPartitionsToTxnResult::default()
            .with_transactional_id(x.transactional_id.clone())
            .with_topic_results(txn_topic_results(&x.topics, code))
    };
    AddPartitionsToTxnResponse::default()
        .with_results_by_transaction(r.transactions.iter().map(txn).collect())
}

fn txn_offset_commit(r: &TxnOffsetCommitRequest, code: i16) -> TxnOffsetCommitResponse {
    use txn_offset_commit_response::*;
    let topic = |t: &txn_offset_commit_request::TxnOffsetCommitRequestTopic| {
        TxnOffsetCommitResponseTopic::default()
            .with_name(t.name.clone())
            .with_partitions(
                t.partitions
                    .iter()
                    .map(|p| {
                        TxnOffsetCommitResponsePartition::default()
                            .with_partition_index(p.partition_index)
                            .with_error_code(code)
                    })
                    .collect(),
            )
    };
    TxnOffsetCommitResponse::default().with_topics(r.topics.iter().map(topic).collect())
}

fn write_txn_markers(r: &WriteTxnMarkersRequest, code: i16) -> WriteTxnMarkersResponse {
    use write_txn_markers_response::*;
    let marker = |m: &write_txn_markers_request::WritableTxnMarker| {
        WritableTxnMarkerResult::default()
            .with_producer_id(m.producer_id)
            .with_topics(
                m.topics
                    .iter()
                    .map(|t| {
                        WritableTxnMarkerTopicResult::default()
                            .with_name(t.name.clone())
                            .with_partitions(
                                t.partition_indexes
                                    .iter()
                                    .map(|&p| {
                                        WritableTxnMarkerPartitionResult::default()
                                            .with_partition_index(p)
                                            .with_error_code(code)
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            )
    };
    WriteTxnMarkersResponse::default().with_markers(r.markers.iter().map(marker).collect())
}

fn create_partitions(r: &CreatePartitionsRequest, code: i16) -> CreatePartitionsResponse {
    use create_partitions_response::*;
    let topic = |t: &create_partitions_request::CreatePartitionsTopic| {
        CreatePartitionsTopicResult::default()
            .with_name(t.name.clone())
            .with_error_code(code)
    };
    CreatePartitionsResponse::default().with_results(r.topics.iter().map(topic).collect())
}

/// v0 has only per-partition codes; v1+ a top-level one too, set when no topic was named.
fn elect_leaders(r: &ElectLeadersRequest, version: i16, code: i16) -> ElectLeadersResponse {
    use elect_leaders_response::*;
    let topic = |t: &elect_leaders_request::TopicPartitions| {
        ReplicaElectionResult::default()
            .with_topic(t.topic.clone())
            .with_partition_result(
                t.partitions
                    .iter()
                    .map(|&p| {
                        PartitionResult::default()
                            .with_partition_id(p)
                            .with_error_code(code)
                    })
                    .collect(),
            )
    };
    let top = if r.topic_partitions.is_none() && version >= 1 {
        code
    } else {
        0
    };
    ElectLeadersResponse::default()
        .with_error_code(top)
        .with_replica_election_results(r.topic_partitions.iter().flatten().map(topic).collect())
}

fn alter_reassignments(
    r: &AlterPartitionReassignmentsRequest,
    code: i16,
) -> AlterPartitionReassignmentsResponse {
    use alter_partition_reassignments_response::*;
    let topic = |t: &alter_partition_reassignments_request::ReassignableTopic| {
        ReassignableTopicResponse::default()
            .with_name(t.name.clone())
            .with_partitions(
                t.partitions
                    .iter()
                    .map(|p| {
                        ReassignablePartitionResponse::default()
                            .with_partition_index(p.partition_index)
                            .with_error_code(code)
                    })
                    .collect(),
            )
    };
    AlterPartitionReassignmentsResponse::default()
        .with_allow_replication_factor_change(r.allow_replication_factor_change)
        .with_responses(r.topics.iter().map(topic).collect())
}

fn describe_producers(r: &DescribeProducersRequest, code: i16) -> DescribeProducersResponse {
    use describe_producers_response::*;
    let topic = |t: &describe_producers_request::TopicRequest| {
        TopicResponse::default()
            .with_name(t.name.clone())
            .with_partitions(
                t.partition_indexes
                    .iter()
                    .map(|&p| {
                        PartitionResponse::default()
                            .with_partition_index(p)
                            .with_error_code(code)
                    })
                    .collect(),
            )
    };
    DescribeProducersResponse::default().with_topics(r.topics.iter().map(topic).collect())
}

fn alter_replica_log_dirs(
    r: &AlterReplicaLogDirsRequest,
    code: i16,
) -> AlterReplicaLogDirsResponse {
    use alter_replica_log_dirs_response::*;
    let topic = |t: &alter_replica_log_dirs_request::AlterReplicaLogDirTopic| {
        AlterReplicaLogDirTopicResult::default()
            .with_topic_name(t.name.clone())
            .with_partitions(
                t.partitions
                    .iter()
                    .map(|&p| {
                        AlterReplicaLogDirPartitionResult::default()
                            .with_partition_index(p)
                            .with_error_code(code)
                    })
                    .collect(),
            )
    };
    let topics = r.dirs.iter().flat_map(|d| &d.topics).map(topic).collect();
    AlterReplicaLogDirsResponse::default().with_results(topics)
}

fn describe_topic_partitions(
    r: &DescribeTopicPartitionsRequest,
    code: i16,
) -> DescribeTopicPartitionsResponse {
    use describe_topic_partitions_response::*;
    let topic = |t: &describe_topic_partitions_request::TopicRequest| {
        DescribeTopicPartitionsResponseTopic::default()
            .with_error_code(code)
            .with_name(Some(t.name.clone()))
    };
    DescribeTopicPartitionsResponse::default().with_topics(r.topics.iter().map(topic).collect())
}
