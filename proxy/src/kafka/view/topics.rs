//! The topics each kind of request names, one function per key that has any.
//!
//! Keys not listed here carry no topic. A null list where the protocol means "all topics"
//! (Metadata, OffsetFetch, DescribeLogDirs, ElectLeaders, ListPartitionReassignments,
//! DescribeShareGroupOffsets) and a regex subscription (ConsumerGroupHeartbeat) set
//! [`Topics::all`]. Fetch's `forgotten_topics_data` is left out: forgetting a topic in a fetch
//! session reads nothing from it.

use kafka_protocol::messages::*;

use super::{RESOURCE_TOPIC, Topics};

pub(super) fn of(body: &RequestKind, version: i16) -> Topics {
    let mut t = Topics::default();
    match body {
        RequestKind::Produce(r) => produce(r, &mut t),
        RequestKind::Fetch(r) => fetch(r, &mut t),
        RequestKind::ListOffsets(r) => list_offsets(r, &mut t),
        RequestKind::Metadata(r) => metadata(r, version, &mut t),
        RequestKind::OffsetCommit(r) => offset_commit(r, &mut t),
        RequestKind::OffsetFetch(r) => offset_fetch(r, version, &mut t),
        RequestKind::OffsetDelete(r) => offset_delete(r, &mut t),
        RequestKind::CreateTopics(r) => create_topics(r, &mut t),
        RequestKind::DeleteTopics(r) => delete_topics(r, &mut t),
        RequestKind::DeleteRecords(r) => delete_records(r, &mut t),
        RequestKind::OffsetForLeaderEpoch(r) => offset_for_leader_epoch(r, &mut t),
        RequestKind::AddPartitionsToTxn(r) => add_partitions_to_txn(r, &mut t),
        RequestKind::TxnOffsetCommit(r) => txn_offset_commit(r, &mut t),
        RequestKind::WriteTxnMarkers(r) => write_txn_markers(r, &mut t),
        RequestKind::DescribeConfigs(r) => describe_configs(r, &mut t),
        RequestKind::AlterConfigs(r) => alter_configs(r, &mut t),
        RequestKind::IncrementalAlterConfigs(r) => incremental_alter_configs(r, &mut t),
        RequestKind::AlterReplicaLogDirs(r) => alter_replica_log_dirs(r, &mut t),
        RequestKind::DescribeLogDirs(r) => describe_log_dirs(r, &mut t),
        RequestKind::CreatePartitions(r) => create_partitions(r, &mut t),
        RequestKind::ElectLeaders(r) => elect_leaders(r, &mut t),
        RequestKind::AlterPartitionReassignments(r) => alter_partition_reassignments(r, &mut t),
        RequestKind::ListPartitionReassignments(r) => list_partition_reassignments(r, &mut t),
        RequestKind::DescribeProducers(r) => describe_producers(r, &mut t),
        RequestKind::DescribeTopicPartitions(r) => describe_topic_partitions(r, &mut t),
        RequestKind::ConsumerGroupHeartbeat(r) => consumer_group_heartbeat(r, &mut t),
        RequestKind::ShareGroupHeartbeat(r) => share_group_heartbeat(r, &mut t),
        RequestKind::ShareFetch(r) => share_fetch(r, &mut t),
        RequestKind::ShareAcknowledge(r) => share_acknowledge(r, &mut t),
        RequestKind::DescribeShareGroupOffsets(r) => describe_share_group_offsets(r, &mut t),
        RequestKind::AlterShareGroupOffsets(r) => alter_share_group_offsets(r, &mut t),
        RequestKind::DeleteShareGroupOffsets(r) => delete_share_group_offsets(r, &mut t),
        RequestKind::InitializeShareGroupState(r) => r.topics.iter().for_each(|x| t.id(x.topic_id)),
        RequestKind::ReadShareGroupState(r) => r.topics.iter().for_each(|x| t.id(x.topic_id)),
        RequestKind::WriteShareGroupState(r) => r.topics.iter().for_each(|x| t.id(x.topic_id)),
        RequestKind::DeleteShareGroupState(r) => r.topics.iter().for_each(|x| t.id(x.topic_id)),
        RequestKind::ReadShareGroupStateSummary(r) => {
            r.topics.iter().for_each(|x| t.id(x.topic_id))
        }
        RequestKind::AlterPartition(r) => r.topics.iter().for_each(|x| t.id(x.topic_id)),
        RequestKind::AssignReplicasToDirs(r) => r
            .directories
            .iter()
            .flat_map(|d| &d.topics)
            .for_each(|x| t.id(x.topic_id)),
        // The KRaft quorum keys name the metadata log's topic.
        RequestKind::Vote(r) => r.topics.iter().for_each(|x| t.name(&x.topic_name)),
        RequestKind::BeginQuorumEpoch(r) => r.topics.iter().for_each(|x| t.name(&x.topic_name)),
        RequestKind::EndQuorumEpoch(r) => r.topics.iter().for_each(|x| t.name(&x.topic_name)),
        RequestKind::DescribeQuorum(r) => r.topics.iter().for_each(|x| t.name(&x.topic_name)),
        RequestKind::FetchSnapshot(r) => r.topics.iter().for_each(|x| t.name(&x.name)),
        _ => {}
    }
    t
}

fn produce(r: &ProduceRequest, t: &mut Topics) {
    r.topic_data
        .iter()
        .for_each(|x| t.entry(&x.name, x.topic_id));
}

fn fetch(r: &FetchRequest, t: &mut Topics) {
    r.topics.iter().for_each(|x| t.entry(&x.topic, x.topic_id));
}

fn list_offsets(r: &ListOffsetsRequest, t: &mut Topics) {
    r.topics.iter().for_each(|x| t.name(&x.name));
}

/// v0: an empty list means every topic; v1+: a null list does.
fn metadata(r: &MetadataRequest, version: i16, t: &mut Topics) {
    match &r.topics {
        None => t.all = true,
        Some(topics) if topics.is_empty() && version == 0 => t.all = true,
        Some(topics) => topics
            .iter()
            .for_each(|x| t.entry(x.name.as_ref().unwrap_or(&TopicName::default()), x.topic_id)),
    }
}

fn offset_commit(r: &OffsetCommitRequest, t: &mut Topics) {
    r.topics.iter().for_each(|x| t.entry(&x.name, x.topic_id));
}

/// v0-7: one group, its topics (null from v2: all the group has); v8+: several groups, each
/// with its topics or null.
fn offset_fetch(r: &OffsetFetchRequest, version: i16, t: &mut Topics) {
    if version < 8 {
        match &r.topics {
            None => t.all = true,
            Some(topics) => topics.iter().for_each(|x| t.name(&x.name)),
        }
        return;
    }
    for group in &r.groups {
        match &group.topics {
            None => t.all = true,
            Some(topics) => topics.iter().for_each(|x| t.entry(&x.name, x.topic_id)),
        }
    }
}

fn offset_delete(r: &OffsetDeleteRequest, t: &mut Topics) {
    r.topics.iter().for_each(|x| t.name(&x.name));
}

fn create_topics(r: &CreateTopicsRequest, t: &mut Topics) {
    r.topics.iter().for_each(|x| t.name(&x.name));
}

/// v0-5: `topic_names`; v6+: `topics`, each a name or an id.
fn delete_topics(r: &DeleteTopicsRequest, t: &mut Topics) {
    r.topic_names.iter().for_each(|x| t.name(x));
    for x in &r.topics {
        t.entry(x.name.as_ref().unwrap_or(&TopicName::default()), x.topic_id);
    }
}

fn delete_records(r: &DeleteRecordsRequest, t: &mut Topics) {
    r.topics.iter().for_each(|x| t.name(&x.name));
}

fn offset_for_leader_epoch(r: &OffsetForLeaderEpochRequest, t: &mut Topics) {
    r.topics.iter().for_each(|x| t.name(&x.topic));
}

/// v0-3: one transaction's topics; v4+ (brokers only): several transactions.
fn add_partitions_to_txn(r: &AddPartitionsToTxnRequest, t: &mut Topics) {
    r.v3_and_below_topics.iter().for_each(|x| t.name(&x.name));
    r.transactions
        .iter()
        .flat_map(|x| &x.topics)
        .for_each(|x| t.name(&x.name));
}

fn txn_offset_commit(r: &TxnOffsetCommitRequest, t: &mut Topics) {
    r.topics.iter().for_each(|x| t.name(&x.name));
}

fn write_txn_markers(r: &WriteTxnMarkersRequest, t: &mut Topics) {
    r.markers
        .iter()
        .flat_map(|m| &m.topics)
        .for_each(|x| t.name(&x.name));
}

fn config_resource(resource_type: i8, name: &kafka_protocol::protocol::StrBytes, t: &mut Topics) {
    if resource_type == RESOURCE_TOPIC {
        t.name(&TopicName(name.clone()));
    }
}

fn describe_configs(r: &DescribeConfigsRequest, t: &mut Topics) {
    for x in &r.resources {
        config_resource(x.resource_type, &x.resource_name, t);
    }
}

fn alter_configs(r: &AlterConfigsRequest, t: &mut Topics) {
    for x in &r.resources {
        config_resource(x.resource_type, &x.resource_name, t);
    }
}

fn incremental_alter_configs(r: &IncrementalAlterConfigsRequest, t: &mut Topics) {
    for x in &r.resources {
        config_resource(x.resource_type, &x.resource_name, t);
    }
}

fn alter_replica_log_dirs(r: &AlterReplicaLogDirsRequest, t: &mut Topics) {
    r.dirs
        .iter()
        .flat_map(|d| &d.topics)
        .for_each(|x| t.name(&x.name));
}

fn describe_log_dirs(r: &DescribeLogDirsRequest, t: &mut Topics) {
    match &r.topics {
        None => t.all = true,
        Some(topics) => topics.iter().for_each(|x| t.name(&x.topic)),
    }
}

fn create_partitions(r: &CreatePartitionsRequest, t: &mut Topics) {
    r.topics.iter().for_each(|x| t.name(&x.name));
}

fn elect_leaders(r: &ElectLeadersRequest, t: &mut Topics) {
    match &r.topic_partitions {
        None => t.all = true,
        Some(topics) => topics.iter().for_each(|x| t.name(&x.topic)),
    }
}

fn alter_partition_reassignments(r: &AlterPartitionReassignmentsRequest, t: &mut Topics) {
    r.topics.iter().for_each(|x| t.name(&x.name));
}

fn list_partition_reassignments(r: &ListPartitionReassignmentsRequest, t: &mut Topics) {
    match &r.topics {
        None => t.all = true,
        Some(topics) => topics.iter().for_each(|x| t.name(&x.name)),
    }
}

fn describe_producers(r: &DescribeProducersRequest, t: &mut Topics) {
    r.topics.iter().for_each(|x| t.name(&x.name));
}

fn describe_topic_partitions(r: &DescribeTopicPartitionsRequest, t: &mut Topics) {
    r.topics.iter().for_each(|x| t.name(&x.name));
    if let Some(cursor) = &r.cursor {
        t.name(&cursor.topic_name);
    }
}

/// A regex subscription may come to cover any topic.
fn consumer_group_heartbeat(r: &ConsumerGroupHeartbeatRequest, t: &mut Topics) {
    r.subscribed_topic_names
        .iter()
        .flatten()
        .for_each(|x| t.name(x));
    if r.subscribed_topic_regex.is_some() {
        t.all = true;
    }
    r.topic_partitions
        .iter()
        .flatten()
        .for_each(|x| t.id(x.topic_id));
}

fn share_group_heartbeat(r: &ShareGroupHeartbeatRequest, t: &mut Topics) {
    r.subscribed_topic_names
        .iter()
        .flatten()
        .for_each(|x| t.name(x));
}

fn share_fetch(r: &ShareFetchRequest, t: &mut Topics) {
    r.topics.iter().for_each(|x| t.id(x.topic_id));
}

fn share_acknowledge(r: &ShareAcknowledgeRequest, t: &mut Topics) {
    r.topics.iter().for_each(|x| t.id(x.topic_id));
}

fn describe_share_group_offsets(r: &DescribeShareGroupOffsetsRequest, t: &mut Topics) {
    for group in &r.groups {
        match &group.topics {
            None => t.all = true,
            Some(topics) => topics.iter().for_each(|x| t.name(&x.topic_name)),
        }
    }
}

fn alter_share_group_offsets(r: &AlterShareGroupOffsetsRequest, t: &mut Topics) {
    r.topics.iter().for_each(|x| t.name(&x.topic_name));
}

fn delete_share_group_offsets(r: &DeleteShareGroupOffsetsRequest, t: &mut Topics) {
    r.topics.iter().for_each(|x| t.name(&x.topic_name));
}
